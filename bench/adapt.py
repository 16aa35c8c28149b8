"""Adaptation speed and effect, on a strongly shifted copy of NIH test-patient cells.

Stands in for "another lab": the bundled model's held-out test patients (its card's split),
re-stained, hue-shifted and shrunk on a pale smear background (``augment.other_lab_shift``),
written as PNGs named ``<NIH field image>_<n>.png`` into a temporary folder outside the
repository. ``--cells`` of them (half per class) from the first few patients go to
:func:`adapt` with its grouped cross-validation (timed); the lab model is then judged on the
shifted cells of the *other* test patients, before (bundled model) and after.

    python bench/adapt.py [--cells 100] [--patients 4] [--test-cells 1000] [--folds 5]

Target on the 2-core machine: adapt, with the cross-validation, in <= 60 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA_DIR = Path(os.environ.get("MALARIA_DATA_DIR", REPO.parent / "shared" / "data" / "nih_malaria_cells_128"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import malaria_gui  # noqa: E402,F401  (Keras backend)


def shifted_lab(folder: Path, patients: list[str], per_class: int | None, seed: int = 0) -> list[Path]:
    """Write shifted copies of the named patients' cells (all, or ``per_class`` per class)."""
    from malaria_gui.training.augment import other_lab_shift

    rows = [r for r in csv.DictReader(open(DATA_DIR / "manifest.csv", newline="")) if r["patient"] in patients]
    rng = np.random.default_rng(seed)
    written = []
    for label in ("Parasitized", "Uninfected"):
        mine = [r for r in rows if r["label"] == label]
        if per_class is not None and per_class < len(mine):
            mine = [mine[i] for i in sorted(rng.choice(len(mine), per_class, replace=False))]
        for r in mine:
            rgb = cv2.cvtColor(cv2.imread(str(DATA_DIR / r["file"]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            dest = folder / label / (Path(r["file"]).stem + ".png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dest), cv2.cvtColor(other_lab_shift(rgb), cv2.COLOR_RGB2BGR))
            written.append(dest)
    return written


def test_patients() -> list[str]:
    import json

    card = json.loads((REPO / "models" / "malaria_cnn.card.json").read_text())
    return list(card["data"]["test_patient_ids"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100, help="adaptation cells (half per class)")
    parser.add_argument("--patients", type=int, default=4, help="infected test patients the adaptation cells come from")
    parser.add_argument("--test-cells", type=int, default=1000, help="shifted cells of the other test patients to judge on")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=None, help="override the fine-tuning learning rate (tuning)")
    parser.add_argument("--epochs", type=int, default=None, help="override the fine-tuning epochs (tuning)")
    args = parser.parse_args()
    if not (DATA_DIR / "manifest.csv").is_file():
        print(f"no data at {DATA_DIR} (set MALARIA_DATA_DIR)")
        return 2
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.metrics import compute_metrics
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.scorer import score_all
    from malaria_gui.training import adapt as adapt_module
    from malaria_gui.training.adapt import EPOCHS, adapt, format_report, save_lab_model

    if args.lr:
        adapt_module.LEARNING_RATE = args.lr

    ids = test_patients()
    # Uninfected-only donors (C<n>N...) have no parasitized cells: take infected donors (P<n>), who have both.
    donors = [p for p in ids if p.startswith("P")][: args.patients]
    others = [p for p in ids if p not in donors]
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min load average, {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shifted_lab(tmp / "lab", donors, args.cells // 2, args.seed)
        shifted_lab(tmp / "other", others, None)
        other = find_images([tmp / "other"])
        other = [other[i] for i in sorted(np.random.default_rng(1).choice(len(other), min(args.test_cells, len(other)), replace=False))]
        items = find_images([tmp / "lab"])
        start = time.perf_counter()
        result = adapt(items, None, folds=args.folds, seed=args.seed, epochs=args.epochs or EPOCHS)
        seconds = time.perf_counter() - start
        print(format_report(result))
        print(f"\nlearning rate {adapt_module.LEARNING_RATE:g}, {args.epochs or EPOCHS} epochs")
        print(f"\nadapt: {len(items)} cells from patients {', '.join(donors)}, {args.folds} folds requested: "
              f"{seconds:.1f} s (target <= 60 s); load after: {os.getloadavg()[0]:.2f}")
        out = save_lab_model(result, tmp / "lab_model" / "lab.keras")
        truth = [it.truth for it in other]
        for name, path in (("bundled model", None), ("lab model", out)):
            clf = load_classifier(path)
            p = [r.p_parasitized for r in score_all(other, clf)]
            m = compute_metrics(truth, p, clf.threshold)
            print(f"{name:<14} on {m.n} shifted cells of {len(others)} other test patients: accuracy {100 * m.accuracy:.1f}%, "
                  f"sensitivity {100 * m.sensitivity:.1f}%, specificity {100 * m.specificity:.1f}%, ROC AUC {m.roc_auc:.4f} "
                  f"(threshold {clf.threshold:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

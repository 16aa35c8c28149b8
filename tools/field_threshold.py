"""The bundled model's threshold for counting whole fields, from other labs' cells.

    python tools/field_threshold.py [--model FILE] [--data DIR] [--write-card]

A single-cell threshold balances sensitivity and specificity on a 50/50 set; a field is 98-99%
uninfected cells, so every 1% of them called Parasitized adds about a whole parasitemia at
1-2% prevalence. The field threshold is therefore chosen where both other-lab targets hold:
at most MAX_FALSE_CALLS of another lab's uninfected field cells called Parasitized (Chula-RBC-12,
cut by the app's own segmentation, even-numbered fields only) and at least MIN_CAUGHT of another
lab's infected cells caught (MP-IDB crops); the middle of that range, to 0.01. The odd-numbered
Chula fields were not used to choose it and are reported as the held-out figure. With
--write-card it is written to the card as ``field_threshold`` (``smear`` and the window count
fields at it; ``threshold`` stays the single-cell cut-off).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MAX_FALSE_CALLS = 0.010
MIN_CAUGHT = 0.70


def chula_scores(classifier, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """P(Parasitized) of every cell the segmentation cuts from the Chula fields, and each
    cell's field number."""
    from malaria_gui.engine.decoding import decode
    from malaria_gui.engine.fields import FieldError, segment_field
    from malaria_gui.engine.preprocess import prepare

    scores, fields = [], []
    for path in sorted((folder / "images").glob("*.jpg"), key=lambda p: (len(p.stem), p.stem)):
        try:
            cells = segment_field(decode(path))
        except FieldError:
            continue
        batch = np.stack([prepare(c.crop, classifier.input_size) for c in cells])
        scores.append(classifier.predict(batch))
        fields += [int(path.stem) if path.stem.isdigit() else 0] * len(cells)
    return np.concatenate(scores), np.array(fields)


def choose(p_chula: np.ndarray, p_mpidb: np.ndarray, grid: np.ndarray | None = None) -> tuple[float, float, float] | None:
    """(threshold, low, high): the middle of the thresholds at which both targets hold, or None."""
    grid = np.round(np.arange(0.30, 0.96, 0.01), 2) if grid is None else grid
    ok = [t for t in grid if (p_chula >= t).mean() <= MAX_FALSE_CALLS and (p_mpidb >= t).mean() >= MIN_CAUGHT]
    if not ok:
        return None
    low, high = min(ok), max(ok)
    return round((low + high) / 2, 2), low, high


def main() -> int:
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.preprocess import preprocess
    from malaria_gui.resources import card_path_for, default_model_path
    from malaria_gui.training.other_labs import mpidb_cells

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--write-card", action="store_true")
    args = ap.parse_args()
    model_path = args.model or default_model_path()
    classifier = load_classifier(model_path)
    p_chula, field = chula_scores(classifier, args.data / "chula_rbc12_fields")
    crops = mpidb_cells(args.data / "mpidb_pf_crops" / "Parasitized")
    p_mpidb = classifier.predict(np.stack([preprocess(c, classifier.input_size) for c in crops]))
    even = field % 2 == 0
    chosen = choose(p_chula[even], p_mpidb)
    if chosen is None:
        print("no threshold meets both targets; nothing written")
        return 1
    t, low, high = chosen
    figures = {
        "threshold": t,
        "chula_uninfected_held_out": {"cells": int((~even).sum()), "called_parasitized": int((p_chula[~even] >= t).sum())},
        "chula_uninfected_used": {"cells": int(even.sum()), "called_parasitized": int((p_chula[even] >= t).sum())},
        "mpidb_infected": {"cells": int(len(p_mpidb)), "caught": int((p_mpidb >= t).sum())},
    }
    for key in ("chula_uninfected_held_out", "chula_uninfected_used"):
        f = figures[key]
        f["share_called_parasitized"] = round(f["called_parasitized"] / max(f["cells"], 1), 4)
    figures["mpidb_infected"]["share_caught"] = round(figures["mpidb_infected"]["caught"] / len(p_mpidb), 4)
    print(f"both targets hold for thresholds {low:.2f}-{high:.2f}: field threshold {t:.2f}")
    print(json.dumps(figures, indent=1))
    if args.write_card:
        card_file = card_path_for(model_path)
        card = json.loads(card_file.read_text())
        card["field_threshold"] = t
        card["field_threshold_rule"] = (
            f"middle of the thresholds ({low:.2f}-{high:.2f}) at which at most {100 * MAX_FALSE_CALLS:.1f}% of the "
            f"uninfected cells the app cuts from the even-numbered Chula-RBC-12 fields are called Parasitized and at "
            f"least {100 * MIN_CAUGHT:.0f}% of the MP-IDB infected crops are caught (tools/field_threshold.py); "
            "fields are counted at it, single cells at 'threshold'")
        card.setdefault("metrics", {})["fields_other_labs"] = figures
        card_file.write_text(json.dumps(card, indent=2) + "\n")
        print(f"wrote field_threshold {t:.2f} to {card_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

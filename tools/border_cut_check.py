"""How the bundled model calls cells cut by the image border, from NIH test-patient cells.

    python tools/border_cut_check.py [--cells 1500] [--seed 0]

Fields count the cells the border cuts when at least engine.fields.BORDER_AREA of a cell is in
view. This cuts 5-40% of its area off one side (a random side) of NIH cells of the card's test
patients and scores three crops: the whole cell, the part in view stretched to the network's
square as fields cut it, and the part in view with black where the cut part was. It prints the
share of infected cells called (Se) and of uninfected called Parasitized (FP) at the card's
threshold and field threshold.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from malaria_gui.engine.model import load_classifier, read_card  # noqa: E402
from malaria_gui.engine.preprocess import prepare  # noqa: E402


def cut(image: np.ndarray, keep: float, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The cell turned so ``side`` is on the left, cut to ``keep`` of its area: (stretched, padded)."""
    image = np.rot90(image, side).copy()
    mask = image.max(axis=2) > 0
    share = np.cumsum(mask.sum(axis=0)) / mask.sum()
    c = int(np.searchsorted(share, 1.0 - keep))
    padded = image.copy()
    padded[:, :c] = 0
    rows = np.flatnonzero(mask[:, c:].any(axis=1))
    cols = np.flatnonzero(mask[:, c:].any(axis=0))
    stretched = image[rows[0]:rows[-1] + 1, c + cols[0]:c + cols[-1] + 1]
    return np.ascontiguousarray(stretched), padded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = Path(os.environ.get("MALARIA_DATA_DIR", REPO.parent / "shared/data/nih_malaria_cells_128"))
    card = read_card(REPO / "models/malaria_cnn.keras")
    test = set(card["data"]["test_patient_ids"])
    rows = [r for r in csv.DictReader(open(data / "manifest.csv")) if r["patient"] in test]
    rng = np.random.default_rng(args.seed)
    rows = [rows[i] for i in rng.choice(len(rows), min(args.cells, len(rows)), replace=False)]
    classifier = load_classifier()
    crops: dict[str, list[np.ndarray]] = {"whole": [], "in view, stretched": [], "in view, black padded": []}
    infected = []
    for r in rows:
        image = cv2.cvtColor(cv2.imread(str(data / r["file"])), cv2.COLOR_BGR2RGB)
        stretched, padded = cut(image, rng.uniform(0.6, 0.95), int(rng.integers(4)))
        for key, x in zip(crops, (image, stretched, padded)):
            crops[key].append(prepare(x, classifier.input_size))
        infected.append(r["label"] == "Parasitized")
    infected = np.array(infected)
    thresholds = sorted({classifier.threshold, classifier.field_threshold})
    print(f"{len(rows)} NIH test-patient cells ({infected.sum()} Parasitized), 5-40% cut off one side")
    for key, xs in crops.items():
        p = classifier.predict(np.stack(xs))
        figures = "  ".join(f"at {t:.2f}: Se {100 * (p[infected] >= t).mean():.1f}% FP {100 * (p[~infected] >= t).mean():.2f}%"
                            for t in thresholds)
        print(f"{key:24s} {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

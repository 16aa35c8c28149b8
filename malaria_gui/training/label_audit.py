"""Which labelled cells does the model contradict with confidence, and what do they cost?

The NIH labels are not all right: some "Parasitized" cells show no parasite and some
"Uninfected" ones carry a clear chromatin dot. A handful of such cells decides the third
decimal of a test ROC AUC, so before chasing a target like 0.995 it is worth knowing how many
there are. This lists them for a person to look at (CSV + a montage at full size) and prints
the test figures with and without them. The "without" figures are an upper bound, not a
result: dropping a model's own confident errors raises any model's figures; only someone
looking at the cells can say which labels are wrong.

    python -m malaria_gui.training.label_audit models/malaria_cnn.keras ../shared/data/nih_malaria_cells_128 \
        --split test --out runs/label_audit

Nothing is written into the data folder.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from malaria_gui.engine.labels import CLASS_NAMES, PARASITIZED, UNINFECTED, class_index
from malaria_gui.engine.metrics import Metrics, compute_metrics, format_metrics
from malaria_gui.engine.model import load_classifier
from malaria_gui.training.data import card_split, load_pixels, read_table
from malaria_gui.training.train import predict_parasitized

SPLITS = ("test", "validation", "train", "all")
MONTAGE_COLUMNS = 10


@dataclass
class Audit:
    """The cells of one split, their scores, and which of them the model contradicts."""

    paths: np.ndarray
    labels: np.ndarray  # class index
    patients: np.ndarray
    p_parasitized: np.ndarray
    contradicted: np.ndarray  # indices, most confident contradiction first

    def figures(self, threshold: float, without_contradicted: bool = False) -> Metrics:
        keep = np.ones(len(self.labels), bool)
        if without_contradicted:
            keep[self.contradicted] = False
        truth = [CLASS_NAMES[i] for i in self.labels[keep]]
        return compute_metrics(truth, self.p_parasitized[keep], threshold)


def contradictions(labels: np.ndarray, p_parasitized: np.ndarray, low: float = 0.1, high: float = 0.9) -> np.ndarray:
    """Indices of the cells labelled Parasitized scored below ``low`` and those labelled
    Uninfected scored above ``high``, the most confident first."""
    infected = labels == class_index(PARASITIZED)
    p = np.asarray(p_parasitized, dtype=np.float64)
    hit = np.flatnonzero((infected & (p < low)) | (~infected & (p > high)))
    confidence = np.where(infected[hit], 1.0 - p[hit], p[hit])
    return hit[np.argsort(-confidence, kind="stable")]


def audit(model_path, data_dir, split: str = "test", low: float = 0.1, high: float = 0.9) -> tuple[Audit, float, np.ndarray]:
    """Score one split with the model; returns the audit, the card's threshold and the pixels."""
    classifier = load_classifier(model_path)
    table = read_table(data_dir)
    rows = card_split(table, classifier.card or {}, split)
    images = load_pixels(table.paths[rows])
    p = predict_parasitized(classifier.model, images, classifier.input_size)
    labels = table.labels[rows]
    found = Audit(table.paths[rows], labels, table.patients[rows], p, contradictions(labels, p, low, high))
    return found, classifier.threshold, images


def write_csv(path: Path, found: Audit) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["rank", "file", "patient", "label", "p_parasitized"])
        for rank, i in enumerate(found.contradicted, 1):
            out.writerow([rank, found.paths[i], found.patients[i], CLASS_NAMES[found.labels[i]],
                          f"{found.p_parasitized[i]:.4f}"])


def write_montage(path: Path, found: Audit, images: np.ndarray, columns: int = MONTAGE_COLUMNS) -> None:
    """The contradicted cells at full size, each captioned with its rank, label and score."""
    picks = found.contradicted
    if not len(picks):
        return
    side = images.shape[1] + 4
    rows = -(-len(picks) // columns)
    sheet = np.full((rows * (side + 14), columns * side, 3), 255, np.uint8)
    for k, i in enumerate(picks):
        r, c = divmod(k, columns)
        y, x = r * (side + 14), c * side
        sheet[y + 14:y + 14 + side - 4, x + 2:x + side - 2] = images[i]
        tag = "P" if found.labels[i] == class_index(PARASITIZED) else "U"
        cv2.putText(sheet, f"{k + 1} {tag} {found.p_parasitized[i]:.2f}", (x + 2, y + 11),
                    cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 0, 0), 1)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data_dir")
    parser.add_argument("--split", choices=SPLITS, default="test", help="the card's patients to look at (default test)")
    parser.add_argument("--low", type=float, default=0.1, help="a Parasitized label scored below this is listed")
    parser.add_argument("--high", type=float, default=0.9, help="an Uninfected label scored above this is listed")
    parser.add_argument("--out", type=Path, help="folder for contradicted.csv and contradicted.png")
    args = parser.parse_args(argv)
    try:
        found, threshold, images = audit(args.model, args.data_dir, args.split, args.low, args.high)
    except ValueError as exc:
        parser.exit(2, f"label_audit: {exc}; --split all audits every cell\n")
    labelled_p = found.labels[found.contradicted] == class_index(PARASITIZED)
    print(f"{args.split} cells: {len(found.labels)} from {len(set(found.patients))} patients; "
          f"contradicted with confidence: {len(found.contradicted)} "
          f"({int(labelled_p.sum())} labelled {PARASITIZED} scored < {args.low}, "
          f"{int((~labelled_p).sum())} labelled {UNINFECTED} scored > {args.high})")
    print(f"as labelled, threshold {threshold:.3f}:\n" + format_metrics(found.figures(threshold)))
    print("without the contradicted cells (an upper bound: look at them before believing it):\n"
          + format_metrics(found.figures(threshold, without_contradicted=True)))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(args.out / "contradicted.csv", found)
        write_montage(args.out / "contradicted.png", found, images)
        print(f"wrote {args.out / 'contradicted.csv'} and contradicted.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

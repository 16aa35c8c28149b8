"""Adaptation on labelled whole fields: how long ~2,000 field cells (~30 infected) take.

Synthetic smear fields (``tests/cells.synthetic_field``: pink discs, some with purple dots,
touching and overlapping cells, a white cell, debris), written as PNGs into a temporary
folder with a points CSV ``image,x,y,truth`` of every red cell (the person's labels), go to
:func:`adapt` through ``field_labels`` with its grouped cross-validation (timed, the bundled
model as base). Prints the report, with the out-of-fold field figures and the chosen
field threshold.

    python bench/adapt_fields.py [--fields 26] [--infected 0.015] [--folds 5] [--faint 0.8]

Target on the 2-core machine: <= 120 s for ~2,000 field cells.
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
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402

import malaria_gui  # noqa: E402,F401  (Keras backend)


def write_fields(folder: Path, n: int, infected: float, seed: int = 0, faint: float = 0.0) -> Path:
    """``n`` synthetic fields and the points CSV of all their red cells; returns the CSV.
    ``faint`` in [0, 1) moves the parasites' colour that far towards the red cells' (harder)."""
    import cells
    from cells import synthetic_field, write_rgb

    cells.PARASITE = tuple(int(round(p + faint * (r - p))) for p, r in zip(cells.PARASITE, cells.RBC))

    rng = np.random.default_rng(seed)
    csv_path = folder / "labels.csv"
    folder.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["image", "x", "y", "truth"])
        for i in range(n):
            image, truth = synthetic_field(rng, infected=infected)
            write_rgb(folder / f"field{i:03d}.png", image)
            for x, y, ill in truth:
                out.writerow([f"field{i:03d}.png", f"{x:.1f}", f"{y:.1f}", "Parasitized" if ill else "Uninfected"])
    return csv_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=26, help="synthetic fields (~76 red cells each)")
    parser.add_argument("--infected", type=float, default=0.015, help="share of infected red cells")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faint", type=float, default=0.0,
                        help="0-1: parasites that much closer to the red cells' colour (a harder lab)")
    args = parser.parse_args()
    from malaria_gui.engine.field_labels import read_field_labels
    from malaria_gui.training.adapt import adapt, format_report

    print(f"load before: {os.getloadavg()[0]:.2f} (1-min load average, {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        labels, notes = read_field_labels(write_fields(Path(tmp), args.fields, args.infected, args.seed, args.faint))
        start = time.perf_counter()
        result = adapt([], None, field_labels=labels, folds=args.folds, seed=args.seed)
        seconds = time.perf_counter() - start
    print(format_report(result))
    fc = result.report["field_cells"]
    print(f"\nadapt: {len(labels)} field labels on {args.fields} fields -> {fc['cells']} cells "
          f"({fc['positives']} infected), {args.folds} folds requested, steps per run "
          f"{result.report['training']['steps_per_run']}: {seconds:.1f} s (target <= 120 s); "
          f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How often the single-cell check (engine/cellcheck.py) fires on real crops, fields and fakes.

    python bench/cellcheck.py [--nih N]   (N = cells sampled from the NIH set; default all)

Prints, per set, how many images were flagged and the mean check time per image. Wanted:
~0% on NIH cells and MP-IDB crops (false flags), ~100% on whole fields, montages and noise.
Reads ../shared/data (MALARIA_DATA_DIR for the NIH folder); writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
NIH = Path(os.environ.get("MALARIA_DATA_DIR", REPO.parent / "shared" / "data" / "nih_malaria_cells_128"))
SHARED = NIH.parent

from malaria_gui.engine.cellcheck import single_cell_warning  # noqa: E402
from malaria_gui.engine.decoding import decode  # noqa: E402


def run(name: str, images) -> None:
    flagged, n, spent = Counter(), 0, 0.0
    for image in images:
        start = time.perf_counter()
        warning = single_cell_warning(image)
        spent += time.perf_counter() - start
        n += 1
        if warning:
            flagged[warning.split(";")[0].split(" (")[0].split(": ")[-1].lstrip("0123456789 ")] += 1
    total = sum(flagged.values())
    print(f"{name:<34} {total:>6} of {n:<6} flagged ({100 * total / max(n, 1):5.2f}%), "
          f"{1000 * spent / max(n, 1):.2f} ms/image  {dict(flagged) if flagged else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nih", type=int, default=None)
    args = parser.parse_args()
    rows = list(csv.DictReader(open(NIH / "manifest.csv", newline="")))
    rng = np.random.default_rng(0)
    if args.nih:
        rows = [rows[i] for i in rng.choice(len(rows), args.nih, replace=False)]
    run(f"NIH cells ({NIH.name})", (decode(NIH / r["file"]) for r in rows))
    mpidb = sorted((SHARED / "mpidb_pf_crops" / "Parasitized").glob("*.png"))
    run("MP-IDB P. falciparum crops", (decode(p) for p in mpidb))
    fields = sorted((SHARED / "chula_rbc12_fields" / "images").glob("*.jpg"))
    run("Chula-RBC-12 whole fields", (decode(p) for p in fields))
    cells = [decode(NIH / r["file"]) for r in rows[:400]]
    run("montages 2x2 of NIH cells", (np.vstack([np.hstack(cells[i:i + 2]), np.hstack(cells[i + 2:i + 4])])
                                      for i in range(0, 400, 4)))
    run("montages 3x3 of NIH cells", (np.vstack([np.hstack(cells[i + 3 * r:i + 3 * r + 3]) for r in range(3)])
                                      for i in range(0, 396, 9)))
    run("uniform RGB noise 64-512 px", (rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for s in (64, 128, 256, 512) * 25))
    run("blank (black, grey, white)", (np.full((128, 128, 3), v, np.uint8) for v in (0, 128, 255)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

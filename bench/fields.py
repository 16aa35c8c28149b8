"""Whole smear fields: seconds per 1280 x 960 field (~150 cells) found and scored, and memory
over a folder of fields.

    python bench/fields.py [--fields 40] [--model FILE]

Draws synthetic fields like the tests' (pink discs, some touching or overlapping, some with
purple dots, a white cell, debris, border-cut cells; no real images) into a temporary
folder, then runs them through ``engine.fields.score_fields`` with the bundled model, as
``malaria-gui smear`` does. Prints seconds per field for one field on its own (decode,
segment, cut, score) and streamed over the folder, and the resident memory after every
tenth field: flat when fields stream. Target on the 2-core machine: <= 0.3 s per field.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402

from cells import synthetic_field, write_rgb  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=40)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()

    from malaria_gui.engine.fields import score_fields
    from malaria_gui.engine.model import load_classifier

    classifier = load_classifier(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "slide"
        counts = []
        for i in range(args.fields):
            image, truth = synthetic_field(np.random.default_rng(i), 1280, 960, radius=28.0,
                                           singles=100, pairs=16, overlaps=10, infected=0.05)
            counts.append(len(truth))
            write_rgb(folder / f"field{i:03d}.png", image)
        paths = sorted(folder.glob("*.png"))
        list(score_fields(paths[:2], classifier))  # warm-up: compiles the batch shapes once

        single = []
        for path in paths[:5]:
            start = time.perf_counter()
            result = next(score_fields([path], classifier))
            single.append(time.perf_counter() - start)
        print(f"fields: 1280 x 960 PNG, {np.mean(counts):.0f} whole cells drawn per field "
              f"(found in the first: {len(result.cells)}); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"one field on its own: {np.median(single):.3f} s (median of 5; min {min(single):.3f} s)")

        start = time.perf_counter()
        found = 0
        memory = []
        for i, result in enumerate(score_fields(paths, classifier), start=1):
            found += len(result.cells)
            if i % 10 == 0:
                memory.append(f"{i}: {rss_mib():.0f} MiB")
        elapsed = time.perf_counter() - start
        print(f"streamed folder: {len(paths)} fields in {elapsed:.2f} s = {elapsed / len(paths):.3f} s per field, "
              f"{found / elapsed:.0f} cells/s (found {found} of {sum(counts)} drawn)")
        print("resident memory after fields " + ", ".join(memory))
        print(f"target <= 0.3 s per field: {'met' if elapsed / len(paths) <= 0.3 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

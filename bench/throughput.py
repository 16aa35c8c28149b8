"""End-to-end scoring throughput against the naive one-``predict``-per-image baseline.

Both paths do the whole job on the same 128 x 128 PNG files (real NIH cells, written to a
temporary folder outside the repository): discovery, decoding, preprocessing, inference.

    python bench/throughput.py [--images 5000] [--naive 300] [--model FILE] [--baseline FILE [--rounds 3]]

Prints images per second for each and the ratio. Target on the 2-core machine: >= 1,000
images/s for the engine and >= 20x the naive baseline. ``--baseline`` also scores the same
files with another model (e.g. the previous bundled one, from git), the two taking turns
``--rounds`` times, and prints both medians and their ratio: a new model must not be slower.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path


import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MALARIA_DATA_DIR", REPO.parent / "shared" / "data" / "nih_malaria_cells_128"))


def make_pngs(folder: Path, count: int) -> None:
    """Real cells as 128 x 128 PNGs in Parasitized/ and Uninfected/ (a labelled folder)."""
    rows = list(csv.DictReader(open(DATA_DIR / "manifest.csv", newline="")))
    pick = np.random.default_rng(0).choice(len(rows), size=min(count, len(rows)), replace=False)
    for i in pick:
        src = DATA_DIR / rows[i]["file"]
        dest = folder / rows[i]["label"] / (Path(rows[i]["file"]).stem + ".png")
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), cv2.imread(str(src), cv2.IMREAD_COLOR))


def engine(folder: Path, classifier) -> tuple[int, float]:
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.scorer import score

    start = time.perf_counter()
    items = find_images([folder])
    n = sum(len(chunk) for chunk in score(items, classifier))
    return n, time.perf_counter() - start


def naive(folder: Path, model, count: int) -> tuple[int, float]:
    """What most desktop tools do: read, resize, then ``model.predict`` on one image."""
    files = sorted(folder.rglob("*.png"))[:count]
    size = model.input_shape[1]
    start = time.perf_counter()
    for path in files:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        model.predict(cv2.resize(image, (size, size))[None], verbose=0)
    return len(files), time.perf_counter() - start


def compare(folder: Path, classifier, baseline, rounds: int) -> None:
    """The same files through both models in turns (ABAB...), so load changes hit both alike."""
    rates: dict[str, list[float]] = {"model": [], "baseline": []}
    for _ in range(rounds):
        for key, clf in (("baseline", baseline), ("model", classifier)):
            n, t = engine(folder, clf)
            rates[key].append(n / t)
    med = {key: float(np.median(values)) for key, values in rates.items()}
    for key, clf in (("model", classifier), ("baseline", baseline)):
        runs = ", ".join(f"{r:,.0f}" for r in rates[key])
        print(f"{key:<9} {clf.name} {clf.version} ({clf.input_size} px, {clf.model.count_params():,} parameters): "
              f"median {med[key]:,.0f} images/s over {rounds} runs ({runs})")
    print(f"model / baseline: {med['model'] / med['baseline']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--naive", type=int, default=300, help="images for the (slow) naive baseline")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--baseline", type=Path, default=None, help="a second model to compare, in turns")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (DATA_DIR / "manifest.csv").is_file():
        print(f"real data not found at {DATA_DIR} (set MALARIA_DATA_DIR)", file=sys.stderr)
        return 2

    from malaria_gui.engine.model import load_classifier

    classifier = load_classifier(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_pngs(folder, args.images)
        warm = np.zeros((8, classifier.input_size, classifier.input_size, 3), np.uint8)
        classifier.predict(warm)
        classifier.model.predict(warm[:1], verbose=0)
        n_fast, t_fast = engine(folder, classifier)
        n_naive, t_naive = naive(folder, classifier.model, args.naive)
        if args.baseline:
            compare(folder, classifier, load_classifier(args.baseline), args.rounds)

    fast, slow = n_fast / t_fast, n_naive / t_naive
    print(f"model: {classifier.name} ({classifier.input_size} px), {os.cpu_count()} CPUs")
    print(f"engine (discover + decode + preprocess + batched inference): {n_fast} PNGs in {t_fast:.2f} s = {fast:,.0f} images/s")
    print(f"naive baseline (one model.predict per image):               {n_naive} PNGs in {t_naive:.2f} s = {slow:,.0f} images/s")
    print(f"speed-up: {fast / slow:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""End-to-end scoring throughput beside the decode-only and inference-only rates of the same files.

All figures are measured in one run on the same 128 x 128 PNG files (real NIH cells, written
to a temporary folder outside the repository):

- end to end: what ``classify`` does once the model is loaded: discovery, reading, decoding,
  preprocessing, the single-cell check, batched inference and the out-of-distribution check
  (its verdict included). On an engine without the in-pass check (main before issue 22) the
  check is ``ood.check_results`` after the run, as ``classify`` did then.
- decode only: read + decode + prepare of every file on the scorer's two decoding threads,
  in slices of 16 as the scorer does, no model. (Also printed: the same with the single-cell
  check, i.e. the scorer's whole per-file reading work.)
- inference only: the prepared pixels, already in memory, through the model in batches of
  256 as the scorer calls it (with the features where the engine has the fused program).
- combined limit: decoding and inference share the same two cores, each using both when it
  runs alone, so one image costs at best 1/decode + 1/infer seconds of the core pair:
  limit = 1 / (1/decode + 1/infer) images/s. The share printed is end to end / limit.

    python bench/throughput.py [--images 5000] [--rounds 1] [--naive 0] [--model FILE] [--baseline FILE]

Targets on the 2-core machine (issue 22): end to end >= 1,200 images/s and >= 60% of the
combined limit. ``--naive N`` also times N images through one ``model.predict`` each;
``--baseline`` scores the same files with another model, the two taking turns ``--rounds`` times.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def engine(folder: Path, classifier):
    """(files, seconds, OOD verdict) for the whole job as ``classify`` runs it."""
    from malaria_gui.engine import ood
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.scorer import score

    start = time.perf_counter()
    items = find_images([folder])
    if hasattr(ood, "OODSample"):
        sample = ood.OODSample()
        n = sum(len(chunk) for chunk in score(items, classifier, ood=sample))
        check = sample.check(classifier.card)
    else:  # the engine before issue 22: the check re-reads a sample after the run
        results = [r for chunk in score(items, classifier) for r in chunk]
        n = len(results)
        check = ood.check_results(results, classifier)
    return n, time.perf_counter() - start, check


def decode_only(files: list[Path], size: int, checked: bool) -> tuple[np.ndarray | None, float]:
    """Every file read, decoded and prepared on two threads in slices of 16 (the scorer's way)."""
    from malaria_gui.engine import scorer

    load = (lambda p: scorer.load_checked(p, size)[0]) if checked else (lambda p: scorer.load_for_model(p, size))
    slices = [files[i:i + 16] for i in range(0, len(files), 16)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(lambda part: [load(p) for p in part], slices))
    elapsed = time.perf_counter() - start
    return np.stack([x for part in parts for x in part]), elapsed


def inference_only(classifier, pixels: np.ndarray, batch_size: int = 256) -> float:
    run = getattr(classifier, "predict_with_features", classifier.predict)
    start = time.perf_counter()
    for i in range(0, len(pixels), batch_size):
        run(pixels[i:i + batch_size])
    return time.perf_counter() - start


def naive(folder: Path, model, count: int) -> tuple[int, float]:
    """What most desktop tools do: read, resize, then ``model.predict`` on one image."""
    files = sorted(folder.rglob("*.png"))[:count]
    size = model.input_shape[1]
    start = time.perf_counter()
    for path in files:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        model.predict(cv2.resize(image, (size, size))[None], verbose=0)
    return len(files), time.perf_counter() - start


def reread_check(classifier, files: list[Path]):
    """The verdict as before issue 22 (512 files re-read, features from a second pass), for comparison."""
    from malaria_gui.engine import ood
    from malaria_gui.engine.scorer import load_for_model

    import random

    picked = random.Random(0).sample(files, min(len(files), ood.SAMPLE))
    desc = classifier.card.get(ood.OOD_KEY)
    if not isinstance(desc, dict):
        return None
    return ood.compare(desc, np.stack([load_for_model(p, classifier.input_size) for p in picked]), classifier.model)


def fmt_check(check) -> str:
    if check is None:
        return "none (no usable description or too few cells)"
    return (f"{check.cells} cells, colour ratio {check.colour_ratio:.2f} (warns > {check.colour_factor}), "
            f"feature ratio {check.feature_ratio:.2f} (warns > {check.feature_factor}), "
            f"{'UNLIKE' if check.unlike else 'familiar'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the three measurements, in turns")
    parser.add_argument("--naive", type=int, default=0, help="images for the (slow) naive baseline; 0: skip")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--baseline", type=Path, default=None, help="a second model to compare, in turns")
    args = parser.parse_args()
    if not (DATA_DIR / "manifest.csv").is_file():
        print(f"real data not found at {DATA_DIR} (set MALARIA_DATA_DIR)", file=sys.stderr)
        return 2

    from malaria_gui.engine.model import load_classifier

    classifier = load_classifier(args.model)
    import malaria_gui.engine.scorer as scorer_module

    print(f"engine {Path(scorer_module.__file__).resolve().parent.parent.parent}; model {classifier.name} "
          f"({classifier.input_size} px); {os.cpu_count()} CPUs; {args.images} NIH PNGs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_pngs(folder, args.images)
        files = sorted(folder.rglob("*.png"))
        size = classifier.input_size
        warm = np.zeros((256, size, size, 3), np.uint8)
        inference_only(classifier, warm)
        engine(folder, classifier)  # warm: page cache, compiled shapes, thread start-up
        rates: dict[str, list[float]] = {"end": [], "decode": [], "checked": [], "infer": []}
        check = None
        for _ in range(args.rounds):
            n, t, check = engine(folder, classifier)
            rates["end"].append(n / t)
            pixels, t = decode_only(files, size, checked=False)
            rates["decode"].append(len(files) / t)
            _, t = decode_only(files, size, checked=True)
            rates["checked"].append(len(files) / t)
            rates["infer"].append(len(pixels) / inference_only(classifier, pixels))
        med = {k: float(np.median(v)) for k, v in rates.items()}
        limit = 1.0 / (1.0 / med["decode"] + 1.0 / med["infer"])

        def line(name: str, key: str) -> str:
            runs = f"  (runs: {', '.join(f'{r:,.0f}' for r in rates[key])})" if args.rounds > 1 else ""
            return f"{name:<58} {med[key]:7,.0f} images/s{runs}"

        print(line("end to end (discover, decode, check, infer, OOD verdict)", "end"))
        print(line("decode only (read + decode + prepare, 2 threads)", "decode"))
        print(line("  the same with the single-cell check", "checked"))
        print(line("inference only (prepared batches of 256)", "infer"))
        print(f"{'combined limit 1/(1/decode + 1/infer)':<58} {limit:7,.0f} images/s")
        print(f"end to end / combined limit: {100 * med['end'] / limit:.0f}%   "
              f"(/ decode only: {100 * med['end'] / med['decode']:.0f}%)")
        print(f"OOD verdict of the run:          {fmt_check(check)}")
        print(f"OOD verdict re-reading 512 files: {fmt_check(reread_check(classifier, files))}")
        if args.naive:
            n_naive, t_naive = naive(folder, classifier.model, args.naive)
            print(f"naive baseline (one model.predict per image): {n_naive / t_naive:,.0f} images/s "
                  f"(end to end is {med['end'] / (n_naive / t_naive):.1f}x)")
        if args.baseline:
            other = load_classifier(args.baseline)
            mine, theirs = [], []
            for _ in range(max(1, args.rounds)):
                for clf, out in ((other, theirs), (classifier, mine)):
                    n, t, _ = engine(folder, clf)
                    out.append(n / t)
            print(f"model {classifier.name}: median {np.median(mine):,.0f} images/s; baseline {other.name}: "
                  f"{np.median(theirs):,.0f}; ratio {np.median(mine) / np.median(theirs):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

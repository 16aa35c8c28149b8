"""The frozen program's `classify` of 300 real cells, launch to exit (issue 22: <= 5 s).

    python bench/frozen_classify.py --exe dist/malaria-gui/malaria-gui [--against OTHER_EXE] [--rounds 4]

Build the bundle first (README, "Building the executable"). The cells are every 74th file of
the sorted Parasitized and Uninfected folders of MALARIA_DATA_DIR (300 of the 22,305 NIH cells).
Each round runs every program once, alternating, each with its own empty home and cache folder
on the first round (so round 1 is a cold start: no compiled-program cache) and the same ones
after. Prints each run and the medians of the warm rounds, and their ratio with --against.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cells(data: Path, n: int = 300) -> list[str]:
    files = sorted(str(p) for label in ("Parasitized", "Uninfected") for p in (data / label).iterdir())
    step = max(1, len(files) // n)
    return files[::step][:n]


def run_once(exe: Path, files: list[str], home: Path, out: Path) -> float:
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), QT_QPA_PLATFORM="offscreen")
    start = time.perf_counter()
    done = subprocess.run([str(exe), "classify", *files, "--csv", str(out), "--quiet"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{exe} exited {done.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exe", type=Path, required=True)
    parser.add_argument("--against", type=Path, help="a baseline bundle, run alternately with --exe")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    data = Path(os.environ.get("MALARIA_DATA_DIR", REPO.parent / "shared/data/nih_malaria_cells_128"))
    files = cells(data)
    programs = {"this": args.exe} | ({"baseline": args.against} if args.against else {})
    times: dict[str, list[float]] = {name: [] for name in programs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, exe in programs.items():
                t = run_once(exe, files, Path(tmp) / f"home-{name}", Path(tmp) / f"{name}.csv")
                times[name].append(t)
                print(f"round {r + 1} {name}: {t:.2f} s{' (cold: no compile cache)' if r == 0 else ''}")
    warm = {name: statistics.median(t[1:] or t) for name, t in times.items()}
    for name, t in warm.items():
        print(f"{name}: {len(files)} cells, median of warm rounds {t:.2f} s (target <= 5 s)")
    if "baseline" in warm:
        print(f"ratio this / baseline: {warm['this'] / warm['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Case store at a lab's scale: list and open stay fast with 1,000 slides (1.5 M cells).

    python bench/cases.py [--slides 1000] [--fields 10] [--cells 150] [--db FILE]

Fills a fresh store (in a temporary folder unless --db) with slides of FIELDS fields of
CELLS cells each, a review decision on every tenth cell, then times (best of 5): listing
all slides, a search, opening one slide (every cell with its latest decision) and recording
one decision (a durable transaction). Targets (issue 21): list/open < 1 s at 1,000 slides;
a 100-field slide (~15,000 cells) opens in < 2 s (timed with --big-slide, on by default).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from malaria_gui.engine.cases import CONFIRMED, REJECTED, CaseStore  # noqa: E402


def best_of(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slides", type=int, default=1000)
    ap.add_argument("--fields", type=int, default=10)
    ap.add_argument("--cells", type=int, default=150)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    folder = tempfile.TemporaryDirectory()
    db = args.db or Path(folder.name) / "cases.sqlite"
    started = time.perf_counter()
    with CaseStore(db) as store:
        cells = [(i + 1, 7 * i % 1200, 5 * i % 900, 40, 42, (i % 97) / 97) for i in range(args.cells)]
        for s in range(args.slides):
            slide = store.open_slide(f"2026-{s:05d}", f"patient {s % 311}")
            fields = 100 if s == 0 else args.fields  # slide 0: the 100-field slide of the target
            for f in range(fields):
                ids = store.add_image(slide, f"/slides/{s}/field_{f:03d}.jpg", cells, model="bench 1", threshold=0.56)
                with store._transaction():  # bulk decisions in one go (the window writes each on its own)
                    store._db.executemany(
                        "INSERT INTO decisions (cell, slide, truth, reviewer, at) VALUES (?, ?, ?, 'bench', '2026-12-03')",
                        [(cid, slide, CONFIRMED if k % 20 == 0 else REJECTED) for k, cid in enumerate(ids) if k % 10 == 0])
        filled = time.perf_counter() - started
        total = store._db.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        print(f"store: {args.slides} slides, {total:,} cells, {db.stat().st_size / 2**20:.0f} MiB, filled in {filled:.1f} s")
        t_list = best_of(lambda: store.list_slides())
        t_search = best_of(lambda: store.list_slides("patient 17"))
        t_open = best_of(lambda: store.load_slide(f"2026-{args.slides // 2:05d}"))
        t_big = best_of(lambda: store.load_slide("2026-00000"))
        big = store.load_slide("2026-00000")
        cell = big.cells[123].id
        t_decide = best_of(lambda: store.decide(cell, CONFIRMED, "bench"), 20)
    print(f"list all slides        {1000 * t_list:8.1f} ms   (target < 1000 ms)")
    print(f"search 'patient 17'    {1000 * t_search:8.1f} ms   (target < 1000 ms)")
    print(f"open a {args.fields}-field slide   {1000 * t_open:8.1f} ms   (target < 1000 ms)")
    print(f"open the 100-field slide ({len(big.cells):,} cells) {1000 * t_big:8.1f} ms   (target < 2000 ms)")
    print(f"one durable decision   {1000 * t_decide:8.1f} ms")
    folder.cleanup()


if __name__ == "__main__":
    main()

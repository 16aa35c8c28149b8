"""Case store at a lab's scale: list and open stay fast with 1,000 slides (1.5 M cells).

    python bench/cases.py [--slides 1000] [--fields 10] [--cells 150] [--db FILE]

Fills a fresh store (in a temporary folder unless --db) with slides of FIELDS fields of
CELLS cells each, a review decision on every tenth cell, then times (best of 5): listing
all slides, a search, opening one slide (every cell with its latest decision) and recording
one decision (a durable transaction). Targets (issue 21): list/open < 1 s at 1,000 slides;
a 100-field slide (~15,000 cells) opens in < 2 s (slide 0 always has 100 fields).

The window's side (offscreen Qt, no model, no scoring process): reopening the 100-field
slide into the window's session and results model (File > Open case; target < 2 s), and
what recording costs the GUI thread: a 150-cell field's chunk, a chunk of 256 single-cell
files, one review decision (each a durable transaction written from ``Session``). The reopen
includes building the thumbnail job for the scoring process; the thumbnails come afterwards:
taking in one chunk of them (256 JPEGs into the 15,000 rows) on the GUI thread, and making
them in the scoring process from 10 synthetic 1200 x 900 fields of 150 cells each (the
function the process runs, in this process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from malaria_gui.engine.cases import CONFIRMED, REJECTED, CaseStore  # noqa: E402


def cell_outline(width: int = 40, height: int = 42):
    """A cell's outline as segmentation finds it (OpenCV's contour of an elliptical mask)."""
    import cv2
    import numpy as np

    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 2 - 1, height // 2 - 1), 0, 0, 360, 1, -1)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return contours[0].reshape(-1, 2)


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
        ring = cell_outline()
        cells = [(i + 1, 7 * i % 1200, 5 * i % 900, 40, 42, (i % 97) / 97, ring + [7 * i % 1200, 5 * i % 900])
                 for i in range(args.cells)]
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
        outline_bytes = store._db.execute("SELECT SUM(LENGTH(outline)) FROM cells").fetchone()[0] or 0
        print(f"store: {args.slides} slides, {total:,} cells, {db.stat().st_size / 2**20:.0f} MiB, filled in {filled:.1f} s; "
              f"outlines {outline_bytes / total:.0f} bytes/cell ({len(ring)} points as found), "
              f"{outline_bytes / 2**20:.0f} MiB of it")
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
    window_figures(db, Path(folder.name))
    folder.cleanup()


class _NoJobs:
    """Stands where the scoring worker is: nothing is scored."""

    def add_paths(self, *a, **k): ...
    def load_model(self, *a): ...
    def cancel(self): ...
    def reset(self, *a): ...
    def make_thumbnails(self, job): self.thumbnail_job = job


def window_figures(db: Path, scratch: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch / "settings"))
    app = QApplication.instance() or QApplication([])
    import numpy as np

    from malaria_gui.engine.labels import PARASITIZED
    from malaria_gui.gui.scoring_process import Row
    from malaria_gui.gui.session import Session
    from malaria_gui.gui.settings import Settings

    with CaseStore(db) as store:
        opened = []
        for _ in range(3):
            session = Session(_NoJobs(), Settings())
            t = time.perf_counter()
            session.open_case(store, "2026-00000")
            app.processEvents()
            opened.append(time.perf_counter() - t)
        rows = session.results.rowCount()
        print(f"window: reopen the 100-field slide ({rows:,} rows) {1000 * min(opened):8.1f} ms best of 3, "
              f"worst {1000 * max(opened):.1f} ms   (target < 2000 ms)")
        thumbnail_figures(session, scratch)

        session = Session(_NoJobs(), Settings())
        session.start_case(store, "bench-window")
        rng = np.random.default_rng(0)
        field_ms = []
        for f in range(20):
            chunk = [Row(f"/bench/field_{f:03d}.jpg", float(p), None, None, None, cell=i + 1, box=(i, i, 40, 42),
                         contour=cell_outline() + [i, i]) for i, p in enumerate(rng.random(150))]
            t = time.perf_counter()
            session.on_chunk(session.generation, chunk)
            field_ms.append(1000 * (time.perf_counter() - t))
        import cv2

        files = []
        for i in range(256):
            path = scratch / "cells" / f"c{i:03d}.png"
            path.parent.mkdir(exist_ok=True)
            cv2.imwrite(str(path), np.full((120, 110, 3), i % 256, np.uint8))
            files.append(Row(str(path), float(rng.random()), None, None, None))
        t = time.perf_counter()
        session.on_chunk(session.generation, files)
        cells_ms = 1000 * (time.perf_counter() - t)
        decide_ms = []
        for r in range(20):
            t = time.perf_counter()
            session.set_truth([r * 7], PARASITIZED)
            decide_ms.append(1000 * (time.perf_counter() - t))
    print(f"window: a 150-cell field's chunk, rows + store  median {statistics.median(field_ms):6.1f} ms, "
          f"worst {max(field_ms):.1f} ms (20 fields)")
    print(f"window: a chunk of 256 cell files, rows + store {cells_ms:8.1f} ms")
    print(f"window: one review decision, rows + store      median {statistics.median(decide_ms):6.1f} ms, "
          f"worst {max(decide_ms):.1f} ms (20)")


def thumbnail_figures(session, scratch: Path) -> None:
    """After a reopen: a chunk of thumbnails taken in by the window, and their making."""
    import threading

    import cv2
    import numpy as np

    from malaria_gui.gui.scoring_process import (
        THUMBNAIL_CHUNK, MakeThumbnails, StoredPicture, ThumbnailsReady, make_thumbnail, make_thumbnails,
    )

    job = session.jobs.thumbnail_job
    jpeg = make_thumbnail(np.full((42, 40, 3), 180, np.uint8))
    cells = [(im.path, number) for im in job.images for number, *_box in im.cells]
    took = []
    for start in range(0, 20 * THUMBNAIL_CHUNK, THUMBNAIL_CHUNK):
        chunk = ThumbnailsReady(session.generation, tuple((p, n, jpeg) for p, n in cells[start:start + THUMBNAIL_CHUNK]))
        t = time.perf_counter()
        session.on_thumbnails(session.generation, chunk)
        took.append(1000 * (time.perf_counter() - t))
    print(f"window: take in a chunk of {THUMBNAIL_CHUNK} thumbnails ({len(cells):,} rows) median "
          f"{statistics.median(took):6.1f} ms, worst {max(took):.1f} ms (20 chunks)")

    yy, xx = np.mgrid[0:900, 0:1200]
    base = np.dstack([200 + 30 * np.sin(xx / 17.0), 170 + 30 * np.cos(yy / 13.0), 190 + 0 * xx]).astype(np.uint8)
    pictures = []
    ring = cell_outline()
    for f in range(10):
        path = scratch / "fields" / f"field_{f:02d}.jpg"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.roll(base, 37 * f, axis=1))
        pictures.append(StoredPicture(str(path), tuple((i + 1, 7 * i % 1160, 5 * i % 858, 40, 42,
                                                         ring + [7 * i % 1160, 5 * i % 858]) for i in range(150))))
    sent = []
    t = time.perf_counter()
    make_thumbnails(MakeThumbnails(0, tuple(pictures)), sent.append, threading.Event())
    per_field = 1000 * (time.perf_counter() - t) / len(pictures)
    print(f"process: thumbnails + picture of a 150-cell 1200 x 900 field {per_field:8.1f} ms per field "
          f"(10 fields; a 100-field slide ~{per_field / 10:.1f} s)")


if __name__ == "__main__":
    main()

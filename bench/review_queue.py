"""Review queue speed: 100 queued cells, 100 key presses, time from key to the next cell shown.

    QT_QPA_PLATFORM=offscreen python bench/review_queue.py [--cells 100] [--fields 5] [--why]

The cells are field cells (each with its field's 1600 x 1200 display copy, as the scoring
process sends it) so every step draws the cell large and its place in the field. Prints the
median and the worst step (target: each next cell in < 50 ms) and the decisions recorded.
With ``--why`` the overlay of where the model looked (W) is on, every cell's already made (as
the queue's prefetch leaves them): the cost of showing it, not of making it (that is the
scoring process's, one batch per cell).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--fields", type=int, default=5)
    ap.add_argument("--slide-cells", type=int, default=15000,
                    help="uninfected-looking cells in 100 more fields around the queue, as a large slide holds")
    ap.add_argument("--why", action="store_true", help="with the overlay of where the model looked on (W)")
    args = ap.parse_args()
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from malaria_gui.gui.field_summary import FieldSummary
    from malaria_gui.gui.review_queue import ReviewQueue
    from malaria_gui.gui.scoring_process import Explained, FieldImage, ModelInfo, Row
    from malaria_gui.gui.session import Session

    app = QApplication.instance() or QApplication([])

    class NoJobs:
        def add_paths(self, *a, **k): pass
        def load_model(self, *a): pass
        def cancel(self): pass
        def reset(self, *a): pass
        def explain(self, *a): pass  # never answered: every cell's is given below

    session = Session(NoJobs())
    session.on_model_ready(ModelInfo("bench", "1", 0.5, {}, "/m.keras", 64))
    rng = np.random.default_rng(0)
    field_jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (1200, 1600, 3), np.uint8))[1].tobytes()
    thumb = cv2.imencode(".jpg", rng.integers(0, 255, (128, 128, 3), np.uint8))[1].tobytes()
    session.add_paths(["/bench"])
    session.on_batch_started(session.generation, args.cells)
    per_field = -(-args.cells // args.fields)
    for f in range(args.fields):
        path = f"/bench/field_{f}.jpg"
        session.on_field_image(session.generation, FieldImage(session.generation, path, 2600, 1950, field_jpeg))
        session.on_chunk(session.generation, [
            Row(path, float(rng.uniform(0.5, 1.0)), None, None, thumb, cell=i + 1,
                box=(int(rng.integers(0, 2500)), int(rng.integers(0, 1850)), 90, 90))
            for i in range(min(per_field, args.cells - f * per_field))])
    per_other = args.slide_cells // 100
    for f in range(100 if args.slide_cells else 0):
        session.on_chunk(session.generation, [
            Row(f"/bench/other_{f}.jpg", float(rng.uniform(0.0, 0.2)), None, None, thumb, cell=i + 1,
                box=(int(rng.integers(0, 2500)), int(rng.integers(0, 1850)), 90, 90)) for i in range(per_other)])
    session.on_idle(session.ticket)
    summary = FieldSummary(session)  # the window's parasitemia lines follow every decision
    summary.refresh()

    import gc

    gc.freeze()  # as the window's start-up does (worker._warm_imports)
    queue = ReviewQueue(session)
    queue.show()
    if args.why:
        import malaria_gui.gui.session_explain as part

        part.EXPLAIN_CACHE = max(part.EXPLAIN_CACHE, len(queue.queue))  # every cell's kept, as if just made
        overlay = cv2.imencode(".jpg", rng.integers(0, 255, (320, 300, 3), np.uint8))[1].tobytes()
        for row in queue.queue:
            session.on_explained(Explained(session.results.key(row), overlay, 0.9, 0.5))
        QTest.keyClick(queue, Qt.Key.Key_W)
    app.processEvents()
    steps = []
    keys = [Qt.Key.Key_C, Qt.Key.Key_R, Qt.Key.Key_N, Qt.Key.Key_S]
    for k in range(len(queue.queue)):
        t = time.perf_counter()
        QTest.keyClick(queue, keys[k % 4])
        queue.repaint()  # painted, not only queued
        steps.append(time.perf_counter() - t)
    slow = sorted(range(len(steps)), key=steps.__getitem__)[-3:]
    print("slowest steps:", ", ".join(f"#{i + 1} {1000 * steps[i]:.1f} ms" for i in slow))
    t = time.perf_counter()
    summary.refresh()
    print(f"session: {session.results.rowCount()} cells; one refresh of the window's parasitemia summary "
          f"{1000 * (time.perf_counter() - t):.1f} ms (run after a pause in the review, not per key)")
    print(f"{len(steps)} key presses for {len(queue.queue)} queued cells; {session.undo_stack.count()} decisions recorded")
    print(f"overlay of where the model looked: {'on' if args.why else 'off'}")
    print(f"next cell shown: median {1000 * statistics.median(steps):.1f} ms, worst {1000 * max(steps):.1f} ms "
          f"(first of each field decodes its display copy once)  target < 50 ms")


if __name__ == "__main__":
    main()

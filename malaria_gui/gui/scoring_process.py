"""The process that owns the model for the window: loads it, scans folders, scores files.

It is a separate process, not a thread, because decoding and batching are Python work
that holds the GIL: in the window's own process every batch made the GUI thread queue for
the interpreter (60-150 ms stalls while scoring 5,000 cells on two cores). Here it has an
interpreter to itself. It is Qt-free; :class:`malaria_gui.gui.worker.ScoringWorker` starts
it, feeds it one job at a time over a pipe and turns what it sends back into Qt signals.
A crash in a decoder now costs this process, not the window: the worker restarts it.

Messages back are tuples named for the worker's signals: ("model_loading", path), ("model_ready", info),
("model_failed", text), ("scanning", generation, found), ("folder_added", path),
("batch_started", generation, n), ("chunk_ready", generation, rows), ("batch_finished",
generation, cancelled), and ("done",) after every job.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THUMB_SIZE = 64
BATCH_SIZE = 256  # as the CLI; one batch takes about a quarter of a second, so Cancel acts at once


@dataclass(slots=True)
class Row:
    """One file's outcome as the window stores it (plain data: pickled across the pipe)."""

    path: str
    p_parasitized: float | None
    error: str | None
    truth: str | None
    thumb: bytes | None  # JPEG bytes, THUMB_SIZE square


def make_thumbnail(rgb: np.ndarray, size: int = THUMB_SIZE) -> bytes | None:
    """A small JPEG of an RGB uint8 image (about 2 KB: 20,000 rows stay in tens of MB)."""
    import cv2

    try:
        h, w = rgb.shape[:2]
        interp = cv2.INTER_AREA if h * w > size * size else cv2.INTER_LINEAR
        small = cv2.resize(rgb, (size, size), interpolation=interp)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        return buf.tobytes() if ok else None
    except Exception:  # a thumbnail is a nicety: never let it cost the result
        return None


class _ThumbnailingClassifier:
    """Wraps a Classifier so each predicted batch also yields thumbnails (no second decode)."""

    def __init__(self, classifier, pause_s: float = 0.0) -> None:
        self._classifier = classifier
        self._pause_s = pause_s
        self.thumbs: list[bytes | None] = []

    @property
    def input_size(self) -> int:
        return self._classifier.input_size

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.thumbs = [make_thumbnail(image) for image in batch]
        if self._pause_s:
            time.sleep(self._pause_s)
        return self._classifier.predict(batch)


class Service:
    """The scoring state of one process: the model and the files already seen this session."""

    def __init__(self, send, cancel) -> None:
        self.send = send
        self.cancel = cancel  # a multiprocessing Event the window sets to stop the current job
        self.classifier = None
        self.seen: set[str] = set()

    def load(self, path: str | None) -> None:
        from malaria_gui.engine.model import ModelError, load_classifier
        from malaria_gui.resources import default_model_path

        model_path = Path(path) if path is not None else default_model_path()
        self.send(("model_loading", str(model_path)))
        try:
            classifier = load_classifier(model_path)
        except ModelError as exc:
            self.classifier = None
            self.send(("model_failed", str(exc)))
            return
        self.classifier = classifier
        # JAX and Keras leave many long-lived objects; freezing them out of the collector
        # keeps every later collection short.
        gc.collect()
        gc.freeze()
        self.send(("model_ready", {
            "name": classifier.name,
            "version": classifier.version,
            "threshold": classifier.threshold,
            "card": classifier.card,
            "path": str(model_path),
            "input_size": classifier.input_size,
        }))

    def reset(self) -> None:
        self.seen.clear()

    def _scan(self, generation: int, paths: list[str]) -> list:
        from malaria_gui.engine.discovery import iter_images

        for path in paths:  # stat() here, not on the GUI thread: 20,000 dropped files or a slow share
            if os.path.isdir(path):
                self.send(("folder_added", os.path.realpath(path)))
        items = []
        last = time.monotonic()
        for item in iter_images(paths):
            if self.cancel.is_set():
                return []
            key = os.path.normcase(os.path.abspath(item.path))
            if key in self.seen:
                continue
            self.seen.add(key)
            items.append(item)
            now = time.monotonic()
            if now - last > 0.2:
                self.send(("scanning", generation, len(items)))
                last = now
        return items

    def score(self, generation: int, paths: list[str], batch_size: int = BATCH_SIZE, pause_s: float = 0.0) -> None:
        from malaria_gui.engine.scorer import score

        items = self._scan(generation, paths)
        cancel = self.cancel
        if cancel.is_set() or not items:
            if not items and not cancel.is_set():
                self.send(("batch_started", generation, 0))
            self.send(("batch_finished", generation, cancel.is_set()))
            return
        if self.classifier is None:
            # No model: still list every file, with the reason it has no score.
            self.send(("batch_started", generation, len(items)))
            rows = [Row(str(it.path), None, "not scored: no model loaded", it.truth, None) for it in items]
            for it in items:  # let the user add them again once a model is loaded
                self.seen.discard(os.path.normcase(os.path.abspath(it.path)))
            for start in range(0, len(rows), 1000):
                self.send(("chunk_ready", generation, rows[start:start + 1000]))
            self.send(("batch_finished", generation, False))
            return
        self.send(("batch_started", generation, len(items)))
        wrapped = _ThumbnailingClassifier(self.classifier, pause_s)
        for chunk in score(items, wrapped, batch_size=batch_size, cancel=cancel):  # type: ignore[arg-type]
            thumbs = iter(wrapped.thumbs)
            rows = [
                Row(str(r.path), r.p_parasitized, r.error, r.truth, next(thumbs, None) if r.ok else None)
                for r in chunk
            ]
            self.send(("chunk_ready", generation, rows))
            if cancel.is_set():
                break
        self.send(("batch_finished", generation, cancel.is_set()))


def serve(conn, cancel) -> None:
    """The process's main loop: one job at a time from ``conn``, answered with ("done",)."""
    try:
        os.nice(10)  # the window's process wins the CPU when it needs it
    except (AttributeError, OSError):
        pass
    service = Service(conn.send, cancel)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the window is gone
            return
        kind = job[0]
        if kind == "stop":
            conn.close()
            os._exit(0)  # nothing to flush; skips tearing down JAX, so the window closes at once
        try:
            if kind == "load":
                service.load(job[1])
            elif kind == "reset":
                service.reset()
            elif kind == "score":
                service.score(*job[1:])
        except Exception as exc:  # the process must survive anything a job does
            conn.send(("model_failed", f"unexpected error: {type(exc).__name__}: {exc}"))
        conn.send(("done",))

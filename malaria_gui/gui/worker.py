"""The one long-lived thread that owns the model: loads it, scans folders, scores files.

Keras ``predict`` is not thread-safe and the first keras import takes seconds, so both
happen here and nowhere else. The GUI thread talks to the worker through a thread-safe job
queue and a cancel ``threading.Event``; the worker answers only through Qt signals, which
Qt queues onto the GUI thread. Results travel in chunks (one per scored batch) with small
JPEG thumbnails made from the batch the model already decoded, so nothing is decoded twice
and the GUI never touches full images in bulk.
"""

from __future__ import annotations

import gc
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QThread, Signal

THUMB_SIZE = 64
BATCH_SIZE = 256  # as the CLI; one batch takes about a quarter of a second, so Cancel acts at once


@dataclass(slots=True)
class Row:
    """One file's outcome as the window stores it (plain data, safe to pass between threads)."""

    path: str
    p_parasitized: float | None
    error: str | None
    truth: str | None
    thumb: bytes | None  # JPEG bytes, THUMB_SIZE square


class _ThumbnailingClassifier:
    """Wraps a Classifier so each predicted batch also yields thumbnails (no second decode)."""

    def __init__(self, classifier) -> None:
        self._classifier = classifier
        self.thumbs: list[bytes | None] = []

    @property
    def input_size(self) -> int:
        return self._classifier.input_size

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.thumbs = [make_thumbnail(image) for image in batch]
        return self._classifier.predict(batch)


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


def _lower_priority() -> None:
    """Lower this thread's CPU priority (Linux: per thread; inherited by the decode and
    XLA threads it starts) so the GUI thread wins the CPU when it needs it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


class ScoringWorker(QThread):
    """Runs jobs in order: ("load", model path), ("score", generation, paths), ("stop",)."""

    model_loading = Signal(str)  # model path
    model_ready = Signal(object)  # dict: name, version, threshold, card, path, input_size
    model_failed = Signal(str)  # a message for the user
    scanning = Signal(int, int)  # generation, files found so far
    folder_added = Signal(str)  # a folder the user added (for the recent-folders menu)
    batch_started = Signal(int, int)  # generation, number of files in this job
    chunk_ready = Signal(int, object)  # generation, list[Row]
    batch_finished = Signal(int, bool)  # generation, cancelled
    idle = Signal(int)  # the queue is empty; the last add_paths ticket dealt with

    def __init__(self, model_path: Path | None, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("ScoringWorker")
        self._jobs: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._generation = 0
        self._last_ticket = 0
        self._epoch = 0  # bumped by cancel(): score jobs queued before it are void
        self._classifier = None
        self._warmed = False
        self._seen: set[str] = set()
        self.batch_size = BATCH_SIZE
        self._jobs.put(("load", model_path))

    # ---- called from the GUI thread -------------------------------------------------
    def add_paths(self, generation: int, paths: list[str], ticket: int = 0) -> None:
        """Queue a scan-and-score job; ``ticket`` comes back with ``idle`` once it is done."""
        self._jobs.put(("score", generation, list(paths), self._epoch, ticket))

    def load_model(self, path: Path | None) -> None:
        self._jobs.put(("load", path))

    def cancel(self) -> None:
        """Stop the running job at the next batch and drop the queued score jobs."""
        self._epoch += 1
        self._drain(keep_loads=True)
        self._cancel.set()

    def reset(self, generation: int) -> None:
        """Forget the session: cancel everything; later jobs start a fresh duplicate check."""
        self._generation = generation
        self.cancel()
        self._jobs.put(("reset", generation))

    def stop(self) -> None:
        """Cancel everything and end the thread's loop; the caller then wait()s."""
        self._epoch += 1
        self._drain(keep_loads=False)
        self._cancel.set()
        self._jobs.put(("stop",))

    def _drain(self, keep_loads: bool) -> None:
        kept = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job[0] == "score":
                self._last_ticket = max(self._last_ticket, job[4])
            elif keep_loads and job[0] in ("load", "reset"):
                kept.append(job)
        for job in kept:
            self._jobs.put(job)

    # ---- the worker thread ----------------------------------------------------------
    def run(self) -> None:  # noqa: D401 - QThread entry point
        _lower_priority()
        while True:
            job = self._jobs.get()
            kind = job[0]
            if kind == "stop":
                return
            self._cancel = threading.Event()
            try:
                if kind == "load":
                    self._load(job[1])
                elif kind == "reset":
                    self._seen.clear()
                elif kind == "score" and job[1] == self._generation and job[3] == self._epoch:
                    self._score(job[1], job[2])
            except Exception as exc:  # the thread must survive anything a job does
                self.model_failed.emit(f"unexpected error: {type(exc).__name__}: {exc}")
            if kind == "score":
                self._last_ticket = max(self._last_ticket, job[4])
            if self._jobs.empty():
                self.idle.emit(self._last_ticket)
                if self._classifier is not None:
                    self._warm_imports()

    def _load(self, path: Path | None) -> None:
        from malaria_gui.engine.model import ModelError, load_classifier
        from malaria_gui.resources import default_model_path

        path = Path(path) if path is not None else default_model_path()
        self.model_loading.emit(str(path))
        try:
            classifier = load_classifier(path)
        except ModelError as exc:
            self._classifier = None
            self.model_failed.emit(str(exc))
            return
        self._classifier = classifier
        if self._jobs.empty():
            # Nothing waiting: pay for these now, while "Loading model..." shows, rather
            # than in the middle of the next batch. (Files already queued go first.)
            self._warm_imports()
        # JAX and Keras leave many long-lived objects; a full garbage
        # collection then walks them all (hundreds of ms) on whichever thread triggers it,
        # often the GUI's. Freezing them out of the collector removes those pauses.
        gc.collect()
        gc.freeze()
        self.model_ready.emit({
            "name": classifier.name,
            "version": classifier.version,
            "threshold": classifier.threshold,
            "card": classifier.card,
            "path": str(path),
            "input_size": classifier.input_size,
        })

    def _warm_imports(self) -> None:
        """Import scikit-learn and matplotlib's Qt canvas here, not on the GUI thread, where
        the first metrics and confusion matrix would otherwise pay ~3 s. Done as the model
        loads, or, when files were already waiting then, before the first labelled results or
        once idle: files queued at start-up are scored without waiting for it."""
        if self._warmed:
            return
        self._warmed = True
        try:
            import matplotlib.backends.backend_qtagg  # noqa: F401
            import sklearn.metrics  # noqa: F401
        except Exception:
            pass
        gc.collect()  # as after loading the model: keep their objects out of later collections
        gc.freeze()

    def _scan(self, generation: int, paths: list[str]) -> list:
        from malaria_gui.engine.discovery import iter_images

        for path in paths:  # stat() here, not on the GUI thread: 20,000 dropped files or a slow share
            if os.path.isdir(path):
                self.folder_added.emit(os.path.realpath(path))
        items = []
        last = time.monotonic()
        for item in iter_images(paths):
            if self._cancel.is_set():
                return []
            key = os.path.normcase(os.path.abspath(item.path))
            if key in self._seen:
                continue
            self._seen.add(key)
            items.append(item)
            now = time.monotonic()
            if now - last > 0.2:
                self.scanning.emit(generation, len(items))
                last = now
        return items

    def _score(self, generation: int, paths: list[str]) -> None:
        from malaria_gui.engine.scorer import score

        items = self._scan(generation, paths)
        if self._cancel.is_set() or not items:
            if not items and not self._cancel.is_set():
                self.batch_started.emit(generation, 0)
            self.batch_finished.emit(generation, self._cancel.is_set())
            return
        if self._classifier is None:
            # No model: still list every file, with the reason it has no score.
            self.batch_started.emit(generation, len(items))
            rows = [Row(str(it.path), None, "not scored: no model loaded", it.truth, None) for it in items]
            for it in items:  # let the user add them again once a model is loaded
                self._seen.discard(os.path.normcase(os.path.abspath(it.path)))
            for start in range(0, len(rows), 1000):
                self.chunk_ready.emit(generation, rows[start:start + 1000])
            self.batch_finished.emit(generation, False)
            return
        if any(it.truth for it in items):
            self._warm_imports()
        self.batch_started.emit(generation, len(items))
        wrapped = _ThumbnailingClassifier(self._classifier)
        cancel = self._cancel
        for chunk in score(items, wrapped, batch_size=self.batch_size, cancel=cancel):  # type: ignore[arg-type]
            thumbs = iter(wrapped.thumbs)
            rows = [
                Row(str(r.path), r.p_parasitized, r.error, r.truth, next(thumbs, None) if r.ok else None)
                for r in chunk
            ]
            self.chunk_ready.emit(generation, rows)
            if cancel.is_set():
                break
        self.batch_finished.emit(generation, cancel.is_set())

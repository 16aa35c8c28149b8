"""The process that owns the model for the window: loads it, scans folders, scores files.

It is a separate process, not a thread, because decoding and batching are Python work
that holds the GIL: in the window's own process every batch made the GUI thread queue for
the interpreter (60-150 ms stalls while scoring 5,000 cells on two cores). Here it has an
interpreter to itself. It is Qt-free; :class:`malaria_gui.gui.worker.ScoringWorker` starts
it, feeds it one job at a time over a pipe and turns what it sends back into Qt signals.
A crash in a decoder now costs this process, not the window: the worker restarts it.

Jobs and answers are the frozen dataclasses below (pickled across the pipe): the worker
sends :class:`LoadModel`, :class:`Reset`, :class:`Score` or :class:`Stop`; the process
answers with :class:`ModelLoading`, :class:`ModelReady`, :class:`ModelFailed`,
:class:`Scanning`, :class:`FolderAdded`, :class:`BatchStarted`, :class:`ChunkReady`,
:class:`BatchFinished`, and :class:`JobDone` after every job.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from malaria_gui.engine.labels import path_key

THUMB_SIZE = 64
BATCH_SIZE = 256  # as the CLI; one batch takes about a quarter of a second, so Cancel acts at once


@dataclass(frozen=True, slots=True)
class Row:
    """One file's outcome as the window stores it (plain data: pickled across the pipe)."""

    path: str
    p_parasitized: float | None
    error: str | None
    truth: str | None
    thumb: bytes | None  # JPEG bytes, THUMB_SIZE square


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the window knows of the loaded model (its card is the JSON beside the file)."""

    name: str
    version: str
    threshold: float  # the card's threshold (or the default when the card names none)
    card: dict
    path: str
    input_size: int

    @property
    def key(self) -> str:
        """Names the model in the settings (the user's threshold is remembered per model)."""
        return f"{self.name}-{self.version}".replace("/", "_")


# ---- jobs: worker -> process ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoadModel:
    path: str | None  # None: the bundled model


@dataclass(frozen=True, slots=True)
class Reset:
    """Forget the files seen this session (the duplicate check starts afresh)."""


@dataclass(frozen=True, slots=True)
class Score:
    generation: int
    paths: tuple[str, ...]
    batch_size: int = BATCH_SIZE
    pause_s: float = 0.0  # after each batch (tests use it to act in the middle of a run)


@dataclass(frozen=True, slots=True)
class Adapt:
    """Fine-tune ``base_path`` on labelled cells and save it as ``out_path`` (training/adapt.py)."""

    items: tuple[tuple[str, str], ...]  # (path, truth)
    base_path: str | None
    out_path: str
    name: str
    folds: int = 5
    seed: int = 0
    epochs: int | None = None  # None: adapt's default


@dataclass(frozen=True, slots=True)
class Stop:
    pass


# ---- answers: process -> worker --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModelLoading:
    path: str


@dataclass(frozen=True, slots=True)
class ModelReady:
    info: ModelInfo


@dataclass(frozen=True, slots=True)
class ModelFailed:
    message: str


@dataclass(frozen=True, slots=True)
class Scanning:
    generation: int
    found: int


@dataclass(frozen=True, slots=True)
class FolderAdded:
    path: str


@dataclass(frozen=True, slots=True)
class BatchStarted:
    generation: int
    total: int


@dataclass(frozen=True, slots=True)
class ChunkReady:
    generation: int
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class BatchFinished:
    generation: int
    cancelled: bool


@dataclass(frozen=True, slots=True)
class OODChecked:
    """After a score job: do its cells look like the model's training cells (engine/ood.py)?"""

    generation: int
    message: str  # the warning, or "" when they do (or the card cannot tell)


@dataclass(frozen=True, slots=True)
class AdaptProgress:
    stage: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class AdaptDone:
    report_text: str  # format_report's before/after table
    saved_path: str


@dataclass(frozen=True, slots=True)
class AdaptFailed:
    message: str  # for the user, as it stands
    cancelled: bool


@dataclass(frozen=True, slots=True)
class JobDone:
    pass


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
        self.send(ModelLoading(str(model_path)))
        try:
            classifier = load_classifier(model_path)
        except ModelError as exc:
            self.classifier = None
            self.send(ModelFailed(str(exc)))
            return
        self.classifier = classifier
        # JAX and Keras leave many long-lived objects; freezing them out of the collector
        # keeps every later collection short.
        gc.collect()
        gc.freeze()
        self.send(ModelReady(ModelInfo(name=classifier.name, version=classifier.version,
                                       threshold=classifier.threshold, card=classifier.card,
                                       path=str(model_path), input_size=classifier.input_size)))

    def reset(self) -> None:
        self.seen.clear()

    def adapt(self, job: Adapt) -> None:
        """Adapt and save a lab model; progress at most every 0.2 s, then done or failed."""
        from malaria_gui.engine.discovery import ImageItem
        from malaria_gui.training.adapt import AdaptCancelled, AdaptError, adapt, format_report, save_lab_model

        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] > 0.2 or done >= total:
                last[0] = now
                self.send(AdaptProgress(stage, done, total))

        items = [ImageItem(Path(path), truth) for path, truth in job.items]
        kwargs = {} if job.epochs is None else {"epochs": job.epochs}
        try:
            result = adapt(items, job.base_path, folds=job.folds, seed=job.seed, progress=progress,
                           cancel=self.cancel, name=job.name, **kwargs)
            saved = save_lab_model(result, job.out_path)
        except AdaptCancelled:
            self.send(AdaptFailed("adaptation cancelled; nothing was saved", True))
            return
        except AdaptError as exc:
            self.send(AdaptFailed(str(exc), False))
            return
        except OSError as exc:
            self.send(AdaptFailed(f"could not save the lab model: {exc.strerror or exc}", False))
            return
        self.send(AdaptDone(format_report(result), str(saved)))

    def _scan(self, generation: int, paths: list[str]) -> list:
        from malaria_gui.engine.discovery import iter_images

        for path in paths:  # stat() here, not on the GUI thread: 20,000 dropped files or a slow share
            if os.path.isdir(path):
                self.send(FolderAdded(os.path.realpath(path)))
        items = []
        last = time.monotonic()
        for item in iter_images(paths):
            if self.cancel.is_set():
                return []
            key = path_key(item.path)
            if key in self.seen:
                continue
            self.seen.add(key)
            items.append(item)
            now = time.monotonic()
            if now - last > 0.2:
                self.send(Scanning(generation, len(items)))
                last = now
        return items

    def score(self, job: Score) -> None:
        from malaria_gui.engine.scorer import score

        generation = job.generation
        items = self._scan(generation, list(job.paths))
        cancel = self.cancel
        if cancel.is_set() or not items:
            if not items and not cancel.is_set():
                self.send(BatchStarted(generation, 0))
            self.send(BatchFinished(generation, cancel.is_set()))
            return
        if self.classifier is None:
            # No model: still list every file, with the reason it has no score.
            self.send(BatchStarted(generation, len(items)))
            rows = [Row(str(it.path), None, "not scored: no model loaded", it.truth, None) for it in items]
            for it in items:  # let the user add them again once a model is loaded
                self.seen.discard(path_key(it.path))
            for start in range(0, len(rows), 1000):
                self.send(ChunkReady(generation, rows[start:start + 1000]))
            self.send(BatchFinished(generation, False))
            return
        self.send(BatchStarted(generation, len(items)))
        rows: list[Row] = []
        scored: list[Row] = []  # the whole job's rows, for the out-of-distribution check

        def to_rows(pixels: np.ndarray, good: list[int], results: list) -> None:
            """Thumbnails from the pixels the model was given: nothing is decoded twice."""
            thumbs: list[bytes | None] = [None] * len(results)
            for k, i in enumerate(good):
                thumbs[i] = make_thumbnail(pixels[k])
            rows[:] = [Row(str(r.path), r.p_parasitized, r.error, r.truth, t) for r, t in zip(results, thumbs)]
            if job.pause_s:
                time.sleep(job.pause_s)

        for _ in score(items, self.classifier, batch_size=job.batch_size, cancel=cancel, on_batch=to_rows):
            self.send(ChunkReady(generation, list(rows)))
            scored += rows
            if cancel.is_set():
                break
        self.send(BatchFinished(generation, cancel.is_set()))
        if not cancel.is_set():
            self._check_ood(generation, scored)

    def _check_ood(self, generation: int, scored: list[Row]) -> None:
        """Re-read a sample of the job's cells (~0.5-1 s) here, never in the window."""
        from malaria_gui.engine.ood import check_results

        try:
            check = check_results(scored, self.classifier)
        except Exception:  # a nicety: a failed check must never cost the results
            return
        self.send(OODChecked(generation, (check.message() or "") if check is not None else ""))


def serve(conn, cancel) -> None:
    """The process's main loop: one job at a time from ``conn``, each answered last by JobDone."""
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
        if isinstance(job, Stop):
            conn.close()
            os._exit(0)  # nothing to flush; skips tearing down JAX, so the window closes at once
        try:
            if isinstance(job, LoadModel):
                service.load(job.path)
            elif isinstance(job, Reset):
                service.reset()
            elif isinstance(job, Score):
                service.score(job)
            elif isinstance(job, Adapt):
                service.adapt(job)
        except Exception as exc:  # the process must survive anything a job does
            conn.send(ModelFailed(f"unexpected error: {type(exc).__name__}: {exc}"))
        conn.send(JobDone())

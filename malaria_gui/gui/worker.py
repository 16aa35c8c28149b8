"""The window's link to the scoring process: a thread that feeds it jobs and relays answers.

The model lives in a separate process (:mod:`malaria_gui.gui.scoring_process`) so that its
Python work never competes with the GUI thread for the interpreter lock. This thread owns
the pipe to it: it sends one job at a time, waits on the pipe (not on the GIL) and turns
every answer into a Qt signal, which Qt queues onto the GUI thread. The GUI thread talks to
it through a thread-safe job queue and a cancel event shared with the process. Results
travel in chunks (one per scored batch) with small JPEG thumbnails made from the batch the
model already decoded, so nothing is decoded twice and the GUI never touches full images.
If the process dies (a crashing decoder, the OOM killer), the run ends as cancelled, the
``crashed`` signal says why, and a new process reloads the model.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from malaria_gui.gui.scoring_process import (
    Adapt, AdaptDone, AdaptFailed, AdaptProgress, CheckOOD, OODChecked,
)
from malaria_gui.gui.scoring_process import MakeThumbnails, ThumbnailsReady
from malaria_gui.gui.scoring_process import Explain, Explained, ExplainFailed
from malaria_gui.gui.scoring_process import (
    BATCH_SIZE, FIELD_AUTO, BatchFinished, BatchStarted, ChunkReady, FieldImage, FolderAdded, JobDone, LoadModel,
    ModelFailed, ModelLoading, ModelReady, Reset, Scanning, Score, Stop, adopt_prestarted, serve,
)

PROCESS_STOPPED = "the scoring process stopped; try again"  # a W answer lost with the process
STOP_GRACE_S = 0.5  # how long closing waits for the process to finish its job (a batch) before killing it


@dataclass(frozen=True, slots=True)
class _ScoreRequest:
    """A score job as queued here: ``epoch`` voids it after a cancel, ``ticket`` comes back with idle."""

    generation: int
    paths: tuple[str, ...]
    epoch: int
    ticket: int
    field_mode: str = FIELD_AUTO


@dataclass(frozen=True, slots=True)
class _ExplainNext:
    """Queued with each explanation asked for: run the next one waiting, if a running job's
    relay has not already sent it."""


class ScoringWorker(QThread):
    """Runs jobs in order (load a model, reset, scan and score, stop) and relays the answers."""

    model_loading = Signal(str)  # model path
    model_ready = Signal(object)  # scoring_process.ModelInfo
    model_failed = Signal(str)  # a message for the user
    scanning = Signal(int, int)  # generation, files found so far
    folder_added = Signal(str)  # a folder the user added (for the recent-folders menu)
    batch_started = Signal(int, int)  # generation, number of files in this job
    chunk_ready = Signal(int, object)  # generation, list[Row]
    field_image = Signal(int, object)  # generation, scoring_process.FieldImage
    batch_finished = Signal(int, bool)  # generation, cancelled
    idle = Signal(int)  # the queue is empty; the last add_paths ticket dealt with
    crashed = Signal(str)  # the scoring process died; a new one is loading the model
    imports_warm = Signal()  # scikit-learn and matplotlib's canvas are imported (by a spare thread)
    adapt_progress = Signal(str, int, int)  # stage, done, total
    ood_checked = Signal(int, str)  # generation, warning ("" when the cells look familiar)
    adapt_done = Signal(str, str)  # the before/after report, the saved lab model's path
    adapt_failed = Signal(str, bool)  # message, cancelled
    thumbnails_ready = Signal(int, object)  # generation, scoring_process.ThumbnailsReady (a reopened case)
    explained = Signal(object)  # scoring_process.Explained or ExplainFailed (where the model looked)

    batch_size = BATCH_SIZE
    pause_s = 0.0  # a pause after each batch (tests use it to act in the middle of a run)
    field_mode = FIELD_AUTO  # how images are read (cells, fields, or recognised): taken when a job is queued

    def __init__(self, model_path: Path | None, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("ScoringWorker")
        self._jobs: queue.Queue = queue.Queue()
        self._explains: queue.SimpleQueue = queue.SimpleQueue()  # asked for; taken by a job's relay or by _ExplainNext
        self._inline: set[str] = set()  # keys of explanations sent mid-job and not yet answered
        self._stop_requested: float | None = None
        self._generation = 0
        self._last_ticket = 0
        self._epoch = 0  # bumped by cancel(): score jobs queued before it are void
        self._thumbnails_finished = False  # the running MakeThumbnails sent its last chunk
        early = adopt_prestarted()  # started by the CLI before Qt was imported: already importing Keras
        if early is not None and early[1].is_alive():
            self._context, self._process, self._conn, self._cancel = early
        else:
            self._context = multiprocessing.get_context("spawn")  # never fork a process running Qt
            self._cancel = self._context.Event()
            self._process = None
            self._conn = None
        self._model_path = None if model_path is None else str(model_path)  # reloaded after a crash
        self._jobs.put(LoadModel(None if model_path is None else str(model_path)))

    # ---- called from the GUI thread -------------------------------------------------
    def add_paths(self, generation: int, paths: list[str], ticket: int = 0) -> None:
        """Queue a scan-and-score job; ``ticket`` comes back with ``idle`` once it is done."""
        self._jobs.put(_ScoreRequest(generation, tuple(paths), self._epoch, ticket, self.field_mode))

    def load_model(self, path: Path | None) -> None:
        self._jobs.put(LoadModel(None if path is None else str(path)))

    def adapt(self, job: Adapt) -> None:
        """Queue an adaptation (it runs in the scoring process; cancel() stops it)."""
        self._jobs.put(job)

    def make_thumbnails(self, job: MakeThumbnails) -> None:
        """Queue the thumbnails of a reopened case (void once the session is cleared)."""
        self._jobs.put(job)
    def explain(self, key: str, path: str, box: tuple[int, int, int, int] | None = None) -> None:
        """Ask for an explanation of one row (answered by ``explained`` with ``key``): sent at
        once when the process is busy with a run (it answers between two batches), else run
        as the next job."""
        self._explains.put(Explain(key, path, None if box is None else tuple(int(v) for v in box)))
        self._jobs.put(_ExplainNext())

    def cancel(self) -> None:
        """Stop the running job at the next batch and drop the queued score jobs."""
        self._epoch += 1
        self._drain(keep_loads=True)
        self._cancel.set()

    def reset(self, generation: int) -> None:
        """Forget the session: cancel everything; later jobs start a fresh duplicate check."""
        self._generation = generation
        self.cancel()
        self._jobs.put(Reset())

    def stop(self) -> None:
        """Cancel everything and end the thread (and the process); the caller then wait()s."""
        self._epoch += 1
        self._drain(keep_loads=False)
        self._stop_requested = time.monotonic()
        self._cancel.set()
        self._jobs.put(Stop())

    @property
    def process_id(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def _drain(self, keep_loads: bool) -> None:
        kept = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _ScoreRequest):
                self._last_ticket = max(self._last_ticket, job.ticket)
            elif keep_loads and isinstance(job, (LoadModel, Reset, _ExplainNext, MakeThumbnails)):
                # An explanation is one batch; a reopened slide's thumbnails are not the run being
                # cancelled (a reset voids them by their generation): both kept.
                kept.append(job)
            elif isinstance(job, Adapt):  # cancelled before it began: whoever waits must hear so
                self.adapt_failed.emit("adaptation cancelled; nothing was saved", True)
        for job in kept:
            self._jobs.put(job)

    # ---- the relay thread -----------------------------------------------------------
    def _warm_imports(self) -> None:
        """Import matplotlib's Qt canvas while the model loads, on a spare thread, not on the
        GUI thread, where the first confusion matrix would otherwise pay ~2 s; then tell the
        window, which warms the rest in small steps. (The window's metrics need no scikit-learn
        any more: engine/metrics computes ROC AUC itself.)

        No ``gc.collect()`` here: a collection on this thread runs the finalisers of whatever
        cyclic garbage the GUI thread left, Qt wrappers included, and a QObject deleted off its
        thread crashed the test suite's next window now and then. ``gc.freeze()`` alone keeps
        the imported modules' long-lived objects out of later collections without running any."""
        try:
            import matplotlib.backends.backend_qtagg  # noqa: F401
        except Exception:
            pass
        gc.freeze()
        self.imports_warm.emit()

    def run(self) -> None:  # noqa: D401 - QThread entry point
        if hasattr(signal, "pthread_sigmask"):
            # The scoring process is started from this thread and inherits its signal mask:
            # Ctrl+C in the terminal then reaches only the window, which quits and stops the
            # process (no KeyboardInterrupt traceback from it, even while it starts up).
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        threading.Thread(target=self._warm_imports, name="warm-imports", daemon=True).start()
        try:
            while True:
                job = self._jobs.get()
                if isinstance(job, Stop):
                    return
                self._cancel.clear()
                if isinstance(job, LoadModel):
                    self._model_path = job.path
                    self._run_job(job)
                elif isinstance(job, Reset):
                    self._run_job(job)
                elif isinstance(job, Adapt):
                    if not self._run_job(job):
                        self.adapt_failed.emit("the scoring process stopped during adaptation; nothing was saved",
                                               False)
                elif isinstance(job, MakeThumbnails):
                    if job.generation == self._generation:
                        self._thumbnails_finished = False
                        alive = self._run_job(job)
                        if (alive and not self._thumbnails_finished and job.generation == self._generation
                                and self._stop_requested is None):
                            self._jobs.put(job)  # stopped by a cancel of the run, not by a reset: again
                elif isinstance(job, _ExplainNext):
                    try:
                        explain = self._explains.get_nowait()
                    except queue.Empty:  # sent already, while a run was going
                        explain = None
                    if explain is not None and not self._run_job(explain):
                        self.explained.emit(ExplainFailed(explain.key, PROCESS_STOPPED))
                elif isinstance(job, _ScoreRequest):
                    if job.generation == self._generation and job.epoch == self._epoch:
                        message = Score(job.generation, job.paths, self.batch_size, self.pause_s, job.field_mode)
                        if not self._run_job(message):
                            self.batch_finished.emit(job.generation, True)
                    self._last_ticket = max(self._last_ticket, job.ticket)
                if self._jobs.empty():
                    self.idle.emit(self._last_ticket)
                    if isinstance(job, (_ScoreRequest, LoadModel)):  # (a load scores waiting files)
                        self._run_job(CheckOOD(self._generation))  # after "idle": the run has ended
        finally:
            self._end_process()

    def _run_job(self, message: LoadModel | Reset | Score | Adapt | CheckOOD | MakeThumbnails | Explain) -> bool:
        """Send one job and relay its answers until it is done; False if the process died."""
        if self._stop_requested is not None:
            return True
        try:
            self._ensure_process()
        except (OSError, RuntimeError) as exc:  # no process to score in: say so, do not retry in a loop
            self.model_failed.emit(f"the scoring process could not start ({exc}); close the other programs "
                                   "using memory and try again, or restart malaria-gui")
            return False
        try:
            self._conn.send(message)
            while True:
                if self._stop_requested is not None and time.monotonic() - self._stop_requested > STOP_GRACE_S:
                    self._end_process(busy=True)  # closing, and it is mid-job (e.g. importing JAX)
                    return True
                if isinstance(message, (Score, MakeThumbnails)):
                    self._send_explains()
                if not self._conn.poll(0.05):
                    if not self._process.is_alive():
                        raise EOFError
                    continue
                answer = self._conn.recv()
                if isinstance(answer, JobDone):
                    if not self._inline:
                        return True
                    message = None  # the job is done; what was asked meanwhile is still answered
                    continue
                if isinstance(answer, (Explained, ExplainFailed)):
                    self._inline.discard(answer.key)
                    if message is None and not self._inline:
                        self._relay(answer)
                        return True
                self._relay(answer)
        except (EOFError, OSError, BrokenPipeError):
            self._on_process_died()
            return False

    def _send_explains(self) -> None:
        """Send what was asked for during a run at once: the process answers between batches."""
        while True:
            try:
                explain = self._explains.get_nowait()
            except queue.Empty:
                return
            self._inline.add(explain.key)
            self._conn.send(replace(explain, inline=True))

    def _relay(self, answer) -> None:
        """Each answer goes on as the signal of the same name (queued onto the GUI thread)."""
        match answer:
            case ModelLoading(path):
                self.model_loading.emit(path)
            case ModelReady(info):
                self.model_ready.emit(info)
            case ModelFailed(message):
                self.model_failed.emit(message)
            case Scanning(generation, found):
                self.scanning.emit(generation, found)
            case FolderAdded(path):
                self.folder_added.emit(path)
            case BatchStarted(generation, total):
                self.batch_started.emit(generation, total)
            case ChunkReady(generation, rows):
                self.chunk_ready.emit(generation, rows)
            case FieldImage():
                self.field_image.emit(answer.generation, answer)
            case BatchFinished(generation, cancelled):
                self.batch_finished.emit(generation, cancelled)
            case OODChecked(generation, message):
                self.ood_checked.emit(generation, message)
            case AdaptProgress(stage, done, total):
                self.adapt_progress.emit(stage, done, total)
            case AdaptDone(report_text, saved_path):
                self.adapt_done.emit(report_text, saved_path)
            case AdaptFailed(message, cancelled):
                self.adapt_failed.emit(message, cancelled)
            case ThumbnailsReady():
                self._thumbnails_finished = self._thumbnails_finished or answer.done
                self.thumbnails_ready.emit(answer.generation, answer)
            case Explained() | ExplainFailed():
                self.explained.emit(answer)

    def _ensure_process(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        parent_end, child_end = self._context.Pipe()
        # glibc gives every new decoding thread its own malloc arena (up to 8 per core), and each
        # run starts new ones: the process grew ~10-15 MB a run. Two arenas keep it flat; the
        # spawned process reads this at its start (inherited environment).
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        process = self._context.Process(target=serve, args=(child_end, self._cancel),
                                        name="malaria-gui-scoring", daemon=True)
        try:
            process.start()
        except BaseException:
            # Not started (spawn refused, no memory): nothing half-made is left to end later.
            parent_end.close()
            raise
        finally:
            child_end.close()
        self._process, self._conn = process, parent_end

    def _on_process_died(self) -> None:
        for key in sorted(self._inline):  # sent mid-job: whoever waits must hear
            self.explained.emit(ExplainFailed(key, PROCESS_STOPPED))
        self._inline.clear()
        code = None
        if self._process is not None:
            self._process.join(1.0)  # reap it, or its exit code is not known yet
            code = self._process.exitcode
        self._end_process()
        if self._stop_requested is not None:
            return
        self.crashed.emit(f"the scoring process stopped unexpectedly (exit code {code}); "
                          "what was scored is kept, and the model is being reloaded")
        pending = []  # reload first, then whatever the user had queued
        while True:
            try:
                pending.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        for job in [LoadModel(self._model_path), *pending]:
            self._jobs.put(job)

    def _end_process(self, busy: bool = False) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None:
            return
        if not busy:
            try:
                conn.send(Stop())
            except (OSError, BrokenPipeError, ValueError):
                pass
            process.join(1.0)
        if process.is_alive():
            process.kill()
            process.join(2.0)
        conn.close()

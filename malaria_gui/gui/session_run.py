"""The run: jobs sent to the scoring worker and what it answers (generation, progress, crashes).

A part of :class:`~malaria_gui.gui.session.Session` (a mixin: the session is the one object
widgets observe, so the signals stay there). ``generation`` is bumped by ``Session.clear``:
answers of an older generation are dropped. Rows that arrive go to the results
(``session_results``), the threshold follows the model card (``session_model``) and, when a
case is open, the case recorder writes them (``case_recorder``).
"""

from __future__ import annotations

import time

from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.gui.results_model import SORT_INPUT
from malaria_gui.gui.scoring_process import FIELD_AUTO, FieldImage, Row


class RunPart:
    """What is being scored: the worker's slots, progress counters and the OOD warning."""

    def _init_run(self) -> None:
        self.inputs: list[str] = []  # what the user added since the last Clear (export names; rescored as it was)
        self.last_crash: str | None = None
        self.last_run_cancelled = False
        self.busy = False
        self.generation = 0  # bumped by clear(): chunks of an older generation are dropped
        self.ticket = 0  # number of the last add_paths job sent
        self.run_total = 0
        self.run_done = 0  # rows scored: one per file, or per cell of a whole field
        self.run_field_cells = 0  # of which cells found in fields
        self.run_fields: set[str] = set()  # and the fields they came from
        self.run_started_at = 0.0
        self.field_images: dict[str, FieldImage] = {}  # display copies of the fields scored, by path
        self.white_cells: dict[str, int] = {}  # each field's white cells, by path (sent with its picture, or stored)
        self.ood_warning = ""  # set when any scored job's cells looked unlike the model's training cells

    def attach(self, worker) -> None:
        """Connect a ScoringWorker's signals to this session (queued onto the GUI thread)."""
        self.jobs = worker
        worker.model_loading.connect(self.on_model_loading)
        worker.model_ready.connect(self.on_model_ready)
        worker.model_failed.connect(self.on_model_failed)
        worker.scanning.connect(self.on_scanning)
        worker.folder_added.connect(self.folder_added)
        worker.batch_started.connect(self.on_batch_started)
        worker.chunk_ready.connect(self.on_chunk)
        worker.field_image.connect(self.on_field_image)
        worker.field_mode = self.field_mode
        worker.batch_finished.connect(self.on_batch_finished)
        worker.idle.connect(self.on_idle)
        worker.crashed.connect(self.on_crashed)
        worker.imports_warm.connect(self.imports_warm)
        worker.adapt_progress.connect(self.adapt_progress)
        worker.ood_checked.connect(self.on_ood_checked)
        worker.adapt_done.connect(self.adapt_done)
        worker.adapt_failed.connect(self.adapt_failed)
        worker.thumbnails_ready.connect(self.on_thumbnails)
        worker.explained.connect(self.on_explained)

    def add_paths(self, paths: list[str]) -> None:
        """Queue files and folders for scanning and scoring (never scanned on this thread)."""
        paths = [str(p) for p in paths if str(p)]
        if not paths:
            return
        self.ticket += 1
        self.inputs += [p for p in paths if p not in self.inputs]
        if self.jobs is not None:
            self.jobs.add_paths(self.generation, paths, self.ticket)
        if not self.busy:
            self._start_run()

    def cancel(self) -> None:
        """Stop the run at the next batch; what was scored is kept."""
        if not self.busy:
            return
        self.last_run_cancelled = True
        if self.jobs is not None:
            self.jobs.cancel()
        self.cancelling.emit()

    def _start_run(self) -> None:
        self.busy = True
        self.last_run_cancelled = False
        self.run_total = self.run_done = self.run_field_cells = 0
        self.run_fields = set()
        self.run_started_at = time.monotonic()
        self.run_started.emit()

    def _finish_run(self, cancelled: bool) -> None:
        self.busy = False
        self._emit_counts()
        self.refresh_metrics()
        if self.results.sort_key()[0] != SORT_INPUT:
            self._resort()
        self.run_finished.emit(cancelled)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.run_started_at

    def on_scanning(self, generation: int, found: int) -> None:
        if generation == self.generation:
            self.scanning.emit(found)

    def on_batch_started(self, generation: int, total: int) -> None:
        if generation != self.generation:
            return
        if not self.busy:
            self._start_run()
        if self.run_total == 0 and self.run_done == 0:
            self.run_started_at = time.monotonic()  # rate and time left count scoring, not loading
        self.run_total += total
        self.progress.emit(self.run_done, self.run_total, self.elapsed)

    def on_chunk(self, generation: int, rows: list[Row]) -> None:
        if generation != self.generation:
            return  # a chunk from before Clear
        before = self.card_threshold
        self.results.add_rows(rows)
        if self.case is not None:
            self._record_rows(rows)  # one transaction per chunk (session_case)
        fields = sum(1 for r in rows if r.cell is not None)
        self._field_rows += fields
        self._plain_rows += len(rows) - fields
        self._follow_card_threshold(before)
        self.run_done += sum(1 for r in rows if r.error != NOT_SCORED)  # "Cancelled: 48 of 600"
        in_fields = [r.path for r in rows if r.cell and r.error != NOT_SCORED]
        self.run_field_cells += len(in_fields)
        self.run_fields.update(in_fields)
        self.rows_added.emit(len(rows))
        self.progress.emit(self.run_done, self.run_total, self.elapsed)
        if not self._counts_timer.isActive():
            self._counts_timer.start()
        if (any(r.truth is not None for r in rows) or self.corrections) and not self._metrics_timer.isActive():
            # While scoring, the matrix is redrawn at most about every two seconds.
            self._metrics_timer.start(2000 if self.busy else 120)
        if self.results.sort_key()[0] != SORT_INPUT and not self._resort_timer.isActive():
            self._resort_timer.start()

    def on_field_image(self, generation: int, image: FieldImage) -> None:
        if generation == self.generation:
            self.field_images[image.path] = image
            self.white_cells[image.path] = image.white_cells

    @property
    def field_mode(self) -> str:
        """How dropped images are read: FIELD_AUTO (recognised), FIELD_CELLS or FIELD_FIELDS."""
        return self.settings.field_mode() if self.settings is not None else FIELD_AUTO

    def set_field_mode(self, mode: str) -> None:
        """Remembered; applies to the images added from now on."""
        self.settings.set_field_mode(mode)
        if self.jobs is not None and hasattr(self.jobs, "field_mode"):
            self.jobs.field_mode = mode

    def on_batch_finished(self, generation: int, cancelled: bool) -> None:
        if generation == self.generation and cancelled:
            self.last_run_cancelled = True

    def on_idle(self, ticket: int) -> None:
        """The worker has no job left: the run ends once it has dealt with our last ticket."""
        if ticket >= self.ticket and self.busy:
            self._finish_run(cancelled=self.last_run_cancelled)

    def on_ood_checked(self, generation: int, message: str) -> None:
        """A job's verdict; one warning stands for the session until it is cleared."""
        if generation == self.generation and message and not self.ood_warning:
            self.ood_warning = message
            self.ood_changed.emit(message)
            self.message.emit(f"Warning: {message}", 20_000)

    def on_crashed(self, message: str) -> None:
        self.last_crash = message
        self.crashed.emit(message)
        self.message.emit(f"Scoring stopped: {message}.", 30_000)

"""One window's session, without widgets: the scored rows, the threshold, the run, the model.

Widgets take a :class:`Session` and subscribe to its signals; none of them talks to another
widget or to the window. The session is fed by the scoring worker (its ``on_*`` slots are
what the worker's signals connect to, so tests feed rows to them directly, with no window
and no scoring process) and sends jobs back through any object with the worker's four job
methods (:class:`JobSink`).

Where the next features go:

- truth corrections with undo: :meth:`Session.set_truth` pushes a command
  (``corrections.py``) on :attr:`undo_stack`; corrections are keyed by file, so they
  survive sorting and :meth:`rescore`;
- switching models and rescoring: :meth:`load_model`, then the rows' paths scored again
  after a :meth:`clear` (``model_changed`` tells every widget);
- field images: rows carry their field (``results.cell/box/contour``, ``field_results()``);
  the display copy of each field is in :attr:`field_images`; widgets read these, not the worker;
- a threshold pinned by the user versus the model card's: :attr:`threshold`,
  :attr:`card_threshold`, :attr:`threshold_pinned` and :meth:`reset_threshold`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.labels import CLASS_NAMES, DEFAULT_THRESHOLD
from malaria_gui.engine.metrics import ClassCounts, Metrics
from malaria_gui.gui.results_model import SORT_INPUT, ResultsFilter, ResultsModel
from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.gui.scoring_process import FIELD_AUTO, FieldImage, ModelInfo, Row
from malaria_gui.gui.settings import Settings


class JobSink(Protocol):
    """What the session asks of the scoring worker (:class:`~malaria_gui.gui.worker.ScoringWorker`)."""

    def add_paths(self, generation: int, paths: list[str], ticket: int = 0) -> None: ...

    def load_model(self, path: Path | None) -> None: ...

    def cancel(self) -> None: ...

    def reset(self, generation: int) -> None: ...


class Session(QObject):
    """The rows, threshold, run state, model and metrics of one window."""

    rows_added = Signal(int)  # how many rows a chunk just added
    cleared = Signal()  # every row was forgotten
    counts_changed = Signal(object)  # ClassCounts; coalesced (at most every 150 ms)
    threshold_changed = Signal(float)
    filter_changed = Signal(str)  # a filter name, or "cell" for a confusion-matrix cell
    sort_changed = Signal(str, bool)  # key, descending (chosen by name, not by a header click)
    run_started = Signal()
    scanning = Signal(int)  # files found so far in the current scan
    progress = Signal(int, int, float)  # done, total, seconds since scoring began
    cancelling = Signal()
    run_finished = Signal(bool)  # cancelled
    metrics_changed = Signal(object, bool)  # Metrics or None, ROC AUC pending (a run goes on)
    model_loading = Signal(str)  # model path
    model_changed = Signal(object)  # ModelInfo
    model_failed = Signal(str)  # a message for the user
    crashed = Signal(str)  # the scoring process died; what was scored is kept
    folder_added = Signal(str)  # a folder the user added (recent folders)
    message = Signal(str, int)  # a status-bar message and how long to show it (ms)
    imports_warm = Signal()  # scikit-learn and matplotlib are imported: warm-ups may start
    truth_changed = Signal(bool)  # folder names give true labels (True) or not
    corrections_changed = Signal()  # a reviewer set, cleared, undid or redid a true label
    adapt_progress = Signal(str, int, int)  # stage, done, total (adaptation runs in the scoring process)
    ood_changed = Signal(str)  # the out-of-distribution warning for the rows on screen, or ""
    adapt_done = Signal(str, str)  # the before/after report, the saved lab model's path
    adapt_failed = Signal(str, bool)  # message for the user, cancelled

    def __init__(self, jobs: JobSink | None = None, settings: Settings | None = None, parent=None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.settings = settings or Settings()
        self.results = ResultsModel(self)
        self.proxy = ResultsFilter(self)  # the table and the gallery show the same filtered rows
        self.proxy.setDynamicSortFilter(False)
        self.proxy.setSourceModel(self.results)
        self.model_info: ModelInfo | None = None
        self.model_error: str | None = None
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
        self.metrics: Metrics | None = None  # as last sent with metrics_changed
        self.field_images: dict[str, FieldImage] = {}  # display copies of the fields scored, by path
        self._field_rows = self._plain_rows = 0  # rows of field cells and of files of their own (card_threshold)
        self._auc_cache: tuple[tuple[int, int] | None, float | None] = (None, None)
        self._counts_timer = self._coalescing_timer(150, self._emit_counts)
        self._metrics_timer = self._coalescing_timer(120, self.refresh_metrics)
        self._resort_timer = self._coalescing_timer(600, self._resort)
        self.results.set_use_truth(self.settings.use_truth())
        self.undo_stack = QUndoStack(self)  # the reviewer's corrections (Ctrl+Z / Ctrl+Shift+Z)
        self.ood_warning = ""  # set when any scored job's cells looked unlike the model's training cells

    def _coalescing_timer(self, ms: int, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

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

    # ---- asking for work -----------------------------------------------------------
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

    def load_model(self, path: Path | None) -> None:
        """Load another model; rows already scored keep their probabilities."""
        self.model_info = None
        self.model_error = None
        if self.jobs is not None:
            self.jobs.load_model(path)
        self.model_loading.emit(str(path) if path is not None else "")

    def cancel(self) -> None:
        """Stop the run at the next batch; what was scored is kept."""
        if not self.busy:
            return
        self.last_run_cancelled = True
        if self.jobs is not None:
            self.jobs.cancel()
        self.cancelling.emit()

    def clear(self, keep_corrections: bool = False) -> None:
        """Forget every row; a running batch is cancelled and its late chunks are ignored.

        The reviewer's corrections and their undo history go with the rows (Clear session),
        unless ``keep_corrections``: the same files are about to be scored again (rescore)."""
        self.generation += 1
        self.inputs = []
        if self.ood_warning:
            self.ood_warning = ""
            self.ood_changed.emit("")
        if self.jobs is not None:
            self.jobs.reset(self.generation)
        forget = not keep_corrections and bool(self.corrections or self.undo_stack.count())
        if forget:
            self.undo_stack.clear()
            self.results.forget_corrections()
        before = self.card_threshold
        self.results.clear()
        self._field_rows = self._plain_rows = 0
        self._follow_card_threshold(before)
        self.field_images.clear()
        self.metrics = None
        self.cleared.emit()
        self.metrics_changed.emit(None, False)
        self._emit_counts()
        if forget:
            self.corrections_changed.emit()
        if self.busy:
            self._finish_run(cancelled=True)

    # ---- the run -------------------------------------------------------------------
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

    # ---- slots the worker's signals connect to --------------------------------------
    def on_model_loading(self, path: str) -> None:
        self.model_loading.emit(path)

    def on_model_ready(self, info: ModelInfo) -> None:
        self.model_info = info
        self.model_error = None
        saved = self.settings.threshold_for(info.key)
        self._apply_threshold(saved if saved is not None else self.card_threshold)
        self.model_changed.emit(info)

    def on_model_failed(self, message: str) -> None:
        self.model_info = None
        self.model_error = message
        self.model_failed.emit(message)

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

    # ---- whole smear fields ----------------------------------------------------------
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

    # ---- threshold -------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return self.results.threshold

    @property
    def card_threshold(self) -> float:
        """The model card's threshold, or the default. While every row is a cell of a whole
        field it is the card's field threshold, where the card has one: fields are counted at
        the cut-off chosen for counting (rare false calls at a field's real prevalence), single
        cells at the one chosen on validation patients."""
        if self.model_info is None:
            return DEFAULT_THRESHOLD
        if self._field_rows and not self._plain_rows:
            value = (self.model_info.card or {}).get("field_threshold")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
                return float(value)
        return self.model_info.threshold

    def _follow_card_threshold(self, before: float) -> None:
        """Move to the card's threshold when what is on screen changed which one applies, unless
        the user moved or pinned the threshold (then it is theirs)."""
        after = self.card_threshold
        if after != before and self.threshold == before and self.pinned_threshold is None:
            self._apply_threshold(after)

    @property
    def pinned_threshold(self) -> float | None:
        """The threshold kept for this model ("Keep"), which later windows open at; else None.

        Pinned means only that: a threshold merely moved lasts for this session, and the next
        window opens at the card's again.
        """
        return None if self.model_info is None else self.settings.threshold_for(self.model_info.key)

    @property
    def threshold_pinned(self) -> bool:
        """The threshold in use is the one kept for this model."""
        return self.pinned_threshold is not None and self.pinned_threshold == self.threshold

    @property
    def threshold_is_custom(self) -> bool:
        """The threshold in use is not the model card's (moved, or pinned earlier)."""
        return self.threshold != self.card_threshold

    def set_threshold(self, value: float) -> None:
        """The user's threshold for this session: relabels every row (the model is not run
        again). It is not remembered unless pinned (:meth:`pin_threshold`)."""
        value = min(1.0, max(0.0, float(value)))
        self._apply_threshold(value)

    def pin_threshold(self) -> None:
        """Keep the current threshold for this model: later windows open at it."""
        if self.model_info is None:
            return
        self.settings.set_threshold_for(self.model_info.key, self.threshold)
        self.threshold_changed.emit(self.threshold)

    def reset_threshold(self) -> None:
        """Back to the model card's threshold, forgetting a pinned one."""
        if self.model_info is not None:
            self.settings.clear_threshold_for(self.model_info.key)
        self._apply_threshold(self.card_threshold)

    def _apply_threshold(self, value: float) -> None:
        if value == self.results.threshold:
            self.threshold_changed.emit(value)  # widgets may show another value than this
            return
        self.results.set_threshold(value)
        if self.proxy.depends_on_threshold():
            self.proxy.refilter()
        self.threshold_changed.emit(value)
        self._emit_counts()
        if not self._metrics_timer.isActive():
            self._metrics_timer.start(60)

    # ---- truth from folder names ---------------------------------------------------------
    @property
    def use_truth(self) -> bool:
        return self.results.use_truth

    def set_use_truth(self, on: bool) -> None:
        """Take true labels from folder names or not (remembered); rows are re-derived from
        what each file's scan found, and the matrix disappears while it is off."""
        on = bool(on)
        self.settings.set_use_truth(on)
        if on == self.results.use_truth:
            return
        self.results.set_use_truth(on)
        self.proxy.refilter()
        self.truth_changed.emit(on)
        self.rows_changed()

    def truth_text(self) -> str:
        """Where the true labels came from, in the CLI's words."""
        from malaria_gui.engine.discovery import truth_text

        if not self.use_truth:
            return "true labels off (View > Use folder names as true labels)"
        return truth_text(self.results.truth_sources())

    # ---- filter and order --------------------------------------------------------------
    def set_filter(self, name: str) -> None:
        self.proxy.set_filter(name)
        self.filter_changed.emit(name)

    def filter_cell(self, truth: str, predicted: str) -> None:
        """Show only the rows of one confusion-matrix cell."""
        self.proxy.set_cell(truth, predicted)
        self.filter_changed.emit("cell")

    def sort_by(self, key: str, descending: bool = False) -> None:
        self.results.sort_by(key, descending)
        self.sort_changed.emit(key, descending)

    def _resort(self) -> None:
        self.results.sort_by(*self.results.sort_key())

    # ---- counts and metrics -------------------------------------------------------------
    def counts(self) -> ClassCounts:
        return self.results.counts()

    def _emit_counts(self) -> None:
        self.counts_changed.emit(self.results.counts())

    def rows_changed(self) -> None:
        """Call after rows' data changed in place (e.g. a corrected truth): counts and
        metrics are recomputed, ROC AUC included."""
        self._emit_counts()
        self.refresh_metrics()

    def current_metrics(self, auc: bool = True) -> Metrics | None:
        """Metrics of the labelled, scored rows. ROC AUC does not depend on the threshold:
        it is computed once per set of rows and reused while the threshold moves."""
        from malaria_gui.engine.metrics import compute_metrics

        p = self.results.probabilities()
        # Only a labelled set: reviewed field cells and reviewed unlabelled files are calls a
        # person checked, not a random sample (see ResultsModel.in_matrix).
        pairs = [(t, float(x)) for t, x in zip(self.results.matrix_truths(), p.tolist()) if t is not None and x == x]
        if not pairs:
            return None
        truth, probs = zip(*pairs)
        key = (self.results.revision, len(probs))
        if not auc or self._auc_cache[0] != key:
            metrics = compute_metrics(truth, probs, self.threshold, auc=auc)
            if auc:
                self._auc_cache = (key, metrics.roc_auc)
            return metrics
        return dataclasses.replace(compute_metrics(truth, probs, self.threshold, auc=False),
                                   roc_auc=self._auc_cache[1])

    def refresh_metrics(self) -> None:
        """While scoring, counts update live and ROC AUC waits for the end of the run."""
        self.metrics = self.current_metrics(auc=not self.busy)
        self.metrics_changed.emit(self.metrics, self.busy)

    # ---- the reviewer's corrections (see corrections.py) -------------------------------
    @property
    def corrections(self) -> dict[str, str | None]:
        """Path key (+ "#cell" in a field) -> the reviewer's true label (None: cleared); kept
        across rescore, forgotten by Clear session."""
        return self.results.corrections

    def set_truth(self, rows: list[int], label: str | None) -> None:
        """Set the true label of rows of ``results`` (None clears it), as one undoable step.

        :data:`NOT_A_CELL` is for cells found in whole fields (the segmentation cut no red
        cell there); a field that could not be counted has no cell to label."""
        from malaria_gui.gui.corrections import SetTruth

        results = self.results
        rows = [r for r in rows if 0 <= r < results.rowCount() and results.cell(r) != 0]
        if label == NOT_A_CELL:
            files = [r for r in rows if results.cell(r) is None]
            rows = [r for r in rows if results.cell(r) is not None]
            if files and not rows:
                self.message.emit("\"Not a red cell\" (N) is for cells found in whole fields; "
                                  "a file of its own keeps Parasitized or Uninfected.", 8000)
        if not rows:
            return
        command = SetTruth(results, rows, label, self._on_corrections_changed)
        if not command.is_noop():
            self.undo_stack.push(command)  # push() runs redo(), which applies it

    def _on_corrections_changed(self) -> None:
        if self.proxy.depends_on_threshold():  # misclassified / matrix-cell filters read the truth
            self.proxy.refilter()
        if self.results.sort_key()[0] != SORT_INPUT:
            self._resort_timer.start()
        self.rows_changed()
        self.corrections_changed.emit()

    def has_unsaved_corrections(self) -> bool:
        return bool(self.corrections) and not self.undo_stack.isClean()

    def file_corrections(self) -> dict[str, str | None]:
        """The corrections of files of their own (path key -> label; None: the label cleared)."""
        m = self.results
        return {k: v for k, v in self.corrections.items() if not m.is_field_key(k)}

    def field_labels(self) -> list:
        """The reviewer's labels on cells of whole fields, as FieldCellLabels (box and cell)."""
        return self.results.field_cell_labels()

    def corrections_text(self) -> str:
        """What the corrections are, in words: "3 files and 38 field cells"."""
        files, cells = len(self.file_corrections()), len(self.field_labels())
        parts = [f"{files} file{'s' if files != 1 else ''}"] if files else []
        if cells:
            parts.append(f"{cells} field cell{'s' if cells != 1 else ''}")
        return " and ".join(parts) or "no cell"

    def save_corrections(self, path: Path) -> list[tuple[Path, int, str]]:
        """Write the corrections; returns ``(file, rows, what)`` for each file written.

        Files of their own go to ``path`` as ``path,truth`` (``adapt --corrections``); cells of
        whole fields as field-cell labels (image, cell, box, truth: ``adapt --field-labels``),
        to ``path`` when there are no file corrections, else to ``NAME-fields.csv`` beside it.
        Nothing is written (and the corrections stay unsaved) when there is nothing to save."""
        from malaria_gui.engine.export import write_corrections
        from malaria_gui.engine.field_labels import write_field_labels

        path = Path(path)
        files, cells = self.file_corrections(), self.field_labels()
        written: list[tuple[Path, int, str]] = []
        if files:
            write_corrections(path, files)
            written.append((path, len(files), "file corrections (path,truth)"))
        if cells:
            where = path.with_name(f"{path.stem}-fields{path.suffix or '.csv'}") if files else path
            write_field_labels(where, cells)
            written.append((where, len(cells), "field-cell labels (image,cell,x,y,width,height,truth)"))
        if written:
            self.undo_stack.setClean()
        return written

    def labelled_items(self) -> list[tuple[str, str]]:
        """(path, truth) of every readable file with a true label (folder's or reviewer's).
        Only labels: an unreviewed cell's prediction never trains (cells of whole fields go as
        :meth:`field_labels`)."""
        m = self.results
        return [(m.path(r), t) for r, t in enumerate(m.truths())
                if t in CLASS_NAMES and m.error(r) is None and m.cell(r) is None]

    def start_adapt(self, out_path: Path, name: str, *, folds: int = 5, seed: int = 0,
                    epochs: int | None = None) -> None:
        """Adapt the model in use to the labelled rows, in the scoring process; the answer comes
        as ``adapt_done`` or ``adapt_failed``, and :meth:`cancel_adapt` stops it."""
        from malaria_gui.gui.scoring_process import Adapt

        base = self.model_info.path if self.model_info is not None else None
        job = Adapt(tuple(self.labelled_items()), base, str(out_path), name, folds, seed, epochs,
                    field_labels=tuple(self.field_labels()))
        if self.jobs is not None:
            self.jobs.adapt(job)

    def cancel_adapt(self) -> None:
        if self.jobs is not None:
            self.jobs.cancel()

    def rescore(self, model_path: Path | None) -> None:
        """Load another model and score what was added again; the corrections are kept."""
        inputs = list(self.inputs)
        self.clear(keep_corrections=True)
        self.load_model(model_path)
        self.add_paths(inputs)

    # ---- export ------------------------------------------------------------------------
    def export_csv(self, path: Path) -> None:
        """The CLI's CSV columns, one row per file of the session (a file a cancelled run
        never reached says "not scored (cancelled)"), with the model and the exact threshold."""
        from malaria_gui.engine.export import model_label, write_csv

        from malaria_gui.engine.confirmed import figures_from_results

        info = self.model_info
        results, corrected = self.results.results(), self.results.corrected_flags()
        per_field, _slides = figures_from_results(results, corrected, self.threshold)
        write_csv(path, results, self.threshold, model_label(info.name, info.version) if info else "",
                  corrected=corrected, field_figures=per_field)

    def default_export_name(self, suffix: str) -> str:
        """``results-<folder or slide>-<date><suffix>``, after what was added."""
        from malaria_gui.engine.export import default_export_name

        return default_export_name(self.inputs, suffix)

    def export_report(self, path: Path, *, slide_id: str = "", reference: str = "", reviewer: str = "",
                      decisions: dict | None = None) -> None:
        """The HTML report; the slide's id, patient/sample reference, reviewer and each decision's
        (reviewer, time) by (path, cell) come from the case when there is one ("not given" else)."""
        from datetime import datetime

        from malaria_gui.engine.report import write_report

        info = self.model_info
        images = {p: (im.width, im.height, im.jpeg) for p, im in self.field_images.items()}
        fields = self.results.field_results()
        for f in fields:  # white cells are counted in the scoring process and sent with the field's picture
            f.white_cells = getattr(self.field_images.get(str(f.path)), "white_cells", 0)
        write_report(path, self.results.results(), self.threshold,
                     model_name=info.name if info else "no model", model_version=info.version if info else "",
                     date=datetime.now(), fields=fields, field_images=images,
                     corrected=self.results.corrected_flags(), in_matrix=self.results.matrix_flags(),
                     slide_id=slide_id, reference=reference, reviewer=reviewer, decisions=decisions)

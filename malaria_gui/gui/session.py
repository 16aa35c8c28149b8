"""One window's session, without widgets: the scored rows, the threshold, the run, the model.

Widgets take a :class:`Session` and subscribe to its signals; none of them talks to another
widget or to the window. The session is fed by the scoring worker (its ``on_*`` slots are
what the worker's signals connect to, so tests feed rows to them directly, with no window
and no scoring process) and sends jobs back through any object with the worker's four job
methods (:class:`JobSink`).

The session is one object made of parts, one module per concern, so that each stays small:

- ``session_run``: jobs sent to the worker and its answers (generation, progress, crashes);
- ``session_model``: the model loaded and the threshold (the card's, moved, pinned);
- ``session_results``: the rows (``results``, ``proxy``), truth from folder names, filter,
  order, counts and metrics;
- ``session_review``: the reviewer's corrections with undo (``corrections.py``), saved as CSV;
- ``session_adapt``: adaptation to the reviewed rows, rescoring with another model;
- ``session_case``: the case open in the window (rows and decisions written to the case
  store as they come, a stored slide shown again without scoring);
- ``session_explain``: where the model looked for a row (asked of the scoring process, kept).

What is left here: the signals, :meth:`Session.clear` (which touches every part) and export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from malaria_gui.gui.session_adapt import AdaptPart
from malaria_gui.gui.session_case import CasePart
from malaria_gui.gui.session_explain import ExplainPart
from malaria_gui.gui.session_model import ModelPart
from malaria_gui.gui.session_results import ResultsPart
from malaria_gui.gui.session_review import ReviewPart
from malaria_gui.gui.session_run import RunPart
from malaria_gui.gui.settings import Settings


class JobSink(Protocol):
    """What the session asks of the scoring worker (:class:`~malaria_gui.gui.worker.ScoringWorker`)."""

    def add_paths(self, generation: int, paths: list[str], ticket: int = 0) -> None: ...

    def load_model(self, path: Path | None) -> None: ...

    def cancel(self) -> None: ...

    def reset(self, generation: int) -> None: ...

    # Optional: ``explain(key, path, box)`` (where the model looked; session_explain).


class Session(QObject, RunPart, ModelPart, ResultsPart, ReviewPart, AdaptPart, CasePart, ExplainPart):
    """The rows, threshold, run state, model and metrics of one window (its parts: the mixins)."""

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
    case_changed = Signal()  # a case was started, opened or closed (Session.case)
    thumbnails_done = Signal(int)  # a reopened case's thumbnails are all in; how many files are missing
    explanation_ready = Signal(str)  # a row key: where the model looked is in explanation(row)

    def __init__(self, jobs: JobSink | None = None, settings: Settings | None = None, parent=None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.settings = settings or Settings()
        self._init_run()
        self._init_model()
        self._init_results()
        self._init_review()
        self._init_case()
        self._init_explain()
        self._counts_timer = self._coalescing_timer(150, self._emit_counts)
        self._metrics_timer = self._coalescing_timer(120, self.refresh_metrics)
        self._resort_timer = self._coalescing_timer(600, self._resort)

    def _coalescing_timer(self, ms: int, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    def clear(self, keep_corrections: bool = False) -> None:
        """Forget every row; a running batch is cancelled and its late chunks are ignored.

        The reviewer's corrections and their undo history go with the rows (Clear session),
        unless ``keep_corrections``: the same files are about to be scored again (rescore).
        The case closes with them (what it recorded stays in the store), unless ``keep_corrections``."""
        self.generation += 1
        if not keep_corrections:
            self.close_case()
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
            self.unstored_decisions = False
        before = self.card_threshold
        self.results.clear()
        self._field_rows = self._plain_rows = 0
        self._follow_card_threshold(before)
        self.field_images.clear()
        self.white_cells.clear()
        self.metrics = None
        self.cleared.emit()
        self.metrics_changed.emit(None, False)
        self._emit_counts()
        if forget:
            self.corrections_changed.emit()
        if self.busy:
            self._finish_run(cancelled=True)

    def field_results(self) -> list:
        """The session's fields (``ResultsModel.field_results``) with their white cells, which
        the scoring process counts and sends with the field's picture (or the case store kept)."""
        fields = self.results.field_results()
        for f in fields:
            f.white_cells = self.white_cells.get(str(f.path), 0)
        return fields

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

        if self.case is not None and not slide_id:
            slide_id, reference, reviewer = self.case.slide_id, self.case.reference, self.case.reviewer
            if decisions is None:
                decisions = self._case_decisions()
        info = self.model_info
        images = {p: (im.width, im.height, im.jpeg) for p, im in self.field_images.items()}
        fields = self.field_results()
        write_report(path, self.results.results(), self.threshold,
                     model_name=info.name if info else "no model", model_version=info.version if info else "",
                     date=datetime.now(), fields=fields, field_images=images,
                     corrected=self.results.corrected_flags(), in_matrix=self.results.matrix_flags(),
                     slide_id=slide_id, reference=reference, reviewer=reviewer, decisions=decisions)

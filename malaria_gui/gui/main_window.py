"""The main window: composition and wiring.

It builds the :class:`~malaria_gui.gui.session.Session` (rows, threshold, run, model), the
scoring worker that feeds it, and the widgets that show it, each of which subscribes to the
session itself. What is left here is what belongs to a window: menus and the toolbar,
drag and drop, file dialogs, the about box, and closing. Nothing slow runs on this thread:
folder scans, decoding and inference happen in the scoring process.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QFrame, QHBoxLayout, QMainWindow, QMessageBox, QPushButton, QScrollArea, QSplitter, QVBoxLayout,
    QWidget,
)

from malaria_gui import __version__
from malaria_gui.engine.discovery import IMAGE_EXTENSIONS
from malaria_gui.gui.adapt_dialog import AdaptFlow
from malaria_gui.gui.case_flow import CaseFlow
from malaria_gui.gui.field_summary import FieldSummary
from malaria_gui.gui.field_view import FieldPanel
from malaria_gui.gui.filter_bar import FilterBar
from malaria_gui.gui.matrix_view import MatrixPanel
from malaria_gui.gui.model_menu import ModelMenu, remembered_model
from malaria_gui.gui.model_panel import ModelBanner
from malaria_gui.gui.ood_notice import OODNotice
from malaria_gui.gui.preview import PreviewPanel
from malaria_gui.gui.results_views import ResultsViews
from malaria_gui.gui.review import ReviewActions
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from malaria_gui.gui.status_bar import StatusBar
from malaria_gui.gui.summary import SummaryLabel
from malaria_gui.gui.threshold_control import ThresholdControl
from malaria_gui.gui.worker import ScoringWorker


class _VerticalScroll(QScrollArea):
    """Scrolls its widget up and down only, and is as wide as the widget asks (a plain scroll
    area would let the splitter squeeze the confusion matrix and cut it off)."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__()
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the matrix appeared: the splitter reads the new width
        return super().eventFilter(watched, event)

    def _width(self, hint: QSize) -> int:
        return hint.width() + self.verticalScrollBar().sizeHint().width()

    def minimumSizeHint(self) -> QSize:
        return QSize(self._width(self.widget().minimumSizeHint()), super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(self._width(self.widget().sizeHint()), super().sizeHint().height())


class MainWindow(QMainWindow):
    """One session of scored files. ``scoring_finished`` fires when a run has ended."""

    scoring_finished = Signal()

    def __init__(self, model_path: Path | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Malaria cell classifier")
        self.setAcceptDrops(True)
        self.settings = Settings()
        self.session = Session(settings=self.settings, parent=self)
        self._build_ui()
        self._build_menus()
        self._restore_window()

        session = self.session
        session.run_finished.connect(lambda _cancelled: self.scoring_finished.emit())
        for signal in (session.run_started, session.run_finished, session.cleared, session.model_changed,
                       session.model_failed, session.model_loading):
            signal.connect(self._update_actions)
        session.folder_added.connect(self._on_folder_added)
        session.imports_warm.connect(self._warm_up)
        if model_path is None:  # no --model: the one picked in the Model menu last time
            model_path = remembered_model(self.settings)
        self.worker = ScoringWorker(model_path, self)
        session.attach(self.worker)
        self.worker.start()

    # ------------------------------------------------------------------ construction
    def _build_ui(self) -> None:
        session = self.session
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 6)
        self.banner = ModelBanner(session)
        outer.addWidget(self.banner)

        bar = QHBoxLayout()
        self.threshold_control = ThresholdControl(session)
        bar.addWidget(self.threshold_control, 2)
        bar.addSpacing(12)
        self.filter_bar = FilterBar(session)
        bar.addWidget(self.filter_bar)
        bar.addSpacing(12)
        self.view_toggle = QPushButton("Gallery view")
        self.view_toggle.setCheckable(True)
        self.view_toggle.toggled.connect(self.show_gallery)
        bar.addWidget(self.view_toggle)
        outer.addLayout(bar)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.results_views = ResultsViews(session)
        splitter.addWidget(self.results_views)
        # Whole smear fields: the field with its cells outlined, shown once a field is scored.
        self.field_panel = FieldPanel(session)
        self.field_panel.hide()
        self.field_panel.view.cell_clicked.connect(self._on_field_cell_clicked)
        self.results_views.current_row_changed.connect(self.field_panel.view.show_row)
        self.field_panel.view.field_shown.connect(lambda path: path and self.field_panel.show())
        session.cleared.connect(self.field_panel.hide)
        splitter.addWidget(self.field_panel)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        self.preview = PreviewPanel(session)
        self.results_views.current_row_changed.connect(self.preview.show_row)
        side_layout.addWidget(self.preview)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        side_layout.addWidget(line)
        self.summary = SummaryLabel(session)
        side_layout.addWidget(self.summary)
        self.field_summary = FieldSummary(session)
        side_layout.addWidget(self.field_summary)
        self.ood_notice = OODNotice(session)
        side_layout.addWidget(self.ood_notice)
        self.matrix = MatrixPanel(session)
        side_layout.addWidget(self.matrix)
        side_layout.addStretch(1)
        # The side column (preview, summaries, matrix) is taller than a small window once a
        # labelled folder of fields is scored: it scrolls then, instead of its widgets overlapping.
        self.side_scroll = _VerticalScroll(side)
        splitter.addWidget(self.side_scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.status = StatusBar(session)
        self.setStatusBar(self.status)
        self.review = ReviewActions(session, self._review_rows, self)
        for widget in (self.results_views.table, self.results_views.gallery, self.preview):
            self.review.install(widget)
        for widget in (self.results_views.table, self.results_views.gallery):
            widget.addAction(self.preview.why_action)  # W: where the model looked, in the preview
        self.field_panel.view.set_review(self.review)  # P/U/N/0 and a context menu on the cell clicked
        self.preview.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # P/U/0 also act after clicking the preview
        self.resize(1200, 760)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_files_action = self._action(file_menu, "Open &images...", self.open_files_dialog,
                                              QKeySequence.StandardKey.Open)
        self.open_folder_action = self._action(file_menu, "Open &folder...", self.open_folder_dialog,
                                               QKeySequence("Ctrl+Shift+O"))
        self.recent_menu = file_menu.addMenu("&Recent folders")
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        self.cases = CaseFlow(self.session, self.settings, self, self.clear_session)
        file_menu.addActions([self.cases.new_action, self.cases.open_action, self.cases.record_action])
        self.session.case_changed.connect(self._show_case)
        file_menu.addSeparator()
        self.export_csv_action = self._action(file_menu, "&Export CSV...", self.export_csv_dialog,
                                              QKeySequence("Ctrl+E"))
        self.export_report_action = self._action(file_menu, "Export &report (HTML)...", self.export_report_dialog,
                                                 QKeySequence("Ctrl+Shift+E"))
        self.save_corrections_action = self._action(file_menu, "Save co&rrections...", self.save_corrections_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "Load another &model...", self.open_model_dialog)
        self.clear_action = self._action(file_menu, "&Clear session", self.clear_session,
                                         QKeySequence("Ctrl+Shift+Del"))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.cancel_action = QAction("Cancel scoring", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.triggered.connect(self.session.cancel)
        self.addAction(self.cancel_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addActions([self.review.undo, self.review.redo])
        edit_menu.addSeparator()
        edit_menu.addActions(self.review.marks)
        edit_menu.addSeparator()
        self.review_queue_action = self._action(edit_menu, "Review &queue...", self.open_review_queue,
                                                QKeySequence("Ctrl+R"))
        self.review_queue_action.setToolTip("Every Parasitized call, then the uncertain ones: C confirm, R reject, "
                                            "N not a red cell, S skip, Backspace back")
        self.session.corrections_changed.connect(self._update_actions)
        view_menu = menu.addMenu("&View")
        gallery_action = view_menu.addAction("&Gallery")
        gallery_action.setCheckable(True)
        gallery_action.setShortcut(QKeySequence("Ctrl+G"))
        gallery_action.toggled.connect(self.view_toggle.setChecked)
        self.view_toggle.toggled.connect(gallery_action.setChecked)
        self._build_field_mode_menu(view_menu)
        view_menu.addSeparator()
        self.truth_action = view_menu.addAction("Use folder names as &true labels")
        self.truth_action.setCheckable(True)
        self.truth_action.setChecked(self.session.use_truth)
        self.truth_action.setToolTip("Parasitized/ and Uninfected/ folders give true labels (README 'True labels')")
        self.truth_action.toggled.connect(self.session.set_use_truth)
        self.thumb_menu = view_menu.addMenu("Thumbnail &size")
        self.results_views.add_thumb_size_actions(self.thumb_menu, self.settings)
        # The common actions as visible buttons too: not every technician explores menus.
        toolbar = self.addToolBar("Actions")
        toolbar.setObjectName("actions")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.open_files_action, self.open_folder_action, None,
                       self.export_csv_action, self.export_report_action, None, self.clear_action):
            if action is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(action)
        self.model_menu = ModelMenu(self.session, self)
        self.adapt = AdaptFlow(self.session, self)
        self.model_menu.extra_actions.append(self.adapt.action)
        self.model_menu.rebuild()
        self.adapt.finished.connect(lambda _path: self.model_menu.rebuild())
        menu.addMenu(self.model_menu)
        help_menu = menu.addMenu("&Help")
        self.model_card_action = self._action(help_menu, "&Model card...", self.show_model_card)
        self._action(help_menu, "&About", self.show_about)
        self._update_actions()

    def _build_field_mode_menu(self, view_menu) -> None:
        """View > Field images: recognise whole smear fields, or force one reading (remembered)."""
        from PySide6.QtGui import QActionGroup

        from malaria_gui.gui.scoring_process import FIELD_AUTO, FIELD_CELLS, FIELD_FIELDS

        menu = view_menu.addMenu("&Field images")
        group = QActionGroup(self)
        self.field_mode_actions = {}
        for mode, text in ((FIELD_AUTO, "Recognise &automatically"), (FIELD_CELLS, "Always single &cells"),
                           (FIELD_FIELDS, "Always whole &fields")):
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(mode == self.session.field_mode)
            action.triggered.connect(lambda _=False, m=mode: self.session.set_field_mode(m))
            group.addAction(action)
            self.field_mode_actions[mode] = action

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(shortcut)
        return action

    def _restore_window(self) -> None:
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)

    def _warm_up(self) -> None:
        """One-off costs paid while the model loads, not mid-run: steps of ~50 ms, 40 ms
        apart, so the window keeps answering in between."""
        steps = [self.matrix.warm_up, self.matrix.prepare, self.results_views.table.warm_up]

        def run_next() -> None:
            steps.pop(0)()
            if steps:
                QTimer.singleShot(40, self, run_next)  # dropped if the window is gone by then

        QTimer.singleShot(0, self, run_next)

    def _update_actions(self, *_ignored) -> None:
        has_rows = self.session.results.rowCount() > 0
        for action in (self.export_csv_action, self.export_report_action):
            action.setEnabled(has_rows)
        self.model_card_action.setEnabled(self.session.model_info is not None)
        self.save_corrections_action.setEnabled(bool(self.session.corrections))
        self.review_queue_action.setEnabled(has_rows)

    def open_review_queue(self) -> None:
        """The queue of cells a person must look at, over what is on screen now (modeless:
        the table and the field view follow the cell it shows)."""
        from malaria_gui.gui.review_queue import ReviewQueue

        if self.session.busy:
            self.statusBar().showMessage("The queue opens once scoring has finished.", 5000)
            return
        queue = ReviewQueue(self.session, self)
        if not queue.queue:
            self.statusBar().showMessage(
                f"Nothing to review: no cell is called Parasitized or near the threshold {self.session.threshold:.2f}.",
                6000)
            queue.deleteLater()
            return
        queue.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        queue.current_changed.connect(self._show_queued_row)
        self.review_queue = queue
        queue.show()

    def _show_queued_row(self, row: int) -> None:
        """The table follows the queue's cell where the filter shows it (the filter is left as it is)."""
        if row >= 0 and self.session.proxy.mapFromSource(self.session.results.index(row, 0)).isValid():
            self.results_views.select_source_row(row)

    def show_gallery(self, on: bool) -> None:
        self.results_views.show_gallery(on)
        self.view_toggle.setText("Table view" if on else "Gallery view")

    # ------------------------------------------------------------------ getting images in
    def add_paths(self, paths: list[str]) -> None:
        """Queue files and folders for scanning and scoring (never scanned on this thread);
        into the open case only when the technician says so (CaseFlow.ready_for)."""
        if paths and self.cases.ready_for(paths):
            self.session.add_paths(paths)

    def _show_case(self) -> None:
        case = self.session.case
        title = "Malaria cell classifier"
        if case is not None:
            title += f" \u2014 slide {case.slide_id}" + (f" ({case.reference})" if case.reference else "")
        self.setWindowTitle(title)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)
        else:
            event.ignore()

    def open_files_dialog(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(self, "Open cell images", self.settings.last_dir("open"),
                                                f"Images ({patterns});;All files (*)")
        if files:
            self.settings.set_last_dir("open", str(Path(files[0]).parent))
            self.add_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of cell images", self.settings.last_dir("open"))
        if folder:
            self.settings.set_last_dir("open", str(Path(folder).parent))
            self.add_paths([folder])

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a model", self.settings.last_dir("model"),
                                              "Keras models (*.keras)")
        if path:
            self.settings.set_last_dir("model", str(Path(path).parent))
            self.session.load_model(Path(path))

    def _on_folder_added(self, folder: str) -> None:
        self.settings.add_recent_folder(folder)
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.settings.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.add_paths([f]))
        if folders:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self._clear_recent)
        self.recent_menu.setEnabled(bool(folders))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_folders()
        self._rebuild_recent_menu()

    # ------------------------------------------------------------------ export
    def _save_path(self, title: str, suffix: str, filter_text: str) -> Path | None:
        start = Path(self.settings.last_dir("export") or Path.home()) / self.session.default_export_name(suffix)
        path, _ = QFileDialog.getSaveFileName(self, title, str(start), filter_text)
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        self.settings.set_last_dir("export", str(path.parent))
        return path

    def export_csv_dialog(self) -> None:
        if self.session.results.rowCount() == 0:
            return
        path = self._save_path("Export results as CSV", ".csv", "CSV files (*.csv)")
        if path is not None:
            self._export(self.session.export_csv, path)

    def export_report_dialog(self) -> None:
        if self.session.results.rowCount() == 0:
            return
        path = self._save_path("Export an HTML report", ".html", "HTML files (*.html)")
        if path is not None:
            self._export(self.session.export_report, path)

    def _export(self, write, path: Path) -> None:
        try:
            write(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc.strerror or exc}")
            return
        self.status.showMessage(f"Wrote {path}", 6000)

    def save_corrections_dialog(self) -> bool:
        """Ask where, then write the corrections; False when nothing was written.

        Files of their own are written as ``path,truth``; cells of whole fields as field-cell
        labels (image, cell, box, truth), beside it as NAME-fields.csv when there are both
        (Session.save_corrections); the status bar names every file written."""
        session = self.session
        if not session.corrections:
            return False
        files, cells = session.file_corrections(), session.field_labels()
        if not files and not cells:
            QMessageBox.information(self, "Nothing to save", "No cell has a label of yours to save.")
            return False
        kind = ("path,truth and field cells' image,cell,box,truth (as NAME-fields.csv)" if files and cells
                else "field cells: image,cell,x,y,width,height,truth" if cells else "path,truth")
        start = Path(self.settings.last_dir("export") or Path.home()) / "corrections.csv"
        path, _ = QFileDialog.getSaveFileName(self, f"Save corrections ({kind})", str(start), "CSV files (*.csv)")
        if not path:
            return False
        path = Path(path)
        if path.suffix.lower() != ".csv":
            path = path.with_name(path.name + ".csv")
        self.settings.set_last_dir("export", str(path.parent))
        try:
            written = session.save_corrections(path)
        except OSError as exc:
            QMessageBox.warning(self, "Saving failed", f"Could not write {path}:\n{exc.strerror or exc}")
            return False
        if not written:
            return False
        self.status.showMessage("Wrote " + "; ".join(f"{n} {what} to {where}" for where, n, what in written), 15000)
        return not session.has_unsaved_corrections()

    def _review_rows(self) -> list[int]:
        """What P/U/N/0 act on: the cell clicked in the field view while it has the focus,
        else the rows selected in the table or the gallery (the field view's context menu
        marks the cell right-clicked: ReviewActions.menu_for)."""
        view = self.field_panel.view
        if view.hasFocus():
            row = view.highlighted_row()
            if row is None:
                self.status.showMessage("Click a cell in the field first.", 4000)
            return [] if row is None else [row]
        return self.results_views.selected_rows()

    def _on_field_cell_clicked(self, row: int) -> None:
        """A cell clicked in the field view: its row becomes the table's current one. A cell
        the table's Show filter hides stays hidden there (the filter is the user's): it is
        shown in the preview, the field view keeps it for P/U/N/0, and the status bar says so."""
        session = self.session
        index = session.proxy.mapFromSource(session.results.index(row, 0))
        if index.isValid():
            self.results_views.select_source_row(row)
            return
        views = self.results_views
        for view in (views.table, views.gallery):  # no other row stays current: marks go to this cell
            view.selectionModel().clear()
        self.preview.show_row(row)
        results = session.results
        self.status.showMessage(f"Cell {results.cell(row)} of {results.name(row)} is hidden by the Show filter: "
                                "shown in the preview; P/U/N/0 mark it here (Show: All lists it).", 10000)

    def clear_session(self) -> bool:
        """File > Clear session: forget the rows, the corrections and their undo history,
        after offering to save corrections not yet saved. False: the user kept the session."""
        if self.session.has_unsaved_corrections() and not self._confirm_unsaved_corrections("clearing"):
            return False
        self.session.clear()
        return True

    # ------------------------------------------------------------------ help
    def show_model_card(self) -> None:
        from malaria_gui.gui.model_panel import ModelCardDialog  # opens with the card in plain words

        ModelCardDialog(self.session.model_info, self).exec()

    def show_about(self) -> None:
        info = self.session.model_info
        model = f"{info.name} {info.version}" if info else "none loaded"
        QMessageBox.about(self, "About malaria-gui",
                          f"<b>malaria-gui {__version__}</b><br>Classifies microscope images of single red blood "
                          f"cells as Parasitized or Uninfected.<br>Model: {model}<br><br>"
                          "A screening aid: a trained person confirms every result.")

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:
        """Cancel, stop and join the worker so no thread outlives the window."""
        if self.session.has_unsaved_corrections() and not self._confirm_unsaved_corrections():
            event.ignore()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def _confirm_unsaved_corrections(self, doing: str = "closing") -> bool:
        """Offer to save the reviewer's corrections; False: the user wants to stay."""
        what = self.session.corrections_text()
        answer = QMessageBox.question(
            self, "Unsaved corrections", f"You set the true label of {what}. Save the corrections "
            f"(CSV files that Model > Adapt and malaria-gui adapt read) before {doing}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_corrections_dialog()
        return answer == QMessageBox.StandardButton.Discard

    def shutdown(self) -> None:
        if self.worker.isRunning():
            self.worker.stop()
            self.worker.wait()
        self.cases.close()

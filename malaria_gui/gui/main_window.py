"""The main window: getting images in, watching them scored, reviewing and exporting results.

The window only arranges widgets and reacts to signals. Everything slow (keras, folder
scans, decoding, inference) happens on :class:`ScoringWorker`; results arrive in chunks
and summary, metrics and the matrix are refreshed on coalescing timers, so the GUI thread
never does much at once however many files there are.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDoubleSpinBox, QFileDialog, QFrame, QHBoxLayout, QHeaderView, QLabel,
    QMainWindow, QMessageBox, QProgressBar, QPushButton, QSlider, QSplitter, QStackedWidget, QTableView,
    QTabWidget, QVBoxLayout, QWidget,
)

from malaria_gui import __version__
from malaria_gui.engine.discovery import IMAGE_EXTENSIONS
from malaria_gui.gui.delegates import ConfidenceBarDelegate, ThumbnailDelegate
from malaria_gui.gui.gallery import GalleryView
from malaria_gui.gui.matrix_view import MatrixPanel
from malaria_gui.gui.preview import PreviewPanel
from malaria_gui.gui.results_model import (
    COL_CONFIDENCE, COL_FILE, COL_IMAGE, COL_PREDICTION, COL_TRUTH, ERROR_ROLE,
    FILTER_LABELS, PATH_ROLE, PREDICTION_ROLE, PROBABILITY_ROLE, SORT_INPUT, SORT_LEAST_CONFIDENT, SORT_NAME,
    SORT_P, ResultsFilter, ResultsModel,
)
from malaria_gui.gui.settings import Settings
from malaria_gui.gui.worker import THUMB_SIZE, ScoringWorker

DEFAULT_THRESHOLD = 0.5
SLIDER_STEPS = 1000
SORT_CHOICES = ((SORT_INPUT, False, "Input order"), (SORT_LEAST_CONFIDENT, False, "Least confident first"),
                (SORT_P, True, "Most parasitized first"), (SORT_P, False, "Most uninfected first"),
                (SORT_NAME, False, "File name"))


class MainWindow(QMainWindow):
    """One session of scored files. ``scoring_finished`` fires when the worker has caught up."""

    scoring_finished = Signal()
    metrics_updated = Signal()

    def __init__(self, model_path: Path | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Malaria cell classifier")
        self.setAcceptDrops(True)
        self.settings = Settings()
        self.model_info: dict | None = None
        self.model_error: str | None = None
        self._generation = 0
        self._ticket = 0  # number of the last add_paths job sent to the worker
        self._busy = False
        self.last_crash: str | None = None
        self._auc_cache: tuple[tuple[int, int] | None, float | None] = (None, None)
        self._run_total = 0
        self._run_done = 0
        self._run_started = 0.0
        self._scanning_found = 0
        self.last_run_cancelled = False

        self.results = ResultsModel(self)
        self.proxy = ResultsFilter(self)
        self.proxy.setDynamicSortFilter(False)
        self.proxy.setSourceModel(self.results)

        self._build_ui()
        self._build_menus()
        self._summary_timer = self._coalescing_timer(150, self._refresh_summary)
        self._metrics_timer = self._coalescing_timer(120, self._refresh_metrics)
        self._resort_timer = self._coalescing_timer(600, self._resort)
        self._restore_window()

        self.worker = ScoringWorker(model_path, self)
        self.worker.model_loading.connect(self._on_model_loading)
        self.worker.model_ready.connect(self._on_model_ready)
        self.worker.model_failed.connect(self._on_model_failed)
        self.worker.scanning.connect(self._on_scanning)
        self.worker.folder_added.connect(self._on_folder_added)
        self.worker.batch_started.connect(self._on_batch_started)
        self.worker.chunk_ready.connect(self._on_chunk)
        self.worker.batch_finished.connect(self._on_batch_finished)
        self.worker.idle.connect(self._on_idle)
        self.worker.crashed.connect(self._on_worker_crashed)
        self.worker.imports_warm.connect(self._on_imports_warm)
        self.worker.start()

    # ------------------------------------------------------------------ construction
    def _coalescing_timer(self, ms: int, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    def _build_ui(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 6)

        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        outer.addWidget(self.banner)

        # Controls: threshold, filter, order, view.
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Threshold:"))
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, SLIDER_STEPS)
        self.threshold_slider.setValue(int(DEFAULT_THRESHOLD * SLIDER_STEPS))
        self.threshold_slider.setMinimumWidth(160)
        self.threshold_slider.setToolTip("A cell is Parasitized when P(Parasitized) >= threshold")
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setDecimals(3)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setValue(DEFAULT_THRESHOLD)
        self.threshold_slider.valueChanged.connect(lambda v: self.set_threshold(v / SLIDER_STEPS))
        self.threshold_spin.valueChanged.connect(self.set_threshold)
        bar.addWidget(self.threshold_slider, 2)
        bar.addWidget(self.threshold_spin)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Show:"))
        self.filter_box = QComboBox()
        for key, label in FILTER_LABELS.items():
            self.filter_box.addItem(label, key)
        self.filter_box.currentIndexChanged.connect(lambda _: self.set_filter(self.filter_box.currentData()))
        bar.addWidget(self.filter_box)
        bar.addWidget(QLabel("Order:"))
        self.sort_box = QComboBox()
        for key, descending, label in SORT_CHOICES:
            self.sort_box.addItem(label, (key, descending))
        self.sort_box.currentIndexChanged.connect(lambda _: self.sort_by(*self.sort_box.currentData()))
        bar.addWidget(self.sort_box)
        bar.addSpacing(12)
        self.view_toggle = QPushButton("Gallery view")
        self.view_toggle.setCheckable(True)
        self.view_toggle.toggled.connect(self.show_gallery)
        bar.addWidget(self.view_toggle)
        outer.addLayout(bar)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        # Left: drop hint until there are rows, then table / gallery.
        self.stack = QStackedWidget()
        self.drop_hint = QLabel("Drop cell images or folders here\n\nor use File > Open images... (Ctrl+O)"
                                "\nor File > Open folder... (Ctrl+Shift+O)")
        self.drop_hint.setObjectName("drop_hint")
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.drop_hint)

        self.views = QTabWidget()
        self.views.tabBar().hide()
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setIconSize(self.table.iconSize().scaled(THUMB_SIZE // 2 + 8, THUMB_SIZE // 2 + 8,
                                                            Qt.AspectRatioMode.IgnoreAspectRatio))
        vh = self.table.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(THUMB_SIZE // 2 + 12)
        vh.hide()
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in ((COL_IMAGE, 52), (COL_FILE, 240), (COL_PREDICTION, 100), (COL_CONFIDENCE, 170),
                           (COL_TRUTH, 100)):
            self.table.setColumnWidth(col, width)
        hh.setStretchLastSection(True)
        self.bar_delegate = ConfidenceBarDelegate(lambda: self.results.threshold, self.table)
        self.table.setItemDelegateForColumn(COL_CONFIDENCE, self.bar_delegate)
        self.thumb_delegate = ThumbnailDelegate(self.table)
        self.table.setItemDelegateForColumn(COL_IMAGE, self.thumb_delegate)
        self.gallery = GalleryView()
        self.gallery.setModel(self.proxy)
        self.views.addTab(self.table, "Table")
        self.views.addTab(self.gallery, "Gallery")
        self.stack.addWidget(self.views)
        splitter.addWidget(self.stack)

        # Right: preview, summary, metrics.
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        self.preview = PreviewPanel()
        side_layout.addWidget(self.preview)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        side_layout.addWidget(line)
        self.summary = QLabel("No cells scored yet.")
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        side_layout.addWidget(self.summary)
        self.matrix = MatrixPanel()
        self.matrix.cell_clicked.connect(self.filter_cell)
        self.matrix.hide()
        side_layout.addWidget(self.matrix)
        side_layout.addStretch(1)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.gallery.selectionModel().currentChanged.connect(self._on_current_changed)

        # Status bar: model state, progress, rate and time left, Cancel.
        status = self.statusBar()
        self.model_label = QLabel("Loading model...")
        self.model_label.setObjectName("model_status")
        status.addWidget(self.model_label, 1)
        self.rate_label = QLabel("")
        status.addPermanentWidget(self.rate_label)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setFormat("%v / %m")
        self.progress.hide()
        status.addPermanentWidget(self.progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop scoring (Esc); results so far are kept")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        status.addPermanentWidget(self.cancel_button)
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
        self.export_csv_action = self._action(file_menu, "&Export CSV...", self.export_csv_dialog,
                                              QKeySequence("Ctrl+E"))
        self.export_report_action = self._action(file_menu, "Export &report (HTML)...", self.export_report_dialog,
                                                 QKeySequence("Ctrl+Shift+E"))
        file_menu.addSeparator()
        self._action(file_menu, "Load another &model...", self.open_model_dialog)
        self.clear_action = self._action(file_menu, "&Clear session", self.clear, QKeySequence("Ctrl+Shift+Del"))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.cancel_action = QAction("Cancel scoring", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.triggered.connect(self.cancel)
        self.addAction(self.cancel_action)
        view_menu = menu.addMenu("&View")
        gallery_action = view_menu.addAction("&Gallery")
        gallery_action.setCheckable(True)
        gallery_action.setShortcut(QKeySequence("Ctrl+G"))
        gallery_action.toggled.connect(self.view_toggle.setChecked)
        self.view_toggle.toggled.connect(gallery_action.setChecked)
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
        help_menu = menu.addMenu("&Help")
        self.model_card_action = self._action(help_menu, "&Model card...", self.show_model_card)
        self._action(help_menu, "&About", self.show_about)
        self._update_actions()

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

    # ------------------------------------------------------------------ getting images in
    def add_paths(self, paths: list[str]) -> None:
        """Queue files and folders for scanning and scoring on the worker (never scanned here)."""
        paths = [str(p) for p in paths if str(p)]
        if not paths:
            return
        self._ticket += 1
        self.worker.add_paths(self._generation, paths, self._ticket)
        if not self._busy:
            self._start_run()
        self.stack.setCurrentWidget(self.views)
        if self.model_info is None and self.model_error is None:
            self.model_label.setText("Loading model... your files are queued and will be scored once it is ready.")

    def _on_folder_added(self, folder: str) -> None:
        self.settings.add_recent_folder(folder)
        self._rebuild_recent_menu()

    def _start_run(self) -> None:
        self._busy = True
        self.last_run_cancelled = False
        self._run_total = self._run_done = self._scanning_found = 0
        self._run_started = time.monotonic()
        self.progress.setRange(0, 0)  # busy indicator until the scan says how many
        self.progress.show()
        self.cancel_button.show()
        self.rate_label.setText("Scanning...")
        self._update_actions()

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
            self.model_info = None
            self.model_error = None
            self.model_label.setText("Loading model...")
            self.worker.load_model(Path(path))

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

    def clear(self) -> None:
        """Forget every row; a running batch is cancelled and its late chunks are ignored."""
        self._generation += 1
        self.worker.reset(self._generation)
        self.results.clear()
        self.preview.clear()
        self.matrix.update_metrics(None)
        self.matrix.hide()
        self.stack.setCurrentWidget(self.drop_hint)
        self._refresh_summary()
        if self._busy:
            self._finish_run(cancelled=True)

    def cancel(self) -> None:
        if not self._busy:
            return
        self.last_run_cancelled = True
        self.worker.cancel()
        self.rate_label.setText("Cancelling...")

    # ------------------------------------------------------------------ worker signals
    def _on_model_loading(self, path: str) -> None:
        self.model_label.setText(f"Loading model {Path(path).name}...")

    def _on_model_ready(self, info: dict) -> None:
        self.model_info = info
        self.model_error = None
        self.banner.hide()
        saved = self.settings.threshold_for(self._model_key())
        self._set_threshold_widgets(saved if saved is not None else float(info["threshold"]))
        self.model_label.setText(f"Model {info['name']} {info['version']} ready")
        self._update_actions()

    def _on_imports_warm(self) -> None:
        """One-off costs paid while the model loads, not mid-run: steps of ~50 ms, 40 ms
        apart, so the window keeps answering in between."""
        steps = [self.matrix.warm_up, self.matrix.prepare, self._warm_up]

        def run_next() -> None:
            steps.pop(0)()
            if steps:
                QTimer.singleShot(40, self, run_next)  # dropped if the window is gone by then

        QTimer.singleShot(0, self, run_next)

    def _warm_up(self) -> None:
        """Decode one JPEG thumbnail: loads Qt's JPEG plug-in before the first results."""
        from PySide6.QtGui import QPixmap

        from malaria_gui.gui.worker import make_thumbnail
        import numpy as np

        QPixmap().loadFromData(make_thumbnail(np.zeros((8, 8, 3), np.uint8)) or b"", "JPG")

    def _on_worker_crashed(self, message: str) -> None:
        self.last_crash = message
        self.statusBar().showMessage(f"Scoring stopped: {message}.", 30_000)

    def _on_model_failed(self, message: str) -> None:
        self.model_info = None
        self.model_error = message
        self.banner.setText(f"<b>The model could not be loaded.</b> {message}<br>Files can be listed but not "
                            "scored. Use File &gt; Load another model..., or start with "
                            "<code>malaria-gui --model FILE.keras</code>.")
        self.banner.show()
        self.model_label.setText("No model loaded")
        self._update_actions()

    def _on_scanning(self, generation: int, found: int) -> None:
        if generation == self._generation:
            self.rate_label.setText(f"Scanning... {found} images found")

    def _on_batch_started(self, generation: int, total: int) -> None:
        if generation != self._generation:
            return
        if not self._busy:
            self._start_run()
        if self._run_total == 0 and self._run_done == 0:
            self._run_started = time.monotonic()  # rate and time left count scoring, not model loading
        self._run_total += total
        self.progress.setRange(0, max(1, self._run_total))
        self.progress.setValue(self._run_done)

    def _on_chunk(self, generation: int, rows: list) -> None:
        if generation != self._generation:
            return  # a chunk from before Clear
        self.results.add_rows(rows)
        self._run_done += len(rows)
        self.progress.setValue(self._run_done)
        elapsed = time.monotonic() - self._run_started
        if elapsed > 0 and self._run_done:
            rate = self._run_done / elapsed
            left = max(0, self._run_total - self._run_done) / rate
            self.rate_label.setText(f"{rate:.0f} images/s, {_duration(left)} left")
        if not self._summary_timer.isActive():
            self._summary_timer.start()
        if any(r.truth is not None for r in rows) and not self._metrics_timer.isActive():
            # While scoring, redraw the matrix at most about every two seconds.
            self._metrics_timer.start(2000 if self._busy else 120)
        if self.results.sort_key()[0] != SORT_INPUT and not self._resort_timer.isActive():
            self._resort_timer.start()

    def _on_batch_finished(self, generation: int, cancelled: bool) -> None:
        if generation == self._generation and cancelled:
            self.last_run_cancelled = True

    def _on_idle(self, ticket: int) -> None:
        if ticket >= self._ticket and self._busy:
            self._finish_run(cancelled=self.last_run_cancelled)

    def _finish_run(self, cancelled: bool) -> None:
        self._busy = False
        self.cancel_button.hide()
        self.progress.hide()
        elapsed = time.monotonic() - self._run_started
        verb = "Cancelled" if cancelled else "Done"
        self.rate_label.setText(f"{verb}: {self._run_done} of {self._run_total} files in {_duration(elapsed)}")
        self._refresh_summary()
        self._refresh_metrics()
        if self.results.sort_key()[0] != SORT_INPUT:
            self._resort()
        self._update_actions()
        self.scoring_finished.emit()

    # ------------------------------------------------------------------ threshold, filter, order
    def _model_key(self) -> str:
        info = self.model_info or {}
        return f"{info.get('name', 'model')}-{info.get('version', '')}".replace("/", "_")

    def _set_threshold_widgets(self, value: float) -> None:
        self.threshold_spin.blockSignals(True)
        self.threshold_slider.blockSignals(True)
        self.threshold_spin.setValue(value)
        self.threshold_slider.setValue(round(value * SLIDER_STEPS))
        self.threshold_spin.blockSignals(False)
        self.threshold_slider.blockSignals(False)
        self._apply_threshold(value)

    def set_threshold(self, value: float) -> None:
        """Relabel every row at a new threshold; the model is not run again."""
        value = min(1.0, max(0.0, float(value)))
        self._set_threshold_widgets(value)
        if self.model_info is not None:
            self.settings.set_threshold_for(self._model_key(), value)

    def _apply_threshold(self, value: float) -> None:
        if value == self.results.threshold:
            return
        self.results.set_threshold(value)
        if self.proxy.depends_on_threshold():
            self.proxy.refilter()
        self._refresh_summary()
        if not self._metrics_timer.isActive():
            self._metrics_timer.start(60)

    @property
    def threshold(self) -> float:
        return self.results.threshold

    def set_filter(self, name: str) -> None:
        index = self.filter_box.findData(name)
        if index >= 0 and index != self.filter_box.currentIndex():
            self.filter_box.blockSignals(True)
            self.filter_box.setCurrentIndex(index)
            self.filter_box.blockSignals(False)
        if self.filter_box.count() > len(FILTER_LABELS):  # drop the matrix-cell entry
            self.filter_box.blockSignals(True)
            self.filter_box.removeItem(len(FILTER_LABELS))
            self.filter_box.blockSignals(False)
        self.proxy.set_filter(name)
        self._refresh_summary()

    def filter_cell(self, truth: str, predicted: str) -> None:
        """Show only the images of one confusion-matrix cell."""
        self.proxy.set_cell(truth, predicted)
        label = f"True {truth}, predicted {predicted}"
        self.filter_box.blockSignals(True)
        if self.filter_box.count() > len(FILTER_LABELS):
            self.filter_box.setItemText(len(FILTER_LABELS), label)
        else:
            self.filter_box.addItem(label, "cell")
        self.filter_box.setCurrentIndex(len(FILTER_LABELS))
        self.filter_box.blockSignals(False)
        self._refresh_summary()

    def sort_by(self, key: str, descending: bool = False) -> None:
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.results.sort_by(key, descending)

    def _resort(self) -> None:
        key, descending = self.results.sort_key()
        self.results.sort_by(key, descending)

    def show_gallery(self, on: bool) -> None:
        self.views.setCurrentWidget(self.gallery if on else self.table)
        self.view_toggle.setText("Table view" if on else "Gallery view")

    # ------------------------------------------------------------------ summary and metrics
    def visible_rows(self) -> int:
        return self.proxy.rowCount()

    def _refresh_summary(self) -> None:
        c = self.results.counts()
        if not c["total"]:
            self.summary.setText("No cells scored yet.")
            return
        share = f" ({100 * c['parasitized'] / c['scored']:.1f}%)" if c["scored"] else ""
        lines = [f"<b>{c['scored']}</b> cells scored at threshold {self.threshold:.3f}",
                 f"<span style='color:#c0392b'><b>{c['parasitized']}</b> parasitized{share}</span>, "
                 f"<span style='color:#2e86c1'>{c['uninfected']} uninfected</span>"]
        if c["failed"]:
            lines.append(f"<span style='color:#c0392b'>{c['failed']} could not be read</span> (Show: Errors)")
        shown = self.proxy.rowCount()
        if shown != c["total"]:
            lines.append(f"showing {shown} of {c['total']} files")
        self.summary.setText("<br>".join(lines))

    def current_metrics(self, auc: bool = True):
        """Metrics of the labelled, scored rows. ROC AUC does not depend on the threshold:
        it is computed once per set of rows and reused while the threshold moves."""
        from malaria_gui.engine.metrics import compute_metrics

        p = self.results.probabilities()
        pairs = [(t, float(x)) for t, x in zip(self.results.truths(), p.tolist()) if t is not None and x == x]
        if not pairs:
            return None
        truth, probs = zip(*pairs)
        key = (self._generation, len(probs))  # rows are only ever added within a session
        if not auc or self._auc_cache[0] != key:
            metrics = compute_metrics(truth, probs, self.threshold, auc=auc)
            if auc:
                self._auc_cache = (key, metrics.roc_auc)
            return metrics
        return dataclasses.replace(compute_metrics(truth, probs, self.threshold, auc=False), roc_auc=self._auc_cache[1])

    def _refresh_metrics(self) -> None:
        # While scoring, the matrix and counts update live; ROC AUC waits for the end of the run.
        metrics = self.current_metrics(auc=not self._busy)
        if metrics is None:
            self.matrix.hide()
            self.matrix.update_metrics(None)
        else:
            self.matrix.show()
            self.matrix.update_metrics(metrics, auc_pending=self._busy)
        self.metrics_updated.emit()

    # ------------------------------------------------------------------ selection
    def _on_current_changed(self, current: QModelIndex, _previous=None) -> None:
        if not current.isValid():
            return
        index = current.siblingAtColumn(COL_IMAGE)
        # Keep the two views on the same row.
        other = self.gallery if self.sender() is self.table.selectionModel() else self.table
        if other.currentIndex().row() != current.row():
            other.selectionModel().setCurrentIndex(
                index.siblingAtColumn(COL_FILE if other is self.table else COL_IMAGE),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        src = self.proxy.mapToSource(index)
        self.preview.show_item(
            src.data(PATH_ROLE), src.data(PROBABILITY_ROLE), src.data(ERROR_ROLE),
            self.results.truths()[src.row()], src.data(PREDICTION_ROLE))

    # ------------------------------------------------------------------ export
    def _update_actions(self) -> None:
        has_rows = self.results.rowCount() > 0
        for action in (self.export_csv_action, self.export_report_action):
            action.setEnabled(has_rows)
        self.model_card_action.setEnabled(self.model_info is not None)

    def _save_path(self, title: str, suffix: str, filter_text: str) -> Path | None:
        start = Path(self.settings.last_dir("export") or Path.home()) / f"malaria_results{suffix}"
        path, _ = QFileDialog.getSaveFileName(self, title, str(start), filter_text)
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        self.settings.set_last_dir("export", str(path.parent))
        return path

    def export_csv_dialog(self) -> None:
        if self.results.rowCount() == 0:
            return
        path = self._save_path("Export results as CSV", ".csv", "CSV files (*.csv)")
        if path is not None:
            self._report_export(lambda: self.export_csv(path), path)

    def export_report_dialog(self) -> None:
        if self.results.rowCount() == 0:
            return
        path = self._save_path("Export an HTML report", ".html", "HTML files (*.html)")
        if path is not None:
            self._report_export(lambda: self.export_report(path), path)

    def _report_export(self, write, path: Path) -> None:
        try:
            write()
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc.strerror or exc}")
            return
        self.statusBar().showMessage(f"Wrote {path}", 6000)

    def export_csv(self, path: Path) -> None:
        """The CLI's CSV columns, every file of the session, at the current threshold."""
        from malaria_gui.engine.export import write_csv

        write_csv(path, self.results.results(), self.threshold)

    def export_report(self, path: Path) -> None:
        from malaria_gui.engine.report import write_report

        info = self.model_info or {}
        write_report(path, self.results.results(), self.threshold,
                     model_name=str(info.get("name", "no model")), model_version=str(info.get("version", "")),
                     date=datetime.now())

    # ------------------------------------------------------------------ help
    def show_model_card(self) -> None:
        from malaria_gui.gui.model_panel import ModelCardDialog

        ModelCardDialog(self.model_info, self).exec()

    def show_about(self) -> None:
        info = self.model_info
        model = f"{info['name']} {info['version']}" if info else "none loaded"
        QMessageBox.about(self, "About malaria-gui",
                          f"<b>malaria-gui {__version__}</b><br>Classifies microscope images of single red blood "
                          f"cells as Parasitized or Uninfected.<br>Model: {model}<br><br>"
                          "A screening aid: a trained person confirms every result.")

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:
        """Cancel, stop and join the worker so no thread outlives the window."""
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if self.worker.isRunning():
            self.worker.stop()
            self.worker.wait()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def file_urls(paths) -> list[QUrl]:
    return [QUrl.fromLocalFile(str(p)) for p in paths]

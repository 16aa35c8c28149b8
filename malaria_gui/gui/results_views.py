"""The left of the window: a drop hint until there are rows, then the table or the gallery.

Both views show the session's filtered rows and keep the same row current; the current
row's source row goes out as ``current_row_changed`` (the preview shows it).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QLabel, QMenu, QStackedWidget, QTabWidget

from malaria_gui.gui.gallery import GalleryView
from malaria_gui.gui.results_model import COL_FILE, COL_IMAGE
from malaria_gui.gui.results_table import ResultsTable
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings


THUMB_SIZES = ((40, "&Small (40 px)"), (64, "&Medium (64 px)"), (96, "&Large (96 px)"), (128, "&Largest (128 px)"))
DEFAULT_THUMB = 64


class ResultsViews(QStackedWidget):
    current_row_changed = Signal(int)  # a row of session.results

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        self.drop_hint = QLabel("Drop cell images or folders here\n\nor use File > Open images... (Ctrl+O)"
                                "\nor File > Open folder... (Ctrl+Shift+O)")
        self.drop_hint.setObjectName("drop_hint")
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addWidget(self.drop_hint)
        self.views = QTabWidget()
        self.views.tabBar().hide()
        self.table = ResultsTable(session)
        self.gallery = GalleryView(session)
        self.views.addTab(self.table, "Table")
        self.views.addTab(self.gallery, "Gallery")
        self.addWidget(self.views)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.gallery.selectionModel().currentChanged.connect(self._on_current_changed)
        session.run_started.connect(lambda: self.setCurrentWidget(self.views))
        session.rows_added.connect(lambda _n: self.setCurrentWidget(self.views))  # a case reopened: rows, no run
        session.cleared.connect(lambda: self.setCurrentWidget(self.drop_hint))
        session.corrections_changed.connect(self._reshow_current)  # the preview shows the new label

    def selected_rows(self) -> list[int]:
        """The source rows selected in the view on show (else its current row), for P/U/0."""
        view = self.views.currentWidget()
        proxy = self._session.proxy
        rows = sorted({proxy.mapToSource(i).row() for i in view.selectionModel().selectedIndexes()})
        if not rows and view.currentIndex().isValid():
            rows = [proxy.mapToSource(view.currentIndex()).row()]
        return rows

    def _reshow_current(self) -> None:
        index = self.views.currentWidget().currentIndex()
        if index.isValid():
            self.current_row_changed.emit(self._session.proxy.mapToSource(index).row())

    def set_thumb_size(self, px: int) -> None:
        """Thumbnails of ``px`` in the table and the gallery (made at 128 px, scaled down)."""
        self.thumb_size = int(px)
        self.table.set_thumb_size(px)
        self.gallery.set_thumb_size(px)

    def add_thumb_size_actions(self, menu: QMenu, settings: Settings) -> None:
        """Fill a menu with the sizes to pick from; the choice is remembered in ``settings``."""
        current = settings.thumb_size(DEFAULT_THUMB)
        if current not in dict(THUMB_SIZES):
            current = DEFAULT_THUMB
        group = QActionGroup(menu)
        self.thumb_actions = {}
        for px, text in THUMB_SIZES:
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(px == current)
            group.addAction(action)
            action.triggered.connect(lambda _=False, px=px: (self.set_thumb_size(px), settings.set_thumb_size(px)))
            self.thumb_actions[px] = action
        self.set_thumb_size(current)

    def show_gallery(self, on: bool) -> None:
        self.views.setCurrentWidget(self.gallery if on else self.table)

    def select_source_row(self, row: int) -> None:
        """Make a row of session.results the current one (a cell clicked in the field view);
        a filter that hides it goes back to All."""
        proxy = self._session.proxy
        index = proxy.mapFromSource(self._session.results.index(row, COL_FILE))
        if not index.isValid():
            from malaria_gui.gui.results_model import FILTER_ALL

            self._session.set_filter(FILTER_ALL)
            index = proxy.mapFromSource(self._session.results.index(row, COL_FILE))
        if index.isValid():
            self.table.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.table.scrollTo(index)

    def _on_current_changed(self, current: QModelIndex, _previous=None) -> None:
        if not current.isValid():
            return
        index = current.siblingAtColumn(COL_IMAGE)
        other = self.gallery if self.sender() is self.table.selectionModel() else self.table
        if other.currentIndex().row() != current.row():
            other.selectionModel().setCurrentIndex(
                index.siblingAtColumn(COL_FILE if other is self.table else COL_IMAGE),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.current_row_changed.emit(self._session.proxy.mapToSource(index).row())

"""The left of the window: a drop hint until there are rows, then the table or the gallery.

Both views show the session's filtered rows and keep the same row current; the current
row's source row goes out as ``current_row_changed`` (the preview shows it).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QTabWidget

from malaria_gui.gui.gallery import GalleryView
from malaria_gui.gui.results_model import COL_FILE, COL_IMAGE
from malaria_gui.gui.results_table import ResultsTable
from malaria_gui.gui.session import Session


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

    def show_gallery(self, on: bool) -> None:
        self.views.setCurrentWidget(self.gallery if on else self.table)

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

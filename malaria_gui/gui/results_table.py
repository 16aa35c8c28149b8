"""The results table: one row per file with its thumbnail, name, prediction, a confidence
bar with a tick at the threshold, the true label and a note (the reason a file failed, or
"misclassified"). Sorting by a header click is done by the model, in numpy."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from malaria_gui.gui.delegates import ConfidenceBarDelegate, ThumbnailDelegate
from malaria_gui.gui.results_model import COL_CONFIDENCE, COL_FIELD, COL_FILE, COL_IMAGE, COL_PREDICTION, COL_TRUTH

DEFAULT_TABLE_THUMB = 40
from malaria_gui.gui.session import Session


class ResultsTable(QTableView):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.setModel(session.proxy)
        self.setIconSize(QSize(16, 16))
        self.setSortingEnabled(True)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # P/U/0 act on many
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        # Names of one slide share their start ("C33P1thinF_IMG_2015..._cell_12.png"): elided
        # at the end, every row would look the same.
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        vh = self.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.hide()
        self.set_thumb_size(DEFAULT_TABLE_THUMB)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in ((COL_IMAGE, 52), (COL_FILE, 230), (COL_PREDICTION, 95), (COL_CONFIDENCE, 150),
                           (COL_TRUTH, 95)):
            self.setColumnWidth(col, width)
        hh.setStretchLastSection(True)
        self.setItemDelegateForColumn(COL_CONFIDENCE, ConfidenceBarDelegate(lambda: session.threshold, self))
        self.setItemDelegateForColumn(COL_IMAGE, ThumbnailDelegate(self))
        self.setColumnWidth(COL_IMAGE, DEFAULT_TABLE_THUMB + 12)
        # An order picked by name is not a column's: no header shows an arrow.
        session.sort_changed.connect(lambda *_: hh.setSortIndicator(-1, Qt.SortOrder.AscendingOrder))
        # The Field column (a whole field's cell: "field.png #12") sits after File, shown once
        # a field has been scored.
        self._session = session
        hh.moveSection(hh.visualIndex(COL_FIELD), hh.visualIndex(COL_FILE) + 1)
        self.setColumnWidth(COL_FIELD, 120)
        self.setColumnHidden(COL_FIELD, True)
        session.rows_added.connect(self._show_field_column)
        session.cleared.connect(lambda: self.setColumnHidden(COL_FIELD, True))

    def _show_field_column(self, added: int) -> None:
        results = self._session.results
        if self.isColumnHidden(COL_FIELD) and any(
                results.cell(r) is not None for r in range(max(0, results.rowCount() - added), results.rowCount())):
            self.setColumnHidden(COL_FIELD, False)
            self.setColumnWidth(COL_FILE, min(self.columnWidth(COL_FILE), 140))  # the Field column names it too
            self.updateGeometry()  # wider now: the splitter reads the new size hint

    def sizeHint(self) -> QSize:
        """Wide enough to show every column up to P(Parasitized): the window's splitter sizes
        the table from this, and a call without its probability is half a call."""
        hint = super().sizeHint()
        hh = self.horizontalHeader()
        end = max((hh.sectionPosition(c) + hh.sectionSize(c) for c in (COL_CONFIDENCE, COL_PREDICTION)
                   if not self.isColumnHidden(c)), default=0)
        frame = 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width() + 4
        return QSize(max(hint.width(), end + frame), hint.height())

    def set_thumb_size(self, px: int) -> None:
        """Rows tall enough for ``px`` thumbnails (scaled from the scoring process's 128 px)."""
        self.thumb_size = int(px)
        # (The image column's delegate fits the thumbnail to the row; other icons, such as
        # the Note column's warning, keep the small icon size.)
        self.verticalHeader().setDefaultSectionSize(px + 6)
        self.setColumnWidth(COL_IMAGE, px + 12)
        self.updateGeometry()

    @staticmethod
    def warm_up() -> None:
        """Decode one JPEG thumbnail: loads Qt's JPEG plug-in before the first results."""
        import numpy as np
        from PySide6.QtGui import QPixmap

        from malaria_gui.gui.scoring_process import make_thumbnail

        QPixmap().loadFromData(make_thumbnail(np.zeros((8, 8, 3), np.uint8)) or b"", "JPG")

"""The results table: one row per file with its thumbnail, name, prediction, a confidence
bar with a tick at the threshold, the true label and a note (the reason a file failed, or
"misclassified"). Sorting by a header click is done by the model, in numpy."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from malaria_gui.gui.delegates import ConfidenceBarDelegate, ThumbnailDelegate
from malaria_gui.gui.results_model import COL_CONFIDENCE, COL_FILE, COL_IMAGE, COL_PREDICTION, COL_TRUTH
from malaria_gui.gui.scoring_process import THUMB_SIZE
from malaria_gui.gui.session import Session


class ResultsTable(QTableView):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.setModel(session.proxy)
        self.setSortingEnabled(True)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # P/U/0 act on many
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        side = THUMB_SIZE // 2 + 8
        self.setIconSize(self.iconSize().scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio))
        vh = self.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(THUMB_SIZE // 2 + 12)
        vh.hide()
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in ((COL_IMAGE, 52), (COL_FILE, 240), (COL_PREDICTION, 100), (COL_CONFIDENCE, 170),
                           (COL_TRUTH, 100)):
            self.setColumnWidth(col, width)
        hh.setStretchLastSection(True)
        self.setItemDelegateForColumn(COL_CONFIDENCE, ConfidenceBarDelegate(lambda: session.threshold, self))
        self.setItemDelegateForColumn(COL_IMAGE, ThumbnailDelegate(self))
        # An order picked by name is not a column's: no header shows an arrow.
        session.sort_changed.connect(lambda *_: hh.setSortIndicator(-1, Qt.SortOrder.AscendingOrder))

    @staticmethod
    def warm_up() -> None:
        """Decode one JPEG thumbnail: loads Qt's JPEG plug-in before the first results."""
        import numpy as np
        from PySide6.QtGui import QPixmap

        from malaria_gui.gui.scoring_process import make_thumbnail

        QPixmap().loadFromData(make_thumbnail(np.zeros((8, 8, 3), np.uint8)) or b"", "JPG")

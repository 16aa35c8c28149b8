"""The filter and order bar: which rows the table and gallery show, and in what order.

"Show" lists all / parasitized / uninfected / errors / misclassified, plus the
confusion-matrix cell last clicked; "Order" the sort orders a reviewer needs.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from malaria_gui.gui.results_model import FILTER_LABELS, SORT_INPUT, SORT_LEAST_CONFIDENT, SORT_NAME, SORT_P
from malaria_gui.gui.session import Session

SORT_CHOICES = ((SORT_INPUT, False, "Input order"), (SORT_LEAST_CONFIDENT, False, "Least confident first"),
                (SORT_P, True, "Most parasitized first"), (SORT_P, False, "Most uninfected first"),
                (SORT_NAME, False, "File name"))
CELL_FILTER = "cell"


class FilterBar(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Show:"))
        self.filter_box = QComboBox()
        for key, label in FILTER_LABELS.items():
            self.filter_box.addItem(label, key)
        layout.addWidget(self.filter_box)
        layout.addWidget(QLabel("Order:"))
        self.sort_box = QComboBox()
        for key, descending, label in SORT_CHOICES:
            self.sort_box.addItem(label, (key, descending))
        layout.addWidget(self.sort_box)
        self.filter_box.currentIndexChanged.connect(self._on_filter_picked)
        self.sort_box.currentIndexChanged.connect(lambda _: session.sort_by(*self.sort_box.currentData()))
        session.filter_changed.connect(self._show_filter)

    def _on_filter_picked(self, _index: int) -> None:
        if self.filter_box.currentData() != CELL_FILTER:
            self._session.set_filter(self.filter_box.currentData())

    def _show_filter(self, name: str) -> None:
        """Show the session's filter; a matrix cell gets its own entry, dropped afterwards."""
        box = self.filter_box
        box.blockSignals(True)
        cell = self._session.proxy.cell()
        if name == CELL_FILTER and cell is not None:
            label = f"True {cell[0]}, predicted {cell[1]}"
            if box.count() > len(FILTER_LABELS):
                box.setItemText(len(FILTER_LABELS), label)
            else:
                box.addItem(label, CELL_FILTER)
            box.setCurrentIndex(len(FILTER_LABELS))
        else:
            if box.count() > len(FILTER_LABELS):
                box.removeItem(len(FILTER_LABELS))
            index = box.findData(name)
            if index >= 0:
                box.setCurrentIndex(index)
        box.blockSignals(False)

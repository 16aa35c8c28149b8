"""File > New case... and File > Open case...: the slide id a technician types, and past slides.

The dialogs only ask; the window opens the store and the session records (``session_case``).
"""

from __future__ import annotations

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QDateEdit, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView,
    QLabel, QLineEdit, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from malaria_gui.engine.cases import CaseStore, SlideListing

OPEN_COLUMNS = ("Slide", "Reference", "Date", "Images", "Cells", "Reviewed cells")


class NewCaseDialog(QDialog):
    """Slide (or sample) id, an optional patient/sample reference, and the reviewer's name."""

    def __init__(self, reviewer: str = "", parent: QWidget | None = None, why: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("New case")
        layout = QVBoxLayout(self)
        if why:
            layout.addWidget(QLabel(why))
        form = QFormLayout()
        self.slide_edit = QLineEdit()
        self.slide_edit.setPlaceholderText("the slide or sample number, e.g. 2026-0412")
        self.reference_edit = QLineEdit()
        self.reference_edit.setPlaceholderText("optional: patient or sample reference")
        self.reviewer_edit = QLineEdit(reviewer)
        self.reviewer_edit.setPlaceholderText("who reviews the calls (remembered)")
        form.addRow("Slide id:", self.slide_edit)
        form.addRow("Reference:", self.reference_edit)
        form.addRow("Reviewer:", self.reviewer_edit)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.slide_edit.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.slide_edit.text().strip()))

    def values(self) -> tuple[str, str, str]:
        """(slide id, reference, reviewer), stripped."""
        return self.slide_edit.text().strip(), self.reference_edit.text().strip(), self.reviewer_edit.text().strip()


class OpenCaseDialog(QDialog):
    """Past slides, newest first, searched by id or reference text and a date range."""

    def __init__(self, store: CaseStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open case")
        self.store = store
        self.listings: list[SlideListing] = []
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search slide id or reference")
        self.search_edit.setClearButtonEnabled(True)
        bar.addWidget(self.search_edit, 2)
        self.dates_box = QCheckBox("From")
        today = QDate.currentDate()
        self.since_edit = self._date_edit(today.addMonths(-1))
        self.until_edit = self._date_edit(today)
        bar.addWidget(self.dates_box)
        bar.addWidget(self.since_edit)
        bar.addWidget(QLabel("to"))
        bar.addWidget(self.until_edit)
        layout.addLayout(bar)
        self.table = QTableWidget(0, len(OPEN_COLUMNS))
        self.table.setHorizontalHeaderLabels(OPEN_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self.accept)
        layout.addWidget(self.table, 1)
        self.count_label = QLabel()
        layout.addWidget(self.count_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.search_edit.textChanged.connect(self.refresh)
        self.dates_box.toggled.connect(self.refresh)
        self.since_edit.dateChanged.connect(self.refresh)
        self.until_edit.dateChanged.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._update)
        self.resize(720, 420)
        self.refresh()

    def _date_edit(self, date: QDate) -> QDateEdit:
        edit = QDateEdit(date)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        return edit

    def refresh(self) -> None:
        """List the slides that match (the store answers in milliseconds: bench/cases.py)."""
        since = until = None
        if self.dates_box.isChecked():
            since = self.since_edit.date().toString("yyyy-MM-dd")
            until = self.until_edit.date().toString("yyyy-MM-dd")
        self.listings = self.store.list_slides(self.search_edit.text().strip(), since, until)
        table = self.table
        table.setRowCount(len(self.listings))
        for row, s in enumerate(self.listings):
            values = (s.slide_id, s.reference, s.created[:16].replace("T", " "), s.images, s.cells, s.reviewed)
            for col, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if isinstance(value, int):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, col, item)
        table.resizeColumnsToContents()
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        if self.listings:
            table.selectRow(0)
        self.count_label.setText(f"{len(self.listings)} slide{'s' if len(self.listings) != 1 else ''} "
                                 f"in {self.store.path}")
        self._update()

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(self.selected() is not None)

    def selected(self) -> str | None:
        """The slide id of the row selected, or None."""
        rows = self.table.selectionModel().selectedRows()
        return self.listings[rows[0].row()].slide_id if rows else None

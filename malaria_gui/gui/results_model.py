"""The results table's data: one row per file, stored column-wise so 20,000 rows stay cheap.

Predictions are never stored: they are derived from P(Parasitized) and the current
threshold, so moving the threshold relabels every row without re-running the model.
Sorting is done here with numpy (a Python ``lessThan`` would make a 20,000-row sort take
seconds); the proxy only filters.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QPixmap

from malaria_gui.engine import labels
from malaria_gui.engine.labels import DEFAULT_THRESHOLD, PARASITIZED, UNINFECTED
from malaria_gui.engine.metrics import ClassCounts, count_classes
from malaria_gui.engine.scorer import Result
from malaria_gui.gui.scoring_process import Row

COL_IMAGE, COL_FILE, COL_PREDICTION, COL_CONFIDENCE, COL_TRUTH, COL_NOTE = range(6)
HEADERS = ("Image", "File", "Prediction", "P(Parasitized)", "True label", "Note")

PROBABILITY_ROLE = Qt.ItemDataRole.UserRole + 1  # float, or None for an unreadable file
PREDICTION_ROLE = Qt.ItemDataRole.UserRole + 2
CAPTION_ROLE = Qt.ItemDataRole.UserRole + 3
CORRECTED_ROLE = Qt.ItemDataRole.UserRole + 4  # bool: the true label was set by a reviewer
TRUTH_ROLE = Qt.ItemDataRole.UserRole + 5  # the true label or None, whatever the column
CORRECTED_COLOUR = QColor("#8e44ad")  # neither class colour: a correction is the reviewer's, not the model's

PARASITIZED_COLOUR = QColor(labels.CLASS_COLOURS[PARASITIZED])
UNINFECTED_COLOUR = QColor(labels.CLASS_COLOURS[UNINFECTED])
ERROR_COLOUR = QColor(labels.ERROR_COLOUR)


def class_colour(prediction: str | None) -> QColor:
    """The colour of a predicted class; grey for a file that could not be read."""
    if prediction is None:
        return ERROR_COLOUR
    return PARASITIZED_COLOUR if prediction == PARASITIZED else UNINFECTED_COLOUR

# Sort keys offered to the user (the table header maps its columns onto these too).
SORT_INPUT, SORT_LEAST_CONFIDENT, SORT_P, SORT_NAME, SORT_TRUTH, SORT_PREDICTION, SORT_ERROR = (
    "input", "least_confident", "p", "name", "truth", "prediction", "error")
COLUMN_SORT = {COL_IMAGE: SORT_INPUT, COL_FILE: SORT_NAME, COL_PREDICTION: SORT_PREDICTION,
               COL_CONFIDENCE: SORT_P, COL_TRUTH: SORT_TRUTH, COL_NOTE: SORT_ERROR}


class ResultsModel(QAbstractTableModel):
    """All rows of the session; thumbnails become QPixmaps only when a view asks for them."""

    PIXMAP_CACHE = 3000

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._paths: list[str] = []
        self._names: list[str] = []
        self._p = np.empty(0, dtype=np.float64)  # NaN for unreadable files
        self._p_list: list[float] = []
        self._truth: list[str | None] = []
        self._folder_truth: list[str | None] = []  # as the scoring process sent it (folder names)
        self._pkeys: list[str] = []  # engine path keys: corrections are keyed by them
        self.corrections: dict[str, str | None] = {}  # path key -> the reviewer's label (None: cleared)
        self._errors: list[str | None] = []
        self._thumbs: list[bytes | None] = []
        self._order: list[int] = []  # arrival number of each row, for "input order"
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()  # keyed by arrival number
        self._threshold = DEFAULT_THRESHOLD
        self.revision = 0  # bumped whenever rows are added, removed or change their data
        self._sort_key = SORT_INPUT
        self._sort_descending = False

    # ---- filling ---------------------------------------------------------------------
    def add_rows(self, rows: list[Row]) -> None:
        if not rows:
            return
        start = len(self._paths)
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        for i, row in enumerate(rows):
            self._paths.append(row.path)
            self._names.append(Path(row.path).name)
            self._p_list.append(math.nan if row.p_parasitized is None else float(row.p_parasitized))
            key = labels.path_key(row.path)
            self._pkeys.append(key)
            self._folder_truth.append(row.truth)
            self._truth.append(self.corrections[key] if key in self.corrections else row.truth)
            self._errors.append(row.error)
            self._thumbs.append(row.thumb)
            self._order.append(start + i)
        self._p = np.asarray(self._p_list, dtype=np.float64)
        self.revision += 1
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._paths, self._names, self._p_list = [], [], []
        self._p = np.empty(0, dtype=np.float64)
        self._truth, self._errors, self._thumbs, self._order = [], [], [], []
        self._folder_truth, self._pkeys = [], []
        self._pixmaps.clear()
        self.revision += 1
        self.endResetModel()

    # ---- threshold and derived values ------------------------------------------------
    @property
    def threshold(self) -> float:
        return self._threshold

    def set_threshold(self, value: float) -> None:
        if value == self._threshold:
            return
        self._threshold = float(value)
        if self._paths:
            last = len(self._paths) - 1
            # Every column that shows the class (the gallery caption lives in column 0).
            self.dataChanged.emit(self.index(0, COL_IMAGE), self.index(last, COL_CONFIDENCE))
            if self._sort_key in (SORT_LEAST_CONFIDENT, SORT_PREDICTION):
                self.sort_by(self._sort_key, self._sort_descending)

    def prediction(self, row: int) -> str | None:
        p = self._p_list[row]
        if math.isnan(p):
            return None
        return PARASITIZED if p >= self._threshold else UNINFECTED

    def probabilities(self) -> np.ndarray:
        return self._p

    def truths(self) -> list[str | None]:
        return self._truth

    def path(self, row: int) -> str:
        return self._paths[row]

    def key(self, row: int) -> str:
        return self._pkeys[row]

    def folder_truth(self, row: int) -> str | None:
        return self._folder_truth[row]

    def is_corrected(self, row: int) -> bool:
        return self._pkeys[row] in self.corrections

    def apply_corrections(self, keys: set[str]) -> None:
        """Re-read the truth of the rows whose file is in ``keys`` from :attr:`corrections`
        (after a reviewer's change or its undo); views, counts and metrics then follow."""
        changed = []
        for row, key in enumerate(self._pkeys):
            if key in keys:
                self._truth[row] = self.corrections[key] if key in self.corrections else self._folder_truth[row]
                changed.append(row)
        if changed:
            self.revision += 1
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), len(HEADERS) - 1))

    def results(self) -> list[Result]:
        """The session as engine Results, in input order (for CSV and report export)."""
        rows = sorted(range(len(self._paths)), key=self._order.__getitem__)
        return [
            Result(Path(self._paths[i]), None if math.isnan(self._p_list[i]) else self._p_list[i],
                   self._errors[i], self._truth[i])
            for i in rows
        ]

    def corrected_flags(self) -> list[bool]:
        """Whether each row's truth is a reviewer's, in the order of :meth:`results`."""
        rows = sorted(range(len(self._paths)), key=self._order.__getitem__)
        return [self._pkeys[i] in self.corrections for i in rows]

    def counts(self) -> ClassCounts:
        return count_classes(self._p, self._threshold)

    def error(self, row: int) -> str | None:
        return self._errors[row]

    def name(self, row: int) -> str:
        return self._names[row]

    # ---- Qt model interface -----------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._paths)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def thumbnail(self, row: int) -> QPixmap | None:
        key = self._order[row]
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        data = self._thumbs[row]
        if data is None:
            return None
        pixmap = QPixmap()
        pixmap.loadFromData(data, "JPG")
        self._pixmaps[key] = pixmap
        if len(self._pixmaps) > self.PIXMAP_CACHE:
            self._pixmaps.popitem(last=False)
        return pixmap

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_FILE:
                return self._names[row]
            if col == COL_PREDICTION:
                return self.prediction(row) or "Unreadable"
            if col == COL_CONFIDENCE:
                p = self._p_list[row]
                return "" if math.isnan(p) else f"{p:.3f}"
            if col == COL_TRUTH:
                if self._pkeys[row] in self.corrections:  # a reviewer's label, marked as such
                    return f"{self._truth[row] or 'none'} \u270e"
                return self._truth[row] or ""
            if col == COL_NOTE:
                return self._errors[row] or self._note(row)
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == COL_IMAGE:
            return self.thumbnail(row)
        if role == PROBABILITY_ROLE:
            p = self._p_list[row]
            return None if math.isnan(p) else p
        if role == PREDICTION_ROLE:
            return self.prediction(row)
        if role == CAPTION_ROLE:
            return self.caption(row)
        if role == CORRECTED_ROLE:
            return self._pkeys[row] in self.corrections
        if role == TRUTH_ROLE:
            return self._truth[row]
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_TRUTH and self._pkeys[row] in self.corrections:
            return QBrush(CORRECTED_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._paths[row] + (f"\n{self._errors[row]}" if self._errors[row] else "")
        if role == Qt.ItemDataRole.ForegroundRole and col in (COL_PREDICTION, COL_NOTE):
            prediction = self.prediction(row)
            if prediction is None:
                return QBrush(ERROR_COLOUR if col == COL_PREDICTION else PARASITIZED_COLOUR)
            if col == COL_PREDICTION:
                return QBrush(PARASITIZED_COLOUR if prediction == PARASITIZED else UNINFECTED_COLOUR)
            if self._truth[row] is not None and self._truth[row] != prediction:
                return QBrush(PARASITIZED_COLOUR)
        return None

    def _note(self, row: int) -> str:
        truth = self._truth[row]
        if truth is not None and truth != self.prediction(row):
            return "misclassified"
        return ""

    def caption(self, row: int) -> str:
        prediction = self.prediction(row)
        if prediction is None:
            return "Unreadable"
        p = self._p_list[row]
        confidence = p if prediction == PARASITIZED else 1.0 - p
        return f"{prediction} {100 * confidence:.0f}%"

    # ---- sorting (numpy, in place, keeping persistent indexes right) -----------------
    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sort_by(COLUMN_SORT.get(column, SORT_INPUT), order == Qt.SortOrder.DescendingOrder)

    def sort_key(self) -> tuple[str, bool]:
        return self._sort_key, self._sort_descending

    def _keys(self, key: str) -> np.ndarray:
        p = self._p
        nan_last = np.where(np.isnan(p), np.inf, 0.0)
        if key == SORT_LEAST_CONFIDENT:
            return np.abs(np.nan_to_num(p, nan=np.inf) - self._threshold)
        if key == SORT_P:
            return np.nan_to_num(p, nan=-1.0)
        if key == SORT_NAME:
            return np.asarray([n.casefold() for n in self._names], dtype=object)
        if key == SORT_TRUTH:
            return np.asarray([t or "" for t in self._truth], dtype=object)
        if key == SORT_PREDICTION:
            return nan_last + np.nan_to_num(p >= self._threshold, nan=0).astype(float)
        if key == SORT_ERROR:
            return np.asarray([e or "" for e in self._errors], dtype=object)
        return np.asarray(self._order)

    def sort_by(self, key: str, descending: bool = False) -> None:
        self._sort_key, self._sort_descending = key, descending
        n = len(self._paths)
        if n < 2:
            return
        keys = self._keys(key)
        perm = np.argsort(keys, kind="stable")
        if descending:
            perm = perm[::-1]
        if np.array_equal(perm, np.arange(n)):
            return
        self.layoutAboutToBeChanged.emit()
        new_row = np.empty(n, dtype=np.int64)
        new_row[perm] = np.arange(n)
        p = perm.tolist()
        self._paths = [self._paths[i] for i in p]
        self._names = [self._names[i] for i in p]
        self._p_list = [self._p_list[i] for i in p]
        self._p = np.asarray(self._p_list, dtype=np.float64)
        self._truth = [self._truth[i] for i in p]
        self._folder_truth = [self._folder_truth[i] for i in p]
        self._pkeys = [self._pkeys[i] for i in p]
        self._errors = [self._errors[i] for i in p]
        self._thumbs = [self._thumbs[i] for i in p]
        self._order = [self._order[i] for i in p]
        old = self.persistentIndexList()
        if old:
            self.changePersistentIndexList(
                old, [self.index(int(new_row[i.row()]), i.column()) for i in old])
        self.layoutChanged.emit()


# Filters: what the user picks in the filter box, or a confusion-matrix cell.
FILTER_ALL, FILTER_PARASITIZED, FILTER_UNINFECTED, FILTER_ERRORS, FILTER_MISCLASSIFIED = (
    "all", "parasitized", "uninfected", "errors", "misclassified")
FILTER_LABELS = {FILTER_ALL: "All", FILTER_PARASITIZED: "Parasitized", FILTER_UNINFECTED: "Uninfected",
                 FILTER_ERRORS: "Errors", FILTER_MISCLASSIFIED: "Misclassified"}


class ResultsFilter(QSortFilterProxyModel):
    """Filters rows by class, failure or confusion-matrix cell; sorting is the source's."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._filter = FILTER_ALL
        self._cell: tuple[str, str] | None = None  # (true class, predicted class)

    def cell(self) -> tuple[str, str] | None:
        return self._cell

    def set_filter(self, name: str) -> None:
        self.beginFilterChange()
        self._filter, self._cell = name, None
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_cell(self, truth: str, predicted: str) -> None:
        self.beginFilterChange()
        self._filter, self._cell = "cell", (truth, predicted)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def depends_on_threshold(self) -> bool:
        return self._filter not in (FILTER_ALL, FILTER_ERRORS)

    def refilter(self) -> None:
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        model: ResultsModel = self.sourceModel()
        f = self._filter
        if f == FILTER_ALL:
            return True
        if f == FILTER_ERRORS:
            return model.error(source_row) is not None
        prediction = model.prediction(source_row)
        if f == FILTER_PARASITIZED:
            return prediction == PARASITIZED
        if f == FILTER_UNINFECTED:
            return prediction == UNINFECTED
        truth = model.truths()[source_row]
        if f == FILTER_MISCLASSIFIED:
            return prediction is not None and truth is not None and truth != prediction
        if f == "cell" and self._cell is not None:
            return prediction is not None and (truth, prediction) == self._cell
        return True

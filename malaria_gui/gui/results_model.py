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
from malaria_gui.engine.field_labels import NOT_A_CELL, FieldCellLabel
from malaria_gui.engine.labels import CLASS_NAMES, DEFAULT_THRESHOLD, PARASITIZED, UNINFECTED, is_refusal, path_key
from malaria_gui.engine.metrics import ClassCounts, count_classes
from malaria_gui.engine.scorer import Result
from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.gui.scoring_process import WAITING, Row

COL_IMAGE, COL_FILE, COL_PREDICTION, COL_CONFIDENCE, COL_TRUTH, COL_NOTE, COL_FIELD = range(7)
HEADERS = ("Image", "File", "Prediction", "P(Parasitized)", "True label", "Note", "Field")
NOT_A_FIELD_WORDS = "Not a field"  # a refused field's status: read, but no smear ("Unreadable" is for files)

PROBABILITY_ROLE = Qt.ItemDataRole.UserRole + 1  # float, or None for an unreadable file
PREDICTION_ROLE = Qt.ItemDataRole.UserRole + 2
CAPTION_ROLE = Qt.ItemDataRole.UserRole + 3
CORRECTED_ROLE = Qt.ItemDataRole.UserRole + 4  # bool: the true label was set by a reviewer
TRUTH_ROLE = Qt.ItemDataRole.UserRole + 5  # the true label shown (a correction, else the folder's; None while truth is off)
MISSING_ROLE = Qt.ItemDataRole.UserRole + 6  # why a reopened row's file gives no picture ("file missing"), or None
CORRECTED_COLOUR = QColor("#8e44ad")  # neither class colour: a correction is the reviewer's, not the model's

PARASITIZED_COLOUR = QColor(labels.CLASS_COLOURS[PARASITIZED])
UNINFECTED_COLOUR = QColor(labels.CLASS_COLOURS[UNINFECTED])
ERROR_COLOUR = QColor(labels.ERROR_COLOUR)


_WARNING_ICON = None


def _warning_icon():
    """The style's warning icon (made once, on first use, after the QApplication exists)."""
    global _WARNING_ICON
    if _WARNING_ICON is None:
        from PySide6.QtWidgets import QApplication, QStyle

        _WARNING_ICON = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
    return _WARNING_ICON


def class_colour(prediction: str | None) -> QColor:
    """The colour of a predicted class; grey for a file that could not be read."""
    if prediction is None:
        return ERROR_COLOUR
    return PARASITIZED_COLOUR if prediction == PARASITIZED else UNINFECTED_COLOUR

# Sort keys offered to the user (the table header maps its columns onto these too).
SORT_INPUT, SORT_LEAST_CONFIDENT, SORT_P, SORT_NAME, SORT_TRUTH, SORT_PREDICTION, SORT_ERROR = (
    "input", "least_confident", "p", "name", "truth", "prediction", "error")
SORT_FIELD = "field"  # field image, then cell number (plain cells first)
COLUMN_SORT = {COL_IMAGE: SORT_INPUT, COL_FILE: SORT_NAME, COL_PREDICTION: SORT_PREDICTION,
               COL_CONFIDENCE: SORT_P, COL_TRUTH: SORT_TRUTH, COL_NOTE: SORT_ERROR, COL_FIELD: SORT_FIELD}


class ResultsModel(QAbstractTableModel):
    """All rows of the session; thumbnails become QPixmaps only when a view asks for them."""

    PIXMAP_CACHE = 1500  # 128 px thumbnails: ~100 MB at most

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._paths: list[str] = []
        self._names: list[str] = []
        self._p = np.empty(0, dtype=np.float64)  # NaN for unreadable files
        self._p_list: list[float] = []
        self._truth: list[str | None] = []
        self._pkeys: list[str] = []  # engine path keys (+ "#cell" in a field): corrections are keyed by them
        self.corrections: dict[str, str | None] = {}  # path key -> the reviewer's label (None: cleared)
        self._errors: list[str | None] = []
        self._thumbs: list[bytes | None] = []
        self._warnings: list[str | None] = []  # "does not look like a single cell"
        self._item_truth: list[str | None] = []  # the truth from folder names, kept while truth is off
        self._truth_folders: list[str | None] = []
        self._use_truth = True
        self._order: list[int] = []  # arrival number of each row, for "input order"
        # Cells found in whole fields (Row.cell, Row.box, Row.contour); None for a plain cell.
        self._cells: list[int | None] = []
        self._boxes: list[tuple[int, int, int, int] | None] = []
        self._contours: list[np.ndarray | None] = []
        self._field_rows = 0  # how many rows came from whole fields (most sessions: none)
        self._by_key: dict[str, int] = {}  # path key -> arrival number: one row per file
        # Correction key -> (field path, cell, box) of each cell found in a field: a correction
        # outlives its row while the fields are scored again (rescore), and is saved with its box.
        self._places: dict[str, tuple[str, int, tuple[int, int, int, int]]] = {}
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()  # keyed by arrival number
        self._missing: dict[str, str] = {}  # path key -> why a reopened case's file gives no picture
        self._threshold = DEFAULT_THRESHOLD
        self.revision = 0  # bumped whenever rows are added, removed or change their data
        self._sort_key = SORT_INPUT
        self._sort_descending = False

    # ---- filling ---------------------------------------------------------------------
    def add_rows(self, rows: list[Row]) -> None:
        """Add rows; a file already listed (waiting for a model, or not scored before a
        cancel) has its row replaced in place, never a second row."""
        if not rows:
            return
        fresh: list[Row] = []
        replacing: list[tuple[int, Row]] = []
        for row in rows:
            key = _row_key(row)
            order = self._by_key.get(key)
            if order is None:
                self._by_key[key] = len(self._paths) + len(fresh)
                fresh.append(row)
            elif order >= len(self._paths):
                fresh[order - len(self._paths)] = row  # twice in one chunk: the later wins
            else:
                replacing.append((order, row))
        if replacing:
            self._replace(replacing)
        if not fresh:
            return
        start = len(self._paths)
        self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
        for i, row in enumerate(fresh):
            self._paths.append(row.path)
            self._names.append(Path(row.path).name)
            self._p_list.append(math.nan if row.p_parasitized is None else float(row.p_parasitized))
            key = _correction_key(row)
            self._pkeys.append(key)
            self._item_truth.append(row.truth)
            self._truth.append(self._shown_truth(key, row.truth))
            self._truth_folders.append(row.truth_folder)
            self._errors.append(row.error)
            self._warnings.append(row.warning)
            self._thumbs.append(row.thumb)
            self._order.append(start + i)
            self._cells.append(row.cell)
            self._boxes.append(row.box)
            self._contours.append(row.contour)
            self._field_rows += row.cell is not None
            self._remember_place(key, row)
        self._p = np.asarray(self._p_list, dtype=np.float64)
        self.revision += 1
        self.endInsertRows()

    def _remember_place(self, key: str, row: Row) -> None:
        if row.cell and row.box is not None:
            self._places[key] = (row.path, int(row.cell), tuple(int(v) for v in row.box))

    def _replace(self, replacing: list[tuple[int, Row]]) -> None:
        where = {order: i for i, order in enumerate(self._order)}
        for order, row in replacing:
            i = where[order]
            if row.p_parasitized is None and not math.isnan(self._p_list[i]):
                continue  # a scored row is never replaced by an unscored one
            self._p_list[i] = math.nan if row.p_parasitized is None else float(row.p_parasitized)
            self._item_truth[i] = row.truth
            self._pkeys[i] = _correction_key(row)
            self._truth[i] = self._shown_truth(self._pkeys[i], row.truth)
            self._truth_folders[i] = row.truth_folder
            self._errors[i], self._warnings[i], self._thumbs[i] = row.error, row.warning, row.thumb
            self._field_rows += (row.cell is not None) - (self._cells[i] is not None)
            self._cells[i], self._boxes[i], self._contours[i] = row.cell, row.box, row.contour
            self._remember_place(self._pkeys[i], row)
            self._pixmaps.pop(order, None)
            self.dataChanged.emit(self.index(i, 0), self.index(i, len(HEADERS) - 1))
        self._p = np.asarray(self._p_list, dtype=np.float64)
        self.revision += 1

    def set_thumbnails(self, thumbs) -> None:
        """Fill rows' thumbnails after the fact (a case reopened from the store keeps no
        pixels): ``(path, cell number or None, JPEG)`` each; rows not listed stay as they are."""
        if not thumbs:
            return
        where = {order: i for i, order in enumerate(self._order)}
        changed = []
        for path, cell, jpeg in thumbs:
            order = self._by_key.get(_key_of(path, cell))
            i = where.get(order) if order is not None else None
            if i is None or self._cells[i] != cell:
                continue
            self._thumbs[i] = jpeg
            self._pixmaps.pop(order, None)
            changed.append(i)
        if changed:
            self.dataChanged.emit(self.index(min(changed), COL_IMAGE), self.index(max(changed), COL_IMAGE),
                                  [Qt.ItemDataRole.DecorationRole])

    def set_missing(self, why: dict[str, str]) -> None:
        """Mark the rows of files that give no picture now (gone, or unreadable since they
        were scored): ``{path: why}``. Their stored results stay as they are."""
        self._missing.update({path_key(p): text for p, text in why.items()})
        rows = [i for i in range(len(self._paths)) if self._file_key(i) in self._missing] if why else []
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(HEADERS) - 1))

    def missing(self, row: int) -> str | None:
        """Why this row's file gives no picture now, or None."""
        return self._missing.get(self._file_key(row)) if self._missing else None

    def _file_key(self, row: int) -> str:
        """The path key of the row's file (its correction key less a field cell's "#n")."""
        key = self._pkeys[row]
        return key if self._cells[row] is None else key.rpartition("#")[0]

    def missing_count(self) -> int:
        """Files marked missing or unreadable (:meth:`set_missing`)."""
        return len(self._missing)

    def clear(self) -> None:
        self.beginResetModel()
        self._paths, self._names, self._p_list = [], [], []
        self._p = np.empty(0, dtype=np.float64)
        self._truth, self._errors, self._thumbs, self._order = [], [], [], []
        self._cells, self._boxes, self._contours = [], [], []
        self._field_rows = 0
        self._warnings, self._item_truth, self._truth_folders, self._pkeys = [], [], [], []
        self._by_key = {}
        self._missing = {}
        self._places = {k: v for k, v in self._places.items() if k in self.corrections}
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

    # ---- truth from folder names, on or off ---------------------------------------------
    @property
    def use_truth(self) -> bool:
        return self._use_truth

    def set_use_truth(self, on: bool) -> None:
        """Show (or hide) the true labels the folder names gave; nothing is scanned again."""
        on = bool(on)
        if on == self._use_truth:
            return
        self._use_truth = on
        self._truth = [self._shown_truth(k, t) for k, t in zip(self._pkeys, self._item_truth)]
        self.revision += 1
        if self._paths:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._paths) - 1, len(HEADERS) - 1))

    def truth_sources(self) -> list:
        """What :func:`engine.discovery.truth_text` reads of the rows (each one's truth folder),
        counted in C rather than one Python object per row: the summary asks often."""
        from collections import Counter
        from types import SimpleNamespace

        counts = Counter(f for f in self._truth_folders if f is not None)
        return [item for name in sorted(counts, key=str.casefold)
                for item in [SimpleNamespace(truth_folder=name)] * counts[name]]

    def warning(self, row: int) -> str | None:
        return self._warnings[row]

    def warning_count(self) -> int:
        """Scored images that do not look like single cells."""
        return sum(1 for w in self._warnings if w)

    def error_count(self, reason: str) -> int:
        return sum(1 for e in self._errors if e == reason)

    def refused_count(self) -> int:
        """Field images refused as no smear (``not a smear field: ...``): read, not unreadable."""
        return sum(1 for e in self._errors if is_refusal(e)) if self._field_rows else 0

    def status(self, row: int) -> str:
        """The row's call, or why there is none: waiting, not scored, not a field, unreadable."""
        prediction = self.prediction(row)
        if prediction is not None:
            return prediction
        error = self._errors[row]
        if error == WAITING:
            return "waiting"
        if error == NOT_SCORED:
            return "not scored"
        return NOT_A_FIELD_WORDS if is_refusal(error) else "Unreadable"

    def probabilities(self) -> np.ndarray:
        return self._p

    def truths(self) -> list[str | None]:
        return self._truth

    def path(self, row: int) -> str:
        return self._paths[row]

    def key(self, row: int) -> str:
        return self._pkeys[row]

    def folder_truth(self, row: int) -> str | None:
        return self._item_truth[row]

    def _shown_truth(self, key: str, folder_truth: str | None) -> str | None:
        """A reviewer's label wins; else the folder's, unless truth from folder names is off."""
        if key in self.corrections:
            return self.corrections[key]
        return folder_truth if self._use_truth else None

    def is_corrected(self, row: int) -> bool:
        return self._pkeys[row] in self.corrections

    def apply_corrections(self, keys: set[str]) -> None:
        """Re-read the truth of the rows whose file is in ``keys`` from :attr:`corrections`
        (after a reviewer's change or its undo); views, counts and metrics then follow."""
        changed = []
        for row, key in enumerate(self._pkeys):
            if key in keys:
                self._truth[row] = self._shown_truth(key, self._item_truth[row])
                changed.append(row)
        if changed:
            self.revision += 1
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), len(HEADERS) - 1))

    def results(self) -> list[Result]:
        """The session as engine Results, in input order (for CSV and report export)."""
        rows = sorted(range(len(self._paths)), key=self._order.__getitem__)
        return [
            Result(Path(self._paths[i]), None if math.isnan(self._p_list[i]) else self._p_list[i],
                   self._errors[i], self._truth[i], self._warnings[i], self._cells[i], self._boxes[i])
            for i in rows
        ]

    def matrix_flags(self) -> list[bool]:
        """Whether each row enters the confusion matrix (:meth:`in_matrix`), in the order of :meth:`results`."""
        rows = sorted(range(len(self._paths)), key=self._order.__getitem__)
        return [self.in_matrix(i) for i in rows]

    def corrected_flags(self) -> list[bool]:
        """Whether each row's truth is a reviewer's, in the order of :meth:`results`."""
        rows = sorted(range(len(self._paths)), key=self._order.__getitem__)
        return [self._pkeys[i] in self.corrections for i in rows]

    def counts(self) -> ClassCounts:
        """Per class at the threshold; what a reviewer marked "not a red cell" is not counted."""
        if not self._field_rows or NOT_A_CELL not in self._truth:
            return count_classes(self._p, self._threshold)
        keep = np.asarray([t != NOT_A_CELL for t in self._truth], dtype=bool)
        return count_classes(self._p[keep], self._threshold)

    def not_a_cell_count(self, path: str | None = None) -> int:
        """Cells (of one field, or of all) a reviewer marked "not a red cell"."""
        if not self._field_rows:
            return 0
        if path is None:
            return self._truth.count(NOT_A_CELL)
        return sum(1 for p, t in zip(self._paths, self._truth) if t == NOT_A_CELL and (path is None or p == path))

    def in_matrix(self, row: int) -> bool:
        """Whether the row is part of a labelled set: a file with a folder's true label (the
        reviewer's correction of it included). A reviewer's label on an unlabelled file or on
        a cell of a whole field is a reviewed call, not a random sample: never in the matrix."""
        return (self._cells[row] is None and self._use_truth and self._item_truth[row] is not None
                and self._truth[row] in CLASS_NAMES)

    def matrix_truths(self) -> list[str | None]:
        """The true label of each row that enters the confusion matrix, else None."""
        return [t if self.in_matrix(r) else None for r, t in enumerate(self._truth)]

    def reviewed_calls(self, fields: bool) -> dict[str, dict[str, int]]:
        """Rows a reviewer labelled outside the labelled set (field cells, or files), at the
        threshold: ``{called class: {reviewer's label: count}}`` plus ``{"_called": {class: n}}``
        (how many rows of that kind were called each class in all)."""
        out: dict[str, dict[str, int]] = {c: {} for c in CLASS_NAMES}
        called = {c: 0 for c in CLASS_NAMES}
        out["_called"] = called
        if not self.corrections or (fields and not self._field_rows):
            return out  # the common case, asked on every count update: no loop over the rows
        for row, key in enumerate(self._pkeys):
            if (self._cells[row] is not None) != fields or (fields and not self._cells[row]):
                continue
            prediction = self.prediction(row)
            if prediction is None:
                continue
            called[prediction] += 1
            if key in self.corrections and self._truth[row] is not None and not self.in_matrix(row):
                out[prediction][self._truth[row]] = out[prediction].get(self._truth[row], 0) + 1
        return out

    def field_cell_labels(self) -> list[FieldCellLabel]:
        """The reviewer's labels on cells of whole fields, as field-label rows (image, box,
        cell number, truth) that ``adapt`` and ``write_field_labels`` take; by field and cell."""
        labels_out = []
        for key, truth in self.corrections.items():
            place = self._places.get(key)
            if truth is None or place is None:
                continue
            path, cell, (x, y, w, h) = place
            labels_out.append(FieldCellLabel(Path(path), x, y, truth, w, h, cell))
        return sorted(labels_out, key=lambda lab: (str(lab.image), lab.cell or 0))

    def is_field_key(self, key: str) -> bool:
        return key in self._places

    def forget_corrections(self) -> None:
        """Drop every correction (Clear session): rows shown again come with their own labels."""
        keys = set(self.corrections)
        self.corrections.clear()
        self._places = {k: v for k, v in self._places.items() if k in self._pkeys_set()}
        self.apply_corrections(keys)

    def _pkeys_set(self) -> set[str]:
        return set(self._pkeys)

    def error(self, row: int) -> str | None:
        return self._errors[row]

    def name(self, row: int) -> str:
        return self._names[row]

    # ---- cells of whole fields ----------------------------------------------------------
    def cell(self, row: int) -> int | None:
        """The row's cell number in its field (0: the field could not be counted), or None."""
        return self._cells[row]

    def box(self, row: int) -> tuple[int, int, int, int] | None:
        return self._boxes[row]

    def contour(self, row: int) -> np.ndarray | None:
        return self._contours[row]

    def has_fields(self) -> bool:
        return self._field_rows > 0

    def field_rows(self, path: str) -> list[int]:
        """The rows of the cells found in one field image (current row numbers)."""
        return [i for i, (p, c) in enumerate(zip(self._paths, self._cells)) if c and p == path]

    def field_review_cells(self) -> tuple[list[str], np.ndarray, list[str | None]]:
        """The scored cells of whole fields: their field's path, P(Parasitized) and the
        reviewer's decision (None while undecided; a folder's label is no decision), in row
        order, for ``engine.confirmed`` (the confirmed parasitemia)."""
        rows = [i for i, c in enumerate(self._cells) if c and not math.isnan(self._p_list[i])]
        fixed = self.corrections
        return ([self._paths[i] for i in rows], self._p[rows],
                [self._truth[i] if self._pkeys[i] in fixed else None for i in rows])

    def field_results(self) -> list:
        """The session's fields as engine FieldResults (input order; the slide is the folder,
        as for ``malaria-gui smear``): parasitemia and slide summaries come from the engine."""
        from malaria_gui.engine.fields import CellScore, FieldResult

        fields: dict[str, FieldResult] = {}
        if not self._field_rows:
            return []
        for i in sorted(range(len(self._paths)), key=self._order.__getitem__):
            cell = self._cells[i]
            if cell is None:
                continue
            path = Path(self._paths[i])
            result = fields.get(self._paths[i])
            if result is None:
                result = fields[self._paths[i]] = FieldResult(path, path.parent.name or str(path.parent))
            if cell == 0 or math.isnan(self._p_list[i]):
                result.error = self._errors[i] or "not counted"
                continue
            if self._truth[i] == NOT_A_CELL:  # the reviewer said the segmentation cut no red cell here
                continue
            x, y, w, h = self._boxes[i] or (0, 0, 0, 0)
            result.cells.append(CellScore(cell, x, y, w, h, self._p_list[i], contour=self._contours[i]))
        return list(fields.values())

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
                return self.prediction(row) or (NOT_A_FIELD_WORDS if is_refusal(self._errors[row]) else "Unreadable")
            if col == COL_CONFIDENCE:
                p = self._p_list[row]
                return "" if math.isnan(p) else f"{p:.3f}"
            if col == COL_TRUTH:
                if self._pkeys[row] in self.corrections:  # a reviewer's label, marked as such
                    return f"{self._truth[row] or 'none'} \u270e"
                return self._truth[row] or ""
            if col == COL_NOTE:
                return self._errors[row] or self._note(row)
            if col == COL_FIELD:
                return self._field_text(row)
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == COL_NOTE and self._warnings[row]:
            return _warning_icon()
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
        if role == MISSING_ROLE:
            return self.missing(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._paths[row] + "".join(f"\n{t}" for t in (self._errors[row], self._warnings[row],
                                                                   self.missing(row)) if t)
        if role == TRUTH_ROLE:
            return self._truth[row]
        if role == Qt.ItemDataRole.ForegroundRole and col in (COL_PREDICTION, COL_NOTE):
            prediction = self.prediction(row)
            if prediction is None:
                return QBrush(ERROR_COLOUR if col == COL_PREDICTION else PARASITIZED_COLOUR)
            if col == COL_PREDICTION:
                return QBrush(PARASITIZED_COLOUR if prediction == PARASITIZED else UNINFECTED_COLOUR)
            if self._truth[row] in CLASS_NAMES and self._truth[row] != prediction:
                return QBrush(PARASITIZED_COLOUR)
        return None

    def _note(self, row: int) -> str:
        truth = self._truth[row]
        notes = []
        if truth == NOT_A_CELL:
            notes.append("not a red cell: not counted")
        elif truth is not None and truth != self.prediction(row):
            notes.append("misclassified")
        if self._warnings[row]:
            notes.append("not a single cell?")
        missing = self.missing(row)
        if missing:
            notes.append(missing)
        return ", ".join(notes)

    def _field_text(self, row: int) -> str:
        cell = self._cells[row]
        if cell is None:
            return ""
        return f"{self._names[row]} (not counted)" if cell == 0 else f"{Path(self._names[row]).stem} #{cell}"

    def caption(self, row: int) -> str:
        """The gallery's caption, as the table reads: the call and P(Parasitized)."""
        prediction = self.prediction(row)
        field = f"\n{Path(self._names[row]).stem[:14]} #{self._cells[row]}" if self._cells[row] else ""
        if prediction is None:
            return self.status(row)
        return f"{prediction} {self._p_list[row]:.2f}{field}"

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
        if key == SORT_FIELD:
            keys = np.empty(len(self._paths), dtype=object)
            keys[:] = [("", 0, o) if c is None else (p.casefold(), c, o)
                       for p, c, o in zip(self._paths, self._cells, self._order)]
            return keys
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
        self._pkeys = [self._pkeys[i] for i in p]
        self._errors = [self._errors[i] for i in p]
        self._thumbs = [self._thumbs[i] for i in p]
        self._warnings = [self._warnings[i] for i in p]
        self._item_truth = [self._item_truth[i] for i in p]
        self._truth_folders = [self._truth_folders[i] for i in p]
        self._order = [self._order[i] for i in p]
        self._cells = [self._cells[i] for i in p]
        self._boxes = [self._boxes[i] for i in p]
        self._contours = [self._contours[i] for i in p]
        old = self.persistentIndexList()
        if old:
            self.changePersistentIndexList(
                old, [self.index(int(new_row[i.row()]), i.column()) for i in old])
        self.layoutChanged.emit()


# Filters: what the user picks in the filter box, or a confusion-matrix cell.
FILTER_ALL, FILTER_PARASITIZED, FILTER_UNINFECTED, FILTER_ERRORS, FILTER_MISCLASSIFIED = (
    "all", "parasitized", "uninfected", "errors", "misclassified")
FILTER_NOT_CELLS = "not_cells"
FILTER_LABELS = {FILTER_ALL: "All", FILTER_PARASITIZED: "Parasitized", FILTER_UNINFECTED: "Uninfected",
                 FILTER_ERRORS: "Errors", FILTER_MISCLASSIFIED: "Misclassified",
                 FILTER_NOT_CELLS: "Not single cells"}


class ResultsFilter(QSortFilterProxyModel):
    """Filters rows by class, failure or confusion-matrix cell; sorting is the source's."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._filter = FILTER_ALL
        self._cell: tuple[str, str] | None = None  # (true class, predicted class)

    def cell(self) -> tuple[str, str] | None:
        return self._cell

    def filter_name(self) -> str:
        """The filter in use (a FILTER_* name, or "cell" for a confusion-matrix cell)."""
        return self._filter

    def set_filter(self, name: str) -> None:
        self.beginFilterChange()
        self._filter, self._cell = name, None
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_cell(self, truth: str, predicted: str) -> None:
        self.beginFilterChange()
        self._filter, self._cell = "cell", (truth, predicted)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def depends_on_threshold(self) -> bool:
        return self._filter not in (FILTER_ALL, FILTER_ERRORS, FILTER_NOT_CELLS)

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
        if f == FILTER_NOT_CELLS:
            return bool(model.warning(source_row))
        prediction = model.prediction(source_row)
        if f == FILTER_PARASITIZED:
            return prediction == PARASITIZED
        if f == FILTER_UNINFECTED:
            return prediction == UNINFECTED
        truth = model.truths()[source_row]
        if f == FILTER_MISCLASSIFIED:
            return prediction is not None and truth in CLASS_NAMES and truth != prediction
        if f == "cell" and self._cell is not None:
            return prediction is not None and (truth, prediction) == self._cell
        return True


def _row_key(row: Row) -> str:
    """One row per file, and per cell of a whole field. A field's first row (cell 1, or 0
    for a field that could not be counted) shares the file's key, so it takes the place of
    the row the file had while it waited or was left unscored by a cancel."""
    key = path_key(row.path)
    return key if row.cell is None or row.cell <= 1 else f"{key}#{row.cell}"


def _key_of(path: str, cell: int | None) -> str:
    """:func:`_row_key` of a row's path and cell number."""
    key = path_key(path)
    return key if cell is None or cell <= 1 else f"{key}#{cell}"


def _correction_key(row: Row) -> str:
    """Where a reviewer's label is kept: the file, or one cell of a whole field."""
    key = path_key(row.path)
    return key if row.cell is None else f"{key}#{row.cell}"

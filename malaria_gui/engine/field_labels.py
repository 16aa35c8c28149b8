"""A person's labels on the cells of whole fields: one CSV format, read and written here.

A lab that works with fields reviews field cells, not crops on disk, so its labels name a
field image and a place in it. Two forms are read:

- the cells CSV that ``smear --csv`` and the window write (``image,cell,x,y,width,height,...``)
  with a ``truth`` column added; a row is matched to the cell the segmentation finds at that
  box (the same box, or the box's centre inside a found cell's mask when boxes differ);
- a points CSV, ``image,x,y,truth``: a point on the cell.

``truth`` is ``Parasitized``, ``Uninfected`` (or their folder spellings) or ``not a red cell``
(what the segmentation cut that is no red cell: a white cell, a clump, debris, text). Images
are absolute paths or relative to the CSV's folder. Qt-free: the CLI, adaptation and the
window's corrections all use it, so what the window saves is what ``adapt`` reads.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from malaria_gui.engine.labels import label_for_folder

NOT_A_CELL = "not a red cell"
TRUTHS = ("Parasitized", "Uninfected", NOT_A_CELL)
BOX_COLUMNS = ("image", "cell", "x", "y", "width", "height", "truth")
POINT_COLUMNS = ("image", "x", "y", "truth")
_NOT_A_CELL_WORDS = {"not a red cell", "not_a_red_cell", "not-a-red-cell", "not a cell", "other", "none"}


class FieldLabelError(ValueError):
    """The CSV cannot be read as field-cell labels; the message is for the user."""


@dataclass(frozen=True, slots=True)
class FieldCellLabel:
    """One labelled place in a field image: a box (x, y, width, height) or a point (width 0)."""

    image: Path
    x: float
    y: float
    truth: str
    width: float = 0.0
    height: float = 0.0
    cell: int | None = None  # the cell number smear/the window gave it, when known

    @property
    def is_point(self) -> bool:
        return self.width <= 0 or self.height <= 0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x, self.y) if self.is_point else (self.x + self.width / 2, self.y + self.height / 2)


def parse_truth(text: str) -> str | None:
    """``Parasitized``, ``Uninfected``, :data:`NOT_A_CELL`, or None for an empty or unknown word."""
    word = (text or "").strip()
    if word.lower() in _NOT_A_CELL_WORDS:
        return NOT_A_CELL
    return label_for_folder(word) if word else None


def is_field_label_csv(csv_path: str | os.PathLike[str]) -> bool:
    """Whether the CSV's header names field cells (``image`` and ``x``/``y``) rather than files."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    names = {h.strip().lower() for h in header}
    return {"image", "x", "y", "truth"} <= names


def read_field_labels(csv_path: str | os.PathLike[str]) -> tuple[list[FieldCellLabel], list[str]]:
    """The labelled rows of a boxes or points CSV, and one note per row left out (why).

    Rows with an empty truth are not labels (a smear CSV not yet reviewed) and are skipped
    silently; a row with an unknown word, a bad number or no image is left out with a note.
    """
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FieldLabelError(f"cannot read field labels {csv_path}: {exc}") from None
    if not rows:
        return [], []
    columns = {k.strip().lower(): k for k in rows[0] if k is not None}
    if not {"image", "x", "y", "truth"} <= set(columns):
        raise FieldLabelError(f"field labels {csv_path} need the columns image,x,y,truth "
                              "(and width,height for boxes, as smear --csv writes them)")
    boxes = {"width", "height"} <= set(columns)
    labels, notes = [], []
    for line, row in enumerate(rows, start=2):
        def get(name: str) -> str:
            return (row.get(columns[name]) or "").strip() if name in columns else ""

        raw = get("truth")
        if not raw:
            continue
        truth = parse_truth(raw)
        if truth is None:
            notes.append(f"line {line}: unknown truth {raw!r} (Parasitized, Uninfected or {NOT_A_CELL!r})")
            continue
        if not get("image"):
            notes.append(f"line {line}: no image")
            continue
        try:
            x, y = float(get("x")), float(get("y"))
            w = float(get("width")) if boxes and get("width") else 0.0
            h = float(get("height")) if boxes and get("height") else 0.0
            cell = int(get("cell")) if get("cell") else None
        except ValueError:
            notes.append(f"line {line}: x, y, width, height and cell must be numbers")
            continue
        if not all(np.isfinite([x, y, w, h])) or w < 0 or h < 0:
            notes.append(f"line {line}: bad box ({x}, {y}, {w}, {h})")
            continue
        image = Path(get("image"))
        labels.append(FieldCellLabel(image if image.is_absolute() else csv_path.parent / image,
                                     x, y, truth, w, h, cell))
    return labels, notes


def field_labels_text(labels: Iterable[FieldCellLabel], relative_to: Path | None = None) -> str:
    """The boxes CSV (``image,cell,x,y,width,height,truth``) for ``labels``; images relative to
    ``relative_to`` where they lie under it (a folder of fields moved with its CSV still reads)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BOX_COLUMNS)
    for lab in labels:
        image = lab.image
        if relative_to is not None:
            try:
                image = Path(os.path.relpath(lab.image, relative_to))
                if image.parts and image.parts[0] == "..":
                    image = lab.image
            except ValueError:  # another drive on Windows
                image = lab.image
        writer.writerow([_safe(str(image)), "" if lab.cell is None else lab.cell, _num(lab.x), _num(lab.y),
                         _num(lab.width), _num(lab.height), lab.truth])
    return out.getvalue()


def write_field_labels(path: str | os.PathLike[str], labels: Sequence[FieldCellLabel]) -> None:
    """Write the boxes CSV atomically (images relative to the CSV's folder where they can be)."""
    from malaria_gui.engine.export import atomic_write

    path = Path(path)
    atomic_write(path, field_labels_text(labels, path.parent.resolve()).encode("utf-8"))


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def _safe(text: str) -> str:
    from malaria_gui.engine.export import _cell

    return _cell(text)


# ---------------------------------------------------------------- matching labels to found cells

def _box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match_labels(cells: Sequence, labels: Sequence[FieldCellLabel], min_iou: float = 0.5) -> tuple[dict[int, str], list[FieldCellLabel]]:
    """Which found cell each label of one field names: ``{cell position: truth}`` and the
    labels that named no found cell.

    ``cells`` are the field's found cells in order (anything with ``x, y, width, height`` and,
    optionally, a boolean ``mask`` of its box). A box label goes to the cell with the same box
    (IoU >= ``min_iou``), else to the cell whose mask holds the box's centre; a point label to
    the cell whose mask (or box, without one) holds the point. One cell takes one label: a
    second label on it is unmatched (two truths for one cell cannot both be right).
    """
    taken: dict[int, str] = {}
    unmatched: list[FieldCellLabel] = []
    boxes = [(float(c.x), float(c.y), float(c.width), float(c.height)) for c in cells]
    for lab in labels:
        hit = None
        if not lab.is_point:
            box = (lab.x, lab.y, lab.width, lab.height)
            ious = [_box_iou(box, b) for b in boxes]
            if ious and max(ious) >= min_iou:
                hit = int(np.argmax(ious))
        if hit is None:
            cx, cy = lab.centre
            for i, c in enumerate(cells):
                if _holds(c, cx, cy):
                    hit = i
                    break
        if hit is None or hit in taken:
            unmatched.append(lab)
            continue
        taken[hit] = lab.truth
    return taken, unmatched


def _holds(cell, x: float, y: float) -> bool:
    col, row = int(np.floor(x - cell.x)), int(np.floor(y - cell.y))
    if not (0 <= col < cell.width and 0 <= row < cell.height):
        return False
    mask = getattr(cell, "mask", None)
    return True if mask is None else bool(mask[row, col])

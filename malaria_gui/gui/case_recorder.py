"""The window's side of the case store: its rows written as they arrive, its decisions as made.

Qt-free (the session calls it on the GUI thread; a headless test drives it the same way).
Each chunk the scoring worker sends becomes one transaction (:meth:`CaseStore.add_images`):
a whole field's cells arrive in one chunk, so a field is stored whole or not at all; a
chunk of single-cell files is one write, not one per file. Each review decision is its own
transaction, written before the views redraw, so a killed window loses at most the one in
flight. Measured (``bench/cases.py``): a 150-cell field ~2 ms, a decision ~1 ms: cheap
enough for the GUI thread, so no writer thread (which would widen what a kill loses).

A single-cell file is stored as an image with one cell covering it (its size from the
file's header; 0 x 0 when the header does not say). Rows still waiting for a model or left
unscored by a cancel are not stored: they are stored when they are scored. A cell file keeps
the true label its folder gave (and the folder's name), so a reopened labelled set shows the
same confusion matrix; a field keeps its white-cell count (sent with its picture,
``FieldImage.white_cells``, which the session passes in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from malaria_gui.engine.cases import CLEARED, DECISIONS, CaseStore, ImageRecord, SlideCase
from malaria_gui.engine.decoding import header_size
from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.engine.labels import path_key
from malaria_gui.gui.scoring_process import WAITING, MakeThumbnails, Row, StoredPicture

HEADER_BYTES = 1 << 16  # enough for a PNG's or a JPEG's size (EXIF first) of a cell file


def cell_key(path: str, cell: int | None) -> str:
    """The session's key of a row's correction (``ResultsModel``: the file, or ``file#cell``)."""
    key = path_key(path)
    return key if cell is None else f"{key}#{cell}"


@dataclass
class CaseRecorder:
    """Writes one slide of ``store``; ``cell_ids`` maps the session's keys to stored cells."""

    store: CaseStore
    slide_id: str
    reference: str = ""
    reviewer: str = ""
    slide: int = 0
    cell_ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, store: CaseStore, slide_id: str, reference: str = "", reviewer: str = "", *,
              append: bool = False) -> CaseRecorder:
        """A new slide (or, with ``append``, more images for an existing one); CaseError if
        the id is empty, or taken and ``append`` is not set."""
        slide_id = slide_id.strip()
        slide = store.open_slide(slide_id, reference.strip(), append=append)
        return cls(store, slide_id, reference.strip(), reviewer.strip(), slide)

    def record_rows(self, rows: list[Row], model: str, threshold: float,
                    white_cells: Mapping[str, int] | None = None) -> list[str]:
        """Store what a chunk scored, in one transaction; returns the keys of the cells stored.
        ``white_cells``: each field's count by path (the scoring process counts them apart)."""
        records: list[ImageRecord] = []
        keys: list[list[str]] = []
        fields: dict[str, list[Row]] = {}
        for row in rows:
            if row.error in (WAITING, NOT_SCORED):
                continue  # not scored yet: stored once it is
            if row.cell is not None:
                fields.setdefault(row.path, []).append(row)
                continue
            cells = []
            if row.p_parasitized is not None:
                width, height = header_size(row.path, HEADER_BYTES) or (0, 0)
                cells = [(1, 0, 0, width, height, float(row.p_parasitized))]
            records.append(ImageRecord(row.path, cells, "cell", model, threshold, error=row.error, truth=row.truth,
                                       truth_folder=row.truth_folder))
            keys.append([cell_key(row.path, None)] if cells else [])
        for path, cell_rows in fields.items():
            counted = sorted((r for r in cell_rows if r.cell and r.p_parasitized is not None and r.box is not None),
                             key=lambda r: r.cell)
            error = None if counted else next((r.error for r in cell_rows if r.error), "not counted")
            records.append(ImageRecord(path, [(r.cell, *r.box, float(r.p_parasitized), r.contour) for r in counted], "field",
                                       model, threshold, int((white_cells or {}).get(path, 0)), error=error))
            keys.append([cell_key(path, r.cell) for r in counted])
        if not records:
            return []
        for image_keys, ids in zip(keys, self.store.add_images(self.slide, records)):
            self.cell_ids.update(zip(image_keys, ids))
        return [k for image_keys in keys for k in image_keys]

    def record_decisions(self, decided: dict[str, str | None]) -> int:
        """Append each decision (None: the label taken back); returns how many were written.
        A key with no stored cell (a row scored before the case was opened) is skipped."""
        written = 0
        for key, truth in decided.items():
            cell = self.cell_ids.get(key)
            value = truth or CLEARED
            if cell is None or value not in DECISIONS:
                continue
            self.store.decide(cell, value, self.reviewer)
            written += 1
        return written


def rows_from_case(case: SlideCase) -> tuple[list[Row], dict[str, str], dict[str, int]]:
    """What a stored slide shows again, without scoring: its rows (field cells with box, P and
    outline, cell files with their folder's true label; no thumbnails: the scoring process makes them
    afterwards, :func:`thumbnail_job`), the current decisions by key, and the stored cells'
    ids by key."""
    kinds = {im.path: im for im in case.images}
    rows: list[Row] = []
    decisions: dict[str, str] = {}
    ids: dict[str, int] = {}
    with_cells: set[str] = set()
    for c in case.cells:
        image = kinds.get(c.image)
        is_field = image is None or image.kind == "field"
        with_cells.add(c.image)
        cell = c.number if is_field else None
        box = (c.x, c.y, c.width, c.height) if is_field else None
        truth, folder = (None, None) if is_field else (image.truth, image.truth_folder)
        rows.append(Row(c.image, c.p_parasitized, None, truth, None, truth_folder=folder, cell=cell, box=box,
                        contour=c.outline if is_field else None))
        key = cell_key(c.image, cell)
        ids[key] = c.id
        if c.truth:
            decisions[key] = c.truth
    for im in case.images:  # an image with no cell: a field not counted, or an unreadable file
        if im.path not in with_cells:
            is_field = im.kind == "field"
            rows.append(Row(im.path, None, im.error or "not counted", None if is_field else im.truth, None,
                            truth_folder=None if is_field else im.truth_folder, cell=0 if is_field else None))
    return rows, decisions, ids


def thumbnail_job(case: SlideCase, generation: int) -> MakeThumbnails:
    """What the scoring process needs to make a stored slide's thumbnails: each image with its
    cells' boxes and outlines (a field) or none (a file of one cell). Images stored with no
    cell (a field not counted, a file that could not be read) have no picture to make."""
    boxes: dict[str, list[tuple]] = {}
    for c in case.cells:
        boxes.setdefault(c.image, []).append((c.number, c.x, c.y, c.width, c.height, c.outline))
    return MakeThumbnails(generation, tuple(
        StoredPicture(im.path, tuple(boxes[im.path]) if im.kind == "field" else None, im.white_cells)
        for im in case.images if boxes.get(im.path)))

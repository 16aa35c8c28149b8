"""Cases kept in SQLite: a slide, its images, every cell found and every review decision.

A lab files what a person confirmed, not what a model said, and a review must survive a
crash or a power cut. So each field's cells are written in one transaction as they arrive
and each decision in its own, in WAL mode with ``synchronous=FULL``: a killed program loses
at most the write in flight. Decisions are appended, never updated (who decided what, when;
undo is a new row that clears), and a cell's current decision is its latest row. Opening a
slide reads what was stored, so nothing is scored again. Qt-free: the CLI, the window and
the tests share it. The schema is versioned by ``PRAGMA user_version`` and migrated forward
on open (:data:`MIGRATIONS`).
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

CASES_DB_ENV = "MALARIA_GUI_CASES_DB"

# Review decisions a person can take on a cell; CLEARED takes the last one back (undo).
CONFIRMED = "Parasitized"
REJECTED = "Uninfected"
NOT_A_CELL = "not a red cell"
CLEARED = ""
DECISIONS = (CONFIRMED, REJECTED, NOT_A_CELL, CLEARED)

# Each entry moves the schema from version i to i + 1; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE slides (
        id INTEGER PRIMARY KEY,
        slide_id TEXT NOT NULL UNIQUE,
        reference TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE INDEX slides_created ON slides(created);
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        slide INTEGER NOT NULL REFERENCES slides(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('field', 'cell')),
        error TEXT,
        cells INTEGER NOT NULL DEFAULT 0,
        white_cells INTEGER NOT NULL DEFAULT 0,
        model TEXT NOT NULL DEFAULT '',
        threshold REAL,
        scored TEXT NOT NULL,
        UNIQUE (slide, path)
    );
    CREATE TABLE cells (
        id INTEGER PRIMARY KEY,
        image INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        x INTEGER NOT NULL, y INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
        p_parasitized REAL NOT NULL,
        UNIQUE (image, number)
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        cell INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
        slide INTEGER NOT NULL REFERENCES slides(id) ON DELETE CASCADE,
        truth TEXT NOT NULL,
        reviewer TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL
    );
    CREATE INDEX decisions_cell ON decisions(cell, id);
    CREATE INDEX decisions_slide ON decisions(slide);
    """,
    # 2: a file of one cell keeps the true label its folder gave (Parasitized/, Uninfected/)
    # and that folder's name, so a reopened labelled set shows the same confusion matrix.
    """
    ALTER TABLE images ADD COLUMN truth TEXT;
    ALTER TABLE images ADD COLUMN truth_folder TEXT;
    """,
    # 3: a field cell keeps its outline (encode_outline), so a reopened field draws each cell
    # as it was found and its thumbnail is the crop the model saw, not the box around it.
    """
    ALTER TABLE cells ADD COLUMN outline BLOB;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class CaseError(Exception):
    """A case cannot be stored or found; the message is for the user."""


def default_store_path() -> Path:
    """``$MALARIA_GUI_CASES_DB``, else ``cases.sqlite`` in the user's data folder."""
    override = os.environ.get(CASES_DB_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "malaria-gui" / "cases.sqlite"


OUTLINE_TOLERANCE_PX = 0.7  # simplification of a stored outline: under a pixel, about half the points


def encode_outline(contour: np.ndarray | None, x: int, y: int) -> bytes | None:
    """A cell's outline ((N, 2) x, y points in the field's pixels) as stored: simplified to
    :data:`OUTLINE_TOLERANCE_PX`, relative to its box's corner (``x``, ``y``), little-endian
    uint16 pairs: ~80 bytes for a typical cell, against ~150 for the points as found."""
    if contour is None or len(contour) < 3:
        return None
    import cv2

    points = np.asarray(contour, np.int32).reshape(-1, 1, 2)
    simple = cv2.approxPolyDP(points, OUTLINE_TOLERANCE_PX, True).reshape(-1, 2)
    if len(simple) < 3:
        simple = points.reshape(-1, 2)
    local = simple - np.array([x, y], np.int32)
    if local.min() < 0 or local.max() > 0xFFFF:
        return None  # not an outline of this box: leave the box to stand for it
    return local.astype("<u2").tobytes()


def decode_outlines(blobs: Sequence[bytes | None], corners: Sequence[tuple[int, int]]) -> list[np.ndarray | None]:
    """Outlines from :func:`encode_outline`'s bytes (None where none was stored) back in the
    field's pixels, (N, 2) int32, given each cell's box corner (x, y). All at once, one array
    and views of it: a 15,000-cell slide's in ~10 ms rather than ~70 ms one by one."""
    sizes = np.array([len(b) // 4 if b else 0 for b in blobs], np.int64)
    if not sizes.any():
        return [None] * len(blobs)
    points = np.frombuffer(b"".join(b for b in blobs if b), "<u2").reshape(-1, 2).astype(np.int32)
    points += np.repeat(np.asarray(corners, np.int32).reshape(-1, 2), sizes, axis=0)
    pieces = np.split(points, np.cumsum(sizes)[:-1])
    return [piece if n else None for piece, n in zip(pieces, sizes)]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(slots=True)
class StoredCell:
    """One found cell as stored, with its current review decision ("" = not reviewed)."""

    id: int
    image: str
    number: int
    x: int
    y: int
    width: int
    height: int
    p_parasitized: float
    truth: str = ""
    reviewer: str = ""
    decided: str = ""
    outline: np.ndarray | None = None  # a field cell's outline in the field's pixels (schema 3)


@dataclass(slots=True)
class StoredImage:
    path: str
    kind: str
    error: str | None
    cells: int
    white_cells: int
    model: str
    threshold: float | None
    scored: str
    truth: str | None = None  # a cell file's true label from its folder's name (schema 2)
    truth_folder: str | None = None


@dataclass(slots=True)
class ImageRecord:
    """One scored image to store: its cells as ``(number, x, y, width, height, p)``, a field's
    optionally with its outline as a seventh item ((N, 2) points in the field's pixels)."""

    path: str
    cells: list[tuple[int, int, int, int, int, float]]
    kind: str = "field"  # or "cell": a file of one cell (stored as one cell covering the image)
    model: str = ""
    threshold: float | None = None
    white_cells: int = 0
    error: str | None = None
    truth: str | None = None  # a cell file's true label from its folder's name, and that folder
    truth_folder: str | None = None


@dataclass(slots=True)
class SlideCase:
    """A slide read back from the store: what is needed to show it again without scoring."""

    slide_id: str
    reference: str
    created: str
    updated: str
    images: list[StoredImage] = field(default_factory=list)
    cells: list[StoredCell] = field(default_factory=list)


@dataclass(slots=True)
class SlideListing:
    slide_id: str
    reference: str
    created: str
    updated: str
    images: int
    cells: int
    reviewed: int


class CaseStore:
    """One SQLite file of cases. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, migrations: Sequence[str] = MIGRATIONS) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise CaseError(f"cannot open the case store {self.path}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate(migrations)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise CaseError(f"{self.path} is not a case store this version can read: {exc}") from None

    # ---- housekeeping

    def _migrate(self, migrations: Sequence[str]) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            raise CaseError(f"{self.path} was written by a newer malaria-gui (schema {version}, "
                            f"this one reads up to {len(migrations)}); nothing was changed")
        for target in range(version + 1, len(migrations) + 1):
            with self._transaction():
                for statement in _statements(migrations[target - 1]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {target}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self):
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (the connection is in autocommit)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- writing

    def open_slide(self, slide_id: str, reference: str = "", *, append: bool = False) -> int:
        """The slide's row id, creating the slide. An existing slide is added to only with
        ``append`` (scoring a folder again must not mix two runs by accident)."""
        slide_id = slide_id.strip()
        if not slide_id:
            raise CaseError("a slide needs an id (the slide or sample number)")
        row = self._db.execute("SELECT id FROM slides WHERE slide_id = ?", (slide_id,)).fetchone()
        if row is not None:
            if not append:
                raise CaseError(f"slide {slide_id!r} is already in the case store; "
                                "add to it explicitly (append) or give another id")
            if reference:
                self._db.execute("UPDATE slides SET reference = ?, updated = ? WHERE id = ?", (reference, _now(), row[0]))
            return int(row[0])
        now = _now()
        with self._transaction():
            cur = self._db.execute("INSERT INTO slides (slide_id, reference, created, updated) VALUES (?, ?, ?, ?)",
                                   (slide_id, reference, now, now))
        return int(cur.lastrowid)

    def add_image(self, slide: int, path: str | os.PathLike[str], cells: Iterable[tuple[int, int, int, int, int, float]],
                  *, kind: str = "field", model: str = "", threshold: float | None = None, white_cells: int = 0,
                  error: str | None = None) -> list[int]:
        """Store one scored image and its cells ``(number, x, y, width, height, p)`` in one
        transaction; returns the cells' ids. Scoring the same image of a slide again replaces
        its cells (and their decisions: they were about the old cells)."""
        return self.add_images(slide, [ImageRecord(str(path), list(cells), kind, model, threshold, white_cells,
                                                   error)])[0]

    def add_images(self, slide: int, images: Sequence[ImageRecord]) -> list[list[int]]:
        """Store several scored images in ONE transaction (a chunk of single-cell files: one
        durable write, not one per file); returns each image's cells' ids, in cell order."""
        now = _now()
        out: list[list[int]] = []
        with self._transaction():
            for im in images:
                self._db.execute("DELETE FROM images WHERE slide = ? AND path = ?", (slide, im.path))
                cur = self._db.execute(
                    "INSERT INTO images (slide, path, kind, error, cells, white_cells, model, threshold, scored, "
                    "truth, truth_folder) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (slide, im.path, im.kind, im.error, len(im.cells), im.white_cells, im.model, im.threshold, now,
                     im.truth, im.truth_folder))
                image = cur.lastrowid
                self._db.executemany(
                    "INSERT INTO cells (image, number, x, y, width, height, p_parasitized, outline) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(image, int(n), int(x), int(y), int(w), int(h), float(p),
                      encode_outline(outline[0] if outline else None, int(x), int(y)))
                     for n, x, y, w, h, p, *outline in im.cells])
                out.append([r[0] for r in self._db.execute("SELECT id FROM cells WHERE image = ? ORDER BY number",
                                                           (image,))])
            self._db.execute("UPDATE slides SET updated = ? WHERE id = ?", (now, slide))
        return out

    def decide(self, cell: int, truth: str, reviewer: str = "") -> None:
        """Record one review decision (its own transaction: durable once this returns)."""
        if truth not in DECISIONS:
            raise CaseError(f"unknown decision {truth!r}")
        with self._transaction():
            row = self._db.execute("SELECT images.slide FROM cells JOIN images ON images.id = cells.image "
                                   "WHERE cells.id = ?", (cell,)).fetchone()
            if row is None:
                raise CaseError(f"no cell {cell} in the case store")
            self._db.execute("INSERT INTO decisions (cell, slide, truth, reviewer, at) VALUES (?, ?, ?, ?, ?)",
                             (cell, row[0], truth, reviewer, _now()))

    # ---- reading

    def list_slides(self, search: str = "", since: str | None = None, until: str | None = None) -> list[SlideListing]:
        """Slides, newest first; ``search`` matches the id or reference, ``since``/``until``
        (ISO dates) the creation date."""
        where, args = [], []
        if search:
            where.append("(s.slide_id LIKE ? ESCAPE '\\' OR s.reference LIKE ? ESCAPE '\\')")
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern]
        if since:
            where.append("s.created >= ?")
            args.append(since)
        if until:
            where.append("s.created < ?")
            args.append(until + "\uffff")  # the whole day of ``until``
        sql = ("SELECT s.slide_id, s.reference, s.created, s.updated, "
               "(SELECT COUNT(*) FROM images i WHERE i.slide = s.id), "
               "(SELECT COALESCE(SUM(i.cells), 0) FROM images i WHERE i.slide = s.id), "
               "(SELECT COUNT(DISTINCT d.cell) FROM decisions d WHERE d.slide = s.id) "
               "FROM slides s" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY s.created DESC, s.id DESC")
        return [SlideListing(*row) for row in self._db.execute(sql, args)]

    def load_slide(self, slide_id: str) -> SlideCase:
        """Everything stored for a slide, each cell with its latest decision."""
        row = self._db.execute("SELECT id, slide_id, reference, created, updated FROM slides WHERE slide_id = ?",
                               (slide_id,)).fetchone()
        if row is None:
            raise CaseError(f"no slide {slide_id!r} in the case store {self.path}")
        case = SlideCase(row["slide_id"], row["reference"], row["created"], row["updated"])
        case.images = [StoredImage(*r) for r in self._db.execute(
            "SELECT path, kind, error, cells, white_cells, model, threshold, scored, truth, truth_folder FROM images "
            "WHERE slide = ? ORDER BY id", (row["id"],))]
        rows = self._db.execute(
            """
            SELECT c.id, i.path, c.number, c.x, c.y, c.width, c.height, c.p_parasitized,
                   COALESCE(d.truth, ''), COALESCE(d.reviewer, ''), COALESCE(d.at, ''), c.outline
            FROM cells c JOIN images i ON i.id = c.image
            LEFT JOIN decisions d ON d.id = (SELECT MAX(id) FROM decisions WHERE cell = c.id)
            WHERE i.slide = ? ORDER BY i.id, c.number
            """, (row["id"],)).fetchall()
        outlines = decode_outlines([r[-1] for r in rows], [(r[3], r[4]) for r in rows])
        case.cells = [StoredCell(*r[:-1], outline=o) for r, o in zip(rows, outlines)]
        return case

    def decision_history(self, slide_id: str) -> list[tuple[str, int, str, str, str]]:
        """Every decision of a slide in order: (image, cell number, truth, reviewer, time)."""
        return [tuple(r) for r in self._db.execute(
            """
            SELECT i.path, c.number, d.truth, d.reviewer, d.at FROM decisions d
            JOIN cells c ON c.id = d.cell JOIN images i ON i.id = c.image JOIN slides s ON s.id = d.slide
            WHERE s.slide_id = ? ORDER BY d.id
            """, (slide_id,))]


def _statements(script: str) -> list[str]:
    """A migration script split into statements (``sqlite3.complete_statement``), so they run
    inside one transaction: ``executescript`` would commit half a migration on its own."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out


# ---------------------------------------------------------------- figures and export

def slide_figures(cells: Iterable[StoredCell], threshold: float):
    """The model's parasitemia and the confirmed one of stored cells at ``threshold``, with
    the review queue's progress (:class:`~malaria_gui.engine.confirmed.ReviewFigures`)."""
    from malaria_gui.engine.confirmed import review_figures

    cells = list(cells)
    return review_figures([c.p_parasitized for c in cells], [c.truth for c in cells], threshold)


def reviewed_labels(case: SlideCase) -> tuple[list, list[tuple[str, str]]]:
    """What a person decided on a slide, as adaptation takes it: field cells as field labels
    (their image, box and cell number; "not a red cell" included, which adapt counts but never
    trains on) and files of one cell as (path, truth). Cells nobody reviewed are left out:
    the model's own calls are no labels."""
    from malaria_gui.engine.field_labels import FieldCellLabel

    kinds = {im.path: im.kind for im in case.images}
    fields, files = [], []
    for c in case.cells:
        if not c.truth:
            continue
        if kinds.get(c.image) == "cell":
            if c.truth != NOT_A_CELL:
                files.append((c.image, c.truth))
        else:
            fields.append(FieldCellLabel(Path(c.image), float(c.x), float(c.y), c.truth, float(c.width),
                                         float(c.height), c.number))
    return fields, files


CASE_COLUMNS = ("slide", "image", "cell", "x", "y", "width", "height", "p_parasitized", "model", "threshold",
                "prediction", "review", "reviewer", "reviewed_at")


def image_figures(case: SlideCase) -> dict:
    """Each stored field's figures (model's, confirmed, queue) at the threshold it was scored at."""
    from malaria_gui.engine.confirmed import review_figures

    by_image: dict[str, list[StoredCell]] = {}
    for c in case.cells:
        by_image.setdefault(c.image, []).append(c)
    out = {}
    for im in case.images:
        if im.threshold is None or im.error:
            continue
        cells = by_image.get(im.path, [])
        out[im.path] = review_figures([c.p_parasitized for c in cells], [c.truth for c in cells], im.threshold)
    return out


def case_csv_text(case: SlideCase) -> str:
    """One row per stored cell: the model's call and the reviewer's decision side by side,
    then its field's parasitemia, model's and confirmed, and the queue's progress."""
    from malaria_gui.engine.export import FIELD_FIGURE_COLUMNS, field_figure_values
    from malaria_gui.engine.export import _cell as safe

    models = {im.path: (im.model, im.threshold) for im in case.images}
    figures = {path: field_figure_values(f) for path, f in image_figures(case).items()}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CASE_COLUMNS + FIELD_FIGURE_COLUMNS)
    for c in case.cells:
        model, threshold = models.get(c.image, ("", None))
        prediction = "" if threshold is None else (CONFIRMED if c.p_parasitized >= threshold else REJECTED)
        writer.writerow([safe(case.slide_id), safe(c.image), c.number, c.x, c.y, c.width, c.height,
                         f"{c.p_parasitized:.6f}", safe(model), "" if threshold is None else f"{threshold:.4f}",
                         prediction, c.truth, safe(c.reviewer), c.decided,
                         *figures.get(c.image, field_figure_values(None))])
    return out.getvalue()


def record_field(store: CaseStore, slide: int, result, model: str, threshold: float) -> list[int]:
    """Store one :class:`~malaria_gui.engine.fields.FieldResult` (cells, white cells, or its
    error) as an image of ``slide``, with each cell's outline when it was kept
    (``score_fields(keep_contours=True)``); returns the stored cells' ids in cell order."""
    cells = [(c.index, c.x, c.y, c.width, c.height, c.p_parasitized, getattr(c, "contour", None))
             for c in result.cells]
    return store.add_image(slide, str(result.path), cells, kind="field", model=model, threshold=threshold,
                           white_cells=int(getattr(result, "white_cells", 0) or 0), error=result.error)

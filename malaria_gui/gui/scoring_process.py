"""The process that owns the model for the window: loads it, scans folders, scores files.

It is a separate process, not a thread, because decoding and batching are Python work
that holds the GIL: in the window's own process every batch made the GUI thread queue for
the interpreter (60-150 ms stalls while scoring 5,000 cells on two cores). Here it has an
interpreter to itself. It is Qt-free; :class:`malaria_gui.gui.worker.ScoringWorker` starts
it, feeds it one job at a time over a pipe and turns what it sends back into Qt signals.
A crash in a decoder now costs this process, not the window: the worker restarts it.

Jobs and answers are the frozen dataclasses below (pickled across the pipe): the worker
sends :class:`LoadModel`, :class:`Reset`, :class:`Score` or :class:`Stop`; the process
answers with :class:`ModelLoading`, :class:`ModelReady`, :class:`ModelFailed`,
:class:`Scanning`, :class:`FolderAdded`, :class:`BatchStarted`, :class:`ChunkReady`,
:class:`FieldImage`, :class:`BatchFinished`, and :class:`JobDone` after every job. A case
reopened from the store sends :class:`MakeThumbnails`, answered by :class:`FieldImage` and
:class:`ThumbnailsReady` chunks. :class:`Explain` (where the model looked, for one row) is answered by :class:`Explained` or
:class:`ExplainFailed`.

Whole smear fields: in a score job each image larger than a cell (by its header) is kept
aside from the stream of cells and, once the cells are scored, goes through
:func:`~malaria_gui.engine.fields.score_fields`, which reads it with
:func:`~malaria_gui.engine.fields.read_image` as ``smear`` does (unless ``Score.field_mode``
forces a reading): a field sends a :class:`FieldImage`, then one row per cell found; a
refused field one row ``not a smear field: <reason>``; an image that is no field and does not
look like one (a large crop, a photo) is scored as one cell after the fields. A field of N cells
adds N - 1 to the run's total (a ``BatchStarted``) so that progress counts rows.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from malaria_gui.engine.labels import path_key

THUMB_SIZE = 128  # made once at full size; the views scale them down to the size the user picks
WAITING = "waiting for a model"  # a row's error while no model is loaded: scored once one loads
FIELD_DISPLAY_SIDE = 1600  # long side of the copy of a field the window shows and the report draws on
# How an image is read (View > Field images): recognised by its content, or forced.
FIELD_AUTO, FIELD_CELLS, FIELD_FIELDS = "auto", "cells", "fields"
BATCH_SIZE = 256  # as the CLI; one batch takes about a quarter of a second, so Cancel acts at once


@dataclass(frozen=True, slots=True)
class Row:
    """One file's outcome as the window stores it (plain data: pickled across the pipe)."""

    path: str
    p_parasitized: float | None
    error: str | None
    truth: str | None
    thumb: bytes | None  # JPEG bytes, THUMB_SIZE square
    warning: str | None = None  # scored, but the image does not look like one cell (engine.cellcheck)
    truth_folder: str | None = None  # the folder name that gave ``truth`` (truth_text counts them)
    # A cell found in a whole smear field (``path`` is the field image): its number in the
    # field (from 1; 0 for a field that could not be counted, whose ``error`` says why), its
    # box (x, y, width, height) and its outline, (N, 2) int32 (x, y), in the field's pixels.
    cell: int | None = None
    box: tuple[int, int, int, int] | None = None
    contour: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the window knows of the loaded model (its card is the JSON beside the file)."""

    name: str
    version: str
    threshold: float  # the card's threshold (or the default when the card names none)
    card: dict
    path: str
    input_size: int

    @property
    def key(self) -> str:
        """Names the model in the settings (the user's threshold is remembered per model)."""
        return f"{self.name}-{self.version}".replace("/", "_")


# ---- jobs: worker -> process ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoadModel:
    path: str | None  # None: the bundled model


@dataclass(frozen=True, slots=True)
class Reset:
    """Forget the files seen this session (the duplicate check starts afresh)."""


@dataclass(frozen=True, slots=True)
class Score:
    generation: int
    paths: tuple[str, ...]
    batch_size: int = BATCH_SIZE
    pause_s: float = 0.0  # after each batch (tests use it to act in the middle of a run)
    field_mode: str = FIELD_AUTO  # FIELD_AUTO, FIELD_CELLS or FIELD_FIELDS


@dataclass(frozen=True, slots=True)
class CheckOOD:
    """Compare the cells scored since the last check with the model's training cells. A job of
    its own, sent once the queue is empty; it reads no file (the scoring pass kept a sample of
    the cells' pixels and features, engine/ood.py OODSample), so it costs ~50 ms."""

    generation: int


@dataclass(frozen=True, slots=True)
class Adapt:
    """Fine-tune ``base_path`` on labelled cells and save it as ``out_path`` (training/adapt.py)."""

    items: tuple[tuple[str, str], ...]  # (path, truth)
    base_path: str | None
    out_path: str
    name: str
    folds: int = 5
    seed: int = 0
    epochs: int | None = None  # None: adapt's default
    # The reviewer's labels on cells of whole fields (engine.field_labels.FieldCellLabel):
    # adapt cuts their crops with the field pipeline. Only what a person labelled.
    field_labels: tuple = ()


@dataclass(frozen=True, slots=True)
class StoredPicture:
    """One image of a case reopened from the store, as its thumbnails are asked for."""

    path: str
    # A field's cells as (number, x, y, w, h, outline or None: (N, 2) points in the field's
    # pixels, stored since schema 3); None: a file of one cell.
    cells: tuple[tuple[int, int, int, int, int, np.ndarray | None], ...] | None
    white_cells: int = 0  # as stored: sent back with the field's picture


@dataclass(frozen=True, slots=True)
class MakeThumbnails:
    """Thumbnails for the rows of a reopened case (the store keeps no pixels) and its fields'
    pictures, from the files still there: each file decoded once (:func:`make_thumbnails`)."""

    generation: int
    images: tuple[StoredPicture, ...]


@dataclass(frozen=True, slots=True)
class Explain:
    """Where the model looked for one row (engine/explain.py): one batch of ~200 occluded
    copies of the cell, tens of ms; answered by :class:`Explained` or :class:`ExplainFailed`."""

    key: str  # the row's key in the window (comes back with the answer)
    path: str
    box: tuple[int, int, int, int] | None = None  # a field cell's box; None: a file of its own
    # Sent while another job runs: answered between that job's batches, with no JobDone of its own.
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Stop:
    pass


# ---- answers: process -> worker --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModelLoading:
    path: str


@dataclass(frozen=True, slots=True)
class ModelReady:
    info: ModelInfo


@dataclass(frozen=True, slots=True)
class ModelFailed:
    message: str


@dataclass(frozen=True, slots=True)
class Scanning:
    generation: int
    found: int


@dataclass(frozen=True, slots=True)
class FolderAdded:
    path: str


@dataclass(frozen=True, slots=True)
class BatchStarted:
    generation: int
    total: int


@dataclass(frozen=True, slots=True)
class ChunkReady:
    generation: int
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class FieldImage:
    """A whole field's display copy (JPEG, long side at most FIELD_DISPLAY_SIDE), sent just
    before the rows of its cells: the window never decodes a field on its own thread."""

    generation: int
    path: str
    width: int  # the original image's size; contours and boxes are in these pixels
    height: int
    jpeg: bytes
    white_cells: int = 0  # counted apart from the red cells (the report says how many)


@dataclass(frozen=True, slots=True)
class ThumbnailsReady:
    """A chunk of a MakeThumbnails job's answer; its fields' FieldImages are sent before it."""

    generation: int
    thumbs: tuple[tuple[str, int | None, bytes], ...]  # (path, cell number or None for a cell file, JPEG)
    missing: tuple[tuple[str, str], ...] = ()  # (path, why no picture: "file missing" or why it cannot be read)
    done: bool = False  # the job's last chunk


@dataclass(frozen=True, slots=True)
class BatchFinished:
    generation: int
    cancelled: bool


@dataclass(frozen=True, slots=True)
class OODChecked:
    """After a score job: do its cells look like the model's training cells (engine/ood.py)?"""

    generation: int
    message: str  # the warning, or "" when they do (or the card cannot tell)


@dataclass(frozen=True, slots=True)
class AdaptProgress:
    stage: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class AdaptDone:
    report_text: str  # format_report's before/after table
    saved_path: str


@dataclass(frozen=True, slots=True)
class AdaptFailed:
    message: str  # for the user, as it stands
    cancelled: bool


@dataclass(frozen=True, slots=True)
class Explained:
    """The cell as the model scored it, with where it looked laid over it (JPEG, long side
    engine.explain.EXPLAIN_SIDE, the crop's own aspect ratio) and its P(Parasitized)."""

    key: str
    jpeg: bytes
    p_parasitized: float
    largest_drop: float = 0.0  # how much hiding the reddest patch lowers P(Parasitized)


@dataclass(frozen=True, slots=True)
class ExplainFailed:
    key: str
    message: str  # for the user, as it stands


@dataclass(frozen=True, slots=True)
class JobDone:
    pass


def make_thumbnail(rgb: np.ndarray, size: int = THUMB_SIZE) -> bytes | None:
    """A small JPEG of an RGB uint8 image (about 2 KB: 20,000 rows stay in tens of MB)."""
    import cv2

    try:
        h, w = rgb.shape[:2]
        interp = cv2.INTER_AREA if h * w > size * size else cv2.INTER_LINEAR
        small = cv2.resize(rgb, (size, size), interpolation=interp)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        return buf.tobytes() if ok else None
    except Exception:  # a thumbnail is a nicety: never let it cost the result
        return None


class Service:
    """The scoring state of one process: the model and the files already seen this session."""

    def __init__(self, send, cancel) -> None:
        self.send = send
        self.cancel = cancel  # a multiprocessing Event the window sets to stop the current job
        self.classifier = None
        self.seen: set[str] = set()
        self.waiting: list[tuple[int, object]] = []  # (generation, ImageItem) listed while no model was loaded
        self.waiting_field_mode = FIELD_AUTO
        self.unchecked: tuple[int | None, object] = (None, None)  # OODSample of the cells scored since the last CheckOOD
        self.poll = lambda: None  # the next message sent while a job runs, or None (serve() sets it)
        self.deferred: list = []  # messages that came in mid-job and wait for it to end

    def answer_waiting(self) -> None:
        """Between the batches of a long job: answer the explanations asked for meanwhile.

        A reviewer pressing W while a folder scores waited for the whole folder (jobs run one
        after the other); an explanation is one batch, so it goes in between two. Anything else
        that comes in waits for the job to end, as it always did."""
        while (message := self.poll()) is not None:
            if isinstance(message, Stop):
                os._exit(0)
            if isinstance(message, Explain) and message.inline:
                self.explain(message)
            else:
                self.deferred.append(message)

    def load(self, path: str | None) -> None:
        from malaria_gui.engine.model import ModelError, load_classifier
        from malaria_gui.resources import default_model_path

        model_path = Path(path) if path is not None else default_model_path()
        self.send(ModelLoading(str(model_path)))
        try:
            classifier = load_classifier(model_path)
        except ModelError as exc:
            self.classifier = None
            self.send(ModelFailed(str(exc)))
            return
        self.classifier = classifier
        self.unchecked = (None, None)  # a sample of another model's features says nothing of this one
        # JAX and Keras leave many long-lived objects; freezing them out of the collector
        # keeps every later collection short.
        gc.collect()
        gc.freeze()
        self.send(ModelReady(ModelInfo(name=classifier.name, version=classifier.version,
                                       threshold=classifier.threshold, card=classifier.card,
                                       path=str(model_path), input_size=classifier.input_size)))
        if self.waiting:  # the files listed as "waiting for a model" are scored now
            generation = self.waiting[-1][0]
            items = [item for g, item in self.waiting if g == generation]
            self.waiting = []
            self._score_items(generation, items, BATCH_SIZE, 0.0, self.waiting_field_mode)

    def reset(self) -> None:
        self.seen.clear()
        self.waiting = []

    def adapt(self, job: Adapt) -> None:
        """Adapt and save a lab model; progress at most every 0.2 s, then done or failed."""
        from malaria_gui.engine.discovery import ImageItem
        from malaria_gui.training.adapt import AdaptCancelled, AdaptError, adapt, format_report, save_lab_model

        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] > 0.2 or done >= total:
                last[0] = now
                self.send(AdaptProgress(stage, done, total))

        items = [ImageItem(Path(path), truth) for path, truth in job.items]
        kwargs = {} if job.epochs is None else {"epochs": job.epochs}
        if job.field_labels:  # only then: a base adapt() without the keyword still adapts files
            kwargs["field_labels"] = list(job.field_labels)
        try:
            result = adapt(items, job.base_path, folds=job.folds, seed=job.seed, progress=progress,
                           cancel=self.cancel, name=job.name, **kwargs)
            saved = save_lab_model(result, job.out_path)
        except AdaptCancelled:
            self.send(AdaptFailed("adaptation cancelled; nothing was saved", True))
            return
        except AdaptError as exc:
            self.send(AdaptFailed(str(exc), False))
            return
        except OSError as exc:
            self.send(AdaptFailed(f"could not save the lab model: {exc.strerror or exc}", False))
            return
        self.send(AdaptDone(format_report(result), str(saved)))

    _explain_field: tuple | None = None  # ((path key, mtime, size), red cells) of the last field explained

    def explain(self, job: Explain) -> None:
        """Where the model looked for one row: a file's pixels prepared as scoring prepares
        them, or a field cell's masked crop found again in its field (the last field's objects
        are kept, so going through one field's cells segments it once)."""
        import cv2

        from malaria_gui.engine.decoding import ImageError, decode
        from malaria_gui.engine.explain import explain_crop, field_cell_crop

        if self.classifier is None:
            self.send(ExplainFailed(job.key, "no model is loaded"))
            return
        try:
            if job.box is None:
                crop = decode(job.path)
            else:
                crop = field_cell_crop(self._field_cells(job.path), job.box)
            shown, p, drop = explain_crop(self.classifier.predict, crop, self.classifier.input_size)
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(shown, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise ImageError("the picture could not be encoded")
        except ImageError as exc:
            self.send(ExplainFailed(job.key, str(exc)))
            return
        except MemoryError:
            self.send(ExplainFailed(job.key, "not enough memory to explain this cell"))
            return
        except Exception as exc:  # one odd cell costs its explanation, never the process
            self.send(ExplainFailed(job.key, f"unexpected error: {type(exc).__name__}: {exc}"))
            return
        self.send(Explained(job.key, buf.tobytes(), float(p), drop))

    def _field_cells(self, path: str) -> list:
        """The red cells of a field, found as scoring found them (engine.fields.find_objects);
        the last field's are kept while the file is unchanged."""
        from malaria_gui.engine.decoding import ImageError, decode
        from malaria_gui.engine.fields import find_objects

        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise ImageError("file not found") from None
        except OSError as exc:
            raise ImageError(f"cannot read the file: {exc.strerror or exc}") from None
        stamp = (path_key(path), stat.st_mtime_ns, stat.st_size)
        kept = self._explain_field
        if kept is not None and kept[0] == stamp:
            return kept[1]
        cells = find_objects(decode(path)).cells
        self._explain_field = (stamp, cells)
        return cells

    def _scan(self, generation: int, paths: list[str]) -> list:
        from malaria_gui.engine.discovery import iter_images

        for path in paths:  # stat() here, not on the GUI thread: 20,000 dropped files or a slow share
            if os.path.isdir(path):
                self.send(FolderAdded(os.path.realpath(path)))
        items = []
        last = time.monotonic()
        for item in iter_images(paths):
            if self.cancel.is_set():
                self._forget(items)  # never listed: a later add finds them again
                return []
            key = path_key(item.path)
            if key in self.seen:
                continue
            self.seen.add(key)
            items.append(item)
            now = time.monotonic()
            if now - last > 0.2:
                self.send(Scanning(generation, len(items)))
                last = now
        return items

    def _forget(self, items) -> None:
        for item in items:
            self.seen.discard(path_key(item.path))

    @staticmethod
    def _row(item, p: float | None = None, error: str | None = None, thumb: bytes | None = None,
             warning: str | None = None) -> Row:
        return Row(str(item.path), p, error, item.truth, thumb, warning, item.truth_folder)

    def score(self, job: Score) -> None:
        generation = job.generation
        items = self._scan(generation, list(job.paths))
        cancel = self.cancel
        if cancel.is_set() or not items:
            if not items and not cancel.is_set():
                self.send(BatchStarted(generation, 0))
            self.send(BatchFinished(generation, cancel.is_set()))
            return
        if self.classifier is None:
            # No model: list every file as waiting; they are scored once a model loads (and
            # stay "seen", so adding them again meanwhile makes no second row).
            self.send(BatchStarted(generation, len(items)))
            self.waiting += [(generation, it) for it in items]
            self.waiting_field_mode = job.field_mode
            rows = [self._row(it, error=WAITING) for it in items]
            for start in range(0, len(rows), 1000):
                self.send(ChunkReady(generation, rows[start:start + 1000]))
            self.send(BatchFinished(generation, False))
            return
        self._score_items(generation, items, job.batch_size, job.pause_s, job.field_mode)

    def _score_items(self, generation: int, items: list, batch_size: int, pause_s: float,
                     field_mode: str = FIELD_AUTO) -> None:
        from malaria_gui.engine.export import NOT_SCORED
        from malaria_gui.engine.ood import OODSample
        from malaria_gui.engine.scorer import score

        cancel = self.cancel
        if self.unchecked[0] != generation:  # one bounded sample per run, however many jobs it takes
            self.unchecked = (generation, OODSample())
        self.send(BatchStarted(generation, len(items)))
        rows: list[Row] = []
        by_path = {str(it.path): it for it in items}

        def to_rows(pixels: np.ndarray, good: list[int], results: list) -> None:
            """Thumbnails from the pixels the model was given: nothing is decoded twice."""
            thumbs: list[bytes | None] = [None] * len(results)
            for k, i in enumerate(good):
                thumbs[i] = make_thumbnail(pixels[k])
            rows[:] = [self._row(by_path.get(str(r.path), r), r.p_parasitized, r.error, t, r.warning)
                       for r, t in zip(results, thumbs)]
            if pause_s:
                time.sleep(pause_s)

        sent: set[str] = set()  # the files that got their rows (a cancel leaves the rest)
        fields: list = []  # filled while the cells stream past: the field-sized images set aside

        def stream(cells) -> None:
            for _ in score(cells, self.classifier, batch_size=batch_size, cancel=cancel, on_batch=to_rows,
                           ood=self.unchecked[1]):
                self.send(ChunkReady(generation, list(rows)))
                sent.update(r.path for r in rows)
                rows.clear()
                if cancel.is_set():
                    break
                self.answer_waiting()

        stream(items if field_mode == FIELD_CELLS else _set_fields_aside(items, field_mode, fields))
        if fields and not cancel.is_set():
            answered, as_cells = self._score_fields(generation, fields, pause_s, field_mode == FIELD_AUTO)
            sent.update(answered)
            if as_cells and not cancel.is_set():  # large images that are no field: one cell each
                stream([by_path[p] for p in as_cells])
        rest = [it for it in items if str(it.path) not in sent]
        if rest:
            # Cancelled: the files not reached stay in the session as rows "not scored
            # (cancelled)" (an export lists every input) and are forgotten here, so adding
            # the folder again scores exactly them.
            self._forget(rest)
            unscored = [self._row(it, error=NOT_SCORED) for it in rest]
            for start in range(0, len(unscored), 1000):
                self.send(ChunkReady(generation, unscored[start:start + 1000]))
        self.send(BatchFinished(generation, cancel.is_set()))

    def check_ood(self, generation: int) -> None:
        """Judge the sample the scoring pass kept of the cells scored since the last check."""
        pending, sample = self.unchecked
        self.unchecked = (None, None)
        if pending != generation or sample is None or self.classifier is None:
            return
        try:
            check = sample.check(self.classifier.card)
        except Exception:  # a nicety: a failed check must never cost the results
            return
        self.send(OODChecked(generation, (check.message() or "") if check is not None else ""))

    def _score_fields(self, generation: int, items: list, pause_s: float = 0.0,
                      automatic: bool = False) -> tuple[set[str], list[str]]:
        """Each field: its display copy, then one row per cell found (or one error row: a
        refused field's reads ``not a smear field: <reason>``, as in ``smear``'s CSV).
        Returns the fields answered for (a cancel leaves the others unscored) and, when
        ``automatic``, the images that are no field (engine.fields.read_image) to score as cells."""
        from malaria_gui.engine.fields import READ_CELL, score_fields

        answered: set[str] = set()
        as_cells: list[str] = []
        for result in score_fields([it.path for it in items], self.classifier, keep_crops=True,
                                   keep_contours=True, cancel=self.cancel, automatic=automatic):
            path = str(result.path)
            if result.reading == READ_CELL:
                as_cells.append(path)
                continue
            if result.ok:
                image = field_display_copy(path)
                if image is not None:
                    self.send(FieldImage(generation, path, *image, white_cells=result.white_cells))
                rows = [Row(path, c.p_parasitized, None, None, make_thumbnail(c.crop), cell=c.index,
                            box=(c.x, c.y, c.width, c.height), contour=c.contour) for c in result.cells]
            else:
                rows = [Row(path, None, result.error, None, None, cell=0)]
            if len(rows) > 1:
                self.send(BatchStarted(generation, len(rows) - 1))  # the field counted once; its cells are rows
            self.send(ChunkReady(generation, rows))
            answered.add(path)
            if pause_s:
                time.sleep(pause_s)
            if self.cancel.is_set():
                break
            self.answer_waiting()
        return answered, as_cells


def _field_sized(path) -> bool:
    """Whether an image is large enough to be a field, from its header (no pixels decoded:
    a cell costs nothing here); decoded only when the header does not say. A file that
    cannot be read is left to the cell scorer, which reports why."""
    from malaria_gui.engine.decoding import decode, header_size
    from malaria_gui.engine.fields import field_sized

    try:
        size = header_size(path)
        if size is None:
            rgb = decode(path)
            size = (rgb.shape[1], rgb.shape[0])
        return field_sized(*size)
    except Exception:  # unreadable, or a decoder bug: the cell scorer says why
        return False


def _set_fields_aside(items, mode: str, fields: list):
    """The items to score as cells, lazily (on the scorer's reading thread); the field-sized
    ones go to ``fields``, where engine.fields.read_image decides once, as ``smear`` does
    (those it reads as one cell come back to the cell scorer)."""
    for item in items:
        if mode == FIELD_FIELDS or _field_sized(item.path):
            fields.append(item)
        else:
            yield item


def field_display_copy(path: str, side: int = FIELD_DISPLAY_SIDE) -> tuple[int, int, bytes] | None:
    """(width, height, JPEG of the field with its long side at most ``side``), or None."""
    from malaria_gui.engine.decoding import decode

    try:
        rgb = decode(path)
    except Exception:  # the cells are counted anyway; only the picture is missing
        return None
    jpeg = display_copy(rgb, side)
    return None if jpeg is None else (rgb.shape[1], rgb.shape[0], jpeg)


# ---- a case reopened from the store: its thumbnails, made here -------------------------
# The store keeps paths, boxes, P and decisions, never pixels (a thumbnail of every cell of a
# thousand slides would be tens of GB), so a reopened slide's rows arrive without pictures.
# These are made afterwards from the files still there, each decoded once for all its cells:
# a field's cells are cut by their stored outlines (box crops for a store older than schema
# 3), without segmenting the field again, and its display copy goes with them. A file gone or no longer readable is said so, never blank.
THUMBNAIL_CHUNK = 256  # thumbnails per answer: a field or two, a few ms for the window to take in
FILE_MISSING = "file missing"


def display_copy(rgb: np.ndarray, side: int = FIELD_DISPLAY_SIDE) -> bytes | None:
    """A field's JPEG with its long side at most ``side``, from pixels already decoded."""
    import cv2

    try:
        height, width = rgb.shape[:2]
        scale = min(1.0, side / max(height, width))
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                             interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
        return buf.tobytes() if ok else None
    except Exception:  # only the picture is missing; the thumbnails still come
        return None


def box_crop(rgb: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray | None:
    """The pixels of a cell's box, clipped to the image; None when nothing of it is inside."""
    h, w = rgb.shape[:2]
    left, top = max(0, int(x)), max(0, int(y))
    right, bottom = min(w, int(x) + int(width)), min(h, int(y) + int(height))
    if right <= left or bottom <= top:
        return None
    return rgb[top:bottom, left:right]


def masked(crop: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """The crop black outside ``outline`` (points in the crop's pixels): the crop the model saw."""
    import cv2

    inside = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(inside, [outline.reshape(-1, 1, 2).astype(np.int32)], 1)
    out = crop.copy()
    out[inside == 0] = 0
    return out


def make_thumbnails(job: MakeThumbnails, send, cancel, between=None) -> None:
    """Answer ``job``: for each field its FieldImage, then its cells' thumbnails in chunks of
    about :data:`THUMBNAIL_CHUNK`; the last chunk has ``done``. A cancel (the window was
    cleared) stops it between files, with no ``done``. ``between`` is called after each file
    (Service.answer_waiting)."""
    from malaria_gui.engine.decoding import decode

    thumbs: list[tuple[str, int | None, bytes]] = []
    missing: list[tuple[str, str]] = []

    def flush(done: bool = False) -> None:
        send(ThumbnailsReady(job.generation, tuple(thumbs), tuple(missing), done))
        thumbs.clear()
        missing.clear()

    for image in job.images:
        if cancel.is_set():
            return
        if len(thumbs) + len(missing) >= THUMBNAIL_CHUNK:
            flush()
        path = image.path
        if not os.path.exists(path):
            missing.append((path, FILE_MISSING))
            continue
        try:
            rgb = decode(path)
        except Exception as exc:  # changed or damaged since it was scored: its rows stay
            missing.append((path, f"cannot be read now: {exc}"))
            continue
        if image.cells is None:  # a file of one cell
            thumb = make_thumbnail(rgb)
            if thumb is not None:
                thumbs.append((path, None, thumb))
        else:
            jpeg = display_copy(rgb)
            if jpeg is not None:
                send(FieldImage(job.generation, path, rgb.shape[1], rgb.shape[0], jpeg,
                                white_cells=image.white_cells))
            for number, x, y, width, height, outline in image.cells:
                crop = box_crop(rgb, x, y, width, height)
                if crop is not None and outline is not None:
                    crop = masked(crop, outline - np.array([max(0, int(x)), max(0, int(y))], np.int32))
                thumb = make_thumbnail(crop) if crop is not None else None
                if thumb is not None:
                    thumbs.append((path, number, thumb))
        del rgb
        if between is not None:
            between()
    flush(done=True)


_prestarted: tuple | None = None  # (context, process, conn, cancel) from prestart(), until a worker adopts it


def prestart() -> None:
    """Start the scoring process now, before Qt is imported and the window is built: it then
    imports Keras (~1 s, the longest step to the first result) while the window is being
    made, instead of from when the worker thread got to start it (~0.6 s after launch).
    :class:`malaria_gui.gui.worker.ScoringWorker` adopts it (:func:`adopt_prestarted`)."""
    global _prestarted
    if _prestarted is not None:
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # as the worker's: never fork
    cancel = context.Event()
    parent_end, child_end = context.Pipe()
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")  # see ScoringWorker._ensure_process
    process = context.Process(target=serve, args=(child_end, cancel), name="malaria-gui-scoring", daemon=True)
    # As the worker does: the process starts with SIGINT and SIGTERM blocked (serve() ignores
    # them, then unblocks), so a Ctrl+C during its start-up reaches only the window.
    blocking = hasattr(signal, "pthread_sigmask")
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}) if blocking else None
    try:
        process.start()
    finally:
        if blocking:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    child_end.close()
    _prestarted = (context, process, parent_end, cancel)


def adopt_prestarted() -> tuple | None:
    """The process :func:`prestart` started, once (context, process, conn, cancel), or None."""
    global _prestarted
    early, _prestarted = _prestarted, None
    return early


def _warm_keras() -> None:
    """Import Keras before the first job arrives: the load that follows finds it imported."""
    try:
        from malaria_gui.engine.model import _import_keras

        _import_keras()
    except Exception:  # the load reports any real problem, in words
        pass


def serve(conn, cancel) -> None:
    """The process's main loop: one job at a time from ``conn``, each answered last by JobDone."""
    try:
        os.nice(10)  # the window's process wins the CPU when it needs it
    except (AttributeError, OSError):
        pass
    # Ctrl+C in the window's terminal reaches this process too: the window decides (it quits
    # and sends Stop), so no KeyboardInterrupt traceback here. (The worker also blocks these
    # signals in the thread that starts this process, which covers its start-up.)
    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    def send(answer) -> None:
        try:
            conn.send(answer)
        except (OSError, EOFError, ValueError):  # the window is gone (BrokenPipeError): end quietly
            os._exit(0)

    if not conn.poll():  # nothing asked yet (a prestarted process): spend the wait importing Keras
        _warm_keras()
    service = Service(send, cancel)

    def poll():
        try:
            return conn.recv() if conn.poll() else None
        except (EOFError, OSError):  # the window is gone
            os._exit(0)

    service.poll = poll
    while True:
        try:
            job = service.deferred.pop(0) if service.deferred else conn.recv()
        except (EOFError, OSError):  # the window is gone
            return
        if isinstance(job, Stop):
            conn.close()
            os._exit(0)  # nothing to flush; skips tearing down JAX, so the window closes at once
        try:
            if isinstance(job, LoadModel):
                service.load(job.path)
            elif isinstance(job, Reset):
                service.reset()
            elif isinstance(job, Score):
                service.score(job)
            elif isinstance(job, CheckOOD):
                service.check_ood(job.generation)
            elif isinstance(job, Adapt):
                service.adapt(job)
            elif isinstance(job, MakeThumbnails):
                make_thumbnails(job, send, cancel, service.answer_waiting)
            elif isinstance(job, Explain):
                service.explain(job)
                if job.inline:  # asked mid-job, and that job ended first: it has no JobDone
                    continue
        except Exception as exc:  # the process must survive anything a job does
            send(ModelFailed(f"unexpected error: {type(exc).__name__}: {exc}"))
        send(JobDone())

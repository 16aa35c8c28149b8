"""Batch scoring: files -> decoded batches -> model -> per-file results, streamed.

Decoding runs on a small thread pool (OpenCV releases the GIL) and fills a bounded queue
while the calling thread runs the model, so the two overlap and memory stays flat however
many files there are: at most ``prefetch`` batches of pixels exist at once.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from malaria_gui.engine.cellcheck import single_cell_warning
from malaria_gui.engine.decoding import ImageError, decode
from malaria_gui.engine.discovery import ImageItem
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.engine.model import Classifier
from malaria_gui.engine.ood import OODSample
from malaria_gui.engine.preprocess import prepare

ProgressCallback = Callable[[int, int | None], None]
# on_batch(pixels, good, results): ``pixels`` holds the decoded, preprocessed images of the
# files that could be read, ``pixels[k]`` being the one of ``results[good[k]]``. Called once
# per batch before it is yielded, so a caller can reuse what was decoded (the window makes
# its thumbnails from it) without decoding twice.
BatchHook = Callable[[np.ndarray, list[int], list["Result"]], None]


@dataclass(slots=True)
class Result:
    """The outcome for one file: a probability, or the reason it could not be scored."""

    path: Path
    p_parasitized: float | None
    error: str | None = None
    truth: str | None = None
    warning: str | None = None  # scored, but the image does not look like one cell (engine.cellcheck)
    # A cell found in a whole field: its number in the field (0: the field could not be
    # counted) and its box (x, y, width, height) in the field's pixels; None for a plain file.
    cell: int | None = None
    box: tuple[int, int, int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def prediction(self, threshold: float) -> str | None:
        if self.p_parasitized is None:
            return None
        return PARASITIZED if self.p_parasitized >= threshold else UNINFECTED


def load_for_model(path: Path, size: int) -> np.ndarray:
    """Decode and preprocess one file as training does; raises ImageError with a user-facing reason."""
    return prepare(decode(path), size)


def load_checked(path: Path, size: int) -> tuple[np.ndarray, str | None]:
    """As :func:`load_for_model`, plus the single-cell check on the full-size decoded image."""
    image = decode(path)
    return prepare(image, size), single_cell_warning(image)


def _load_safely(path: Path, size: int) -> tuple[np.ndarray, str | None] | str:
    try:
        return load_checked(path, size)
    except ImageError as exc:
        return str(exc)
    except MemoryError:
        return "not enough memory to decode this image"
    except Exception as exc:  # a decoder bug must cost one file, never the batch
        return f"unexpected error while reading: {type(exc).__name__}: {exc}"


def load_or_reason(path: Path, size: int) -> np.ndarray | str:
    """Pixels ready for the model, or the user-facing reason the file cannot be read (never raises)."""
    loaded = _load_safely(path, size)
    return loaded if isinstance(loaded, str) else loaded[0]


_DONE = object()
DECODE_SLICE = 16  # files per decode task


def score(
    items: Iterable[ImageItem],
    classifier: Classifier,
    *,
    batch_size: int = 256,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    decode_workers: int = 2,
    prefetch: int = 2,
    on_batch: BatchHook | None = None,
    ood: OODSample | None = None,
) -> Iterator[list[Result]]:
    """Yield results in input order, one list per batch, until done or ``cancel`` is set.

    Every input item gets exactly one result unless scoring is cancelled; results already
    yielded are final. ``progress(done, total)`` is called after each batch (``total`` is
    None when ``items`` has no length); ``on_batch`` (see :data:`BatchHook`) before each batch
    is yielded. ``ood``, if given, is offered every scored cell (its pixels and the features
    of the same forward pass) for the out-of-distribution check: ``ood.check(card)`` after
    the run reads no file and runs no network (~50 ms: the sample's colour statistics).
    """
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    cancel = cancel or threading.Event()
    stop = threading.Event()
    size = classifier.input_size
    ready: queue.Queue = queue.Queue(maxsize=max(1, prefetch))

    def put(entry) -> bool:
        while not (stop.is_set() or cancel.is_set()):
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with ThreadPoolExecutor(max_workers=decode_workers, thread_name_prefix="decode") as pool:
                iterator = iter(items)
                while not (stop.is_set() or cancel.is_set()):
                    chunk = list(itertools.islice(iterator, batch_size))
                    if not chunk:
                        break
                    # Slices, not one task per file: each task's Future costs GIL-held Python
                    # that the window's thread would otherwise wait on.
                    slices = [chunk[i:i + DECODE_SLICE] for i in range(0, len(chunk), DECODE_SLICE)]
                    loaded = [x for part in pool.map(lambda part: [_load_safely(it.path, size) for it in part], slices)
                              for x in part]
                    good = [i for i, x in enumerate(loaded) if not isinstance(x, str)]
                    batch = np.empty((len(good), size, size, 3), dtype=np.uint8)
                    for row, i in enumerate(good):
                        batch[row] = loaded[i][0]
                    errors = {i: x for i, x in enumerate(loaded) if isinstance(x, str)}
                    warnings = {i: loaded[i][1] for i in good if loaded[i][1]}
                    if not put((chunk, batch, good, errors, warnings)):
                        break
        except BaseException as exc:  # surfaced to the consumer instead of dying silently
            put(exc)
        finally:
            put(_DONE)

    producer = threading.Thread(target=produce, name="score-producer", daemon=True)
    producer.start()
    done = 0
    try:
        while True:
            entry = _get(ready, cancel)
            if entry is _DONE or entry is None:
                break
            if isinstance(entry, BaseException):
                raise entry
            chunk, batch, good, errors, warnings = entry
            if ood is None:
                probs = classifier.predict(batch)
            else:
                probs, feats = classifier.predict_with_features(batch)
                ood.add(batch, feats)
            p_by_index = dict(zip(good, probs.tolist()))
            results = [
                Result(item.path, p_by_index.get(i), errors.get(i), item.truth, warnings.get(i))
                for i, item in enumerate(chunk)
            ]
            if on_batch is not None:
                on_batch(batch, good, results)
            done += len(results)
            yield results
            if progress is not None:
                progress(done, total)
            if cancel.is_set():
                break
    finally:
        stop.set()
        producer.join()


def _get(ready: queue.Queue, cancel: threading.Event):
    """The next entry, or None once cancelled (polled so Cancel never waits on a slow batch)."""
    while not cancel.is_set():
        try:
            return ready.get(timeout=0.1)
        except queue.Empty:
            continue
    return None


def score_all(items: Iterable[ImageItem], classifier: Classifier, **kwargs) -> list[Result]:
    """Every result in one list (convenience for small sets and tests)."""
    return [r for chunk in score(items, classifier, **kwargs) for r in chunk]

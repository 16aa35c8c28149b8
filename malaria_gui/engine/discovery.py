"""Finding the images in what the user dropped or named: files and folders, recursively.

Order is stable (folders walked in sorted order, names compared case-insensitively), hidden
files and folders are skipped, every file is listed once, and symlink loops are survived by
remembering each folder's (device, inode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from malaria_gui.engine.labels import label_from_path, path_key

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".bmp", ".dib", ".webp"}
)


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One file to score, and its true class when the folder it came from says so."""

    path: Path
    truth: str | None = None


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in {"__MACOSX", "$RECYCLE.BIN", "System Volume Information"}


def _sort_key(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def iter_images(paths: Iterable[str | os.PathLike[str]]) -> Iterator[ImageItem]:
    """Yield every image under ``paths``, lazily, so a GUI worker can stream a huge folder.

    A file named explicitly is yielded whatever its extension (the decoder then says why it
    cannot be read); inside folders only image extensions count. A path that does not exist
    is yielded too, so the user sees a per-file error for it instead of silence.
    """
    seen_files: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()

    def emit(path: Path, root: Path | None) -> Iterator[ImageItem]:
        key = path_key(path)
        if key in seen_files:
            return
        seen_files.add(key)
        yield ImageItem(path, label_from_path(path, root))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, path, seen_dirs, emit)
        else:
            yield from emit(path, None)


def _walk(folder: Path, root: Path, seen_dirs: set[tuple[int, int]], emit) -> Iterator[ImageItem]:
    try:
        stat = folder.stat()
    except OSError:
        return
    ident = (stat.st_dev, stat.st_ino)
    if ident in seen_dirs:
        return
    seen_dirs.add(ident)
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: _sort_key(e.name))
    except OSError:
        return
    subdirs = []
    for entry in entries:
        if _hidden(entry.name):
            continue
        try:
            if entry.is_dir():
                subdirs.append(entry)
            elif is_image_name(entry.name):
                # Broken links and special files too: the decoder gives each a clear error.
                yield from emit(Path(entry.path), root)
        except OSError:
            continue
    for entry in subdirs:
        yield from _walk(Path(entry.path), root, seen_dirs, emit)


def find_images(paths: Iterable[str | os.PathLike[str]]) -> list[ImageItem]:
    return list(iter_images(paths))


def is_labelled(items: Iterable[ImageItem]) -> bool:
    """True when at least one item has a known class (the set gets metrics)."""
    return any(item.truth is not None for item in items)

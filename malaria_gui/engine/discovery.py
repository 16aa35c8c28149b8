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

from malaria_gui.engine.labels import FolderTruth, path_key

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".bmp", ".dib", ".webp"}
)


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One file to score, and its true class when a folder above it says so by the truth rule."""

    path: Path
    truth: str | None = None
    truth_folder: str | None = None  # the name of the folder that gave ``truth``, e.g. "Parasitized"


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in {"__MACOSX", "$RECYCLE.BIN", "System Volume Information"}


def _sort_key(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def iter_images(paths: Iterable[str | os.PathLike[str]], *, truth: bool = True) -> Iterator[ImageItem]:
    """Yield every image under ``paths``, lazily, so a GUI worker can stream a huge folder.

    ``truth=False`` gives no true labels at all (``classify --no-truth``, the window's toggle);
    otherwise folder names give them by the rule in :mod:`malaria_gui.engine.labels`.

    A file named explicitly is yielded whatever its extension (the decoder then says why it
    cannot be read); inside folders only image extensions count. A path that does not exist
    is yielded too, so the user sees a per-file error for it instead of silence.
    """
    seen_files: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()
    rule = FolderTruth()

    def emit(path: Path, root: Path | None) -> Iterator[ImageItem]:
        key = path_key(path)
        if key in seen_files:
            return
        seen_files.add(key)
        found = rule.source(path, root) if truth else None
        yield ImageItem(path, found[0], found[1].name) if found else ImageItem(path)

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


def find_images(paths: Iterable[str | os.PathLike[str]], *, truth: bool = True) -> list[ImageItem]:
    return list(iter_images(paths, truth=truth))


def truth_sources(items: Iterable[ImageItem]) -> dict[str, int]:
    """How many files each labelling folder name gave a true label to, in first-seen order."""
    counts: dict[str, int] = {}
    for item in items:
        if item.truth_folder is not None:
            counts[item.truth_folder] = counts.get(item.truth_folder, 0) + 1
    return counts


def truth_text(items: Iterable[ImageItem]) -> str:
    """One line saying where the true labels came from, for the terminal and the window.

    e.g. "true labels from folder names: Parasitized/ 150, Uninfected/ 150".
    """
    counts = truth_sources(items)
    if not counts:
        return "no true labels (no folder named Parasitized or Uninfected; see README 'True labels')"
    return "true labels from folder names: " + ", ".join(f"{name}/ {n}" for name, n in counts.items())


def is_labelled(items: Iterable[ImageItem]) -> bool:
    """True when at least one item has a known class (the set gets metrics)."""
    return any(item.truth is not None for item in items)

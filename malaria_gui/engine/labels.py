"""Class names, their order and the folder names that mean them: the one place for both.

Convention (kept from the original notebook, which used Keras' alphabetical folder order):
class index 0 = Parasitized, 1 = Uninfected. The network's single sigmoid output is the
probability of class 1 (Uninfected); the engine turns it into ``p_parasitized`` in one
place (:mod:`malaria_gui.engine.model`) and every result, export and metric speaks of the
probability of Parasitized, the class a technician cares about.
"""

from __future__ import annotations

import os
from pathlib import Path

PARASITIZED = "Parasitized"
UNINFECTED = "Uninfected"
CLASS_NAMES: tuple[str, str] = (PARASITIZED, UNINFECTED)

# A cell is Parasitized when P(Parasitized) >= the threshold; this one applies only when a
# model card names none (the card's, chosen on validation patients, wins).
DEFAULT_THRESHOLD = 0.5

# One colour per class wherever a class is shown (table, gallery, preview, summary, report).
CLASS_COLOURS: dict[str, str] = {PARASITIZED: "#c0392b", UNINFECTED: "#2e86c1"}
ERROR_COLOUR = "#7f8c8d"  # files that could not be read

# A whole field refused as no smear: the file was read, so it is not "unreadable". Here, not
# in engine.fields, so that the window's views tell one from the other without importing it.
NOT_A_FIELD = "not a smear field"


def refusal(reason: str) -> str:
    """The words of a refused field, in the window and in ``smear``'s CSV: ``not a smear field: <reason>``."""
    return f"{NOT_A_FIELD}: {reason}"


def is_refusal(error: str | None) -> bool:
    """Whether a row's error is a field refused as no smear (not a file that could not be read)."""
    return bool(error) and error.startswith(NOT_A_FIELD + ": ")

# The truth rule (closed: no other folder name ever gives a true label; README "True labels").
# Exact class names and their spellings always name the class.
_EXACT: dict[str, str] = {"parasitized": PARASITIZED, "parasitised": PARASITIZED, "uninfected": UNINFECTED}
# Looser words count only when a folder naming the opposite class sits beside them (same
# parent folder): "positive" alone may be a project, "positive" next to "negative" is a split.
_LOOSE: dict[str, str] = {
    **{name: PARASITIZED for name in ("infected", "positive")},
    **{name: UNINFECTED for name in ("non-infected", "noninfected", "not-infected", "healthy", "negative",
                                     "normal")},
}
# Never a label, however they sit: project-like or ambiguous names ("malaria", "parasite",
# "clean", "pos", "neg"...) are simply not in either table.
EXACT_FOLDER_NAMES: tuple[str, ...] = tuple(_EXACT)
PAIRED_FOLDER_NAMES: tuple[str, ...] = tuple(_LOOSE)


def label_for_folder(name: str) -> str | None:
    """The class a folder name can stand for (case-insensitive; exact or paired word), else None.

    Says nothing about the beside rule: :class:`FolderTruth` applies that to real folders.
    """
    key = name.strip().lower()
    return _EXACT.get(key) or _LOOSE.get(key)


def is_exact_name(name: str) -> bool:
    """True for the class names and spellings that label on their own."""
    return name.strip().lower() in _EXACT


def _opposite(label: str) -> str:
    return UNINFECTED if label == PARASITIZED else PARASITIZED


class FolderTruth:
    """Applies the truth rule to real folders, remembering each folder's answer.

    A folder with an exact class name labels what is under it; a paired word does so only
    when a sibling folder (same parent) names the opposite class, exactly or by a paired word.
    """

    def __init__(self) -> None:
        self._labels: dict[Path, str | None] = {}

    def folder_label(self, folder: Path) -> str | None:
        if folder in self._labels:
            return self._labels[folder]
        label = label_for_folder(folder.name)
        if label is not None and not is_exact_name(folder.name):
            label = label if _opposite(label) in self._sibling_labels(folder) else None
        self._labels[folder] = label
        return label

    @staticmethod
    def _sibling_labels(folder: Path) -> set[str]:
        found = set()
        try:
            with os.scandir(folder.parent) as it:
                for entry in it:
                    if entry.name != folder.name and entry.is_dir():
                        label = label_for_folder(entry.name)
                        if label is not None:
                            found.add(label)
        except OSError:
            pass
        return found

    def source(self, path: Path, root: Path | None = None) -> tuple[str, Path] | None:
        """(class, the folder that says so) for ``path``, not looking above ``root``; else None.

        ``root`` is the folder the user dropped (its own name counts). With no root only the
        file's own folder is looked at.
        """
        for parent in path.parents:
            label = self.folder_label(parent)
            if label is not None:
                return label, parent
            if root is None or parent == root or parent == parent.parent:
                return None
        return None


def label_from_path(path: Path, root: Path | None = None) -> str | None:
    """The class of the nearest ancestor folder that names one by the truth rule, else None."""
    found = FolderTruth().source(path, root)
    return None if found is None else found[0]


def class_index(label: str) -> int:
    return CLASS_NAMES.index(label)


def path_key(path: str | os.PathLike[str]) -> str:
    """The key under which two spellings of one file are the same file (absolute, case-folded
    where the file system ignores case): discovery and the window's duplicate check use it."""
    return os.path.normcase(os.path.abspath(path))

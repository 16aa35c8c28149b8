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

_ALIASES: dict[str, str] = {
    name: PARASITIZED
    for name in ("parasitized", "parasitised", "infected", "positive", "pos", "malaria", "parasite")
}
_ALIASES.update(
    {
        name: UNINFECTED
        for name in ("uninfected", "healthy", "negative", "neg", "normal", "noninfected", "non-infected", "clean")
    }
)


def label_for_folder(name: str) -> str | None:
    """The class a folder name stands for (case-insensitive, common aliases), else None."""
    return _ALIASES.get(name.strip().lower())


def label_from_path(path: Path, root: Path | None = None) -> str | None:
    """The class of the nearest ancestor folder named for one, not looking above ``root``.

    ``root`` is the folder the user dropped (its own name counts). With no root only the
    file's own folder is looked at.
    """
    parents = path.parents
    for parent in parents:
        label = label_for_folder(parent.name)
        if label is not None:
            return label
        if root is None or parent == root or parent == parent.parent:
            return None
    return None


def class_index(label: str) -> int:
    return CLASS_NAMES.index(label)


def path_key(path: str | os.PathLike[str]) -> str:
    """The key under which two spellings of one file are the same file (absolute, case-folded
    where the file system ignores case): discovery and the window's duplicate check use it."""
    return os.path.normcase(os.path.abspath(path))

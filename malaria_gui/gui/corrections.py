"""A reviewer's true labels, as undoable commands on the results model.

Corrections are kept in ``ResultsModel.corrections``, keyed by the engine's path key
(:func:`malaria_gui.engine.labels.path_key`), not by row: rows move when sorted and are
rebuilt when the same files are scored again (another model), and a correction must follow
its file through both. A correction equal to the folder's label is no correction and is
dropped. Each change is one :class:`SetTruth` on a ``QUndoStack``, so Ctrl+Z takes back a
whole multi-selection at once.

The callback is told each changed key's decision, as a reviewer made it (the label; undo:
the label the key had before, None for none), so an open case appends it to the store
(``case_recorder``): undo is a new decision there, never an erased one.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from malaria_gui.gui.results_model import ResultsModel

_MISSING = object()  # "this file had no correction" (None is a correction: the label cleared)


class SetTruth(QUndoCommand):
    """Set (or clear, with ``label=None``) the true label of some rows' files."""

    def __init__(self, model: ResultsModel, rows: list[int], label: str | None,
                 changed: Callable[[dict[str, str | None]], None]) -> None:
        super().__init__()
        # Weak: the stack (a child of the session) owns this command; strong references back
        # to the session would make a cycle through C++ that Python's collector cannot see.
        self._model = weakref.ref(model)
        self._changed = weakref.WeakMethod(changed)
        self._before: dict[str, object] = {}
        self._after: dict[str, object] = {}
        for row in rows:
            key = model.key(row)
            if key in self._before:
                continue
            self._before[key] = model.corrections.get(key, _MISSING)
            self._after[key] = _MISSING if label == model.folder_truth(row) else label
        self._decided_after = dict.fromkeys(self._before, label)
        self._decided_before = {k: None if v is _MISSING else v for k, v in self._before.items()}  # type: ignore[misc]
        what = label or "no label"
        self.setText(f"mark {len(self._before)} cell{'s' if len(self._before) != 1 else ''} as {what}")

    def is_noop(self) -> bool:
        return self._before == self._after

    def redo(self) -> None:
        self._apply(self._after, self._decided_after)

    def undo(self) -> None:
        self._apply(self._before, self._decided_before)

    def _apply(self, values: dict[str, object], decided: dict[str, str | None]) -> None:
        model, changed = self._model(), self._changed()
        if model is None or changed is None:
            return
        corrections = model.corrections
        for key, value in values.items():
            if value is _MISSING:
                corrections.pop(key, None)
            else:
                corrections[key] = value  # type: ignore[assignment]
        model.apply_corrections(set(values))
        changed(decided)

"""Review and correct: the actions that set the true label of the selected cells.

P marks the selection Parasitized, U Uninfected, 0 clears the label; each is one step on the
session's undo stack (Ctrl+Z, Ctrl+Shift+Z / Ctrl+Y). The single-key shortcuts only act while
the focus is in a widget the actions were installed on (the table, the gallery, the
preview), so typing a 0 in the threshold box never clears a label.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.session import Session


class ReviewActions(QObject):
    """The mark/clear/undo/redo actions of one window; ``selected_rows`` gives source rows."""

    def __init__(self, session: Session, selected_rows: Callable[[], list[int]], parent=None) -> None:
        super().__init__(parent)
        self._session = session
        self._selected_rows = selected_rows
        self.mark_parasitized = self._mark_action(f"Mark as &{PARASITIZED}", "P", PARASITIZED)
        self.mark_uninfected = self._mark_action(f"Mark as &{UNINFECTED}", "U", UNINFECTED)
        self.clear_truth = self._mark_action("&Clear true label", "0", None)
        stack = session.undo_stack
        self.undo = stack.createUndoAction(self, "&Undo")
        self.undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo = stack.createRedoAction(self, "&Redo")
        self.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.marks = [self.mark_parasitized, self.mark_uninfected, self.clear_truth]

    def _mark_action(self, text: str, key: str, label: str | None) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(f"Set the true label of the selected cells ({key}); Ctrl+Z undoes")
        action.triggered.connect(lambda _checked=False: self.mark(label))
        return action

    def mark(self, label: str | None) -> None:
        """Set (None: clear) the true label of the selected rows."""
        self._session.set_truth(self._selected_rows(), label)

    def install(self, widget: QWidget) -> None:
        """Give ``widget`` the P/U/0 keys and a context menu with the actions."""
        widget.addActions(self.marks)
        separator = QAction(widget)
        separator.setSeparator(True)
        widget.addActions([separator, self.undo, self.redo])
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

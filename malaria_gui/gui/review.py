"""Review and correct: the actions that set the true label of the selected cells.

P marks the selection Parasitized, U Uninfected, N "not a red cell" (a cell of a whole field
that the segmentation cut from a white cell, a clump, debris or text: it leaves the
parasitemia), 0 clears the label; each is one step on the session's undo stack (Ctrl+Z,
Ctrl+Shift+Z / Ctrl+Y). The single-key shortcuts only act while the focus is in a widget the
actions were installed on (the table, the gallery, the preview, the field view), so typing a 0
in the threshold box never clears a label.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from malaria_gui.engine.field_labels import NOT_A_CELL
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
        self.mark_not_a_cell = self._mark_action("Mark as &not a red cell (field cells)", "N", NOT_A_CELL)
        self.mark_not_a_cell.setToolTip("A cell found in a field that is no red cell (white cell, clump, debris, "
                                        "text): left out of the parasitemia (N); Ctrl+Z undoes")
        self.clear_truth = self._mark_action("&Clear true label", "0", None)
        stack = session.undo_stack
        self.undo = stack.createUndoAction(self, "&Undo")
        self.undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo = stack.createRedoAction(self, "&Redo")
        self.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.marks = [self.mark_parasitized, self.mark_uninfected, self.mark_not_a_cell, self.clear_truth]

    def _mark_action(self, text: str, key: str, label: str | None) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(f"Set the true label of the selected cells ({key}); Ctrl+Z undoes")
        action.setData(label)
        action.triggered.connect(lambda _checked=False: self.mark(label))
        return action

    def menu_for(self, rows: list[int], parent: QWidget) -> QMenu:
        """A context menu whose marks act on ``rows`` (a cell right-clicked in the field view),
        whatever is selected elsewhere; undo and redo as everywhere."""
        menu = QMenu(parent)
        for action in self.marks:
            item = menu.addAction(action.text())
            item.setShortcut(action.shortcut())
            item.setToolTip(action.toolTip())
            item.setEnabled(bool(rows))
            item.setData(action.data())
            item.triggered.connect(lambda _checked=False, a=action: self._session.set_truth(rows, a.data()))
        menu.addSeparator()
        menu.addActions([self.undo, self.redo])
        return menu

    def mark(self, label: str | None) -> None:
        """Set (None: clear) the true label of the selected rows."""
        self._session.set_truth(self._selected_rows(), label)

    def install(self, widget: QWidget, context_menu: bool = True) -> None:
        """Give ``widget`` the P/U/N/0 keys and (unless it builds its own) a context menu with
        the actions."""
        widget.addActions(self.marks)
        separator = QAction(widget)
        separator.setSeparator(True)
        widget.addActions([separator, self.undo, self.redo])
        if context_menu:
            widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

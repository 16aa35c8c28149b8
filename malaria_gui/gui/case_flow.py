"""The window's cases: File > New case..., Open case..., Record cases, and the questions around them.

The store is the CLI's (``engine.cases.default_store_path``: ``$MALARIA_GUI_CASES_DB`` or the
user's data folder), opened on first use so that a window that records nothing creates no
file. The session writes (``session_case``); this only asks the technician and says what
happened. The reviewer's name is remembered in the settings.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox, QWidget

from malaria_gui.engine.cases import CaseError, CaseStore, default_store_path
from malaria_gui.gui.case_dialogs import NewCaseDialog, OpenCaseDialog
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings

ADD, NEW, CANCEL = "add", "new", "cancel"


class CaseFlow(QObject):
    """Menu actions and dialogs of the window's case; :meth:`ready_for` guards adding images."""

    def __init__(self, session: Session, settings: Settings, parent: QWidget, clear_session) -> None:
        super().__init__(parent)
        self.session, self.settings, self.window = session, settings, parent
        self._clear_session = clear_session  # the window's Clear session (offers to save corrections)
        self.store: CaseStore | None = None
        self.new_action = QAction("&New case...", parent)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_action.setToolTip("A slide id (and reference): what is scored and reviewed is kept in the case store")
        self.new_action.triggered.connect(lambda: self.new_case())
        self.open_action = QAction("Open &case...", parent)
        self.open_action.setShortcut(QKeySequence("Ctrl+Shift+K"))
        self.open_action.triggered.connect(self.open_case)
        self.record_action = QAction("Record &cases", parent)
        self.record_action.setCheckable(True)
        self.record_action.setChecked(settings.record_cases())
        self.record_action.setToolTip("Ask for a slide id when the first images are scored")
        self.record_action.toggled.connect(settings.set_record_cases)

    # ---- the store
    def open_store(self) -> CaseStore | None:
        if self.store is None:
            try:
                self.store = CaseStore(default_store_path())
            except CaseError as exc:
                QMessageBox.warning(self.window, "Case store", str(exc))
                return None
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    # ---- questions (tests replace these)
    def ask_new_case(self, why: str = "") -> tuple[str, str, str] | None:
        """(slide id, reference, reviewer), or None when cancelled."""
        dialog = NewCaseDialog(self.settings.reviewer_name(), self.window, why)
        return dialog.values() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def ask_open_case(self, store: CaseStore) -> str | None:
        dialog = OpenCaseDialog(store, self.window)
        return dialog.selected() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def ask_add_or_new(self, slide_id: str) -> str:
        """Images added while a slide with rows is open: ADD to it, start a NEW case, or CANCEL."""
        box = QMessageBox(QMessageBox.Icon.Question, "Add to this slide?",
                          f"Slide {slide_id} is open. Add these images to slide {slide_id}, or start a new case?",
                          parent=self.window)
        add = box.addButton(f"Add to {slide_id}", QMessageBox.ButtonRole.AcceptRole)
        new = box.addButton("New case...", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return ADD if box.clickedButton() is add else NEW if box.clickedButton() is new else CANCEL

    def ask_reviewer(self) -> str:
        name, ok = QInputDialog.getText(self.window, "Reviewer", "Your name (recorded with each decision):")
        return name.strip() if ok else ""

    # ---- actions
    def new_case(self, why: str = "") -> bool:
        """Start a case on an empty window (what is on screen is cleared first); True when one is open."""
        session = self.session
        if session.results.rowCount() and not self._clear_session():
            return False
        values = self.ask_new_case(why)
        store = self.open_store() if values else None
        if store is None:
            return False
        slide_id, reference, reviewer = values
        self.settings.set_reviewer_name(reviewer)
        try:
            session.start_case(store, slide_id, reference, reviewer)
        except CaseError:
            answer = QMessageBox.question(self.window, "Slide already recorded",
                                          f"Slide {slide_id} is already in the case store. Open it and add to it?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
            return self._open(store, slide_id, reviewer)
        self._say(f"Recording slide {slide_id} in {store.path}")
        return True

    def open_case(self) -> bool:
        """File > Open case...: a past slide shown again, not scored; decisions go on being added."""
        store = self.open_store()
        if store is None:
            return False
        slide_id = self.ask_open_case(store)
        if not slide_id:
            return False
        if self.session.results.rowCount() and not self._clear_session():
            return False
        reviewer = self.settings.reviewer_name() or self.ask_reviewer()
        if reviewer:
            self.settings.set_reviewer_name(reviewer)
        return self._open(store, slide_id, reviewer)

    def _open(self, store: CaseStore, slide_id: str, reviewer: str) -> bool:
        try:
            self.session.open_case(store, slide_id, reviewer)
        except CaseError as exc:
            QMessageBox.warning(self.window, "Open case", str(exc))
            return False
        return True

    def ready_for(self, paths: list[str]) -> bool:
        """Before images are added: into the open slide only when the technician says so; with
        Record cases on, a slide id is asked for first. False: add nothing."""
        session = self.session
        if session.case is not None and session.results.rowCount():
            answer = self.ask_add_or_new(session.case.slide_id)
            if answer == NEW:
                return self.new_case()
            return answer == ADD
        if session.case is None and self.record_action.isChecked() and not session.results.rowCount():
            return self.new_case("Record cases is on: which slide are these images from?")
        return True

    def _say(self, text: str) -> None:
        self.session.message.emit(text, 8000)

"""Model > Adapt model to these labels...: fine-tune the model in use on the rows with a true
label (folder names or the reviewer's corrections, cells of whole fields included: those go
as field-cell labels, cut by the field pipeline), in the scoring process, with a progress
dialog and Cancel; then the before/after table, and the lab model saved in the models folder
(it then shows in the Model menu). A refusal (too few cells, one class) is the engine's
message in a message box, never a traceback.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QInputDialog, QLabel, QMessageBox, QPlainTextEdit, QProgressDialog, QVBoxLayout, QWidget,
)

from malaria_gui.gui.lab_models import models_dir
from malaria_gui.gui.session import Session


def file_name_for(name: str) -> str:
    """A lab model's name as a file name: letters, digits, dot, dash, underscore."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._")
    return cleaned or "lab-model"


class ReportDialog(QDialog):
    """The before/after table of the cross-validation, fixed-width, selectable."""

    def __init__(self, report_text: str, saved_path: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Adapted model: before and after")
        self.resize(960, 440)
        layout = QVBoxLayout(self)
        saved = QLabel(f"Saved as <b>{Path(saved_path).name}</b> in {Path(saved_path).parent}. "
                       "Choose it in the Model menu to use it.")
        saved.setWordWrap(True)
        layout.addWidget(saved)
        self.text = QPlainTextEdit(report_text)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class AdaptFlow(QObject):
    """The menu action and the dialogs around one adaptation at a time."""

    finished = Signal(str)  # the saved model's path ("" when refused, failed or cancelled)
    folds = 5
    epochs: int | None = None  # None: training/adapt's default (tests shorten it)

    def __init__(self, session: Session, parent: QWidget) -> None:
        super().__init__(parent)
        self._session = session
        self._parent = parent
        self.progress: QProgressDialog | None = None
        self.report_dialog: ReportDialog | None = None
        self.running = False
        self.action = QAction("&Adapt model to these labels...", self)
        self.action.setToolTip("Fine-tune the model in use on the cells with a true label, checked by cross-validation")
        self.action.triggered.connect(self.ask_and_start)
        session.adapt_progress.connect(self._on_progress)
        session.adapt_done.connect(self._on_done)
        session.adapt_failed.connect(self._on_failed)

    def ask_and_start(self) -> None:
        """Say what will be used, ask for a name, then start (refusing at once with no labels)."""
        if self.running:
            return
        session = self._session
        counts = Counter(t for _p, t in session.labelled_items())
        field_counts = Counter(lab.truth for lab in session.field_labels())
        if not counts and not field_counts:
            QMessageBox.information(self._parent, "Adapt model", "No cell has a true label yet: open folders named "
                                    "Parasitized and Uninfected, or mark cells with P and U (N: not a red cell).")
            return
        info = session.model_info
        base = info.name if info is not None else "model"
        cells = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        if field_counts:
            reviewed = ", ".join(f"{n} {label}" for label, n in sorted(field_counts.items()))
            cells = f"{cells} files and {reviewed} field" if cells else f"{reviewed} field"
        name, ok = QInputDialog.getText(
            self._parent, "Adapt model to these labels",
            f"Fine-tune {base} on {cells} cells ({self.folds}-fold cross-validation first).\nName of the lab model:",
            text=f"{base}-lab")
        if ok and name.strip():
            self.start(name.strip())

    def start(self, name: str) -> None:
        out = models_dir() / f"{file_name_for(name)}.keras"
        if out.exists():
            answer = QMessageBox.question(self._parent, "Replace lab model?",
                                          f"A lab model named {out.name} exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.running = True
        self.action.setEnabled(False)
        self.progress = QProgressDialog("Reading the labelled cells...", "Cancel", 0, 0, self._parent)
        self.progress.setWindowTitle("Adapting the model")
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setMinimumDuration(0)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.progress.canceled.connect(self._cancel)
        self.progress.show()
        self._session.start_adapt(out, name, folds=self.folds, epochs=self.epochs)

    def _cancel(self) -> None:
        if self.running and self.progress is not None:
            self.progress.setLabelText("Cancelling...")
            self._session.cancel_adapt()

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        self.progress.setLabelText(stage[:1].upper() + stage[1:] + "...")
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, total))

    def _end(self) -> None:
        self.running = False
        self.action.setEnabled(True)
        if self.progress is not None:
            self.progress.canceled.disconnect(self._cancel)
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _on_done(self, report_text: str, saved_path: str) -> None:
        self._end()
        self._session.message.emit(f"Lab model saved: {saved_path}", 10_000)
        self.report_dialog = ReportDialog(report_text, saved_path, self._parent)
        self.report_dialog.open()  # not exec(): the window keeps answering
        self.finished.emit(saved_path)

    def _on_failed(self, message: str, cancelled: bool) -> None:
        if not self.running:
            return
        self._end()
        if cancelled:
            self._session.message.emit("Adaptation cancelled; nothing was saved.", 8000)
        else:
            QMessageBox.warning(self._parent, "Cannot adapt the model", message[:1].upper() + message[1:])
        self.finished.emit("")

"""The review queue: every positive call, then the uncertain ones, one key per decision.

A trained person confirms each positive before a result is reported. The queue
(engine/review_queue.py) is fixed when it opens; each cell is shown large, with its place
in the field when it comes from one. C confirms (Parasitized), R rejects (Uninfected), N says
a field cell is not a red cell (white cell, clump, debris), S or Space skips, Backspace or Ctrl+Z takes the last decision back;
W lays where the model looked over the cell (and keeps it on for the next cells). A
decision is the same undoable correction as P/U in the table (the session's undo stack), so
counts, matrix, exports and saved corrections follow it. The dialog only observes the session
and calls ``set_truth``; nothing here scores or decodes files (the field picture is the
display copy the scoring process sent; the overlay is made there too, session_explain).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.engine.review_queue import UNCERTAIN_BAND, review_order
from malaria_gui.gui.scoring_process import Explained
from malaria_gui.gui.session import Session

VIEW_SIDE = 320  # px: the cell and its neighbourhood are each shown this large
WHY_LEGEND = ("Where the model looked (W): red-yellow = hiding that part of the cell lowers P(Parasitized); "
              "the brighter, the more.")
WHY_OFF = "W (Why?) lays over the cell where the model looked."


class ReviewQueue(QDialog):
    """Go through the cells that need a human, in order; ``current_changed(row)`` follows."""

    current_changed = Signal(int)  # source row shown now, -1 when the queue is done

    def __init__(self, session: Session, parent=None, band: float = UNCERTAIN_BAND) -> None:
        super().__init__(parent)
        self.setWindowTitle("Review queue")
        self._session = session
        results = session.results
        eligible = [results.error(r) is None for r in range(results.rowCount())]
        self.threshold = session.threshold
        self.queue: list[int] = review_order(results.probabilities(), self.threshold, band, eligible)
        self.calls = sum(results.probabilities()[r] >= self.threshold for r in self.queue)
        self.position = 0
        self._history: list[tuple[int, bool]] = []  # (queue position, pushed an undo step), for Back
        self._fields: dict[str, QImage] = {}  # display copies decoded once per field

        self.cell_view = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.context_view = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        for view in (self.cell_view, self.context_view):
            view.setFixedSize(VIEW_SIDE, VIEW_SIDE)
            view.setStyleSheet("background: #202020; color: #dddddd;")
        self.caption = QLabel()
        self.progress = QLabel()
        self.progress.setObjectName("reviewProgress")
        buttons = QHBoxLayout()
        self.buttons = {}
        for text, key, slot in (("&Confirm (C)", "C", lambda: self.decide(PARASITIZED)),
                                ("&Reject (R)", "R", lambda: self.decide(UNINFECTED)),
                                ("&Not a red cell (N)", "N", lambda: self.decide(NOT_A_CELL)),
                                ("&Skip (S)", "S", self.skip),
                                ("&Back (Backspace)", "Backspace", self.back),
                                ("&Why? (W)", "W", self.toggle_why)):
            button = QPushButton(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys, not a focused button, decide
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[key] = button
        self.buttons["W"].setCheckable(True)
        self.buttons["W"].setToolTip("Lay over the cell where the model looked, computed by the model itself "
                                     "(occlusion: each patch hidden in turn); stays on for the next cells")
        self.why_on = False
        self.why_note = QLabel(WHY_OFF)
        self.why_note.setObjectName("reviewWhy")
        self.why_note.setWordWrap(True)
        self.why_note.setTextFormat(Qt.TextFormat.PlainText)
        # Room for the legend's two lines from the start: turning W on moves nothing.
        self.why_note.setMinimumHeight(2 * self.why_note.fontMetrics().lineSpacing() + 4)
        self.why_note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        session.explanation_ready.connect(self._on_explained)
        self._keys = {Qt.Key.Key_C: lambda: self.decide(PARASITIZED), Qt.Key.Key_R: lambda: self.decide(UNINFECTED),
                      Qt.Key.Key_N: lambda: self.decide(NOT_A_CELL), Qt.Key.Key_S: self.skip, Qt.Key.Key_Space: self.skip,
                      Qt.Key.Key_Backspace: self.back, Qt.Key.Key_W: self.toggle_why}
        views = QHBoxLayout()
        views.addWidget(self.cell_view)
        views.addWidget(self.context_view)
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addLayout(views)
        layout.addWidget(self.why_note)
        layout.addWidget(self.caption)
        layout.addLayout(buttons)
        self._show()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """The queue's keys (plain keys on the dialog itself, so no focus or shortcut context
        can swallow them); Ctrl+Z is Back too."""
        if event.matches(QKeySequence.StandardKey.Undo):
            self.back()
            return
        action = self._keys.get(event.key()) if not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier else None
        if action is None:
            super().keyPressEvent(event)
            return
        action()

    # ---- state

    def current_row(self) -> int:
        return self.queue[self.position] if self.position < len(self.queue) else -1

    def reviewed(self) -> int:
        """Queue cells with a reviewer's label (decided here or earlier in the table)."""
        results = self._session.results
        return sum(results.is_corrected(r) for r in self.queue)

    # ---- actions

    def decide(self, label: str) -> None:
        row = self.current_row()
        if row < 0:
            return
        if label == NOT_A_CELL and not self._session.results.cell(row):
            self.caption.setText(self.caption.text().split("   [")[0] + "   [a file of its own is one cell image: "
                                 "confirm, reject or skip it]")
            return  # the segmentation cut nothing here: there is no false cell to take out
        before = self._session.undo_stack.index()
        self._session.set_truth([row], label)
        # A label equal to the folder's (or the one it already has) is no undo step.
        self._history.append((self.position, self._session.undo_stack.index() != before))
        self.position += 1
        self._show()

    def skip(self) -> None:
        if self.position < len(self.queue):
            self._history.append((self.position, False))
            self.position += 1
            self._show()

    def back(self) -> None:
        """Show the previous cell again, taking its decision back (one undo step) if it had one."""
        if not self._history:
            return
        self.position, pushed = self._history.pop()
        if pushed:
            self._session.undo_stack.undo()
        self._show()

    def toggle_why(self) -> None:
        """Show (or hide) where the model looked, on this cell and the next ones."""
        self.why_on = not self.why_on
        self.buttons["W"].setChecked(self.why_on)
        row = self.current_row()
        if not self.why_on:
            self.why_note.setText(WHY_OFF)
            if row >= 0:
                self._show_cell(row)
        elif row < 0:
            self.why_note.setText("Where the model looked (W): the queue is done.")
        else:
            self._show_why(row, retry=True)

    def _on_explained(self, key: str) -> None:
        row = self.current_row()
        if self.why_on and row >= 0 and self._session.results.key(row) == key:
            self._show_why(row)

    # ---- drawing

    def _show(self) -> None:
        total = len(self.queue)
        self.progress.setText(f"{self.reviewed()} of {total} reviewed  ({self.calls} called Parasitized at "
                              f"{self.threshold:.2f}, {total - self.calls} uncertain just below)  -  "
                              f"cell {min(self.position + 1, total)} of {total}")
        row = self.current_row()
        for key in ("C", "R", "S"):
            self.buttons[key].setEnabled(row >= 0)
        self.buttons["N"].setEnabled(row >= 0 and bool(self._session.results.cell(row)))
        if row < 0:
            if self.why_on:
                self.why_note.setText("Where the model looked (W): the queue is done.")
            self.cell_view.setPixmap(QPixmap())
            self.context_view.setPixmap(QPixmap())
            self.cell_view.setText("Queue done")
            self.context_view.setText("")
            self.caption.setText(f"All {total} cells of the queue shown; {self.reviewed()} carry a reviewer's label. "
                                 "Backspace goes back.")
            self.current_changed.emit(-1)
            return
        results = self._session.results
        if self.why_on:
            self._show_why(row)
        else:
            self._show_cell(row)
        context = self._context(row)
        self.context_view.setPixmap(context if context is not None else QPixmap())
        self.context_view.setText("" if context is not None else "a single-cell file")
        p = float(results.probabilities()[row])
        cell = results.cell(row)
        where = f"{results.name(row)}, cell #{cell}" if cell else results.name(row)
        truth = results.truths()[row]
        self.caption.setText(f"{where}   P(Parasitized) {p:.3f}" + (f"   reviewer: {truth}" if results.is_corrected(row)
                                                                     else ""))
        self.current_changed.emit(row)

    def _show_cell(self, row: int) -> None:
        thumb = self._session.results.thumbnail(row)
        self.cell_view.setText("" if thumb is not None else "no picture")
        self.cell_view.setPixmap(thumb.scaled(VIEW_SIDE, VIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation) if thumb else QPixmap())

    def _show_why(self, row: int, retry: bool = False) -> None:
        """The cell with where the model looked over it once the scoring process has made it
        (the thumbnail and "computing..." until then); the next cell's is asked for after it."""
        following = self.queue[self.position + 1:self.position + 2]
        answer = self._session.explain(row, prefetch=following, retry=retry)
        if isinstance(answer, Explained):
            picture = QPixmap()
            picture.loadFromData(answer.jpeg, "JPG")
            # Stretched square as the thumbnail is (the network saw the cell so, too).
            self.cell_view.setText("")
            self.cell_view.setPixmap(picture.scaled(VIEW_SIDE, VIEW_SIDE, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))
            self.why_note.setText(f"{WHY_LEGEND} Hiding the reddest part lowers it from {answer.p_parasitized:.2f} "
                                  f"by {answer.largest_drop:.2f}.")
            return
        self._show_cell(row)
        if answer is None:
            self.why_note.setText("Where the model looked (W): computing...")
        else:
            self.why_note.setText(f"Where the model looked (W): cannot be shown: {answer.message}")

    def _context(self, row: int) -> QPixmap | None:
        """The field around the cell (three boxes across), the cell framed in yellow."""
        results = self._session.results
        box = results.box(row)
        copy = self._session.field_images.get(results.path(row))
        if box is None or copy is None:
            return None
        image = self._fields.get(copy.path)
        if image is None:
            image = QImage.fromData(copy.jpeg, "JPG")
            self._fields[copy.path] = image
        if image.isNull() or copy.width <= 0:
            return None
        s = image.width() / copy.width
        x, y, w, h = (v * s for v in box)
        side = max(w, h) * 3
        cx, cy = x + w / 2, y + h / 2
        region = QRect(int(cx - side / 2), int(cy - side / 2), int(side), int(side)).intersected(image.rect())
        piece = QPixmap.fromImage(image.copy(region)).scaled(
            VIEW_SIDE, VIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        k = piece.width() / max(region.width(), 1)
        painter = QPainter(piece)
        painter.setPen(QPen(QColor("#f1c40f"), 2))
        painter.drawRect(int((x - region.x()) * k), int((y - region.y()) * k), int(w * k), int(h * k))
        painter.end()
        return piece

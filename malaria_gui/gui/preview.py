"""The preview: the selected cell shown large (fit, 100%, 200%, 400%; Ctrl+wheel), with its name, both class probabilities, the
prediction at the current threshold, the true label and, for a failed file, the reason. W (or the "Why?" button) lays
where the model looked over the cell, made in the scoring process (session_explain), and keeps it on for the next rows."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QToolButton, QVBoxLayout, QWidget

from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED, UNINFECTED
from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.gui.scoring_process import WAITING, Explained
from malaria_gui.gui.session import Session

PREVIEW_SIZE = 220  # the image area's least width; it stretches with the window
PREVIEW_MIN_HEIGHT = 150  # and height: lower, so that summaries and matrix fit under it at 800 px
HINT = "Select a row or tile to see the cell here."
ZOOMS = (("Fit", None), ("100%", 1.0), ("200%", 2.0), ("400%", 4.0))
WHY_LEGEND = "Where the model looked: red-yellow = hiding that part lowers P(Parasitized); the brighter, the more."


class PreviewPanel(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._full: QPixmap | None = None  # the decoded image at 100%; zoom scales it
        self._row: int | None = None  # the row of session.results shown (None: an item shown by show_item)
        self._why: QPixmap | None = None  # where the model looked, over the cell (drawn at _full's size)
        self.image = QLabel(HINT)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: #1b1b1b; color: #bbb; border-radius: 4px;")
        self.image.setWordWrap(True)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.image)
        self.scroll.setWidgetResizable(True)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll.setMinimumSize(PREVIEW_SIZE, PREVIEW_MIN_HEIGHT)
        self.zoom_box = QComboBox()
        self.zoom_box.setObjectName("preview_zoom")
        self.zoom_box.setToolTip("Zoom (also Ctrl+mouse wheel over the image)")
        for text, factor in ZOOMS:
            self.zoom_box.addItem(text, factor)
        self.zoom_box.currentIndexChanged.connect(lambda _i: self._apply_zoom())
        zoom_row = QHBoxLayout()
        zoom_row.addWidget(QLabel("Zoom:"))
        zoom_row.addWidget(self.zoom_box)
        zoom_row.addStretch(1)
        # W: the action is also given to the table and the gallery (main_window), like P/U/N/0.
        self.why_action = QAction("Why? (where the model looked)", self)
        self.why_action.setObjectName("preview_why")
        self.why_action.setIconText("Why? (W)")  # on the button; the menus show the text
        self.why_action.setCheckable(True)
        self.why_action.setShortcut(QKeySequence("W"))
        self.why_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.why_action.setToolTip("Lay over the cell where the model looked (W), computed by the model itself: "
                                   "each patch hidden in turn; red where hiding it lowers P(Parasitized)")
        self.why_action.toggled.connect(self._set_why)
        self.addAction(self.why_action)
        self.why_button = QToolButton()
        self.why_button.setDefaultAction(self.why_action)
        self.why_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        zoom_row.addWidget(self.why_button)
        self.why_note = QLabel("")
        self.why_note.setObjectName("preview_why_note")
        self.why_note.setWordWrap(True)
        self.why_note.setTextFormat(Qt.TextFormat.PlainText)
        self.why_note.hide()
        self.caption = QLabel("")
        self.caption.setObjectName("preview_caption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(zoom_row)
        layout.addWidget(self.why_note)
        layout.addWidget(self.caption)
        self.scroll.viewport().installEventFilter(self)
        session.cleared.connect(self.clear)
        session.explanation_ready.connect(self._on_explained)

    def eventFilter(self, watched, event) -> bool:
        """Ctrl+wheel over the image steps through the zoom levels; Fit follows resizes."""
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            step = 1 if event.angleDelta().y() > 0 else -1
            self.zoom_box.setCurrentIndex(max(0, min(self.zoom_box.count() - 1, self.zoom_box.currentIndex() + step)))
            return True
        if event.type() == QEvent.Type.Resize and self.zoom_box.currentData() is None and self._full is not None:
            self._apply_zoom()
        return super().eventFilter(watched, event)

    def _apply_zoom(self) -> None:
        full = self._full
        if full is None or full.isNull():
            return
        factor = self.zoom_box.currentData()
        if factor is None:  # fit the panel, never blown up past 4x
            size = self.scroll.viewport().size()
            side = max(32, min(size.width(), size.height()) - 4)
            factor = min(4.0, side / max(full.width(), full.height()))
        w, h = max(1, round(full.width() * factor)), max(1, round(full.height() * factor))
        if self._why is not None and self.why_action.isChecked():  # at the cell's own size and zoom
            self.image.setPixmap(self._why.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))
            return
        self.image.setPixmap(full.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation if factor < 1 or w * h < 4_000_000
                                         else Qt.TransformationMode.FastTransformation))

    def clear(self) -> None:
        self._full = None
        self._row = self._why = None
        self.why_note.setText("")
        self.image.clear()
        self.image.setText(HINT)
        self.caption.setText("")

    def show_row(self, row: int) -> None:
        """Show one row of the session's results (a row of ``session.results``)."""
        results = self._session.results
        p = results.probabilities()[row]
        cell, crop = results.cell(row), None
        if cell:  # a cell found in a whole field: its crop, cut from the field's display copy
            from malaria_gui.gui.field_view import cell_pixmap

            crop = cell_pixmap(self._session, row)
        truth = results.truths()[row]
        if results.is_corrected(row):  # the reviewer's label, not the folder's
            truth = f"{truth or 'none'} (corrected)"
        missing = results.missing(row)  # a reopened case's file that is gone: said so
        self.show_item(results.path(row), None if p != p else float(p), results.error(row),
                       truth, results.prediction(row), results.warning(row), crop=crop, cell=cell)
        self._row = row
        if missing:
            self.show_missing(missing)
        elif self.why_action.isChecked():
            self._show_why()

    def show_missing(self, why: str) -> None:
        """The image area of a row whose file is gone or unreadable since it was scored."""
        self._full = None
        self.image.clear()
        self.image.setText(f"{why[0].upper()}{why[1:]}: no picture.\nThe stored result is shown.")

    def show_item(self, path: str, p_parasitized: float | None, error: str | None, truth: str | None,
                  prediction: str | None, warning: str | None = None, crop: QPixmap | None = None,
                  cell: int | None = None) -> None:
        """Show one file, or one cell of a whole field (``cell``) from its ``crop``: a field is
        never decoded here; a single cell file is small enough to decode on the GUI thread."""
        self._row = self._why = None
        if self.why_action.isChecked():
            self.why_note.setText("Where the model looked: shown for a row of the results.")
        if cell is not None:
            self._show_crop(crop, cell)
        else:
            self._show_file(path)
        lines = [f"<b>{html.escape(Path(path).name)}</b>"]
        if cell:
            lines.append(f"Cell {cell} of this field")
        if p_parasitized is not None:
            lines.append(f"P({PARASITIZED}) = {p_parasitized:.3f} &nbsp; P({UNINFECTED}) = {1 - p_parasitized:.3f}")
            lines.append(f"Prediction: <b>{prediction}</b>")
        if error in (WAITING, NOT_SCORED):
            lines.append(f"{error[0].upper()}{html.escape(error[1:])}")
        elif error:
            from malaria_gui.engine.labels import is_refusal

            # A refused field was read: its reason already says "not a smear field: ...".
            said = html.escape(error) if is_refusal(error) else f"Could not be read: {html.escape(error)}"
            lines.append(f"<span style='color:{CLASS_COLOURS[PARASITIZED]}'>{said}</span>")
        if warning:
            lines.append(f"<span style='color:{CLASS_COLOURS[PARASITIZED]}'>{html.escape(warning)}</span>")
        if truth:
            lines.append(f"True label: {truth}")
        self.caption.setText("<br>".join(lines))

    # ---- where the model looked (W)

    def _set_why(self, on: bool) -> None:
        self.why_note.setVisible(on)
        if on:
            self._show_why(retry=True)
        else:
            self._why = None
            self._apply_zoom()

    def _on_explained(self, key: str) -> None:
        row = self._row
        if row is not None and self.why_action.isChecked() and self._session.results.key(row) == key:
            self._show_why()

    def _show_why(self, retry: bool = False) -> None:
        """Where the model looked for the row shown, once the scoring process has made it."""
        row = self._row
        if row is None:
            self.why_note.setText("Where the model looked: select a row of the results.")
            return
        answer = self._session.explain(row, retry=retry)
        if isinstance(answer, Explained):
            picture = QPixmap()
            picture.loadFromData(answer.jpeg, "JPG")
            self._why = picture if not picture.isNull() else None
            self.why_note.setText(f"{WHY_LEGEND} Hiding the reddest part lowers it from "
                                  f"{answer.p_parasitized:.2f} by {answer.largest_drop:.2f}.")
            self._apply_zoom()
        elif answer is None:
            self.why_note.setText("Where the model looked: computing...")
        else:
            self.why_note.setText(f"Where the model looked: cannot be shown: {answer.message}")

    def _show_crop(self, crop: QPixmap | None, cell: int) -> None:
        if crop is None or crop.isNull():
            self._full = None
            self.image.clear()
            self.image.setText("This field was not counted." if cell == 0 else "The field's picture is not available.")
            return
        self._full = crop
        self._apply_zoom()

    def _show_file(self, path: str) -> None:
        from malaria_gui.engine.decoding import ImageError, decode

        try:
            rgb = decode(path)
            h, w = rgb.shape[:2]
            qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            self._full = QPixmap.fromImage(qimage)
            self._apply_zoom()
        except ImageError as exc:
            self._full = None
            self.image.clear()
            self.image.setText(f"Cannot show this file:\n{exc}")

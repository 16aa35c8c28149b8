"""The preview: the selected cell shown large (fit, 100%, 200%, 400%; Ctrl+wheel), with its name, both class probabilities, the
prediction at the current threshold, the true label and, for a failed file, the reason."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED, UNINFECTED
from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.gui.scoring_process import WAITING
from malaria_gui.gui.session import Session

PREVIEW_SIZE = 220  # the image area's least width; it stretches with the window
PREVIEW_MIN_HEIGHT = 150  # and height: lower, so that summaries and matrix fit under it at 800 px
HINT = "Select a row or tile to see the cell here."
ZOOMS = (("Fit", None), ("100%", 1.0), ("200%", 2.0), ("400%", 4.0))


class PreviewPanel(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._full: QPixmap | None = None  # the decoded image at 100%; zoom scales it
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
        self.caption = QLabel("")
        self.caption.setObjectName("preview_caption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(zoom_row)
        layout.addWidget(self.caption)
        self.scroll.viewport().installEventFilter(self)
        session.cleared.connect(self.clear)

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
        self.image.setPixmap(full.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation if factor < 1 or w * h < 4_000_000
                                         else Qt.TransformationMode.FastTransformation))

    def clear(self) -> None:
        self._full = None
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
        if missing:
            self.show_missing(missing)

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

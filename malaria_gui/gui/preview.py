"""The preview: the selected cell shown large, with its name, both class probabilities, the
prediction at the current threshold, the true label and, for a failed file, the reason."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED, UNINFECTED
from malaria_gui.gui.session import Session

PREVIEW_SIZE = 220
HINT = "Select a row or tile to see the cell here."


class PreviewPanel(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.image = QLabel(HINT)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.image.setStyleSheet("background: #1b1b1b; color: #bbb; border-radius: 4px;")
        self.image.setWordWrap(True)
        self.caption = QLabel("")
        self.caption.setObjectName("preview_caption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.image)
        layout.addWidget(self.caption)
        session.cleared.connect(self.clear)

    def clear(self) -> None:
        self.image.clear()
        self.image.setText(HINT)
        self.caption.setText("")

    def show_row(self, row: int) -> None:
        """Show one row of the session's results (a row of ``session.results``)."""
        results = self._session.results
        p = results.probabilities()[row]
        truth = results.truths()[row]
        if results.is_corrected(row):  # the reviewer's label, not the folder's
            truth = f"{truth or 'none'} (corrected)"
        self.show_item(results.path(row), None if p != p else float(p), results.error(row),
                       truth, results.prediction(row))

    def show_item(self, path: str, p_parasitized: float | None, error: str | None, truth: str | None,
                  prediction: str | None) -> None:
        """Decode one image (a single small file: cheap enough for the GUI thread)."""
        from malaria_gui.engine.decoding import ImageError, decode

        try:
            rgb = decode(path)
            h, w = rgb.shape[:2]
            qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            pixmap = QPixmap.fromImage(qimage).scaled(
                PREVIEW_SIZE, PREVIEW_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation if max(h, w) < PREVIEW_SIZE * 4
                else Qt.TransformationMode.FastTransformation)
            self.image.setPixmap(pixmap)
        except ImageError as exc:
            self.image.clear()
            self.image.setText(f"Cannot show this file:\n{exc}")
        lines = [f"<b>{html.escape(Path(path).name)}</b>"]
        if p_parasitized is not None:
            lines.append(f"P({PARASITIZED}) = {p_parasitized:.3f} &nbsp; P({UNINFECTED}) = {1 - p_parasitized:.3f}")
            lines.append(f"Prediction: <b>{prediction}</b>")
        if error:
            lines.append(f"<span style='color:{CLASS_COLOURS[PARASITIZED]}'>Could not be read: {html.escape(error)}</span>")
        if truth:
            lines.append(f"True label: {truth}")
        self.caption.setText("<br>".join(lines))

"""The selected image shown large, with both class probabilities."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED

PREVIEW_SIZE = 220


class PreviewPanel(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.image = QLabel("Select a row or tile to see the cell here.")
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

    def clear(self) -> None:
        self.image.clear()
        self.image.setText("Select a row or tile to see the cell here.")
        self.caption.setText("")

    def show_item(self, path: str, p_parasitized: float | None, error: str | None, truth: str | None,
                  prediction: str | None) -> None:
        """Decode one image (a single small file: cheap enough for the GUI thread)."""
        from malaria_gui.engine.decoding import ImageError, decode

        name = Path(path).name
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
        lines = [f"<b>{_esc(name)}</b>"]
        if p_parasitized is not None:
            lines.append(f"P({PARASITIZED}) = {p_parasitized:.3f} &nbsp; P({UNINFECTED}) = {1 - p_parasitized:.3f}")
            lines.append(f"Prediction: <b>{prediction}</b>")
        if error:
            lines.append(f"<span style='color:#c0392b'>Could not be read: {_esc(error)}</span>")
        if truth:
            lines.append(f"True label: {truth}")
        self.caption.setText("<br>".join(lines))


def _esc(text: str) -> str:
    import html

    return html.escape(text)

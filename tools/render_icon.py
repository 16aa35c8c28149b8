"""Render resources/malaria-gui.svg to the PNG sizes and the Windows .ico that are committed.

Run after editing the SVG: ``python tools/render_icon.py``. Uses Qt's own SVG renderer
(PySide6.QtSvg, part of PySide6-Essentials) and Pillow for the .ico, both already dependencies.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SVG = RESOURCES / "malaria-gui.svg"
SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 32, 48, 64, 128, 256)  # the .ico format stops at 256


def png_path(size: int) -> Path:
    return RESOURCES / "icons" / f"malaria-gui-{size}.png"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """One antialiased square rendering on a transparent background."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (QPainter needs one)
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        print(f"cannot read {SVG}", file=sys.stderr)
        return 1
    png_path(SIZES[0]).parent.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        if not render(renderer, size).save(str(png_path(size))):
            print(f"cannot write {png_path(size)}", file=sys.stderr)
            return 1
        print(png_path(size).relative_to(RESOURCES.parent))
    # Pillow writes every size into one .ico from the largest image; give it the exact
    # renderings instead, so the small sizes are Qt's antialiased ones, not downscales.
    images = [Image.open(png_path(size)).convert("RGBA") for size in ICO_SIZES]
    ico = RESOURCES / "malaria-gui.ico"
    images[-1].save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=images[:-1])
    print(ico.relative_to(RESOURCES.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())

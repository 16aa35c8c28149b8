"""Retake the README's pictures: the window after scoring a labelled folder of synthetic
cells with the bundled model (docs/screenshot.png) and the model card view (docs/card_view.png).

    QT_QPA_PLATFORM=offscreen python tools/screenshots.py [--out docs]

Synthetic images only (pink discs with purple dots from the tests' helpers, one broken
file, one noise image that is not a single cell); settings go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def make_folder(root: Path) -> Path:
    import numpy as np

    from cells import synthetic_cell, write_rgb

    rng = np.random.default_rng(7)
    folder = root / "slide_0042"
    for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
        for i in range(40):
            write_rgb(folder / label / f"C{33 + i % 3}P{i}thinF_IMG_20150619_cell_{label[0]}{i:03d}.png",
                      synthetic_cell(rng, parasitized))
    (folder / "Parasitized" / "0_broken_cell.png").write_bytes(b"not an image")
    write_rgb(folder / "Parasitized" / "0_whole_field_photo.png", rng.integers(0, 255, (1000, 1200, 3), dtype=np.uint8))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        from PySide6.QtCore import QEventLoop, QSettings, QTimer
        from PySide6.QtWidgets import QTextBrowser

        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(tmp) / "settings"))
        from malaria_gui.gui.app import make_app
        from malaria_gui.gui.main_window import MainWindow
        from malaria_gui.gui.model_panel import ModelCardDialog

        app = make_app()
        folder = make_folder(Path(tmp))
        window = MainWindow()
        window.resize(1280, 800)
        window.show()
        loop = QEventLoop()
        window.scoring_finished.connect(loop.quit)
        window.add_paths([str(folder)])
        QTimer.singleShot(180_000, loop.quit)
        loop.exec()
        session = window.session
        window.results_views.table.selectRow(1)  # the photo that is not a single cell

        def settle(ms: int = 600) -> None:
            end = QEventLoop()
            QTimer.singleShot(ms, end.quit)
            end.exec()

        settle(1500)
        args.out.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(args.out / "screenshot.png"))
        dialog = ModelCardDialog(session.model_info, window)
        dialog.resize(860, 900)
        dialog.show()
        settle()
        dialog.findChild(QTextBrowser, "card_text").verticalScrollBar().setValue(0)
        dialog.grab().save(str(args.out / "card_view.png"))
        dialog.close()
        window.close()
        app.processEvents()
        print(f"wrote {args.out / 'screenshot.png'} and {args.out / 'card_view.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

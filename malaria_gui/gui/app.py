"""Starting the desktop application: ``run(paths, model)`` is what ``malaria-gui`` calls."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from malaria_gui.gui.settings import APPLICATION, ORGANISATION
from malaria_gui.resources import resource_path


def make_app() -> QApplication:
    """The QApplication (re-used if one exists), named so QSettings know where to write."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    icon = resource_path("resources", "icon.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    style = resource_path("resources", "style.qss")
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    return app


def run(paths: list[str], model: Path | None = None) -> int:
    """Open the window at once; the model loads in the background and ``paths`` are queued."""
    app = make_app()
    from malaria_gui.gui.main_window import MainWindow

    window = MainWindow(model)
    window.show()
    if paths:
        window.add_paths(paths)
    code = app.exec()
    window.shutdown()
    return int(code)

"""Starting the desktop application: ``run(paths, model)`` is what ``malaria-gui`` calls."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

from malaria_gui.gui.settings import APPLICATION, ORGANISATION
from malaria_gui.resources import icon_paths, resource_path


def make_app() -> QApplication:
    """The QApplication (re-used if one exists), named so QSettings know where to write."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    icon = QIcon()
    for png in icon_paths():  # every size, so Qt picks the sharp one for title bar and task bar
        icon.addFile(str(png))
    app.setWindowIcon(icon)
    app.setDesktopFileName("malaria-gui")  # resources/malaria-gui.desktop (Wayland matches it)
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
    install_quit_on_signals(window)
    if paths:
        window.add_paths(paths)
    code = app.exec()
    window.shutdown()
    return int(code)


def install_quit_on_signals(window: QWidget) -> QTimer:
    """Ctrl+C (SIGINT) and SIGTERM close the window as its Quit action does: settings saved,
    the run cancelled, the scoring process stopped, exit 0, no traceback.

    Python runs a signal handler only when the interpreter gets control, which it does not
    while Qt waits for events: a timer wakes it four times a second. The handler only posts
    the close onto the event loop.
    """
    def on_signal(_signum, _frame) -> None:
        QTimer.singleShot(0, window, window.close)

    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)
    timer = QTimer(window)
    timer.setObjectName("signal_wakeup")
    timer.timeout.connect(lambda: None)
    timer.start(250)
    return timer

"""Fixtures that drive the real window headless: isolated settings, a loaded window, drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from cells import synthetic_cell, write_rgb

MODEL_TIMEOUT_MS = 60_000  # the first keras import is slow on a busy 2-core machine
SCORE_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory):
    """Each test gets its own settings folder, so no test sees another's threshold or folders."""
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture
def make_window(qtbot, tiny_model_path):
    """A factory of shown MainWindows (closed at teardown), optionally waiting for the model."""
    from malaria_gui.gui.main_window import MainWindow

    windows = []

    def make(model_path: Path | None = tiny_model_path, wait_for_model: bool = True) -> MainWindow:
        window = MainWindow(model_path)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if wait_for_model:
            qtbot.waitUntil(lambda: window.session.model_info is not None, timeout=MODEL_TIMEOUT_MS)
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.worker.isRunning(), "the worker thread outlived its window"


@pytest.fixture
def window(make_window):
    return make_window()


def drop_paths(widget, paths) -> bool:
    """Drag ``paths`` onto ``widget`` as a file manager would; True when the drop was taken."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.rect().center())
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:
        enter = QDragEnterEvent(pos, *args)  # PySide6 >= 6.12 (the QPoint form is deprecated)
    except TypeError:
        enter = QDragEnterEvent(pos.toPoint(), *args)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def score_and_wait(qtbot, window, paths) -> None:
    with qtbot.waitSignal(window.scoring_finished, timeout=SCORE_TIMEOUT_MS):
        assert drop_paths(window, paths)


@pytest.fixture
def many_cells(tmp_path) -> Path:
    """600 small labelled images: enough batches to cancel or close in the middle of a run."""
    rng = np.random.default_rng(1)
    root = tmp_path / "many"
    for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
        cells = [synthetic_cell(rng, parasitized, size=40) for _ in range(10)]
        for i in range(300):
            write_rgb(root / label / f"c{i:04d}.png", cells[i % 10])
    return root


@pytest.fixture
def slow_scoring(monkeypatch):
    """Make each 16-image batch take ~50 ms more, as a real model on a slow PC would, so a
    test can act in the middle of a run however fast the tiny model is."""
    from malaria_gui.gui.worker import ScoringWorker

    monkeypatch.setattr(ScoringWorker, "pause_s", 0.05)
    monkeypatch.setattr(ScoringWorker, "batch_size", 16)


@pytest.fixture
def store_path(tmp_path, monkeypatch) -> Path:
    """The case store the window opens (the CLI's default, pointed at a temporary file); the
    "discard this slide's unsaved review?" question is answered Discard."""
    path = tmp_path / "cases.sqlite"
    monkeypatch.setenv("MALARIA_GUI_CASES_DB", str(path))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    return path

"""Start-up (issue 22): the CLI starts the scoring process before Qt is imported, so Keras is
imported while the window is built; the window's worker adopts that process, loads the model
in it and scores with it, and a second window starts its own."""

from __future__ import annotations

from malaria_gui.gui import scoring_process
from tests.gui.conftest import score_and_wait


def test_the_window_adopts_the_prestarted_scoring_process(qtbot, make_window, labelled_folder):
    scoring_process.prestart()
    _context, process, _conn, _cancel = scoring_process._prestarted
    window = make_window()  # waits for the model, loaded in the prestarted process
    assert window.worker.process_id == process.pid and process.is_alive()
    assert scoring_process.adopt_prestarted() is None  # adopted once, never by a second worker
    files = sorted(labelled_folder.rglob("*.png"))[:3]
    score_and_wait(qtbot, window, files)
    assert window.session.results.rowCount() == 3 and window.session.counts().scored == 3
    other = make_window()
    assert other.worker.process_id not in (None, process.pid)
    window.close()
    process.join(5)
    assert not process.is_alive()  # closing the window stops the process it adopted

"""Issue 12 in the real window, with the real scoring process: cancel and re-open, files
waiting for a model, the truth toggle, images that are not single cells, exports named
after the folder, thumbnails, Ctrl+C / SIGTERM, and a scoring process that does not grow."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFileDialog

from cells import write_rgb
from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.gui.results_model import COL_NOTE
from malaria_gui.gui.scoring_process import THUMB_SIZE, WAITING
from tests.gui.conftest import MODEL_TIMEOUT_MS, SCORE_TIMEOUT_MS, drop_paths, score_and_wait

REPO = Path(__file__).resolve().parents[2]


def notes(window) -> list[str]:
    model = window.session.results
    return [model.index(r, COL_NOTE).data() for r in range(model.rowCount())]


def test_cancel_then_reopen_scores_only_the_rest_and_exports_every_file(
        qtbot, window, many_cells, slow_scoring, tmp_path):
    drop_paths(window, [many_cells])
    qtbot.waitUntil(lambda: window.session.results.rowCount() >= 32, timeout=SCORE_TIMEOUT_MS)
    with qtbot.waitSignal(window.scoring_finished, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    scored = window.session.counts().scored
    assert 32 <= scored < 600
    out = tmp_path / "cancelled.csv"
    window.session.export_csv(out)
    with out.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 600  # one row per input file
    assert sum(r["error"] == NOT_SCORED for r in table) == 600 - scored
    assert {r["model"] for r in table} == {"tiny-test-model 0"} and {r["threshold"] for r in table} == {"0.5"}
    assert f"{600 - scored} not scored (cancelled)" in window.summary.text()

    score_and_wait(qtbot, window, [many_cells])  # the same folder again
    assert window.session.run_total == 600 - scored  # only what was not scored
    assert "Done: 0 of 0" not in window.status.rate_label.text()
    assert window.session.results.rowCount() == 600  # no duplicate rows
    assert window.session.counts().scored == 600
    assert NOT_SCORED not in notes(window)


def test_files_wait_for_a_model_and_are_scored_once_one_loads(qtbot, make_window, tmp_path, labelled_folder,
                                                              tiny_model_path):
    window = make_window(tmp_path / "missing.keras", wait_for_model=False)
    qtbot.waitUntil(lambda: window.session.model_error is not None, timeout=MODEL_TIMEOUT_MS)
    score_and_wait(qtbot, window, [labelled_folder])
    assert set(notes(window)) == {WAITING}
    assert "12 waiting for a model" in window.summary.text() and "could not be read" not in window.summary.text()
    score_and_wait(qtbot, window, [labelled_folder])  # added again meanwhile: still one row per file
    assert window.session.results.rowCount() == 12
    with qtbot.waitSignal(window.scoring_finished, timeout=MODEL_TIMEOUT_MS):
        window.session.load_model(tiny_model_path)
    assert window.session.results.rowCount() == 12
    assert window.session.counts().scored == 12 and WAITING not in notes(window)
    score_and_wait(qtbot, window, [labelled_folder])  # and again once scored: nothing new
    assert window.session.results.rowCount() == 12


def test_truth_toggle_in_the_view_menu(qtbot, make_window, labelled_folder):
    window = make_window()
    score_and_wait(qtbot, window, [labelled_folder])
    qtbot.waitUntil(lambda: window.matrix.isVisible())
    assert "true labels from folder names: Parasitized/ 6, Uninfected/ 6" in window.summary.text()
    assert window.truth_action.isChecked()
    window.truth_action.trigger()
    assert not window.matrix.isVisible() and window.session.results.truths() == [None] * 12
    assert "true labels off" in window.summary.text()
    window.close()
    again = make_window()
    assert not again.truth_action.isChecked()  # remembered
    score_and_wait(qtbot, again, [labelled_folder])
    assert not again.matrix.isVisible()
    again.truth_action.trigger()  # the scan's truth comes back without scanning again
    qtbot.waitUntil(lambda: again.matrix.isVisible())
    assert again.session.results.truths().count("Parasitized") == 6


def test_images_that_are_not_single_cells_are_flagged(qtbot, window, labelled_folder):
    rng = np.random.default_rng(5)
    write_rgb(labelled_folder / "field.png", rng.integers(0, 255, (1100, 1200, 3), dtype=np.uint8))
    score_and_wait(qtbot, window, [labelled_folder])
    model = window.session.results
    flagged = [r for r in range(model.rowCount()) if model.warning(r)]
    assert [model.name(r) for r in flagged] == ["field.png"]
    assert model.probabilities()[flagged[0]] == model.probabilities()[flagged[0]]  # scored all the same
    assert "1 image does not look like single cells" in window.summary.text()
    window.filter_bar.filter_box.setCurrentIndex(window.filter_bar.filter_box.findData("not_cells"))
    assert window.session.proxy.rowCount() == 1


def test_export_dialog_proposes_a_name_after_the_folder(qtbot, window, labelled_folder, monkeypatch, tmp_path):
    score_and_wait(qtbot, window, [labelled_folder])
    proposed = []

    def fake_dialog(_parent, _title, start, _filter):
        proposed.append(start)
        return str(tmp_path / "chosen.csv"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    window.export_csv_action.trigger()
    assert Path(proposed[0]).name.startswith("results-slides-")
    with (tmp_path / "chosen.csv").open(newline="") as fh:
        assert next(csv.DictReader(fh))["model"] == "tiny-test-model 0"


def test_thumbnails_are_made_at_128_px_and_shown_at_the_chosen_size(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    pixmap = QPixmap()
    pixmap.loadFromData(window.session.results._thumbs[0], "JPG")
    assert THUMB_SIZE == 128 and pixmap.width() == 128
    window.results_views.thumb_actions[128].trigger()
    assert window.results_views.table.verticalHeader().defaultSectionSize() >= 128
    assert window.settings.thumb_size(64) == 128


def test_preview_zoom(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    window.results_views.table.selectRow(0)
    window.preview.zoom_box.setCurrentIndex(window.preview.zoom_box.findText("100%"))
    assert window.preview.image.pixmap().width() == 128
    window.preview.zoom_box.setCurrentIndex(window.preview.zoom_box.findText("200%"))
    assert window.preview.image.pixmap().width() == 256


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_clear_and_rescore_do_not_grow_the_scoring_process(qtbot, window, many_cells):
    sizes = []
    for _ in range(4):
        score_and_wait(qtbot, window, [many_cells])
        assert window.session.results.rowCount() == 600
        sizes.append(_rss_kib(window.worker.process_id))
        window.clear_action.trigger()
        assert window.session.results.rowCount() == 0 and not window.session.results._pixmaps
    # The first runs warm up (JIT, allocator pools); later runs of the same folder stay flat.
    assert sizes[3] - sizes[1] < 20 * 1024, sizes


SCRIPT = textwrap.dedent("""
    import sys
    from malaria_gui.gui import app, main_window

    original = main_window.MainWindow.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.session.rows_added.connect(lambda _n: print("rows", flush=True))

    main_window.MainWindow.__init__ = init
    sys.exit(app.run([sys.argv[1]], app.Path(sys.argv[2])))
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_window_quits_quietly_on_sigterm_and_ctrl_c(tmp_path, many_cells, tiny_model_path, signum):
    """As a terminal's Ctrl+C does, the signal goes to the whole process group: the window and
    its scoring process. The window quits as its Quit action does; nothing prints a traceback."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(many_cells), str(tiny_model_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "rows"  # scoring is under way
        os.killpg(proc.pid, signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    for bad in ("Traceback", "BrokenPipeError", "KeyboardInterrupt", "leaked semaphore", "resource_tracker"):
        assert bad not in err, err
    deadline = time.monotonic() + 10
    while True:  # its helpers (the scoring process, multiprocessing's tracker) end with it
        leftover = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert leftover == [], "a process of the window outlived it"

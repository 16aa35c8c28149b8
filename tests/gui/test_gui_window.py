"""The real window, driven as a technician would: drops, scoring, threshold, filters, export."""

from __future__ import annotations

import csv
import os
import signal
import time

import pytest
from PySide6.QtCore import Qt

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.results_model import COL_NOTE, COL_PREDICTION, PROBABILITY_ROLE
from tests.gui.conftest import MODEL_TIMEOUT_MS, SCORE_TIMEOUT_MS, drop_paths, score_and_wait


def column_texts(window, column):
    proxy = window.session.proxy
    return [proxy.index(r, column).data() for r in range(proxy.rowCount())]


def test_drop_hint_then_folder_drop_scores_every_file(qtbot, window, labelled_folder):
    assert window.results_views.currentWidget() is window.results_views.drop_hint
    score_and_wait(qtbot, window, [labelled_folder])
    assert window.results_views.currentWidget() is window.results_views.views
    assert window.session.results.rowCount() == 12
    assert sorted(window.session.results.truths()) == [PARASITIZED] * 6 + [UNINFECTED] * 6
    assert set(column_texts(window, COL_PREDICTION)) <= {PARASITIZED, UNINFECTED}
    assert "12</b> cells scored" in window.summary.text()
    assert not window.status.progress.isVisible() and not window.status.cancel_button.isVisible()
    assert "Done: 12 of 12" in window.status.rate_label.text()
    # Labelled input: matrix and metrics shown.
    assert window.matrix.isVisible()
    assert window.matrix.metrics.n == 12
    assert window.matrix.value_labels["accuracy"].text().endswith("%")


def test_files_dropped_while_model_loads_are_queued(qtbot, make_window, labelled_folder):
    window = make_window(wait_for_model=False)
    files = sorted(labelled_folder.rglob("*.png"))[:3]
    with qtbot.waitSignal(window.scoring_finished, timeout=60_000):
        assert drop_paths(window, files)
        assert window.session.model_info is None or window.session.results.rowCount() < 3  # not done synchronously
    assert window.session.results.rowCount() == 3
    assert window.session.model_info.name == "tiny-test-model"


def test_broken_files_become_rows_with_their_reason(qtbot, window, labelled_folder, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    good = next(labelled_folder.rglob("*.png"))
    score_and_wait(qtbot, window, [good, broken, empty])
    assert window.session.results.rowCount() == 3
    notes = dict(zip(column_texts(window, 1), column_texts(window, COL_NOTE)))
    assert "empty" in notes["empty.jpg"]
    assert notes["broken.png"]
    assert column_texts(window, COL_PREDICTION).count("Unreadable") == 2
    assert "2 could not be read" in window.summary.text()
    window.session.set_filter("errors")
    assert window.session.proxy.rowCount() == 2


def test_adding_while_running_queues_and_duplicates_are_skipped(qtbot, window, labelled_folder):
    parasitized = labelled_folder / "Parasitized"
    with qtbot.waitSignal(window.scoring_finished, timeout=SCORE_TIMEOUT_MS):
        drop_paths(window, [parasitized])
        drop_paths(window, [labelled_folder])  # overlaps the first: those 6 must not appear twice
    assert window.session.results.rowCount() == 12
    assert len({window.session.results.path(r) for r in range(12)}) == 12


def test_threshold_relabels_rows_counts_and_matrix(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    with qtbot.waitSignal(window.session.metrics_changed, timeout=5000):
        window.threshold_control.spin.setValue(0.0)
    assert set(column_texts(window, COL_PREDICTION)) == {PARASITIZED}
    assert window.session.results.counts().parasitized == 12
    assert "(100.0%)" in window.summary.text()
    assert window.matrix.metrics.confusion == ((6, 0), (6, 0))
    with qtbot.waitSignal(window.session.metrics_changed, timeout=5000):
        window.threshold_control.slider.setValue(window.threshold_control.slider.maximum())
    assert window.session.threshold == 1.0 and window.threshold_control.spin.value() == 1.0
    assert set(column_texts(window, COL_PREDICTION)) == {UNINFECTED}
    assert window.matrix.metrics.confusion == ((0, 6), (0, 6))
    assert window.matrix.value_labels["sensitivity"].text() == "0.0%"
    # ROC AUC ignores the threshold: computed once after the run, shown, and reused.
    from sklearn.metrics import roc_auc_score

    truth = [t == PARASITIZED for t in window.session.results.truths()]
    expected = roc_auc_score(truth, window.session.results.probabilities())
    assert window.matrix.metrics.roc_auc == pytest.approx(expected)
    assert window.matrix.value_labels["roc_auc"].text() == f"{expected:.4f}"


def test_filters_split_the_rows_and_follow_the_threshold(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    probs = sorted(window.session.results.probabilities().tolist())
    window.session.set_threshold((probs[3] + probs[4]) / 2)  # 8 above, 4 below
    window.session.set_filter("parasitized")
    assert window.session.proxy.rowCount() == 8
    assert set(column_texts(window, COL_PREDICTION)) == {PARASITIZED}
    window.session.set_filter("uninfected")
    assert window.session.proxy.rowCount() == 4
    window.session.set_threshold(0.0)  # the filter follows the threshold live
    assert window.session.proxy.rowCount() == 0
    window.session.set_filter("misclassified")
    assert window.session.proxy.rowCount() == 6  # every Uninfected cell is now called Parasitized
    window.session.set_filter("all")
    assert window.session.proxy.rowCount() == 12
    assert window.filter_bar.filter_box.currentData() == "all"


def test_clicking_a_matrix_cell_filters_the_table(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    window.session.set_threshold(0.0)
    qtbot.waitUntil(lambda: window.matrix.metrics is not None and window.matrix.metrics.threshold == 0.0)
    canvas = window.matrix.canvas
    canvas.draw()
    x, y = window.matrix.cell_centre(UNINFECTED, PARASITIZED)
    ratio = canvas.device_pixel_ratio or 1
    from PySide6.QtCore import QPoint

    with qtbot.waitSignal(window.matrix.cell_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(x / ratio), int(canvas.height() - y / ratio)))
    assert blocker.args == [UNINFECTED, PARASITIZED]
    assert window.session.proxy.rowCount() == 6
    truths = window.session.results.truths()
    assert {truths[window.session.proxy.mapToSource(window.session.proxy.index(r, 0)).row()] for r in range(6)} == {UNINFECTED}
    assert window.filter_bar.filter_box.currentText() == "True Uninfected, predicted Parasitized"


def test_sort_least_confident_first(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    window.filter_bar.sort_box.setCurrentIndex(window.filter_bar.sort_box.findText("Least confident first"))
    margins = [abs(window.session.proxy.index(r, 0).data(PROBABILITY_ROLE) - window.session.threshold) for r in range(12)]
    assert margins == sorted(margins)
    window.results_views.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # header click: by file name
    names = column_texts(window, 1)
    assert names == sorted(names, key=str.casefold, reverse=True)


def test_selecting_a_row_or_tile_shows_it_large(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    window.results_views.table.selectRow(2)
    caption = window.preview.caption.text()
    assert window.session.proxy.index(2, 1).data() in caption and "P(Uninfected)" in caption
    assert window.preview.image.pixmap() is not None and not window.preview.image.pixmap().isNull()
    window.view_toggle.setChecked(True)
    assert window.results_views.views.currentWidget() is window.results_views.gallery
    window.session.set_filter("errors")
    assert window.results_views.gallery.model().rowCount() == 0  # the gallery shares the table's filter
    window.session.set_filter("all")
    window.results_views.gallery.setCurrentIndex(window.session.proxy.index(5, 0))
    assert window.session.proxy.index(5, 1).data() in window.preview.caption.text()
    assert window.results_views.table.currentIndex().row() == 5


def test_export_csv_matches_the_cli_columns(qtbot, window, labelled_folder, tmp_path):
    score_and_wait(qtbot, window, [labelled_folder])
    window.session.set_threshold(0.0)
    out = tmp_path / "out.csv"
    window.session.export_csv(out)
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "prediction", "p_parasitized", "error", "warning", "model", "threshold", "truth",
                             "corrected"]
    assert len(rows) == 12
    assert {r["prediction"] for r in rows} == {PARASITIZED}
    assert sorted(r["truth"] for r in rows) == [PARASITIZED] * 6 + [UNINFECTED] * 6
    # Input order, whatever order the table shows.
    window.session.sort_by("p", True)
    window.session.export_csv(out)
    with out.open(newline="") as fh:
        assert [r["path"] for r in csv.DictReader(fh)] == [r["path"] for r in rows]


def test_export_report_has_summary_matrix_and_escaped_names(qtbot, window, labelled_folder, tmp_path):
    from cells import synthetic_cell, write_rgb
    import numpy as np

    write_rgb(labelled_folder / "Parasitized" / "a&<b>.png", synthetic_cell(np.random.default_rng(3), True))
    score_and_wait(qtbot, window, [labelled_folder])
    out = tmp_path / "report.html"
    window.session.export_report(out)
    text = out.read_text(encoding="utf-8")
    assert "tiny-test-model" in text and "version 0" in text
    assert "data:image/png;base64," in text
    assert "a&amp;&lt;b&gt;.png" in text and "a&<b>.png" not in text
    assert text.count("<tr") >= 13


def test_cancel_mid_run_keeps_what_was_scored(qtbot, window, many_cells, slow_scoring):
    window.worker.batch_size = 16
    drop_paths(window, [many_cells])
    qtbot.waitUntil(lambda: window.session.results.rowCount() >= 32, timeout=SCORE_TIMEOUT_MS)
    assert window.status.cancel_button.isVisible()
    with qtbot.waitSignal(window.scoring_finished, timeout=1500):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    kept = window.session.counts().scored
    assert 32 <= kept < 600
    assert window.session.results.rowCount() == 600  # the rest listed as "not scored (cancelled)"
    assert window.session.last_run_cancelled and "Cancelled" in window.status.rate_label.text()
    qtbot.wait(300)
    assert window.session.counts().scored == kept  # nothing trickles in after the cancel
    # The worker is still usable afterwards.
    with qtbot.waitSignal(window.scoring_finished, timeout=SCORE_TIMEOUT_MS):
        window.add_paths([str(next(many_cells.rglob("*.png")).parent.parent / "Uninfected" / "c0000.png")])


def test_clear_empties_the_session(qtbot, window, labelled_folder):
    score_and_wait(qtbot, window, [labelled_folder])
    window.clear_action.trigger()
    assert window.session.results.rowCount() == 0
    assert window.results_views.currentWidget() is window.results_views.drop_hint
    assert "No cells" in window.summary.text()
    assert window.status.rate_label.text() == ""  # no "Done: 12 of 12" about rows that are gone
    score_and_wait(qtbot, window, [labelled_folder])  # the same files can be added again
    assert window.session.results.rowCount() == 12


def test_closing_during_a_run_leaves_no_thread(qtbot, make_window, many_cells, qtlog, slow_scoring):
    window = make_window()
    window.worker.batch_size = 16
    drop_paths(window, [many_cells])
    qtbot.waitUntil(lambda: window.session.results.rowCount() > 0, timeout=SCORE_TIMEOUT_MS)
    assert window.status.cancel_button.isVisible()  # still running
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 2.0
    assert not window.worker.isRunning()
    assert window.worker.isFinished()
    assert window.session.results.rowCount() < 600
    assert not [r for r in qtlog.records if "Destroyed while thread" in r.message]


def test_closing_while_the_model_loads_is_quick_and_leaves_no_process(qtbot, make_window):
    window = make_window(wait_for_model=False)
    qtbot.waitUntil(lambda: window.worker.process_id is not None, timeout=10_000)
    pid = window.worker.process_id
    started = time.monotonic()
    window.close()  # the process is busy importing JAX: it cannot answer, so it is ended
    assert time.monotonic() - started < 2.0
    assert not window.worker.isRunning()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_crashed_scoring_process_ends_the_run_and_comes_back(qtbot, window, many_cells, slow_scoring):
    """A decoder crash or the OOM killer takes the scoring process, never the window: what was
    scored stays, the user is told, and a new process with the model scores the next drop."""
    drop_paths(window, [many_cells])
    qtbot.waitUntil(lambda: window.session.results.rowCount() >= 32, timeout=SCORE_TIMEOUT_MS)
    pid = window.worker.process_id
    with qtbot.waitSignal(window.scoring_finished, timeout=MODEL_TIMEOUT_MS):
        os.kill(pid, signal.SIGKILL)
    kept = window.session.results.rowCount()
    assert 32 <= kept < 600
    assert window.session.last_run_cancelled and "Cancelled" in window.status.rate_label.text()
    assert "exit code -9" in window.session.last_crash
    assert window.worker.process_id not in (None, pid)
    score_and_wait(qtbot, window, [many_cells / "Uninfected" / "c0000.png"])
    assert window.session.results.rowCount() == kept + 1
    assert window.session.results.probabilities()[-1] == window.session.results.probabilities()[-1]  # scored, not NaN


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_model_problem_is_a_message_not_a_traceback(qtbot, make_window, tmp_path, labelled_folder, kind):
    path = tmp_path / "model.keras"
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 certainly not a keras archive")
    window = make_window(path, wait_for_model=False)
    qtbot.waitUntil(lambda: window.session.model_error is not None, timeout=60_000)
    assert window.banner.isVisible()
    assert "could not be loaded" in window.banner.text()
    assert ("not found" if kind == "missing" else "cannot load model") in window.banner.text()
    score_and_wait(qtbot, window, [labelled_folder])
    assert window.session.results.rowCount() == 12  # still listed, each saying why it has no score
    assert set(column_texts(window, COL_NOTE)) == {"waiting for a model"}


def test_settings_persist_between_windows(qtbot, make_window, labelled_folder):
    window = make_window()
    score_and_wait(qtbot, window, [labelled_folder])
    window.session.set_threshold(0.37)
    window.threshold_control.keep_button.click()  # pinned: moved alone, it would last this session only
    window.close()
    again = make_window()
    assert again.session.threshold == pytest.approx(0.37)
    recent = [a.text() for a in again.recent_menu.actions()]
    assert str(labelled_folder.resolve()) in recent


def test_a_small_window_scrolls_the_side_column_instead_of_overlapping_it(qtbot, window, labelled_folder):
    window.resize(1000, 560)
    score_and_wait(qtbot, window, [labelled_folder])
    window.results_views.select_source_row(0)  # the preview shows a cell and its caption
    side = window.preview.parentWidget()

    def laid_out_apart():
        stacked = [w for w in (window.preview.scroll, window.preview.zoom_box, window.preview.caption,
                               window.summary, window.matrix) if w.isVisible()]
        assert window.matrix in stacked
        tops = [w.mapTo(side, w.rect().topLeft()).y() for w in stacked]
        bottoms = [w.mapTo(side, w.rect().bottomLeft()).y() for w in stacked]
        assert all(bottom < top for bottom, top in zip(bottoms, tops[1:])), (tops, bottoms)
        # Taller than the window, it scrolls (the window keeps the size it was given, as on a
        # laptop's screen, instead of growing past it); and it is not cut at the side.
        assert window.height() <= 560
        assert window.side_scroll.verticalScrollBar().maximum() > 0
        assert window.side_scroll.viewport().width() >= side.minimumSizeHint().width()

    qtbot.waitUntil(laid_out_apart)  # once the layouts have settled


def test_a_scoring_process_that_cannot_start_is_said_and_the_window_still_closes(qtbot, make_window, monkeypatch):
    """No memory or no processes left: the technician reads why nothing can be scored instead of
    a window that waits for a model for ever (the worker thread used to die on it unheard)."""
    import multiprocessing.context

    def refuse(self):
        raise OSError("[Errno 11] Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", refuse)
    monkeypatch.setattr("malaria_gui.gui.worker.adopt_prestarted", lambda: None)
    window = make_window(wait_for_model=False)
    qtbot.waitUntil(lambda: window.session.model_error is not None, timeout=10_000)
    assert "could not start" in window.session.model_error
    assert "Resource temporarily unavailable" in window.session.model_error
    assert window.worker.isRunning()  # the worker goes on: a later job tries again

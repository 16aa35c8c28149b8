"""Why this call: the scoring process explains a row (a file or a field cell) and the queue
and the preview lay it over the cell with one key (W), asking as each cell is shown.

The scoring process's service is driven directly (no pipe); the queue is fed answers as the
worker relays them; the last test goes through the real window, worker and process.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from cells import synthetic_cell, synthetic_field, write_rgb
from malaria_gui.gui.review_queue import ReviewQueue
from malaria_gui.gui.scoring_process import ChunkReady, Explain, Explained, ExplainFailed, Row, Score, Service
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from tests.gui.conftest import SCORE_TIMEOUT_MS, drop_paths, score_and_wait
from tests.gui.test_session import RecordingJobs, info


@pytest.fixture
def field_path(tmp_path):
    image, _truth = synthetic_field(np.random.default_rng(3))
    return write_rgb(tmp_path / "slide_A" / "field_01.png", image)


@pytest.fixture
def cell_path(tmp_path):
    return write_rgb(tmp_path / "cells" / "one_cell.png", synthetic_cell(np.random.default_rng(0), True, size=90))


def _decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


# ---- the scoring process ----------------------------------------------------------------
def test_the_scoring_process_explains_a_file_and_a_field_cell_with_the_p_they_were_scored_with(
        tiny_classifier, field_path, cell_path, tmp_path):
    answers: list = []
    service = Service(answers.append, threading.Event())
    service.classifier = tiny_classifier
    service.score(Score(0, (str(cell_path), str(field_path))))
    rows = [r for a in answers if isinstance(a, ChunkReady) for r in a.rows]
    single = next(r for r in rows if r.cell is None)
    cell = next(r for r in rows if r.cell == 7)
    answers.clear()
    service.explain(Explain("file", single.path))
    service.explain(Explain("cell", cell.path, cell.box))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"no image")
    service.explain(Explain("gone", str(tmp_path / "gone.png")))
    service.explain(Explain("bad", str(bad)))
    service.explain(Explain("gone cell", str(tmp_path / "gone_field.png"), cell.box))
    service.explain(Explain("no such cell", cell.path, (0, 0, 4, 4)))
    by_key = {a.key: a for a in answers}
    assert [type(by_key[k]) for k in ("file", "cell")] == [Explained, Explained]
    # The cell the classifier scored, explained: the same P as its row.
    assert by_key["file"].p_parasitized == pytest.approx(single.p_parasitized, abs=1e-4)
    assert by_key["cell"].p_parasitized == pytest.approx(cell.p_parasitized, abs=1e-4)
    assert _decoded(by_key["file"].jpeg).shape == (320, 320, 3)  # a square file, at the queue's size
    x, y, w, h = cell.box
    assert _decoded(by_key["cell"].jpeg).shape[:2] == (round(h * 320 / max(w, h)), round(w * 320 / max(w, h)))
    # Each bad request is one clear answer, and the service goes on.
    assert by_key["gone"] == ExplainFailed("gone", "file not found")
    assert by_key["gone cell"] == ExplainFailed("gone cell", "file not found")
    assert "not an image" in by_key["bad"].message
    assert "not found in the field" in by_key["no such cell"].message
    service.classifier = None
    service.explain(Explain("late", single.path))
    assert answers[-1] == ExplainFailed("late", "no model is loaded")


# ---- the review queue -------------------------------------------------------------------
class ExplainingJobs(RecordingJobs):
    def explain(self, key, path, box=None):
        self.jobs.append(("explain", key, path, box))

    def explained(self) -> list:
        return [j for j in self.jobs if j[0] == "explain"]


def _thumb(colour) -> bytes:
    return cv2.imencode(".jpg", np.full((128, 128, 3), colour, np.uint8))[1].tobytes()


FIELD = "/slides/s1/field_001.jpg"
RED = (0, 0, 255)  # BGR: what the fake overlays are painted, so the test can see them


@pytest.fixture
def session(qtbot):
    s = Session(ExplainingJobs(), Settings())
    s.on_model_ready(info(threshold=0.5))
    s.add_paths(["/slides"])
    s.on_batch_started(s.generation, 4)
    s.on_chunk(s.generation, [Row(FIELD, 0.9 - 0.1 * i, None, None, _thumb((140, 200, 140)), cell=i + 1,
                                  box=(10 + 40 * i, 20, 30, 36)) for i in range(3)]
               + [Row("/slides/cells/c0.png", 0.6, None, None, _thumb((140, 200, 140)))])
    s.on_idle(s.ticket)
    return s


def _answer(session, request, colour=RED) -> None:
    _kind, key, _path, _box = request
    jpeg = cv2.imencode(".jpg", np.full((320, 266, 3), colour, np.uint8))[1].tobytes()
    session.on_explained(Explained(key, jpeg, 0.8, 0.5))


def _centre(label) -> tuple[int, int, int]:
    c = label.pixmap().toImage().pixelColor(160, 160)
    return c.red(), c.green(), c.blue()


def test_w_in_the_queue_lays_where_the_model_looked_over_the_cell_and_w_again_takes_it_off(qtbot, session):
    jobs = session.jobs
    queue = ReviewQueue(session)
    qtbot.addWidget(queue)
    queue.show()
    first, second = queue.queue[0], queue.queue[1]
    assert jobs.explained() == [] and queue.why_note.text().startswith("W (Why?)")
    assert _centre(queue.cell_view)[1] > 150  # the green thumbnail
    qtbot.keyClick(queue, Qt.Key.Key_W)
    assert "computing" in queue.why_note.text() and queue.buttons["W"].isChecked()
    assert jobs.explained() == [("explain", session.results.key(first), FIELD, (10, 20, 30, 36))]
    with qtbot.waitSignal(session.explanation_ready):
        _answer(session, jobs.explained()[0])
    red, green, _blue = _centre(queue.cell_view)
    assert red > 200 and green < 60  # the overlay, where the thumbnail was
    assert "hiding that part of the cell lowers P(Parasitized)" in queue.why_note.text()
    assert "from 0.80 by 0.50" in queue.why_note.text()
    # The next cell's explanation was asked for as soon as this one came (prefetch).
    assert jobs.explained()[1][1] == session.results.key(second)
    qtbot.keyClick(queue, Qt.Key.Key_W)
    assert queue.why_note.text().startswith("W (Why?)") and _centre(queue.cell_view)[1] > 150  # the thumbnail again
    qtbot.keyClick(queue, Qt.Key.Key_W)
    assert _centre(queue.cell_view)[0] > 200 and len(jobs.explained()) == 2  # kept: nothing asked again
    # On: the next cell shows its own overlay (blue here) once it comes.
    qtbot.keyClick(queue, Qt.Key.Key_S)
    assert queue.current_row() == second and "computing" in queue.why_note.text()
    assert _centre(queue.cell_view)[1] > 150
    _answer(session, jobs.explained()[1], colour=(255, 0, 0))
    assert _centre(queue.cell_view)[2] > 200
    # Back to the first: its overlay is kept.
    qtbot.keyClick(queue, Qt.Key.Key_Backspace)
    assert _centre(queue.cell_view)[0] > 200


def test_a_cell_that_cannot_be_explained_says_why_and_keeps_its_picture(qtbot, session):
    queue = ReviewQueue(session)
    qtbot.addWidget(queue)
    queue.show()
    qtbot.keyClick(queue, Qt.Key.Key_W)
    key = session.jobs.explained()[0][1]
    session.on_explained(ExplainFailed(key, "file not found"))
    assert "cannot be shown: file not found" in queue.why_note.text() and _centre(queue.cell_view)[1] > 150
    qtbot.keyClick(queue, Qt.Key.Key_W)
    qtbot.keyClick(queue, Qt.Key.Key_W)  # on again: asked again (the file may be back)...
    _answer(session, session.jobs.explained()[-1])  # ...once the next cell's (asked meanwhile) is in
    assert [j[1] for j in session.jobs.explained()].count(key) == 2


def test_one_request_at_a_time_and_only_the_cell_on_screen_waits(qtbot, session):
    queue = ReviewQueue(session)
    qtbot.addWidget(queue)
    queue.show()
    qtbot.keyClick(queue, Qt.Key.Key_W)
    for _ in range(3):  # the reviewer skips on before any answer came
        qtbot.keyClick(queue, Qt.Key.Key_S)
    jobs = session.jobs
    assert len(jobs.explained()) == 1  # the first is still with the scoring process
    _answer(session, jobs.explained()[0])
    assert jobs.explained()[1][1] == session.results.key(queue.current_row())  # then the one shown now


def test_clearing_the_session_forgets_the_explanations(qtbot, session):
    row = 0
    session.explain(row)
    _answer(session, session.jobs.explained()[0])
    assert isinstance(session.explanation(row), Explained)
    session.on_model_ready(info(threshold=0.5, name="other"))  # another model looks elsewhere
    assert session.explanation(row) is None


# ---- the real window: the preview, through the worker and the scoring process ---------------
def test_w_in_the_window_shows_where_the_model_looked_in_the_preview(qtbot, window, cell_path):
    score_and_wait(qtbot, window, [cell_path])
    window.results_views.select_source_row(0)
    preview = window.preview
    plain = preview.image.pixmap().toImage()
    table = window.results_views.table
    table.setFocus()
    with qtbot.waitSignal(window.session.explanation_ready, timeout=SCORE_TIMEOUT_MS):
        qtbot.keyClick(table, Qt.Key.Key_W)
        assert preview.why_action.isChecked() and preview.why_note.text().endswith("computing...")
    shown = preview.image.pixmap().toImage()
    assert shown.size() == plain.size() and shown != plain  # the overlay, at the cell's size in the preview
    assert "hiding that part lowers P(Parasitized)" in preview.why_note.text()
    qtbot.keyClick(table, Qt.Key.Key_W)
    assert not preview.why_action.isChecked() and preview.image.pixmap().toImage() == plain


def test_the_preview_lays_a_field_cells_overlay_at_the_cells_own_size_and_follows_the_selection(qtbot, session):
    from malaria_gui.gui.preview import PreviewPanel
    from malaria_gui.gui.scoring_process import FieldImage

    jpeg = cv2.imencode(".jpg", np.full((300, 400, 3), (140, 200, 140), np.uint8))[1].tobytes()
    session.on_field_image(session.generation, FieldImage(session.generation, FIELD, 400, 300, jpeg))
    preview = PreviewPanel(session)
    qtbot.addWidget(preview)
    preview.show()
    preview.show_row(0)
    plain = preview.image.pixmap().toImage()
    preview.why_action.trigger()  # W
    assert preview.why_note.text().endswith("computing...") and preview.image.pixmap().toImage() == plain
    jobs = session.jobs
    assert jobs.explained()[0][1:] == (session.results.key(0), FIELD, (10, 20, 30, 36))
    _answer(session, jobs.explained()[0])
    shown = preview.image.pixmap().toImage()
    assert shown.size() == plain.size() and shown.pixelColor(shown.width() // 2, shown.height() // 2).red() > 200
    preview.show_row(1)  # another row, still on: its own is asked for
    assert jobs.explained()[-1][1] == session.results.key(1) and preview.why_note.text().endswith("computing...")
    preview.show_row(2)
    _answer(session, jobs.explained()[-1])  # row 1's, come late: row 2 is shown now
    assert preview.image.pixmap().toImage().pixelColor(5, 5).green() > 150
    assert jobs.explained()[-1][1] == session.results.key(2)  # and asked for next
    preview.why_action.trigger()
    preview.show_row(0)
    assert preview.image.pixmap().toImage() == plain  # off: the cell as it is


def test_w_during_a_run_is_answered_between_two_batches_not_after_the_whole_folder(
        qtbot, window, many_cells, slow_scoring):
    """A reviewer looking at the first cells while a folder scores: the overlay comes while the
    run goes on (the scoring process answers between batches), and the run still finishes whole."""
    finished: list[bool] = []
    window.session.jobs.batch_finished.connect(lambda generation, cancelled: finished.append(cancelled))
    with qtbot.waitSignal(window.session.jobs.chunk_ready, timeout=SCORE_TIMEOUT_MS):
        assert drop_paths(window, [many_cells])
    total = 600
    assert window.session.results.rowCount() < total
    with qtbot.waitSignal(window.session.explanation_ready, timeout=SCORE_TIMEOUT_MS):
        assert window.session.explain(0) is None  # asked: the answer comes by signal
    assert isinstance(window.session.explanation(0), Explained)
    assert not finished, "the explanation waited for the whole run"
    assert window.session.results.rowCount() < total
    with qtbot.waitSignal(window.scoring_finished, timeout=SCORE_TIMEOUT_MS * 4):
        pass
    assert finished == [False] and window.session.results.rowCount() == total
    # The worker is idle again and answers the next request as a job of its own.
    with qtbot.waitSignal(window.session.explanation_ready, timeout=SCORE_TIMEOUT_MS):
        assert window.session.explain(1) is None
    assert isinstance(window.session.explanation(1), Explained)

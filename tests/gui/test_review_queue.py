"""The review queue: calls first then the uncertain band, one key per decision, undo, no mouse."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.engine.review_queue import review_order
from malaria_gui.gui.review_queue import ReviewQueue
from malaria_gui.gui.scoring_process import FieldImage, Row
from tests.gui.test_session import RecordingJobs, info, run

FIELD = "/slides/s1/field_001.jpg"


def _thumb(colour) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((128, 128, 3), colour, np.uint8))
    assert ok
    return data.tobytes()


def test_the_order_is_every_call_then_the_uncertain_band_largest_p_first():
    p = np.array([0.2, 0.95, 0.5, 0.61, np.nan, 0.58, 0.7, 0.44, 0.3])
    assert review_order(p, 0.6, band=0.15) == [1, 6, 3, 5, 2]
    eligible = np.array([True] * 9)
    eligible[6] = False
    assert review_order(p, 0.6, band=0.15, eligible=eligible) == [1, 3, 5, 2]


@pytest.fixture
def session(qtbot):
    from malaria_gui.gui.session import Session
    from malaria_gui.gui.settings import Settings

    s = Session(RecordingJobs(), Settings())
    s.on_model_ready(info(threshold=0.5))
    return s


def _score(session, n_field=40, n_files=20):
    """A field of ``n_field`` cells and ``n_files`` single-cell files, P spread over 0..1."""
    rng = np.random.default_rng(3)
    p_field = rng.uniform(0, 1, n_field)
    p_files = rng.uniform(0, 1, n_files)
    jpeg = _thumb((200, 170, 190))
    field_rows = [Row(FIELD, float(p), None, None, _thumb((150, 100, 160)), cell=i + 1,
                      box=(10 + 3 * i, 20, 30, 30), contour=None) for i, p in enumerate(p_field)]
    file_rows = [Row(f"/slides/cells/c{i}.png", float(p), None, None, _thumb((190, 140, 160)))
                 for i, p in enumerate(p_files)]
    session.add_paths(["/slides"])
    session.on_batch_started(session.generation, n_field + n_files)
    session.on_field_image(session.generation, FieldImage(session.generation, FIELD, 400, 300, jpeg))
    session.on_chunk(session.generation, field_rows)
    session.on_chunk(session.generation, file_rows + [Row("/slides/bad.png", None, "not an image", None, None)])
    session.on_idle(session.ticket)
    return np.concatenate([p_field, p_files])


def test_keys_alone_go_through_the_queue_and_mark_each_cell(qtbot, session):
    p = _score(session)
    queue = ReviewQueue(session)
    qtbot.addWidget(queue)
    queue.show()
    expected = review_order(np.append(p, np.nan), 0.5)
    assert queue.queue == expected and len(expected) > 30
    assert "0 of" in queue.progress.text()
    keys = [Qt.Key.Key_C, Qt.Key.Key_R, Qt.Key.Key_N, Qt.Key.Key_S] * (len(expected) // 4 + 1)
    decided = {}
    for k, key in zip(range(len(expected)), keys):
        row = queue.current_row()
        assert row == expected[k], (k, queue.position)
        qtbot.keyClick(queue, key)
        if key == Qt.Key.Key_N and not session.results.cell(row):
            # A file of its own is one cell image: N has nothing to take out, and the queue waits.
            assert queue.current_row() == row and "a file of its own" in queue.caption.text()
            qtbot.keyClick(queue, Qt.Key.Key_S)
            key = Qt.Key.Key_S
        decided[row] = {Qt.Key.Key_C: PARASITIZED, Qt.Key.Key_R: UNINFECTED, Qt.Key.Key_N: NOT_A_CELL}.get(key)
    assert queue.current_row() == -1 and queue.cell_view.text() == "Queue done"
    results = session.results
    for row, label in decided.items():
        assert results.truths()[row] == label, row  # skipped cells keep no label
    marked = sum(v is not None for v in decided.values())
    assert f"{marked} of {len(expected)} reviewed" in queue.progress.text()
    # One undo step per decision: the session's Ctrl+Z history holds exactly the queue's decisions.
    assert session.undo_stack.count() == marked


def test_back_takes_the_last_decision_back_and_shows_its_cell_again(qtbot, session):
    _score(session)
    queue = ReviewQueue(session)
    qtbot.addWidget(queue)
    first, second = queue.queue[:2]
    qtbot.keyClick(queue, Qt.Key.Key_C)
    qtbot.keyClick(queue, Qt.Key.Key_S)
    assert queue.current_row() == queue.queue[2]
    qtbot.keyClick(queue, Qt.Key.Key_Backspace)  # back over the skip: nothing to undo
    assert queue.current_row() == second and session.results.truths()[first] == PARASITIZED
    qtbot.keyClick(queue, Qt.Key.Key_Backspace)  # back over the decision: undone
    assert queue.current_row() == first and session.results.truths()[first] is None
    assert session.undo_stack.count() == 1 and session.undo_stack.index() == 0


def test_a_field_cell_shows_its_place_in_the_field_and_a_file_says_it_has_none(qtbot, session):
    _score(session)
    queue = ReviewQueue(session)
    qtbot.addWidget(queue)
    shown = {}
    queue.current_changed.connect(lambda row: shown.setdefault(row, (queue.context_view.pixmap().isNull(),
                                                                     queue.caption.text())))
    for _ in queue.queue:
        qtbot.keyClick(queue, Qt.Key.Key_S)
    field_rows = [r for r in queue.queue if session.results.cell(r)]
    file_rows = [r for r in queue.queue if not session.results.cell(r)]
    assert field_rows and file_rows
    assert all(not shown[r][0] and "cell #" in shown[r][1] for r in field_rows if r in shown)
    assert all(shown[r][0] for r in file_rows if r in shown)


def test_a_session_of_field_cells_counts_at_the_cards_field_threshold(qtbot):
    from malaria_gui.gui.scoring_process import ModelInfo
    from malaria_gui.gui.session import Session
    from malaria_gui.gui.settings import Settings

    s = Session(RecordingJobs(), Settings())
    s.on_model_ready(ModelInfo(name="m", version="1", threshold=0.56, card={"field_threshold": 0.65},
                               path="/m.keras", input_size=64))
    assert s.threshold == 0.56
    field = [Row(FIELD, 0.6, None, None, None, cell=i + 1, box=(0, 0, 9, 9)) for i in range(3)]
    run(s, [field])
    assert s.threshold == 0.65 and not s.threshold_is_custom
    assert s.counts().parasitized == 0  # 0.6 is under the field threshold
    run(s, [[Row("/slides/one.png", 0.6, None, None, None)]])  # a file of its own joins: single-cell cut-off
    assert s.threshold == 0.56 and not s.threshold_is_custom
    s.clear()
    run(s, [field])
    s.set_threshold(0.7)  # the user's threshold is theirs
    run(s, [[Row("/slides/two.png", 0.6, None, None, None)]])
    assert s.threshold == 0.7


def test_the_window_opens_the_queue_from_the_edit_menu_and_the_table_follows(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from tests.cells import synthetic_cell, write_rgb

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)  # on close
    from tests.gui.conftest import score_and_wait

    rng = np.random.default_rng(5)
    for i in range(12):
        write_rgb(tmp_path / "cells" / f"c{i}.png", synthetic_cell(rng, i % 2 == 0))
    score_and_wait(qtbot, window, [str(tmp_path / "cells")])
    window.session.set_threshold(float(np.median(window.session.results.probabilities())))
    window.review_queue_action.trigger()
    queue = window.review_queue
    assert queue.isVisible() and queue.queue
    qtbot.keyClick(queue, Qt.Key.Key_C)
    assert window.session.results.truths()[queue.queue[0]] == PARASITIZED
    assert window.results_views.selected_rows() == [queue.queue[1]]  # the table shows the queue's cell

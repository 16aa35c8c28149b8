"""Whole smear fields in the window: the scoring process routes them to the field engine,
their cells become rows with a Field column, the field view outlines them, the summary and
the report give parasitemia.

The scoring process's service is driven directly (no pipe) and the session and widgets are
fed rows as the worker sends them (no window); the last tests use the real window.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from cells import synthetic_cell, synthetic_field, write_rgb
from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED, UNINFECTED
from malaria_gui.gui.field_summary import FieldSummary
from malaria_gui.gui.field_view import FieldView, cell_pixmap
from malaria_gui.gui.results_model import COL_FIELD, SORT_FIELD
from malaria_gui.gui.scoring_process import (
    FIELD_AUTO, FIELD_CELLS, FIELD_FIELDS, ChunkReady, FieldImage, Row, Score, Service, field_display_copy,
)
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from tests.gui.conftest import SCORE_TIMEOUT_MS, score_and_wait
from tests.gui.test_session import RecordingJobs, info


@pytest.fixture
def field_path(tmp_path) -> Path:
    image, _truth = synthetic_field(np.random.default_rng(3))
    return write_rgb(tmp_path / "slide_A" / "field_01.png", image)


@pytest.fixture
def cell_path(tmp_path) -> Path:
    return write_rgb(tmp_path / "cells" / "one_cell.png", synthetic_cell(np.random.default_rng(0), True))


@pytest.fixture
def noise_path(tmp_path) -> Path:
    rng = np.random.default_rng(2)
    return write_rgb(tmp_path / "photos" / "noise.png", rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))


def serve_once(classifier, paths, mode: str) -> list:
    """What the scoring process answers to one score job."""
    answers: list = []
    service = Service(answers.append, threading.Event())
    service.classifier = classifier
    service.score(Score(0, tuple(str(p) for p in paths), field_mode=mode))
    return answers


def rows_of(answers) -> list[Row]:
    return [row for a in answers if isinstance(a, ChunkReady) for row in a.rows]


# ---- the scoring process ----------------------------------------------------------------
def test_a_field_is_recognised_and_its_cells_become_rows(tiny_classifier, field_path, cell_path):
    from malaria_gui.engine.fields import segment_field
    from malaria_gui.engine.decoding import decode

    answers = serve_once(tiny_classifier, [cell_path, field_path], FIELD_AUTO)
    rows = rows_of(answers)
    expected = len(segment_field(decode(field_path)))
    assert rows[0].path == str(cell_path) and rows[0].cell is None and rows[0].p_parasitized is not None
    field_rows = rows[1:]
    assert len(field_rows) == expected > 20
    assert [r.cell for r in field_rows] == list(range(1, expected + 1))
    assert all(r.path == str(field_path) and r.thumb and r.box and r.contour is not None for r in field_rows)
    images = [a for a in answers if isinstance(a, FieldImage)]
    assert len(images) == 1 and (images[0].width, images[0].height) == (640, 480)
    # Progress counts rows: two files announced, then the field's cells beyond the first.
    from malaria_gui.gui.scoring_process import BatchStarted

    assert sum(a.total for a in answers if isinstance(a, BatchStarted)) == len(rows)


def test_forcing_a_reading_scores_a_field_as_one_cell_and_a_cell_as_a_field(
        tiny_classifier, field_path, cell_path, noise_path):
    as_cells = rows_of(serve_once(tiny_classifier, [field_path], FIELD_CELLS))
    assert len(as_cells) == 1 and as_cells[0].cell is None and as_cells[0].p_parasitized is not None
    as_fields = rows_of(serve_once(tiny_classifier, [cell_path, noise_path], FIELD_FIELDS))
    assert [(r.cell, r.p_parasitized) for r in as_fields] == [(0, None), (0, None)]  # one error row each
    assert "single cell" in as_fields[0].error and "not a smear field" in as_fields[1].error
    # Automatic: a large image that is not a smear is read as a cell, as before.
    auto = rows_of(serve_once(tiny_classifier, [noise_path], FIELD_AUTO))
    assert len(auto) == 1 and auto[0].cell is None


def test_display_copy_is_bounded(tmp_path):
    big = write_rgb(tmp_path / "big.png", np.full((1200, 2400, 3), 200, np.uint8))
    width, height, jpeg = field_display_copy(str(big), side=800)
    import cv2

    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert (width, height) == (2400, 1200) and shown.shape[:2] == (400, 800)
    assert field_display_copy(str(tmp_path / "missing.png")) is None


# ---- the session and widgets, fed as the worker would ----------------------------------------
def square(x, y, side=20):
    return np.array([[x, y], [x + side, y], [x + side, y + side], [x, y + side]], np.int32)


PROBS = [0.9, 0.2, 0.1, 0.6, 0.3, 0.05]  # at 0.5: cells 1 and 4 parasitized


def field_rows(path="/slides/A/f1.png", probs=PROBS) -> list[Row]:
    return [Row(path, p, None, None, None, cell=i + 1, box=(10 + 30 * i, 10, 21, 21), contour=square(10 + 30 * i, 10))
            for i, p in enumerate(probs)]


def field_image(path="/slides/A/f1.png", scale=0.5) -> FieldImage:
    import cv2

    rgb = np.full((100, 200, 3), 220, np.uint8)
    rgb = cv2.resize(rgb, (int(200 * scale), int(100 * scale)))
    ok, buf = cv2.imencode(".jpg", rgb)
    return FieldImage(0, path, 200, 100, buf.tobytes())


def fed_session(qtbot) -> Session:
    session = Session(RecordingJobs(), Settings())
    session.on_model_ready(info())
    session.add_paths(["/slides"])
    session.on_batch_started(0, 3)
    session.on_chunk(0, [Row("/slides/cell.png", 0.7, None, PARASITIZED, None)])
    session.on_field_image(0, field_image())
    session.on_chunk(0, field_rows())
    session.on_chunk(0, [Row("/slides/B/bad.png", None, "not a smear field: blank", None, None, cell=0)])
    session.on_idle(session.ticket)
    return session


def test_session_groups_rows_into_fields_with_parasitemia(qtbot):
    session = fed_session(qtbot)
    results = session.results
    assert results.index(0, COL_FIELD).data() == ""
    assert results.index(1, COL_FIELD).data() == "f1 #1"
    assert results.index(7, COL_FIELD).data() == "bad.png (not counted)"
    fields = results.field_results()
    assert [(f.slide, Path(f.path).name, len(f.cells), f.error) for f in fields] == [
        ("A", "f1.png", 6, None), ("B", "bad.png", 0, "not a smear field: blank")]
    pct, low, high = fields[0].parasitemia(0.5)
    assert pct == pytest.approx(100 * 2 / 6) and low < pct < high
    assert "f1 #1" in results.caption(1)  # the gallery's tile names the field
    session.sort_by(SORT_FIELD, descending=True)
    assert results.cell(0) == 0 and results.cell(1) == 6
    session.clear()
    assert session.field_images == {} and results.field_results() == []


def test_summary_shows_parasitemia_per_field_and_slide_and_follows_the_threshold(qtbot):
    session = fed_session(qtbot)
    summary = FieldSummary(session)
    qtbot.addWidget(summary)
    summary.refresh()
    text = summary.text()
    assert not summary.isHidden()
    assert "Slide <b>A</b>: 1 field, 6 cells, 2 parasitized" in text and "33.33% (95% CI" in text
    assert "bad.png: <span" in text and "not counted: not a smear field" in text
    session.set_threshold(0.95)
    assert "6 cells, 0 parasitized" in summary.text() and "0.00% (95% CI 0.00-" in summary.text()
    session.clear()
    assert summary.isHidden()


def test_the_first_field_scored_is_shown_with_no_cell_marked_selected(qtbot):
    session = Session(RecordingJobs(), Settings())
    session.on_model_ready(info())
    view = FieldView(session)
    qtbot.addWidget(view)
    session.add_paths(["/slides"])
    session.on_batch_started(0, 1)
    session.on_field_image(0, field_image())
    session.on_chunk(0, field_rows())
    assert view.path == "/slides/A/f1.png" and len(view.outlines) == 6
    assert view.highlighted is None and "#f1c40f" not in {view.outline_colour(c).name() for c in view.outlines}


def test_field_view_outlines_every_cell_clicks_select_and_threshold_recolours(qtbot):
    session = fed_session(qtbot)
    view = FieldView(session)
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    view.show_row(3)  # cell 3 of f1.png
    assert view.path == "/slides/A/f1.png" and len(view.outlines) == 6 and view.highlighted == 3
    red, blue = CLASS_COLOURS[PARASITIZED], CLASS_COLOURS[UNINFECTED]
    assert view.outline_colour(1).name() == red and view.outline_colour(2).name() == blue
    assert view.outline_colour(3).name() == "#f1c40f"  # the highlighted one
    view.show_row(0)  # a plain cell: the field stays, with no cell of it marked as selected
    assert view.path == "/slides/A/f1.png" and view.highlighted is None
    assert view.outline_colour(3).name() in (red, blue)
    session.set_threshold(0.15)
    assert view.outline_colour(2).name() == red and view.outline_colour(6).name() == blue
    # Clicking inside cell 4's outline picks its row.
    centre = view.mapFromScene(10 + 30 * 3 + 10, 20)
    with qtbot.waitSignal(view.cell_clicked) as clicked:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert session.results.cell(clicked.args[0]) == 4 and view.highlighted == 4
    # A drag pans and picks nothing.
    fired = []
    view.cell_clicked.connect(fired.append)
    view.zoom(3.0)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(view.viewport(), centre + QPoint(40, 0))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=centre + QPoint(40, 0))
    assert fired == []
    # Keys zoom and fit; the wheel zooms.
    view.fit()
    fitted = view.transform().m11()
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.transform().m11() == pytest.approx(fitted * 1.25)
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert view.transform().m11() == pytest.approx(fitted)
    view.zoom(1e6)
    assert view.transform().m11() == pytest.approx(40.0)  # zoom is bounded
    view.fit()
    # The crop shown in the preview: the cell's box from the display copy, black outside.
    crop = cell_pixmap(session, 1)
    assert crop is not None and (crop.width(), crop.height()) == (10, 10)
    view.show_row(7)  # the field that was not counted
    assert view.outlines == {} and view.path is None


# ---- the window -----------------------------------------------------------------------------
def test_a_dropped_field_becomes_cell_rows_shown_outlined_in_the_window(qtbot, window, field_path, tmp_path):
    from malaria_gui.engine.decoding import decode
    from malaria_gui.engine.fields import segment_field

    expected = len(segment_field(decode(field_path)))
    score_and_wait(qtbot, window, [field_path])
    results = window.session.results
    assert results.rowCount() == expected
    # The status bar counts the field's cells as cells, not as files.
    assert window.status.rate_label.text().startswith(f"Done: {expected} of {expected} ({expected} cells from 1 field) in ")
    assert results.index(0, COL_FIELD).data() == "field_01 #1"
    view = window.field_panel.view
    qtbot.waitUntil(lambda: len(view.outlines) == expected, timeout=SCORE_TIMEOUT_MS)
    assert window.field_panel.isVisible() and "field_01.png" in window.field_panel.title.text()
    assert not window.results_views.table.isColumnHidden(COL_FIELD)
    assert "Slide <b>slide_A</b>" in window.field_summary.text() and "95% CI" in window.field_summary.text()
    # Click cell 5 in the field view: its row becomes current and the preview shows its crop.
    cell = 5
    box = results.box(results.field_rows(str(field_path))[cell - 1])
    x, y, w, h = box
    pos = view.mapFromScene(x + w / 2, y + h / 2)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    current = window.results_views.table.currentIndex()
    assert current.isValid()
    source = window.session.proxy.mapToSource(current).row()
    assert results.cell(source) == cell
    assert window.preview.image.pixmap() is not None and not window.preview.image.pixmap().isNull()
    assert f"Cell {cell} of this field" in window.preview.caption.text()
    crop = cell_pixmap(window.session, source).toImage()  # a round cell: the corners are outside it, black
    assert (crop.width(), crop.height()) == (w, h) and crop.pixelColor(0, 0).name() == "#000000"
    assert crop.pixelColor(w // 2, h // 2).name() != "#000000"
    # Selecting another row shows its field with that cell highlighted.
    other = results.field_rows(str(field_path))[1]
    window.results_views.select_source_row(other)
    assert view.highlighted == results.cell(other)
    # The threshold recolours the outlines.
    window.session.set_threshold(0.0)
    assert all(view.outline_colour(c).name() == CLASS_COLOURS[PARASITIZED]
               for c in view.outlines if c != view.highlighted)
    # The report has the per-field table and the field drawn with its outlines.
    report = tmp_path / "report.html"
    window.session.export_report(report)
    text = report.read_text()
    assert "Whole smear fields" in text and "field_01.png" in text and "data:image/jpeg;base64," in text
    import re

    assert re.search(r"field_01.png</td><td>\d+</td><td>1</td>", text)  # its white cell, counted in the scoring process


def test_the_view_menu_forces_a_field_to_be_read_as_one_cell(qtbot, window, field_path, noise_path):
    assert window.field_mode_actions[FIELD_AUTO].isChecked()
    window.field_mode_actions[FIELD_CELLS].trigger()
    assert window.settings.field_mode() == FIELD_CELLS and window.worker.field_mode == FIELD_CELLS
    score_and_wait(qtbot, window, [field_path])
    assert window.session.results.rowCount() == 1 and window.session.results.cell(0) is None
    assert window.results_views.table.isColumnHidden(COL_FIELD)  # no field: no Field column
    window.field_mode_actions[FIELD_FIELDS].trigger()
    window.session.clear()
    score_and_wait(qtbot, window, [noise_path])
    results = window.session.results
    assert results.rowCount() == 1 and results.cell(0) == 0 and "not a smear field" in results.error(0)
    assert window.field_panel.isHidden() or not window.field_panel.view.outlines

"""A case reopened from the store is whole again (issue 21): its rows get thumbnails made by the
scoring process from the files still there (a file gone says so, its rows stay), its fields
keep their white cells, and a labelled folder's files keep the truth their folder gave, so the
confusion matrix is the one shown before the window was closed.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from cells import synthetic_cell, synthetic_field, write_rgb
from malaria_gui.engine import decoding
from malaria_gui.engine.cases import CONFIRMED, CaseStore
from malaria_gui.gui.scoring_process import (
    FILE_MISSING, FieldImage, MakeThumbnails, StoredPicture, ThumbnailsReady, make_thumbnails,
)
from malaria_gui.gui.results_model import COL_NOTE
from malaria_gui.gui.settings import Settings
from tests.gui.conftest import SCORE_TIMEOUT_MS, score_and_wait


@pytest.fixture
def slide_files(tmp_path):
    """A field and a cell file that are there, and one of each that was deleted."""
    field, _ = synthetic_field(np.random.default_rng(3))
    rng = np.random.default_rng(1)
    return {"field": write_rgb(tmp_path / "slide" / "field_01.png", field),
            "cell": write_rgb(tmp_path / "slide" / "Parasitized" / "c1.png", synthetic_cell(rng, True, size=90)),
            "field_gone": tmp_path / "slide" / "field_02.png",
            "cell_gone": tmp_path / "slide" / "Parasitized" / "c2.png"}


def test_the_scoring_process_decodes_each_file_once_and_says_which_are_missing(slide_files, tmp_path, monkeypatch):
    broken = tmp_path / "slide" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    decoded: list[str] = []
    real = decoding.decode
    monkeypatch.setattr(decoding, "decode", lambda p: decoded.append(str(p)) or real(p))
    # 300 cells inside the 640 x 480 field (more than one chunk's worth) and one outside it.
    boxes = tuple((n, 40 * (n % 15), 30 * (n // 15 % 15), 30, 32, None) for n in range(1, 301)) + (
        (301, 700, 10, 30, 30, None),)
    job = MakeThumbnails(4, (StoredPicture(str(slide_files["field"]), boxes, 1),
                             StoredPicture(str(slide_files["field_gone"]), ((1, 0, 0, 30, 30, None),)),
                             StoredPicture(str(slide_files["cell"]), None),
                             StoredPicture(str(slide_files["cell_gone"]), None),
                             StoredPicture(str(broken), None)))
    sent: list = []
    make_thumbnails(job, sent.append, threading.Event())
    assert decoded == [str(slide_files["field"]), str(slide_files["cell"]), str(broken)]  # once each, gone ones not
    assert isinstance(sent[0], FieldImage) and sent[0].white_cells == 1
    assert (sent[0].width, sent[0].height) == (640, 480)
    chunks = [a for a in sent if isinstance(a, ThumbnailsReady)]
    assert len(chunks) >= 2 and [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    thumbs = {(Path(p).name, cell): jpeg for c in chunks for p, cell, jpeg in c.thumbs}
    assert {cell for name, cell in thumbs if name == "field_01.png"} == set(range(1, 301))  # not the one outside
    assert ("c1.png", None) in thumbs and all(j[:2] == b"\xff\xd8" for j in thumbs.values())
    missing = dict(m for c in chunks for m in c.missing)
    assert missing[str(slide_files["field_gone"])] == FILE_MISSING == missing[str(slide_files["cell_gone"])]
    assert missing[str(broken)].startswith("cannot be read now")


def test_a_reopened_case_gets_its_thumbnails_and_says_which_files_are_missing(qtbot, make_window, store_path,
                                                                            slide_files):
    with CaseStore(store_path) as store:
        slide = store.open_slide("T-1")
        for key in ("field", "field_gone"):
            store.add_image(slide, slide_files[key], [(1, 40, 40, 30, 30, 0.9), (2, 100, 60, 30, 30, 0.2)],
                            model="tiny 0", threshold=0.5)
        for key in ("cell", "cell_gone"):
            store.add_image(slide, slide_files[key], [(1, 0, 0, 90, 90, 0.8)], kind="cell", model="tiny 0",
                            threshold=0.5)
    window = make_window()
    Settings().set_reviewer_name("Ben")
    window.cases.ask_open_case = lambda store: "T-1"
    session, results = window.session, window.session.results
    with qtbot.waitSignal(session.thumbnails_done, timeout=SCORE_TIMEOUT_MS) as done:
        assert window.cases.open_case()
        assert results.rowCount() == 6 and all(results.thumbnail(r) is None for r in range(6))  # shown at once
    assert done.args == [2]
    assert window.status.rate_label.text() == ""  # a reopened slide was not scored: no rate, no time left
    rows = {(Path(results.path(r)).name, results.cell(r)): r for r in range(6)}
    for name, cell in (("field_01.png", 1), ("field_01.png", 2), ("c1.png", None)):
        assert results.thumbnail(rows[name, cell]) is not None and results.missing(rows[name, cell]) is None
    for name, cell in (("field_02.png", 1), ("field_02.png", 2), ("c2.png", None)):
        row = rows[name, cell]
        assert results.thumbnail(row) is None and results.missing(row) == FILE_MISSING
        assert FILE_MISSING in results.index(row, COL_NOTE).data()  # the Note column says so
    assert results.probabilities()[rows["field_02.png", 1]] == pytest.approx(0.9)  # the stored result stays
    assert set(session.field_images) == {str(slide_files["field"])}  # the field's picture came from the process
    window.results_views.select_source_row(rows["c2.png", None])
    assert "File missing" in window.preview.image.text()
    window.results_views.select_source_row(rows["field_02.png", 1])
    qtbot.waitUntil(lambda: window.field_panel.view.path == str(slide_files["field_gone"]))
    assert FILE_MISSING in window.field_panel.title.text()


def test_white_cells_of_a_field_survive_a_reopen(qtbot, make_window, store_path, slide_files, tmp_path):
    window = make_window()
    window.cases.record_action.setChecked(True)
    window.cases.ask_new_case = lambda why="": ("W-2", "", "Rita")
    score_and_wait(qtbot, window, [slide_files["field"]])
    path = str(slide_files["field"])
    with CaseStore(store_path) as store:  # the synthetic field's one white cell, as smear --case stores it
        assert store.load_slide("W-2").images[0].white_cells == 1
    assert window.session.white_cells == {path: 1}

    window.session.clear()
    window.cases.ask_open_case = lambda store: "W-2"
    with qtbot.waitSignal(window.session.thumbnails_done, timeout=SCORE_TIMEOUT_MS):
        assert window.cases.open_case()
    assert window.session.white_cells == {path: 1}
    window.field_summary.refresh()
    assert "1 white cell counted apart" in window.field_summary.text()
    window.session.export_report(tmp_path / "r.html")
    assert re.search(r"field_01.png</td><td>\d+</td><td>1</td>", (tmp_path / "r.html").read_text())
    window.results_views.select_source_row(0)
    qtbot.waitUntil(lambda: window.field_panel.view.path == path)
    assert "1 white cell counted apart" in window.field_panel.title.text()


def test_a_labelled_folder_shows_the_same_matrix_after_a_reopen(qtbot, make_window, store_path, labelled_folder):
    window = make_window()
    window.cases.record_action.setChecked(True)
    window.cases.ask_new_case = lambda why="": ("L-1", "", "Rita")
    score_and_wait(qtbot, window, [labelled_folder])
    session = window.session
    session.set_truth([0], CONFIRMED if session.results.truths()[0] != CONFIRMED else "Uninfected")  # a correction
    qtbot.waitUntil(lambda: window.matrix.metrics is not None)
    before, sources = window.matrix.metrics, session.truth_text()
    assert before.n == 12

    session.clear()
    assert window.matrix.metrics is None
    window.cases.ask_open_case = lambda store: "L-1"
    assert window.cases.open_case()
    qtbot.waitUntil(lambda: window.matrix.metrics is not None)
    assert window.matrix.metrics == before and session.truth_text() == sources


def _pixels(pixmap) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    return np.frombuffer(image.constBits(), np.uint8, stride * height).reshape(height, stride)[:, :3 * width].reshape(
        height, width, 3).astype(int)


def test_a_reopened_field_shows_its_cells_as_they_were_found(qtbot, make_window, store_path, slide_files):
    """Outlines, not boxes: the field view draws each stored outline, and each gallery tile is
    the crop the model saw (black outside the cell), as before the window was closed."""
    window = make_window()
    window.cases.record_action.setChecked(True)
    window.cases.ask_new_case = lambda why="": ("O-7", "", "Rita")
    score_and_wait(qtbot, window, [slide_files["field"]])
    results = window.session.results
    live = {results.cell(r): (results.contour(r), _pixels(results.thumbnail(r))) for r in range(results.rowCount())}
    assert len(live) > 5

    window.session.clear()
    window.cases.ask_open_case = lambda store: "O-7"
    with qtbot.waitSignal(window.session.thumbnails_done, timeout=SCORE_TIMEOUT_MS):
        assert window.cases.open_case()
    assert results.rowCount() == len(live)
    for r in range(results.rowCount()):
        contour, tile = live[results.cell(r)]
        stored = results.contour(r)
        assert stored is not None and len(stored) >= 4
        assert np.abs(stored[:, None, :] - contour[None, :, :]).max(axis=2).min(axis=1).max() <= 2  # same outline
        reopened = _pixels(results.thumbnail(r))
        assert reopened[:3, :3].mean() < 40 and tile[:3, :3].mean() < 40  # black outside the cell, both times
        assert np.abs(reopened - tile).mean() < 12  # the same picture (two JPEGs of nearly the same crop)
    window.results_views.select_source_row(0)
    qtbot.waitUntil(lambda: window.field_panel.view.path == str(slide_files["field"]))
    drawn = window.field_panel.view.outlines[results.cell(0)].polygon()
    assert drawn.count() == len(results.contour(0))  # the stored outline, not the box's rectangle


def test_cancelling_a_run_does_not_lose_a_reopened_slides_thumbnails(qtbot, make_window, store_path, slide_files):
    """Cancel stops the run, not the pictures of the slide being shown: thumbnails queued behind
    the model's load (or being made) when the run is cancelled still all arrive."""
    with CaseStore(store_path) as store:
        store.add_image(store.open_slide("C-3"), slide_files["field"], [(1, 40, 40, 30, 30, 0.9)],
                        model="tiny 0", threshold=0.5)
    Settings().set_reviewer_name("Ben")
    window = make_window(wait_for_model=False)  # the thumbnails queue behind the model's load
    window.cases.ask_open_case = lambda store: "C-3"
    with qtbot.waitSignal(window.session.thumbnails_done, timeout=SCORE_TIMEOUT_MS):
        assert window.cases.open_case()
        window.session.jobs.cancel()  # what Cancel does to the worker while a run is queued
    assert window.session.results.thumbnail(0) is not None

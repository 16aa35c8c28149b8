"""Cases in the real window (issue 21): Record cases asks for the slide and records what is
scored; File > Open case shows a stored slide without scoring (its field pictures where the
files still exist); adding images to an open slide happens only when the technician says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cells import synthetic_field, write_rgb
from malaria_gui.engine.cases import CONFIRMED, NOT_A_CELL, REJECTED, CaseStore
from malaria_gui.engine.labels import PARASITIZED
from malaria_gui.gui.case_flow import ADD, CANCEL
from malaria_gui.gui.settings import Settings
from tests.gui.conftest import score_and_wait


def test_record_cases_asks_for_the_slide_and_records_what_is_scored(qtbot, make_window, store_path, labelled_folder):
    window = make_window()
    window.cases.record_action.setChecked(True)
    asked = []
    window.cases.ask_new_case = lambda why="": asked.append(why) or ("W-1", "patient 9", "Rita")
    score_and_wait(qtbot, window, [labelled_folder])
    assert len(asked) == 1 and "slide" in window.windowTitle() and "W-1" in window.windowTitle()
    with CaseStore(store_path) as store:
        case = store.load_slide("W-1")
    assert case.reference == "patient 9" and len(case.images) == 12
    assert {im.kind for im in case.images} == {"cell"} and all(im.model for im in case.images)
    window.session.set_truth([0], None)  # a reviewer's decision, written at once
    with CaseStore(store_path) as store:
        assert [(h[3]) for h in store.decision_history("W-1")] == ["Rita"]
    assert Settings().reviewer_name() == "Rita"

    # The same folder again: the technician is asked; Cancel adds nothing.
    window.cases.ask_add_or_new = lambda slide: asked.append(slide) or CANCEL
    ticket = window.session.ticket
    window.add_paths([str(labelled_folder)])
    assert asked[-1] == "W-1" and window.session.ticket == ticket


@pytest.fixture
def stored_slide(tmp_path, store_path) -> tuple[Path, Path]:
    """Slide R-1 in the store: a field whose file exists (3 cells, 2 decisions) and one whose file is gone."""
    image, _ = synthetic_field(np.random.default_rng(3))
    here = write_rgb(tmp_path / "slide" / "field_01.png", image)
    gone = tmp_path / "slide" / "field_02.png"
    with CaseStore(store_path) as store:
        slide = store.open_slide("R-1", "patient 2")
        ids = store.add_image(slide, here, [(1, 40, 40, 30, 30, 0.9), (2, 100, 60, 30, 30, 0.2),
                                            (3, 200, 90, 30, 30, 0.7)], model="tiny 0", threshold=0.5)
        store.add_image(slide, gone, [(1, 10, 10, 30, 30, 0.95)], model="tiny 0", threshold=0.5)
        store.decide(ids[0], CONFIRMED, "Ana")
        store.decide(ids[2], REJECTED, "Ana")
        store.decide(ids[2], NOT_A_CELL, "Ana")
    return here, gone


def test_open_case_shows_the_slide_without_scoring(qtbot, make_window, store_path, stored_slide, labelled_folder):
    here, gone = stored_slide
    window = make_window()
    Settings().set_reviewer_name("Ben")
    sent = []
    real_add = window.worker.add_paths
    window.worker.add_paths = lambda *a, **k: sent.append(a) or real_add(*a, **k)
    window.cases.ask_open_case = lambda store: "R-1"
    assert window.cases.open_case()
    session, results = window.session, window.session.results
    assert sent == [] and results.rowCount() == 4 and not session.busy
    assert window.results_views.currentWidget() is window.results_views.views  # the table, not the drop hint
    truths = {(Path(results.path(r)).name, results.cell(r)): results.truths()[r] for r in range(4)}
    assert truths == {("field_01.png", 1): CONFIRMED, ("field_01.png", 2): None, ("field_01.png", 3): NOT_A_CELL,
                      ("field_02.png", 1): None}
    row_here = next(r for r in range(4) if results.path(r) == str(here))
    row_gone = next(r for r in range(4) if results.path(r) == str(gone))
    window.results_views.select_source_row(row_here)
    qtbot.waitUntil(lambda: window.field_panel.view.path == str(here))
    assert window.field_panel.view.image is not None  # the file is there: its picture is shown
    window.results_views.select_source_row(row_gone)
    qtbot.waitUntil(lambda: window.field_panel.view.path == str(gone))
    assert window.field_panel.view.image is None and results.rowCount() == 4  # gone: the rows stay

    session.set_truth([row_gone], PARASITIZED)  # the review goes on in the same slide
    window.cases.ask_add_or_new = lambda slide: ADD  # more images into this slide, as asked
    score_and_wait(qtbot, window, [labelled_folder])
    assert len(sent) == 1 and results.rowCount() == 16
    with CaseStore(store_path) as store:
        assert [s.slide_id for s in store.list_slides()] == ["R-1"]
        case = store.load_slide("R-1")
        history = store.decision_history("R-1")
    assert len(case.images) == 14 and history[-1][2:4] == (PARASITIZED, "Ben")


def test_decisions_kept_in_the_open_case_do_not_ask_to_be_saved_on_close(qtbot, make_window, store_path,
                                                                         stored_slide, monkeypatch):
    window = make_window()
    Settings().set_reviewer_name("Ben")
    window.cases.ask_open_case = lambda store: "R-1"
    assert window.cases.open_case()
    window.session.set_truth([0], PARASITIZED)
    assert not window.session.has_unsaved_corrections()  # already in the store
    window.session.close_case()
    window.session.set_truth([1], PARASITIZED)  # no case open now: only a CSV would keep it
    assert window.session.has_unsaved_corrections()


def test_the_report_of_an_open_case_names_the_slide_and_who_decided(qtbot, make_window, store_path, stored_slide,
                                                                    tmp_path):
    window = make_window()
    Settings().set_reviewer_name("Ben")
    window.cases.ask_open_case = lambda store: "R-1"
    assert window.cases.open_case()
    window.session.export_report(tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "R-1" in html and "patient 2" in html and "Ben" in html
    assert "Ana" in html  # the stored decisions' reviewer, in the reviewed-cells table

"""Reviewing the cells of whole fields (issue 20's window part, issue 23 defects 1, 3, 5, 7):
N marks "not a red cell", corrections of field cells are saved as field-cell labels and go to
Model > Adapt, Clear session forgets them, and they never enter a labelled folder's matrix.

The session is fed rows as the worker sends them (no window, no scoring process); the last
tests drive the real window on a synthetic field.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from cells import synthetic_field, write_rgb
from malaria_gui.engine.field_labels import NOT_A_CELL, FieldCellLabel, match_labels, read_field_labels
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED, path_key
from malaria_gui.gui.field_summary import FieldSummary
from malaria_gui.gui.field_view import FieldPanel
from malaria_gui.gui.results_model import FILTER_PARASITIZED
from malaria_gui.gui.scoring_process import Adapt, AdaptDone, Row, Service
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from malaria_gui.gui.summary import SummaryLabel
from malaria_gui.training.adapt import read_corrections
from tests.gui.conftest import score_and_wait
from tests.gui.test_fields_gui import field_image, field_rows
from tests.gui.test_session import RecordingJobs, info

P, U = PARASITIZED, UNINFECTED


class AdaptJobs(RecordingJobs):
    def adapt(self, job):
        self.jobs.append(("adapt", job))


def fed(qtbot, tmp_path: Path, labelled_files: bool = True) -> tuple[Session, str]:
    """A session with two labelled files (one of each class) and one field of six cells
    (P(Parasitized) 0.9, 0.2, 0.1, 0.6, 0.3, 0.05: cells 1 and 4 called Parasitized at 0.5)."""
    session = Session(AdaptJobs(), Settings())
    session.on_model_ready(info())
    field = str(tmp_path / "slide_A" / "f1.png")
    session.add_paths([str(tmp_path)])
    session.on_batch_started(0, 3)
    if labelled_files:
        session.on_chunk(0, [Row(str(tmp_path / "Parasitized" / "a.png"), 0.8, None, P, None),
                             Row(str(tmp_path / "Uninfected" / "b.png"), 0.3, None, U, None)])
    session.on_field_image(0, field_image(field))
    session.on_chunk(0, field_rows(field))
    session.on_idle(session.ticket)
    return session, field


def row_of_cell(session: Session, cell: int) -> int:
    m = session.results
    return next(r for r in range(m.rowCount()) if m.cell(r) == cell)


def row_of_file(session: Session, name: str) -> int:
    m = session.results
    return next(r for r in range(m.rowCount()) if m.name(r) == name and m.cell(r) is None)


# ---- N: not a red cell ----------------------------------------------------------------------
def test_a_cell_marked_not_a_red_cell_leaves_the_parasitemia_and_undo_brings_it_back(qtbot, tmp_path):
    session, field = fed(qtbot, tmp_path)
    summary, panel = FieldSummary(session), FieldPanel(session)
    qtbot.addWidget(summary)
    qtbot.addWidget(panel)
    panel.view.show_field(field)
    assert panel.title.text().endswith("6 cells, 2 parasitized, 33.33% (95% CI 9.68-70.00%)")
    with qtbot.waitSignal(session.counts_changed):
        session.set_truth([row_of_cell(session, 1)], NOT_A_CELL)  # cell 1 (P 0.9) is a white cell
    (result,) = session.results.field_results()
    assert [c.index for c in result.cells] == [2, 3, 4, 5, 6] and result.parasitized(0.5) == 1
    assert session.counts().parasitized == 2  # a.png and cell 4; cell 1 is not a red cell
    assert "1 field, 5 cells, 1 parasitized, model <b>20.00%" in summary.text()
    assert "1 cell marked not a red cell: not counted" in summary.text()
    assert "5 cells, 1 parasitized, 20.00%" in panel.title.text() and "1 marked not a red cell" in panel.title.text()
    assert panel.view.outlines[1].pen().style() == Qt.PenStyle.DashLine  # drawn dashed, in grey
    with qtbot.waitSignal(session.counts_changed):
        session.undo_stack.undo()
    assert len(session.results.field_results()[0].cells) == 6 and "not a red cell" not in summary.text()
    assert "6 cells, 2 parasitized" in panel.title.text()
    # N is for cells of fields: a file of its own keeps its label, and is told why.
    with qtbot.waitSignal(session.message) as told:
        session.set_truth([row_of_file(session, "a.png")], NOT_A_CELL)
    assert "whole fields" in told.args[0] and session.undo_stack.index() == 0 and not session.corrections


# ---- saving ---------------------------------------------------------------------------------
def test_saving_writes_field_cells_as_field_labels_beside_the_file_corrections(qtbot, tmp_path):
    session, field = fed(qtbot, tmp_path)
    session.set_truth([row_of_file(session, "b.png")], P)
    session.set_truth([row_of_cell(session, 1), row_of_cell(session, 2)], U)
    session.set_truth([row_of_cell(session, 5)], NOT_A_CELL)
    out = tmp_path / "review" / "fixes.csv"
    out.parent.mkdir()
    written = session.save_corrections(out)
    fields_csv = tmp_path / "review" / "fixes-fields.csv"
    assert [(w, n) for w, n, _what in written] == [(out, 1), (fields_csv, 3)]
    assert not session.has_unsaved_corrections()
    assert [(it.path.name, it.truth) for it in read_corrections(out)] == [("b.png", P)]
    labels, notes = read_field_labels(fields_csv)
    assert notes == [] and [(lab.cell, lab.truth) for lab in labels] == [(1, U), (2, U), (5, NOT_A_CELL)]
    assert all(lab.image.resolve() == Path(field).resolve() for lab in labels)
    assert (labels[0].x, labels[0].y, labels[0].width, labels[0].height) == (10, 10, 21, 21)
    # What adapt reads names the same found cells again.
    from types import SimpleNamespace

    found = [SimpleNamespace(x=r.box[0], y=r.box[1], width=r.box[2], height=r.box[3]) for r in field_rows(field)]
    matched, unmatched = match_labels(found, labels)
    assert unmatched == [] and matched == {0: U, 1: U, 4: NOT_A_CELL}


def test_only_field_cells_corrected_writes_one_field_label_file_never_a_bare_header(qtbot, tmp_path):
    session, _field = fed(qtbot, tmp_path, labelled_files=False)
    session.set_truth([row_of_cell(session, 4)], U)
    out = tmp_path / "corrections.csv"
    written = session.save_corrections(out)
    assert [w for w, _n, _what in written] == [out] and not (tmp_path / "corrections-fields.csv").exists()
    rows = list(csv.DictReader(out.open()))
    assert [(r["cell"], r["x"], r["width"], r["truth"]) for r in rows] == [("4", "100", "21", U)]


# ---- adapting -------------------------------------------------------------------------------
def test_adapt_job_carries_the_reviewed_field_cells_and_never_predictions(qtbot, tmp_path):
    session, field = fed(qtbot, tmp_path)
    session.set_truth([row_of_cell(session, 1)], U)
    session.set_truth([row_of_cell(session, 3)], NOT_A_CELL)
    session.start_adapt(tmp_path / "lab.keras", "lab")
    (_kind, job), = [j for j in session.jobs.jobs if j[0] == "adapt"]
    assert sorted(Path(p).name for p, _t in job.items) == ["a.png", "b.png"]  # the four unreviewed cells: not labels
    assert [(lab.cell, lab.truth, lab.image) for lab in job.field_labels] == [(1, U, Path(field)),
                                                                              (3, NOT_A_CELL, Path(field))]


def test_the_scoring_process_passes_field_labels_to_adapt_only_when_there_are_some(monkeypatch, tmp_path):
    import malaria_gui.training.adapt as adapt_module

    calls = []

    def fake_adapt(items, base_path, **kwargs):
        calls.append((list(items), kwargs))
        return "result"

    monkeypatch.setattr(adapt_module, "adapt", fake_adapt)
    monkeypatch.setattr(adapt_module, "save_lab_model", lambda result, out: Path(out))
    monkeypatch.setattr(adapt_module, "format_report", lambda result: "report")
    answers = []
    service = Service(answers.append, threading.Event())
    label = FieldCellLabel(tmp_path / "f1.png", 10, 10, U, 21, 21, 1)
    service.adapt(Adapt((("/x/a.png", P),), None, str(tmp_path / "lab.keras"), "lab", 2, 0, 1, field_labels=(label,)))
    service.adapt(Adapt((("/x/a.png", P),), None, str(tmp_path / "lab.keras"), "lab", 2, 0, 1))
    assert calls[0][1]["field_labels"] == [label] and calls[0][1]["epochs"] == 1
    assert "field_labels" not in calls[1][1]
    assert [type(a) for a in answers] == [AdaptDone, AdaptDone]


# ---- clearing -------------------------------------------------------------------------------
def test_clear_forgets_corrections_and_their_undo_history_rescore_keeps_them(qtbot, tmp_path):
    session, field = fed(qtbot, tmp_path)
    session.set_truth([row_of_cell(session, 2)], P)
    session.rescore(None)  # another model: the same cells come back with their corrections
    session.on_batch_started(session.generation, 6)
    session.on_chunk(session.generation, field_rows(field))
    session.on_idle(session.ticket)
    assert session.results.truths()[row_of_cell(session, 2)] == P and session.has_unsaved_corrections()
    with qtbot.waitSignal(session.corrections_changed):
        session.clear()
    assert session.corrections == {} and session.undo_stack.count() == 0 and not session.has_unsaved_corrections()
    session.add_paths([str(tmp_path)])  # the folder opened again: its cells, with no label
    session.on_batch_started(session.generation, 6)
    session.on_chunk(session.generation, field_rows(field))
    session.on_idle(session.ticket)
    assert all(t is None for t in session.results.truths()) and session.field_labels() == []


# ---- metrics from a partial review ----------------------------------------------------------
def test_field_cell_corrections_never_enter_the_folder_matrix_and_are_said_to_be_reviewed_calls(qtbot, tmp_path):
    session, _field = fed(qtbot, tmp_path)
    summary, fields = SummaryLabel(session), FieldSummary(session)
    qtbot.addWidget(summary)
    qtbot.addWidget(fields)
    assert session.metrics.n == 2
    # Review only the cells called Parasitized (1 and 4): one confirmed, one rejected.
    session.set_truth([row_of_cell(session, 1)], P)
    with qtbot.waitSignal(session.metrics_changed) as changed:
        session.set_truth([row_of_cell(session, 4)], U)
    assert changed.args[0].n == 2 and changed.args[0].confusion == ((1, 0), (0, 1))  # the two files only
    assert ("<b>Reviewed field cells</b> (calls you checked, not a random sample): "
            "1 confirmed, 1 rejected (Uninfected) of 2 called Parasitized") in fields.text()
    assert "Reviewed field cells: see Parasitemia" in summary.text()


def test_without_labelled_folders_reviewed_cells_give_no_matrix(qtbot, tmp_path):
    session, _field = fed(qtbot, tmp_path, labelled_files=False)
    summary = SummaryLabel(session)
    qtbot.addWidget(summary)
    session.set_truth([row_of_cell(session, 1), row_of_cell(session, 4)], P)
    assert session.metrics is None  # no "Accuracy / Specificity 0.0%" from two reviewed calls
    assert session.current_metrics() is None
    assert "Reviewed field cells" in summary.text()
    # The report says the same: no matrix or metrics made of the reviewed calls.
    session.export_report(tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert "Labelled cells" not in html and "Specificity" not in html


def test_the_report_matrix_holds_the_labelled_files_only(qtbot, tmp_path):
    session, _field = fed(qtbot, tmp_path)
    session.set_truth([row_of_cell(session, 1)], P)
    session.set_truth([row_of_cell(session, 4)], U)
    session.export_report(tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert "<tr><th>Labelled cells</th><td>2</td></tr>" in html  # the two files, not the reviewed field cells


# ---- the window -----------------------------------------------------------------------------
@pytest.fixture
def field_path(tmp_path) -> Path:
    image, _truth = synthetic_field(np.random.default_rng(3))
    return write_rgb(tmp_path / "slide_A" / "field_01.png", image)


def cell_pos(window, cell: int) -> QPoint:
    results, view = window.session.results, window.field_panel.view
    x, y, w, h = results.box(row_of_cell(window.session, cell))
    return view.mapFromScene(x + w / 2, y + h / 2)


def test_field_view_clicks_keys_and_context_menu_mark_the_cell(qtbot, window, field_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)  # on close
    score_and_wait(qtbot, window, [field_path])
    session, view = window.session, window.field_panel.view
    qtbot.waitUntil(lambda: len(view.outlines) == session.results.rowCount())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=cell_pos(window, 3))
    assert view.hasFocus() and view.highlighted == 3
    with qtbot.waitSignal(session.corrections_changed):
        qtbot.keyClick(view, Qt.Key.Key_P)
    assert session.corrections == {f"{path_key(str(field_path))}#3": P}
    assert view.outlines[3].pen().style() == Qt.PenStyle.DotLine  # reviewed: dotted
    with qtbot.waitSignal(session.corrections_changed):
        qtbot.keyClick(view, Qt.Key.Key_N)
    assert "1 marked not a red cell, not counted" in window.field_panel.title.text()
    assert "not counted" in window.field_summary.text()
    with qtbot.waitSignal(session.corrections_changed):
        qtbot.keyClick(view, Qt.Key.Key_0)  # clears the label (F fits the field)
    assert session.corrections == {}
    # Right-click on cell 5: the menu picks that cell and its marks act on it, wherever the focus is.
    window.results_views.table.setFocus()
    menu = view.context_menu(cell_pos(window, 5))
    assert view.highlighted == 5
    marks = {a.text(): a for a in menu.actions()}
    assert {"Mark as &Parasitized", "Mark as &Uninfected", "Mark as &not a red cell (field cells)",
            "&Clear true label"} <= set(marks)
    with qtbot.waitSignal(session.corrections_changed):
        marks["Mark as &Uninfected"].trigger()
    assert session.corrections == {f"{path_key(str(field_path))}#5": U}
    # A real right-click opens it there (popup, not a blocking exec).
    pos = cell_pos(window, 6)
    view.contextMenuEvent(QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, view.viewport().mapToGlobal(pos)))
    shown = [w for w in view.findChildren(QMenu) if w.isVisible()]
    assert view.highlighted == 6 and len(shown) == 1
    shown[0].hide()
    assert "Mark as &not a red cell (field cells)" in [a.text() for a in window.menuBar().actions()[1].menu().actions()]


def test_a_cell_hidden_by_the_filter_stays_filtered_shows_in_the_preview_and_can_be_marked(qtbot, window, field_path,
                                                                                         monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    score_and_wait(qtbot, window, [field_path])
    session, view = window.session, window.field_panel.view
    qtbot.waitUntil(lambda: len(view.outlines) == session.results.rowCount())
    session.set_threshold(1.0)  # every cell called Uninfected ...
    session.set_filter(FILTER_PARASITIZED)  # ... and the table shows only Parasitized: none
    assert session.proxy.rowCount() == 0
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=cell_pos(window, 2))
    assert session.proxy.filter_name() == FILTER_PARASITIZED and session.proxy.rowCount() == 0  # not switched to All
    assert "Cell 2 of this field" in window.preview.caption.text()
    assert "hidden by the Show filter" in window.status.currentMessage()
    with qtbot.waitSignal(session.corrections_changed):
        qtbot.keyClick(view, Qt.Key.Key_U)
    assert session.corrections == {f"{path_key(str(field_path))}#2": U}


def test_clear_session_asks_then_forgets_and_the_close_prompt_saves_field_labels(qtbot, make_window, field_path,
                                                                               tmp_path, monkeypatch):
    window = make_window()
    score_and_wait(qtbot, window, [field_path])
    session = window.session
    session.set_truth([row_of_cell(session, 1), row_of_cell(session, 2)], U)
    asked = []

    def answer(button):
        def question(_parent, _title, text, *_a, **_k):
            asked.append(text)
            return button
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    window.clear_action.trigger()
    assert "2 field cells" in asked[-1] and session.results.rowCount() > 0 and len(session.corrections) == 2
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    window.clear_action.trigger()
    assert session.results.rowCount() == 0 and session.corrections == {} and session.undo_stack.count() == 0
    score_and_wait(qtbot, window, [field_path])  # opened again: no label comes back
    assert not session.corrections and all(t is None for t in session.results.truths())
    # The close prompt's Save writes the field cells' labels, and says so.
    session.set_truth([row_of_cell(session, 4)], NOT_A_CELL)
    out = tmp_path / "fixes.csv"
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    n_asked = len(asked)
    assert window.close()
    assert len(asked) == n_asked + 1 and "1 field cell" in asked[-1]
    labels, _notes = read_field_labels(out)
    assert [(lab.cell, lab.truth) for lab in labels] == [(4, NOT_A_CELL)]
    assert "Wrote 1 field-cell labels" in window.status.currentMessage()

"""The window shows the confirmed parasitemia beside the model's, and follows each decision."""

from __future__ import annotations

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.field_summary import FieldSummary
from tests.gui.test_field_review import fed, row_of_cell


def test_each_decision_changes_the_confirmed_figure_shown_beside_the_models(qtbot, tmp_path):
    # One field of six cells; cells 1 (P 0.9) and 4 (P 0.6) are called at 0.5: the queue is 2.
    session, _field = fed(qtbot, tmp_path, labelled_files=False)
    summary = FieldSummary(session)
    qtbot.addWidget(summary)
    summary.refresh()
    assert "6 cells, 2 parasitized, model <b>33.33% (95% CI 9.68-70.00%)" in summary.text()
    assert "Confirmed: <b>not reviewed yet (0 of 2 reviewed)</b>" in summary.text()
    session.set_truth([row_of_cell(session, 1)], PARASITIZED)
    qtbot.waitUntil(lambda: "at least" in summary.text())  # refreshed once the review pauses
    assert ("Confirmed: <b>at least 16.67% (95% CI 3.01-56.35%), 1 of 6 red cells; 1 of 2 reviewed, "
            "1 call not yet reviewed</b>") in summary.text()
    assert "f1.png: 2/6, 33.33% (95% CI 9.68-70.00%); confirmed at least 16.67%, 1 of 2 reviewed" in summary.text()
    session.set_truth([row_of_cell(session, 4)], UNINFECTED)
    qtbot.waitUntil(lambda: "queue 2 of 2 reviewed" in summary.text())
    assert "Confirmed: <b>16.67% (95% CI 3.01-56.35%), 1 of 6 red cells; queue 2 of 2 reviewed</b>" in summary.text()
    assert "model <b>33.33%" in summary.text()  # the model's figure stays the model's
    session.undo_stack.undo()
    qtbot.waitUntil(lambda: "1 of 2 reviewed, 1 call not yet reviewed" in summary.text())


def test_the_windows_csv_and_report_carry_the_confirmed_figure(qtbot, tmp_path):
    import csv

    session, field = fed(qtbot, tmp_path, labelled_files=False)
    session.set_truth([row_of_cell(session, 1)], PARASITIZED)
    session.set_truth([row_of_cell(session, 4)], UNINFECTED)
    session.export_csv(tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["field_parasitemia_model_pct"], r["field_parasitemia_confirmed_pct"], r["field_queue_reviewed"],
             r["field_queue_cells"]) for r in rows} == {("33.33", "16.67", "2", "2")}
    session.export_report(tmp_path / "report.html", slide_id="S-1", reviewer="Ana")
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<th>Slide / sample id</th><td>S-1</td>" in text and "<th>Reviewer</th><td>Ana</td>" in text
    assert "<td>1</td><td>16.67% (3.01-56.35%)</td><td>2 of 2</td>" in text


def test_in_a_large_session_the_summary_follows_the_review_once_it_pauses(qtbot, tmp_path, monkeypatch):
    from malaria_gui.gui import field_summary

    monkeypatch.setattr(field_summary, "IMMEDIATE_ROWS", 0)  # as a 15,000-cell slide (bench/review_queue.py)
    session, _field = fed(qtbot, tmp_path, labelled_files=False)
    summary = FieldSummary(session)
    qtbot.addWidget(summary)
    summary.refresh()
    session.set_truth([row_of_cell(session, 1)], PARASITIZED)
    session.set_truth([row_of_cell(session, 4)], UNINFECTED)
    assert "not reviewed yet" in summary.text()  # no refresh on each key of a review
    qtbot.waitUntil(lambda: "queue 2 of 2 reviewed" in summary.text())  # one, after the pause

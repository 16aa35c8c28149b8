"""A reviewer's corrections in the session, without a window: set, undo, survive, export, save."""

from __future__ import annotations

import csv

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED, path_key
from malaria_gui.gui.results_model import COL_TRUTH, CORRECTED_ROLE, SORT_P
from malaria_gui.training.adapt import read_corrections

from test_session import rows, run, session  # noqa: F401  (the session fixture)

P, U = PARASITIZED, UNINFECTED


def row_of(session, name: str) -> int:
    return next(r for r in range(session.results.rowCount()) if session.results.name(r) == name)


def truths(session) -> dict[str, str | None]:
    m = session.results
    return {m.name(r): m.truths()[r] for r in range(m.rowCount())}


def test_marking_several_rows_changes_truth_metrics_and_undo_restores(qtbot, session):
    run(session, [rows()])
    assert session.metrics.confusion == ((2, 1), (1, 2))
    c, e = row_of(session, "c.png"), row_of(session, "e.png")  # the two misclassified cells
    with qtbot.waitSignal(session.metrics_changed) as changed:
        session.set_truth([c, e], None)  # cleared: they leave the labelled set
    assert changed.args[0].confusion == ((2, 0), (0, 2))
    assert truths(session)["c.png"] is None and session.results.index(c, COL_TRUTH).data(CORRECTED_ROLE)
    session.set_truth([c, e], P)  # c back to its folder label (no correction), e now Parasitized
    assert session.corrections == {path_key("/slides/e.png"): P}
    assert session.metrics.confusion == ((3, 1), (0, 2))
    assert session.results.index(c, COL_TRUTH).data() == P
    assert session.results.index(e, COL_TRUTH).data().startswith(P)  # shown with the corrected mark
    session.undo_stack.undo()
    assert truths(session)["c.png"] is None and truths(session)["e.png"] is None
    session.undo_stack.undo()
    assert truths(session) == {name: t for name, _p, t in [(r.path.rsplit("/", 1)[1], 0, r.truth) for r in rows()]}
    assert session.corrections == {} and session.metrics.confusion == ((2, 1), (1, 2))
    session.undo_stack.redo()
    assert truths(session)["e.png"] is None


def test_a_change_to_nothing_is_not_an_undo_step(session):
    run(session, [rows()])
    session.set_truth([row_of(session, "a.png")], P)  # already its folder label
    assert session.undo_stack.count() == 0 and not session.corrections


def test_corrections_follow_their_file_through_sorting_and_rescoring(qtbot, session):
    run(session, [rows()])
    session.set_truth([row_of(session, "d.png")], P)
    session.sort_by(SORT_P, descending=True)
    assert truths(session)["d.png"] == P
    session.rescore(None)
    assert session.jobs.jobs[-2:] == [("load", None), ("add", session.generation, ["/slides"], session.ticket)]
    assert session.results.rowCount() == 0
    session.on_batch_started(session.generation, 6)
    session.on_chunk(session.generation, rows())  # the same files, scored by the other model
    session.on_idle(session.ticket)
    assert truths(session)["d.png"] == P
    assert session.results.index(row_of(session, "d.png"), COL_TRUTH).data(CORRECTED_ROLE)
    assert session.metrics.confusion == ((2, 2), (1, 1))  # d (P=0.2) now a missed Parasitized cell


def test_export_carries_truth_and_corrected_last(tmp_path, session):
    run(session, [rows()])
    session.set_truth([row_of(session, "f.png")], P)
    out = tmp_path / "r.csv"
    session.export_csv(out)
    table = list(csv.DictReader(out.open()))
    assert list(table[0])[-2:] == ["truth", "corrected"]
    marked = {r["path"].rsplit("/", 1)[1]: (r["truth"], r["corrected"]) for r in table}
    assert marked["f.png"] == (P, "yes") and marked["a.png"] == (P, "")
    html = tmp_path / "r.html"
    session.export_report(html)
    assert "<th>Corrected</th>" in html.read_text()


def test_saving_writes_path_truth_that_adapt_reads(tmp_path, session):
    run(session, [rows(folder=str(tmp_path))])
    assert not session.has_unsaved_corrections()
    session.set_truth([row_of(session, "a.png"), row_of(session, "b.png")], U)
    assert session.has_unsaved_corrections()
    out = tmp_path / "corrections.csv"
    session.save_corrections(out)
    assert not session.has_unsaved_corrections()
    assert out.read_text().splitlines()[0] == "path,truth"
    items = read_corrections(out)
    assert sorted((it.path.name, it.truth) for it in items) == [("a.png", U), ("b.png", U)]
    session.set_truth([row_of(session, "a.png")], P)
    assert session.has_unsaved_corrections()

"""Cases in the window's session (issue 21): rows written as they arrive, each decision as it is
made, a stored slide shown again without scoring, and a SIGKILL losing at most the write in
flight. The session is fed rows as the scoring worker sends them (no window, no model); a
second connection to the store reads what is durable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cells import REPO, synthetic_cell, write_rgb
from malaria_gui.engine.cases import CLEARED, CaseError, CaseStore
from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED, path_key
from malaria_gui.gui.scoring_process import WAITING, Row
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from tests.gui.test_session import RecordingJobs, info

P, U = PARASITIZED, UNINFECTED


def field(path: str, n: int = 150, seed: int = 0) -> list[Row]:
    """One field's chunk as the worker sends it: n cells with boxes and P."""
    rng = np.random.default_rng(seed)
    return [Row(path, float(p), None, None, None, cell=i + 1, box=(7 * i % 600, 5 * i % 440, 30 + i % 9, 31))
            for i, p in enumerate(rng.random(n))]


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "cases.sqlite"


@pytest.fixture
def session(qtbot, store_path):
    s = Session(RecordingJobs(), Settings())
    s.on_model_ready(info(threshold=0.5, name="tiny", version="7"))
    store = CaseStore(store_path)
    s.start_case(store, "S-1", "patient 4", "Ana")
    s.add_paths(["/slides"])
    s.on_batch_started(s.generation, 3)
    yield s
    store.close()


def stored(store_path, slide="S-1"):
    with CaseStore(store_path) as store:  # another connection: only what was committed
        return store.load_slide(slide), store.decision_history(slide)


def row_of(session, path, cell) -> int:
    return next(r for r in range(session.results.rowCount())
                if session.results.path(r) == path and session.results.cell(r) == cell)


def test_each_field_is_written_as_its_chunk_arrives(session, store_path):
    session.on_chunk(session.generation, field("/s/f1.png", 150))
    case, _ = stored(store_path)
    assert [im.path for im in case.images] == ["/s/f1.png"] and len(case.cells) == 150
    first = case.cells[0]
    assert (first.x, first.y, first.width, first.height) == (0, 0, 30, 31)
    assert first.p_parasitized == pytest.approx(session.results.probabilities()[0])
    assert case.images[0].model == "tiny 7" and case.images[0].threshold == 0.5
    session.on_chunk(session.generation, field("/s/f2.png", 120, seed=1))
    case, _ = stored(store_path)
    assert [im.cells for im in case.images] == [150, 120]


def test_single_cell_files_are_images_of_one_cell_covering_them(session, store_path, tmp_path):
    cell = write_rgb(tmp_path / "Parasitized" / "c1.png", synthetic_cell(np.random.default_rng(0), True, size=90))
    session.on_chunk(session.generation, [Row(str(cell), 0.8, None, P, None),
                                          Row(str(tmp_path / "broken.png"), None, "unreadable", None, None),
                                          Row(str(tmp_path / "later.png"), None, WAITING, None, None)])
    case, _ = stored(store_path)
    kinds = {im.path: (im.kind, im.cells, im.error) for im in case.images}
    assert kinds == {str(cell): ("cell", 1, None), str(tmp_path / "broken.png"): ("cell", 0, "unreadable")}
    assert (case.cells[0].x, case.cells[0].y, case.cells[0].width, case.cells[0].height) == (0, 0, 90, 90)


def test_a_decision_is_written_when_made_and_undo_appends_the_state_before(session, store_path):
    session.on_chunk(session.generation, field("/s/f1.png", 20))
    row = row_of(session, "/s/f1.png", 3)
    session.set_truth([row], P)
    _, history = stored(store_path)
    assert history == [("/s/f1.png", 3, P, "Ana", history[0][4])]
    session.set_truth([row], NOT_A_CELL)
    session.undo_stack.undo()  # back to Parasitized: a new decision, nothing erased
    session.undo_stack.undo()  # back to no decision
    case, history = stored(store_path)
    assert [h[2] for h in history] == [P, NOT_A_CELL, P, CLEARED]
    assert next(c for c in case.cells if c.number == 3).truth == CLEARED


def test_reopening_shows_rows_and_decisions_without_scoring(qtbot, session, store_path):
    session.on_chunk(session.generation, field("/s/f1.png", 30))
    session.on_chunk(session.generation, [Row("/s/gone.png", None, "no red cells found", None, None, cell=0)])
    session.set_truth([row_of(session, "/s/f1.png", 2)], P)
    session.set_truth([row_of(session, "/s/f1.png", 5)], NOT_A_CELL)
    session.on_idle(session.ticket)
    probs = sorted(session.results.probabilities()[~np.isnan(session.results.probabilities())].tolist())
    store = session.case.store

    again = Session(RecordingJobs(), Settings())
    again.on_model_ready(info(threshold=0.3))
    with qtbot.waitSignal(again.case_changed):
        again.open_case(store, "S-1", reviewer="Ben")
    assert [j[0] for j in again.jobs.jobs] == ["reset"]  # nothing sent to score: Clear only
    results = again.results
    assert results.rowCount() == 31 and again.threshold == 0.5  # the threshold the calls were made at
    assert sorted(p for p in results.probabilities().tolist() if p == p) == pytest.approx(probs)
    assert results.box(row_of(again, "/s/f1.png", 2)) == session.results.box(row_of(session, "/s/f1.png", 2))
    assert results.error(row_of(again, "/s/gone.png", 0)) == "no red cells found"
    assert again.corrections == {f"{path_key('/s/f1.png')}#2": P, f"{path_key('/s/f1.png')}#5": NOT_A_CELL}
    assert not again.has_unsaved_corrections()  # they are in the store already
    again.set_truth([row_of(again, "/s/f1.png", 7)], U)  # the review goes on in the same case
    _, history = stored(store_path)
    assert [(h[1], h[2], h[3]) for h in history] == [(2, P, "Ana"), (5, NOT_A_CELL, "Ana"), (7, U, "Ben")]


def test_clear_closes_the_case_and_a_taken_id_is_refused(session, store_path):
    session.on_chunk(session.generation, field("/s/f1.png", 5))
    store = session.case.store
    session.clear()
    assert session.case is None
    session.on_chunk(session.generation, field("/s/f9.png", 5))  # not recorded anywhere
    assert [im.path for im in stored(store_path)[0].images] == ["/s/f1.png"]
    with pytest.raises(CaseError, match="already"):
        session.start_case(store, "S-1")


def test_rescore_keeps_the_reviewers_decisions_on_the_new_cells(session, store_path):
    session.on_chunk(session.generation, field("/s/f1.png", 10))
    session.set_truth([row_of(session, "/s/f1.png", 4)], P)
    session.rescore(None)  # the store replaces the field's cells; the label the session kept follows
    session.on_chunk(session.generation, field("/s/f1.png", 10, seed=5))
    case, _ = stored(store_path)
    assert [c.number for c in case.cells if c.truth == P] == [4]


CHILD = r"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path[:0] = [sys.argv[2], os.path.join(sys.argv[2], "tests")]
from PySide6.QtWidgets import QApplication
app = QApplication([])
from malaria_gui.engine.cases import CaseStore
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from tests.gui.test_case_session import field
from tests.gui.test_session import RecordingJobs, info
s = Session(RecordingJobs(), Settings())
s.on_model_ready(info())
s.start_case(CaseStore(sys.argv[1]), "K-1", "", "kill test")
s.add_paths(["/k"])
i = 0
while True:  # a field, then a decision on one of its cells, without end: the parent kills us
    s.on_chunk(s.generation, field(f"/k/f{i:04d}.png", 150, seed=i))
    print(f"field /k/f{i:04d}.png", flush=True)
    row = s.results.rowCount() - 1 - (i % 150)
    label = PARASITIZED if i % 2 else UNINFECTED
    s.set_truth([row], label)
    print(f"decision {s.results.path(row)} {s.results.cell(row)} {label}", flush=True)
    i += 1
"""


def test_sigkill_mid_run_keeps_every_field_and_decision_made_before(tmp_path, isolated_settings):
    db = tmp_path / "killed.sqlite"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(REPO)], stdout=subprocess.PIPE, text=True,
                             env=env, cwd=REPO)
    seen: list[str] = []
    try:
        for line in child.stdout:
            seen.append(line.split())
            if sum(1 for s in seen if s[0] == "decision") >= 12:
                break  # the child is writing the next field now
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    fields = [s[1] for s in seen if s[0] == "field"]
    decisions = [(s[1], int(s[2]), s[3]) for s in seen if s[0] == "decision"]
    with CaseStore(db) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        case = store.load_slide("K-1")
        history = store.decision_history("K-1")
    kept = {im.path: im.cells for im in case.images}
    assert all(kept.get(f) == 150 for f in fields), "a field reported written is missing or partial"
    assert all(n == 150 for n in kept.values())  # a field is stored whole or not at all
    assert len(kept) <= len(fields) + 1
    assert [(h[0], h[1], h[2]) for h in history[:len(decisions)]] == decisions
    assert len(history) <= len(decisions) + 1  # at most the one in flight beyond those reported

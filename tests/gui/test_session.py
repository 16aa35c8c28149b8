"""The session and the results model on their own: no window, no scoring process.

Rows are fed to the slots the worker's signals connect to, as the worker would send them.
"""

from __future__ import annotations

import math

import pytest

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.results_model import COL_FILE, COL_NOTE, COL_PREDICTION, SORT_INPUT, SORT_LEAST_CONFIDENT
from malaria_gui.gui.scoring_process import ModelInfo, Row
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings

P, U = PARASITIZED, UNINFECTED
# (name, P(Parasitized), truth): at 0.5, one Parasitized cell is missed and one Uninfected is called Parasitized.
CELLS = [("a.png", 0.9, P), ("b.png", 0.7, P), ("c.png", 0.3, P), ("d.png", 0.2, U), ("e.png", 0.6, U),
         ("f.png", 0.1, U)]


class RecordingJobs:
    """Stands where the scoring worker is: records the jobs the session sends."""

    def __init__(self) -> None:
        self.jobs: list[tuple] = []

    def add_paths(self, generation, paths, ticket=0):
        self.jobs.append(("add", generation, list(paths), ticket))

    def load_model(self, path):
        self.jobs.append(("load", path))

    def cancel(self):
        self.jobs.append(("cancel",))

    def reset(self, generation):
        self.jobs.append(("reset", generation))


def rows(cells=CELLS, folder="/slides"):
    return [Row(f"{folder}/{name}", p, None, truth, None) for name, p, truth in cells]


def info(threshold=0.5, name="m", version="1") -> ModelInfo:
    return ModelInfo(name=name, version=version, threshold=threshold, card={}, path="/m.keras", input_size=64)


@pytest.fixture
def session(qtbot):
    s = Session(RecordingJobs(), Settings())
    s.on_model_ready(info())
    return s


def run(session, chunks) -> None:
    """One add_paths job scored in ``chunks``, as the worker reports it."""
    session.add_paths(["/slides"])
    session.on_batch_started(session.generation, sum(len(c) for c in chunks))
    for chunk in chunks:
        session.on_chunk(session.generation, chunk)
    session.on_idle(session.ticket)


def predictions(session):
    return [session.results.index(r, COL_PREDICTION).data() for r in range(session.results.rowCount())]


def test_a_run_adds_rows_and_reports_start_progress_and_end(qtbot, session):
    progress = []
    session.progress.connect(lambda done, total, _s: progress.append((done, total)))
    with qtbot.waitSignal(session.run_started):
        session.add_paths(["/slides"])
    assert session.busy and session.jobs.jobs == [("add", 0, ["/slides"], 1)]
    session.on_batch_started(0, 6)
    session.on_chunk(0, rows()[:4])
    session.on_chunk(0, rows()[4:])
    assert progress == [(0, 6), (4, 6), (6, 6)]
    with qtbot.waitSignal(session.run_finished) as finished:
        session.on_idle(1)
    assert finished.args == [False] and not session.busy
    assert session.results.rowCount() == 6
    assert predictions(session) == [P, P, U, U, P, U]
    counts = session.counts()
    assert (counts.total, counts.parasitized, counts.uninfected, counts.failed) == (6, 3, 3, 0)


def test_the_run_ends_only_when_the_last_queued_job_is_done(qtbot, session):
    session.add_paths(["/one"])
    session.add_paths(["/two"])  # queued while the first runs: ticket 2
    session.on_batch_started(0, 3)
    session.on_chunk(0, rows()[:3])
    session.on_idle(1)  # the worker finished the first job only
    assert session.busy
    session.on_idle(2)
    assert not session.busy


def test_threshold_relabels_rows_counts_filter_and_metrics(qtbot, session):
    run(session, [rows()])
    assert session.metrics.confusion == ((2, 1), (1, 2))
    session.set_filter("parasitized")
    assert session.proxy.rowCount() == 3
    with qtbot.waitSignal(session.metrics_changed, timeout=2000) as changed:
        with qtbot.waitSignal(session.counts_changed) as counted:
            session.set_threshold(0.25)
    assert predictions(session) == [P, P, P, U, P, U]
    assert counted.args[0].parasitized == 4
    assert session.proxy.rowCount() == 4  # the filter follows the threshold
    metrics, auc_pending = changed.args
    assert metrics.confusion == ((3, 0), (1, 2)) and not auc_pending
    assert metrics.threshold == 0.25


def test_roc_auc_waits_for_the_end_of_the_run_and_is_reused(qtbot, session):
    session.add_paths(["/slides"])
    session.on_batch_started(0, 6)
    session.on_chunk(0, rows())
    with qtbot.waitSignal(session.metrics_changed, timeout=3000) as during:
        pass
    assert during.args[0].roc_auc is None and during.args[1] is True  # pending while scoring
    session.on_idle(1)
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score([t == P for _, _, t in CELLS], [p for _, p, _ in CELLS])
    assert session.metrics.roc_auc == pytest.approx(expected)
    session.set_threshold(0.95)
    assert session.current_metrics().roc_auc == pytest.approx(expected)
    run(session, [rows([("g.png", 0.95, U)])])  # new rows: AUC recomputed
    assert session.metrics.roc_auc != pytest.approx(expected)


def test_cancel_keeps_rows_and_drops_nothing_that_was_scored(qtbot, session):
    session.add_paths(["/slides"])
    session.on_batch_started(0, 6)
    session.on_chunk(0, rows()[:2])
    with qtbot.waitSignal(session.cancelling):
        session.cancel()
    assert ("cancel",) in session.jobs.jobs and session.last_run_cancelled
    session.on_batch_finished(0, True)
    with qtbot.waitSignal(session.run_finished) as finished:
        session.on_idle(1)
    assert finished.args == [True]
    assert session.results.rowCount() == 2
    session.cancel()  # nothing runs: nothing is sent
    assert session.jobs.jobs.count(("cancel",)) == 1


def test_clear_forgets_rows_and_ignores_late_chunks(qtbot, session):
    session.add_paths(["/slides"])
    session.on_batch_started(0, 6)
    session.on_chunk(0, rows()[:3])
    with qtbot.waitSignal(session.run_finished) as finished:
        session.clear()
    assert finished.args == [True] and session.results.rowCount() == 0
    assert ("reset", 1) in session.jobs.jobs
    session.on_chunk(0, rows()[3:])  # sent before the worker saw the reset
    assert session.results.rowCount() == 0
    assert session.metrics is None and session.counts().total == 0


def test_unreadable_files_count_as_failed_and_never_as_a_class(session):
    run(session, [[Row("/x/bad.png", None, "not an image", None, None), *rows()[:2]]])
    counts = session.counts()
    assert (counts.total, counts.scored, counts.failed) == (3, 2, 1)
    assert predictions(session)[0] == "Unreadable"
    assert session.results.index(0, COL_NOTE).data() == "not an image"
    assert math.isnan(session.results.probabilities()[0])
    session.set_filter("errors")
    assert session.proxy.rowCount() == 1


def test_the_model_card_threshold_applies_until_the_user_pins_one(qtbot, session):
    assert session.threshold == 0.5 and not session.threshold_pinned
    with qtbot.waitSignal(session.threshold_changed) as changed:
        session.on_model_ready(info(threshold=0.7, name="other"))
    assert changed.args == [0.7] and session.card_threshold == 0.7
    session.set_threshold(0.4)  # moved: this session only, marked as custom
    assert not session.threshold_pinned and session.threshold_is_custom
    moved_only = Session(RecordingJobs(), Settings())
    moved_only.on_model_ready(info(threshold=0.7, name="other"))
    assert moved_only.threshold == 0.7 and not moved_only.threshold_is_custom  # never silently reused
    session.pin_threshold()  # "Keep this threshold for this model"
    assert session.threshold_pinned
    again = Session(RecordingJobs(), Settings())  # a later window opens at the pinned one
    again.on_model_ready(info(threshold=0.7, name="other"))
    assert again.threshold == 0.4 and again.threshold_pinned
    again.reset_threshold()
    assert again.threshold == 0.7 and not again.threshold_pinned
    third = Session(RecordingJobs(), Settings())
    third.on_model_ready(info(threshold=0.7, name="other"))
    assert third.threshold == 0.7


def test_sorting_and_matrix_cells(session):
    run(session, [rows()])
    session.sort_by(SORT_LEAST_CONFIDENT)
    names = [session.results.index(r, COL_FILE).data() for r in range(6)]
    assert names[0] == "e.png"  # 0.1 from the threshold
    margins = [abs(session.results.probabilities()[r] - 0.5) for r in range(6)]
    assert margins == sorted(margins)
    session.filter_cell(U, P)  # true Uninfected, called Parasitized
    assert [session.proxy.index(r, COL_FILE).data() for r in range(session.proxy.rowCount())] == ["e.png"]
    # Export keeps input order whatever the table shows.
    assert [r.path.name for r in session.results.results()] == [n for n, _, _ in CELLS]
    session.sort_by(SORT_INPUT)
    assert [session.results.index(r, COL_FILE).data() for r in range(6)] == [n for n, _, _ in CELLS]

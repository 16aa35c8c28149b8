"""The model's parasitemia beside the confirmed one, and the review queue's progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from malaria_gui.engine import cases
from malaria_gui.engine.cases import CaseStore, slide_figures
from malaria_gui.engine.confirmed import (
    NOT_REVIEWED, PARTLY_REVIEWED, REVIEWED, confirmed_text, figures_by_field,
    figures_from_results, review_figures)
from malaria_gui.engine.export import FIELD_FIGURE_COLUMNS
from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.fields import wilson_interval
from malaria_gui.engine.scorer import Result

P, U = "Parasitized", "Uninfected"


def _field() -> tuple[list[float], list[str | None]]:
    """100 cells, 3 called (P 0.9); 2 calls confirmed, 1 rejected; an uncalled one is not a red cell."""
    p = [0.9, 0.9, 0.9] + [0.02] * 97
    truths: list[str | None] = [P, P, U, NOT_A_CELL] + [None] * 96
    return p, truths


def test_a_reviewed_field_gives_the_model_figure_and_the_confirmed_one_over_red_cells():
    fig = review_figures(*_field(), threshold=0.5)
    assert (fig.cells, fig.red_cells, fig.called, fig.confirmed, fig.rejected, fig.not_cells) == (100, 99, 3, 2, 1, 1)
    assert (fig.queue, fig.reviewed, fig.unreviewed_calls, fig.state) == (3, 3, 0, REVIEWED)
    low, high = wilson_interval(3, 99)
    assert fig.model_parasitemia() == pytest.approx((100 * 3 / 99, 100 * low, 100 * high))
    assert fig.model_parasitemia()[0] == pytest.approx(3.0303, abs=1e-4)
    low, high = wilson_interval(2, 99)
    assert fig.confirmed_parasitemia() == pytest.approx((100 * 2 / 99, 100 * low, 100 * high))
    assert fig.confirmed_parasitemia()[0] == pytest.approx(2.0202, abs=1e-4)
    assert fig.progress_text() == "3 of 3 reviewed"
    assert confirmed_text(fig).startswith("2.02% (95% CI 0.56-7.07%), 2 of 99 red cells; queue 3 of 3 reviewed")


def test_a_partly_reviewed_queue_gives_a_lower_bound_and_an_unstarted_one_no_figure():
    p, truths = _field()
    truths[1] = truths[2] = None  # only the first call reviewed (and the not-a-cell one, outside the queue)
    fig = review_figures(p, truths, 0.5)
    assert (fig.queue, fig.reviewed, fig.unreviewed_calls, fig.state) == (3, 1, 2, PARTLY_REVIEWED)
    assert fig.confirmed_parasitemia()[0] == pytest.approx(100 / 99)
    assert confirmed_text(fig).startswith("at least 1.01%")
    assert "1 of 3 reviewed, 2 calls not yet reviewed" in confirmed_text(fig)
    untouched = review_figures(p, [None] * 100, 0.5)
    assert untouched.state == NOT_REVIEWED and untouched.confirmed_parasitemia() is None
    assert untouched.model_parasitemia()[0] == pytest.approx(3.0)
    assert confirmed_text(untouched) == "not reviewed yet (0 of 3 reviewed)"


def test_the_queue_takes_the_uncertain_band_and_nan_cells_count_nowhere():
    # 0.40 is within 0.15 below the threshold 0.5: in the queue, though no call.
    fig = review_figures([0.9, 0.40, 0.2, float("nan")], [P, None, None, None], 0.5)
    assert (fig.cells, fig.queue, fig.reviewed, fig.called) == (3, 2, 1, 1)
    assert fig.state == PARTLY_REVIEWED and fig.unreviewed_calls == 0


def test_slides_pool_their_fields():
    p, truths = _field()
    cells = [("s1/a.jpg", "s1", x, t) for x, t in zip(p, truths)]
    cells += [("s1/b.jpg", "s1", 0.9, None), ("s1/b.jpg", "s1", 0.1, None), ("s2/c.jpg", "s2", 0.1, None)]
    per_field, per_slide = figures_by_field(cells, 0.5)
    assert list(per_field) == ["s1/a.jpg", "s1/b.jpg", "s2/c.jpg"]
    s1 = per_slide["s1"]
    assert (s1.red_cells, s1.called, s1.confirmed, s1.queue, s1.reviewed) == (101, 4, 2, 4, 3)
    assert s1.state == PARTLY_REVIEWED
    assert per_slide["s2"].state == REVIEWED and per_slide["s2"].confirmed_parasitemia()[0] == 0.0  # nothing to review


def test_only_a_reviewers_label_is_a_decision_in_the_windows_rows():
    rows = [Result(Path("s/f.jpg"), 0.9, truth=P, cell=1), Result(Path("s/f.jpg"), 0.1, truth=P, cell=2),
            Result(Path("s/cell.png"), 0.9, truth=P), Result(Path("s/bad.jpg"), None, "not a smear", cell=0)]
    # The second cell's label came from a folder name, not from a reviewer.
    per_field, per_slide = figures_from_results(rows, [True, False, True, False], 0.5)
    assert list(per_field) == ["s/f.jpg"] and list(per_slide) == ["s"]
    assert (per_field["s/f.jpg"].cells, per_field["s/f.jpg"].confirmed) == (2, 1)


def test_the_case_store_reads_the_same_figures_and_exports_them_per_field(tmp_path):
    p, truths = _field()
    with CaseStore(tmp_path / "c.sqlite") as store:
        slide = store.open_slide("S-9")
        ids = store.add_image(slide, "/s/f.jpg", [(i + 1, i, 0, 20, 20, x) for i, x in enumerate(p)],
                              model="m 1", threshold=0.5)
        for cell, truth in zip(ids, truths):
            if truth:
                store.decide(cell, truth, "ana")
        case = store.load_slide("S-9")
    assert slide_figures(case.cells, 0.5) == review_figures(p, truths, 0.5)
    lines = cases.case_csv_text(case).splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[1].split(",")))
    assert header[-len(FIELD_FIGURE_COLUMNS):] == list(FIELD_FIGURE_COLUMNS)
    assert (row["field_parasitemia_model_pct"], row["field_parasitemia_confirmed_pct"]) == ("3.03", "2.02")
    assert (row["field_queue_reviewed"], row["field_queue_cells"], row["field_review"]) == ("3", "3", REVIEWED)


def test_the_windows_csv_repeats_each_fields_two_figures_on_its_cells():
    import csv
    import io

    from malaria_gui.engine.export import CSV_COLUMNS, FIELD_CELL_COLUMNS, csv_text

    p, truths = _field()
    rows = [Result(Path("s/f.jpg"), x, truth=t, cell=i + 1, box=(i, 0, 20, 20)) for i, (x, t) in enumerate(zip(p, truths))]
    rows.append(Result(Path("s/cell.png"), 0.9))
    corrected = [t is not None for t in truths] + [False]
    per_field, _slides = figures_from_results(rows, corrected, 0.5)
    text = csv_text(rows, 0.5, "m 1", corrected=corrected, field_figures=per_field)
    got = list(csv.DictReader(io.StringIO(text)))
    assert tuple(text.splitlines()[0].split(",")) == (CSV_COLUMNS + FIELD_CELL_COLUMNS + FIELD_FIGURE_COLUMNS
                                                      + ("truth", "corrected"))
    first = got[0]
    assert (first["field_parasitemia_model_pct"], first["field_parasitemia_confirmed_pct"]) == ("3.03", "2.02")
    assert (first["field_confirmed_ci_low_pct"], first["field_confirmed_ci_high_pct"]) == ("0.56", "7.07")
    assert (first["field_queue_reviewed"], first["field_queue_cells"], first["field_review"]) == ("3", "3", REVIEWED)
    assert got[50]["field_parasitemia_confirmed_pct"] == "2.02"  # every cell of the field carries it
    assert all(got[-1][c] == "" for c in FIELD_FIGURE_COLUMNS)  # a plain file has no field

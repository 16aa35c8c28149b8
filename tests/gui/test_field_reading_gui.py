"""The window reads fields as ``smear`` does (issue 23, defect 2): ordinary 1280 x 960 fields
of small cells are fields, not one cell each, and a field ``smear`` refuses is shown as "not a
smear field: <reason>", its own status, never "Unreadable" or "could not be read"."""

from __future__ import annotations

import numpy as np
import pytest

from cells import few_cells_field, small_cell_field, synthetic_cell, write_rgb
from malaria_gui.engine.fields import score_fields
from malaria_gui.gui.results_model import COL_NOTE, COL_PREDICTION
from malaria_gui.gui.scoring_process import FIELD_AUTO
from tests.gui.conftest import score_and_wait
from tests.gui.test_fields_gui import rows_of, serve_once

REFUSED = "not a smear field: only 4 red cell(s) found (a field holds many)"


@pytest.fixture
def fields(tmp_path):
    """Three ordinary small-cell fields and one that smear refuses, in one slide folder."""
    slide = tmp_path / "slide_B"
    good = [write_rgb(slide / f"field_{k}.png", small_cell_field(k)) for k in (1, 2, 3)]
    return good, write_rgb(slide / "few_cells.png", few_cells_field())


def test_the_scoring_process_takes_smears_decision(tiny_classifier, fields, tmp_path):
    good, refused = fields
    cell = write_rgb(tmp_path / "cells" / "one.png", synthetic_cell(np.random.default_rng(0), False))
    rows = rows_of(serve_once(tiny_classifier, [cell, *good, refused], FIELD_AUTO))
    smear = {str(r.path): r for r in score_fields([*good, refused], tiny_classifier)}  # what `smear` reads
    by_path = {}
    for row in rows:
        by_path.setdefault(row.path, []).append(row)
    assert [r.cell for r in by_path[str(cell)]] == [None]  # a cell stays a cell
    for path in good:
        counted = by_path[str(path)]
        assert len(counted) == len(smear[str(path)].cells) > 150, "a field must not be scored as one cell"
        assert all(r.cell and r.error is None for r in counted)
    assert smear[str(refused)].error == REFUSED and smear[str(refused)].refused
    [row] = by_path[str(refused)]
    assert (row.cell, row.p_parasitized, row.error) == (0, None, REFUSED)


def test_the_window_counts_fields_of_small_cells_as_fields(qtbot, window, fields):
    good, _refused = fields
    assert window.field_mode_actions[FIELD_AUTO].isChecked()
    score_and_wait(qtbot, window, good)
    results = window.session.results
    assert all(results.cell(r) for r in range(results.rowCount())), "a field must not be scored as one cell"
    assert {results.path(r) for r in range(results.rowCount())} == {str(p) for p in good}
    assert results.rowCount() > 450
    assert window.status.rate_label.text().startswith(f"Done: {results.rowCount()} of {results.rowCount()} "
                                                      f"({results.rowCount()} cells from 3 fields) in ")


def test_a_refused_field_is_not_a_smear_field_in_the_window_not_unreadable(qtbot, window, fields, tmp_path):
    good, refused = fields
    broken = tmp_path / "slide_B" / "broken.png"
    broken.write_bytes(b"not an image")
    score_and_wait(qtbot, window, [good[0], refused, broken])
    results = window.session.results
    [row] = [r for r in range(results.rowCount()) if results.path(r) == str(refused)]
    assert results.index(row, COL_PREDICTION).data() == "Not a field"
    assert results.index(row, COL_NOTE).data() == REFUSED
    [bad] = [r for r in range(results.rowCount()) if results.path(r) == str(broken)]
    assert results.index(bad, COL_PREDICTION).data() == "Unreadable"  # a file that cannot be read still is
    summary = window.summary.text()
    assert "1 not a smear field" in summary and "1 could not be read" in summary
    status = window.status.rate_label.text()  # the broken file is a file; the refused field is said apart
    assert "(1 file, " in status and " cells from 1 field, 1 not a smear field) in " in status

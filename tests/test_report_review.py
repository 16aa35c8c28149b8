"""The report a lab files: the slide, the reviewer, both parasitemia figures, the cells
reviewed, the tool's limits, and a page set for A4."""

from __future__ import annotations

import re
from pathlib import Path

from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.fields import CellScore, FieldResult
from malaria_gui.engine.report import report_html
from malaria_gui.engine.scorer import Result

P, U = "Parasitized", "Uninfected"
FIELD = Path("/lab/S-17/field_01.png")  # no such file: the report draws no picture, the tables stay


def _session():
    """100 cells, 3 called; 2 calls confirmed, 1 rejected, an uncalled one marked not a red cell."""
    p = [0.9, 0.8, 0.7] + [0.02] * 97
    truths = [P, P, U, NOT_A_CELL] + [None] * 96
    results = [Result(FIELD, x, truth=t, cell=i + 1, box=(i, 0, 20, 20)) for i, (x, t) in enumerate(zip(p, truths))]
    corrected = [t is not None for t in truths]
    # As the window gives them: a cell marked not a red cell is left out of the field's cells.
    field = FieldResult(FIELD, "S-17", [CellScore(i + 1, i, 0, 20, 20, x) for i, x in enumerate(p) if i != 3],
                        white_cells=2)
    return results, corrected, field


def test_the_report_names_the_slide_and_reviewer_and_gives_both_figures():
    results, corrected, field = _session()
    text = report_html(results, 0.5, model_name="malaria-cnn", model_version="2026.12", fields=[field],
                       corrected=corrected, slide_id="S-17", reviewer="Ana Lima",
                       decisions={(str(FIELD), 1): ("Ana Lima", "2026-12-03T10:01:00+00:00")})
    assert "<th>Slide / sample id</th><td>S-17</td>" in text
    assert "<th>Reviewer</th><td>Ana Lima</td>" in text
    assert "<th>Patient / sample reference</th><td><i>not given</i></td>" in text
    assert "malaria-cnn (version 2026.12)" in text
    # Slide row: 1 field, 0 not counted, 99 red cells, 2 white cells, the model's
    # 3 calls (3.03%), 2 confirmed (2.02%), the queue of 3 all reviewed.
    assert ("<td>S-17</td><td>1</td><td>0</td><td>99</td><td>2</td><td>3</td><td>3.03% (1.04-8.53%)</td>"
            "<td>2</td><td>2.02% (0.56-7.07%)</td><td>3 of 3</td>") in text
    assert "<td>99</td><td>2</td><td>3</td><td>3.03% (1.04-8.53%)</td><td>2</td><td>2.02% (0.56-7.07%)</td>" \
           "<td>3 of 3</td><td class='error'></td>" in text  # the field's row
    table = re.search(r"<h2>Cells reviewed</h2>(.*?)</table>", text, re.S).group(1)
    assert "4 cells reviewed, 2 confirmed Parasitized" in table
    assert len(re.findall(r"<tr><td title=", table)) == 4
    assert ("<td>#1</td><td>0.9000</td><td class='Parasitized'>Parasitized</td><td class='Parasitized'>Parasitized"
            "</td><td>Ana Lima</td><td class='nowrap'>2026-12-03T10:01:00+00:00</td>") in table
    assert "<td>#3</td><td>0.7000</td><td class='Parasitized'>Parasitized</td><td class='Uninfected'>Uninfected" in table
    assert f"<td class='{NOT_A_CELL}'>{NOT_A_CELL}</td>" in table
    assert "Limits of this tool" in text and "confirmed by a trained microscopist" in text


def test_a_partly_reviewed_slide_says_at_least_and_an_unreviewed_one_says_so():
    results, corrected, field = _session()
    corrected[1] = corrected[2] = False  # two calls not reviewed yet
    text = report_html(results, 0.5, model_name="m", model_version="1", fields=[field], corrected=corrected)
    assert "<td>1</td><td>at least 1.01% (0.18-5.50%)</td><td>1 of 3</td>" in text
    assert "<th>Slide / sample id</th><td><i>not given</i></td>" in text
    none = report_html(results, 0.5, model_name="m", model_version="1", fields=[field], corrected=[False] * 100)
    assert "<td>0</td><td>not reviewed</td><td>0 of 3</td>" in none
    assert "No cell was reviewed: every figure in this report is the model's." in none


def test_the_report_is_laid_out_for_a4():
    results, corrected, field = _session()
    text = report_html(results, 0.5, model_name="m", model_version="1", fields=[field], corrected=corrected)
    assert re.search(r"@page \{ size: A4; margin: \d+mm", text)
    assert "figure, tr, .limits" in text and "break-inside: avoid" in text  # a field's picture is never split
    assert "thead { display: table-header-group; }" in text
    assert ".path { overflow-wrap: anywhere; }" in text  # long paths wrap instead of widening the page
    assert "<td class='path' title='/lab/S-17/field_01.png'>" in text


def test_a_cell_marked_not_a_red_cell_is_not_shown_as_a_wrong_call():
    """The per-cell table marks wrong calls red; an object a reviewer said is no red cell (a
    segmentation mistake) is greyed instead, and a real wrong call is still marked."""
    results, corrected, field = _session()
    text = report_html(results, 0.5, model_name="malaria-cnn", model_version="2026.12", fields=[field],
                       corrected=corrected, slide_id="S-17")
    table = text.split("<h2>Files and field cells</h2>")[1]
    rows = re.findall(r"<tr( class='\w+')?><td>(\d+)</td>", table)
    classes = {int(n): c for c, n in rows}
    assert classes[4] == " class='notcell'"  # cell #4: not a red cell
    assert classes[3] == " class='wrong'"  # cell #3: called Parasitized, confirmed Uninfected
    assert classes[1] == "" and classes[2] == ""  # confirmed calls

"""Issue 23, defect 6: exports name each cell of a whole field. The CSV gets cell,x,y,width,
height; the report counts files and field cells apart and numbers every cell on its field's
picture, marking the cells a reviewer labelled."""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

import cv2
import numpy as np

from malaria_gui.engine.export import CSV_COLUMNS, FIELD_CELL_COLUMNS, csv_text
from malaria_gui.engine.fields import CellScore, FieldResult
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.engine.report import CORRECTED_TAG, field_figure, report_html
from malaria_gui.engine.scorer import Result

FIELD = Path("/slides/A/PA171697.JPG")
BOXES = [(40 + 120 * (i % 8), 60 + 150 * (i // 8), 80, 80) for i in range(16)]  # a 1280 x 960 field


def field_results() -> list[Result]:
    return [Result(FIELD, 0.9 if i % 5 == 0 else 0.1, cell=i + 1, box=box) for i, box in enumerate(BOXES)]


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_rows_of_a_field_name_their_cell_and_box():
    plain = Result(Path("/slides/cells/one.png"), 0.3)
    not_counted = Result(Path("/slides/B/blank.png"), None, "not a smear field: blank", cell=0)
    text = csv_text([plain, *field_results(), not_counted], 0.5, "m 1")
    header = text.splitlines()[0].split(",")
    assert tuple(header) == CSV_COLUMNS + FIELD_CELL_COLUMNS  # after threshold; truth/corrected stay last
    got = rows(text)
    assert [r["cell"] for r in got[1:4]] == ["1", "2", "3"]
    assert (got[2]["x"], got[2]["y"], got[2]["width"], got[2]["height"]) == ("160", "60", "80", "80")
    assert len({(r["path"], r["cell"]) for r in got[1:-1]}) == len(BOXES)  # no two rows alike
    assert all(got[0][c] == "" for c in FIELD_CELL_COLUMNS)  # a plain file: empty
    assert all(got[-1][c] == "" for c in FIELD_CELL_COLUMNS) and got[-1]["error"].startswith("not a smear")
    corrected = csv_text(field_results(), 0.5, "m 1", corrected=[False] * len(BOXES))
    assert corrected.splitlines()[0].endswith("height,truth,corrected")
    # Without field cells the classify CSV is as before.
    assert csv_text([plain], 0.5).splitlines()[0] == ",".join(CSV_COLUMNS)


def test_report_counts_files_and_field_cells_apart():
    plain = [Result(Path(f"/slides/cells/c{i}.png"), 0.2) for i in range(3)]
    second = [Result(Path("/slides/A/other.JPG"), 0.1, cell=i + 1, box=(0, 0, 10, 10)) for i in range(4)]
    text = report_html(plain + field_results() + second, 0.5, model_name="m", model_version="1")
    assert "<tr><th>Files</th><td>5: 3 single-cell images, 2 whole fields</td></tr>" in text
    assert f"<tr><th>Cells found in the fields</th><td>{len(BOXES) + 4}</td></tr>" in text
    assert "Files</th><td>23" not in text
    # The per-row table names each field cell.
    assert "<th>Cell</th>" in text and "PA171697.JPG</td><td title='box x, y, width, height: 160, 60, 80, 80'>#2</td>" in text
    # Cells only: as before.
    only = report_html(plain, 0.5, model_name="m", model_version="1")
    assert "<tr><th>Files</th><td>3</td></tr>" in only and "<th>Cell</th>" not in only


def grey_copy(width=1280, height=960, side=640) -> tuple[int, int, bytes]:
    """A display copy that is plain grey: whatever is white, near-black or purple in the
    figure was drawn by the report."""
    ok, buf = cv2.imencode(".png", np.full((side * height // width, side, 3), 128, np.uint8))
    return width, height, buf.tobytes()


def a_field() -> FieldResult:
    field = FieldResult(FIELD, "A")
    field.cells = [CellScore(i + 1, *box, 0.9 if i % 5 == 0 else 0.1) for i, box in enumerate(BOXES)]
    return field


def tag(figure: np.ndarray, box, scale: float) -> np.ndarray:
    x, y = round(box[0] * scale), round(box[1] * scale)
    return figure[y:y + 22, x:x + 40].astype(int)


def test_field_figure_numbers_every_cell_legibly_and_marks_corrections():
    jpeg = field_figure(a_field(), 0.5, grey_copy(), side=900, corrected={3: PARASITIZED})
    figure = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    scale = figure.shape[1] / 1280
    b, g, r = (int(CORRECTED_TAG[i:i + 2], 16) for i in (5, 3, 1))
    for number, box in enumerate(BOXES, 1):
        patch = tag(figure, box, scale)
        white = (patch.min(axis=2) > 225).sum()
        dark = (patch.max(axis=2) < 70)
        purple = (np.abs(patch - np.array([b, g, r])).sum(axis=2) < 60).sum()
        if number == 3:  # the reviewer's cell: its number on purple, in white
            assert purple > 60 and white > 10, number
        else:  # a white tag holding dark digits at least 9 px tall: legible at 100%
            assert white > 60 and dark.sum() > 10, number
            assert np.ptp(np.nonzero(dark.any(axis=1))[0]) + 1 >= 9, number
            assert purple < 5, number


def test_report_marks_and_lists_the_reviewers_labels_on_field_pictures():
    results = field_results()
    results[2].truth = PARASITIZED  # cell 3: a reviewer's label
    results[5].truth = UNINFECTED
    corrected = [i in (2, 5) for i in range(len(results))]
    text = report_html(results, 0.5, model_name="m", model_version="1", fields=[a_field()],
                       field_images={str(FIELD): grey_copy()}, corrected=corrected)
    caption = re.search(r"<figcaption>(.*?)</figcaption>", text).group(1)
    assert "numbers on purple</span>: corrected by a reviewer" in caption
    assert f"#3 <span class='{PARASITIZED}'>{PARASITIZED}</span>, #6 <span class='{UNINFECTED}'>" in caption
    (data,) = re.findall(r"src='data:image/jpeg;base64,([^']+)'", text)
    figure = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    b, g, r = (int(CORRECTED_TAG[i:i + 2], 16) for i in (5, 3, 1))
    purple = np.abs(figure.astype(int) - np.array([b, g, r])).sum(axis=2) < 60
    scale = figure.shape[1] / 1280
    marked = [n for n, box in enumerate(BOXES, 1)
              if purple[round(box[1] * scale):round(box[1] * scale) + 20,
                        round(box[0] * scale):round(box[0] * scale) + 30].sum() > 40]
    assert marked == [3, 6]

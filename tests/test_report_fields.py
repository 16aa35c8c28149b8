"""The HTML report's whole-field section (Qt-free): parasitemia per slide and per field with
the Wilson interval, and each field drawn with its cells outlined in the class colours."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import cv2
import numpy as np

from cells import synthetic_field, write_rgb
from malaria_gui.engine.fields import CellScore, FieldResult, segment_field
from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED, UNINFECTED
from malaria_gui.engine.report import field_figure, report_html
from malaria_gui.engine.scorer import Result


def scored_field(path: Path, every: int = 4) -> FieldResult:
    """The cells segment_field finds, every ``every``-th called parasitized (p = 0.9)."""
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    cells = segment_field(rgb)
    result = FieldResult(path, path.parent.name)
    result.cells = [CellScore(i + 1, c.x, c.y, c.width, c.height, 0.9 if i % every == 0 else 0.1,
                              contour=c.contour()) for i, c in enumerate(cells)]
    return result


def colour_pixels(jpeg: bytes, colour: str) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).astype(int)
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return int((np.abs(image - np.array([b, g, r])).sum(axis=2) < 60).sum())


def test_field_figure_outlines_cells_in_their_class_colours(tmp_path):
    image, _ = synthetic_field(np.random.default_rng(5))
    path = write_rgb(tmp_path / "slide" / "f.png", image)
    field = scored_field(path)
    jpeg = field_figure(field, 0.5, side=500)
    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert max(shown.shape[:2]) == 500
    assert colour_pixels(jpeg, CLASS_COLOURS[PARASITIZED]) > 100
    assert colour_pixels(jpeg, CLASS_COLOURS[UNINFECTED]) > 100
    # At a threshold above every probability, no outline is red any more.
    assert colour_pixels(field_figure(field, 0.95, side=500), CLASS_COLOURS[PARASITIZED]) < 20
    # From a display copy (half size) the outlines land on the same cells.
    ok, buf = cv2.imencode(".jpg", cv2.resize(cv2.imread(str(path)), (320, 240)))
    from_copy = field_figure(field, 0.5, (640, 480, buf.tobytes()), side=500)
    assert colour_pixels(from_copy, CLASS_COLOURS[PARASITIZED]) > 100


def test_report_has_slide_and_field_tables_and_the_fields_drawn(tmp_path):
    image, _ = synthetic_field(np.random.default_rng(6))
    good = scored_field(write_rgb(tmp_path / "slide<1>" / "good.png", image))
    bad = FieldResult(tmp_path / "slide<1>" / "blank.png", "slide<1>", error="not a smear field: blank")
    n, k = len(good.cells), good.parasitized(0.5)
    results = [Result(good.path, c.p_parasitized) for c in good.cells] + [Result(bad.path, None, bad.error)]
    text = report_html(results, 0.5, model_name="m", model_version="1", fields=[good, bad])
    assert "<h2>Whole smear fields</h2>" in text
    assert "slide&lt;1&gt;" in text and "slide<1>" not in text  # escaped
    pct, low, high = good.parasitemia(0.5)
    white = good.white_cells
    assert f"<td>2</td><td>1</td><td>{n}</td><td>{white}</td><td>{k}</td><td>{pct:.2f}% ({low:.2f}-{high:.2f}%)</td>" in text
    assert "blank.png</td>" + "<td></td>" * 7 + "<td class='error'>not a smear field: blank" in text
    figures = re.findall(r"src='data:image/jpeg;base64,([^']+)'", text)
    assert len(figures) == 1 and colour_pixels(base64.b64decode(figures[0]), CLASS_COLOURS[PARASITIZED]) > 50
    # Without fields the report is as before.
    assert "Whole smear fields" not in report_html(results, 0.5, model_name="m", model_version="1")

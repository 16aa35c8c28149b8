"""The HTML report: one self-contained file (the matrix is an embedded PNG) a lab can archive.

Qt-free, so the CLI could write one too. Every file name and error text is HTML-escaped:
a file called ``<script>.png`` must show as text, never run.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from malaria_gui import __version__
from malaria_gui.engine.export import atomic_write
from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.labels import CLASS_COLOURS, ERROR_COLOUR, PARASITIZED, UNINFECTED
from malaria_gui.engine.metrics import METRICS, Metrics, count_classes, metrics_for_results
from malaria_gui.engine.scorer import Result

CORRECTED_TAG = "#8e44ad"  # a cell a reviewer labelled: its number on purple, as the window marks corrections

_STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f0f0f0; }}
.{PARASITIZED} {{ color: {CLASS_COLOURS[PARASITIZED]}; font-weight: bold; }}
.{UNINFECTED} {{ color: {CLASS_COLOURS[UNINFECTED]}; }}
.error {{ color: {ERROR_COLOUR}; }}
.wrong {{ background: #fdecea; }}
.notcell {{ color: #777; font-style: italic; }}
.side {{ display: flex; gap: 2em; align-items: flex-start; }}
figure {{ margin: 1em 0; }}
figure img {{ max-width: 100%; border: 1px solid #ccc; }}
.tag {{ background: {CORRECTED_TAG}; color: white; padding: 0 3px; }}
.limits {{ border: 1px solid #999; padding: 0.5em 1em; background: #fafafa; }}
.nowrap {{ white-space: nowrap; }}
td, th {{ overflow-wrap: break-word; }}
.path {{ overflow-wrap: anywhere; }}
/* A4: margins for a binder's holes; nothing wider than the page; a field's picture, a table
   row and the limits box are never split across two pages; table headers repeat. */
@page {{ size: A4; margin: 15mm 12mm 15mm 18mm; }}
@media print {{
  body {{ margin: 0; font-size: 9pt; }}
  table {{ width: 100%; }}
  td, th {{ padding: 1px 4px; }}
  .side {{ display: block; }}
  h1, h2, h3 {{ break-after: avoid; page-break-after: avoid; }}
  figure, tr, .limits, .side img {{ break-inside: avoid; page-break-inside: avoid; }}
  figure img {{ max-height: 190mm; max-width: 100%; }}
  thead {{ display: table-header-group; }}
}}
"""
NOT_GIVEN = "not given"
LIMITS = (
    "<b>Limits of this tool.</b> malaria-gui is a research and decision-support tool, not a "
    "diagnostic device: every positive must be confirmed by a trained microscopist before a result "
    "is reported. The model's parasitemia counts the red cells the model calls Parasitized; the "
    "confirmed one counts the red cells a reviewer confirmed (while the review queue is not fully "
    "reviewed it is a lower bound, marked \"at least\"). Only the cells in the review queue (every "
    "call and the uncertain band below the threshold) were put before the reviewer: parasites the "
    "model scored lower are in neither figure. Red cells are the cells the segmentation found in the "
    "images listed in this report, less those a reviewer marked not a red cell; white cells, clumps "
    "and debris are counted apart. Intervals are 95% Wilson intervals for counting error only, not for "
    "segmentation, staining or the model's own errors.")
FIELD_FIGURE_SIDE = 900  # long side of each field drawn in the report


def confusion_png(metrics: Metrics) -> bytes:
    """The confusion matrix drawn by the shared plotting code, as PNG bytes (no Qt)."""
    from matplotlib.figure import Figure

    from malaria_gui.engine.plots import draw_confusion

    figure = Figure(figsize=(4.2, 3.6), dpi=100, layout="tight")
    draw_confusion(figure.add_subplot(), metrics)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _bgr(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def field_figure(field, threshold: float, image: tuple[int, int, bytes] | None = None,
                 side: int = FIELD_FIGURE_SIDE, corrected: Mapping[int, str] | None = None) -> bytes | None:
    """A field with every found cell outlined in its predicted class's colour and numbered as
    in the exports, as JPEG bytes (long side ``side``), drawn by OpenCV; ``image`` is
    (original width, height, encoded display copy), else the field's file is read. A cell in
    ``corrected`` (cell number -> the reviewer's label) is outlined in that label's colour,
    thicker, with its number on purple. None if there is no picture."""
    import cv2
    import numpy as np

    from malaria_gui.engine.decoding import ImageError, decode

    try:
        if image is not None:
            width, height, data = image
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        else:
            rgb = decode(field.path)
            height, width = rgb.shape[:2]
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    except (ImageError, cv2.error, ValueError):
        return None
    if bgr is None or width <= 0:
        return None
    # Original pixels -> figure pixels. A small copy is enlarged to ``side`` too: the cells'
    # numbers need room beside cells of 15-40 px.
    scale = side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    out = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if size[0] <= bgr.shape[1] else cv2.INTER_LINEAR)
    corrected = corrected or {}
    for cell in field.cells:
        if cell.contour is not None and len(cell.contour):
            points = np.round(np.asarray(cell.contour, np.float64) * scale).astype(np.int32).reshape(-1, 1, 2)
        else:
            x0, y0 = round(cell.x * scale), round(cell.y * scale)
            x1, y1 = round((cell.x + cell.width) * scale), round((cell.y + cell.height) * scale)
            points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32).reshape(-1, 1, 2)
        label = corrected.get(cell.index)
        colour = CLASS_COLOURS.get(label) or CLASS_COLOURS[cell.prediction(threshold)]
        cv2.polylines(out, [points], True, _bgr(colour), 3 if label else 2, cv2.LINE_AA)
    _number_cells(out, field.cells, scale, corrected)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else None


def _number_cells(out, cells, scale: float, corrected: Mapping[int, str]) -> None:
    """Each cell's number in a small white tag at its box's top-left corner (beside a round
    cell's outline, not over its middle, where a parasite would be), sized from the cells
    so it stays legible however large the figure; a corrected cell's tag is purple."""
    import cv2
    import numpy as np

    if not cells:
        return
    cell_px = float(np.median([min(c.width, c.height) for c in cells])) * scale
    text_px = min(18.0, max(11.0, 0.25 * cell_px))  # digit height in figure pixels
    font, font_scale = cv2.FONT_HERSHEY_SIMPLEX, text_px / 22.0  # Hershey simplex digits: ~22 px at scale 1
    thickness = 1 if text_px < 14 else 2
    height, width = out.shape[:2]
    for cell in cells:
        text = str(cell.index)
        (tw, th), _base = cv2.getTextSize(text, font, font_scale, thickness)
        x = min(max(0, round(cell.x * scale)), width - tw - 4)
        y = min(max(0, round(cell.y * scale)), height - th - 4)
        fixed = cell.index in corrected
        cv2.rectangle(out, (x, y), (x + tw + 3, y + th + 4), _bgr(CORRECTED_TAG) if fixed else (255, 255, 255),
                      cv2.FILLED)
        cv2.putText(out, text, (x + 2, y + th + 2), font, font_scale, (255, 255, 255) if fixed else (20, 20, 20),
                    thickness, cv2.LINE_AA)


def _percent_cell(share: tuple[float, float, float] | None) -> str:
    if share is None:
        return "<td></td><td></td>"
    return f"<td>{share[0]:.2f}%</td><td>{share[1]:.2f}-{share[2]:.2f}%</td>"


def _figure_cells(figures) -> str:
    """The confirmed figure's cells: count, figure with interval (or why none), queue progress."""
    from malaria_gui.engine.confirmed import NOT_REVIEWED, PARTLY_REVIEWED

    if figures is None:
        return "<td></td><td></td><td></td>"
    share = figures.confirmed_parasitemia()
    if share is None:
        shown = "not reviewed" if figures.state == NOT_REVIEWED else ""
    else:
        bound = "at least " if figures.state == PARTLY_REVIEWED else ""
        shown = f"{bound}{share[0]:.2f}% ({share[1]:.2f}-{share[2]:.2f}%)"
    return f"<td>{figures.confirmed}</td><td>{shown}</td><td>{figures.reviewed} of {figures.queue}</td>"


def _model_cells(k: int, share: tuple[float, float, float] | None) -> str:
    shown = "" if share is None else f"{share[0]:.2f}% ({share[1]:.2f}-{share[2]:.2f}%)"
    return f"<td>{k}</td><td>{shown}</td>"


_FIGURE_HEADS = ("<th>Called</th><th>Model's parasitemia (95% CI)</th><th>Confirmed</th>"
                 "<th>Confirmed parasitemia (95% CI)</th><th>Queue reviewed</th>")


def fields_html(fields: Sequence, threshold: float,
                field_images: Mapping[str, tuple[int, int, bytes]] | None = None,
                corrections: Mapping[str, Mapping[int, str]] | None = None,
                figures: tuple[Mapping, Mapping] | None = None) -> list[str]:
    """Parasitemia per slide and per field, the model's and the confirmed one (95% Wilson
    intervals; ``figures``: per field path and per slide, ``engine.confirmed``), then each field
    drawn with its cells outlined and numbered (an embedded JPEG); ``corrections`` (field path
    -> cell number -> a reviewer's label) are marked on the pictures and listed under them."""
    from malaria_gui.engine.fields import slide_summaries

    e = html.escape
    field_images = field_images or {}
    corrections = corrections or {}
    per_field, per_slide = figures or ({}, {})
    out = ["<h2>Whole smear fields</h2>",
           "<p>Parasitemia = parasitized red cells per 100 red cells, with its 95% interval (Wilson): "
           "the model's (cells it calls Parasitized) and the confirmed one (cells a reviewer confirmed). "
           "A slide is the folder holding its fields, pooled over them.</p>",
           "<table><thead><tr><th>Slide</th><th>Fields</th><th>Not counted</th><th>Red cells</th>"
           f"<th>White cells</th>{_FIGURE_HEADS}</tr></thead>"]
    for s in slide_summaries(fields, threshold):
        out.append(f"<tr><td>{e(s.slide)}</td><td>{s.fields}</td><td>{s.failed}</td><td>{s.cells}</td>"
                   f"<td>{s.white_cells}</td>{_model_cells(s.parasitized, s.parasitemia())}"
                   f"{_figure_cells(per_slide.get(s.slide))}</tr>")
    out += ["</table>", "<h3>Per field</h3><table><thead><tr><th>Slide</th><th>Image</th><th>Red cells</th>"
            f"<th>White cells</th>{_FIGURE_HEADS}<th>Error</th></tr></thead>"]
    for f in fields:
        if f.ok:
            counts = (f"<td>{len(f.cells)}</td><td>{f.white_cells}</td>"
                      f"{_model_cells(f.parasitized(threshold), f.parasitemia(threshold))}"
                      f"{_figure_cells(per_field.get(str(f.path)))}")
        else:
            counts = "<td></td>" * 7
        out.append(f"<tr><td>{e(f.slide)}</td><td title='{e(str(f.path))}'>{e(Path(f.path).name)}</td>{counts}"
                   f"<td class='error'>{e(f.error or '')}</td></tr>")
    out.append("</table>")
    for f in fields:
        if not f.ok:
            continue
        fixed = corrections.get(str(f.path), {})
        jpeg = field_figure(f, threshold, field_images.get(str(f.path)), corrected=fixed)
        if jpeg is None:
            continue
        share = f.parasitemia(threshold)
        caption = f"{e(Path(f.path).name)}: {len(f.cells)} cells, {f.parasitized(threshold)} parasitized"
        if share is not None:
            caption += f" ({share[0]:.2f}%)"
        caption += (f", as the model calls them; outlines: <span class='{PARASITIZED}'>{PARASITIZED}</span>, "
                    f"<span class='{UNINFECTED}'>{UNINFECTED}</span>; numbers as in the CSV's <code>cell</code>")
        if fixed:
            listed = ", ".join(f"#{n} <span class='{label}'>{e(label)}</span>" for n, label in sorted(fixed.items()))
            caption += (f"; <span class='tag'>numbers on purple</span>: corrected by a reviewer, outlined in the "
                        f"reviewer's label ({listed})")
        out.append(f"<figure><img alt='{e(Path(f.path).name)} with its cells outlined and numbered' "
                   f"src='data:image/jpeg;base64,{base64.b64encode(jpeg).decode('ascii')}'>"
                   f"<figcaption>{caption}</figcaption></figure>")
    return out


def reviewed_html(results: Sequence[Result], corrected: Sequence[bool] | None, threshold: float,
                  decisions: Mapping[tuple[str, int | None], tuple[str, str]] | None = None) -> list[str]:
    """The cells a reviewer decided: field (or file), cell, P, the model's call, the decision,
    and who decided when, where recorded; field cells first by field and cell."""
    e = html.escape
    decisions = decisions or {}
    rows = [r for r, flag in zip(results, corrected or ()) if flag and r.truth]
    if not rows:
        return ["<h2>Cells reviewed</h2><p>No cell was reviewed: every figure in this report is the model's.</p>"]
    rows.sort(key=lambda r: (r.cell is None, str(r.path), r.cell or 0))
    confirmed = sum(r.truth == PARASITIZED for r in rows)
    out = [f"<h2>Cells reviewed</h2><p>{_count(len(rows), 'cell')} reviewed, {confirmed} confirmed "
           f"{PARASITIZED}.</p>",
           "<table><thead><tr><th>Field or file</th><th>Cell</th><th>P(Parasitized)</th><th>Model's call</th>"
           "<th>Decision</th><th>Reviewer</th><th>Time</th></tr></thead>"]
    for r in rows:
        who, when = decisions.get((str(r.path), r.cell), ("", ""))
        call = r.prediction(threshold) or ""
        p = "" if r.p_parasitized is None else f"{r.p_parasitized:.4f}"
        out.append(f"<tr><td title='{e(str(r.path))}'>{e(Path(r.path).name)}</td>"
                   f"<td>{f'#{r.cell}' if r.cell else ''}</td><td>{p}</td><td class='{call}'>{call}</td>"
                   f"<td class='{e(r.truth or '')}'>{e(r.truth or '')}</td><td>{e(who)}</td>"
                   f"<td class='nowrap'>{e(when)}</td></tr>")
    out.append("</table>")
    return out


def field_corrections(results: Sequence[Result], corrected: Sequence[bool] | None) -> dict[str, dict[int, str]]:
    """The reviewer's labels on cells of whole fields: field path -> cell number -> label."""
    found: dict[str, dict[int, str]] = {}
    for r, flag in zip(results, corrected or ()):
        if flag and r.cell and r.truth:
            found.setdefault(str(r.path), {})[r.cell] = r.truth
    return found


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _count_rows(results: Sequence[Result], counts) -> list[str]:
    """What was scored, files and field cells apart: 5 fields of 459 cells are 5 files."""
    plain = [r for r in results if r.cell is None]
    fields = {str(r.path) for r in results if r.cell is not None}
    not_counted = {str(r.path) for r in results if r.cell == 0}
    failed = sum(1 for r in plain if r.p_parasitized is None)
    if not fields:
        return [f"<tr><th>Files</th><td>{len(results)}</td></tr>",
                f"<tr><th>Cells scored</th><td>{counts.scored}</td></tr>",
                f"<tr><th>Could not be read</th><td>{failed}</td></tr>"]
    found = sum(1 for r in results if r.cell)
    return [f"<tr><th>Files</th><td>{len(plain) + len(fields)}: {_count(len(plain), 'single-cell image')}, "
            f"{_count(len(fields), 'whole field')}</td></tr>",
            f"<tr><th>Cells found in the fields</th><td>{found}"
            + (f" (in {_count(len(fields) - len(not_counted), 'field')}; {len(not_counted)} not counted)"
               if not_counted else "")
            + "</td></tr>",
            f"<tr><th>Cells scored</th><td>{counts.scored} (single-cell images and field cells)</td></tr>",
            f"<tr><th>Could not be read</th><td>{failed}</td></tr>"]


def report_html(results: Sequence[Result], threshold: float, *, model_name: str, model_version: str,
                date: datetime | None = None, title: str = "Malaria cell screening report",
                fields: Sequence | None = None,
                field_images: Mapping[str, tuple[int, int, bytes]] | None = None,
                corrected: Sequence[bool] | None = None, in_matrix: Sequence[bool] | None = None,
                slide_id: str = "", reference: str = "", reviewer: str = "",
                decisions: Mapping[tuple[str, int | None], tuple[str, str]] | None = None) -> str:
    """The report as a string: the slide and who reviewed it, summary, matrix and metrics
    (labelled input), whole fields with the model's and the confirmed parasitemia (``fields``:
    engine FieldResults; ``field_images``: display copies by path), the cells reviewed, the
    tool's limits, per-file table. ``corrected`` (one flag per result) marks the reviewer's
    labels; ``in_matrix`` (likewise) says which results belong to the labelled set the matrix
    and metrics describe (reviewed calls on field cells are not a random sample: left out).
    ``slide_id``, ``reference`` (patient or sample) and ``reviewer`` show "not given" when
    empty; ``decisions`` ((path, cell number or None) -> (reviewer, time)) where recorded."""
    from malaria_gui.engine.confirmed import figures_from_results

    e = html.escape
    date = date or datetime.now()

    def given(text: str) -> str:
        return e(text) if text.strip() else f"<i>{NOT_GIVEN}</i>"

    counts = count_classes([r.p_parasitized for r in results], threshold)
    share = "" if counts.parasitized_share is None else f" ({100 * counts.parasitized_share:.1f}%)"
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<table>",
        f"<tr><th>Slide / sample id</th><td>{given(slide_id)}</td></tr>",
        f"<tr><th>Patient / sample reference</th><td>{given(reference)}</td></tr>",
        f"<tr><th>Reviewer</th><td>{given(reviewer)}</td></tr>",
        f"<tr><th>Date</th><td>{e(date.strftime('%Y-%m-%d %H:%M'))}</td></tr>",
        f"<tr><th>Model</th><td>{e(model_name)} (version {e(model_version)})</td></tr>",
        f"<tr><th>Decision threshold</th><td>{e(repr(float(threshold)))} (Parasitized when P(Parasitized) &ge; threshold)</td></tr>",
        *_count_rows(results, counts),
        f"<tr><th>{PARASITIZED}</th><td>{counts.parasitized}{share}</td></tr>",
        f"<tr><th>{UNINFECTED}</th><td>{counts.uninfected}</td></tr>",
        f"<tr><th>Not single cells</th><td>{sum(1 for r in results if r.warning)}</td></tr>",
        "</table>",
    ]
    labelled = results if in_matrix is None else [r for r, keep in zip(results, in_matrix) if keep]
    metrics = metrics_for_results(labelled, threshold)
    if metrics is not None:
        png = base64.b64encode(confusion_png(metrics)).decode("ascii")
        rows = f"<tr><th>Labelled cells</th><td>{metrics.n}</td></tr>" + "".join(
            f"<tr><th>{spec.label}{f' ({spec.detail})' if spec.detail else ''}</th>"
            f"<td>{spec.format(getattr(metrics, spec.name))}</td></tr>" for spec in METRICS)
        out += ["<h2>Against the known labels</h2><div class='side'>",
                f"<img alt='Confusion matrix' src='data:image/png;base64,{png}'>",
                f"<table>{rows}</table></div>"]
    if fields:
        out += fields_html(fields, threshold, field_images, field_corrections(results, corrected),
                           figures_from_results(results, corrected, threshold))
    out += reviewed_html(results, corrected, threshold, decisions)
    out.append(f"<p class='limits'>{LIMITS}</p>")
    labelled = corrected is not None or any(r.truth is not None for r in results)
    in_fields = any(r.cell is not None for r in results)
    out += [("<h2>Files and field cells</h2>" if in_fields else "<h2>Files</h2>")
            + "<table><thead><tr><th>#</th><th>File</th>" + ("<th>Cell</th>" if in_fields else "")
            + "<th>Prediction</th><th>P(Parasitized)</th>"
            + ("<th>True label</th>" if labelled else "") + "<th>Error</th><th>Warning</th>"
            + ("<th>Corrected</th>" if corrected is not None else "") + "</tr></thead>"]
    for i, r in enumerate(results, 1):
        prediction = r.prediction(threshold)
        # A found object a person marked "not a red cell" is the segmentation's mistake, not a
        # wrong call: shown apart (grey), never as a misclassified cell.
        not_cell = r.truth == NOT_A_CELL
        wrong = labelled and prediction is not None and r.truth in (PARASITIZED, UNINFECTED) and r.truth != prediction
        cls = " class='wrong'" if wrong else " class='notcell'" if not_cell else ""
        p = "" if r.p_parasitized is None else f"{r.p_parasitized:.4f}"
        pred_cell = (f"<td class='{prediction}'>{prediction}</td>" if prediction
                     else f"<td class='error'>{'not counted' if r.cell == 0 else 'unreadable'}</td>")
        cell = ""
        if in_fields:
            box = f" title='box x, y, width, height: {', '.join(str(int(v)) for v in r.box)}'" if r.cell and r.box else ""
            cell = f"<td{box}>{f'#{r.cell}' if r.cell else ''}</td>"
        out.append(f"<tr{cls}><td>{i}</td><td class='path' title='{e(str(r.path))}'>{e(str(r.path))}</td>{cell}"
                   f"{pred_cell}<td>{p}</td>"
                   + (f"<td>{e(r.truth or '')}</td>" if labelled else "")
                   + f"<td class='error'>{e(r.error or '')}</td><td>{e(r.warning or '')}</td>"
                   + (f"<td>{'yes' if corrected[i - 1] else ''}</td>" if corrected is not None else "") + "</tr>")
    out += ["</table>", f"<p class='error'>Written by malaria-gui {e(__version__)}. A screening aid: "
            "a trained person confirms every result.</p></body></html>"]
    return "\n".join(out)


def write_report(path: str | os.PathLike[str], results: Sequence[Result], threshold: float, *,
                 model_name: str, model_version: str, date: datetime | None = None,
                 fields: Sequence | None = None,
                 field_images: Mapping[str, tuple[int, int, bytes]] | None = None,
                 corrected: Sequence[bool] | None = None, in_matrix: Sequence[bool] | None = None,
                 slide_id: str = "", reference: str = "", reviewer: str = "",
                 decisions: Mapping[tuple[str, int | None], tuple[str, str]] | None = None) -> None:
    """Write the report atomically: a reader sees the old file or the whole new one."""
    text = report_html(results, threshold, model_name=model_name, model_version=model_version, date=date,
                       fields=fields, field_images=field_images, corrected=corrected, in_matrix=in_matrix,
                       slide_id=slide_id, reference=reference, reviewer=reviewer, decisions=decisions)
    atomic_write(path, text.encode("utf-8"))

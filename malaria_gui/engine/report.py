"""The HTML report: one self-contained file (the matrix is an embedded PNG) a lab can archive.

Qt-free, so the CLI could write one too. Every file name and error text is HTML-escaped:
a file called ``<script>.png`` must show as text, never run.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from datetime import datetime

from malaria_gui import __version__
from malaria_gui.engine.export import atomic_write
from malaria_gui.engine.labels import CLASS_COLOURS, ERROR_COLOUR, PARASITIZED, UNINFECTED
from malaria_gui.engine.metrics import METRICS, Metrics, count_classes, metrics_for_results
from malaria_gui.engine.scorer import Result

_STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f0f0f0; }}
.{PARASITIZED} {{ color: {CLASS_COLOURS[PARASITIZED]}; font-weight: bold; }}
.{UNINFECTED} {{ color: {CLASS_COLOURS[UNINFECTED]}; }}
.error {{ color: {ERROR_COLOUR}; }}
.wrong {{ background: #fdecea; }}
.side {{ display: flex; gap: 2em; align-items: flex-start; }}
"""


def confusion_png(metrics: Metrics) -> bytes:
    """The confusion matrix drawn by the shared plotting code, as PNG bytes (no Qt)."""
    from matplotlib.figure import Figure

    from malaria_gui.engine.plots import draw_confusion

    figure = Figure(figsize=(4.2, 3.6), dpi=100, layout="tight")
    draw_confusion(figure.add_subplot(), metrics)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def report_html(results: Sequence[Result], threshold: float, *, model_name: str, model_version: str,
                date: datetime | None = None, title: str = "Malaria cell screening report",
                corrected: Sequence[bool] | None = None) -> str:
    """The report as a string: summary, matrix and metrics (labelled input), per-file table.
    ``corrected`` (one flag per result) adds a last column marking the reviewer's labels."""
    e = html.escape
    date = date or datetime.now()
    counts = count_classes([r.p_parasitized for r in results], threshold)
    share = "" if counts.parasitized_share is None else f" ({100 * counts.parasitized_share:.1f}%)"
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<table>",
        f"<tr><th>Date</th><td>{e(date.strftime('%Y-%m-%d %H:%M'))}</td></tr>",
        f"<tr><th>Model</th><td>{e(model_name)} (version {e(model_version)})</td></tr>",
        f"<tr><th>Decision threshold</th><td>{threshold:.3f} (Parasitized when P(Parasitized) &ge; threshold)</td></tr>",
        f"<tr><th>Files</th><td>{counts.total}</td></tr>",
        f"<tr><th>Cells scored</th><td>{counts.scored}</td></tr>",
        f"<tr><th>{PARASITIZED}</th><td>{counts.parasitized}{share}</td></tr>",
        f"<tr><th>{UNINFECTED}</th><td>{counts.uninfected}</td></tr>",
        f"<tr><th>Could not be read</th><td>{counts.failed}</td></tr>",
        "</table>",
    ]
    metrics = metrics_for_results(results, threshold)
    if metrics is not None:
        png = base64.b64encode(confusion_png(metrics)).decode("ascii")
        rows = f"<tr><th>Labelled cells</th><td>{metrics.n}</td></tr>" + "".join(
            f"<tr><th>{spec.label}{f' ({spec.detail})' if spec.detail else ''}</th>"
            f"<td>{spec.format(getattr(metrics, spec.name))}</td></tr>" for spec in METRICS)
        out += ["<h2>Against the known labels</h2><div class='side'>",
                f"<img alt='Confusion matrix' src='data:image/png;base64,{png}'>",
                f"<table>{rows}</table></div>"]
    labelled = corrected is not None or any(r.truth is not None for r in results)
    out += ["<h2>Files</h2><table><tr><th>#</th><th>File</th><th>Prediction</th><th>P(Parasitized)</th>"
            + ("<th>True label</th>" if labelled else "") + "<th>Error</th>"
            + ("<th>Corrected</th>" if corrected is not None else "") + "</tr>"]
    for i, r in enumerate(results, 1):
        prediction = r.prediction(threshold)
        wrong = labelled and prediction is not None and r.truth is not None and r.truth != prediction
        cls = f" class='{'wrong' if wrong else ''}'" if wrong else ""
        p = "" if r.p_parasitized is None else f"{r.p_parasitized:.4f}"
        pred_cell = f"<td class='{prediction}'>{prediction}</td>" if prediction else "<td class='error'>unreadable</td>"
        out.append(f"<tr{cls}><td>{i}</td><td title='{e(str(r.path))}'>{e(str(r.path))}</td>{pred_cell}<td>{p}</td>"
                   + (f"<td>{e(r.truth or '')}</td>" if labelled else "")
                   + f"<td class='error'>{e(r.error or '')}</td>"
                   + (f"<td>{'yes' if corrected[i - 1] else ''}</td>" if corrected is not None else "") + "</tr>")
    out += ["</table>", f"<p class='error'>Written by malaria-gui {e(__version__)}. A screening aid: "
            "a trained person confirms every result.</p></body></html>"]
    return "\n".join(out)


def write_report(path: str | os.PathLike[str], results: Sequence[Result], threshold: float, *,
                 model_name: str, model_version: str, date: datetime | None = None,
                 corrected: Sequence[bool] | None = None) -> None:
    """Write the report atomically: a reader sees the old file or the whole new one."""
    text = report_html(results, threshold, model_name=model_name, model_version=model_version, date=date,
                       corrected=corrected)
    atomic_write(path, text.encode("utf-8"))

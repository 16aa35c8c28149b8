"""Writing results out: the CSV contract shared by the CLI and the GUI, written atomically."""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date as Date
from pathlib import Path

from malaria_gui.engine.labels import path_key
from malaria_gui.engine.scorer import Result

# The CSV contract (README "CSV columns"): these always, in this order; ``truth`` last when
# any file's class is known. ``model`` and ``threshold`` repeat on every row so a row cut
# out of the file still says how it was scored.
CSV_COLUMNS = ("path", "prediction", "p_parasitized", "error", "warning", "model", "threshold")
# Added after ``threshold`` when any row is a cell of a whole field, so each row names its
# cell as ``smear --csv`` does (number from 1 in reading order; box in the field's pixels);
# empty for plain files and for a field that could not be counted.
FIELD_CELL_COLUMNS = ("cell", "x", "y", "width", "height")
TRUTH_COLUMN = "truth"
NOT_SCORED = "not scored (cancelled)"
CORRECTED_COLUMN = "corrected"  # "yes" where a reviewer set the truth in the window; always last

_UMASK = os.umask(0o022)  # reading the umask means setting it: done once, at import
os.umask(_UMASK)


@contextmanager
def replacing(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it in one step once the block succeeds.

    On any failure (Ctrl+C included) the temporary file is removed and ``path`` is left as it
    was; it sits in the same folder so the final rename never crosses devices.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent or ".")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one."""
    # Through a symlink the link stays and its target gets the new text.
    path = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # replacing a file keeps its permissions
    except OSError:
        mode = 0o666 & ~_UMASK  # a new file gets what open() would have given it
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        # mkstemp makes the file private (0600); a CSV in a shared folder must stay readable.
        if hasattr(os, "fchmod"):
            os.fchmod(fh.fileno(), mode)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


CSV_LIKE_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})


def _looks_like_text(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError:
        return True  # unreadable: the write itself will say why
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut at the end of the sample
    return True


def csv_target_problem(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()) -> str | None:
    """Why writing a CSV to ``path`` would destroy something, or None when it is safe.

    Refused: one of the ``inputs`` (through links too), or an existing file that is not a
    CSV by its extension (.csv, .tsv, .txt) or its content (binary, not UTF-8 text). A new
    file, or an old CSV, is fine. Callers let the user override (``--force``).
    """
    target = os.path.realpath(path)
    key = os.path.normcase(target)
    for item in inputs:
        if os.path.normcase(os.path.realpath(getattr(item, "path", item))) == key:
            return f"{path} is one of the input files"
    if not os.path.isfile(target):
        return None
    if Path(target).suffix.lower() not in CSV_LIKE_EXTENSIONS:
        return f"{path} exists and is not a CSV file (by its extension)"
    if not _looks_like_text(Path(target)):
        return f"{path} exists and is not a CSV file (binary content)"
    return None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    # A file named "=HYPERLINK(...).png" must not become a live formula in a spreadsheet.
    return "'" + text if text.startswith(_FORMULA_START) else text


def model_label(name: str, version: str) -> str:
    """How exports name a model: "malaria-cnn-compact 2026.11.26"."""
    return f"{name} {version}".strip()


def csv_text(results: Sequence[Result], threshold: float, model: str = "",
             corrected: Sequence[bool] | None = None, field_figures: Mapping | None = None) -> str:
    """One row per input file; ``truth`` is added when any file's class is known.

    ``model`` is :func:`model_label`'s text; the threshold is written at full precision
    (``repr``), so the file says exactly which cut-off made each prediction. ``corrected``
    (one flag per result, from the window's review) adds ``truth`` and a last ``corrected``
    column, so a reader can tell a reviewer's label from a folder name's. Cells of whole
    fields add :data:`FIELD_CELL_COLUMNS`: a field's 113 rows must not read as one file.
    ``field_figures`` (field path -> ``engine.confirmed.ReviewFigures``, the window's review)
    adds each cell's field's parasitemia, model's and confirmed, and the queue's progress
    (``FIELD_FIGURE_COLUMNS``, after the cell's box).
    """
    labelled = corrected is not None or any(r.truth is not None for r in results)
    in_fields = any(r.cell is not None for r in results)
    figures = field_figures if in_fields and field_figures is not None else None
    columns = (CSV_COLUMNS + (FIELD_CELL_COLUMNS if in_fields else ()) + (FIELD_FIGURE_COLUMNS if figures is not None else ())
               + ((TRUTH_COLUMN,) if labelled else ())
               + ((CORRECTED_COLUMN,) if corrected is not None else ()))
    cut = repr(float(threshold))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for i, r in enumerate(results):
        row = [
            _cell(str(r.path)),
            r.prediction(threshold) or "",
            "" if r.p_parasitized is None else f"{r.p_parasitized:.6f}",
            _cell(r.error or ""),
            _cell(r.warning or ""),
            _cell(model),
            cut,
        ]
        if in_fields:
            row.extend(_cell_columns(r))
        if figures is not None:
            row.extend(field_figure_values(figures.get(str(r.path)) if r.cell else None))
        if labelled:
            row.append(r.truth or "")
        if corrected is not None:
            row.append("yes" if corrected[i] else "")
        writer.writerow(row)
    return out.getvalue()


# engine.confirmed.ReviewFigures as columns (read by duck typing: that module imports
# field_labels, which imports this one). A per-cell CSV repeats its field's figures on each of
# the field's rows (as it repeats the model and threshold), prefixed ``field_`` so no one reads
# them as the cell's own; FIELDS.csv (one row per field) has the model's figure already.
FIELD_FIGURE_COLUMNS = ("field_parasitemia_model_pct", "field_model_ci_low_pct", "field_model_ci_high_pct",
                        "field_parasitemia_confirmed_pct", "field_confirmed_ci_low_pct",
                        "field_confirmed_ci_high_pct", "field_queue_reviewed", "field_queue_cells", "field_review")
CONFIRMED_COLUMNS = ("parasitemia_confirmed_pct", "confirmed_ci_low", "confirmed_ci_high", "queue_reviewed",
                     "queue_cells", "review")


def _values(share: tuple[float, float, float] | None) -> list[str]:
    return ["", "", ""] if share is None else [f"{v:.2f}" for v in share]


def confirmed_values(figures) -> list[str]:
    """:data:`CONFIRMED_COLUMNS` of one field or slide (all empty for None: nothing counted)."""
    if figures is None:
        return [""] * len(CONFIRMED_COLUMNS)
    return [*_values(figures.confirmed_parasitemia()), str(figures.reviewed), str(figures.queue), figures.state]


def field_figure_values(figures) -> list[str]:
    """:data:`FIELD_FIGURE_COLUMNS` (all empty for None: a plain file, or a field not counted)."""
    if figures is None:
        return [""] * len(FIELD_FIGURE_COLUMNS)
    return [*_values(figures.model_parasitemia()), *confirmed_values(figures)]


def _cell_columns(result: Result) -> list[str]:
    cell, box = result.cell, result.box
    if not cell:  # a plain file, or a field that could not be counted: no cell to name
        return [""] * len(FIELD_CELL_COLUMNS)
    return [str(cell), *(("", "", "", "") if box is None else (str(int(v)) for v in box))]


def write_csv(path: str | os.PathLike[str], results: Sequence[Result], threshold: float, model: str = "",
              corrected: Sequence[bool] | None = None, field_figures: Mapping | None = None) -> None:
    atomic_write(path, csv_text(results, threshold, model, corrected, field_figures).encode("utf-8"))


def unscored_results(items: Iterable, reason: str = NOT_SCORED) -> list[Result]:
    """Rows for files that were never scored (a cancelled run), so an export lists every input.

    ``items`` are :class:`~malaria_gui.engine.discovery.ImageItem` s or plain paths.
    """
    rows = []
    for item in items:
        path = getattr(item, "path", item)
        rows.append(Result(Path(path), None, reason, getattr(item, "truth", None)))
    return rows


def one_row_per_input(items: Iterable, results: Iterable[Result], reason: str = NOT_SCORED) -> list[Result]:
    """Every input in input order: its result where it was scored, a ``reason`` row where not."""
    by_path = {path_key(r.path): r for r in results}
    rows = []
    for item in items:
        path = Path(getattr(item, "path", item))
        found = by_path.get(path_key(path))
        rows.append(found if found is not None else unscored_results([item], reason)[0])
    return rows


def default_export_name(paths: Sequence[str | os.PathLike[str]], suffix: str = ".csv",
                        day: Date | None = None) -> str:
    """A file name that says what was scored: ``results-<folder or slide>-<date>.csv``.

    Named after the one folder (or the one file's folder) given; several inputs that share
    a folder are named after it; otherwise plain ``results-<date>``.
    """
    day = day or Date.today()
    folders = {Path(p) if Path(p).is_dir() else Path(p).parent for p in paths}
    name = ""
    if len(folders) == 1:
        name = Path(os.path.abspath(next(iter(folders)))).name
    name = re.sub(r"[^\w.-]+", "_", name).strip("._")[:60]
    return f"results-{name}-{day.isoformat()}{suffix}" if name else f"results-{day.isoformat()}{suffix}"


def corrections_text(corrections: dict[str, str | None]) -> str:
    """A corrections CSV (``path,truth``), the file ``malaria-gui adapt --corrections`` reads;
    a cleared label is written with an empty truth (adapt leaves such rows out)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("path", TRUTH_COLUMN))
    for path in sorted(corrections):
        writer.writerow((path, corrections[path] or ""))
    return out.getvalue()


def write_corrections(path: str | os.PathLike[str], corrections: dict[str, str | None]) -> None:
    atomic_write(path, corrections_text(corrections).encode("utf-8"))

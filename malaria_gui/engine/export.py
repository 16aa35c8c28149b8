"""Writing results out: the CSV contract shared by the CLI and the GUI, written atomically."""

from __future__ import annotations

import csv
import io
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from malaria_gui.engine.scorer import Result

CSV_COLUMNS = ("path", "prediction", "p_parasitized", "error")
TRUTH_COLUMN = "truth"
CORRECTED_COLUMN = "corrected"  # "yes" where a reviewer set the truth in the window; always last

_UMASK = os.umask(0o022)  # reading the umask means setting it: done once, at import
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one.

    The temporary file sits in the same folder so the final rename never crosses devices.
    """
    path = Path(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # replacing a file keeps its permissions
    except OSError:
        mode = 0o666 & ~_UMASK  # a new file gets what open() would have given it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp makes the file private (0600); a CSV in a shared folder must stay readable.
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    # A file named "=HYPERLINK(...).png" must not become a live formula in a spreadsheet.
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(results: Sequence[Result], threshold: float, corrected: Sequence[bool] | None = None) -> str:
    """One row per input file; ``truth`` is added when any file's class is known.

    ``corrected`` (one flag per result, from the window's review) adds ``truth`` and a last
    ``corrected`` column, so a reader can tell a reviewer's label from a folder name's.
    """
    labelled = corrected is not None or any(r.truth is not None for r in results)
    columns = CSV_COLUMNS + ((TRUTH_COLUMN,) if labelled else ()) + ((CORRECTED_COLUMN,) if corrected is not None else ())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for i, r in enumerate(results):
        row = [
            _cell(str(r.path)),
            r.prediction(threshold) or "",
            "" if r.p_parasitized is None else f"{r.p_parasitized:.6f}",
            _cell(r.error or ""),
        ]
        if labelled:
            row.append(r.truth or "")
        if corrected is not None:
            row.append("yes" if corrected[i] else "")
        writer.writerow(row)
    return out.getvalue()


def write_csv(path: str | os.PathLike[str], results: Sequence[Result], threshold: float,
              corrected: Sequence[bool] | None = None) -> None:
    atomic_write(path, csv_text(results, threshold, corrected).encode("utf-8"))


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

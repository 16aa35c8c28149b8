"""The CSV contract: fixed columns, one row per input file, atomic, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest

from malaria_gui.engine import export
from malaria_gui.engine.export import CSV_COLUMNS, atomic_write, csv_text, write_csv
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.engine.scorer import Result

RESULTS = [
    Result(Path("/slides/a.png"), 0.91234567),
    Result(Path("/slides/b.png"), None, "empty file (0 bytes)"),
    Result(Path("/slides/c.png"), 0.1),
]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_columns_and_one_row_per_file_including_failures():
    text = csv_text(RESULTS, 0.5)
    assert text.splitlines()[0] == "path,prediction,p_parasitized,error"
    assert tuple(CSV_COLUMNS) == ("path", "prediction", "p_parasitized", "error")
    rows = _rows(text)
    assert [r["path"] for r in rows] == ["/slides/a.png", "/slides/b.png", "/slides/c.png"]
    assert rows[0] == {"path": "/slides/a.png", "prediction": PARASITIZED, "p_parasitized": "0.912346", "error": ""}
    assert rows[1] == {"path": "/slides/b.png", "prediction": "", "p_parasitized": "", "error": "empty file (0 bytes)"}
    assert rows[2]["prediction"] == UNINFECTED


def test_threshold_decides_the_prediction_column():
    assert [r["prediction"] for r in _rows(csv_text(RESULTS, 0.05))] == [PARASITIZED, "", PARASITIZED]
    assert [r["prediction"] for r in _rows(csv_text(RESULTS, 0.95))] == [UNINFECTED, "", UNINFECTED]


def test_truth_column_only_when_labelled():
    labelled = [Result(Path("p/a.png"), 0.9, truth=PARASITIZED), Result(Path("x/b.png"), 0.2)]
    text = csv_text(labelled, 0.5)
    assert text.splitlines()[0] == "path,prediction,p_parasitized,error,truth"
    assert [r["truth"] for r in _rows(text)] == [PARASITIZED, ""]
    assert "truth" not in csv_text(RESULTS, 0.5).splitlines()[0]


def test_awkward_names_survive_the_round_trip():
    names = ['cell, "quoted".png', "line\nbreak.png", "cellule_été_細胞.png"]
    rows = _rows(csv_text([Result(Path(n), 0.5) for n in names], 0.5))
    assert [r["path"] for r in rows] == names


@pytest.mark.parametrize("name", ["=HYPERLINK(\"evil.example\",\"x\").png", "+1.png", "-2+3.png", "@SUM(A1).png", "\t=1.png"])
def test_formula_like_names_are_neutralised(name):
    (row,) = _rows(csv_text([Result(Path(name), None, "=cmd|' /C calc'!A0")], 0.5))
    assert row["path"] == "'" + name
    assert row["error"].startswith("'=")


def test_written_file_is_utf8_with_the_same_text(tmp_path):
    out = tmp_path / "results.csv"
    rows = [Result(Path("cellule_été_細胞.png"), 0.3)]
    write_csv(out, rows, 0.5)
    assert out.read_bytes().decode("utf-8") == csv_text(rows, 0.5)


def test_new_file_is_readable_by_others_like_any_file(tmp_path):
    """mkstemp's private 0600 must not leak into the CSV a lab shares."""
    out = tmp_path / "results.csv"
    write_csv(out, RESULTS, 0.5)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_replacing_keeps_the_old_files_permissions(tmp_path):
    out = tmp_path / "results.csv"
    out.write_text("old")
    out.chmod(0o640)
    write_csv(out, RESULTS, 0.5)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "results.csv")


def test_failure_while_replacing_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "results.csv"
    out.write_text("old results\n")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "replace", fail)
    with pytest.raises(OSError):
        write_csv(out, RESULTS, 0.5)
    assert out.read_text() == "old results\n"
    assert _leftovers(tmp_path) == []


def test_failure_while_building_the_text_leaves_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "results.csv"
    out.write_text("old results\n")
    monkeypatch.setattr(export, "csv_text", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_csv(out, RESULTS, 0.5)
    assert out.read_text() == "old results\n"
    assert _leftovers(tmp_path) == []


def test_failure_while_writing_bytes_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "results.csv"
    out.write_text("old results\n")

    def fail(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(export.os, "fsync", fail)
    with pytest.raises(OSError):
        atomic_write(out, b"new")
    assert out.read_text() == "old results\n"
    assert _leftovers(tmp_path) == []


def test_relative_path_in_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    atomic_write("plain.csv", b"x")
    assert (tmp_path / "plain.csv").read_bytes() == b"x"

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
    text = csv_text(RESULTS, 0.5, "cnn 1.0")
    assert text.splitlines()[0] == "path,prediction,p_parasitized,error,warning,model,threshold"
    assert tuple(CSV_COLUMNS) == ("path", "prediction", "p_parasitized", "error", "warning", "model", "threshold")
    rows = _rows(text)
    assert [r["path"] for r in rows] == ["/slides/a.png", "/slides/b.png", "/slides/c.png"]
    assert rows[0] == {"path": "/slides/a.png", "prediction": PARASITIZED, "p_parasitized": "0.912346", "error": "",
                       "warning": "", "model": "cnn 1.0", "threshold": "0.5"}
    assert rows[1]["error"] == "empty file (0 bytes)" and rows[1]["prediction"] == rows[1]["p_parasitized"] == ""
    assert rows[2]["prediction"] == UNINFECTED


def test_every_row_records_the_model_and_the_full_precision_threshold():
    rows = _rows(csv_text(RESULTS, 0.20833333333333334, "malaria-cnn-compact 2026.11.26"))
    assert {r["threshold"] for r in rows} == {"0.20833333333333334"}
    assert float(rows[0]["threshold"]) == 0.20833333333333334
    assert {r["model"] for r in rows} == {"malaria-cnn-compact 2026.11.26"}


def test_warning_column_carries_the_single_cell_warning_and_keeps_the_score():
    flagged = Result(Path("field.jpg"), 0.97, warning="holds several cells (12 separate objects)")
    row = _rows(csv_text([flagged], 0.5))[0]
    assert row["prediction"] == PARASITIZED and row["p_parasitized"] == "0.970000"
    assert row["warning"] == "holds several cells (12 separate objects)"


def test_unscored_files_after_a_cancel_keep_one_row_each_in_input_order():
    from malaria_gui.engine.discovery import ImageItem
    from malaria_gui.engine.export import NOT_SCORED, one_row_per_input, unscored_results

    items = [ImageItem(Path(f"/s/{n}.png"), PARASITIZED if n == "c" else None) for n in "abcd"]
    scored = [Result(Path("/s/b.png"), 0.2)]
    rows = _rows(csv_text(one_row_per_input(items, scored), 0.5))
    assert [Path(r["path"]).name for r in rows] == ["a.png", "b.png", "c.png", "d.png"]
    assert [r["error"] for r in rows] == [NOT_SCORED, "", NOT_SCORED, NOT_SCORED] and NOT_SCORED == "not scored (cancelled)"
    assert rows[1]["prediction"] == UNINFECTED and rows[2]["truth"] == PARASITIZED
    assert [r.error for r in unscored_results([Path("x.png")])] == [NOT_SCORED]


def test_csv_target_refuses_inputs_and_non_csv_files(tmp_path):
    from malaria_gui.engine.export import csv_target_problem

    image = tmp_path / "cell.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    disguised = tmp_path / "old.csv"
    disguised.write_bytes(b"\x89PNG\r\n\x1a\n\0\0binary")
    good = tmp_path / "previous.csv"
    good.write_text("path,prediction\n")
    link = tmp_path / "link.csv"
    os.symlink(image, link)
    assert "input" in csv_target_problem(image, [image])
    assert "input" in csv_target_problem(link, [image])  # through a link it is still the image
    assert "extension" in csv_target_problem(tmp_path / "cell.png", [])
    assert "binary" in csv_target_problem(disguised, [])
    assert csv_target_problem(good, [image]) is None
    assert csv_target_problem(tmp_path / "new.csv", [image]) is None


def test_writing_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "shared" / "results.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "latest.csv"
    os.symlink(target, link)
    write_csv(link, RESULTS, 0.5)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("path,prediction")


def test_default_export_name_says_which_folder_and_day(tmp_path):
    from datetime import date

    from malaria_gui.engine.export import default_export_name

    slide = tmp_path / "slide 7 (ward B)"
    slide.mkdir()
    (slide / "a.png").write_bytes(b"x")
    day = date(2026, 11, 29)
    assert default_export_name([slide], day=day) == "results-slide_7_ward_B-2026-11-29.csv"
    assert default_export_name([slide / "a.png"], ".html", day=day) == "results-slide_7_ward_B-2026-11-29.html"
    assert default_export_name([slide, tmp_path / "other"], day=day) == "results-2026-11-29.csv"


def test_threshold_decides_the_prediction_column():
    assert [r["prediction"] for r in _rows(csv_text(RESULTS, 0.05))] == [PARASITIZED, "", PARASITIZED]
    assert [r["prediction"] for r in _rows(csv_text(RESULTS, 0.95))] == [UNINFECTED, "", UNINFECTED]


def test_truth_column_only_when_labelled():
    labelled = [Result(Path("p/a.png"), 0.9, truth=PARASITIZED), Result(Path("x/b.png"), 0.2)]
    text = csv_text(labelled, 0.5)
    assert text.splitlines()[0] == "path,prediction,p_parasitized,error,warning,model,threshold,truth"
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


def test_report_names_the_model_version_and_full_precision_threshold():
    from malaria_gui.engine.report import report_html

    flagged = Result(Path("/slides/field.jpg"), 0.8, warning="not one cell: 12 separate objects")
    page = report_html([*RESULTS, flagged], 0.20833333333333334, model_name="malaria-cnn-compact",
                       model_version="2026.11.26")
    assert "malaria-cnn-compact (version 2026.11.26)" in page
    assert "0.20833333333333334" in page
    assert "not one cell: 12 separate objects" in page

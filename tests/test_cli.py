"""``malaria-gui classify``: exit codes, the printed summary and the CSV, as a user sees them."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cells import REPO, synthetic_cell, write_rgb
from malaria_gui.cli import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, main


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def plain_folder(tmp_path) -> Path:
    rng = np.random.default_rng(5)
    folder = tmp_path / "unsorted"
    for i in range(3):
        write_rgb(folder / f"cell_{i}.png", synthetic_cell(rng, i == 0))
    return folder


def test_all_scored_exits_0_and_writes_the_csv(plain_folder, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "out.csv"
    code = main(["classify", str(plain_folder), "--model", str(tiny_model_path), "--csv", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == EXIT_OK
    assert "3 files, 3 scored, 0 failed" in printed and "tiny-test-model" in printed
    assert "Parasitized" in printed and "Uninfected" in printed
    assert "Confusion matrix" not in printed  # unlabelled input has no truth to compare
    rows = _read_csv(out)
    assert [Path(r["path"]).name for r in rows] == ["cell_0.png", "cell_1.png", "cell_2.png"]
    assert list(rows[0]) == ["path", "prediction", "p_parasitized", "error", "warning", "model", "threshold"]
    assert {(r["model"], r["threshold"]) for r in rows} == {("tiny-test-model 0", "0.5")}
    assert all(r["prediction"] in ("Parasitized", "Uninfected") and r["error"] == "" for r in rows)


def test_unreadable_files_exit_1_with_their_rows_and_reasons(plain_folder, tiny_model_path, tmp_path, capsys):
    (plain_folder / "broken.png").write_bytes(b"")
    (plain_folder / "notes.jpg").write_text("not a picture")
    out = tmp_path / "out.csv"
    code = main(["classify", str(plain_folder), "--model", str(tiny_model_path), "--csv", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == EXIT_SOME_FAILED
    assert "5 files, 3 scored, 2 failed" in printed
    assert "broken.png: empty file" in printed
    rows = {Path(r["path"]).name: r for r in _read_csv(out)}
    assert len(rows) == 5
    assert rows["broken.png"]["error"] == "empty file (0 bytes)" and rows["broken.png"]["prediction"] == ""
    assert "not an image" in rows["notes.jpg"]["error"]


def test_labelled_input_prints_confusion_matrix_and_metrics(labelled_folder, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "out.csv"
    code = main(["classify", str(labelled_folder), "--model", str(tiny_model_path), "--csv", str(out),
                 "--threshold", "0.3", "--quiet"])
    printed = capsys.readouterr().out
    assert code == EXIT_OK
    assert "12 files, 12 scored, 0 failed" in printed and "threshold 0.3)" in printed
    assert "Confusion matrix (rows: true class, columns: predicted; threshold 0.3, 12 cells)" in printed
    for word in ("Sensitivity", "Specificity", "Precision", "F1", "ROC AUC"):
        assert word in printed
    rows = _read_csv(out)
    assert [r["truth"] for r in rows] == ["Parasitized"] * 6 + ["Uninfected"] * 6
    for r in rows:
        assert r["prediction"] == ("Parasitized" if float(r["p_parasitized"]) >= 0.3 else "Uninfected")


def test_summary_without_csv(plain_folder, tiny_model_path, capsys):
    assert main(["classify", str(plain_folder / "cell_1.png"), "--model", str(tiny_model_path), "--quiet"]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "1 files, 1 scored" in printed and "wrote" not in printed


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify"], "required"),
        (["classify", "{folder}", "--threshold", "1.5"], "between 0 and 1"),
        (["classify", "{folder}", "--threshold", "half"], "not a number"),
        (["classify", "{folder}", "--batch-size", "0"], "at least 1"),
        (["classify", "{folder}/nowhere"], "no such file or folder"),
        (["classify", "{folder}", "--model", "{folder}/none.keras"], "model file not found"),
        (["classify", "{empty}"], "no image files found"),
        (["classify", "{folder}", "--csv", "{folder}/no/such/dir/out.csv"], "does not exist"),
        (["classify", "{folder}", "--csv", "{folder}"], "names a folder"),
    ],
)
def test_usage_errors_exit_2_with_a_message(args, message, plain_folder, tiny_model_path, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    argv = [a.format(folder=plain_folder, empty=empty) for a in args]
    if "--model" not in argv and len(argv) > 1:
        argv += ["--model", str(tiny_model_path)]
    code = main([*argv, "--quiet"] if len(argv) > 1 else argv)
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_corrupt_model_exits_2(plain_folder, tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"garbage")
    assert main(["classify", str(plain_folder), "--model", str(bad), "--quiet"]) == EXIT_USAGE
    assert "cannot load model bad.keras" in capsys.readouterr().err


def test_unwritable_csv_exits_2_and_keeps_the_summary(plain_folder, tiny_model_path, tmp_path, capsys, monkeypatch):
    from malaria_gui.engine import export

    out = tmp_path / "out.csv"
    out.write_text("previous run\n")

    def locked(*args, **kwargs):
        raise PermissionError(13, "Permission denied")  # e.g. the file is open in Excel on Windows

    monkeypatch.setattr(export.os, "replace", locked)
    code = main(["classify", str(plain_folder), "--model", str(tiny_model_path), "--csv", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "3 files, 3 scored" in captured.out
    assert "cannot write" in captured.err and "Permission denied" in captured.err
    assert out.read_text() == "previous run\n"


@pytest.mark.parametrize("argv", [["--help"], ["classify", "--help"], ["train", "--help"]])
def test_help(argv, capsys):
    assert main(argv) == 0
    assert "usage: malaria-gui" in capsys.readouterr().out


def test_version(capsys):
    from malaria_gui import __version__

    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_real_entry_point_in_a_subprocess(tmp_path, tiny_model_path):
    """``python -m malaria_gui classify`` as a user runs it: exit code, stdout and CSV."""
    rng = np.random.default_rng(9)
    folder = tmp_path / "run"
    write_rgb(folder / "Parasitized" / "a.png", synthetic_cell(rng, True))
    write_rgb(folder / "Uninfected" / "b.png", synthetic_cell(rng, False))
    (folder / "Uninfected" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a cut-off download
    out = tmp_path / "out.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "malaria_gui", "classify", str(folder), "--model", str(tiny_model_path),
         "--csv", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == EXIT_SOME_FAILED, proc.stderr
    assert "3 files, 2 scored, 1 failed" in proc.stdout
    assert "Confusion matrix" in proc.stdout
    rows = _read_csv(out)
    assert [Path(r["path"]).name for r in rows] == ["a.png", "b.png", "c.png"]
    assert rows[2]["error"] and rows[2]["truth"] == "Uninfected"

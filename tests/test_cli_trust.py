"""``malaria-gui classify`` a lab can trust: where truth came from, safe --csv, Ctrl+C and typos.

Each test runs the real command (``main([...])``, or a subprocess where pipes and signals matter).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cells import REPO, synthetic_cell, write_rgb
from malaria_gui.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(autouse=True)
def _keep_sigint_handler():
    """main() ignores a second Ctrl+C once interrupted; the test session must keep its own."""
    old = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, old)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _folder(root: Path, layout: dict[str, int]) -> Path:
    rng = np.random.default_rng(4)
    for sub, n in layout.items():
        for i in range(n):
            write_rgb(root / sub / f"c{i}.png", synthetic_cell(rng, i % 2 == 0, 64))
    return root


def _classify(args, model, capsys):
    code = main(["classify", *map(str, args), "--model", str(model), "--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_summary_says_where_truth_came_from_and_no_truth_turns_it_off(tmp_path, tiny_model_path, capsys):
    root = _folder(tmp_path / "set", {"Parasitized": 3, "Uninfected": 2})
    code, out, _ = _classify([root], tiny_model_path, capsys)
    assert code == EXIT_OK
    assert "true labels from folder names: Parasitized/ 3, Uninfected/ 2" in out and "Confusion matrix" in out
    csv_path = tmp_path / "o.csv"
    code, out, _ = _classify([root, "--no-truth", "--csv", csv_path], tiny_model_path, capsys)
    assert code == EXIT_OK and "true labels: off" in out and "Confusion matrix" not in out
    assert "truth" not in _rows(csv_path)[0]


def test_a_folder_called_malaria_is_not_ground_truth(tmp_path, tiny_model_path, capsys):
    root = _folder(tmp_path / "Malaria", {"": 4})
    code, out, _ = _classify([root], tiny_model_path, capsys)
    assert code == EXIT_OK and "Confusion matrix" not in out and "no true labels" in out


def test_summary_prints_the_threshold_at_full_precision(tmp_path, tiny_model_path, capsys):
    root = _folder(tmp_path / "set", {"Parasitized": 1, "Uninfected": 1})
    _, out, _ = _classify([root, "--threshold", "0.20833333333333334"], tiny_model_path, capsys)
    assert "threshold 0.20833333333333334)" in out  # the summary
    assert "threshold 0.20833333333333334, 2 cells)" in out  # the confusion matrix


def test_csv_refuses_to_overwrite_an_input_image_unless_forced(tmp_path, tiny_model_path, capsys):
    root = _folder(tmp_path / "set", {"": 2})
    image = root / "c0.png"
    before = image.read_bytes()
    code, out, err = _classify([root, "--csv", image], tiny_model_path, capsys)
    assert code == EXIT_USAGE and "is one of the input files" in err and "--force" in err
    assert image.read_bytes() == before and out == ""
    code, _, _ = _classify([root / "c1.png", "--csv", image, "--force"], tiny_model_path, capsys)
    assert code == EXIT_OK and _rows(image)[0]["path"].endswith("c1.png")


@pytest.mark.parametrize("name, content", [("notes.docx", b"PK\x03\x04 a word file"), ("old.csv", b"\x00\x01binary")])
def test_csv_refuses_an_existing_non_csv_file(tmp_path, tiny_model_path, capsys, name, content):
    root = _folder(tmp_path / "set", {"": 1})
    target = tmp_path / name
    target.write_bytes(content)
    code, _, err = _classify([root, "--csv", target], tiny_model_path, capsys)
    assert code == EXIT_USAGE and "not a CSV file" in err
    assert target.read_bytes() == content


def test_csv_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path, tiny_model_path, capsys):
    root = _folder(tmp_path / "set", {"": 2})
    target = tmp_path / "archive" / "run.csv"
    target.parent.mkdir()
    target.write_text("path\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    code, _, _ = _classify([root, "--csv", link], tiny_model_path, capsys)
    assert code == EXIT_OK and link.is_symlink()
    assert len(_rows(target)) == 2


def test_closed_stdout_keeps_the_csv_and_shows_no_traceback(tmp_path, tiny_model_path):
    """``classify ... | head -0``: the reader is gone before anything is printed."""
    root = _folder(tmp_path / "set", {"Parasitized": 2, "Uninfected": 2})
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-m", "malaria_gui", "classify", str(root), "--model",
                             str(tiny_model_path), "--csv", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=tmp_path)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == EXIT_OK
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert len(_rows(out)) == 4


def test_ctrl_c_while_loading_the_model_exits_130_in_one_line(tmp_path, tiny_model_path, capsys, monkeypatch):
    from malaria_gui.engine import model

    def interrupted_load(path=None, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "load_classifier", interrupted_load)
    root = _folder(tmp_path / "set", {"": 1})
    code, out, err = _classify([root], tiny_model_path, capsys)
    assert code == EXIT_INTERRUPTED and out == "" and err.strip() == "interrupted"


def test_ctrl_c_while_writing_the_csv_keeps_the_old_one(tmp_path, tiny_model_path, capsys, monkeypatch):
    from malaria_gui.engine import export

    def interrupted_replace(*args):
        raise KeyboardInterrupt

    root = _folder(tmp_path / "set", {"": 2})
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    monkeypatch.setattr(export.os, "replace", interrupted_replace)
    code, printed, err = _classify([root, "--csv", out], tiny_model_path, capsys)
    assert code == EXIT_INTERRUPTED and printed == "" and len(err.strip().splitlines()) == 1
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.csv")] == []  # no temp file left


def _interrupt(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


def test_ctrl_c_in_the_first_moments_exits_130_without_a_traceback(tmp_path, tiny_model_path):
    root = _folder(tmp_path / "set", {"": 2})
    for delay in (0.3, 1.5):  # during imports, then during Keras' import and model load
        proc = subprocess.Popen([sys.executable, "-m", "malaria_gui", "classify", str(root), "--model",
                                 str(tiny_model_path), "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=tmp_path)
        time.sleep(delay)
        code, err = _interrupt(proc)
        if code == EXIT_OK:
            continue  # finished before the signal on a fast machine: nothing to check
        assert code == EXIT_INTERRUPTED, err
        assert "Traceback" not in err and "interrupted" in err


def test_ctrl_c_during_scoring_exits_130_in_one_line(tmp_path, tiny_model_path):
    root = _folder(tmp_path / "set", {"": 300})
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-m", "malaria_gui", "classify", str(root), "--model",
                             str(tiny_model_path), "--batch-size", "1", "--csv", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=tmp_path)
    seen = b""
    deadline = time.monotonic() + 240
    while b"scoring 300 files" not in seen and time.monotonic() < deadline:  # the model is loaded
        chunk = os.read(proc.stderr.fileno(), 256)
        if not chunk:
            break
        seen += chunk
    assert b"scoring 300 files" in seen, seen
    code, err = _interrupt(proc)
    assert code == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "interrupted after" in err and "no CSV written" in err
    assert not out.exists()


def test_a_mistyped_command_is_an_error_with_a_suggestion(capsys):
    assert main(["clasify", "x"]) == EXIT_USAGE
    assert "unknown command 'clasify' (did you mean 'classify'?)" in capsys.readouterr().err
    assert main(["smaer", "x"]) == EXIT_USAGE
    assert "did you mean 'smear'?" in capsys.readouterr().err
    assert main(["frobnicate"]) == EXIT_USAGE
    assert "unknown command 'frobnicate' (commands: gui, classify, train, adapt, smear, cases)" in capsys.readouterr().err


def test_paths_still_open_the_window(tmp_path, monkeypatch):
    from malaria_gui import cli

    opened = []
    monkeypatch.setattr(cli, "open_window", lambda args: opened.append([str(p) for p in args.paths]) or 0)
    folder = tmp_path / "slides"
    folder.mkdir()
    for argv in ([str(folder)], ["cell.png"], ["./x"], ["--model", "m.keras", str(folder)]):
        assert main(argv) == 0
    assert opened == [[str(folder)], ["cell.png"], ["./x"], [str(folder)]]


def test_a_typo_in_a_subprocess_never_reaches_qt():
    proc = subprocess.run([sys.executable, "-m", "malaria_gui", "clasify", "x"], capture_output=True, text=True,
                          env=ENV, timeout=60)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.strip() == "malaria-gui: error: unknown command 'clasify' (did you mean 'classify'?)"


def test_ctrl_c_after_the_csv_is_written_says_it_is_complete(tmp_path, tiny_model_path, capsys, monkeypatch):
    from malaria_gui import cli

    def interrupted_summary(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "summary_text", interrupted_summary)
    root = _folder(tmp_path / "set", {"": 2})
    out = tmp_path / "out.csv"
    code, _, err = _classify([root, "--csv", out], tiny_model_path, capsys)
    assert code == EXIT_INTERRUPTED and "Traceback" not in err
    assert err.strip() == f"interrupted at the end; the CSV was written to {out}"
    assert len(_rows(out)) == 2

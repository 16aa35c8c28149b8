"""The PyInstaller bundle (dist/malaria-gui/) runs headless without Python: CSV contract and exit codes.

Builds it with `make package` unless dist/ is newer than every source it is made from, then
runs the frozen executable. Skip locally with ``--skip-frozen`` or ``MALARIA_SKIP_FROZEN=1``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cells import REPO, nih_style_folder, synthetic_cell, synthetic_field, write_rgb

pytestmark = [pytest.mark.frozen, pytest.mark.slow]

DIST = REPO / "dist" / "malaria-gui"
EXE = DIST / ("malaria-gui.exe" if sys.platform == "win32" else "malaria-gui")
BUILD_TIMEOUT_S = 30 * 60
RUN_TIMEOUT_S = 300


def _sources() -> list[Path]:
    """Everything the bundle is made from: a change to any of these makes dist/ stale."""
    files = [REPO / "build.spec", REPO / "pyproject.toml"]
    files += [p for p in (REPO / "malaria_gui").rglob("*.py")]
    for folder in ("models", "resources"):
        files += [p for p in (REPO / folder).rglob("*") if p.is_file()]
    return files


def _dir_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _say(config, line: str) -> None:
    """Print past pytest's capture so build time and size appear in CI logs."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line, file=sys.__stderr__)


@pytest.fixture(scope="session")
def frozen_exe(pytestconfig) -> Path:
    newest_source = max(p.stat().st_mtime for p in _sources())
    if EXE.is_file() and EXE.stat().st_mtime > newest_source:
        _say(pytestconfig, f"\n[frozen] reusing {DIST} (newer than the sources); build time not measured")
    else:
        if shutil.which("make") is None:
            command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "build.spec"]
        else:
            command = ["make", "package"]
        start = time.monotonic()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        elapsed = time.monotonic() - start
        assert proc.returncode == 0, f"{' '.join(command)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        _say(pytestconfig, f"\n[frozen] build ({' '.join(command)}): {elapsed:.0f} s")
    assert EXE.is_file(), f"no executable at {EXE}"
    _say(pytestconfig, f"[frozen] bundle size: {_dir_size(DIST) / 2**20:.0f} MiB in {DIST}")
    return EXE


def _run(exe: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # A lab PC has no Python: nothing from this interpreter's environment may leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MALARIA_GUI_MODEL"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def test_frozen_classify_labelled_folder_with_broken_file(frozen_exe, tiny_model_path, tiny_classifier, tmp_path):
    rng = np.random.default_rng(7)
    root = tmp_path / "slide"
    good = [
        write_rgb(root / label / f"cell_{i}.png", synthetic_cell(rng, label == "Parasitized"))
        for label in ("Parasitized", "Uninfected")
        for i in range(3)
    ]
    broken = root / "Uninfected" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out = tmp_path / "out.csv"

    proc = _run(frozen_exe, "classify", str(root), "--csv", str(out), "--model", str(tiny_model_path), "--quiet",
                cwd=tmp_path)

    assert proc.returncode == 1, proc.stderr[-4000:]
    columns, rows = _read_csv(out)
    assert columns == ["path", "prediction", "p_parasitized", "error", "warning", "model", "threshold", "truth"]
    by_path = {Path(r["path"]).resolve(): r for r in rows}
    assert len(rows) == len(by_path) == 7
    assert set(by_path) == {p.resolve() for p in [*good, broken]}
    bad = by_path[broken.resolve()]
    assert bad["error"] and bad["prediction"] == "" and bad["p_parasitized"] == ""
    assert bad["truth"] == "Uninfected"

    # The frozen program must score exactly like the source one.
    from malaria_gui.engine.discovery import ImageItem
    from malaria_gui.engine.scorer import score_all

    expected = {r.path.resolve(): r.p_parasitized for r in score_all([ImageItem(p) for p in good], tiny_classifier)}
    for path in good:
        row = by_path[path.resolve()]
        assert row["error"] == ""
        assert row["truth"] == path.parent.name
        assert row["prediction"] == ("Parasitized" if float(row["p_parasitized"]) >= 0.5 else "Uninfected")
        assert float(row["p_parasitized"]) == pytest.approx(expected[path.resolve()], abs=1e-5)


def test_frozen_classify_all_readable_exits_0(frozen_exe, tiny_model_path, tmp_path):
    rng = np.random.default_rng(8)
    files = [write_rgb(tmp_path / "in" / f"c{i}.jpg", synthetic_cell(rng, i % 2 == 0)) for i in range(3)]
    out = tmp_path / "out.csv"

    proc = _run(frozen_exe, "classify", str(tmp_path / "in"), "--csv", str(out), "--model", str(tiny_model_path),
                "--threshold", "0.3", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr[-4000:]
    columns, rows = _read_csv(out)
    assert columns == ["path", "prediction", "p_parasitized", "error", "warning", "model", "threshold"]
    assert sorted(Path(r["path"]).name for r in rows) == [p.name for p in files]
    assert all(r["error"] == "" and r["prediction"] in ("Parasitized", "Uninfected") for r in rows)
    assert "threshold 0.3)" in proc.stdout


def test_frozen_smear_counts_fields_and_refuses_a_cell(frozen_exe, tiny_model_path, tmp_path):
    """The field pipeline (OpenCV, SciPy, the commands package) made it into the bundle."""
    image, truth = synthetic_field(np.random.default_rng(30), singles=20, pairs=4, overlaps=3)
    write_rgb(tmp_path / "slide" / "field.png", image)
    write_rgb(tmp_path / "slide" / "cell.png", synthetic_cell(np.random.default_rng(31), True))
    cells, fields = tmp_path / "cells.csv", tmp_path / "fields.csv"

    proc = _run(frozen_exe, "smear", str(tmp_path / "slide"), "--csv", str(cells), "--summary", str(fields),
                "--model", str(tiny_model_path), "--quiet", cwd=tmp_path)

    assert proc.returncode == 1, proc.stderr[-4000:]  # the lone cell is refused, the field counted
    columns, rows = _read_csv(fields)
    from malaria_gui.commands.smear import FIELD_COLUMNS

    assert columns == list(FIELD_COLUMNS) and "white_cells" in columns
    by_name = {Path(r["image"]).name: r for r in rows}
    assert by_name["field.png"]["cells"] == str(len(truth)) and by_name["cell.png"]["error"]
    assert len(_read_csv(cells)[1]) == len(truth)
    assert "parasitemia" in proc.stdout


def test_frozen_train_then_classify_with_the_new_model(frozen_exe, tmp_path):
    """`train` works without Python too (Keras computes gradients inside the bundle), and
    what it writes is a model the frozen `classify` accepts."""
    data = nih_style_folder(tmp_path / "cells")
    out = tmp_path / "run"
    proc = _run(frozen_exe, "train", str(data), "--epochs", "1", "--batch-size", "16", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in ("malaria_cnn.keras", "malaria_cnn.card.json", "training_history.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0, name

    csv_out = tmp_path / "scored.csv"
    proc = _run(frozen_exe, "classify", str(data), "--model", str(out / "malaria_cnn.keras"), "--csv", str(csv_out),
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    columns, rows = _read_csv(csv_out)
    assert len(rows) == 60 and all(r["prediction"] in ("Parasitized", "Uninfected") for r in rows)


def test_frozen_adapt_then_classify_with_the_lab_model(frozen_exe, tiny_model_path, tmp_path):
    """`adapt` fine-tunes inside the bundle (Keras' fit, scikit-learn's grouped folds, SciPy's
    intervals, none of them imported by classify) and its lab model scores with the bundle."""
    rng = np.random.default_rng(11)
    lab = tmp_path / "lab"
    for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
        for n in range(24):
            write_rgb(lab / label / f"field{n % 4}_{n}.png", synthetic_cell(rng, parasitized))
    out = tmp_path / "models" / "lab.keras"
    proc = _run(frozen_exe, "adapt", str(lab), "--out", str(out), "--base", str(tiny_model_path), "--folds", "2",
                "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "pooled" in proc.stdout and out.stat().st_size > 0 and out.with_name("lab.card.json").is_file()

    csv_out = tmp_path / "scored.csv"
    proc = _run(frozen_exe, "classify", str(lab), "--model", str(out), "--csv", str(csv_out), "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    columns, rows = _read_csv(csv_out)
    assert len(rows) == 48 and all(r["model"].startswith("tiny-test-model-lab") for r in rows)


def test_frozen_usage_errors_exit_2(frozen_exe, tmp_path):
    proc = _run(frozen_exe, "classify", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr
    version = _run(frozen_exe, "--version", cwd=tmp_path)
    assert version.returncode == 0
    from malaria_gui import __version__

    assert __version__ in version.stdout


def test_frozen_finds_bundled_files_beside_the_executable(frozen_exe, tmp_path):
    """resources.py resolves models/ inside the bundle (sys._MEIPASS), not the checkout."""
    internal = frozen_exe.parent / "_internal"
    for pattern in ("*.keras", "*.card.json", "*.png"):
        for p in (REPO / "models").glob(pattern):
            assert (internal / "models" / p.name).is_file(), p
    for p in (REPO / "resources").rglob("*"):
        if p.is_file():
            assert (internal / p.relative_to(REPO)).is_file(), p

    write_rgb(tmp_path / "one.png", synthetic_cell(np.random.default_rng(9), True))
    proc = _run(frozen_exe, "classify", str(tmp_path / "one.png"), "--quiet", cwd=tmp_path)
    if (REPO / "models" / "malaria_cnn.keras").is_file():
        assert proc.returncode == 0, proc.stderr[-4000:]
    else:  # no model trained yet: the error must name the bundle's own models/ folder
        assert proc.returncode == 2
        assert str(internal / "models" / "malaria_cnn.keras") in proc.stderr


def test_frozen_bundle_holds_every_malaria_gui_module(frozen_exe):
    """Modules imported lazily (the GUI, training) are in the archive, not only those the CLI imports."""
    readers = pytest.importorskip("PyInstaller.archive.readers")

    modules = set(readers.pkg_archive_contents(str(frozen_exe), recursive=True))
    expected = {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "malaria_gui").rglob("*.py")
        if p.name != "__main__.py"
    }
    assert "malaria_gui.cli" in expected
    assert expected <= modules, sorted(expected - modules)


def test_frozen_bundle_leaves_tensorflow_out(frozen_exe):
    """The bundle runs Keras on JAX; TensorFlow, which the test extra installs beside it, must
    not ride along (it would add over half a gigabyte)."""
    internal = frozen_exe.parent / "_internal"
    tf_names = ("tensorflow", "tensorboard", "tf_keras")
    assert not [p.name for p in internal.iterdir() if p.name.split(".")[0].split("-")[0] in tf_names]
    readers = pytest.importorskip("PyInstaller.archive.readers")
    modules = readers.pkg_archive_contents(str(frozen_exe), recursive=True)
    assert not [m for m in modules if m.split(".")[0] in tf_names or m.startswith("keras.src.backend.tensorflow")]

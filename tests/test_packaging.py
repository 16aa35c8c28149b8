"""What a built wheel carries, and where the program finds its bundled files once installed.

A non-editable `pip install .` installs this wheel: if the model, its card or the icon were
missing from it, `malaria-gui classify` would fail on every machine installed that way.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cells import REPO
from malaria_gui import resources

# What `pip install .` reads to build the wheel; copied so that setuptools' build/ and
# egg-info land in a temporary folder, not in the checkout (a stale build/lib ships old files).
SOURCES = ("pyproject.toml", "setup.py", "README.md", "malaria_gui", "models", "resources")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed (pip install -e '.[test]' installs it)")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
         "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheels = list(out.glob("malaria_gui-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_the_model_its_card_and_the_icon(wheel_names):
    for name in ("malaria_cnn.keras", "malaria_cnn.card.json"):
        assert f"malaria_gui/_models/{name}" in wheel_names
    assert "malaria_gui/_resources/malaria-gui.svg" in wheel_names
    assert "malaria_gui/_resources/malaria-gui.desktop" in wheel_names
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert f"malaria_gui/_resources/icons/malaria-gui-{size}.png" in wheel_names


def test_the_wheel_carries_every_module_and_the_command(wheel_names):
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "malaria_gui").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules and not modules - wheel_names
    entry_points = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
    assert entry_points
    # tests, tools and benchmarks are not part of the program
    assert not any(n.startswith(("tests/", "tools/", "bench/")) for n in wheel_names)


def test_installed_package_data_are_found_before_the_checkout(tmp_path, monkeypatch):
    """An installed wheel has malaria_gui/_models; the program must use it, not look for a
    repository beside site-packages. Simulated by pointing the lookup at a temporary copy."""
    installed = tmp_path / "site-packages" / "malaria_gui" / "_models"
    installed.mkdir(parents=True)
    shutil.copy2(REPO / "models" / "malaria_cnn.card.json", installed)
    (installed / "malaria_cnn.keras").write_bytes(b"placeholder")
    monkeypatch.setitem(resources._INSTALLED, "models", installed)
    monkeypatch.delenv(resources.MODEL_ENV, raising=False)
    assert resources.default_model_path() == installed / "malaria_cnn.keras"
    # The resources folder is not installed here: the checkout's is used.
    assert resources.resource_path("resources", "malaria-gui.svg") == REPO / "resources" / "malaria-gui.svg"


def test_a_checkout_finds_the_icon_in_every_size():
    paths = resources.icon_paths()
    assert [p.name for p in paths] == [f"malaria-gui-{s}.png" for s in (16, 32, 48, 64, 128, 256, 512)]
    from PIL import Image

    for path in paths:
        size = int(path.stem.rsplit("-", 1)[1])
        with Image.open(path) as image:
            assert image.size == (size, size) and image.mode == "RGBA"
            assert image.getpixel((0, 0))[3] == 0  # transparent corners: a round icon, not a square
            assert image.getpixel((size // 2, size // 2))[3] == 255


def test_the_application_window_gets_the_icon(qtbot):
    from PySide6.QtCore import QSize

    from malaria_gui.gui.app import make_app

    icon = make_app().windowIcon()
    assert not icon.isNull()
    assert QSize(16, 16) in icon.availableSizes() and QSize(256, 256) in icon.availableSizes()

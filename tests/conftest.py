"""Shared fixtures: headless Qt, synthetic cell images, a tiny untrained model."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import malaria_gui  # noqa: E402,F401  (chooses the Keras backend before any test imports keras)

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cells import DATA_DIR, REPO, synthetic_cell, write_rgb  # noqa: E402,F401


@pytest.fixture
def labelled_folder(tmp_path: Path) -> Path:
    """A labelled folder: 6 Parasitized and 6 Uninfected synthetic PNG cells."""
    rng = np.random.default_rng(0)
    root = tmp_path / "slides"
    for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
        for i in range(6):
            write_rgb(root / label / f"cell_{i}.png", synthetic_cell(rng, parasitized))
    return root


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained compact network saved as .keras with a card: real loading, no real data."""
    import json

    import keras

    from malaria_gui.training.architectures import compact

    keras.utils.set_random_seed(0)
    model = compact(input_size=32, width=4)
    folder = tmp_path_factory.mktemp("model")
    path = folder / "tiny.keras"
    model.save(path)
    (folder / "tiny.card.json").write_text(json.dumps({"name": "tiny-test-model", "version": "0", "threshold": 0.5}))
    return path


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_path):
    """The tiny model loaded once per session through the engine (Keras loading is slow)."""
    from malaria_gui.engine.model import load_classifier

    return load_classifier(tiny_model_path)


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--skip-frozen",
        action="store_true",
        default=os.environ.get("MALARIA_SKIP_FROZEN", "") not in ("", "0"),
        help="skip the tests that build and run the PyInstaller bundle (minutes); also MALARIA_SKIP_FROZEN=1",
    )


def pytest_collection_modifyitems(config, items) -> None:
    """The frozen-build tests run by default (CI); a developer can opt out of the slow build."""
    if not config.getoption("--skip-frozen"):
        return
    skip = pytest.mark.skip(reason="--skip-frozen / MALARIA_SKIP_FROZEN=1")
    for item in items:
        if "frozen" in item.keywords:
            item.add_marker(skip)

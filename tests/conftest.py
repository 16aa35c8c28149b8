"""Shared fixtures: headless Qt, synthetic cell images, a tiny untrained model."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MALARIA_DATA_DIR", REPO.parent / "shared" / "data" / "nih_malaria_cells_128"))


def synthetic_cell(rng: np.random.Generator, parasitized: bool, size: int = 128) -> np.ndarray:
    """A pink disc on black, with purple dots when parasitized: enough to exercise the code."""
    image = np.zeros((size, size, 3), np.uint8)
    centre = (size // 2 + int(rng.integers(-5, 6)), size // 2 + int(rng.integers(-5, 6)))
    cv2.circle(image, centre, int(size * 0.4), (int(rng.integers(190, 230)), 150, 160), -1)
    if parasitized:
        for _ in range(int(rng.integers(1, 4))):
            dot = (centre[0] + int(rng.integers(-20, 21)), centre[1] + int(rng.integers(-20, 21)))
            cv2.circle(image, dot, int(rng.integers(3, 7)), (110, 30, 140), -1)
    return image


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


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

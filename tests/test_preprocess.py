"""Training and inference must feed the network the very same bytes for the same file."""

from __future__ import annotations

import numpy as np
import pytest

from cells import synthetic_cell, write_rgb
from malaria_gui.engine import preprocess as preprocess_module
from malaria_gui.engine.preprocess import preprocess, preprocess_batch
from malaria_gui.engine.scorer import load_for_model
from malaria_gui.training import data


@pytest.mark.parametrize("shape", [(128, 128), (150, 140), (100, 90), (40, 30), (300, 260)])
@pytest.mark.parametrize("size", [32, 64, 224])
def test_training_and_inference_give_identical_arrays(tmp_path, shape, size):
    """NIH crops are 100-200 px and not square: parity must hold for every size, not only 128."""
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    path = write_rgb(tmp_path / "cell.png", rgb)
    stored = data.load_pixels(np.array([str(path)]), workers=1)  # training's stored cells
    trained_on = preprocess_batch(list(stored), size)[0]
    scored = load_for_model(path, size)
    assert scored.dtype == np.uint8 and scored.shape == (size, size, 3)
    np.testing.assert_array_equal(scored, trained_on)


def test_both_sides_use_the_one_preprocess_function(monkeypatch, tmp_path):
    """Swapping ``preprocess`` changes both training and inference: there is no second copy."""
    path = write_rgb(tmp_path / "cell.png", synthetic_cell(np.random.default_rng(0), True))
    calls: list[int] = []
    real = preprocess_module.preprocess

    def spy(image, size):
        calls.append(size)
        return real(image, size)

    monkeypatch.setattr(preprocess_module, "preprocess", spy)
    monkeypatch.setattr(data, "preprocess", spy)
    load_for_model(path, 32)
    inference_calls = len(calls)
    data.load_pixels(np.array([str(path)]), workers=1)
    preprocess_module.preprocess_batch([np.zeros((128, 128, 3), np.uint8)], 32)
    assert inference_calls >= 1
    assert len(calls) > inference_calls + 1


def test_preprocess_stretches_to_a_square_without_padding():
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = 255  # left half white
    out = preprocess(image, 10)
    assert out.shape == (10, 10, 3)
    assert (out[:, :5] == 255).all() and (out[:, 5:] == 0).all()


def test_preprocess_refuses_what_is_not_rgb_uint8():
    with pytest.raises(ValueError):
        preprocess(np.zeros((10, 10), np.uint8), 8)
    with pytest.raises(ValueError):
        preprocess(np.zeros((10, 10, 3), np.float32), 8)


def test_preprocess_batch_shape_and_dtype():
    batch = preprocess_batch([np.zeros((5, 7, 3), np.uint8), np.full((64, 64, 3), 9, np.uint8)], 16)
    assert batch.shape == (2, 16, 16, 3) and batch.dtype == np.uint8
    assert (batch[1] == 9).all()

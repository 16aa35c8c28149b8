"""Occlusion maps point at what moved the call, and cost one batch per cell."""

from __future__ import annotations

import numpy as np

from malaria_gui.engine.explain import occlusion_map, overlay
from malaria_gui.engine.preprocess import prepare
from tests.cells import PARASITE, synthetic_cell


def _dot_detector(batch: np.ndarray) -> np.ndarray:
    """A stand-in model: P grows with the purple (parasite-coloured) pixels it sees."""
    purple = (batch[..., 2].astype(int) - batch[..., 1] > 60).mean(axis=(1, 2))
    return np.clip(purple * 40, 0, 1)


def test_the_map_is_hot_on_the_parasite_and_cold_elsewhere():
    cell = np.zeros((64, 64, 3), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    cell[(yy - 32) ** 2 + (xx - 32) ** 2 < 26 ** 2] = (205, 140, 165)
    cell[(yy - 22) ** 2 + (xx - 40) ** 2 < 4 ** 2] = PARASITE
    calls = []
    heat, p = occlusion_map(lambda b: calls.append(len(b)) or _dot_detector(b), cell)
    assert heat.shape == (64, 64) and heat.dtype == np.float32 and heat.max() == 1.0
    assert p == _dot_detector(cell[None])[0] and p > 0.3
    assert len(calls) == 1  # one batch for the whole map
    assert np.unravel_index(np.argmax(heat), heat.shape) in {(y, x) for y in range(16, 29) for x in range(34, 47)}
    far = (yy - 44) ** 2 + (xx - 24) ** 2 < 6 ** 2  # the opposite side of the cell
    assert heat[far].max() < 0.05
    assert heat[cell.max(axis=2) == 0].max() == 0  # nothing outside the cell


def test_a_cell_the_model_does_not_call_gets_an_empty_map_and_overlay_keeps_the_image():
    rng = np.random.default_rng(1)
    cell = prepare(synthetic_cell(rng, parasitized=False), 64)
    heat, p = occlusion_map(_dot_detector, cell)
    assert p == 0 and not heat.any()
    assert np.array_equal(overlay(cell, heat), cell)
    hot = np.zeros_like(heat)
    hot[10:20, 10:20] = 1.0
    shown = overlay(cell, hot)
    assert not np.array_equal(shown[10:20, 10:20], cell[10:20, 10:20])
    assert np.array_equal(shown[40:, 40:], cell[40:, 40:])

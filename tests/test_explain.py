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


def test_explain_crop_lays_the_map_over_the_crop_at_its_own_shape_where_the_parasite_is():
    # A wide crop (as a field cell's box can be): the parasite on the right half, high up.
    crop = np.zeros((80, 120, 3), np.uint8)
    yy, xx = np.mgrid[:80, :120]
    inside = ((yy - 40) / 36.0) ** 2 + ((xx - 60) / 56.0) ** 2 < 1
    crop[inside] = (205, 140, 165)
    crop[(yy - 25) ** 2 + (xx - 85) ** 2 < 6 ** 2] = PARASITE
    from malaria_gui.engine.explain import EXPLAIN_SIDE, explain_crop

    shown, p, drop = explain_crop(_dot_detector, crop, 64)
    assert shown.shape == (round(80 * EXPLAIN_SIDE / 120), EXPLAIN_SIDE, 3)
    assert p == _dot_detector(prepare(crop, 64)[None])[0] and p > 0.3  # the P scoring gives
    assert 0.5 * p < drop <= p  # hiding the parasite takes most of the call away
    s = EXPLAIN_SIDE / 120
    redness = shown[..., 0].astype(int) - shown[..., 2]
    near = redness[int(15 * s):int(35 * s), int(75 * s):int(95 * s)]
    far = redness[int(45 * s):int(65 * s), int(20 * s):int(40 * s)]  # the left of the cell, low down
    plain = crop[45:65, 20:40, 0].astype(int) - crop[45:65, 20:40, 2]
    assert near.max() > plain.mean() + 60 and abs(far.mean() - plain.mean()) < 15  # red at the parasite only


def test_a_field_cell_is_matched_by_its_box_and_a_cell_gone_is_a_clear_error():
    import pytest

    from malaria_gui.engine.decoding import ImageError
    from malaria_gui.engine.explain import field_cell_crop
    from malaria_gui.engine.fields import find_objects
    from tests.cells import synthetic_field

    image, _truth = synthetic_field(np.random.default_rng(3))
    cells = find_objects(image).cells
    c = cells[5]
    assert field_cell_crop(cells, (c.x, c.y, c.width, c.height)) is c.crop
    assert field_cell_crop(cells, (c.x + 1, c.y, c.width, c.height - 1)) is c.crop  # nearly the same box
    with pytest.raises(ImageError, match="not found in the field"):
        field_cell_crop(cells, (1, 1, 3, 3))

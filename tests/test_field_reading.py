"""One decision, shared by the window's automatic reading and ``smear``, of whether an image
is a field to count, a field refused as no smear (with smear's reason), or one cell
(engine.fields.read_image; issue 23, defect 2)."""

from __future__ import annotations

import numpy as np
import pytest

from cells import few_cells_field, small_cell_field, synthetic_cell
from malaria_gui.engine.fields import (
    READ_CELL, READ_FIELD, READ_REFUSED, FieldError, find_objects, looks_like_field, read_image,
)
from malaria_gui.engine.labels import is_refusal


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fields_of_small_cells_are_read_as_the_fields_smear_counts(seed):
    image = small_cell_field(seed)
    assert not looks_like_field(image), "the fixture must be a field the old quick look misses"
    reading = read_image(image)
    assert reading.kind == READ_FIELD and reading.error is None
    smear_cells = find_objects(image).cells  # what `smear` counts
    assert len(reading.objects.cells) == len(smear_cells) > 150
    assert [(c.x, c.y) for c in reading.objects.cells] == [(c.x, c.y) for c in smear_cells]


def test_a_field_smear_refuses_is_refused_with_smears_reason():
    image = few_cells_field()
    with pytest.raises(FieldError) as refused:
        find_objects(image)
    reading = read_image(image)
    assert reading.kind == READ_REFUSED
    assert reading.error == str(refused.value) == "not a smear field: only 4 red cell(s) found (a field holds many)"
    assert is_refusal(reading.error) and not is_refusal("cannot decode the file")
    # Forced (smear, or View > Field images > always fields) it is refused the same way.
    assert read_image(image, automatic=False).error == reading.error


def test_a_cell_or_a_photo_is_one_cell_unless_fields_are_forced():
    cell = synthetic_cell(np.random.default_rng(0), True)
    noise = np.random.default_rng(2).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert read_image(cell).kind == READ_CELL
    assert read_image(noise).kind == READ_CELL
    forced = read_image(noise, automatic=False)
    assert forced.kind == READ_REFUSED and forced.error.startswith("not a smear field: ")
    assert "single cell" in read_image(cell, automatic=False).error

"""The other-lab figures a training run and ``evaluate`` put on the card: read from sets laid
out as ``shared/data`` lays them out, each figure counted from the model's own outputs."""

from __future__ import annotations

import numpy as np
import pytest

from cells import synthetic_cell, synthetic_field, write_rgb
from malaria_gui.training.other_labs import format_other_labs, load_other_labs, measure


def _other_labs(root, fields: int = 2, crops: int = 5):
    rng = np.random.default_rng(3)
    for i in range(crops):
        write_rgb(root / "mpidb_pf_crops" / "Parasitized" / f"crop_R_T{i}.png", synthetic_cell(rng, True, size=72))
    (root / "mpidb_pf_crops" / "Parasitized" / "broken.png").write_bytes(b"not a png")
    drawn = 0
    for i in range(fields):
        image, truth = synthetic_field(rng, infected=0.0, border_cells=0)
        write_rgb(root / "chula_rbc12_fields" / "images" / f"{i}.jpg", image)
        drawn += len(truth)
    write_rgb(root / "chula_rbc12_fields" / "images" / "blank.jpg", np.full((480, 640, 3), 200, np.uint8))
    return drawn


def test_both_sets_are_read_and_fields_are_cut_by_the_app_segmentation(tmp_path):
    drawn = _other_labs(tmp_path)
    cells = load_other_labs(tmp_path)
    assert cells.mpidb_infected.shape == (5, 128, 128, 3)  # the broken file is left out, the rest resized
    # the blank image is no field and adds nothing; most drawn cells of the two fields are found
    assert 0.8 * drawn <= len(cells.chula_uninfected) <= 1.1 * drawn
    assert cells.chula_uninfected.dtype == np.uint8


def test_missing_sets_give_no_figures_rather_than_zeros(tmp_path):
    cells = load_other_labs(tmp_path / "nowhere")
    assert len(cells.mpidb_infected) == 0 and len(cells.chula_uninfected) == 0
    figures = measure(np.empty(0), np.empty(0), 0.5)
    assert set(figures) == {"threshold"}
    assert "no other-lab sets" in format_other_labs(figures)


def test_figures_count_cells_at_the_threshold():
    p_mpidb = np.array([0.9, 0.7, 0.69, 0.1])
    p_chula = np.array([0.05, 0.2, 0.75, 0.1, 0.0])
    figures = measure(p_mpidb, p_chula, 0.7)
    assert figures["mpidb_infected"] == {"cells": 4, "caught": 2, "share_caught": 0.5}
    assert figures["chula_uninfected"] == {"cells": 5, "called_parasitized": 1, "share_called_parasitized": 0.2}
    # pairs won by each infected cell over the 5 uninfected (a tie counts half): 5, 4, 4, 2.5
    assert figures["cross_lab_roc_auc"] == pytest.approx((5 + 4 + 4 + 2.5) / 20, abs=1e-4)
    text = format_other_labs(figures)
    assert "50.0%" in text and "(2 of 4)" in text and "20.00%" in text


def test_the_field_threshold_is_the_middle_of_the_range_where_both_lab_targets_hold():
    from tools.field_threshold import choose

    # Uninfected: 1.1% above 0.605, 0.5% above 0.755, so <= 1% called from 0.61 up.
    uninfected = np.r_[np.full(9_890, 0.1), np.full(60, 0.605), np.full(50, 0.755)]
    # Infected: 70% at 0.815, so >= 70% caught up to 0.81.
    infected = np.r_[np.full(700, 0.815), np.full(300, 0.3)]
    assert choose(uninfected, infected) == (0.71, 0.61, 0.81)
    assert choose(uninfected, np.full(10, 0.2)) is None  # no threshold catches 70%: nothing is chosen

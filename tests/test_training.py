"""The training command end to end on a few synthetic cells: one epoch, real outputs."""

from __future__ import annotations

import json

import numpy as np

from cells import nih_style_folder, synthetic_cell


def test_train_writes_a_loadable_model_its_card_and_plots(tmp_path):
    from malaria_gui.cli import main
    from malaria_gui.engine.model import load_classifier

    data = nih_style_folder(tmp_path / "cells")
    out = tmp_path / "run"
    code = main(["train", str(data), "--epochs", "1", "--out", str(out), "--batch-size", "16"])
    assert code == 0
    for name in ("malaria_cnn.keras", "malaria_cnn.card.json", "training_history.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0, name

    card = json.loads((out / "malaria_cnn.card.json").read_text())
    assert card["class_order"] == ["Parasitized", "Uninfected"]
    assert 0.05 <= card["threshold"] <= 0.95
    sets = card["data"]["sets"]
    assert sum(s["cells"] for s in sets.values()) == 60
    assert sum(s["patients"] for s in sets.values()) == 10
    test_ids, val_ids = set(card["data"]["test_patient_ids"]), set(card["data"]["validation_patient_ids"])
    assert test_ids and val_ids and not test_ids & val_ids
    assert card["metrics"]["test_patients"]["n"] == sets["test"]["cells"]
    assert set(card["metrics"]["per_shift"]) and card["software"]["keras"]
    # no other-lab sets beside this folder: the card says which threshold, and claims no figure
    assert card["metrics"]["other_labs"]["threshold"] == card["threshold"]
    assert "mpidb_infected" not in card["metrics"]["other_labs"]
    assert "augmented copies" in card["threshold_rule"] and card["training"]["augmentation"] == "wide"

    classifier = load_classifier(out / "malaria_cnn.keras")
    assert classifier.threshold == card["threshold"]
    probs = classifier.predict(np.zeros((3, classifier.input_size, classifier.input_size, 3), np.uint8))
    assert probs.shape == (3,) and np.all((probs >= 0) & (probs <= 1))
    assert not any("BatchNormalization" in type(layer).__name__ for layer in classifier.model.layers)


def test_train_refuses_a_folder_without_labelled_cells(tmp_path, capsys):
    from malaria_gui.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    assert "no labelled cells" in capsys.readouterr().err


def test_augmentation_keeps_shape_and_type_and_covers_the_eight_symmetries():
    from malaria_gui.training.augment import augment, dihedral

    image = synthetic_cell(np.random.default_rng(1), True)
    rng = np.random.default_rng(2)
    for level in ("none", "geometric", "full", "wide"):
        out = augment(image, rng, level)
        assert out.shape == image.shape and out.dtype == np.uint8
    assert augment(image, rng, "none") is image
    variants = {dihedral(image, k).tobytes() for k in range(8)}
    assert len(variants) == 8


def test_wide_augmentation_pieces_change_what_they_say_and_nothing_else():
    import pytest

    from malaria_gui.training.augment import _background_mask, augment, jpeg, low_resolution, neighbour_rim, stain_mix

    rng = np.random.default_rng(4)
    cell, other = synthetic_cell(rng, True), synthetic_cell(rng, False)
    inside = ~_background_mask(cell)
    # a neighbour shows only where the cell's own frame was empty, and the cell is untouched
    rimmed = neighbour_rim(cell, other, (0.6, 0.0))
    assert np.array_equal(rimmed[inside], cell[inside])
    assert (~_background_mask(rimmed)).sum() > inside.sum() * 1.1
    # no mixing is no change (to rounding); mixing dyes changes colour inside, black stays black
    assert np.abs(stain_mix(cell, np.eye(3)).astype(int) - cell).max() <= 1
    mixed = stain_mix(cell, np.array([[1.3, 0.1, 0.0], [0.0, 0.8, 0.1], [0.1, 0.0, 1.2]]))
    assert np.abs(mixed[inside].astype(int) - cell[inside]).mean() > 5
    assert not mixed[~inside].any()
    # lower resolution and JPEG keep the frame, lose detail, keep the colours roughly
    for degraded in (low_resolution(cell, 24), jpeg(cell, 30)):
        assert degraded.shape == cell.shape and degraded.dtype == np.uint8
        assert not np.array_equal(degraded, cell)
        assert np.abs(degraded[inside].mean(axis=0) - cell[inside].mean(axis=0)).max() < 12
    # the same seed, the same copy: training runs are reproducible
    a = augment(cell, np.random.default_rng(9), "wide")
    assert np.array_equal(a, augment(cell, np.random.default_rng(9), "wide"))
    with pytest.raises(ValueError, match="unknown augmentation level"):
        augment(cell, rng, "wider")


def test_card_threshold_balances_both_recalls_and_holds_still_between_samples():
    from malaria_gui.training.train import balanced_threshold, choose_threshold

    rng = np.random.default_rng(0)
    truth = ["Parasitized"] * 400 + ["Uninfected"] * 400

    def sample():
        # overlapping scores with a flat top to Youden's J, as validation cells give
        return np.r_[rng.beta(5, 2, 400), rng.beta(2, 5, 400)]

    p = sample()
    cut = balanced_threshold(truth, p)
    sensitivity, specificity = (p[:400] >= cut).mean(), (p[400:] < cut).mean()
    assert abs(sensitivity - specificity) < 0.01
    # weights count like repeated cells
    twice = balanced_threshold(truth + truth[:400], np.r_[p, p[:400]])
    assert balanced_threshold(truth, p, np.r_[np.full(400, 2.0), np.ones(400)]) == twice
    samples = [sample() for _ in range(12)]
    spread_balanced = np.std([balanced_threshold(truth, s) for s in samples])
    spread_youden = np.std([choose_threshold(truth, s) for s in samples])
    assert spread_balanced < 0.5 * spread_youden

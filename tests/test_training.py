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
    for level in ("none", "geometric", "full"):
        out = augment(image, rng, level)
        assert out.shape == image.shape and out.dtype == np.uint8
    assert augment(image, rng, "none") is image
    variants = {dihedral(image, k).tobytes() for k in range(8)}
    assert len(variants) == 8

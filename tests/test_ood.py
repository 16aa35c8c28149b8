"""The out-of-distribution check: quiet on cells like the training cells, loud on shifted ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cells import DATA_DIR, REPO, synthetic_cell, write_rgb
from malaria_gui.engine import ood
from malaria_gui.engine.preprocess import prepare
from malaria_gui.training.augment import other_lab_shift

OTHER_LAB = DATA_DIR.parent / "mpidb_pf_crops"


def cells(seed: int, n: int, shift=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = [synthetic_cell(rng, i % 2 == 0) for i in range(n)]
    return np.stack([prepare(shift(im) if shift else im, 32) for im in images])


def test_rule_is_quiet_on_clean_cells_and_fires_on_strongly_shifted_ones(tiny_classifier):
    desc = ood.describe(tiny_classifier.model, cells(0, 200))
    json.dumps(desc)  # it goes into the card
    same = ood.compare(desc, cells(1, 100), tiny_classifier.model)
    shifted = ood.compare(desc, cells(1, 100, other_lab_shift), tiny_classifier.model)
    assert not same.unlike and same.message() is None
    assert shifted.unlike and "look unlike the cells this model was trained on" in shifted.message()
    # Too few cells to judge: never a warning.
    assert not ood.compare(desc, cells(1, 10, other_lab_shift), tiny_classifier.model).unlike


def test_check_results_survives_unreadable_files_and_needs_a_description(tmp_path, tiny_classifier):
    from dataclasses import replace

    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.scorer import score_all

    rng = np.random.default_rng(2)
    for i in range(30):
        write_rgb(tmp_path / f"c_{i}.png", other_lab_shift(synthetic_cell(rng, i % 2 == 0)))
    results = score_all(find_images([tmp_path]), tiny_classifier)
    (tmp_path / "c_0.png").write_bytes(b"gone bad since")  # unreadable on the second read
    assert ood.check_results(results, tiny_classifier) is None  # the tiny card has no description
    description = ood.describe(tiny_classifier.model, cells(0, 1000))
    described = replace(tiny_classifier, card={**tiny_classifier.card, "ood": description})
    check = ood.check_results(results, described)
    assert check.cells == 29 and check.unlike
    # A description of few cells (a lab model's ~100) is too narrow to warn by.
    narrow = replace(tiny_classifier, card={**tiny_classifier.card,
                                            "ood": ood.describe(tiny_classifier.model, cells(0, 200))})
    assert ood.check_results(results, narrow) is None


def test_classify_summary_warns_on_cells_unlike_the_bundled_models(tmp_path, capsys):
    from malaria_gui.cli import main

    rng = np.random.default_rng(3)
    for i in range(40):
        write_rgb(tmp_path / f"c_{i}.png", other_lab_shift(synthetic_cell(rng, i % 2 == 0)))
    assert main(["classify", str(tmp_path), "--quiet"]) == 0
    assert "warning: these cells look unlike the cells this model was trained on" in capsys.readouterr().out


def test_bundled_card_carries_a_description():
    card = json.loads((REPO / "models" / "malaria_cnn.card.json").read_text())
    assert card["ood"]["cells"] == card["data"]["sets"]["train"]["cells"] == 14332  # the training patients' cells
    assert card["threshold"] == card["metrics"]["test_patients"]["threshold"]  # the rest of the card is as it was


@pytest.mark.skipif(not (DATA_DIR / "manifest.csv").is_file(), reason="real data not available (MALARIA_DATA_DIR)")
def test_bundled_rule_on_real_cells():
    """NIH test patients and their colour-shifted copy stay quiet; another lab's crops warn."""
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.training.augment import shifted_copy
    from malaria_gui.training.data import load_pixels

    clf = load_classifier(None)
    test_ids = set(clf.card["data"]["test_patient_ids"])
    rows = [r for r in csv.DictReader(open(DATA_DIR / "manifest.csv", newline="")) if r["patient"] in test_ids]
    pick = np.random.default_rng(0).choice(len(rows), 300, replace=False)
    images = load_pixels([str(DATA_DIR / rows[i]["file"]) for i in pick])

    def batch(ims):
        return np.stack([prepare(im, clf.input_size) for im in ims])

    assert not ood.compare(clf.card["ood"], batch(images), clf.model).unlike
    assert not ood.compare(clf.card["ood"], batch(shifted_copy(images)[0]), clf.model).unlike
    assert ood.compare(clf.card["ood"], batch([other_lab_shift(im) for im in images]), clf.model).unlike
    if OTHER_LAB.is_dir():
        crops = sorted(Path(OTHER_LAB).rglob("*.png"))
        other = [crops[i] for i in np.random.default_rng(0).choice(len(crops), 300, replace=False)]
        from malaria_gui.engine.scorer import load_for_model

        crops = np.stack([load_for_model(p, clf.input_size) for p in other])
        assert ood.compare(clf.card["ood"], crops, clf.model).unlike

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


def _shifted_files(folder: Path, n: int, seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_rgb(folder / f"c_{i:04}.png", other_lab_shift(synthetic_cell(rng, i % 2 == 0)))


def test_the_scoring_pass_gives_the_verdict_of_the_whole_batch_and_reads_each_file_once(
        tmp_path, tiny_classifier, monkeypatch):
    """Up to SAMPLE cells, the in-pass sample holds every scored cell: its figures are those of
    ``compare`` on the same files' pixels (the features come from the fused forward pass)."""
    from dataclasses import replace

    from malaria_gui.engine import scorer
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.scorer import load_for_model, score_all

    _shifted_files(tmp_path, 30)
    (tmp_path / "c_0000.png").write_bytes(b"broken")  # unreadable: one error row, not in the sample
    reads = []
    real = scorer.load_checked
    monkeypatch.setattr(scorer, "load_checked", lambda path, size: reads.append(path) or real(path, size))
    items = find_images([tmp_path])
    sample = ood.OODSample()
    results = score_all(items, tiny_classifier, batch_size=8, ood=sample)
    assert len(reads) == len(items) == 30  # nothing is read again after the last batch
    assert len(sample) == sample.seen == 29

    assert sample.check(tiny_classifier.card) is None  # the tiny card has no description
    described = replace(tiny_classifier, card={**tiny_classifier.card,
                                               "ood": ood.describe(tiny_classifier.model, cells(0, 1000))})
    in_pass = sample.check(described.card)
    pixels = np.stack([load_for_model(r.path, 32) for r in results if r.ok])
    whole = ood.compare(described.card["ood"], pixels, tiny_classifier.model)
    assert in_pass.cells == whole.cells == 29 and in_pass.unlike and whole.unlike
    assert in_pass.colour_ratio == pytest.approx(whole.colour_ratio, rel=1e-6)
    assert in_pass.feature_ratio == pytest.approx(whole.feature_ratio, rel=1e-4)
    # A description of few cells (a lab model's ~100) is too narrow to warn by.
    narrow = {**tiny_classifier.card, "ood": ood.describe(tiny_classifier.model, cells(0, 200))}
    assert sample.check(narrow) is None


def test_sample_stays_bounded_and_uniform_over_a_long_run():
    """Memory stays flat however many cells are scored, and every cell has the same chance."""
    sample = ood.OODSample(size=512, seed=1)
    pixels = np.full((250, 4, 4, 3), 128, np.uint8)
    for start in range(0, 20_000, 250):
        index = np.arange(start, start + 250, dtype=np.float64)[:, None]
        sample.add(pixels, index)  # the "feature" is the cell's position in the run
    assert sample.seen == 20_000 and len(sample) == 512 and sample.colour.shape == (512, 10)
    kept = sample.features[:, 0]
    assert len(set(kept)) == 512  # no cell twice
    quarters = np.bincount((kept // 5000).astype(int), minlength=4)
    assert quarters.min() > 90, quarters  # ~128 each: late cells are not crowded out by early ones


def test_sample_of_a_large_run_judges_as_all_its_cells(tiny_classifier):
    """Beyond SAMPLE cells the figures come from a sample: they stay those of all the cells."""
    desc = ood.describe(tiny_classifier.model, cells(0, 1000))
    for shift in (None, other_lab_shift):
        batch = cells(5, 1500, shift)
        sample = ood.OODSample()
        for start in range(0, len(batch), 256):
            part = batch[start:start + 256]
            sample.add(part, tiny_classifier.predict_with_features(part)[1])
        everything = ood.compare(desc, batch, tiny_classifier.model)
        judged = sample.check({"ood": desc | {"cells": 1000}})
        assert judged.cells == 512 and judged.unlike == everything.unlike
        assert judged.colour_ratio == pytest.approx(everything.colour_ratio, rel=0.2)
        assert judged.feature_ratio == pytest.approx(everything.feature_ratio, rel=0.2)


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

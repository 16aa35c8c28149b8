"""On the real NIH cells (skipped where they are absent): patients, splits and the bundled model."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pytest

from cells import DATA_DIR, REPO

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA_DIR / "manifest.csv").is_file(), reason=f"real data not found at {DATA_DIR}"),
]

BUNDLED_MODEL = REPO / "models" / "malaria_cnn.keras"
BUNDLED_CARD = REPO / "models" / "malaria_cnn.card.json"


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    with open(DATA_DIR / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_patient_from_name_groups_cells_exactly_as_the_manifest(manifest):
    """Without a manifest the file names alone must give the same patient groups (no leak).

    The ids may be spelled differently (the manifest says ``C4thin_original`` where the
    name rule says ``C4``); only the grouping matters for a split.
    """
    from malaria_gui.training.data import patient_from_name

    name_to_manifest: dict[str, set[str]] = defaultdict(set)
    manifest_to_name: dict[str, set[str]] = defaultdict(set)
    for row in manifest:
        derived = patient_from_name(row["file"])
        name_to_manifest[derived].add(row["patient"])
        manifest_to_name[row["patient"]].add(derived)
    assert all(len(v) == 1 for v in name_to_manifest.values())
    assert all(len(v) == 1 for v in manifest_to_name.values())
    assert len(manifest_to_name) == 160


def test_split_by_patient_is_disjoint_and_large_enough():
    from malaria_gui.training.data import read_table, split_by_patient

    table = read_table(DATA_DIR)
    split = split_by_patient(table)
    parts = {name: set(table.patients[getattr(split, name)].tolist()) for name in ("train", "val", "test")}
    assert not parts["train"] & parts["val"]
    assert not parts["train"] & parts["test"]
    assert not parts["val"] & parts["test"]
    assert len(parts["test"]) >= 30
    assert len(split.train) + len(split.val) + len(split.test) == len(table)
    for index in (split.train, split.val, split.test):
        share = table.labels[index].mean()
        assert 0.4 < share < 0.6  # both classes well represented on every side


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="the bundled model has not been trained yet")
def test_bundled_model_on_held_out_patients(manifest):
    """About 600 cells from the card's test patients: good in both classes, not just on average."""
    from malaria_gui.engine.discovery import ImageItem
    from malaria_gui.engine.metrics import metrics_for_results
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.scorer import score_all

    card = json.loads(BUNDLED_CARD.read_text(encoding="utf-8"))
    test_patients = set(card["data"]["test_patient_ids"])
    assert len(test_patients) >= 30
    rng = np.random.default_rng(0)
    items = []
    for label in ("Parasitized", "Uninfected"):
        rows = [r for r in manifest if r["label"] == label and r["patient"] in test_patients]
        assert len(rows) >= 300
        for i in sorted(rng.choice(len(rows), 300, replace=False)):
            items.append(ImageItem(DATA_DIR / rows[i]["file"], label))

    classifier = load_classifier(BUNDLED_MODEL)
    results = score_all(items, classifier, batch_size=128)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    m = metrics_for_results(results, classifier.threshold)
    assert m.n == 600
    assert m.sensitivity >= 0.85, m
    assert m.specificity >= 0.85, m
    assert m.roc_auc >= 0.95, m

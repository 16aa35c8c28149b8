"""The label audit: which labelled cells a model contradicts, and what they cost its figures."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED, class_index
from malaria_gui.engine.model import load_classifier
from malaria_gui.engine.scorer import load_for_model
from malaria_gui.training import label_audit
from malaria_gui.training.label_audit import Audit, contradictions

P, U = class_index(PARASITIZED), class_index(UNINFECTED)


def test_contradicted_cells_are_the_confident_disagreements_most_confident_first():
    labels = np.array([P, P, P, U, U, U, P, U])
    p = np.array([0.95, 0.04, 0.5, 0.02, 0.97, 0.6, 0.09, 0.92])
    # 1 (P at 0.04), 6 (P at 0.09), 4 (U at 0.97), 7 (U at 0.92); not the unsure 2 and 5.
    assert contradictions(labels, p).tolist() == [4, 1, 7, 6]
    assert contradictions(labels, p, low=0.05, high=0.95).tolist() == [4, 1]


def test_dropping_mislabelled_cells_restores_the_ranking():
    rng = np.random.default_rng(0)
    labels = np.repeat([P, U], 200)
    p = np.where(labels == P, rng.uniform(0.6, 1.0, 400), rng.uniform(0.0, 0.4, 400))
    labels[[0, 1, 2, 300, 301]] = [U, U, U, P, P]  # five wrong labels on confidently scored cells
    p[[0, 1, 2]], p[[300, 301]] = 0.95, 0.05
    found = Audit(np.array([f"c{i}.png" for i in range(400)]), labels, np.zeros(400, str), p, contradictions(labels, p))
    assert sorted(found.contradicted.tolist()) == [0, 1, 2, 300, 301]
    assert found.figures(0.5).roc_auc < 0.99
    assert found.figures(0.5, without_contradicted=True).roc_auc == 1.0
    assert found.figures(0.5, without_contradicted=True).n == 395


def test_cli_lists_each_file_with_its_label_and_score(labelled_folder, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "audit"
    # low 1 / high 0: every cell counts as contradicted, so the CSV must hold all twelve files,
    # each with the label of its folder and the score the app gives that file.
    assert label_audit.main([str(tiny_model_path), str(labelled_folder), "--split", "all",
                             "--low", "1", "--high", "0", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "contradicted.csv", newline="")))
    assert len(rows) == 12 and (out / "contradicted.png").stat().st_size > 0
    classifier = load_classifier(tiny_model_path)
    for row in rows:
        expected = classifier.predict(load_for_model(row["file"], classifier.input_size)[None])[0]
        assert row["label"] == ("Parasitized" if "/Parasitized/" in row["file"] else "Uninfected")
        assert float(row["p_parasitized"]) == pytest.approx(float(expected), abs=1e-4)
    confidence = [1 - float(r["p_parasitized"]) if r["label"] == "Parasitized" else float(r["p_parasitized"])
                  for r in rows]
    assert confidence == sorted(confidence, reverse=True)
    assert "contradicted with confidence: 12" in capsys.readouterr().out


def test_cli_refuses_a_card_split_the_card_does_not_hold(labelled_folder, tiny_model_path, tmp_path, capsys):
    card = json.loads(tiny_model_path.with_name("tiny.card.json").read_text())
    assert "data" not in card
    with pytest.raises(SystemExit) as exit_info:
        label_audit.main([str(tiny_model_path), str(labelled_folder), "--split", "test"])
    assert exit_info.value.code == 2
    assert "lists no test patients" in capsys.readouterr().err

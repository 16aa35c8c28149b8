"""Metrics with Parasitized as the positive class, checked by hand and against scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from malaria_gui.engine.labels import CLASS_NAMES, PARASITIZED as P, UNINFECTED as U
from malaria_gui.engine.metrics import compute_metrics, format_metrics, metrics_for_results
from malaria_gui.engine.scorer import Result

# 4 parasitized cells (3 caught), 6 uninfected cells (1 false alarm).
TRUTH = [P, P, P, P, U, U, U, U, U, U]
PROBS = [0.9, 0.8, 0.6, 0.2, 0.7, 0.4, 0.3, 0.1, 0.05, 0.0]


def test_hand_computed_values():
    m = compute_metrics(TRUTH, PROBS, threshold=0.5)
    assert m.confusion == ((3, 1), (1, 5))  # rows true P/U, columns predicted P/U
    assert (m.tp, m.fn, m.fp, m.tn) == (3, 1, 1, 5)
    assert m.n == 10
    assert m.accuracy == pytest.approx(0.8)
    assert m.sensitivity == pytest.approx(3 / 4)
    assert m.specificity == pytest.approx(5 / 6)
    assert m.precision == pytest.approx(3 / 4)
    assert m.f1 == pytest.approx(3 / 4)
    # 24 (P, U) pairs ranked right: 6 + 6 + 5 (0.6 < 0.7) + 3 (0.2 < 0.4 and 0.3) = 20.
    assert m.roc_auc == pytest.approx(20 / 24)


def test_agrees_with_scikit_learn_on_random_data():
    rng = np.random.default_rng(7)
    truth = rng.choice(CLASS_NAMES, size=300)
    probs = np.clip(rng.normal(np.where(truth == P, 0.65, 0.35), 0.2), 0, 1)
    m = compute_metrics(list(truth), probs, threshold=0.42)
    pred = np.where(probs >= 0.42, P, U)
    np.testing.assert_array_equal(m.confusion, skm.confusion_matrix(truth, pred, labels=list(CLASS_NAMES)))
    assert m.sensitivity == pytest.approx(skm.recall_score(truth, pred, pos_label=P))
    assert m.specificity == pytest.approx(skm.recall_score(truth, pred, pos_label=U))
    assert m.precision == pytest.approx(skm.precision_score(truth, pred, pos_label=P))
    assert m.f1 == pytest.approx(skm.f1_score(truth, pred, pos_label=P))
    assert m.accuracy == pytest.approx(skm.accuracy_score(truth, pred))
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(truth == P, probs))


def test_threshold_moves_the_counts_but_not_the_auc():
    low, high = compute_metrics(TRUTH, PROBS, 0.15), compute_metrics(TRUTH, PROBS, 0.75)
    assert low.confusion == ((4, 0), (3, 3))
    assert high.confusion == ((2, 2), (0, 6))
    assert low.sensitivity == 1.0 and high.specificity == 1.0
    assert low.roc_auc == high.roc_auc


def test_probability_equal_to_threshold_counts_as_parasitized():
    m = compute_metrics([P, U], [0.5, 0.5], 0.5)
    assert m.confusion == ((1, 0), (1, 0))
    assert Result(Path("x"), 0.5).prediction(0.5) == P


def test_one_class_only_has_no_auc_and_no_undefined_ratios():
    m = compute_metrics([U, U, U], [0.1, 0.6, 0.2], 0.5)
    assert m.roc_auc is None
    assert m.sensitivity is None  # no parasitized cells: recall is undefined, not 0
    assert m.specificity == pytest.approx(2 / 3)
    assert "n/a" in format_metrics(m)


def test_no_positive_calls_has_no_precision():
    m = compute_metrics([P, U], [0.1, 0.2], 0.5)
    assert m.precision is None and m.f1 == 0.0


def test_lengths_must_match():
    with pytest.raises(ValueError):
        compute_metrics([P, U], [0.5], 0.5)


def test_metrics_for_results_skips_failed_and_unlabelled_files():
    results = [
        Result(Path("a"), 0.9, truth=P),
        Result(Path("b"), None, "empty file (0 bytes)", truth=P),
        Result(Path("c"), 0.8, truth=None),
        Result(Path("d"), 0.1, truth=U),
    ]
    m = metrics_for_results(results, 0.5)
    assert m.n == 2 and m.confusion == ((1, 0), (0, 1))
    assert metrics_for_results([Result(Path("c"), 0.8)], 0.5) is None


def test_text_report_shows_matrix_in_class_order():
    text = format_metrics(compute_metrics(TRUTH, PROBS, 0.5))
    lines = text.splitlines()
    assert lines[1].split() == list(CLASS_NAMES)
    assert lines[2].split() == ["true", P, "3", "1"]
    assert lines[3].split() == ["true", U, "1", "5"]
    assert "Sensitivity  75.0%" in text and "Specificity  83.3%" in text
    assert "ROC AUC      0.8333" in text


def test_as_dict_is_json_ready():
    import json

    d = compute_metrics(TRUTH, PROBS, 0.5).as_dict()
    assert d["class_order"] == list(CLASS_NAMES)
    assert d["confusion"] == [[3, 1], [1, 5]]
    json.dumps(d)


def test_auc_can_be_left_out_and_nothing_else_changes():
    """The window skips ROC AUC while scoring; every other figure must stay the same."""
    full, quick = compute_metrics(TRUTH, PROBS, 0.5), compute_metrics(TRUTH, PROBS, 0.5, auc=False)
    assert quick.roc_auc is None and full.roc_auc is not None
    assert {**quick.as_dict(), "roc_auc": full.roc_auc} == full.as_dict()


def test_roc_auc_is_scikit_learns_with_many_tied_scores():
    """Computed without importing scikit-learn (a second of every labelled classify run)."""
    rng = np.random.default_rng(7)
    truth = rng.choice(CLASS_NAMES, size=2000)
    probs = np.round(np.clip(rng.normal(np.where(truth == P, 0.6, 0.4), 0.25), 0, 1), 1)  # 11 values: ties everywhere
    m = compute_metrics(list(truth), probs, threshold=0.5)
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(truth == P, probs), abs=1e-12)

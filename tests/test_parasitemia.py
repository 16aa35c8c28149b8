"""The misclassification-corrected parasitemia (Rogan-Gladen) and its interval."""

from __future__ import annotations

import pytest

from malaria_gui.engine.fields import wilson_interval
from malaria_gui.engine.parasitemia import FieldAccuracy, corrected_parasitemia, field_accuracy, rogan_gladen

LAB = FieldAccuracy(sensitivity=0.9, specificity=0.95, positives=30, negatives=2000)


def test_known_values_by_hand():
    # (0.10 + 0.95 - 1) / (0.9 + 0.95 - 1) = 0.05 / 0.85
    assert rogan_gladen(0.10, 0.9, 0.95) == pytest.approx(0.0588235, abs=1e-6)
    # (0.05 + 0.99 - 1) / (0.8 + 0.99 - 1) = 0.04 / 0.79
    est = corrected_parasitemia(5, 100, FieldAccuracy(0.8, 0.99, 40, 3000))
    assert est.estimate == pytest.approx(0.0506329, abs=1e-6) and est.observed == 0.05
    assert est.low <= est.estimate <= est.high
    # A perfect model changes nothing.
    assert corrected_parasitemia(7, 200, FieldAccuracy(1.0, 1.0, 30, 900)).estimate == pytest.approx(0.035)


def test_clipped_to_zero_and_one():
    # 1% called but 5% false calls expected: (0.01 - 0.05) / 0.85 < 0 -> 0.
    low = corrected_parasitemia(1, 100, LAB)
    assert low.estimate == 0.0 and low.low == 0.0 and low.high > 0.0
    high = corrected_parasitemia(100, 100, LAB)  # (1 - 0.05) / 0.85 > 1 -> 1
    assert high.estimate == 1.0 and high.high == 1.0


def test_interval_wider_than_wilson_and_narrows_with_more_labelled_cells():
    k, n = 80, 1000  # 8% called where 5% would be false calls
    w_low, w_high = wilson_interval(k, n)
    est = corrected_parasitemia(k, n, LAB)
    assert est.high - est.low > w_high - w_low
    many = corrected_parasitemia(k, n, FieldAccuracy(0.9, 0.95, 3000, 200000))
    assert many.high - many.low < est.high - est.low
    # With Se and Sp known almost exactly, only the observed share's Wilson interval remains,
    # carried through the estimator.
    exact = corrected_parasitemia(k, n, FieldAccuracy(0.9, 0.95, 10**12, 10**12))
    assert exact.low == pytest.approx(rogan_gladen(w_low, 0.9, 0.95), abs=1e-6)
    assert exact.high == pytest.approx(rogan_gladen(w_high, 0.9, 0.95), abs=1e-6)


def test_no_figures_no_correction():
    assert field_accuracy({}) is None and field_accuracy(None) is None
    assert field_accuracy({"threshold": 0.5}) is None
    assert field_accuracy({"field_cells": {"sensitivity": 0.9}}) is None
    assert field_accuracy({"field_cells": {"sensitivity": 0.9, "specificity": 0.95, "positives": 0, "negatives": 9}}) is None
    card = {"field_cells": {"sensitivity": 0.9, "specificity": 0.95, "positives": 30, "negatives": 2000,
                            "threshold": 0.7, "source": "cv"}}
    assert field_accuracy(card) == FieldAccuracy(0.9, 0.95, 30, 2000, 0.7, "cv")
    assert corrected_parasitemia(5, 100, FieldAccuracy(0.5, 0.5, 30, 2000)) is None  # no better than chance
    assert corrected_parasitemia(0, 0, LAB) is None

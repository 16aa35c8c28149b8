"""Parasitemia corrected for the classifier's own mistakes, with an interval that owns them.

The raw parasitemia is the share of found cells the model calls Parasitized. At ~1% true
parasitemia the false calls on uninfected cells (1 - specificity) are of the same size as
the true ones, so the raw share can be several times the truth. Given the model's
sensitivity Se and specificity Sp on a lab's labelled field cells (the card's
``field_cells``, written by ``malaria-gui adapt`` from cross-validated predictions), the
Rogan-Gladen estimator undoes that on average:

    true = (observed + Sp - 1) / (Se + Sp - 1), clipped to [0, 1].

Se and Sp come from a few dozen infected and a few thousand uninfected cells, so they are
uncertain too, and the interval must say so. Method: the delta method, each side on its own:
the observed share's part is the Wilson interval of k in n carried through the estimator
(never zero-width at 0 of n, as a plain binomial variance would be), and Se's and Sp's parts
are added in quadrature with Var(Se) = Se(1-Se)/n_pos, Var(Sp) = Sp(1-Sp)/n_neg. Since
0 < Se + Sp - 1 <= 1, the interval is never narrower than the raw Wilson one (before clipping).
When the Parasitized calls are no more than the model's false calls would explain, the
estimate clips to 0 and the whole interval may too: read it as "the calls are what false
calls alone would give", not as proof that no cell is infected. Qt-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from malaria_gui.engine.fields import wilson_interval

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class FieldAccuracy:
    """The model's sensitivity and specificity on labelled field cells, and their counts."""

    sensitivity: float
    specificity: float
    positives: int
    negatives: int
    threshold: float | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class CorrectedParasitemia:
    """Fractions in [0, 1]: the corrected estimate and its 95% interval; ``observed`` is k/n."""

    estimate: float
    low: float
    high: float
    observed: float
    parasitized: int
    cells: int


def rogan_gladen(observed: float, sensitivity: float, specificity: float) -> float:
    """(observed + Sp - 1) / (Se + Sp - 1), unclipped; ValueError when Se + Sp <= 1 (no
    better than chance: nothing can be corrected)."""
    j = sensitivity + specificity - 1.0
    if j <= 0:
        raise ValueError(f"sensitivity {sensitivity} + specificity {specificity} <= 1: the model is no better than chance")
    return (observed + specificity - 1.0) / j


def corrected_parasitemia(parasitized: int, cells: int, accuracy: FieldAccuracy,
                          z: float = Z95) -> CorrectedParasitemia | None:
    """The Rogan-Gladen parasitemia of ``parasitized`` called cells in ``cells`` and its
    interval (delta method, see the module's docstring); None without cells or when the
    model's Se + Sp <= 1."""
    if cells <= 0 or not 0 <= parasitized <= cells:
        return None
    se, sp = float(accuracy.sensitivity), float(accuracy.specificity)
    j = se + sp - 1.0
    if j <= 0 or accuracy.positives <= 0 or accuracy.negatives <= 0:
        return None
    observed = parasitized / cells
    estimate = rogan_gladen(observed, se, sp)
    w_low, w_high = wilson_interval(parasitized, cells, z)
    # d(estimate)/dSe = -estimate / J, d(estimate)/dSp = (1 - estimate) / J.
    var_accuracy = (estimate ** 2 * se * (1 - se) / accuracy.positives
                    + (1 - estimate) ** 2 * sp * (1 - sp) / accuracy.negatives) / j ** 2
    down = math.hypot(estimate - rogan_gladen(w_low, se, sp), z * math.sqrt(var_accuracy))
    up = math.hypot(rogan_gladen(w_high, se, sp) - estimate, z * math.sqrt(var_accuracy))

    def clip(v: float) -> float:
        return min(1.0, max(0.0, v))

    return CorrectedParasitemia(clip(estimate), clip(estimate - down), clip(estimate + up), observed,
                                int(parasitized), int(cells))


def field_accuracy(card: Mapping | None) -> FieldAccuracy | None:
    """The card's ``field_cells`` figures (``malaria-gui adapt`` writes them from labelled
    fields), or None when the card has none or they are unusable."""
    entry = card.get("field_cells") if isinstance(card, Mapping) else None
    if not isinstance(entry, Mapping):
        return None
    try:
        se, sp = float(entry["sensitivity"]), float(entry["specificity"])
        n_pos, n_neg = int(entry["positives"]), int(entry["negatives"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (0.0 <= se <= 1.0 and 0.0 <= sp <= 1.0 and n_pos > 0 and n_neg > 0):
        return None
    threshold = entry.get("threshold")
    return FieldAccuracy(se, sp, n_pos, n_neg,
                         float(threshold) if isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
                         else None, str(entry.get("source", "")))

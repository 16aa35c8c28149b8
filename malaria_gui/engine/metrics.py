"""Metrics for a labelled set at a chosen threshold, with Parasitized as the positive class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from malaria_gui.engine.labels import CLASS_NAMES, PARASITIZED


@dataclass(frozen=True)
class Metrics:
    """Confusion matrix rows are the true class, columns the predicted, in CLASS_NAMES order."""

    confusion: tuple[tuple[int, int], tuple[int, int]]
    n: int
    accuracy: float | None
    sensitivity: float | None  # recall of Parasitized
    specificity: float | None  # recall of Uninfected
    precision: float | None  # of the Parasitized calls
    f1: float | None
    roc_auc: float | None  # threshold-free; None unless both classes are present
    threshold: float

    @property
    def tp(self) -> int:
        return self.confusion[0][0]

    @property
    def fn(self) -> int:
        return self.confusion[0][1]

    @property
    def fp(self) -> int:
        return self.confusion[1][0]

    @property
    def tn(self) -> int:
        return self.confusion[1][1]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["confusion"] = [list(row) for row in self.confusion]
        d["class_order"] = list(CLASS_NAMES)
        return d


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def compute_metrics(
    truth: Sequence[str], p_parasitized: Sequence[float], threshold: float = 0.5, *, auc: bool = True
) -> Metrics:
    """Metrics of the scored, labelled files; ``truth`` holds class names from labels.py.

    ``auc=False`` leaves ``roc_auc`` None: the window skips it while scoring (it costs
    ~100x the counts and does not depend on the threshold) and computes it once after."""
    y_true = np.asarray(truth) == PARASITIZED
    p = np.asarray(p_parasitized, dtype=np.float64)
    if len(y_true) != len(p):
        raise ValueError("truth and probabilities differ in length")
    y_pred = p >= threshold
    # The 2x2 counts directly: the window recomputes them on every threshold move, and this
    # is ~150x faster than sklearn.metrics.confusion_matrix (the tests compare the two).
    tp, fn, fp, tn = (int(c) for c in np.bincount(2 * ~y_true + ~y_pred, minlength=4))
    sensitivity = _ratio(tp, tp + fn)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    roc_auc = None
    if auc and 0 < y_true.sum() < len(y_true):
        # scikit-learn takes two seconds to import: only when first needed, so the window
        # can appear at once (the GUI's worker imports it in the background).
        from sklearn.metrics import roc_auc_score

        roc_auc = float(roc_auc_score(y_true, p))
    return Metrics(
        confusion=((tp, fn), (fp, tn)),
        n=len(p),
        accuracy=_ratio(tp + tn, len(p)),
        sensitivity=sensitivity,
        specificity=_ratio(tn, tn + fp),
        precision=precision,
        f1=f1,
        roc_auc=roc_auc,
        threshold=float(threshold),
    )


def metrics_for_results(results, threshold: float) -> Metrics | None:
    """Metrics over the results that were scored and have a true label, or None if none do."""
    pairs = [(r.truth, r.p_parasitized) for r in results if r.truth is not None and r.p_parasitized is not None]
    if not pairs:
        return None
    truth, probs = zip(*pairs)
    return compute_metrics(truth, probs, threshold)


def format_metrics(m: Metrics) -> str:
    """A plain-text confusion matrix and metric list for terminals and reports."""

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    width = max(len(c) for c in CLASS_NAMES) + 2
    lines = [
        f"Confusion matrix (rows: true class, columns: predicted; threshold {m.threshold!r}, {m.n} cells)",
        " " * (width + 7) + "".join(f"{c:>{width}}" for c in CLASS_NAMES),
    ]
    for name, row in zip(CLASS_NAMES, m.confusion):
        lines.append(f"  true {name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines += [
        f"  accuracy     {pct(m.accuracy)}",
        f"  sensitivity  {pct(m.sensitivity)}  (Parasitized recall)",
        f"  specificity  {pct(m.specificity)}  (Uninfected recall)",
        f"  precision    {pct(m.precision)}",
        f"  F1           {pct(m.f1)}",
        "  ROC AUC      " + ("n/a (needs both classes)" if m.roc_auc is None else f"{m.roc_auc:.4f}"),
    ]
    return "\n".join(lines)

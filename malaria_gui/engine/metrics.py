"""Metrics for a labelled set at a chosen threshold, with Parasitized as the positive class.

Also the shared vocabulary of results: counts per class (:func:`count_classes`) and the
metric table (:data:`METRICS`: name, label, format) that the CLI, the HTML report, the
window's matrix panel and the model card panel all print from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from malaria_gui.engine.labels import CLASS_NAMES, DEFAULT_THRESHOLD, PARASITIZED, UNINFECTED


@dataclass(frozen=True)
class MetricSpec:
    """One metric as every surface shows it: ``name`` is the Metrics field and card key."""

    name: str
    label: str
    detail: str = ""  # what it means, where there is room (CLI, report)
    percent: bool = True  # a share shown as a percentage, else a score with 4 decimals

    def format(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        return f"{100 * value:.1f}%" if self.percent else f"{value:.4f}"


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("accuracy", "Accuracy"),
    MetricSpec("sensitivity", "Sensitivity", "Parasitized recall"),
    MetricSpec("specificity", "Specificity", "Uninfected recall"),
    MetricSpec("precision", "Precision"),
    MetricSpec("f1", "F1"),
    MetricSpec("roc_auc", "ROC AUC", percent=False),  # threshold-free; None unless both classes
)
METRIC_BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}


@dataclass(frozen=True)
class ClassCounts:
    """How many files were called what at one threshold; ``failed`` could not be read."""

    total: int
    parasitized: int
    uninfected: int
    failed: int

    @property
    def scored(self) -> int:
        return self.parasitized + self.uninfected

    @property
    def parasitized_share(self) -> float | None:
        """Parasitized among the scored cells (0..1), None when none was scored."""
        return self.parasitized / self.scored if self.scored else None

    def of(self, class_name: str) -> int:
        return {PARASITIZED: self.parasitized, UNINFECTED: self.uninfected}[class_name]


def count_classes(p_parasitized: Iterable[float | None] | np.ndarray, threshold: float) -> ClassCounts:
    """Counts per class of P(Parasitized) values; None or NaN is a file that was not scored."""
    p = np.asarray([np.nan if x is None else x for x in p_parasitized] if not isinstance(p_parasitized, np.ndarray)
                   else p_parasitized, dtype=np.float64)
    scored = p[~np.isnan(p)]
    parasitized = int((scored >= threshold).sum())
    return ClassCounts(total=len(p), parasitized=parasitized, uninfected=int(scored.size) - parasitized,
                       failed=int(len(p) - scored.size))


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
    truth: Sequence[str], p_parasitized: Sequence[float], threshold: float = DEFAULT_THRESHOLD, *, auc: bool = True
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
        roc_auc = _roc_auc(y_true, p)
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


def _roc_auc(y_true: np.ndarray, p: np.ndarray) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic (tied scores count half),
    which is what sklearn.metrics.roc_auc_score computes (the tests compare the two), without
    importing scikit-learn: 1-2 s of a labelled ``classify`` run."""
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # the average 1-based rank of each score
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def metrics_for_results(results, threshold: float) -> Metrics | None:
    """Metrics over the results that were scored and have a true label, or None if none do."""
    pairs = [(r.truth, r.p_parasitized) for r in results if r.truth is not None and r.p_parasitized is not None]
    if not pairs:
        return None
    truth, probs = zip(*pairs)
    return compute_metrics(truth, probs, threshold)


def format_metrics(m: Metrics) -> str:
    """A plain-text confusion matrix and metric list for terminals and reports."""
    width = max(len(c) for c in CLASS_NAMES) + 2
    lines = [
        f"Confusion matrix (rows: true class, columns: predicted; threshold {m.threshold!r}, {m.n} cells)",
        " " * (width + 7) + "".join(f"{c:>{width}}" for c in CLASS_NAMES),
    ]
    for name, row in zip(CLASS_NAMES, m.confusion):
        lines.append(f"  true {name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    for spec in METRICS:
        value = getattr(m, spec.name)
        text = spec.format(value)
        if spec.name == "roc_auc" and value is None:
            text += " (needs both classes)"
        elif spec.detail:
            text += f"  ({spec.detail})"
        lines.append(f"  {spec.label:<13}{text}")
    return "\n".join(lines)

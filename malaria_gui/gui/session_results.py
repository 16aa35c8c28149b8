"""The rows on screen: truth from folder names, filter and order, counts and metrics.

A part of :class:`~malaria_gui.gui.session.Session` (a mixin; the signals are the session's).
The rows themselves are :class:`~malaria_gui.gui.results_model.ResultsModel`; the reviewer's
decisions on them are ``session_review``.
"""

from __future__ import annotations

import dataclasses

from malaria_gui.engine.metrics import ClassCounts, Metrics
from malaria_gui.gui.results_model import ResultsFilter, ResultsModel


class ResultsPart:
    """The results model, its filtered view, and the figures derived from them."""

    def _init_results(self) -> None:
        self.results = ResultsModel(self)
        self.proxy = ResultsFilter(self)  # the table and the gallery show the same filtered rows
        self.proxy.setDynamicSortFilter(False)
        self.proxy.setSourceModel(self.results)
        self.metrics: Metrics | None = None  # as last sent with metrics_changed
        self._auc_cache: tuple[tuple[int, int] | None, float | None] = (None, None)
        self.results.set_use_truth(self.settings.use_truth())

    @property
    def use_truth(self) -> bool:
        return self.results.use_truth

    def set_use_truth(self, on: bool) -> None:
        """Take true labels from folder names or not (remembered); rows are re-derived from
        what each file's scan found, and the matrix disappears while it is off."""
        on = bool(on)
        self.settings.set_use_truth(on)
        if on == self.results.use_truth:
            return
        self.results.set_use_truth(on)
        self.proxy.refilter()
        self.truth_changed.emit(on)
        self.rows_changed()

    def truth_text(self) -> str:
        """Where the true labels came from, in the CLI's words."""
        from malaria_gui.engine.discovery import truth_text

        if not self.use_truth:
            return "true labels off (View > Use folder names as true labels)"
        return truth_text(self.results.truth_sources())

    def set_filter(self, name: str) -> None:
        self.proxy.set_filter(name)
        self.filter_changed.emit(name)

    def filter_cell(self, truth: str, predicted: str) -> None:
        """Show only the rows of one confusion-matrix cell."""
        self.proxy.set_cell(truth, predicted)
        self.filter_changed.emit("cell")

    def sort_by(self, key: str, descending: bool = False) -> None:
        self.results.sort_by(key, descending)
        self.sort_changed.emit(key, descending)

    def _resort(self) -> None:
        self.results.sort_by(*self.results.sort_key())

    def counts(self) -> ClassCounts:
        return self.results.counts()

    def _emit_counts(self) -> None:
        self.counts_changed.emit(self.results.counts())

    def rows_changed(self) -> None:
        """Call after rows' data changed in place (e.g. a corrected truth): counts and
        metrics are recomputed, ROC AUC included."""
        self._emit_counts()
        self.refresh_metrics()

    def current_metrics(self, auc: bool = True) -> Metrics | None:
        """Metrics of the labelled, scored rows. ROC AUC does not depend on the threshold:
        it is computed once per set of rows and reused while the threshold moves."""
        from malaria_gui.engine.metrics import compute_metrics

        p = self.results.probabilities()
        # Only a labelled set: reviewed field cells and reviewed unlabelled files are calls a
        # person checked, not a random sample (see ResultsModel.in_matrix).
        pairs = [(t, float(x)) for t, x in zip(self.results.matrix_truths(), p.tolist()) if t is not None and x == x]
        if not pairs:
            return None
        truth, probs = zip(*pairs)
        key = (self.results.revision, len(probs))
        if not auc or self._auc_cache[0] != key:
            metrics = compute_metrics(truth, probs, self.threshold, auc=auc)
            if auc:
                self._auc_cache = (key, metrics.roc_auc)
            return metrics
        return dataclasses.replace(compute_metrics(truth, probs, self.threshold, auc=False),
                                   roc_auc=self._auc_cache[1])

    def refresh_metrics(self) -> None:
        """While scoring, counts update live and ROC AUC waits for the end of the run."""
        self.metrics = self.current_metrics(auc=not self.busy)
        self.metrics_changed.emit(self.metrics, self.busy)

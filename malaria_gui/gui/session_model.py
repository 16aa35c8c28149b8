"""The model in use and the threshold: loading, the card's threshold, a threshold moved or pinned.

A part of :class:`~malaria_gui.gui.session.Session` (a mixin; the signals are the session's).
Moving the threshold relabels every row without running the model again.
"""

from __future__ import annotations

from pathlib import Path

from malaria_gui.engine.labels import DEFAULT_THRESHOLD
from malaria_gui.gui.scoring_process import ModelInfo


class ModelPart:
    """The loaded model's info (or why it failed) and the threshold rules."""

    def _init_model(self) -> None:
        self.model_info: ModelInfo | None = None
        self.model_error: str | None = None
        self._field_rows = self._plain_rows = 0  # rows of field cells and of files of their own (card_threshold)

    def load_model(self, path: Path | None) -> None:
        """Load another model; rows already scored keep their probabilities."""
        self.model_info = None
        self.model_error = None
        if self.jobs is not None:
            self.jobs.load_model(path)
        self.model_loading.emit(str(path) if path is not None else "")

    def on_model_loading(self, path: str) -> None:
        self.model_loading.emit(path)

    def on_model_ready(self, info: ModelInfo) -> None:
        self.model_info = info
        self.model_error = None
        saved = self.settings.threshold_for(info.key)
        self._apply_threshold(saved if saved is not None else self.card_threshold)
        self.model_changed.emit(info)

    def on_model_failed(self, message: str) -> None:
        self.model_info = None
        self.model_error = message
        self.model_failed.emit(message)

    @property
    def threshold(self) -> float:
        return self.results.threshold

    @property
    def card_threshold(self) -> float:
        """The model card's threshold, or the default. While every row is a cell of a whole
        field it is the card's field threshold, where the card has one: fields are counted at
        the cut-off chosen for counting (rare false calls at a field's real prevalence), single
        cells at the one chosen on validation patients."""
        if self.model_info is None:
            return DEFAULT_THRESHOLD
        if self._field_rows and not self._plain_rows:
            value = (self.model_info.card or {}).get("field_threshold")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
                return float(value)
        return self.model_info.threshold

    def _follow_card_threshold(self, before: float) -> None:
        """Move to the card's threshold when what is on screen changed which one applies, unless
        the user moved or pinned the threshold (then it is theirs)."""
        after = self.card_threshold
        if after != before and self.threshold == before and self.pinned_threshold is None:
            self._apply_threshold(after)

    @property
    def pinned_threshold(self) -> float | None:
        """The threshold kept for this model ("Keep"), which later windows open at; else None.

        Pinned means only that: a threshold merely moved lasts for this session, and the next
        window opens at the card's again.
        """
        return None if self.model_info is None else self.settings.threshold_for(self.model_info.key)

    @property
    def threshold_pinned(self) -> bool:
        """The threshold in use is the one kept for this model."""
        return self.pinned_threshold is not None and self.pinned_threshold == self.threshold

    @property
    def threshold_is_custom(self) -> bool:
        """The threshold in use is not the model card's (moved, or pinned earlier)."""
        return self.threshold != self.card_threshold

    def set_threshold(self, value: float) -> None:
        """The user's threshold for this session: relabels every row (the model is not run
        again). It is not remembered unless pinned (:meth:`pin_threshold`)."""
        value = min(1.0, max(0.0, float(value)))
        self._apply_threshold(value)

    def pin_threshold(self) -> None:
        """Keep the current threshold for this model: later windows open at it."""
        if self.model_info is None:
            return
        self.settings.set_threshold_for(self.model_info.key, self.threshold)
        self.threshold_changed.emit(self.threshold)

    def reset_threshold(self) -> None:
        """Back to the model card's threshold, forgetting a pinned one."""
        if self.model_info is not None:
            self.settings.clear_threshold_for(self.model_info.key)
        self._apply_threshold(self.card_threshold)

    def _apply_threshold(self, value: float) -> None:
        if value == self.results.threshold:
            self.threshold_changed.emit(value)  # widgets may show another value than this
            return
        self.results.set_threshold(value)
        if self.proxy.depends_on_threshold():
            self.proxy.refilter()
        self.threshold_changed.emit(value)
        self._emit_counts()
        if not self._metrics_timer.isActive():
            self._metrics_timer.start(60)

"""Why this call: where the model looked for a row, asked of the scoring process and kept.

A part of :class:`~malaria_gui.gui.session.Session` (a mixin; the signals are the session's).
The preview and the review queue ask :meth:`ExplainPart.explain` for the row they show; the
overlay (engine/explain.py, made where the model lives) comes back as ``explanation_ready``
with the row's key. One request is with the scoring process at a time and only the latest
wanted rows wait behind it, so holding a key down in the queue never piles up work; the last
answers are kept, so toggling the overlay back and forth or going back a cell costs nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from malaria_gui.gui.scoring_process import Explained, ExplainFailed

EXPLAIN_CACHE = 64  # answers kept (~25 KB each)


class ExplainPart:
    """Explanations by row key: asked one at a time, kept, forgotten with the rows or the model."""

    def _init_explain(self) -> None:
        self._explanations: OrderedDict[str, Explained | ExplainFailed] = OrderedDict()
        self._explain_sent: str | None = None  # the key the scoring process is explaining now
        self._explain_void: str | None = None  # that one, when it was asked before a forget
        self._explain_wanted: list[tuple[str, str, tuple | None]] = []  # to send next, most wanted first
        self.cleared.connect(self.forget_explanations)
        self.model_changed.connect(lambda _info: self.forget_explanations())

    def explanation(self, row: int) -> Explained | ExplainFailed | None:
        """What is known of the row's explanation now (None: not asked, or on its way)."""
        answer = self._explanations.get(self.results.key(row))
        return answer if answer is not None else self._cannot_explain(row)

    def explain(self, row: int, prefetch: Sequence[int] = (), retry: bool = False) -> Explained | ExplainFailed | None:
        """The row's explanation when known; else it is asked for (``explanation_ready(key)``
        says when it came), then those of ``prefetch`` (the next cells). What was wanted
        before and not yet sent is dropped: only what is on screen matters. ``retry`` asks
        again for a row whose explanation failed (the file may be back)."""
        wanted = []
        for r in (row, *prefetch):
            if r < 0 or r >= self.results.rowCount() or self._cannot_explain(r) is not None:
                continue
            key = self.results.key(r)
            known = self._explanations.get(key)
            if isinstance(known, ExplainFailed) and retry and r == row:
                del self._explanations[key]
                known = None
            if known is None and (key != self._explain_sent or key == self._explain_void):
                box = self.results.box(r) if self.results.cell(r) else None
                wanted.append((key, self.results.path(r), box))
        self._explain_wanted = wanted
        self._send_next_explanation()
        return self.explanation(row)

    def _cannot_explain(self, row: int) -> ExplainFailed | None:
        """Why nothing can be asked for this row (it has no cell the model scored), or None."""
        results = self.results
        key = results.key(row)
        if results.cell(row) == 0:
            return ExplainFailed(key, "this field could not be counted: no cell to explain")
        p = results.probabilities()[row]
        if results.error(row) is not None or p != p:
            return ExplainFailed(key, "not scored: nothing to explain")
        if self.jobs is None or not hasattr(self.jobs, "explain"):
            return ExplainFailed(key, "no scoring process to ask")
        if self.model_info is None:
            return ExplainFailed(key, "no model is loaded")
        return None

    def _send_next_explanation(self) -> None:
        if self._explain_sent is not None:
            return
        while self._explain_wanted:
            key, path, box = self._explain_wanted.pop(0)
            if key in self._explanations:
                continue
            self._explain_sent = key
            self.jobs.explain(key, path, box)
            return

    def on_explained(self, answer: Explained | ExplainFailed) -> None:
        """An answer of the scoring process (the worker's ``explained``)."""
        if answer.key == self._explain_sent:
            void = self._explain_void == answer.key
            self._explain_sent = self._explain_void = None
            if void:  # asked of the rows (or model) forgotten since: not theirs to keep
                self._send_next_explanation()
                return
        self._explanations[answer.key] = answer
        self._explanations.move_to_end(answer.key)
        while len(self._explanations) > EXPLAIN_CACHE:
            self._explanations.popitem(last=False)
        self.explanation_ready.emit(answer.key)
        self._send_next_explanation()

    def forget_explanations(self) -> None:
        """The rows or the model changed: what was explained no longer holds."""
        self._explanations.clear()
        self._explain_wanted = []
        self._explain_void = self._explain_sent

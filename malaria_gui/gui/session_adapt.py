"""Adapting the model to the reviewed rows, and rescoring them with another model.

A part of :class:`~malaria_gui.gui.session.Session` (a mixin; the signals are the session's).
Only labels train: a folder's or a reviewer's, never an unreviewed prediction.
"""

from __future__ import annotations

from pathlib import Path

from malaria_gui.engine.labels import CLASS_NAMES


class AdaptPart:
    """What adaptation trains on, and the jobs that run it in the scoring process."""

    def labelled_items(self) -> list[tuple[str, str]]:
        """(path, truth) of every readable file with a true label (folder's or reviewer's).
        Only labels: an unreviewed cell's prediction never trains (cells of whole fields go as
        :meth:`field_labels`)."""
        m = self.results
        return [(m.path(r), t) for r, t in enumerate(m.truths())
                if t in CLASS_NAMES and m.error(r) is None and m.cell(r) is None]

    def start_adapt(self, out_path: Path, name: str, *, folds: int = 5, seed: int = 0,
                    epochs: int | None = None) -> None:
        """Adapt the model in use to the labelled rows, in the scoring process; the answer comes
        as ``adapt_done`` or ``adapt_failed``, and :meth:`cancel_adapt` stops it."""
        from malaria_gui.gui.scoring_process import Adapt

        base = self.model_info.path if self.model_info is not None else None
        job = Adapt(tuple(self.labelled_items()), base, str(out_path), name, folds, seed, epochs,
                    field_labels=tuple(self.field_labels()))
        if self.jobs is not None:
            self.jobs.adapt(job)

    def cancel_adapt(self) -> None:
        if self.jobs is not None:
            self.jobs.cancel()

    def rescore(self, model_path: Path | None) -> None:
        """Load another model and score what was added again; the corrections are kept."""
        inputs = list(self.inputs)
        self.clear(keep_corrections=True)
        self.load_model(model_path)
        self.add_paths(inputs)

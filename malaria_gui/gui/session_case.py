"""The case open in the window: a slide of the case store that rows and decisions are written to.

A part of :class:`~malaria_gui.gui.session.Session` (a mixin; the signals are the session's).
While :attr:`case` is set, every chunk the worker sends is written as it arrives
(``session_run.on_chunk``) and every decision right after it is made
(``session_review._on_corrections_changed``), by a
:class:`~malaria_gui.gui.case_recorder.CaseRecorder`. :meth:`open_case` shows a stored slide
again without scoring it; further decisions go on being appended to it. The store keeps no
pixels: the rows come back without thumbnails, and the scoring process makes them from the
files still there (:meth:`on_thumbnails` takes them in as they come; a file gone is said so).
"""

from __future__ import annotations

import sqlite3

from malaria_gui.engine.cases import CaseError, CaseStore, SlideCase
from malaria_gui.gui.case_recorder import CaseRecorder, rows_from_case, thumbnail_job
from malaria_gui.gui.scoring_process import ThumbnailsReady


class CasePart:
    """Start, reopen and close the window's case; a failed write is said, never raised."""

    def _init_case(self) -> None:
        self.case: CaseRecorder | None = None
        self.unstored_decisions = False  # a decision made with no case open, or whose write failed

    def start_case(self, store: CaseStore, slide_id: str, reference: str = "", reviewer: str = "", *,
                   append: bool = False) -> CaseRecorder:
        """Record from now on into slide ``slide_id`` (new, or ``append`` to an existing one).
        Raises CaseError (for the user) when the id is empty or taken without ``append``."""
        self.case = CaseRecorder.start(store, slide_id, reference, reviewer, append=append)
        self.case_changed.emit()
        return self.case

    def open_case(self, store: CaseStore, slide_id: str, reviewer: str = "") -> SlideCase:
        """Forget what is on screen and show a stored slide instead: its rows with their P and
        boxes and the reviewer's decisions, nothing scored again. Raises CaseError."""
        stored = store.load_slide(slide_id)
        rows, decisions, ids = rows_from_case(stored)
        self.clear()
        self.inputs = list(dict.fromkeys(im.path for im in stored.images))  # rescore scores these again
        self.white_cells.update({im.path: im.white_cells for im in stored.images if im.kind == "field"})
        self.on_chunk(self.generation, rows)  # no case yet: nothing is written back
        thresholds = {im.threshold for im in stored.images if im.threshold is not None}
        if len(thresholds) == 1:  # the calls as they were made and reviewed
            self.set_threshold(thresholds.pop())
        if decisions:
            self.results.corrections.update(decisions)
            self.results.apply_corrections(set(decisions))
            self._on_corrections_changed()
        self.case = CaseRecorder(store, stored.slide_id, stored.reference, reviewer.strip(),
                                 store.open_slide(stored.slide_id, append=True), ids)
        self.case_changed.emit()
        self.message.emit(f"Opened slide {stored.slide_id}: {len(stored.images)} images, {len(stored.cells)} cells, "
                          f"{len(decisions)} reviewed (kept, not scored again).", 10_000)
        make_thumbnails = getattr(self.jobs, "make_thumbnails", None)
        if make_thumbnails is not None:  # the scoring process decodes the files; the rows are shown already
            make_thumbnails(thumbnail_job(stored, self.generation))
        return stored

    def on_thumbnails(self, generation: int, answer: ThumbnailsReady) -> None:
        """A chunk of a reopened case's thumbnails: into their rows; files gone marked so."""
        if generation != self.generation:
            return  # asked for before a Clear
        self.results.set_thumbnails(answer.thumbs)
        if answer.missing:
            self.results.set_missing(dict(answer.missing))
        if answer.done:
            gone = self.results.missing_count()
            if gone:
                self.message.emit(f"{gone} file{'s' if gone != 1 else ''} of this slide "
                                  f"{'are' if gone != 1 else 'is'} missing or unreadable now: "
                                  "their stored results are shown, without pictures.", 15_000)
            self.thumbnails_done.emit(gone)

    def close_case(self) -> None:
        """Stop recording (what was written stays in the store)."""
        if self.case is not None:
            self.case = None
            self.case_changed.emit()

    def _record_rows(self, rows: list) -> None:
        from malaria_gui.engine.export import model_label

        info = self.model_info
        try:
            keys = self.case.record_rows(rows, model_label(info.name, info.version) if info else "", self.threshold,
                                         self.white_cells)
            # Scored again (rescore): the store replaced those cells and their decisions; the
            # reviewer's labels the session kept are recorded on the new cells.
            kept = {k: self.corrections[k] for k in keys if k in self.corrections} if self.corrections else {}
            if kept:
                self.case.record_decisions(kept)
        except (CaseError, sqlite3.Error, OSError) as exc:
            self._case_failed(exc)

    def _record_decisions(self, decided: dict[str, str | None]) -> None:
        try:
            self.case.record_decisions(decided)
        except (CaseError, sqlite3.Error, OSError) as exc:
            self._case_failed(exc)

    def _case_decisions(self) -> dict[tuple[str, int | None], tuple[str, str]]:
        """Who decided each reviewed cell of the open case, and when, as the report lists them."""
        try:
            stored = self.case.store.load_slide(self.case.slide_id)
        except (CaseError, sqlite3.Error, OSError) as exc:
            self._case_failed(exc)
            return {}
        kinds = {im.path: im.kind for im in stored.images}
        return {(c.image, None if kinds.get(c.image) == "cell" else c.number): (c.reviewer, c.decided)
                for c in stored.cells if c.truth}

    def _case_failed(self, exc: Exception) -> None:
        self.unstored_decisions = True
        self.message.emit(f"Not written to the case store ({self.case.store.path}): {exc}", 30_000)

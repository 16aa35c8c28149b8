"""Parasitemia of the whole smear fields in the session: per slide (a folder of fields,
pooled) and per field, each with its 95% Wilson interval, at the current threshold.

Computed from the session's rows (``results.field_results()`` and the engine's
``slide_summaries``), so it follows the threshold, and hidden while no field was scored.
Cells a reviewer marked "not a red cell" are left out of every count, and said so; the cells
a reviewer checked are listed as reviewed calls (not a random sample: no accuracy from them).
Beside the model's figure stands the confirmed one and the review queue's progress
(``engine/confirmed.py``), updated after each decision.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel

from malaria_gui.engine.confirmed import NOT_REVIEWED, PARTLY_REVIEWED, confirmed_text, figures_for_paths
from malaria_gui.engine.fields import slide_summaries
from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED
from malaria_gui.gui.session import Session
from malaria_gui.gui.summary import reviewed_text

MAX_FIELD_LINES = 12  # the report lists every field


def _share(share: tuple[float, float, float] | None) -> str:
    return "" if share is None else f"{share[0]:.2f}% (95% CI {share[1]:.2f}-{share[2]:.2f}%)"


def _confirmed_short(figures) -> str:
    """A field's confirmed figure in a few words: "confirmed 1.22%, 3 of 3 reviewed"."""
    if figures is None:
        return ""
    share = figures.confirmed_parasitemia()
    if figures.state == NOT_REVIEWED or share is None:
        return f"; not reviewed ({figures.progress_text()})"
    bound = "at least " if figures.state == PARTLY_REVIEWED else ""
    return f"; confirmed {bound}{share[0]:.2f}%, {figures.progress_text()}"


REVIEW_PAUSE_MS = 250
IMMEDIATE_ROWS = 2000  # a refresh of up to this many cells costs a few ms: done at once


class FieldSummary(QLabel):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("", parent)
        self._session = session
        self.setObjectName("field_summary")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()
        # Refreshed after a pause in the review, not on every key (each decision also moves the
        # counts): at 15,000 cells one refresh costs 50-80 ms, more than the review queue's whole
        # budget for showing the next cell (bench/review_queue.py). While rows arrive, at most
        # once a pause.
        self._later = QTimer(self, singleShot=True, interval=REVIEW_PAUSE_MS)
        self._later.timeout.connect(self.refresh)
        session.counts_changed.connect(self._soon)  # rows added, threshold moved
        session.corrections_changed.connect(self._after_decision)
        session.cleared.connect(self.refresh)

    def _large(self) -> bool:
        return self._session.results.rowCount() > IMMEDIATE_ROWS

    def _soon(self, *_ignored) -> None:
        if not self._large():
            self.refresh()
        elif not self._later.isActive():
            self._later.start()

    def _after_decision(self, *_ignored) -> None:
        if self._large():
            self._later.start()  # restarted by every decision: refreshed once the review pauses
        else:
            self.refresh()

    def refresh(self, *_ignored) -> None:
        session = self._session
        fields = session.field_results() if session.results.rowCount() else []
        if not fields:
            self.setText("")
            self.hide()
            return
        threshold = session.threshold
        e = html.escape
        per_field, per_slide = figures_for_paths(*session.results.field_review_cells(), threshold)
        lines = ["<b>Parasitemia</b> (parasitized red cells per 100 found)"]
        for s in slide_summaries(fields, threshold):
            not_counted = f", {s.failed} not counted" if s.failed else ""
            white = f", {s.white_cells} white cell{'s' if s.white_cells != 1 else ''} counted apart" \
                if s.white_cells else ""
            lines.append(f"Slide <b>{e(s.slide)}</b>: {s.fields} field{'s' if s.fields != 1 else ''}"
                         f"{not_counted}, {s.cells} cells, {s.parasitized} parasitized, "
                         f"model <b>{_share(s.parasitemia())}</b>{white}")
            figures = per_slide.get(s.slide)
            if figures is not None:
                lines.append(f"&nbsp;&nbsp;Confirmed: <b>{e(confirmed_text(figures))}</b>")
        for f in fields[:MAX_FIELD_LINES]:
            name = e(Path(f.path).name)
            if f.ok:
                lines.append(f"&nbsp;&nbsp;{name}: {f.parasitized(threshold)}/{len(f.cells)}, "
                             f"{_share(f.parasitemia(threshold))}{e(_confirmed_short(per_field.get(str(f.path))))}")
            else:
                lines.append(f"&nbsp;&nbsp;{name}: <span style='color:{CLASS_COLOURS[PARASITIZED]}'>"
                             f"not counted: {e(f.error or '')}</span>")
        if len(fields) > MAX_FIELD_LINES:
            lines.append(f"&nbsp;&nbsp;and {len(fields) - MAX_FIELD_LINES} more fields (all in the report)")
        results = session.results
        left_out = results.not_a_cell_count()
        if left_out:
            lines.append(f"{left_out} cell{'s' if left_out != 1 else ''} marked not a red cell: not counted")
        reviewed = reviewed_text(results.reviewed_calls(fields=True))
        if reviewed:
            lines.append("<b>Reviewed field cells</b> (calls you checked, not a random sample): " + e(reviewed))
        self.setText("<br>".join(lines))
        self.show()

"""The summary beside the results: cells scored at the current threshold, how many of them
each class (with the parasitized share), how many files could not be read, wait for a model
or were not reached before a cancel, how many do not look like single cells, where the true
labels came from, and how many rows the current filter shows.

A reviewer's labels outside a labelled folder are calls a person checked, not a random
sample: they are counted here as such ("reviewed: 12 confirmed, 3 rejected of 37 called
Parasitized"), never as accuracy or specificity (the matrix is the labelled folders')."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED, UNINFECTED
from malaria_gui.gui.scoring_process import WAITING
from malaria_gui.gui.session import Session

ALERT = CLASS_COLOURS[PARASITIZED]  # files that could not be read should catch the eye


def reviewed_text(calls: dict[str, dict[str, int]]) -> str:
    """``ResultsModel.reviewed_calls`` in words, per class called ("" when none reviewed)."""
    parts = []
    for called in (PARASITIZED, UNINFECTED):
        got = calls.get(called, {})
        if not sum(got.values()):
            continue
        other = UNINFECTED if called == PARASITIZED else PARASITIZED
        bits = [f"{got.get(called, 0)} confirmed"]
        if got.get(other):
            bits.append(f"{got[other]} rejected ({other})" if called == PARASITIZED
                        else f"{got[other]} rejected (in fact {other})")
        if got.get(NOT_A_CELL):
            bits.append(f"{got[NOT_A_CELL]} not a red cell")
        parts.append(f"{', '.join(bits)} of {calls['_called'][called]} called {called}")
    return "; ".join(parts)


class SummaryLabel(QLabel):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("No cells scored yet.", parent)
        self._session = session
        self.setObjectName("summary")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        session.counts_changed.connect(self.refresh)
        session.filter_changed.connect(self.refresh)
        session.truth_changed.connect(self.refresh)

    def refresh(self, *_ignored) -> None:
        session = self._session
        c = session.counts()
        if not c.total:
            self.setText("No cells scored yet.")
            return
        share = "" if c.parasitized_share is None else f" ({100 * c.parasitized_share:.1f}%)"
        lines = [f"<b>{c.scored}</b> cells scored at threshold {session.threshold!r}",
                 f"<span style='color:{CLASS_COLOURS[PARASITIZED]}'><b>{c.parasitized}</b> parasitized{share}</span>, "
                 f"<span style='color:{CLASS_COLOURS[UNINFECTED]}'>{c.uninfected} uninfected</span>"]
        results = session.results
        waiting, not_scored = results.error_count(WAITING), results.error_count(NOT_SCORED)
        refused = results.refused_count()  # read, but no smear field: not "could not be read"
        failed = c.failed - waiting - not_scored - refused
        if failed:
            lines.append(f"<span style='color:{ALERT}'>{failed} could not be read</span> (Show: Errors)")
        if refused:
            lines.append(f"<span style='color:{ALERT}'>{refused} not a smear field</span> (the reason in Note; "
                         "Show: Errors)")
        if waiting:
            lines.append(f"{waiting} waiting for a model")
        if not_scored:
            lines.append(f"{not_scored} not scored (cancelled): add the folder again to score them")
        warned = results.warning_count()
        if warned:
            lines.append(f"<span style='color:{ALERT}'>{warned} image{'s do' if warned != 1 else ' does'} not look "
                         "like single cells</span> (Show: Not single cells)")
        left_out = results.not_a_cell_count()
        if left_out:
            lines.append(f"{left_out} marked not a red cell: not counted")
        lines.append(html.escape(session.truth_text()))
        reviewed = reviewed_text(results.reviewed_calls(fields=False))
        if reviewed:
            lines.append("Reviewed files (calls you checked, not a random sample): " + html.escape(reviewed))
        if results.has_fields() and any(results.reviewed_calls(fields=True).get(k) for k in (PARASITIZED, UNINFECTED)):
            lines.append("Reviewed field cells: see Parasitemia below (not in any matrix)")
        shown, total = session.proxy.rowCount(), results.rowCount()
        if shown != total:
            rows = "rows" if results.has_fields() else "files"
            lines.append(f"showing {shown} of {total} {rows}")
        self.setText("<br>".join(lines))

"""The summary beside the results: cells scored at the current threshold, how many of them
each class (with the parasitized share), how many files could not be read, and how many
rows the current filter shows."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from malaria_gui.engine.labels import CLASS_COLOURS, PARASITIZED, UNINFECTED
from malaria_gui.gui.session import Session

ALERT = CLASS_COLOURS[PARASITIZED]  # files that could not be read should catch the eye


class SummaryLabel(QLabel):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("No cells scored yet.", parent)
        self._session = session
        self.setObjectName("summary")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        session.counts_changed.connect(self.refresh)
        session.filter_changed.connect(self.refresh)

    def refresh(self, *_ignored) -> None:
        session = self._session
        c = session.counts()
        if not c.total:
            self.setText("No cells scored yet.")
            return
        share = "" if c.parasitized_share is None else f" ({100 * c.parasitized_share:.1f}%)"
        lines = [f"<b>{c.scored}</b> cells scored at threshold {session.threshold:.3f}",
                 f"<span style='color:{CLASS_COLOURS[PARASITIZED]}'><b>{c.parasitized}</b> parasitized{share}</span>, "
                 f"<span style='color:{CLASS_COLOURS[UNINFECTED]}'>{c.uninfected} uninfected</span>"]
        if c.failed:
            lines.append(f"<span style='color:{ALERT}'>{c.failed} could not be read</span> (Show: Errors)")
        shown = session.proxy.rowCount()
        if shown != c.total:
            lines.append(f"showing {shown} of {c.total} files")
        self.setText("<br>".join(lines))

"""A notice under the summary when the scored cells look unlike the model's training cells
(the scoring process checks a sample after each run: engine/ood.py). It blocks nothing: the
results stay, and the notice says what to do (check a labelled sample, or adapt the model)."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel

from malaria_gui.gui.session import Session


class OODNotice(QLabel):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("ood_notice")
        self.setWordWrap(True)
        self.setStyleSheet("background: #fdf2e0; color: #7a4b00; border: 1px solid #e0b36a; "
                           "border-radius: 4px; padding: 4px;")
        self.hide()
        session.ood_changed.connect(self.show_warning)

    def show_warning(self, message: str) -> None:
        if not message:
            self.hide()
            return
        text = html.escape(message[:1].upper() + message[1:])
        self.setText(f"<b>Unfamiliar cells.</b> {text} (Model &gt; Adapt model to these labels...)")
        self.show()

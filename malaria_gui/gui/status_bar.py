"""The status bar: the model's state (loading, ready, failed), the run's progress with its
rate and time left, a Cancel button while scoring, and passing messages (exports, crashes)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from malaria_gui.gui.scoring_process import ModelInfo
from malaria_gui.gui.session import Session


class StatusBar(QStatusBar):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        self.model_label = QLabel("Loading model...")
        self.model_label.setObjectName("model_status")
        self.addWidget(self.model_label, 1)
        self.rate_label = QLabel("")
        self.addPermanentWidget(self.rate_label)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setFormat("%v / %m")
        self.progress.hide()
        self.addPermanentWidget(self.progress)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop scoring (Esc); results so far are kept")
        self.cancel_button.clicked.connect(session.cancel)
        self.cancel_button.hide()
        self.addPermanentWidget(self.cancel_button)
        self._refused_before = 0  # refused fields in the session when the run started
        session.model_loading.connect(self._on_model_loading)
        session.model_changed.connect(self._on_model_changed)
        session.model_failed.connect(lambda _message: self.model_label.setText("No model loaded"))
        session.run_started.connect(self._on_run_started)
        session.scanning.connect(lambda found: self.rate_label.setText(f"Scanning... {found} images found"))
        session.progress.connect(self._on_progress)
        session.cancelling.connect(lambda: self.rate_label.setText("Cancelling..."))
        session.run_finished.connect(self._on_run_finished)
        session.message.connect(self.showMessage)
        # The last run's figures are about rows that are gone once the session is cleared (Clear,
        # a case opened): not left beside a reopened slide.
        session.cleared.connect(self.rate_label.clear)

    def _on_model_loading(self, path: str) -> None:
        self.model_label.setText(f"Loading model {Path(path).name}..." if path else "Loading model...")

    def _on_model_changed(self, info: ModelInfo) -> None:
        self.model_label.setText(f"Model {info.name} {info.version} ready")

    def _on_run_started(self) -> None:
        self._refused_before = self._session.results.refused_count()
        self.progress.setRange(0, 0)  # a busy indicator until the scan says how many
        self.progress.show()
        self.cancel_button.show()
        self.rate_label.setText("Scanning...")
        if self._session.model_info is None and self._session.model_error is None:
            self.model_label.setText("Loading model... your files are queued and will be scored once it is ready.")

    def _on_progress(self, done: int, total: int, elapsed: float) -> None:
        if not self._session.busy:  # rows put back from the case store: nothing is being scored
            return
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        if elapsed > 0 and done:
            rate = done / elapsed
            self.rate_label.setText(f"{rate:.0f} images/s, {duration(max(0, total - done) / rate)} left")

    def _on_run_finished(self, cancelled: bool) -> None:
        self.cancel_button.hide()
        self.progress.hide()
        s = self._session
        verb = "Cancelled" if cancelled else "Done"
        # Fields refused as no smear were read: said apart from the files and the fields counted.
        refused = max(0, s.results.refused_count() - self._refused_before)
        if s.run_field_cells or refused:  # the count is of rows: a field's cells are rows, the field is not one
            files = s.run_done - s.run_field_cells - refused
            fields = len(s.run_fields)
            parts = [f"{files} file{'s' * (files != 1)}"] if files else []
            if s.run_field_cells:
                parts.append(f"{s.run_field_cells} cells from {fields} field{'s' * (fields != 1)}")
            if refused:
                parts.append(f"{refused} not a smear field")
            what = f"({', '.join(parts)})"
        else:
            what = "files"
        self.rate_label.setText(f"{verb}: {s.run_done} of {s.run_total} {what} in {duration(s.elapsed)}")


def duration(seconds: float) -> str:
    """Seconds as people read them: 42 s, 3 min 05 s, 1 h 02 min."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"

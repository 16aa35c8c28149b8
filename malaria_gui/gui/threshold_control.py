"""The threshold control: a slider and a spin box showing the session's decision threshold.

A cell is Parasitized when P(Parasitized) >= the threshold. Moving either control sets the
session's threshold (which relabels every row without running the model again); the
session's ``threshold_changed`` keeps both controls in step, whoever changed it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QWidget

from malaria_gui.gui.session import Session

SLIDER_STEPS = 1000


class ThresholdControl(QWidget):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Threshold:"))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setMinimumWidth(160)
        self.slider.setToolTip("A cell is Parasitized when P(Parasitized) >= threshold")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.01)
        layout.addWidget(self.slider, 2)
        layout.addWidget(self.spin)
        self._show(session.threshold)
        self.slider.valueChanged.connect(lambda v: session.set_threshold(v / SLIDER_STEPS))
        self.spin.valueChanged.connect(session.set_threshold)
        session.threshold_changed.connect(self._show)

    def _show(self, value: float) -> None:
        for widget, shown in ((self.spin, value), (self.slider, round(value * SLIDER_STEPS))):
            widget.blockSignals(True)
            widget.setValue(shown)
            widget.blockSignals(False)

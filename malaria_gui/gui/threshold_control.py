"""The threshold control: a slider and a spin box showing the session's decision threshold.

A cell is Parasitized when P(Parasitized) >= the threshold. Moving either control sets the
session's threshold for this session (which relabels every row without running the model
again); the session's ``threshold_changed`` keeps both controls in step, whoever changed it.
A threshold other than the model card's is marked beside the slider ("custom - card: 0.676",
or "kept for this model" once pinned), with buttons to keep it for this model or to reset it.

Typing in the box applies the value when typing is done (Enter, Tab, leaving the box; the
arrows at once): "0.66" typed over the old value must not pass through 0 on its first key and
call every cell Parasitized. The marker and the buttons keep their room while hidden, so
nothing moves when they appear: a click aimed at the box never lands on Reset.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

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
        self.spin.setKeyboardTracking(False)  # valueChanged once typing is finished, not per key
        layout.addWidget(self.slider, 2)
        layout.addWidget(self.spin)
        self.marker = QLabel("")
        self.marker.setObjectName("threshold_marker")
        self.marker.setStyleSheet("color: #c0392b; font-weight: bold;")
        font = self.marker.font()
        font.setBold(True)
        metrics = QFontMetrics(font)
        self.marker.setMinimumWidth(8 + max(metrics.horizontalAdvance(f"{text} \N{EM DASH} card: 0.000")
                                            for text in ("custom", "kept for this model")))
        layout.addWidget(self.marker)
        self.keep_button = QPushButton("Keep for this model")
        self.keep_button.setObjectName("keep_threshold")
        self.keep_button.setToolTip("Keep this threshold for this model: the window opens at it next time")
        self.keep_button.clicked.connect(session.pin_threshold)
        layout.addWidget(self.keep_button)
        self.reset_button = QPushButton("Reset to card")
        self.reset_button.setObjectName("reset_threshold")
        self.reset_button.setToolTip("Reset to the model's threshold (from its card)")
        self.reset_button.clicked.connect(session.reset_threshold)
        layout.addWidget(self.reset_button)
        for widget in (self.marker, self.keep_button, self.reset_button):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)  # hidden, it keeps its room: nothing shifts
            widget.setSizePolicy(policy)
        self._show(session.threshold)
        self.slider.valueChanged.connect(lambda v: session.set_threshold(v / SLIDER_STEPS))
        self.spin.valueChanged.connect(session.set_threshold)
        session.threshold_changed.connect(self._show)
        session.model_changed.connect(lambda _info: self._show(session.threshold))

    def _show(self, value: float) -> None:
        for widget, shown in ((self.spin, value), (self.slider, round(value * SLIDER_STEPS))):
            widget.blockSignals(True)
            widget.setValue(shown)
            widget.blockSignals(False)
        self._show_marker()

    def _show_marker(self) -> None:
        """Say when the threshold is not the card's: a technician must see it at a glance."""
        session = self._session
        custom = session.threshold_is_custom
        pinned = session.threshold_pinned and custom
        self.marker.setText((("kept for this model" if pinned else "custom")
                             + f" \N{EM DASH} card: {session.card_threshold:.3f}") if custom else "")
        self.marker.setToolTip(f"The model card's threshold is {session.card_threshold!r}; "
                               f"this window uses {session.threshold!r}" if custom else "")
        self.marker.setVisible(custom)
        self.reset_button.setVisible(custom or session.pinned_threshold is not None)
        self.keep_button.setVisible(custom and not pinned and session.model_info is not None)

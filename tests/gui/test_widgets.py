"""Widgets on a bare session: each shows what the session says and acts only through it
(no window, no scoring process; rows are fed to the session's worker slots)."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QVBoxLayout, QWidget

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.filter_bar import FilterBar
from malaria_gui.gui.matrix_view import MatrixPanel
from malaria_gui.gui.model_panel import ModelBanner, card_html
from malaria_gui.gui.scoring_process import ModelInfo
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from malaria_gui.gui.status_bar import StatusBar
from malaria_gui.gui.summary import SummaryLabel
from malaria_gui.gui.threshold_control import ThresholdControl
from tests.gui.test_session import RecordingJobs, info, rows, run


def make_session() -> Session:
    session = Session(RecordingJobs(), Settings())
    session.on_model_ready(info())
    return session


def test_threshold_control_and_session_stay_in_step(qtbot):
    session = make_session()
    control = ThresholdControl(session)
    qtbot.addWidget(control)
    control.spin.setValue(0.25)
    assert session.threshold == 0.25 and control.slider.value() == 250
    control.slider.setValue(800)
    assert session.threshold == 0.8 and control.spin.value() == 0.8
    session.on_model_ready(info(threshold=0.6, name="another"))  # a new model's card threshold
    assert control.spin.value() == 0.6 and control.slider.value() == 600


def test_filter_bar_lists_a_clicked_matrix_cell_and_drops_it_again(qtbot):
    session = make_session()
    run(session, [rows()])
    bar = FilterBar(session)
    matrix = MatrixPanel(session)
    qtbot.addWidget(bar)
    qtbot.addWidget(matrix)
    matrix.cell_clicked.emit(UNINFECTED, PARASITIZED)
    assert bar.filter_box.currentText() == "True Uninfected, predicted Parasitized"
    assert session.proxy.rowCount() == 1
    bar.filter_box.setCurrentIndex(bar.filter_box.findData("parasitized"))
    assert session.proxy.rowCount() == 3
    assert bar.filter_box.findData("cell") == -1
    bar.sort_box.setCurrentIndex(bar.sort_box.findText("Most parasitized first"))
    assert session.results.sort_key() == ("p", True)


def test_summary_status_and_matrix_follow_a_run(qtbot):
    session = make_session()
    summary, status, matrix = SummaryLabel(session), StatusBar(session), MatrixPanel(session)
    panel = QWidget()  # shown as the window shows them: the matrix stays hidden until it has something
    layout = QVBoxLayout(panel)
    for widget in (summary, status, matrix):
        layout.addWidget(widget)
    qtbot.addWidget(panel)
    panel.show()
    assert summary.isVisible() and not matrix.isVisible()
    session.add_paths(["/slides"])
    session.on_batch_started(0, 6)
    session.on_chunk(0, rows()[:3])
    assert status.progress.maximum() == 6 and status.progress.value() == 3
    session.on_chunk(0, rows()[3:])
    session.on_idle(1)
    assert status.rate_label.text().startswith("Done: 6 of 6 files")
    assert "<b>6</b> cells scored at threshold 0.5<" in summary.text() and "(50.0%)" in summary.text()
    assert matrix.isVisible() and matrix.value_labels["accuracy"].text() == "66.7%"
    session.set_filter("uninfected")
    assert "showing 3 of 6 files" in summary.text()
    session.clear()
    assert summary.text() == "No cells scored yet." and not matrix.isVisible()


def test_banner_and_model_card_say_what_the_model_is(qtbot):
    session = Session(RecordingJobs(), Settings())
    banner = ModelBanner(session)
    qtbot.addWidget(banner)
    banner.show()
    session.on_model_failed("model file not found: /x.keras")
    assert banner.isVisible() and "not found" in banner.text()
    card = {"metrics": {"test_patients": {"accuracy": 0.964, "roc_auc": 0.99291, "n": 4441}}}
    session.on_model_ready(ModelInfo("m", "2", 0.676, card, "/m.keras", 64))
    assert not banner.isVisible()
    html = card_html(session.model_info)
    assert "<td>Accuracy</td><td>96.4%</td>" in html and "<td>ROC AUC</td><td>0.9929</td>" in html
    assert "0.676" in html and json.dumps(4441) in html

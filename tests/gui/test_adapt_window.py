"""Model > Adapt model to these labels... in the real window: the job runs in the scoring
process, the report is shown, the lab model joins the Model menu; refusals are messages."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from cells import synthetic_cell, write_rgb
from malaria_gui.gui.adapt_dialog import AdaptFlow, file_name_for
from malaria_gui.gui.lab_models import MODELS_DIR_ENV
from tests.gui.conftest import MODEL_TIMEOUT_MS, score_and_wait

ADAPT_TIMEOUT_MS = 180_000  # keras and scikit-learn imports in the scoring process, on a busy machine


@pytest.fixture
def quick_adapt(tmp_path, monkeypatch):
    folder = tmp_path / "lab-models"
    monkeypatch.setenv(MODELS_DIR_ENV, str(folder))
    monkeypatch.setattr(AdaptFlow, "folds", 2)
    monkeypatch.setattr(AdaptFlow, "epochs", 1)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("my lab/1", True))
    return folder


@pytest.fixture
def forty_each(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "lab"
    for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
        for i in range(40):
            write_rgb(root / label / f"slide{i % 4}_{i}.png", synthetic_cell(rng, parasitized, size=40))
    return root


def test_adapt_runs_in_the_scoring_process_reports_and_adds_the_model(qtbot, window, quick_adapt, forty_each):
    score_and_wait(qtbot, window, [forty_each])
    assert "Adapt model" in window.adapt.action.text() and window.adapt.action in window.model_menu.actions()
    stages = []
    window.session.adapt_progress.connect(lambda stage, _d, _t: stages.append(stage))
    with qtbot.waitSignal(window.adapt.finished, timeout=ADAPT_TIMEOUT_MS) as done:
        window.adapt.action.trigger()
        assert window.adapt.progress is not None and window.adapt.progress.isVisible()
    saved = done.args[0]
    assert saved == str(quick_adapt / "my_lab_1.keras") and (quick_adapt / "my_lab_1.card.json").is_file()
    assert any(s.startswith("cross-validation") for s in stages)
    report = window.adapt.report_dialog
    assert report.isVisible() and "pooled" in report.text.toPlainText() and "before" in report.text.toPlainText()
    window.model_menu.rebuild()
    action = window.model_menu.model_actions[saved]
    assert action.text().startswith("my lab/1")
    with qtbot.waitSignal(window.scoring_finished, timeout=ADAPT_TIMEOUT_MS):
        action.trigger()
    qtbot.waitUntil(lambda: window.session.model_info is not None, timeout=MODEL_TIMEOUT_MS)
    assert window.session.model_info.name == "my lab/1" and window.session.results.rowCount() == 80


def test_too_few_cells_is_the_engines_message(qtbot, window, quick_adapt, labelled_folder, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: warnings.append(text))
    score_and_wait(qtbot, window, [labelled_folder])
    with qtbot.waitSignal(window.adapt.finished, timeout=ADAPT_TIMEOUT_MS) as done:
        window.adapt.action.trigger()
    assert done.args[0] == "" and not window.adapt.running and window.adapt.action.isEnabled()
    assert warnings[-1].startswith("Too few cells") and "at least 20" in warnings[-1]
    assert not quick_adapt.exists() or not list(quick_adapt.iterdir())


def test_file_names_for_lab_models():
    assert file_name_for("my lab/1") == "my_lab_1"
    assert file_name_for("../..") == "lab-model"


def test_cells_unlike_the_models_show_a_notice_after_the_run(qtbot, make_window, tmp_path, tiny_model_path):
    """The check runs in the scoring process against the card's description (1,000 cells)."""
    import json
    import shutil

    from malaria_gui.engine import ood
    from malaria_gui.engine.preprocess import prepare
    from malaria_gui.training.augment import other_lab_shift

    rng = np.random.default_rng(0)
    described = tmp_path / "described.keras"
    shutil.copyfile(tiny_model_path, described)
    import keras

    batch = np.stack([prepare(synthetic_cell(rng, i % 2 == 0), 32) for i in range(1000)])
    card = {"name": "described", "version": "1", "threshold": 0.5,
            "ood": ood.describe(keras.saving.load_model(described), batch)}
    (tmp_path / "described.card.json").write_text(json.dumps(card))
    familiar, shifted = tmp_path / "familiar", tmp_path / "shifted"
    for i in range(30):
        write_rgb(familiar / f"c{i}.png", synthetic_cell(rng, i % 2 == 0))
        write_rgb(shifted / f"c{i}.png", other_lab_shift(synthetic_cell(rng, i % 2 == 0)))
    window = make_window(described)
    # The check runs once the run has ended ("Done" does not wait for it): wait for its verdict.
    with qtbot.waitSignal(window.worker.ood_checked, timeout=60_000):
        score_and_wait(qtbot, window, [familiar])
    assert not window.ood_notice.isVisible() and window.session.ood_warning == ""
    with qtbot.waitSignal(window.worker.ood_checked, timeout=60_000):
        score_and_wait(qtbot, window, [shifted])
    qtbot.waitUntil(window.ood_notice.isVisible)
    assert "look unlike the cells" in window.ood_notice.text()
    window.session.clear()
    assert not window.ood_notice.isVisible()

"""The Model menu in the real window: lab models listed from the (temporary) models folder,
picking one rescores what is on screen and is remembered, import refuses non-models."""

from __future__ import annotations

import json
import math

import pytest
from PySide6.QtWidgets import QMessageBox

from malaria_gui.gui.lab_models import MODELS_DIR_ENV, LabModelError, check_model_file, list_lab_models
from tests.gui.conftest import MODEL_TIMEOUT_MS, SCORE_TIMEOUT_MS, score_and_wait


@pytest.fixture
def models_folder(tmp_path, monkeypatch):
    folder = tmp_path / "lab-models"
    monkeypatch.setenv(MODELS_DIR_ENV, str(folder))
    return folder


def save_lab_model(folder, name="lab-test", seed=7):
    """Another untrained tiny network (other weights, so other probabilities) with a card."""
    import keras

    from malaria_gui.training.architectures import compact

    keras.utils.set_random_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.keras"
    compact(input_size=32, width=4).save(path)
    (folder / f"{name}.card.json").write_text(json.dumps({"name": name, "version": "2026.11.29", "threshold": 0.4}))
    return path


def probabilities(window) -> dict[str, float]:
    m = window.session.results
    return {m.path(r): float(m.probabilities()[r]) for r in range(m.rowCount())}


def test_choosing_a_lab_model_rescores_keeps_corrections_and_is_remembered(
        qtbot, make_window, models_folder, labelled_folder, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    lab = save_lab_model(models_folder)
    window = make_window()
    score_and_wait(qtbot, window, [labelled_folder])
    before = probabilities(window)
    window.session.set_truth([0], None)
    corrected = window.session.results.key(0)
    window.model_menu.rebuild()
    assert [a.text() for a in window.model_menu.model_actions.values()][1:] == ["lab-test 2026.11.29"]
    with qtbot.waitSignal(window.scoring_finished, timeout=SCORE_TIMEOUT_MS + MODEL_TIMEOUT_MS):
        window.model_menu.model_actions[str(lab)].trigger()
    qtbot.waitUntil(lambda: window.session.results.rowCount() == 12, timeout=SCORE_TIMEOUT_MS)
    after = probabilities(window)
    assert after.keys() == before.keys()
    assert any(not math.isclose(after[p], before[p], abs_tol=1e-6) for p in before)
    assert window.session.model_info.name == "lab-test" and window.session.threshold == 0.4
    assert "lab-test 2026.11.29" in window.status.model_label.text()
    assert window.model_menu.model_actions[str(lab)].isChecked()
    row = next(r for r in range(12) if window.session.results.key(r) == corrected)
    assert window.session.results.truths()[row] is None and window.session.results.is_corrected(row)
    window.close()
    again = make_window(None)  # no --model: the Model menu's last pick
    assert again.session.model_info.name == "lab-test"


def test_import_copies_a_model_with_its_card_and_refuses_other_files(
        qtbot, window, models_folder, tmp_path, tiny_model_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: warnings.append(text))
    fake = tmp_path / "notes.keras"
    fake.write_text("not a model")
    assert window.model_menu.import_file(fake) is None
    assert "is not a Keras model file" in warnings[-1] and not list_lab_models()
    with pytest.raises(LabModelError, match="not a Keras model"):
        check_model_file(tmp_path / "photo.png")
    copied = window.model_menu.import_file(tiny_model_path)
    assert copied == models_folder / "tiny.keras" and (models_folder / "tiny.card.json").is_file()
    window.model_menu.rebuild()
    assert window.model_menu.model_actions[str(copied)].text() == "tiny-test-model 0"

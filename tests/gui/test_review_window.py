"""Review and correct in the real window: keys on a multi-selection, the context menu, undo,
the gallery's mark, saving the corrections and the offer to save them on close."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.results_model import COL_FILE, COL_TRUTH, CORRECTED_ROLE
from tests.gui.conftest import score_and_wait


def select_rows(view, rows) -> None:
    model = view.model()
    selection = view.selectionModel()
    selection.clearSelection()
    for row in rows:
        selection.select(model.index(row, COL_FILE),
                         QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    selection.setCurrentIndex(model.index(rows[-1], COL_FILE), QItemSelectionModel.SelectionFlag.NoUpdate)


def shown_truths(window) -> list[str]:
    proxy = window.session.proxy
    return [proxy.index(r, COL_TRUTH).data() for r in range(proxy.rowCount())]


def test_keys_on_a_multi_selection_relabel_and_ctrl_z_restores(qtbot, window, labelled_folder, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)  # on close
    score_and_wait(qtbot, window, [labelled_folder])
    table = window.results_views.table
    proxy = window.session.proxy
    before_truths = shown_truths(window)
    confusion = window.matrix.metrics.confusion
    uninfected_rows = [r for r in range(proxy.rowCount()) if proxy.index(r, COL_TRUTH).data() == UNINFECTED][:3]
    table.setFocus()
    select_rows(table, uninfected_rows)
    with qtbot.waitSignal(window.session.metrics_changed, timeout=5000):
        qtbot.keyClick(table, Qt.Key.Key_P)
    for r in uninfected_rows:
        assert proxy.index(r, COL_TRUTH).data().startswith(PARASITIZED)
        assert proxy.index(r, COL_TRUTH).data(CORRECTED_ROLE)
    assert "True label: Parasitized (corrected)" in window.preview.caption.text()  # the current row, shown again
    after = window.matrix.metrics.confusion
    assert sum(after[0]) == sum(confusion[0]) + 3 and sum(after[1]) == sum(confusion[1]) - 3
    assert window.save_corrections_action.isEnabled()
    qtbot.keyClick(table, Qt.Key.Key_0)  # cleared: three cells leave the matrix
    assert window.matrix.metrics.n == 12 - 3
    qtbot.keyClick(table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.matrix.metrics.n == 12
    qtbot.keyClick(table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert shown_truths(window) == before_truths and window.matrix.metrics.confusion == confusion
    assert not window.session.corrections
    qtbot.keyClick(table, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # redo
    assert all(proxy.index(r, COL_TRUTH).data().startswith(PARASITIZED) for r in uninfected_rows)
    # The context menu offers the same actions, and the gallery marks the corrected tiles.
    assert window.review.mark_uninfected in table.actions()
    window.view_toggle.setChecked(True)
    gallery = window.results_views.gallery
    select_rows(gallery, uninfected_rows[:1])
    window.review.mark_uninfected.trigger()
    assert not proxy.index(uninfected_rows[0], COL_TRUTH).data(CORRECTED_ROLE)  # back to its folder label


def test_saving_corrections_and_the_offer_on_close(qtbot, make_window, labelled_folder, tmp_path, monkeypatch):
    window = make_window()
    score_and_wait(qtbot, window, [labelled_folder])
    window.session.set_truth([0, 1], UNINFECTED if window.session.results.truths()[0] == PARASITIZED else PARASITIZED)
    asked = []

    def cancel(*_args, **_kwargs):
        asked.append(True)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    assert not window.close() and asked and window.isVisible()  # Cancel keeps the window open
    out = tmp_path / "fixes.csv"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    assert window.close()
    lines = out.read_text().splitlines()
    assert lines[0] == "path,truth" and len(lines) == 3
    assert not window.worker.isRunning()

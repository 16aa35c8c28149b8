"""Issue 12 on a bare session and its widgets (no window, no scoring process): exports that
say how they were scored, one row per file, the threshold marker and reset, the truth
toggle, images that are not single cells, and what a technician sees."""

from __future__ import annotations

import csv
from datetime import date

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTextBrowser

from malaria_gui.engine.export import NOT_SCORED
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.gui.delegates import GalleryTileDelegate
from malaria_gui.gui.gallery import GalleryView
from malaria_gui.gui.matrix_view import MatrixPanel
from malaria_gui.gui.model_panel import ModelCardDialog
from malaria_gui.gui.results_model import CAPTION_ROLE, COL_NOTE, FILTER_NOT_CELLS
from malaria_gui.gui.results_table import ResultsTable
from malaria_gui.gui.scoring_process import WAITING, ModelInfo, Row
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from malaria_gui.gui.summary import SummaryLabel
from malaria_gui.gui.threshold_control import ThresholdControl
from tests.gui.test_session import RecordingJobs, info, rows, run

P, U = PARASITIZED, UNINFECTED
NOT_A_CELL = "does not look like a single cell (1200 x 900 px: larger than one cell)"


def make_session(threshold: float = 0.5) -> Session:
    session = Session(RecordingJobs(), Settings())
    session.on_model_ready(info(threshold=threshold, name="malaria-cnn", version="2026.11.26"))
    return session


def read_csv(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_records_the_model_and_the_exact_threshold(qtbot, tmp_path):
    session = make_session()
    run(session, [rows()])
    session.set_threshold(0.6763)
    out = tmp_path / "out.csv"
    session.export_csv(out)
    table = read_csv(out)
    assert {r["model"] for r in table} == {"malaria-cnn 2026.11.26"}
    assert {r["threshold"] for r in table} == {"0.6763"}  # not rounded to 0.68


def test_export_is_named_after_the_folder(qtbot, tmp_path):
    session = make_session()
    (tmp_path / "slide_0042").mkdir()
    session.add_paths([str(tmp_path / "slide_0042")])
    assert session.default_export_name(".csv") == f"results-slide_0042-{date.today().isoformat()}.csv"
    session.clear()
    assert session.default_export_name(".csv") == f"results-{date.today().isoformat()}.csv"


def test_a_cancelled_file_keeps_its_row_and_a_later_score_replaces_it(qtbot, tmp_path):
    session = make_session()
    scored = rows()[:2]
    unscored = [Row(r.path, None, NOT_SCORED, r.truth, None) for r in rows()[2:]]
    run(session, [scored, unscored])
    assert session.results.rowCount() == 6
    assert session.run_done == 2  # "Cancelled: 2 of 6", not 6 of 6
    out = tmp_path / "cancelled.csv"
    session.export_csv(out)
    assert [r["error"] for r in read_csv(out)] == ["", ""] + [NOT_SCORED] * 4
    run(session, [rows()[2:]])  # the folder added again: only the rest is scored
    assert session.results.rowCount() == 6
    assert not any(session.results.error(r) for r in range(6))
    run(session, [[Row(rows()[0].path, None, NOT_SCORED, P, None)]])  # never unscores a scored file
    assert session.results.rowCount() == 6 and session.results.error(0) is None


def test_rows_waiting_for_a_model_say_so(qtbot):
    session = Session(RecordingJobs(), Settings())
    summary = SummaryLabel(session)
    qtbot.addWidget(summary)
    run(session, [[Row(r.path, None, WAITING, r.truth, None) for r in rows()]])
    assert session.results.index(0, COL_NOTE).data() == WAITING
    summary.refresh()
    assert "6 waiting for a model" in summary.text() and "could not be read" not in summary.text()


def test_threshold_marker_keep_and_reset(qtbot):
    session = make_session(threshold=0.676)
    control = ThresholdControl(session)
    qtbot.addWidget(control)
    control.show()
    assert not control.marker.isVisible() and not control.reset_button.isVisible()
    control.spin.setValue(0.2)
    assert control.marker.isVisible() and control.marker.text() == "custom \N{EM DASH} card: 0.676"
    assert control.reset_button.isVisible() and control.keep_button.isVisible()
    qtbot.mouseClick(control.keep_button, Qt.MouseButton.LeftButton)
    assert session.threshold_pinned and control.marker.text().startswith("kept for this model")
    assert not control.keep_button.isVisible()
    later = make_session(threshold=0.676)
    assert later.threshold == 0.2  # pinned: the next window opens at it
    qtbot.mouseClick(control.reset_button, Qt.MouseButton.LeftButton)
    assert session.threshold == 0.676 and not control.marker.isVisible()
    assert make_session(threshold=0.676).threshold == 0.676


def test_truth_toggle_rederives_rows_and_is_remembered(qtbot):
    session = make_session()
    summary, matrix = SummaryLabel(session), MatrixPanel(session)
    qtbot.addWidget(summary)
    qtbot.addWidget(matrix)
    labelled = [Row(r.path, r.p_parasitized, None, r.truth, None, None, r.truth) for r in rows()]
    run(session, [labelled])
    matrix.show()
    qtbot.waitUntil(lambda: session.metrics is not None)
    assert "true labels from folder names: Parasitized/ 3, Uninfected/ 3" in summary.text()
    with qtbot.waitSignal(session.metrics_changed) as changed:
        session.set_use_truth(False)
    assert changed.args[0] is None and not matrix.isVisible()
    assert session.results.truths() == [None] * 6
    assert "true labels off" in summary.text()
    session.set_filter("misclassified")
    assert session.proxy.rowCount() == 0
    assert Session(RecordingJobs(), Settings()).use_truth is False  # remembered
    session.set_use_truth(True)
    assert session.results.truths() == [r.truth for r in rows()]
    assert session.metrics is not None and session.proxy.rowCount() == 2


def test_images_that_are_not_single_cells_carry_the_warning(qtbot, tmp_path):
    session = make_session()
    summary = SummaryLabel(session)
    qtbot.addWidget(summary)
    warned = [Row(r.path, r.p_parasitized, None, r.truth, None, NOT_A_CELL if i in (1, 4) else None)
              for i, r in enumerate(rows())]
    run(session, [warned])
    model = session.results
    assert model.index(1, COL_NOTE).data(Qt.ItemDataRole.ToolTipRole).endswith(NOT_A_CELL)
    assert model.index(1, COL_NOTE).data(Qt.ItemDataRole.DecorationRole) is not None
    assert model.index(0, COL_NOTE).data(Qt.ItemDataRole.DecorationRole) is None
    session.set_filter(FILTER_NOT_CELLS)
    assert session.proxy.rowCount() == 2
    assert "2 images do not look like single cells" in summary.text()
    out = tmp_path / "w.csv"
    session.export_csv(out)
    assert [r["warning"] for r in read_csv(out)].count(NOT_A_CELL) == 2


def test_the_clicked_matrix_cell_is_framed(qtbot):
    session = make_session()
    matrix = MatrixPanel(session)
    qtbot.addWidget(matrix)
    run(session, [rows()])
    qtbot.waitUntil(lambda: matrix.canvas is not None)
    matrix.cell_clicked.emit(U, P)
    assert matrix.highlighted == (U, P)
    assert matrix._highlight.get_visible() and matrix._highlight.get_xy() == (0 - 0.47, 1 - 0.47)
    session.set_filter("all")
    assert matrix.highlighted is None and not matrix._highlight.get_visible()


def test_gallery_reads_as_the_table_and_sizes_change(qtbot):
    session = make_session()
    run(session, [rows()])
    gallery = GalleryView(session)
    table = ResultsTable(session)
    qtbot.addWidget(gallery)
    qtbot.addWidget(table)
    caption = session.proxy.index(0, 0).data(CAPTION_ROLE)
    assert caption == "Parasitized 0.90"  # P(Parasitized), as the table shows, not "90%" of the call
    assert session.proxy.index(4, 0).data(CAPTION_ROLE) == "Parasitized 0.60"  # a false alarm: P, not 1-P
    gallery.set_thumb_size(128)
    assert gallery.gridSize().height() >= 128 + 3 * 10 and isinstance(gallery.itemDelegate(), GalleryTileDelegate)
    table.set_thumb_size(96)
    assert table.verticalHeader().defaultSectionSize() >= 96
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle


def test_gallery_tile_marks_a_mistake(qtbot):
    """Painted tiles: a misclassified cell gets the red badge, a right one does not."""
    session = make_session()
    run(session, [rows()])
    gallery = GalleryView(session)
    qtbot.addWidget(gallery)
    gallery.resize(700, 400)
    gallery.show()
    qtbot.waitExposed(gallery)
    image = gallery.viewport().grab().toImage()
    badge_red = 0
    for r in range(6):
        rect = gallery.visualRect(session.proxy.index(r, 0))
        tile_top_right = rect.adjusted(3, 3, -3, -3)
        side = gallery.itemDelegate().thumb
        x = tile_top_right.center().x() - side // 2 + side - 1 - 13  # inside the badge, off its glyph
        y = tile_top_right.top() + 4 + 2
        colour = image.pixelColor(x, y)
        is_red = colour.red() > 150 and colour.green() < 90 and colour.blue() < 90
        mistake = r in (2, 4)  # c.png (P called U) and e.png (U called P) at 0.5
        assert is_red == mistake, (r, colour.name())
        badge_red += is_red
    assert badge_red == 2


def test_model_card_opens_with_plain_words(qtbot):
    card = {"threshold": 0.676, "data": {"source": "NIH malaria cells", "patients": 160},
            "metrics": {"test_patients": {"n": 200, "confusion": [[96, 4], [3, 97]]}},
            "architecture": {"name": "compact", "batch_norm": "folded"}}
    model = ModelInfo(name="malaria-cnn", version="1", threshold=0.676, card=card, path="/m.keras",
                      input_size=64)
    dialog = ModelCardDialog(model)
    qtbot.addWidget(dialog)
    shown = dialog.findChild(QTextBrowser, "card_text").toPlainText()
    assert shown.index("What it is for") < shown.index("How well it did") < shown.index("Limits") \
        < shown.index("Technical card") < shown.index("Architecture")
    assert "screening aid" in shown and "96 of every 100 infected cells" in shown
    assert "P. falciparum" in shown


def test_clear_releases_thumbnails(qtbot):
    session = make_session()
    thumb = bytes(np.zeros(100, np.uint8))
    run(session, [[Row(r.path, r.p_parasitized, None, r.truth, thumb) for r in rows()]])
    session.results.thumbnail(0)
    session.clear()
    model = session.results
    assert model._thumbs == [] and not model._pixmaps and model._by_key == {} and model._warnings == []

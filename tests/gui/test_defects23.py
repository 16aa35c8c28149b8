"""Issue 23's window defects 4 and 9: the threshold box takes typing, nothing moves when the
custom marker appears, P(Parasitized) is visible at 1600 x 1000, gallery tiles of field cells
name their cell, and lab models live in one app folder (the old doubled one still read)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem

from malaria_gui.gui.results_model import COL_CONFIDENCE, COL_IMAGE
from malaria_gui.gui.session import Session
from malaria_gui.gui.settings import Settings
from malaria_gui.gui.threshold_control import ThresholdControl
from tests.gui.test_fields_gui import field_image, field_rows
from tests.gui.test_session import RecordingJobs, info


@pytest.fixture
def control(qtbot):
    session = Session(RecordingJobs(), Settings())
    session.on_model_ready(info(threshold=0.56))
    widget = ThresholdControl(session)
    qtbot.addWidget(widget)
    widget.resize(1100, widget.sizeHint().height())
    widget.show()
    qtbot.waitExposed(widget)
    return session, widget


# ---- defect 4: the threshold box ------------------------------------------------------------
def test_typing_a_threshold_applies_it_when_typing_is_finished(qtbot, control):
    session, widget = control
    seen: list[float] = []
    session.threshold_changed.connect(seen.append)
    widget.spin.setFocus()
    widget.spin.selectAll()
    qtbot.keyClicks(widget.spin, "0.66")  # first key "0" once meant threshold 0: every cell Parasitized
    assert seen == [] and session.threshold == 0.56
    qtbot.keyClick(widget.spin, Qt.Key.Key_Return)
    assert session.threshold == pytest.approx(0.66) and seen == [pytest.approx(0.66)]
    # Deleting back to "0." applies nothing either; Enter then restores a valid value.
    seen.clear()
    qtbot.keyClick(widget.spin, Qt.Key.Key_End)
    qtbot.keyClicks(widget.spin, "\b\b\b")
    assert seen == [] and session.threshold == pytest.approx(0.66)
    qtbot.keyClicks(widget.spin, "4")
    qtbot.keyClick(widget.spin, Qt.Key.Key_Tab)
    assert session.threshold == pytest.approx(0.4)
    # The arrow keys still step at once.
    widget.spin.setFocus()
    qtbot.keyClick(widget.spin, Qt.Key.Key_Up)
    assert session.threshold == pytest.approx(0.41)


def test_nothing_moves_when_the_custom_marker_and_its_buttons_appear(qtbot, control):
    session, widget = control
    assert widget.marker.isHidden() and widget.reset_button.isHidden()
    before = {name: getattr(widget, name).geometry() for name in ("slider", "spin", "reset_button", "keep_button")}
    session.set_threshold(0.7)
    qtbot.wait(10)
    assert widget.marker.isVisible() and widget.reset_button.isVisible()
    assert "custom" in widget.marker.text()
    after = {name: getattr(widget, name).geometry() for name in before}
    assert after == before
    # Pinned, then moved again: Reset stays where it was while the marker's text changes.
    session.pin_threshold()
    reset = widget.reset_button.geometry()
    assert "kept for this model" in widget.marker.text()
    session.set_threshold(0.3)
    qtbot.wait(10)
    assert widget.reset_button.geometry() == reset and widget.spin.geometry() == before["spin"]
    # The marker's text is never cut: its room fits the longest.
    marker = widget.marker
    for text in ("custom", "kept for this model"):
        marker.setText(f"{text} \N{EM DASH} card: 0.560")
        assert marker.fontMetrics().horizontalAdvance(marker.text()) <= marker.width()


# ---- defect 9: the P(Parasitized) column and the gallery's field cells ------------------------
def feed_fields(session: Session, path: str = "/slides/A/PA171697_long_field_name.JPG") -> None:
    generation = session.generation
    session.on_batch_started(generation, 6)
    session.on_field_image(generation, field_image(path))
    session.on_chunk(generation, field_rows(path))
    session.on_idle(session.ticket)


def test_the_probability_column_is_visible_at_1600_by_1000_with_a_field_shown(qtbot, window):
    window.resize(1600, 1000)
    feed_fields(window.session)
    qtbot.waitUntil(window.field_panel.isVisible)
    qtbot.wait(50)
    table = window.results_views.table
    header = table.horizontalHeader()
    right = header.sectionViewportPosition(COL_CONFIDENCE) + header.sectionSize(COL_CONFIDENCE)
    assert 0 <= header.sectionViewportPosition(COL_CONFIDENCE) and right <= table.viewport().width()


class RecordingPainter(QPainter):
    """A real painter that also keeps every text drawn with the rectangle it was given."""

    def __init__(self, device) -> None:
        super().__init__(device)
        self.texts: list[tuple[QRect, str, QFontMetrics]] = []

    def drawText(self, *args):  # noqa: N802 - Qt's name
        if len(args) == 3 and isinstance(args[2], str):
            self.texts.append((QRect(args[0]), args[2], QFontMetrics(self.font())))
        return super().drawText(*args)


def test_a_gallery_tile_of_a_field_cell_shows_its_cell_number(qtbot):
    from malaria_gui.gui.gallery import GalleryView

    session = Session(RecordingJobs(), Settings())
    session.on_model_ready(info())
    feed_fields(session)
    gallery = GalleryView(session)
    qtbot.addWidget(gallery)
    delegate = gallery.tiles
    index = session.proxy.index(2, COL_IMAGE)
    image = QImage(delegate.tile, QImage.Format.Format_ARGB32)
    painter = RecordingPainter(image)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, delegate.tile.width(), delegate.tile.height())
    option.palette = gallery.palette()
    delegate.paint(painter, option, index)
    painter.end()
    named = [(rect, text, metrics) for rect, text, metrics in painter.texts if text.endswith("#3")]
    assert named, [text for _rect, text, _metrics in painter.texts]
    rect, text, metrics = named[0]  # one line, inside its rectangle and the tile: seen, not clipped
    assert "\n" not in text and metrics.horizontalAdvance(text) <= rect.width()
    assert option.rect.contains(rect)


# ---- defect 6: the window's exports name each field cell ---------------------------------------
def test_the_windows_csv_and_report_name_each_field_cell(qtbot, tmp_path):
    import csv

    from malaria_gui.engine.labels import PARASITIZED
    from malaria_gui.gui.scoring_process import Row

    session = Session(RecordingJobs(), Settings())
    session.on_model_ready(info())
    session.on_batch_started(0, 7)
    session.on_chunk(0, [Row("/slides/cell.png", 0.7, None, None, None)])
    feed_fields(session, "/slides/A/PA171697.JPG")
    session.set_truth([3], PARASITIZED)  # a reviewer labels the field's cell 3
    out = tmp_path / "results.csv"
    session.export_csv(out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["cell"] for r in rows] == ["", "1", "2", "3", "4", "5", "6"]
    assert (rows[2]["x"], rows[2]["y"], rows[2]["width"], rows[2]["height"]) == ("40", "10", "21", "21")
    assert rows[3]["corrected"] == "yes" and rows[3]["truth"] == PARASITIZED
    report = tmp_path / "report.html"
    session.export_report(report)
    text = report.read_text()
    assert "<tr><th>Files</th><td>2: 1 single-cell image, 1 whole field</td></tr>" in text
    assert "corrected by a reviewer" in text and f"#3 <span class='{PARASITIZED}'>" in text


# ---- defect 9: lab models in one app folder ----------------------------------------------------
@pytest.fixture
def data_home(qtbot, monkeypatch, tmp_path):
    """The user's data folder in a temporary place, the app named as the window names it."""
    from PySide6.QtWidgets import QApplication

    from malaria_gui.gui.lab_models import MODELS_DIR_ENV
    from malaria_gui.gui.settings import APPLICATION, ORGANISATION

    app = QApplication.instance()
    names = app.organizationName(), app.applicationName()
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    yield tmp_path / "share"
    app.setOrganizationName(names[0])
    app.setApplicationName(names[1])


def write_model(folder, name: str, label: str) -> None:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.keras").write_bytes(b"PK")
    (folder / f"{name}.card.json").write_text(json.dumps({"name": label, "version": "1"}))


def test_lab_models_live_in_one_app_folder_and_old_ones_are_still_listed(data_home):
    from malaria_gui.gui.lab_models import list_lab_models, models_dir

    folder = models_dir()
    assert folder == data_home / "malaria-gui" / "models"
    assert folder.parts.count("malaria-gui") == 1
    # A model saved by an earlier version under the doubled folder is still offered; a file
    # of the same name in the new folder is the one used.
    old = data_home / "malaria-gui" / "malaria-gui" / "models"
    write_model(old, "lab_a", "lab A")
    write_model(old, "lab_b", "old lab B")
    write_model(folder, "lab_b", "lab B")
    listed = {m.label: m.path for m in list_lab_models()}
    assert listed == {"lab A 1": old / "lab_a.keras", "lab B 1": folder / "lab_b.keras"}

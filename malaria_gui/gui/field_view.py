"""The field view: a whole smear field with every cell found outlined in its predicted class's
colour at the current threshold; zoom (wheel, +/-), pan (drag), fit (0 or the Fit button).

Clicking a cell emits ``cell_clicked`` with its row of ``session.results`` (the window
selects that row); :meth:`FieldView.show_row` shows a row's field with its cell highlighted.
With the review actions installed (:meth:`FieldView.set_review`), P/U/N/0 and the context
menu (right-click a cell) mark the cell clicked; a cell marked "not a red cell" is drawn
dashed in grey and left out of the field's count, a reviewed one dotted in the colour of the
reviewer's label.
The picture is the display copy the scoring process sent (``Session.field_images``, a JPEG
of at most 1600 px, decoded here once per field shown); only when it is missing is the one
field the user opened read with ``QImageReader``. Outlines and boxes are in the original
image's pixels, which are the scene's coordinates.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QImage, QImageReader, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsPixmapItem, QGraphicsPolygonItem, QGraphicsScene, QGraphicsView, QHBoxLayout, QLabel, QMenu, QPushButton,
    QVBoxLayout, QWidget,
)

from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.fields import wilson_interval
from malaria_gui.engine.labels import PARASITIZED
from malaria_gui.gui.results_model import class_colour
from malaria_gui.gui.session import Session

HIGHLIGHT = QColor("#f1c40f")
NOT_A_CELL_COLOUR = QColor("#95a5a6")  # grey: the reviewer said this is no red cell
CELL_ROLE = 0  # QGraphicsItem data key: the cell number of an outline
ZOOM_STEP = 1.25
HINT = "Select a cell found in a field image to see its field here."


_decoded: list = []  # [display copy, (picture, scale)] of the last field decoded


def field_qimage(session: Session, path: str) -> tuple[QImage, float] | None:
    """The field's picture and its scale (picture pixels per original pixel), or None. The
    last one decoded is kept: the view and the preview ask for the same field in turn."""
    copy = session.field_images.get(path)
    if copy is not None:
        if _decoded and _decoded[0] is copy:
            return _decoded[1]
        image = QImage.fromData(copy.jpeg, "JPG")
        if not image.isNull() and copy.width > 0:
            _decoded[:] = [copy, (image, image.width() / copy.width)]
            return _decoded[1]
    reader = QImageReader(path)  # the one field the user opened, not a bulk decode
    reader.setAutoTransform(True)
    image = reader.read()
    return (image, 1.0) if not image.isNull() else None


def _polygon(contour, box) -> QPolygonF:
    if contour is not None and len(contour):
        return QPolygonF([QPointF(float(x), float(y)) for x, y in contour])
    x, y, w, h = box or (0, 0, 0, 0)
    return QPolygonF(QRectF(x, y, w, h))


def cell_pixmap(session: Session, row: int, image: tuple[QImage, float] | None = None) -> QPixmap | None:
    """A found cell's crop as the model saw it (its box, black outside its outline), cut from
    the field's picture; None when the field's picture is not available."""
    results = session.results
    box = results.box(row)
    if box is None:
        return None
    image = image or field_qimage(session, results.path(row))
    if image is None:
        return None
    picture, scale = image
    x, y, w, h = box
    rect = QRect(int(x * scale), int(y * scale), max(1, round(w * scale)), max(1, round(h * scale)))
    out = QImage(rect.size(), QImage.Format.Format_RGB32)
    out.fill(QColor("black"))
    painter = QPainter(out)
    path = QPainterPath()
    path.addPolygon(_polygon(results.contour(row), box))
    painter.scale(scale, scale)
    painter.translate(-x, -y)
    painter.setClipPath(path)
    painter.resetTransform()
    painter.drawImage(QPoint(0, 0), picture, rect)
    painter.end()
    return QPixmap.fromImage(out)


class FieldView(QGraphicsView):
    """The picture of one field and its cells' outlines."""

    cell_clicked = Signal(int)  # a row of session.results
    field_shown = Signal(str)  # the field image's path ("" when none)

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QBrush(QColor("#1b1b1b")))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(240, 200)
        self.path: str | None = None
        self.image: tuple[QImage, float] | None = None
        self.outlines: dict[int, QGraphicsPolygonItem] = {}
        self.highlighted: int | None = None
        self._fitted = True  # follow the window's size until the user zooms
        self._press: QPoint | None = None
        self._hint = self.scene().addText(HINT)
        self._hint.setDefaultTextColor(QColor("#bbbbbb"))
        session.threshold_changed.connect(self.recolour)
        session.cleared.connect(self.clear)
        session.rows_added.connect(self._on_rows_added)
        session.corrections_changed.connect(self.recolour)
        self._review = None  # the window's ReviewActions, once set_review gave them

    def set_review(self, review) -> None:
        """Give the view the review actions (P/U/N/0 on the cell clicked, and its context menu)."""
        self._review = review
        review.install(self, context_menu=False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)

    # ---- what is shown -----------------------------------------------------------------
    def clear(self, hint: str = HINT, path: str = "") -> None:
        self.scene().clear()
        self.outlines, self.path, self.image, self.highlighted = {}, None, None, None
        self._hint = self.scene().addText(hint)
        self._hint.setDefaultTextColor(QColor("#bbbbbb"))
        self.scene().setSceneRect(self._hint.boundingRect())
        self.resetTransform()
        self.field_shown.emit(path)

    def show_row(self, row: int) -> None:
        """Show the field of a row of ``session.results`` with its cell highlighted; a plain
        cell leaves the field shown, none of its cells marked as the one selected."""
        results = self._session.results
        if not 0 <= row < results.rowCount():
            return
        if results.cell(row) is None:
            self.highlight(None)
            return
        path, cell = results.path(row), results.cell(row)
        if cell == 0:
            self.clear(f"{Path(path).name} was not counted:\n{results.error(row) or ''}", path)
            return
        if path != self.path:
            self.show_field(path)
        self.highlight(cell)

    def show_field(self, path: str) -> None:
        """Build the scene of one field: its picture, then one outline per cell found."""
        results = self._session.results
        rows = results.field_rows(path)
        image = field_qimage(self._session, path)
        self.clear()
        self.scene().clear()
        self.path, self.image = path, image
        if image is not None:
            picture, scale = image
            item = QGraphicsPixmapItem(QPixmap.fromImage(picture))
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            item.setScale(1.0 / scale)
            item.setZValue(-1)
            self.scene().addItem(item)
        for row in rows:
            outline = QGraphicsPolygonItem(_polygon(results.contour(row), results.box(row)))
            outline.setData(CELL_ROLE, results.cell(row))
            outline.setToolTip(self._tooltip(row))
            self.scene().addItem(outline)
            self.outlines[results.cell(row)] = outline
        self.scene().setSceneRect(self.scene().itemsBoundingRect())
        self.recolour()
        self.fit()
        self.field_shown.emit(path)

    def highlight(self, cell: int | None) -> None:
        self.highlighted = cell
        self.recolour()
        item = self.outlines.get(cell) if cell is not None else None
        if item is not None and not self._fitted:
            self.ensureVisible(item, 40, 40)

    def recolour(self, *_ignored) -> None:
        """Each outline in its class's colour at the current threshold; the highlighted one
        thicker, in yellow, above the others."""
        if not self.outlines:
            return
        results = self._session.results
        rows = {results.cell(r): r for r in results.field_rows(self.path)}
        for cell, item in self.outlines.items():
            chosen = cell == self.highlighted
            row = rows.get(cell)
            truth = results.truths()[row] if row is not None else None
            reviewed = row is not None and results.is_corrected(row) and truth is not None
            # A reviewed cell in the colour of the reviewer's label (dotted), else of the call.
            colour = (NOT_A_CELL_COLOUR if truth == NOT_A_CELL else class_colour(truth) if reviewed
                      else class_colour(results.prediction(row) if row is not None else None))
            pen = QPen(HIGHLIGHT if chosen else colour, 4 if chosen else 2)
            if truth == NOT_A_CELL:
                pen.setStyle(Qt.PenStyle.DashLine)
            elif reviewed:
                pen.setStyle(Qt.PenStyle.DotLine)
            pen.setCosmetic(True)  # as thick at any zoom
            item.setPen(pen)
            item.setZValue(1 if chosen else 0)
            if row is not None:
                item.setToolTip(self._tooltip(row))

    def _tooltip(self, row: int) -> str:
        results = self._session.results
        text = f"cell {results.cell(row)}: {results.caption(row)}"
        if results.is_corrected(row):
            text += f"\nreviewed: {results.truths()[row] or 'no label'}"
        return text

    def highlighted_row(self) -> int | None:
        """The row of the cell last clicked (or selected), for the review keys."""
        return self.row_of_cell(self.highlighted) if self.highlighted is not None else None

    def outline_colour(self, cell: int) -> QColor:
        return self.outlines[cell].pen().color()

    def _on_rows_added(self, _count: int) -> None:
        """The first field that arrives is shown at once, none of its cells marked selected
        (the user has selected nothing yet)."""
        if self.path is not None:
            return
        results = self._session.results
        for row in range(results.rowCount() - 1, max(-1, results.rowCount() - 1 - _count), -1):
            if results.cell(row):
                self.show_field(results.path(row))
                return

    # ---- zoom and pan --------------------------------------------------------------------
    def fit(self) -> None:
        self._fitted = True
        rect = self.scene().sceneRect()
        if not rect.isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = max(0.05 / current, min(factor, 40.0 / current))  # 5% to 40x
        self._fitted = False
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(ZOOM_STEP ** steps)
        event.accept()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.zoom(1 / ZOOM_STEP)
        elif key in (Qt.Key.Key_0, Qt.Key.Key_F):  # in the window 0 clears a label: F fits
            self.fit()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted and self.outlines:
            self.fit()

    # ---- clicking a cell -------------------------------------------------------------------
    def cell_at(self, pos: QPoint) -> int | None:
        """The cell under a point of the viewport (the smallest outline holding it)."""
        hits = [item for item in self.items(pos) if isinstance(item, QGraphicsPolygonItem)]
        if not hits:
            return None
        best = min(hits, key=lambda item: item.boundingRect().width() * item.boundingRect().height())
        return best.data(CELL_ROLE)

    def row_of_cell(self, cell: int) -> int | None:
        results = self._session.results
        for row in results.field_rows(self.path) if self.path else []:
            if results.cell(row) == cell:
                return row
        return None

    def mousePressEvent(self, event) -> None:
        self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        press, self._press = self._press, None
        pos = event.position().toPoint()
        if press is None or (pos - press).manhattanLength() > 4:  # a drag pans; only a click picks
            return
        self._pick(pos)

    def _pick(self, pos: QPoint) -> int | None:
        cell = self.cell_at(pos)
        row = self.row_of_cell(cell) if cell is not None else None
        if row is not None:
            self.highlight(cell)
            self.cell_clicked.emit(row)
        return row

    def context_menu(self, pos: QPoint) -> QMenu | None:
        """The menu for a right-click at ``pos``: the cell there is picked, and the menu's
        marks act on it (None without review actions)."""
        if self._review is None:
            return None
        row = self._pick(pos)
        menu = self._review.menu_for([] if row is None else [row], self)
        if row is None:
            hint = QAction("Right-click a cell to mark it", menu)
            hint.setEnabled(False)
            menu.insertAction(menu.actions()[0], hint)
        return menu

    def contextMenuEvent(self, event) -> None:
        menu = self.context_menu(event.pos())
        if menu is None:
            return super().contextMenuEvent(event)
        menu.aboutToHide.connect(menu.deleteLater)  # deferred: a chosen action runs first
        menu.popup(event.globalPos())


class FieldPanel(QWidget):
    """The field view with its title (field name, cells, parasitemia) and zoom buttons."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        self.title = QLabel("")
        self.title.setObjectName("field_title")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.view = FieldView(session)
        layout.addWidget(self.view, 1)
        buttons = QHBoxLayout()
        for text, tip, slot in (("Fit", "Fit the field to the view (F)", self.view.fit),
                                ("+", "Zoom in (+ or the wheel)", lambda: self.view.zoom(ZOOM_STEP)),
                                ("\u2212", "Zoom out (- or the wheel)", lambda: self.view.zoom(1 / ZOOM_STEP))):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        hint = QLabel("drag to pan; click a cell, then P / U / N (not a red cell) / 0")
        hint.setStyleSheet("color: #777;")
        buttons.addWidget(hint)
        layout.addLayout(buttons)
        self.view.field_shown.connect(self._update_title)
        session.threshold_changed.connect(lambda _t: self._update_title(self.view.path or ""))
        session.corrections_changed.connect(lambda: self._update_title(self.view.path or ""))
        session.thumbnails_done.connect(lambda _gone: self._update_title(self.view.path or ""))  # a file gone

    def _update_title(self, path: str) -> None:
        if not path:
            self.title.setText("")
            return
        session = self._session
        results = session.results
        marked = results.field_rows(path)
        rows = [r for r in marked if results.truths()[r] != NOT_A_CELL]  # counted: red cells only
        left_out = len(marked) - len(rows)
        parasitized = sum(results.prediction(r) == PARASITIZED for r in rows)
        low, high = wilson_interval(parasitized, len(rows)) if rows else (0.0, 1.0)
        share = f"{100 * parasitized / len(rows):.2f}% (95% CI {100 * low:.2f}-{100 * high:.2f}%)" if rows else ""
        if not marked:
            self.title.setText(f"<b>{html.escape(Path(path).name)}</b>: not counted")
            return
        note = f"; {left_out} marked not a red cell, not counted" if left_out else ""
        white = session.white_cells.get(path, 0)
        if white:  # counted apart from the red cells, as the report says
            note += f"; {white} white cell{'s' if white != 1 else ''} counted apart"
        missing = results.missing(marked[0])
        if missing:  # a reopened case whose field is gone: the stored outlines only
            note += f"; <span style='color:#c0392b'>{html.escape(missing)}: outlines only</span>"
        self.title.setText(f"<b>{html.escape(Path(path).name)}</b>: {len(rows)} cells, "
                           f"{parasitized} parasitized, {share}{note}")

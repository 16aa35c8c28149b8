"""Painting that a plain item view cannot do: the confidence bar, the thumbnail, the gallery tile."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from malaria_gui.gui.results_model import (
    CAPTION_ROLE, COL_FIELD, COL_FILE, COL_NOTE, CORRECTED_COLOUR, CORRECTED_ROLE, MISSING_ROLE, PREDICTION_ROLE,
    PROBABILITY_ROLE, TRUTH_ROLE, class_colour,
)
from malaria_gui.gui.scoring_process import THUMB_SIZE


MISTAKE_COLOUR = QColor("#c0392b")
MISSING_FILL = QColor("#5d6d7e")  # a reopened case's file that is gone: darker than "no picture yet"


def paint_missing(painter: QPainter, rect: QRect, why: str) -> None:
    """A thumbnail's place when the file is gone or unreadable: said, not left blank."""
    painter.save()
    painter.fillRect(rect, MISSING_FILL)
    painter.setPen(QColor("white"))
    text = why if rect.width() >= 60 else "missing"
    painter.drawText(rect.adjusted(2, 2, -2, -2), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    painter.restore()


class ConfidenceBarDelegate(QStyledItemDelegate):
    """P(Parasitized) as a bar filled from the left, coloured by the predicted class,
    with a tick at the threshold so a reviewer sees how close each call was."""

    def __init__(self, threshold_getter, parent=None) -> None:
        super().__init__(parent)
        self._threshold = threshold_getter

    def paint(self, painter: QPainter, option, index) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        if option.state & QStyle.StateFlag.State_Selected and style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        p = index.data(PROBABILITY_ROLE)
        if p is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        rect = option.rect.adjusted(4, 6, -44, -6)
        painter.fillRect(rect, QColor("#ecf0f1"))
        filled = QRect(rect)
        filled.setWidth(max(1, int(rect.width() * p)))
        painter.fillRect(filled, class_colour(index.data(PREDICTION_ROLE)))
        x = rect.left() + int(rect.width() * self._threshold())
        painter.setPen(QPen(QColor("#2c3e50"), 1))
        painter.drawLine(x, rect.top() - 2, x, rect.bottom() + 2)
        text_rect = QRect(rect.right() + 4, option.rect.top(), 40, option.rect.height())
        painter.setPen(option.palette.color(option.palette.ColorRole.Text))
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, f"{p:.2f}")
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        return QSize(160, 24)


class GalleryTileDelegate(QStyledItemDelegate):
    """A tile read as the table reads: the thumbnail framed in the predicted class's colour,
    the call with P(Parasitized), the true label, a red mark on a mistake, and the file name
    elided in the middle (names of one slide differ at their end)."""

    def __init__(self, parent=None, thumb: int = THUMB_SIZE) -> None:
        super().__init__(parent)
        self.set_thumb_size(thumb)

    def set_thumb_size(self, thumb: int) -> None:
        self.thumb = int(thumb)
        self.tile = QSize(max(self.thumb + 24, 124), self.thumb + 62)

    def paint(self, painter: QPainter, option, index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect = option.rect.adjusted(3, 3, -3, -3)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, option.palette.highlight())
        prediction = index.data(PREDICTION_ROLE)
        truth = index.data(TRUTH_ROLE)
        colour = class_colour(prediction)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        side = self.thumb
        image_rect = QRect(rect.center().x() - side // 2, rect.top() + 4, side, side)
        missing = index.data(MISSING_ROLE)
        if pixmap is not None and not pixmap.isNull():
            painter.drawPixmap(image_rect, pixmap)
        elif missing:
            paint_missing(painter, image_rect, missing)
        else:
            painter.fillRect(image_rect, QColor("#bdc3c7"))
        painter.setPen(QPen(colour, 3))
        painter.drawRect(image_rect.adjusted(-1, -1, 1, 1))
        mistake = prediction is not None and truth is not None and truth != prediction
        if mistake:  # a red corner badge: the call disagrees with the true label
            badge = QRect(image_rect.right() - 15, image_rect.top(), 16, 16)
            painter.fillRect(badge, MISTAKE_COLOUR)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "\N{BALLOT X}")
        warning = index.siblingAtColumn(COL_NOTE).data(Qt.ItemDataRole.DecorationRole)
        if warning is not None:  # not a single cell: the table's warning icon, top left
            painter.drawPixmap(image_rect.left() + 1, image_rect.top() + 1, warning.pixmap(16, 16))
        corrected = bool(index.data(CORRECTED_ROLE))
        if corrected:  # a reviewer's label: its first letter on a badge, bottom right
            badge = QRect(image_rect.right() - 15, image_rect.bottom() - 15, 16, 16)
            painter.fillRect(badge, CORRECTED_COLOUR)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, (truth or "-")[0])
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        line = painter.fontMetrics().height()
        top = image_rect.bottom() + 4
        # One line each: a caption's second line (a field cell's name) would be clipped away.
        lines = [((index.data(CAPTION_ROLE) or "").split("\n")[0], colour)]
        if truth is not None:
            mark = " \N{LOWER RIGHT PENCIL}" if corrected else ""
            lines.append(((f"\N{BALLOT X} true: {truth}{mark}" if mistake else f"true: {truth}{mark}"),
                          MISTAKE_COLOUR if mistake else option.palette.color(option.palette.ColorRole.Text)))
        lines.append((tile_name(index, painter.fontMetrics(), rect.width() - 4), QColor("#7f8c8d")))
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        for k, (text, pen) in enumerate(lines):
            # On the highlight the class colours vanish (blue on blue): the highlight's text colour.
            painter.setPen(option.palette.color(option.palette.ColorRole.HighlightedText) if selected else pen)
            painter.drawText(QRect(rect.left(), top + k * line, rect.width(), line),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        return self.tile


def tile_name(index, metrics, width: int) -> str:
    """The tile's last line: the file name, or for a cell of a whole field its field and
    number ("PA171697 #12"), elided in the middle but never losing the number."""
    field = index.siblingAtColumn(COL_FIELD).data() or ""
    head, sep, number = field.rpartition(" #")
    if not (sep and number.isdigit()):
        name = index.siblingAtColumn(COL_FILE).data() or ""
        return metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width)
    tail = f" #{number}"
    room = max(0, width - metrics.horizontalAdvance(tail))
    return metrics.elidedText(head, Qt.TextElideMode.ElideMiddle, room) + tail


class ThumbnailDelegate(QStyledItemDelegate):
    """The table's image column: the thumbnail scaled to fit the row, never clipped."""

    def paint(self, painter: QPainter, option, index) -> None:
        style_option = QStyleOptionViewItem(option)
        self.initStyleOption(style_option, index)
        style_option.icon = QIcon()
        style_option.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        widget = option.widget
        (widget.style() if widget else QApplication.style()).drawControl(
            QStyle.ControlElement.CE_ItemViewItem, style_option, painter, widget)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        side = max(1, min(option.rect.width(), option.rect.height()) - 4)
        target = QRect(0, 0, side, side)
        target.moveCenter(option.rect.center())
        if pixmap is None or pixmap.isNull():
            missing = index.data(MISSING_ROLE)
            if missing:
                paint_missing(painter, target, missing)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(target, pixmap)
        painter.restore()

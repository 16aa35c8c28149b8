"""Painting that a plain item view cannot do: the confidence bar, the thumbnail, the gallery tile."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from malaria_gui.gui.results_model import (
    CAPTION_ROLE, CORRECTED_COLOUR, CORRECTED_ROLE, PREDICTION_ROLE, PROBABILITY_ROLE, TRUTH_ROLE, class_colour,
)
from malaria_gui.gui.scoring_process import THUMB_SIZE


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
    """A thumbnail with its prediction and confidence underneath, framed in the class colour."""

    TILE = QSize(THUMB_SIZE + 56, THUMB_SIZE + 40)

    def paint(self, painter: QPainter, option, index) -> None:
        painter.save()
        rect = option.rect.adjusted(3, 3, -3, -3)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, option.palette.highlight())
        prediction = index.data(PREDICTION_ROLE)
        colour = class_colour(prediction)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        image_rect = QRect(rect.center().x() - THUMB_SIZE // 2, rect.top() + 4, THUMB_SIZE, THUMB_SIZE)
        if pixmap is not None and not pixmap.isNull():
            painter.drawPixmap(image_rect, pixmap)
        else:
            painter.fillRect(image_rect, QColor("#bdc3c7"))
        painter.setPen(QPen(colour, 3))
        painter.drawRect(image_rect.adjusted(-1, -1, 1, 1))
        if index.data(CORRECTED_ROLE):  # a reviewer's label: its first letter on a badge
            truth = index.data(TRUTH_ROLE) or "-"
            badge = QRect(image_rect.right() - 15, image_rect.top() + 1, 15, 15)
            painter.fillRect(badge, CORRECTED_COLOUR)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, truth[0])
        caption_rect = QRect(rect.left(), image_rect.bottom() + 4, rect.width(), rect.bottom() - image_rect.bottom() - 4)
        painter.setPen(colour)
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        painter.drawText(caption_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         index.data(CAPTION_ROLE) or "")
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        return self.TILE


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
        if pixmap is None or pixmap.isNull():
            return
        side = max(1, min(option.rect.width(), option.rect.height()) - 4)
        target = QRect(0, 0, side, side)
        target.moveCenter(option.rect.center())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(target, pixmap)
        painter.restore()

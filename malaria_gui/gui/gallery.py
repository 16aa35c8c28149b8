"""The gallery: the same filtered, sorted rows as the table, shown as captioned tiles
(thumbnail framed in the predicted class's colour; beneath it the call with P(Parasitized),
the true label with a mark on mistakes, and the file name)."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QListView

from malaria_gui.gui.delegates import GalleryTileDelegate
from malaria_gui.gui.results_model import COL_IMAGE
from malaria_gui.gui.session import Session


class GalleryView(QListView):
    """A QListView in icon mode; uniform tile sizes keep layout cheap with 20,000 items."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # P/U/0 act on many
        self.tiles = GalleryTileDelegate(self)
        self.setItemDelegate(self.tiles)
        self.setGridSize(self.tiles.tile)
        self.setModel(session.proxy)
        self.setModelColumn(COL_IMAGE)

    def set_thumb_size(self, px: int) -> None:
        """Tiles of ``px`` thumbnails (the 128 px ones made by the scoring process, scaled)."""
        self.tiles.set_thumb_size(px)
        self.setGridSize(self.tiles.tile)
        self.scheduleDelayedItemsLayout()

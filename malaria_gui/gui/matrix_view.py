"""The matrix panel: for labelled input, the confusion matrix at the current threshold (a
matplotlib canvas; clicking a cell lists those images) and the metrics beside it. Hidden
while no labelled row has been scored.

Matplotlib is imported only when the first labelled result arrives (the worker warms the
import in the background), so it never delays the window's first appearance.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from malaria_gui.engine.labels import CLASS_NAMES
from malaria_gui.engine.metrics import METRICS, Metrics
from malaria_gui.gui.session import Session


class MatrixPanel(QWidget):
    """Shows the session's metrics; a click on a matrix cell emits (true class, predicted
    class) and filters the rows to that cell."""

    cell_clicked = Signal(str, str)

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self._canvas = None
        self._axes = None
        self._plot_pending = False
        self._session = session
        self._highlight = None  # the rectangle around the clicked cell (a matplotlib patch)
        self.highlighted: tuple[str, str] | None = None  # (true class, predicted class) framed
        self.metrics: Metrics | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._canvas_box = QVBoxLayout()
        layout.addLayout(self._canvas_box, 3)
        form = QFormLayout()
        self.value_labels: dict[str, QLabel] = {}
        for spec in METRICS:
            label = QLabel("n/a")
            label.setObjectName(f"metric_{spec.name}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.value_labels[spec.name] = label
            form.addRow(spec.label + ":", label)
        self._hint = QLabel("Click a cell to list\nthose images.")
        self._hint.setStyleSheet("color: #7f8c8d;")
        form.addRow(self._hint)
        layout.addLayout(form, 2)
        self.hide()
        self.cell_clicked.connect(session.filter_cell)
        session.metrics_changed.connect(self._on_metrics_changed)
        session.filter_changed.connect(self._on_filter_changed)

    def _on_filter_changed(self, name: str) -> None:
        """Frame the cell whose images the table lists; no frame for any other filter."""
        cell = self._session.proxy.cell() if name == "cell" else None
        self.highlighted = cell
        if self._highlight is not None:
            self._place_highlight()
            if self.metrics is not None and not self._plot_pending:
                self._plot_pending = True
                QTimer.singleShot(0, self._plot)

    def _place_highlight(self) -> None:
        cell = self.highlighted
        self._highlight.set_visible(cell is not None)
        if cell is not None:
            self._highlight.set_xy((CLASS_NAMES.index(cell[1]) - 0.47, CLASS_NAMES.index(cell[0]) - 0.47))

    def _on_metrics_changed(self, metrics: Metrics | None, auc_pending: bool) -> None:
        self.setVisible(metrics is not None)
        self.update_metrics(metrics, auc_pending)

    @property
    def canvas(self):
        """The matplotlib canvas (None until the first labelled result or the warm-up)."""
        return self._canvas

    def warm_up(self) -> None:
        """Build a throw-away matrix figure: the first one (fonts, tick machinery) costs
        ~110 ms, split this way into two steps of ~50 ms on separate event-loop turns."""
        if self._canvas is None:
            _matrix_figure()

    def prepare(self) -> None:
        """Create the canvas ahead of need (the first one costs a few hundred ms)."""
        self._ensure_canvas()

    def _ensure_canvas(self) -> None:
        if self._canvas is not None:
            return
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

        from matplotlib.patches import Rectangle

        figure, self._axes, self._artists = _matrix_figure()
        self._highlight = Rectangle((0, 0), 0.94, 0.94, fill=False, edgecolor="#f1c40f", linewidth=4,
                                    animated=True, visible=False, zorder=5)
        limits = self._axes.get_xlim(), self._axes.get_ylim()
        self._axes.add_patch(self._highlight)
        self._axes.set_xlim(limits[0])
        self._axes.set_ylim(limits[1])
        self._place_highlight()
        self._background = None
        self._canvas = FigureCanvasQTAgg(figure)
        self._canvas.setMinimumSize(240, 210)
        self._canvas.mpl_connect("draw_event", self._on_full_draw)
        self._canvas.mpl_connect("button_press_event", self._on_click)
        self._canvas_box.addWidget(self._canvas)

    def _on_full_draw(self, _event) -> None:
        self._background = self._canvas.copy_from_bbox(self._canvas.figure.bbox)
        self._draw_artists()

    def _draw_artists(self) -> None:
        for artist in self._artists.artists:
            self._canvas.figure.draw_artist(artist)
        if self._highlight is not None and self._highlight.get_visible():
            self._canvas.figure.draw_artist(self._highlight)

    def update_metrics(self, metrics: Metrics | None, auc_pending: bool = False) -> None:
        """``auc_pending``: a run is still going; ROC AUC shows once it ends."""
        self.metrics = metrics
        if metrics is None:
            for label in self.value_labels.values():
                label.setText("n/a")
            return
        for spec in METRICS:
            self.value_labels[spec.name].setText(spec.format(getattr(metrics, spec.name)))
        if auc_pending:
            self.value_labels["roc_auc"].setText("after the run")
        self._ensure_canvas()
        if not self._plot_pending:
            # Drawn on a later turn of the event loop: the numbers show at once, input and
            # timers are served in between, and a burst of updates costs one drawing.
            self._plot_pending = True
            QTimer.singleShot(15, self._plot)

    def _plot(self) -> None:
        if not self._plot_pending or self.metrics is None or self._axes is None:
            return
        self._plot_pending = False
        metrics = self.metrics
        self._artists.update(metrics, title=f"t = {metrics.threshold:.4g}, {metrics.n} cells")
        if self._background is None:  # not drawn yet: the first full draw paints the artists
            self._canvas.draw_idle()
            return
        self._canvas.restore_region(self._background)
        self._draw_artists()
        self._canvas.blit(self._canvas.figure.bbox)

    def _on_click(self, event) -> None:
        if event.inaxes is not self._axes or event.xdata is None or event.ydata is None:
            return
        col, row = int(round(event.xdata)), int(round(event.ydata))
        if 0 <= row < 2 and 0 <= col < 2:
            self.cell_clicked.emit(CLASS_NAMES[row], CLASS_NAMES[col])

    def cell_centre(self, truth: str, predicted: str) -> tuple[float, float]:
        """Display (pixel) coordinates of a cell's centre, for tests and accessibility."""
        self._plot()
        x, y = self._axes.transData.transform((CLASS_NAMES.index(predicted), CLASS_NAMES.index(truth)))
        return float(x), float(y)


def _matrix_figure():
    """(figure, axes, artists) of the matrix view."""
    from matplotlib.figure import Figure

    from malaria_gui.engine.plots import ConfusionArtists

    # Fixed margins: a "tight" layout re-measures every text on each draw.
    figure = Figure(figsize=(3.4, 3.0), dpi=90)
    figure.subplots_adjust(left=0.36, right=0.97, top=0.90, bottom=0.22)
    axes = figure.add_subplot()
    # Axes, ticks and labels are drawn once (and on resize) and kept as a background;
    # updates redraw only the cells and the title over it, ~10x cheaper than a full draw.
    artists = ConfusionArtists(axes, animated=True)
    artists.title.set_fontsize(9)
    axes.tick_params(labelsize=8)
    return figure, axes, artists

"""Matplotlib drawings shared by the window (on a Qt canvas) and training (saved as PNG).

They draw on an Axes they are given and import no backend, so the engine stays Qt-free.
"""

from __future__ import annotations

from malaria_gui.engine.labels import CLASS_NAMES
from malaria_gui.engine.metrics import Metrics


class ConfusionArtists:
    """The parts of a confusion-matrix drawing that change with the numbers.

    The window keeps one and updates it as results stream in (redrawing only these, over a
    saved background); a one-off figure (a report, a training plot) draws it once.
    """

    def __init__(self, ax, animated: bool = False) -> None:
        import numpy as np

        ax.clear()
        self.image = ax.imshow(np.zeros((2, 2)), cmap="Blues", vmin=0, vmax=1, animated=animated)
        self.texts = [[ax.text(j, i, "", ha="center", va="center", fontsize=11, animated=animated)
                       for j in range(2)] for i in range(2)]
        self.title = ax.set_title("", animated=animated)
        ax.set_xticks([0, 1], labels=list(CLASS_NAMES))
        ax.set_yticks([0, 1], labels=list(CLASS_NAMES))
        ax.set_xlabel("Predicted")
        ax.set_ylabel("True")

    @property
    def artists(self) -> list:
        return [self.image, self.title, *self.texts[0], *self.texts[1]]

    def update(self, metrics: Metrics, title: str | None = None) -> None:
        """Counts and row percentages in each cell, rows the true class."""
        import numpy as np

        cm = np.asarray(metrics.confusion)
        rows = cm.sum(axis=1, keepdims=True)
        share = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
        self.image.set_data(share)
        for i in range(2):
            for j in range(2):
                text = self.texts[i][j]
                text.set_text(f"{cm[i, j]}\n{100 * share[i, j]:.1f}%")
                text.set_color("white" if share[i, j] > 0.5 else "black")
        self.title.set_text(title or f"Threshold {metrics.threshold:.2f}, {metrics.n} cells")


def draw_confusion(ax, metrics: Metrics, title: str | None = None) -> None:
    """A 2x2 matrix, rows the true class, with counts and row percentages in each cell."""
    ConfusionArtists(ax).update(metrics, title)


def draw_history(axes, history: dict[str, list[float]]) -> None:
    """Accuracy and loss per epoch, training beside validation, on two Axes."""
    for ax, key in zip(axes, ("accuracy", "loss")):
        ax.clear()
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style,
                        label="validation patients" if prefix else "training patients")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()


def save_figure(path, draw, size=(5, 4)) -> None:
    """Draw with ``draw(figure)`` on a backend-free Figure and save it as PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="tight")
    draw(figure)
    figure.savefig(path)

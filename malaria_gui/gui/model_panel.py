"""What the window says about the model: the card dialog (what the model is, what it was
trained on, how well it did) and the banner shown when no model could be loaded."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QTextBrowser, QVBoxLayout, QWidget

from malaria_gui import __version__
from malaria_gui.engine.metrics import METRIC_BY_NAME
from malaria_gui.gui.scoring_process import ModelInfo
from malaria_gui.gui.session import Session
from malaria_gui.resources import card_path_for


def _card_value(key: str, value) -> str:
    spec = METRIC_BY_NAME.get(key)
    if spec is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return spec.format(float(value))
    return html.escape(str(value))


def _code(text: str) -> str:
    """Escaped, with `commands` set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def plain_words_html(info: ModelInfo) -> str:
    """The card for technicians first (engine.card_text): what the model is for, its figures
    in plain words, its limits; the technical card follows below it."""
    from malaria_gui.engine.card_text import card_sections

    card = {"name": info.name, "version": info.version, **(info.card or {})}
    parts = []
    for heading, body in card_sections(card):
        if heading == "Technical card":
            continue  # shown below, with tables
        paragraphs = body.split("\n")
        items = [p[2:] for p in paragraphs if p.startswith("- ")]
        text = "".join(f"<p>{_code(p)}</p>" for p in paragraphs if not p.startswith("- "))
        if items:
            text += "<ul>" + "".join(f"<li>{_code(i)}</li>" for i in items) + "</ul>"
        parts.append(f"<h3>{html.escape(heading)}</h3>{text}")
    return "".join(parts)


def card_html(info: ModelInfo | None) -> str:
    """The card as readable HTML: plain words first, then the technical card; tolerant of
    missing keys (an older or hand-made card)."""
    if info is None:
        return "<p>No model is loaded.</p>"
    card = info.card or {}
    e = html.escape
    parts = [plain_words_html(info), "<hr><h2>Technical card</h2>",
             f"<h2>{e(info.name)} <small>version {e(info.version)}</small></h2>",
             f"<p><b>File:</b> {e(info.path)}<br><b>Decision threshold:</b> "
             f"{info.threshold:.3f} (Parasitized when P(Parasitized) &ge; threshold)</p>"]
    if not card:
        parts.append("<p><i>This model has no card (NAME.card.json beside it): nothing is known about "
                     "its training or accuracy.</i></p>")
        return "".join(parts)
    arch = card.get("architecture")
    if isinstance(arch, dict):
        parts.append("<h3>Architecture</h3><p>" + "<br>".join(
            f"<b>{e(str(k))}:</b> {e(str(v))}" for k, v in arch.items()) + "</p>")
    data = card.get("data")
    if isinstance(data, dict):
        rows = [f"<b>{e(str(k))}:</b> {e(str(v))}" for k, v in data.items()
                if k not in ("sets", "test_patient_ids", "validation_patient_ids")]
        sets = data.get("sets")
        if isinstance(sets, dict):
            rows += [f"<b>{e(str(k))} set:</b> {e(json.dumps(v) if not isinstance(v, str) else v)}"
                     for k, v in sets.items()]
        parts.append("<h3>Training data and split</h3><p>" + "<br>".join(rows) + "</p>")
    metrics = card.get("metrics")
    if isinstance(metrics, dict):
        parts.append("<h3>Metrics</h3>")
        for name, values in metrics.items():
            if isinstance(values, dict) and any(k in values for k in METRIC_BY_NAME):
                cells = "".join(f"<tr><td>{e(METRIC_BY_NAME[k].label if k in METRIC_BY_NAME else k)}</td>"
                                f"<td>{_card_value(k, values[k])}</td></tr>"
                                for k in (*METRIC_BY_NAME, "n", "threshold") if k in values)
                parts.append(f"<p><b>{e(name.replace('_', ' '))}</b></p><table cellpadding=2>{cells}</table>")
    training = card.get("training")
    if isinstance(training, dict):
        parts.append("<h3>Training</h3><p>" + "<br>".join(
            f"<b>{e(str(k))}:</b> {e(str(v))}" for k, v in training.items() if k != "history") + "</p>")
    return "".join(parts)


def plot_paths(info: ModelInfo | None) -> list[Path]:
    """The card's PNG plots that exist beside the model (none, some or all may be missing)."""
    if info is None or not info.path:
        return []
    plots = (info.card or {}).get("plots") or {}
    names = plots.values() if isinstance(plots, dict) else plots if isinstance(plots, list) else []
    folder = card_path_for(info.path).parent
    return [folder / str(n) for n in names if (folder / str(n)).is_file()]


class ModelBanner(QLabel):
    """Shown across the window while no model could be loaded, saying why and what to do."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()
        session.model_failed.connect(self._on_model_failed)
        session.model_changed.connect(self.hide)

    def _on_model_failed(self, message: str) -> None:
        self.setText(f"<b>The model could not be loaded.</b> {html.escape(message)}<br>Files can be listed but "
                     "not scored. Use File &gt; Load another model..., or start with "
                     "<code>malaria-gui --model FILE.keras</code>.")
        self.show()


class ModelCardDialog(QDialog):
    def __init__(self, info: ModelInfo | None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card - malaria-gui {__version__}")
        self.resize(760, 640)
        layout = QVBoxLayout(self)
        text = QTextBrowser()
        text.setObjectName("card_text")
        text.setHtml(card_html(info))
        layout.addWidget(text, 3)  # the words first and largest; the plots below
        self.plot_labels: list[QLabel] = []
        paths = plot_paths(info)
        if paths:
            box = QWidget()
            box_layout = QVBoxLayout(box)
            for path in paths:
                label = QLabel()
                pixmap = QPixmap(str(path))
                if pixmap.isNull():
                    label.setText(f"(cannot show {path.name})")
                else:
                    label.setPixmap(pixmap.scaledToWidth(min(700, pixmap.width()),
                                                         Qt.TransformationMode.SmoothTransformation))
                self.plot_labels.append(label)
                box_layout.addWidget(label)
            scroll = QScrollArea()
            scroll.setWidget(box)
            scroll.setWidgetResizable(True)
            layout.addWidget(scroll, 2)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

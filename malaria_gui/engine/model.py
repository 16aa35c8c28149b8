"""The model wrapper: loads a ``.keras`` file safely and turns raw batches into P(Parasitized).

Keras is imported only when a model is loaded, so the GUI window and ``--help`` appear at
once. One :class:`Classifier` must be used from one thread at a time (Keras ``predict`` is
not thread-safe); the GUI gives it to a single long-lived worker.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from malaria_gui.resources import card_path_for, default_model_path

DEFAULT_THRESHOLD = 0.5


class ModelError(Exception):
    """The model file is missing, unreadable or not a malaria-gui model."""


@dataclass
class Classifier:
    model: Any
    card: dict = field(default_factory=dict)
    path: Path | None = None
    _forward: Any = field(default=None, repr=False)

    @property
    def input_size(self) -> int:
        return int(self.model.input_shape[1])

    @property
    def threshold(self) -> float:
        return float(self.card.get("threshold", DEFAULT_THRESHOLD))

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.path.stem if self.path else "model"))

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unversioned"))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """P(Parasitized) for a (N, S, S, 3) ``uint8`` batch from :func:`preprocess_batch`."""
        if len(batch) == 0:
            return np.empty((0,), dtype=np.float32)
        forward = self._forward or self.model.predict_on_batch
        out = np.asarray(forward(batch), dtype=np.float32).reshape(len(batch))
        # The network outputs P(class 1) = P(Uninfected); see labels.py.
        return 1.0 - out


def _compiled_forward(model, size: int):
    """On TensorFlow, one traced graph for every batch size: ~12% more cells/s than
    ``predict_on_batch``, whose per-call data-adapter set-up costs as much as a small batch."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    graph = tf.function(lambda x: model(x, training=False),
                        input_signature=[tf.TensorSpec((None, size, size, 3), tf.uint8)])
    # Trace now, while the model loads: tracing holds the GIL for a good fraction of a
    # second, which would otherwise land in the middle of the first batch.
    graph(np.zeros((1, size, size, 3), np.uint8))
    return lambda batch: graph(batch).numpy()


def read_card(model_path: str | os.PathLike[str]) -> dict:
    """The model card beside a model file, or an empty dict when there is none."""
    path = card_path_for(model_path)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {path} is unreadable: {exc}") from None
    if not isinstance(card, dict):
        raise ModelError(f"model card {path} is not a JSON object")
    threshold = card.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ModelError(f"model card {path} has an invalid threshold: {threshold!r}")
    return card


def load_classifier(path: str | os.PathLike[str] | None = None) -> Classifier:
    """Load a model (the bundled one by default) with Keras' safe mode on."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    card = read_card(path)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras

        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file; the user needs one message
        raise ModelError(f"cannot load model {path.name}: {exc}") from None
    shape = getattr(model, "input_shape", None)
    if not shape or len(shape) != 4 or not isinstance(shape[1], int) or shape[1] != shape[2] or shape[3] != 3:
        raise ModelError(f"{path.name} is not a cell classifier (input shape {shape})")
    out_shape = getattr(model, "output_shape", None)
    if not out_shape or len(out_shape) != 2 or out_shape[1] != 1:
        # One sigmoid unit, P(Uninfected); anything else would be misread as a probability.
        raise ModelError(f"{path.name} is not a cell classifier (output shape {out_shape}, expected one unit)")
    return Classifier(model=model, card=card, path=path, _forward=_compiled_forward(model, shape[1]))

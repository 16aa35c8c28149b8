"""The model wrapper: loads a ``.keras`` file safely and turns raw batches into P(Parasitized).

Keras is imported only when a model is loaded, so the GUI window and ``--help`` appear at
once. One :class:`Classifier` must be used from one thread at a time (Keras ``predict`` is
not thread-safe); the GUI gives it to a single long-lived worker.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from malaria_gui.engine.labels import DEFAULT_THRESHOLD
from malaria_gui.resources import card_path_for, default_model_path


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
    def field_threshold(self) -> float:
        """The cut-off for counting a field's cells: a lab model adapted on labelled fields
        has one chosen at the fields' own prevalence (``adapt``); other models use :attr:`threshold`."""
        value = self.card.get("field_threshold")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            return self.threshold
        return float(value)

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.path.stem if self.path else "model"))

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unversioned"))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """P(Parasitized) for a (N, S, S, 3) ``uint8`` batch from :func:`preprocess_batch`."""
        return self.predict_with_features(batch)[0]

    def predict_with_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """P(Parasitized) and the penultimate features (what engine/ood.py compares) of a
        batch, from one forward pass; features are None for a network without them."""
        if len(batch) == 0:
            return np.empty((0,), dtype=np.float32), None
        if self._forward is None:
            self._forward = _plain_forward(self.model)
        out, feats = self._forward(batch)
        # The network outputs P(class 1) = P(Uninfected); see labels.py.
        return 1.0 - np.asarray(out, dtype=np.float32).reshape(len(batch)), feats


MAX_BATCH = 256


def _two_outputs(model):
    """The network with a second output, its last layer's input (the pooled features the
    out-of-distribution check describes), or None when that cannot be built."""
    import keras

    try:
        return keras.Model(model.inputs, [model.outputs[0], model.layers[-1].input])
    except Exception:  # a network without a single last layer: P alone
        return None


def _plain_forward(model):
    """Any backend: one ``predict_on_batch`` per batch, of both outputs where there are two."""
    dual = _two_outputs(model)
    if dual is None:
        return lambda batch: (model.predict_on_batch(batch), None)

    def forward(batch: np.ndarray):
        out, feats = dual.predict_on_batch(batch)
        return out, np.asarray(feats, dtype=np.float64)

    return forward


XLA_CACHE_ENV = "MALARIA_GUI_XLA_CACHE"  # a folder for compiled programs, or "0" for none


def _xla_cache_dir() -> Path | None:
    """Where compiled XLA programs are kept between runs: the user's cache folder."""
    value = os.environ.get(XLA_CACHE_ENV, "")
    if value.lower() in ("0", "off", "no", "false"):
        return None
    if value:
        return Path(value)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "malaria-gui" / "xla"


def _use_compilation_cache() -> None:
    """JAX's persistent compilation cache: a later run loads the forward programs from disk
    instead of compiling them again. Every program is kept (ours compile in well under a
    second, below JAX's default threshold). An unwritable folder only means no cache."""
    import jax

    folder = _xla_cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return  # switched off, or the user chose a folder for JAX already
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _compiled_forward(model, size: int, warm: int = MAX_BATCH):
    """On JAX, one compiled XLA program per padded batch size (powers of two up to
    ``MAX_BATCH``): ~2.5x faster than ``predict_on_batch``, whose per-call set-up costs as
    much as a small batch, and a few shapes keep recompiling (~0.3 s each) rare. The program
    returns P and the penultimate features together: the features cost nothing extra (the
    network computes them anyway), so the out-of-distribution check needs no second pass."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    dual = _two_outputs(model)
    if dual is None:
        program = jax.jit(lambda x: (model(x, training=False), None))
    else:
        program = jax.jit(lambda x: tuple(dual(x, training=False)))

    def forward(batch: np.ndarray):
        outs, feats = [], []
        for start in range(0, len(batch), MAX_BATCH):
            part = batch[start:start + MAX_BATCH]
            padded = min(MAX_BATCH, max(16, 1 << (len(part) - 1).bit_length()))
            if padded != len(part):
                part = np.concatenate([part, np.zeros((padded - len(part), *part.shape[1:]), part.dtype)])
            out, feat = program(part)
            n = min(MAX_BATCH, len(batch) - start)
            outs.append(np.asarray(out)[:n])
            if feat is not None:
                feats.append(np.asarray(feat, dtype=np.float64)[:n])
        return np.concatenate(outs), (np.concatenate(feats) if feats else None)

    # Compile the program of the first batch now, while the model loads, not in that batch.
    if warm > 0:
        forward(np.zeros((min(warm, MAX_BATCH), size, size, 3), np.uint8))
    return forward


def _import_keras():
    """Import Keras without letting it import scikit-learn (for its scikit-learn wrappers) or
    matplotlib (for its plotting helpers), both unused here: 2.3 s and 0.5 s of the import,
    paid before the first cell could be scored. Both stay importable afterwards (the metrics
    and the plots import them when they need them)."""
    if "keras" in sys.modules:
        import keras

        return keras
    blocked = [name for name in _NOT_FOR_KERAS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # makes `import name` raise ImportError, which Keras allows
    try:
        import keras
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return keras


_NOT_FOR_KERAS = ("sklearn", "matplotlib")


def _load_keras_model(path: Path):
    """``keras.saving.load_model`` with safe mode, minus the random initialisation of
    weights that the file then overwrites: on JAX every initialiser shape is an XLA
    compilation, ~5 s of a 5.5 s load. The architecture is rebuilt from the file's config in
    safe mode without initialising, then the file's weights are assigned."""
    import zipfile

    keras = _import_keras()
    if keras.backend.backend() == "jax":
        _use_compilation_cache()  # before anything compiles: JAX decides on its cache once
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
            with keras.StatelessScope(initialize_variables=False):
                model = keras.saving.deserialize_keras_object(config, safe_mode=True)
            model.load_weights(path)
            _initialize_deferred_variables()
            if all(getattr(v, "_value", None) is not None for v in model.variables):
                return model
        except Exception:  # anything odd: Keras' own loader decides, and words the error
            _initialize_deferred_variables(drop=True)
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _initialize_deferred_variables(drop: bool = False) -> None:
    """Keras lists the variables made in a StatelessScope, to initialise them when a scope
    ends; those that now hold the file's weights must leave that list (initialising them
    again raises), the rest (e.g. a dropout seed) are initialised as Keras would. No public
    API does this; the fallback to ``load_model`` covers a Keras that moves it."""
    from keras.src.backend.common import global_state
    from keras.src.backend.common.variables import initialize_all_variables

    pending = global_state.get_global_attribute("uninitialized_variables") or []
    rest = [] if drop else [v for v in pending if getattr(v, "_value", None) is None]
    global_state.set_global_attribute("uninitialized_variables", rest)
    initialize_all_variables()


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


def load_classifier(path: str | os.PathLike[str] | None = None, *, first_batch: int = MAX_BATCH) -> Classifier:
    """Load a model (the bundled one by default) with Keras' safe mode on. On JAX the program
    for a batch of ``first_batch`` cells is compiled (or read from the cache) during the load:
    ``classify`` of a few files need not compile the full-batch one (0: none)."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    card = read_card(path)
    try:
        model = _load_keras_model(path)
    except Exception as exc:  # Keras raises many types for a bad file; the user needs one message
        raise ModelError(f"cannot load model {path.name}: {exc}") from None
    shape = getattr(model, "input_shape", None)
    if not shape or len(shape) != 4 or not isinstance(shape[1], int) or shape[1] != shape[2] or shape[3] != 3:
        raise ModelError(f"{path.name} is not a cell classifier (input shape {shape})")
    out_shape = getattr(model, "output_shape", None)
    if not out_shape or len(out_shape) != 2 or out_shape[1] != 1:
        # One sigmoid unit, P(Uninfected); anything else would be misread as a probability.
        raise ModelError(f"{path.name} is not a cell classifier (output shape {out_shape}, expected one unit)")
    return Classifier(model=model, card=card, path=path, _forward=_compiled_forward(model, shape[1], first_batch))

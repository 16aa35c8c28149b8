"""Out-of-distribution check: do a run's cells look like the cells the model learned from?

A model's card stores a compact description of its training (or adaptation) cells: colour
statistics per cell (mean, spread and darkest pixels of the cell, the share of the frame it
fills) with their covariance, and the network's penultimate features (the pooled activations
the last layer reads) reduced by PCA, each with how far the training cells themselves lie
from their centre. While a run is scored, a bounded uniform sample of its cells
(:class:`OODSample`, filled from the decoded batches and the same forward pass that gives
the probabilities: no file is read twice) is described the same way; when their median
distance is several times the training cells' own, the model is being asked about cells
unlike those it learned from, and its probabilities deserve less trust.
The network was trained to ignore stain and framing, so its features alone hardly move
under another lab's look; the colour statistics do.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

OOD_KEY = "ood"
COMPONENTS = 10
# A run is "unlike" when its median distance exceeds these multiples of the training cells'
# median. Calibrated with tools/ood_card.py on NIH test patients (colour 1.1 / features 0.9),
# their colour-shifted copy (5.0 / 1.0), which must stay quiet, and another lab's crops
# (MP-IDB: 8-14 / 1.2-1.3 by sample) and a strong stain/framing shift (125 / 2.0), which should warn.
COLOUR_FACTOR = 6.5
FEATURE_FACTOR = 1.6
MIN_CELLS = 20  # below this a run's median says too little to warn about
# Below this a description is too narrow to judge by: 100 adaptation cells from 4 patients
# put the *same* lab's other patients at a colour ratio of 40 (features 7.4). Such cards keep
# their description (a later, larger adaptation may replace it) but never warn.
MIN_DESCRIBED = 1000
SAMPLE = 512  # cells a run keeps for the check (10 colour figures and ~20-100 features each)
WARNING = ("these cells look unlike the cells this model was trained on: "
           "check a labelled sample, or adapt the model")


def feature_model(model):
    """The network up to its last layer's input (global pooling for the compact network)."""
    import keras

    return keras.Model(model.input, model.layers[-1].input)


_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its compiled feature program


def features(model, batch: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Penultimate features of a preprocessed (N, S, S, 3) uint8 batch, in zero-padded
    batches of one shape (one compiled program; eager calls cost ~3x on two cores)."""
    run = _COMPILED.get(model)
    if run is None:
        import keras

        extract = feature_model(model)
        run = lambda x: extract(x, training=False)  # noqa: E731
        if keras.backend.backend() == "jax":
            import jax

            run = jax.jit(run)
        _COMPILED[model] = run
    out = []
    for start in range(0, len(batch), batch_size):
        part = batch[start:start + batch_size]
        padded = np.zeros((batch_size, *batch.shape[1:]), batch.dtype)
        padded[: len(part)] = part
        out.append(np.asarray(run(padded), dtype=np.float64)[: len(part)])
    return np.concatenate(out) if out else np.empty((0, model.layers[-1].input.shape[-1]))


def colour_stats(batch: np.ndarray) -> np.ndarray:
    """Per cell: mean and spread of R, G, B over the cell (pixels brighter than the black
    mask), the darkest 5% of it (stained parasites, nuclei), and the share of the frame it
    fills. The network is trained to ignore stain and framing, so its features hardly move
    under them; these do.

    Sums over a cell's pixels are matrix products and its grey levels (R + G + B, which
    orders pixels as their mean does) small integers: ~10x faster than reducing float
    arrays along the colour axis, which the scoring pass could not afford."""
    n = len(batch)
    x = batch.reshape(n, -1, 3)
    pixels = x.shape[1]
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    mask = np.maximum(np.maximum(r, g), b) >= 12
    mask[mask.sum(axis=1) < 8] = True  # an all-dark image: use every pixel
    count = mask.sum(axis=1)
    xf = x.astype(np.float32)
    weights = mask.astype(np.float32)[:, None, :]
    mean = np.matmul(weights, xf)[:, 0].astype(np.float64) / count[:, None]
    square = np.matmul(weights, xf * xf)[:, 0].astype(np.float64) / count[:, None]
    std = np.sqrt(np.maximum(square - mean ** 2, 0.0))
    grey = r.astype(np.int16) + g + b
    ranked = np.sort(np.where(mask, grey, np.int16(1000)), axis=1)
    k = np.maximum(1, (0.05 * count).astype(int)) - 1  # the k-th darkest pixel (from 0) sets the cut
    dark = mask & (grey <= ranked[np.arange(n), k][:, None])
    darkest = np.matmul(dark.astype(np.float32)[:, None, :], xf)[:, 0].astype(np.float64) / dark.sum(axis=1)[:, None]
    return np.concatenate([mean, std, darkest, 100.0 * count[:, None] / pixels], axis=1)


def _colour_distances(desc: dict, stats: np.ndarray) -> np.ndarray:
    """Mean squared whitened distance per cell (Mahalanobis / dimensions)."""
    centred = stats - np.asarray(desc["mean"])
    white = centred @ np.asarray(desc["whitening"]).T
    return np.mean(white ** 2, axis=1)


def describe_colour(stats: np.ndarray) -> dict:
    from sklearn.covariance import LedoitWolf

    cov = LedoitWolf().fit(stats).covariance_
    values, vectors = np.linalg.eigh(cov)
    whitening = (vectors / np.sqrt(np.maximum(values, 1e-9))).T
    desc = {"mean": np.round(stats.mean(axis=0), 4).tolist(), "whitening": np.round(whitening, 6).tolist()}
    desc["reference_median"] = float(np.median(_colour_distances(desc, stats)))
    return desc


def _distances(desc: dict, feats: np.ndarray) -> np.ndarray:
    """Per cell: mean squared standardised PCA coordinate plus the relative residual off the PCA plane."""
    mean = np.asarray(desc["mean"])
    comps = np.asarray(desc["components"])
    scale = np.asarray(desc["scale"])
    centred = feats - mean
    coords = centred @ comps.T
    inside = np.mean((coords / scale) ** 2, axis=1)
    residual = np.sum(centred ** 2, axis=1) - np.sum(coords ** 2, axis=1)
    return inside + np.maximum(residual, 0.0) / desc["residual_scale"]


def describe_features(feats: np.ndarray, components: int = COMPONENTS) -> dict:
    """PCA of the penultimate features with each component's spread and the residual's."""
    from sklearn.decomposition import PCA

    feats = np.asarray(feats, dtype=np.float64)
    k = int(max(1, min(components, len(feats) // 5, feats.shape[1])))
    pca = PCA(n_components=k, random_state=0).fit(feats)
    centred = feats - pca.mean_
    coords = centred @ pca.components_.T
    residual = np.maximum(np.sum(centred ** 2, axis=1) - np.sum(coords ** 2, axis=1), 0.0)
    desc = {
        "mean": np.round(pca.mean_, 6).tolist(),
        "components": np.round(pca.components_, 6).tolist(),
        "scale": np.round(np.sqrt(np.maximum(pca.explained_variance_, 1e-12)), 6).tolist(),
        "residual_scale": float(max(np.median(residual), 1e-12)),
    }
    desc["reference_median"] = float(np.median(_distances(desc, feats)))
    return desc


def describe(model, batch: np.ndarray) -> dict:
    """The card's description of the cells in a preprocessed batch (JSON-ready, ~30 kB)."""
    return {
        "method": "per cell: colour statistics (Ledoit-Wolf Mahalanobis) and the network's penultimate "
                  "features (PCA); a run is unlike when its median distance exceeds factor x the training cells'",
        "cells": int(len(batch)),
        "colour": describe_colour(colour_stats(batch)) | {"factor": COLOUR_FACTOR},
        "features": describe_features(features(model, batch)) | {"factor": FEATURE_FACTOR},
    }


@dataclass(frozen=True)
class OODCheck:
    """The outcome of comparing a run's cells with a model's description."""

    cells: int
    colour_ratio: float  # run's median distance / training cells' median, colour statistics
    feature_ratio: float  # the same for the network's features
    colour_factor: float = COLOUR_FACTOR
    feature_factor: float = FEATURE_FACTOR

    @property
    def unlike(self) -> bool:
        return self.cells >= MIN_CELLS and (self.colour_ratio > self.colour_factor
                                            or self.feature_ratio > self.feature_factor)

    def message(self) -> str | None:
        """The warning line for a summary or the window, or None when the cells look familiar."""
        return WARNING if self.unlike else None


def compare(desc: dict, batch: np.ndarray, model) -> OODCheck:
    """How far a run's cells (a preprocessed batch) lie from the described training cells."""
    return compare_stats(desc, colour_stats(batch), features(model, batch))


def compare_stats(desc: dict, colour: np.ndarray, feats: np.ndarray) -> OODCheck:
    """As :func:`compare`, from cells' colour statistics and penultimate features, row for row."""
    colour = _colour_distances(desc["colour"], colour)
    feats = _distances(desc["features"], feats)
    return OODCheck(
        cells=int(len(colour)),
        colour_ratio=float(np.median(colour) / desc["colour"]["reference_median"]) if len(colour) else 0.0,
        feature_ratio=float(np.median(feats) / desc["features"]["reference_median"]) if len(feats) else 0.0,
        colour_factor=float(desc["colour"].get("factor", COLOUR_FACTOR)),
        feature_factor=float(desc["features"].get("factor", FEATURE_FACTOR)),
    )


def usable_description(card: dict) -> dict | None:
    """The card's description when it is one to judge by (MIN_DESCRIBED cells or more), else None."""
    desc = card.get(OOD_KEY)
    if not isinstance(desc, dict) or "colour" not in desc or desc.get("cells", 0) < MIN_DESCRIBED:
        return None
    return desc


class OODSample:
    """A uniform sample of at most ``size`` of a run's scored cells, kept while it is scored.

    Reservoir sampling (Algorithm R): every cell offered has the same chance to be in the
    sample, however many there are, and memory stays at ``size`` cells (their prepared pixels,
    ~6 MB at 64 px, and features). The pixels are those the model was given; the features
    come from the same forward pass (:meth:`Classifier.predict_with_features`). Colour
    statistics are computed once, for the cells in the sample when it is judged (~40 ms for
    512), not for the ~3x as many that pass through it in a long run. Not thread-safe: the
    scorer's consuming thread alone adds to it.
    """

    def __init__(self, size: int = SAMPLE, seed: int = 0) -> None:
        self.size = int(size)
        self.seen = 0  # cells offered so far
        self._rng = np.random.default_rng(seed)
        self._pixels: np.ndarray | None = None
        self._features: np.ndarray | None = None
        self._colour: np.ndarray | None = None  # statistics of the current sample, once asked for

    def __len__(self) -> int:
        return min(self.seen, self.size) if self._pixels is not None else 0

    @property
    def colour(self) -> np.ndarray:
        """The sampled cells' colour statistics (:func:`colour_stats`), one row per cell."""
        if self._pixels is None:
            return np.empty((0, 10))
        if self._colour is None:
            self._colour = colour_stats(self._pixels[: len(self)])
        return self._colour

    @property
    def features(self) -> np.ndarray:
        """The sampled cells' penultimate features, row for row with :attr:`colour`."""
        return self._features[: len(self)] if self._features is not None else np.empty((0, 0))

    def add(self, batch: np.ndarray, feats: np.ndarray | None) -> None:
        """Offer a batch of prepared cells (N, S, S, 3) with their features (N, F), row for row."""
        n = len(batch)
        if n == 0 or feats is None or len(feats) != n:
            return
        if self._pixels is not None and (batch.shape[1:] != self._pixels.shape[1:]
                                         or feats.shape[1:] != self._features.shape[1:]):
            return  # another model's cells: they cannot join this sample
        t = self.seen + np.arange(n)
        slot = t.copy()
        late = t >= self.size
        if late.any():
            slot[late] = self._rng.integers(0, t[late] + 1)
        rows = np.flatnonzero(slot < self.size)
        # Two rows of one batch drawn into the same slot: the later one stays, as one by one.
        _, last = np.unique(slot[rows][::-1], return_index=True)
        rows = rows[::-1][last]
        if rows.size:
            if self._pixels is None:
                self._pixels = np.zeros((self.size, *batch.shape[1:]), np.uint8)
                self._features = np.zeros((self.size, feats.shape[1]))
            self._pixels[slot[rows]] = batch[rows]
            self._features[slot[rows]] = feats[rows]
            self._colour = None
        self.seen += n

    def check(self, card: dict) -> OODCheck | None:
        """The sample against a model card's description; None when the card has none to judge
        by (see :func:`usable_description`) or fewer than MIN_CELLS cells were scored."""
        desc = usable_description(card)
        n = len(self)
        if desc is None or n < MIN_CELLS:
            return None
        return compare_stats(desc, self.colour, self.features)

"""Where the model looked: occlusion sensitivity of one cell's P(Parasitized).

A reviewer trusts a call faster when the part of the cell that made it is shown: a ring in
the cytoplasm, or a platelet at the rim the model mistook for one. Occlusion asks the model
itself: each square patch of the cell is painted over with the cell's own plain colour (its
median, so the patch looks like cytoplasm, not like a black hole the model never saw inside
a cell) and the drop in P(Parasitized) is credited to the patch's pixels. It needs only the
classifier's ``predict`` (any backend, any network, no gradients), one batch per cell: ~200
64 px variants, tens of ms on a CPU. Runs where the model lives (the scoring process).
"""

from __future__ import annotations

import numpy as np

PATCH = 0.2  # patch side, as a share of the network's input side
STRIDE = 0.0625  # step between patches, likewise (patches overlap, so the map is smooth)


def occlusion_map(predict, image: np.ndarray, patch: float = PATCH, stride: float = STRIDE) -> tuple[np.ndarray, float]:
    """(map, P) for one prepared cell (S x S x 3 ``uint8``, as the network takes it).

    ``map`` is S x S float32 in [0, 1]: how much hiding each pixel lowers P(Parasitized),
    scaled by the largest drop (all zeros when hiding nothing lowers it). ``predict`` takes an
    (N, S, S, 3) ``uint8`` batch and returns N probabilities.
    """
    if image.ndim != 3 or image.shape[0] != image.shape[1] or image.shape[2] != 3:
        raise ValueError(f"expected a square RGB cell, got {image.shape}")
    size = image.shape[0]
    side = max(2, int(round(patch * size)))
    step = max(1, int(round(stride * size)))
    inside = image.max(axis=2) > 8  # the cell; the black outside its outline is not occluded
    fill = np.median(image[inside], axis=0).astype(np.uint8) if inside.any() else np.zeros(3, np.uint8)
    starts = list(range(0, size - side + 1, step))
    if starts[-1] != size - side:
        starts.append(size - side)
    boxes = [(y, x) for y in starts for x in starts]
    batch = np.repeat(image[None], len(boxes) + 1, axis=0)
    for k, (y, x) in enumerate(boxes, start=1):
        window = batch[k, y:y + side, x:x + side]
        window[inside[y:y + side, x:x + side]] = fill
    p = np.asarray(predict(batch), dtype=np.float64)
    base, drops = float(p[0]), np.clip(p[0] - p[1:], 0.0, None)
    heat = np.zeros((size, size), np.float64)
    cover = np.zeros((size, size), np.float64)
    for (y, x), d in zip(boxes, drops):
        heat[y:y + side, x:x + side] += d
        cover[y:y + side, x:x + side] += 1.0
    heat /= np.maximum(cover, 1.0)
    heat[~inside] = 0.0
    top = heat.max()
    return (heat / top if top > 0 else heat).astype(np.float32), base


def overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """The cell with the map laid over it in yellow-red (for the preview and the queue)."""
    import cv2

    colour = cv2.applyColorMap((255 * heat).astype(np.uint8), cv2.COLORMAP_HOT)[:, :, ::-1]
    alpha = (strength * heat)[..., None]
    if colour.shape[:2] != image.shape[:2]:
        colour = cv2.resize(colour, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha[..., 0], image.shape[1::-1], interpolation=cv2.INTER_LINEAR)[..., None]
    return np.clip(image * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)

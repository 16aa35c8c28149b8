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
    heat, p, _drop = occlusion(predict, image, patch, stride)
    return heat, p


def occlusion(predict, image: np.ndarray, patch: float = PATCH, stride: float = STRIDE) -> tuple[np.ndarray, float, float]:
    """As :func:`occlusion_map`, plus the largest drop in P that hiding one patch caused
    (what the window says the reddest part is worth)."""
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
    return (heat / top if top > 0 else heat).astype(np.float32), base, float(drops.max(initial=0.0))


def overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """The cell with the map laid over it in yellow-red (for the preview and the queue)."""
    import cv2

    colour = cv2.applyColorMap((255 * heat).astype(np.uint8), cv2.COLORMAP_HOT)[:, :, ::-1]
    alpha = (strength * heat)[..., None]
    if colour.shape[:2] != image.shape[:2]:
        colour = cv2.resize(colour, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha[..., 0], image.shape[1::-1], interpolation=cv2.INTER_LINEAR)[..., None]
    return np.clip(image * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


# ---- one row's explanation (the scoring process asks these; Qt-free) -------------------------
EXPLAIN_SIDE = 320  # long side of the overlay sent to the window: the review queue shows cells 320 px


def explain_crop(predict, crop: np.ndarray, size: int,
                 side: int = EXPLAIN_SIDE) -> tuple[np.ndarray, float, float]:
    """(overlay, P, largest drop) for a cell crop of any shape: the map is made on the cell as
    the network takes it (:func:`~malaria_gui.engine.preprocess.prepare`, as scoring does, so
    P is the row's P) and laid over the crop at its own aspect ratio, its long side ``side``
    px (the network's view is the crop stretched square, so the map is stretched back with it)."""
    import cv2

    from malaria_gui.engine.preprocess import prepare

    cell = prepare(crop, size)
    heat, p, drop = occlusion(predict, cell)
    if heat.any():  # smoothed over one patch step, so the screen shows no staircase of patches
        heat = cv2.GaussianBlur(heat, (0, 0), STRIDE * size) * (cell.max(axis=2) > 8)
        heat = (heat / heat.max()).astype(np.float32)
    h, w = crop.shape[:2]
    scale = side / max(h, w)
    shown = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return overlay(shown, heat), p, drop


def field_cell_crop(cells, box: tuple[int, int, int, int]) -> np.ndarray:
    """The crop the classifier scored for the field cell whose box is ``box``, among ``cells``
    (:attr:`~malaria_gui.engine.fields.FieldObjects.cells` of the field found again: the
    segmentation is deterministic, so the box matches exactly; the best overlap of at least
    half is taken otherwise). Raises ImageError when no cell there is found any more."""
    from malaria_gui.engine.decoding import ImageError

    box = tuple(int(v) for v in box)
    best, best_iou = None, 0.5
    for c in cells:
        if (c.x, c.y, c.width, c.height) == box:
            return c.crop
        iou = _iou((c.x, c.y, c.width, c.height), box)
        if iou >= best_iou:
            best, best_iou = c, iou
    if best is None:
        raise ImageError("this cell is not found in the field any more (was the image changed?)")
    return best.crop


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0

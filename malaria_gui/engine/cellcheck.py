"""Does a decoded image look like one red-cell crop? A cheap check run before scoring.

The model only knows single-cell crops. A whole-field photo, a montage of cells or an
empty/noisy picture still gets a P(Parasitized), and that number means nothing; this check
lets the result carry a warning instead of passing silently for a cell.

How: the image is shrunk to at most 64 px (about 1 ms in all), split into cell and
background (a cut-out cell on black: all that is not black; otherwise Otsu on grey levels,
background = the side the border mostly shows), and the
foreground is measured: the share of the largest blob, how many blobs there are, how
many separate cores its distance transform holds (touching cells) and how ragged its
outline is. Thresholds were set on real data: every one of 22,305 NIH cells and 1,016
MP-IDB crops sits well inside them (see ``bench/cellcheck.py`` for the rates).
"""

from __future__ import annotations

import cv2
import numpy as np

CHECK_SIZE = 64  # long side the check works at (a cell in a 640 px field is still ~6 px)
MAX_CELL_SIDE = 1000  # px: no single-cell crop seen is near this; camera fields are
MIN_CONTRAST = 4  # grey-level standard deviation below which a picture is blank
MIN_LARGEST = 0.10  # share of the image the largest blob covers in a crop (NIH min 0.36)
MAX_BLOBS = 4  # blobs of >= 0.4% of the image (NIH max 2, MP-IDB max 4)
MAX_CORES = 3  # distance-transform cores of the largest blob (NIH and MP-IDB max 2)
MAX_RAGGEDNESS = 4.5  # perimeter^2 / (4 pi area) of the largest blob (NIH max 3.4, MP-IDB 2.9)

BLACK = 20  # grey level below which a pixel is the black mask around a cut-out cell
_KERNEL = np.ones((3, 3), np.uint8)
SMEAR_HINT = "read it as a field with `malaria-gui smear`"


def _foreground(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """A 0/255 mask of what is not background, at most CHECK_SIZE on a side, and the contrast."""
    h, w = rgb.shape[:2]
    scale = CHECK_SIZE / max(h, w)
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    raw = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    contrast = float(cv2.meanStdDev(raw)[1][0, 0])
    edge = np.concatenate([raw[0], raw[-1], raw[:, 0], raw[:, -1]])
    if np.count_nonzero(edge < BLACK) / edge.size >= 0.3:  # as np.mean, without its Python layers
        # A masked crop (NIH, MP-IDB: the cell on black): all that is not black is the cell.
        # Otsu would split the cell's own stain from its parasite when the black is a thin rim.
        _, mask = cv2.threshold(raw, BLACK - 1, 255, cv2.THRESH_BINARY)
    else:
        grey = cv2.GaussianBlur(raw, (3, 3), 0)
        _, mask = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        if border.mean() > 127:  # the border shows background: bright background, dark cells
            mask = 255 - mask
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL), contrast


def single_cell_warning(rgb: np.ndarray) -> str | None:
    """None when ``rgb`` (H, W, 3 uint8, before resizing) looks like one cell, else why not."""
    h, w = rgb.shape[:2]
    if max(h, w) >= MAX_CELL_SIDE:
        return f"much larger than a cell crop ({w} x {h} px): likely a field; {SMEAR_HINT}"
    if min(h, w) < 8:
        return None  # too small to judge; the model sees it as it is
    mask, contrast = _foreground(rgb)
    if contrast < MIN_CONTRAST:
        return "no cell found (blank or nearly uniform image)"
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4, ltype=cv2.CV_16U)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if areas.size == 0:
        return "no cell found (blank or nearly uniform image)"
    blobs = int(np.count_nonzero(areas >= 0.004 * mask.size))
    k = int(areas.argmax())
    largest_area = int(areas[k])
    if largest_area < MIN_LARGEST * mask.size:
        if blobs >= 3:
            return f"not one cell: {blobs} separate small objects (a field, a montage or noise); {SMEAR_HINT}"
        return f"no single cell found, only small specks (a field, debris or noise); {SMEAR_HINT}"
    if blobs >= MAX_BLOBS:
        return f"not one cell: {blobs} separate objects; {SMEAR_HINT}"
    k += 1  # the label (0 is the background)
    x, y, bw, bh = stats[k, :4]
    largest = cv2.copyMakeBorder((labels[y:y + bh, x:x + bw] == k).astype(np.uint8), 1, 1, 1, 1,
                                 cv2.BORDER_CONSTANT, value=0)  # its box with a 1 px rim
    dist = cv2.distanceTransform(largest, cv2.DIST_L2, 3)
    _, core_labels = cv2.connectedComponents((dist >= 0.6 * cv2.minMaxLoc(dist)[1]).astype(np.uint8))
    core_areas = np.bincount(core_labels.ravel())[1:]  # without stats: a quarter of the cost
    cores = int(np.count_nonzero(core_areas >= 0.1 * core_areas.max()))
    if cores >= MAX_CORES:
        return f"not one cell: {cores} touching cells; {SMEAR_HINT}"
    contours, _ = cv2.findContours(largest, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = contours[0] if len(contours) == 1 else max(contours, key=cv2.contourArea)
    ragged = cv2.arcLength(outline, True) ** 2 / (4 * np.pi * float(largest_area))
    if ragged >= MAX_RAGGEDNESS:
        return f"not one cell: the outline of several touching cells; {SMEAR_HINT}"
    return None

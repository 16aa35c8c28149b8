"""Whole smear fields: find the red cells, cut each like a training cell, score, count.

A camera field of a thin smear holds 100-300 red cells. This module finds them (flattened
illumination, Otsu on the green channel, or where that refuses the field on the stain's own
colour direction; distance transform + marker watershed to split touching cells) and sorts
every object found into red cells (counted), white cells (a large solid dark purple nucleus:
counted on their own), clumps of touching cells (split again, finer or at each cell's pale
centre, when every piece is a cell's size; else left out) and other objects (cells cut by the
border or crossed by a fibre, platelets and specks smaller than a cell, debris far darker
than one, burnt-in scale bars and text that are not cell-coloured). It trims what sticks out
of each cell's outline (a platelet lying against it), cuts each cell as the NIH cells were cut
(its bounding box, black outside its mask) and scores the crops through the classifier. Every
size is derived from the field itself (the typical cell radius from the distance-transform
peaks), so any camera and magnification works. Qt-free: the window and the CLI share it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from malaria_gui.engine.decoding import ImageError, decode
from malaria_gui.engine.labels import NOT_A_FIELD, PARASITIZED, UNINFECTED, is_refusal, refusal  # noqa: F401 (re-exported)
from malaria_gui.engine.model import Classifier
from malaria_gui.engine.preprocess import prepare

MIN_CELLS = 5  # fewer red cells than this is a crop or a photo, not a field to count
WORK_RADIUS = 11.0  # the typical cell radius (px) the segmentation works at; never upscaled
MIN_WORK_RADIUS = 7.0  # the coarse look is used as it is when cells are at least this large in it
COARSE_SIDE = 400  # long side of the first, coarse look that measures the cells
MIN_RADIUS_PX = 6.0  # a cell under 12 px across holds no parasite detail to classify
TRIM_DISC = 0.9  # diameter of the disc that trims what sticks out of a cell, in cell radii
MIN_CELL_AREA = 0.5  # of the field's median cell: smaller regions are platelets, debris or pieces of a cell
UNEVEN_LIGHT = 1.3  # a background fit brighter than this times its darkest is fitted again (_flatten)
MIN_DARK_SHARE = 0.03  # Otsu's dark class under this share of a field is marks, not cells (_otsu)
BORDER_AREA = 0.6  # of the median cell: a border-cut cell showing this much of itself is counted
FIBRE_LENGTH = 4.0  # a fibre or scratch runs straight for at least this many cell radii
FIBRE_WIDTH = 1.0  # and is thinner than this many cell radii (a cell is two across)
FIBRE_DEPTH = 0.5  # and darker than the background by this share of the cells' own contrast
FIBRE_ANGLES = 16  # directions tried (11.25 degrees apart)
FIBRE_INSIDE = 0.33  # a cell is crossed when this many radii of fibre width lie inside it, over a radius
MIN_FIELD_SIDE = 160  # the NIH crops are 100-200 px; a camera field is 640 px and up
CLUMP_AREA = 1.4  # of the median cell: a larger region that is not round is touching cells
CLUMP_ROUND_AREA = 2.5  # a region larger than this is touching cells even when round
CLUMP_ELONGATION = 1.35  # major over minor axis beyond which a large region is not one round cell
CLUMP_SOLIDITY = 0.88  # area over hull area under which a large region has a neck between cells
CLUMP_KEEP_AREA = 2.0  # a convex region up to this size that cannot be split stays one cell
CLUMP_KEEP_SOLIDITY = 0.9
ENLARGED_AREA = 4.0  # of the median cell: an unsplittable region up to this size, round and convex, is one enlarged cell
ENLARGED_ELONGATION = 1.45  # about as round as a cell: two cells side by side are longer
ENLARGED_SOLIDITY = 0.955  # and as convex (three cells pressed together stay under it)
PIECE_AREA = (0.45, 1.8)  # of the median cell: what every piece of a split clump must measure
NUCLEUS_DARK = 2.0  # a nucleus pixel absorbs green this many times the median cell's mean
NUCLEUS_MARGIN = 0.35  # and at least this much more optical density
NUCLEUS_AREA = 0.45  # of the median cell: a solid nucleus this large is a white cell's
NUCLEUS_FILL = 0.6  # share of a nucleus blob (after closing its lobes together) truly dark
INK_SHARE = 0.6  # an ink pixel absorbs red and blue at least this share of what it absorbs of green
INK_DARK = 0.5  # and absorbs its darkest channel this much (optical density), twice a cell's green at least
INK_LENGTH = 1.5  # ink lying over cells is a mark when its strokes, grouped, run this many cell radii
INK_LEAVE = 0.15  # a cell with this share of it under ink is left out; with less, the ink is painted out
NEUTRAL = 0.7  # red over green optical density above which a region is not Giemsa-pink

# What a found object is. Red cells are counted; the others are reported, never counted.
RED_CELL = "red cell"
WHITE_CELL = "white cell"
CLUMP = "clump"
OTHER = "other"
BORDER = "cut by the image border (under 60% of a cell in view)"
FIBRE = "crossed by a fibre or scratch"
SMALL = "smaller than a red cell (platelet, speck or piece of a cell)"
DARK = "far darker than the red cells (stain debris, platelet clump)"
OVERLAY = "not cell-coloured: scale bar, text or mark burnt into the image"
UNDER_INK = "under a scale bar, text or other mark that is not stain"
UNSPLIT = "touching cells that could not be split into whole cells"
NUCLEUS = "a large solid dark purple nucleus"


class FieldError(ImageError):
    """An image that is not a smear field, or one in which no red cell was found. Every
    message reads ``not a smear field: <reason>`` (labels.is_refusal tells it from an
    unreadable file's error)."""

    @property
    def reason(self) -> str:
        return str(self).removeprefix(NOT_A_FIELD + ": ")


@dataclass(slots=True)
class FoundCell:
    """One red cell found in a field: its box in original pixels, its mask and its crop.

    ``crop`` is the box's pixels with everything outside ``mask`` black, as the NIH training
    cells were cut; ``mask`` is a boolean array of the box's shape.
    """

    x: int
    y: int
    width: int
    height: int
    mask: np.ndarray = field(repr=False)
    crop: np.ndarray = field(repr=False)

    def contour(self) -> np.ndarray:
        """The outline as an (N, 2) array of (x, y) points in the field's pixels (for drawing)."""
        contours, _ = cv2.findContours(self.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return np.empty((0, 2), np.int32)
        biggest = max(contours, key=cv2.contourArea).reshape(-1, 2)
        return biggest + np.array([self.x, self.y], np.int32)


@dataclass(slots=True)
class FieldObject:
    """Something found in a field that is not counted as a red cell: a white cell, a clump of
    touching cells, or other (a platelet, debris, a scale bar, a cell cut by the border...);
    its box in original pixels and why it was left out."""

    kind: str  # WHITE_CELL, CLUMP or OTHER
    x: int
    y: int
    width: int
    height: int
    reason: str


@dataclass(slots=True)
class FieldObjects:
    """Everything the segmentation found in a field: the red cells (counted, exactly the crops
    the classifier sees) and the other objects (reported, never counted as red cells).
    ``channel`` names the picture the cells were found in (``green`` unless that refused the field)."""

    cells: list[FoundCell]
    others: list[FieldObject]
    channel: str = "green"

    @property
    def white_cells(self) -> int:
        return sum(o.kind == WHITE_CELL for o in self.others)

    def left_out(self) -> dict[str, int]:
        """Objects left out of the count by kind (white cells are counted on their own)."""
        return {CLUMP: sum(o.kind == CLUMP for o in self.others), OTHER: sum(o.kind == OTHER for o in self.others)}


# ---------------------------------------------------------------------------------------------
# Segmentation


def _fit_background(values: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """A smooth (quadratic) surface through ``values`` at the background pixels (ys, xs)."""
    h, w = values.shape
    x = xs / w - 0.5
    y = ys / h - 0.5
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    coef, *_ = np.linalg.lstsq(design, values[ys, xs], rcond=None)
    gx = (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
    gy = (np.arange(h, dtype=np.float32) / h - 0.5)[:, None]
    c = coef.astype(np.float32)
    background = (c[0] + c[2] * gy + c[5] * gy * gy) + (c[1] + c[4] * gy) * gx + c[3] * gx * gx
    return np.maximum(background, 1.0)


def _flatten(green: np.ndarray) -> tuple[np.ndarray, float]:
    """A channel (background bright) divided by a smooth fit of the background (evens out
    vignetting and uneven lamps), and the Otsu threshold separating cells (darker) from background.

    Under strongly uneven light (the fit varies over UNEVEN_LIGHT across the field; Chula's
    within 1.11x, a lamp off-centre 1.4-3x) the first look takes the dim side's background for
    cells, so the fit misses it and those cells merge into dark masses: the background is fitted
    once more through what the flattened image shows (composed uneven 1280 x 960 fields: 82.7%
    -> 91.5% of red cells found; no evenly lit field changes)."""
    g = cv2.GaussianBlur(green.astype(np.float32), (0, 0), 1.0)
    u8 = np.clip(g, 0, 255).astype(np.uint8)
    background = np.full_like(g, max(float(g.mean()), 1.0))
    for _ in range(2):
        ys, xs = np.nonzero(u8[::8, ::8] > _otsu(u8))
        if len(xs) < 20:
            break
        background = _fit_background(g, ys * 8, xs * 8)
        u8 = np.clip(g / background * 160.0, 0, 255).astype(np.uint8)
        if float(background.max()) <= UNEVEN_LIGHT * float(background.min()):
            break
    ratio = g / background
    u8 = np.clip(ratio * 160.0, 0, 255).astype(np.uint8)
    return ratio, _otsu(u8) / 160.0


def _otsu(u8: np.ndarray) -> float:
    """Otsu's threshold, looked for again above it when it cuts off only a sliver of the
    darkest pixels: a black scale bar and its label in a pale, low-contrast field are the
    only "dark" class Otsu sees there (1% of the image), and the cells hide in the rest."""
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    brighter = u8[u8 > t]
    if brighter.size and brighter.size >= (1.0 - MIN_DARK_SHARE) * u8.size:
        t2, _ = cv2.threshold(brighter.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        if t2 > t:
            return float(t2)
    return float(t)


@dataclass(slots=True)
class _Foreground:
    ratio: np.ndarray  # flattened channel, background ~1
    mask: np.ndarray  # bool, cells (holes filled)
    radius: float  # typical cell radius in these pixels
    contrast: float  # background minus cell level of the flattened channel
    raw: np.ndarray | None = None  # bool, darker than the threshold (cells' pale centres open)


def _green(rgb: np.ndarray) -> np.ndarray:
    return rgb[:, :, 1]


def _stain(rgb: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """The field as one channel along its main direction of colour change: optical density
    projected on its first principal component (the stain that tells cells from background
    whatever the background's tint), as an 8-bit picture with the background bright;
    ``sign`` -1 for cells paler than their background."""
    od = -np.log((rgb.astype(np.float32) + 1.0) / 256.0)
    sample = od[::4, ::4].reshape(-1, 3)
    _, vectors = np.linalg.eigh(np.cov(sample.T))
    axis = vectors[:, -1] * (1.0 if vectors[:, -1].sum() >= 0 else -1.0)
    projected = od @ axis.astype(np.float32)
    projected -= float(np.median(projected))
    return np.clip(200.0 * np.exp(-sign * projected), 0, 255).astype(np.uint8)


def _pale_stain(rgb: np.ndarray) -> np.ndarray:
    return _stain(rgb, -1.0)


# The pictures cells are looked for in, in turn: the green channel (where Giemsa-stained cells
# stand out most, and every field that worked before is found as before), then, only where it
# refuses the field, the stain direction (a greenish or tinted background, low contrast), and
# that direction reversed (pale cells over a background stained darker than they are).
CHANNELS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("green", _green), ("stain", _stain), ("pale stain", _pale_stain))


def _foreground(rgb: np.ndarray, channel: Callable[[np.ndarray], np.ndarray] = _green) -> _Foreground:
    ratio, t = _flatten(channel(rgb))
    mask = ratio < t
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    filled = _fill_holes(mask)
    radius = _typical_radius(filled)
    # Close the pale centres of cells (central pallor) that open onto the background, then
    # fill holes up to half a cell: larger holes are background ringed by touching cells.
    k = max(3, int(round(radius * 0.3)) | 1)
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    closed = closed.astype(bool)
    holes = _fill_holes(closed) & ~closed
    labels, n = ndimage.label(holes)
    if n:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        small = sizes < 0.5 * math.pi * radius * radius
        small[0] = False
        closed |= small[labels]
    closed = _fill_rings(closed, 2.0 * math.pi * radius * radius)
    fg = ratio[closed]
    bg = ratio[~closed]
    contrast = float(np.median(bg) - np.median(fg)) if fg.size and bg.size else 0.0
    return _Foreground(ratio, closed, _typical_radius(closed), contrast, mask)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every region the background cannot reach from the border filled
    (OpenCV's flood fill: ~10x faster than scipy's iterative binary_fill_holes)."""
    flood = np.pad(mask.astype(np.uint8), 1)
    cv2.floodFill(flood, None, (0, 0), 1)
    return mask | (flood[1:-1, 1:-1] == 0)


def _fill_rings(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Blobs of about one cell's size (hull under ``max_area``) but far from convex
    (solidity < 0.75) filled to their convex hull: a pale cell whose central pallor reaches
    the background shows only its rim, a C-shaped ring. Larger blobs are touching cells."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rings = []
    for c in contours:
        area = cv2.contourArea(c)
        if area < 20:
            continue
        hull = cv2.convexHull(c)
        hull_area = cv2.contourArea(hull)
        if area < 0.75 * hull_area and hull_area < max_area:
            rings.append(hull)
    if not rings:
        return mask
    out = mask.astype(np.uint8)
    cv2.fillPoly(out, rings, 1)
    return out.astype(bool)


def _distance(mask: np.ndarray) -> np.ndarray:
    """Distance to the nearest background pixel, the image's edge counting as background
    (a mask without background would otherwise give OpenCV's float maximum)."""
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]


def _typical_radius(mask: np.ndarray) -> float:
    """One cell's radius: the median over blobs of their largest inscribed radius (a lone
    cell and a chain of touching ones give the same), each blob weighted by that radius, so
    that the many small fragments (rims, specks) of a pale field do not pull it down, while
    one large clump (or a whole network of touching cells) cannot pull it up."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return 0.0
    peaks = _per_label(_distance(mask), labels, n, np.max)
    peaks = np.sort(peaks[peaks >= 2.0])  # specks of noise are not cells
    if not peaks.size:
        return 0.0
    cumulative = np.cumsum(peaks)
    return float(peaks[np.searchsorted(cumulative, cumulative[-1] / 2)])


def _per_label(values: np.ndarray, labels: np.ndarray, n: int, reduce, first: int = 1) -> np.ndarray:
    """``reduce`` of ``values`` over each label first..first+n-1 (NaN where a label is absent);
    a loop over bounding boxes, far cheaper than scipy's sort-based label statistics."""
    out = np.full(n, np.nan)
    for i, box in enumerate(ndimage.find_objects(labels, max_label=first + n - 1)[first - 1:]):
        if box is not None:
            out[i] = reduce(values[box][labels[box] == first + i])
    return out


def _split(mask: np.ndarray, radius: float, fine: float = 1.1) -> tuple[np.ndarray, int]:
    """Label image of cells (background 1, cells from 2): one marker per distance-transform
    peak, and each pixel of a blob goes to the marker whose disc it lies deepest in
    (distance to the marker's centre minus the marker's radius: a power-diagram split,
    which cuts touching and overlapping discs at their neck). ``fine``: the least distance
    between markers, in cell radii (smaller for the second look at a clump)."""
    dist = _distance(mask)
    smooth = cv2.GaussianBlur(dist, (0, 0), max(1.0, radius * 0.15 * fine / 1.1))
    size = max(3, int(radius * fine) | 1)
    peaks = (smooth >= ndimage.maximum_filter(smooth, size=size)) & (dist > 0.4 * radius)
    # Neighbouring peak pixels of one plateau are one marker.
    peaks = cv2.dilate(peaks.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & mask
    markers, n = ndimage.label(peaks)
    labels = np.ones(mask.shape, np.int32)
    if n == 0:
        return labels, 0
    index = np.arange(1, n + 1)
    centres = np.asarray(ndimage.center_of_mass(peaks, markers, index), np.float64).reshape(-1, 2)
    radii = _per_label(dist, markers, n, np.max)
    blobs, nblobs = ndimage.label(mask)
    blob_of_marker = blobs[np.round(centres[:, 0]).astype(int), np.round(centres[:, 1]).astype(int)]
    for blob_id, box in enumerate(ndimage.find_objects(blobs), start=1):
        if box is None:
            continue
        mine = np.flatnonzero(blob_of_marker == blob_id)
        inside = blobs[box] == blob_id
        if len(mine) == 0:
            continue
        if len(mine) == 1:
            labels[box][inside] = mine[0] + 2
            continue
        yy, xx = np.nonzero(inside)
        yy = yy.astype(np.float32) + box[0].start
        xx = xx.astype(np.float32) + box[1].start
        cost = np.stack([np.hypot(yy - centres[i, 0], xx - centres[i, 1]) - radii[i] for i in mine])
        labels[box][inside] = mine[np.argmin(cost, axis=0)] + 2
    return labels, n


def segment_field(rgb: np.ndarray) -> list[FoundCell]:
    """The red cells of a field image (RGB ``uint8``), left to right by row of their boxes:
    exactly the crops the classifier scores (white cells, clumps and the rest left out; see
    :func:`find_objects`).

    Raises :class:`FieldError` when the image is not a smear field or holds no red cell.
    """
    return find_objects(rgb).cells


def find_objects(rgb: np.ndarray) -> FieldObjects:
    """Every object found in a field image (RGB ``uint8``): the red cells, and the white
    cells, clumps and other objects that are not counted as red cells, each with its reason.

    The cells are looked for in the green channel; only where that refuses the field (too
    little contrast, dark objects over nearly all of it, too few cells) are the other
    ``CHANNELS`` tried, and the first that finds a field's make-up is kept. Raises
    :class:`FieldError` (the green channel's reason) when none does.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_FIELD_SIDE:
        raise FieldError(f"not a smear field: {width} x {height} pixels is a single cell's size, not a field's")
    first: FieldError | None = None
    for name, channel in CHANNELS:
        try:
            found = _find_in(rgb, channel)
        except FieldError as exc:
            first = first or exc
            continue
        found.channel = name
        return found
    assert first is not None
    raise first


def _find_in(rgb: np.ndarray, channel: Callable[[np.ndarray], np.ndarray]) -> FieldObjects:
    """Find and classify the objects of a field in one channel, or raise FieldError."""
    # First look, coarse: how large are the cells? Then segment at a scale where a cell is
    # about WORK_RADIUS pixels across (never above the original resolution).
    height, width = rgb.shape[:2]
    s0 = min(1.0, COARSE_SIDE / max(height, width))
    coarse = _resize(rgb, s0)
    fg = _foreground(coarse, channel)
    radius_px = fg.radius / s0
    if radius_px < MIN_RADIUS_PX:
        raise FieldError("not a smear field: no cell-sized objects found")
    scale = min(1.0, WORK_RADIUS / radius_px)
    work = coarse
    if fg.radius < MIN_WORK_RADIUS and scale > s0:  # too few pixels per cell to split them well
        work = _resize(rgb, scale)
        fg = _foreground(work, channel)
        # Cells look the same size at any scale; the grains of noise or texture that the
        # coarse look averaged into blobs do not.
        if not 0.5 <= (fg.radius / scale) / radius_px <= 2.0:
            raise FieldError("not a smear field: no objects of a consistent cell size")
    else:
        scale = s0
    _check_field(fg)

    labels, n = _split(fg.mask, fg.radius)
    ink, full_ink = _ink(rgb, work, fg, scale)
    cells, others = _classify(labels, n, fg, work, ink)
    if len(cells) < MIN_CELLS:
        if not cells:
            raise FieldError("not a smear field: no red cells found (or a single cell on its own)")
        raise FieldError(f"not a smear field: only {len(cells)} red cell(s) found (a field holds many)")
    found = [_cut(rgb, labels, c, scale, full_ink) for c in cells]
    return FieldObjects(found, [o.in_original(scale, width, height) for o in others])


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _check_field(fg: _Foreground) -> None:
    """Refuse images without a field's make-up: cells clearly darker than a background that
    covers a fair share of the image."""
    cover = float(fg.mask.mean())
    if fg.contrast < 0.06:
        raise FieldError("not a smear field: no cells stand out from the background (blank or uniform image)")
    if not 0.03 <= cover <= 0.9:
        raise FieldError(f"not a smear field: dark objects cover {100 * cover:.0f}% of the image")


@dataclass(slots=True)
class _Region:
    label: int
    box: tuple[slice, slice]
    inked: bool = False  # a mark lies over a little of it: painted out of its crop (_cut)


@dataclass(slots=True)
class _Other:
    """A left-out object at the working scale: its kind, box (y0, x0, y1, x1) and reason."""

    kind: str
    box: tuple[int, int, int, int]
    reason: str

    def in_original(self, scale: float, width: int, height: int) -> FieldObject:
        y0, x0, y1, x1 = self.box
        ox0, oy0 = int(math.floor(x0 / scale)), int(math.floor(y0 / scale))
        ox1, oy1 = min(width, int(math.ceil(x1 / scale))), min(height, int(math.ceil(y1 / scale)))
        return FieldObject(self.kind, ox0, oy0, ox1 - ox0, oy1 - oy0, self.reason)


def _box(b: tuple[slice, slice]) -> tuple[int, int, int, int]:
    return (b[0].start, b[1].start, b[0].stop, b[1].stop)


def _colour_od(rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Optical density of each channel against a smooth fit of its own background (H, W, 3):
    the colour an object absorbs, whatever the lamp's tint and the vignetting."""
    ys, xs = np.nonzero(background[::8, ::8])
    out = np.empty(rgb.shape, np.float32)
    for c in range(3):
        values = rgb[:, :, c].astype(np.float32)
        level = _fit_background(values, ys * 8, xs * 8) if len(xs) >= 20 else np.full_like(values, max(float(values.mean()), 1.0))
        out[:, :, c] = np.log(level / np.maximum(values, 1.0))
    return out


def _classify(labels: np.ndarray, n: int, fg: _Foreground, rgb: np.ndarray,
              ink: np.ndarray | None = None) -> tuple[list[_Region], list[_Other]]:
    """Sort the regions into red cells (returned, in reading order) and the rest.

    ``labels`` gains new labels where a clump is split into whole cells. A region is, in this
    order: crossed by a fibre, cut by the border with under BORDER_AREA of a cell in view (one
    showing more is judged as a whole cell is), part of a white cell (it holds a large solid
    dark purple nucleus), a scale bar or text (not cell-coloured), largely under a mark (``ink``,
    the share of each working pixel that is ink: see _ink), a clump (much larger than
    the field's median cell and not round; split when every piece is cell-sized), too small,
    far too dark, or else a red cell.
    """
    if n == 0:
        return [], []
    ids = np.arange(2, n + 2)
    areas = np.bincount(labels.ravel(), minlength=n + 2)[2:].astype(np.float64)
    od = -np.log(np.clip(fg.ratio, 1e-3, None))
    flat = labels.ravel()
    darkness = (np.bincount(flat, weights=od.ravel(), minlength=n + 2)[2:] / np.maximum(areas, 1))
    colour = _colour_od(rgb, ~fg.mask)
    mean_od = np.stack([np.bincount(flat, weights=colour[:, :, c].ravel(), minlength=n + 2)[2:] / np.maximum(areas, 1)
                        for c in range(3)], axis=1)
    boxes = ndimage.find_objects(labels, max_label=n + 1)[1:]
    h, w = labels.shape
    # Cells cut by the image border set none of the field's typical figures; those that show
    # most of themselves are counted below (a lab counts them, and boxes them in its truth).
    inside = np.array(
        [b is not None and b[0].start >= 1 and b[1].start >= 1 and b[0].stop < h and b[1].stop < w for b in boxes]
    )
    # Cells a fibre crosses are left out: their crop is not a clean cell.
    present = areas > 0
    crossed = _crossed(labels, boxes, _fibres(fg), fg.radius) & present
    whole = inside & present & ~crossed & (areas >= 0.25 * math.pi * fg.radius ** 2)
    candidate = whole.copy()
    kind = np.full(n, "", object)
    reason = np.full(n, "", object)

    def leave(which: np.ndarray, what: str, why: str) -> None:
        which = which & (kind == "")
        kind[which] = what
        reason[which] = why

    leave(crossed, OTHER, FIBRE)
    if not whole.any():
        leave(present & ~inside, OTHER, BORDER)
        leave(present, OTHER, SMALL)
        return [], _others(kind, reason, boxes, [])
    typical_area = float(np.median(areas[whole]))
    typical_dark = float(np.median(darkness[whole]))
    green_od = float(np.median(mean_od[whole, 1]))
    # A border-cut cell showing most of a cell goes through every test a whole cell does
    # (white cell, mark, clump, darkness) and is counted, its crop the part in view: labs count
    # (and box) such cells, and leaving them out cost a tenth of the red cells of a field.
    # Cutting 5-40% off one side of 1,500 NIH test-patient cells (tools/border_cut_check.py)
    # called 85% of the infected at 0.65 and 3.5% of the uninfected (whole: 96%, 2.6%); black
    # padding in place of the cut part did no better (84%, 3.7%).
    cut_cell = present & ~inside & ~crossed & (areas >= BORDER_AREA * typical_area) & (areas <= CLUMP_AREA * typical_area)
    leave(present & ~inside & ~cut_cell, OTHER, BORDER)
    candidate |= cut_cell
    leave(present & ~candidate, OTHER, SMALL)
    others: list[_Other] = []

    white, parts = _white_cells(labels, n, colour, green_od, typical_area, fg.radius)
    for box in white:
        y0, x0, y1, x1 = box
        cut = y0 < 1 or x0 < 1 or y1 >= h or x1 >= w
        others.append(_Other(OTHER if cut else WHITE_CELL, box, BORDER if cut else NUCLEUS))
    kind[parts & (kind == "")] = "part"  # a white cell's pieces: reported once, as the white cell

    # Burnt-in scale bars, text and marks: black, grey, white, green or blue, where a red cell
    # in Giemsa absorbs green far more than red (and more so than the field's own cells do).
    # Only where the cells absorb green: pale cells over a darker background do not.
    # A parasite's blue cytoplasm absorbs red too, but hardly blue: a mark (black, grey, green)
    # absorbs blue at least as much as a cell does green, so both shares must be high.
    if green_od > 0.05:
        red_share = mean_od[:, 0] / np.maximum(mean_od[:, 1], 1e-3)
        blue_share = mean_od[:, 2] / np.maximum(mean_od[:, 1], 1e-3)
        typical_share = float(np.median(red_share[candidate]))
        typical_blue = float(np.median(blue_share[candidate]))
        overlay = candidate & ((mean_od[:, 1] <= 0.02) | ((red_share >= max(NEUTRAL, typical_share + 0.3))
                                                          & (blue_share >= max(NEUTRAL, typical_blue + 0.15))))
        leave(overlay, OTHER, OVERLAY)
    # A cell under a scale bar, its label or a mark: on the 193 Chula-RBC-12 fields (no
    # malaria) a one-pixel bar and its text lying over a cell made one in eight of the cells
    # the bundled model called Parasitized. A little ink is painted out of the crop (the cell
    # is still counted); a cell largely under it is not a clean crop, as under a fibre.
    inked = _inked_share(labels, n, ink, fg.radius, areas) if ink is not None else np.zeros(n)
    leave(candidate & (inked >= INK_LEAVE), OTHER, UNDER_INK)

    # Touching cells the first split left as one region: much larger than the median cell
    # and not round (elongated or with a neck), or larger still. Split again, finer; kept
    # only when every piece is a whole cell's size.
    big = candidate & (kind == "") & (areas > CLUMP_AREA * typical_area)
    next_label = n + 2
    extra: list[_Region] = []
    for i in np.flatnonzero(big):
        inside_i = labels[boxes[i]] == ids[i]
        if areas[i] <= CLUMP_ROUND_AREA * typical_area and _round(inside_i):
            continue  # one large round cell (P. vivax enlarges the cells it infects)
        raw = fg.raw[boxes[i]] if fg.raw is not None else inside_i
        pieces = _split_finer(inside_i, raw & inside_i, fg.radius, typical_area)
        if pieces is None:
            if areas[i] <= CLUMP_KEEP_AREA * typical_area and _solidity(inside_i) >= CLUMP_KEEP_SOLIDITY:
                continue  # convex: one elongated or large cell as likely as two overlapping ones
            if areas[i] <= ENLARGED_AREA * typical_area and _round(inside_i, ENLARGED_ELONGATION, ENLARGED_SOLIDITY):
                continue  # P. vivax's late stages: up to twice a cell's diameter, and still a disc
            leave(np.arange(n) == i, CLUMP, UNSPLIT)
            continue
        kind[i] = "split"
        for piece in pieces:
            labels[boxes[i]][piece] = next_label
            ys, xs = np.nonzero(piece)
            y0, x0 = boxes[i][0].start, boxes[i][1].start
            extra.append(_Region(next_label, (slice(y0 + ys.min(), y0 + ys.max() + 1), slice(x0 + xs.min(), x0 + xs.max() + 1))))
            next_label += 1

    # A speck of dust or a platelet, closed into a small blob, reads as a dark dot in a
    # cell: on Chula's uninfected fields regions under half the median cell were 2.8% of
    # those found but 14% of those called Parasitized. Real red cells that small (schistocytes)
    # are rare and barely change a parasitemia.
    leave(candidate & (areas < MIN_CELL_AREA * typical_area), OTHER, SMALL)
    # Far darker than the field's median cell: platelet clumps, stain debris. Ring-stage dots
    # barely change a cell's mean darkness, and even a cell filled half-way by a schizont
    # stays well under these bounds.
    leave(candidate & (darkness > max(2.5 * typical_dark, typical_dark + 0.5)), OTHER, DARK)
    leave(candidate & (areas > 4.0 * typical_area), CLUMP, UNSPLIT)
    keep = candidate & (kind == "")
    regions = [_Region(int(ids[i]), boxes[i], bool(inked[i] > 0)) for i in np.nonzero(keep)[0]] + extra
    # Red cells are compact; the blobs of noise, texture or a photo are ragged.
    if regions and np.median([_solidity(labels[r.box] == r.label) for r in regions]) < 0.7:
        raise FieldError("not a smear field: the objects found are not round like cells")
    regions.sort(key=lambda r: (round(r.box[0].start / max(fg.radius, 1.0)), r.box[1].start))
    return regions, _others(kind, reason, boxes, others)


def _ink(rgb: np.ndarray, work: np.ndarray, fg: _Foreground, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Ink: pixels that are dark but absorb red and blue at least INK_SHARE as much as green
    (black, grey or green: a scale bar, its label, a pen mark, a blurred fibre), where Giemsa's
    pink, purple and blue all absorb green or red far more than the rest. A parasite's dark
    chromatin is purple, its pigment brown: neither is ink.

    Judged at the original resolution (a scale bar's line is a pixel wide, and blended into the
    cell under it at the working scale it reads as stain). Returns the share of each working
    pixel that is ink, and the original-resolution mask (to paint it out of a crop)."""
    od_work = _colour_od(work, ~fg.mask)
    level = work.astype(np.float32) * np.exp(od_work)  # each channel's background, lamp and vignetting
    cell_green = float(np.median(od_work[:, :, 1][fg.mask])) if fg.mask.any() else 0.0
    dark = max(INK_DARK, 2.0 * cell_green)
    # Only pixels that dark somewhere against the brightest background can be ink: the rest of
    # the field (most of it) is never converted to optical density at full resolution.
    r, g, b = cv2.split(rgb)  # (a reduction over the channel axis costs ~30 ms on 1280 x 960)
    ys, xs = np.nonzero(cv2.min(cv2.min(r, g), b) <= math.exp(-dark) * float(level.max()))
    full = np.zeros(rgb.shape[:2], bool)
    if len(ys):
        wy = np.minimum((ys * scale).astype(np.intp), work.shape[0] - 1)
        wx = np.minimum((xs * scale).astype(np.intp), work.shape[1] - 1)
        od = np.log(np.maximum(level[wy, wx], 1.0) / np.maximum(rgb[ys, xs].astype(np.float32), 1.0))
        full[ys, xs] = (np.minimum(od[:, 0], od[:, 2]) >= INK_SHARE * od[:, 1]) & (od.max(axis=1) >= dark)
    share = full.astype(np.float32)
    if scale < 1.0:
        share = cv2.resize(share, (work.shape[1], work.shape[0]), interpolation=cv2.INTER_AREA)
    return share, full


def _inked_share(labels: np.ndarray, n: int, ink: np.ndarray, radius: float, areas: np.ndarray) -> np.ndarray:
    """Per region, the share of it under a mark: ink whose strokes, grouped (closer than a
    third of a cell radius), run at least INK_LENGTH radii. A parasite's few dark dots and its
    pigment are far shorter, and purple or brown besides."""
    out = np.zeros(n, np.float64)
    seen = ink > 0.15
    if not seen.any():
        return out
    r = max(radius, 1.0)
    k = max(3, int(round(0.3 * r)) | 1)
    grouped = cv2.dilate(seen.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    m, comp, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    for j in range(1, m):
        x, y, w, h, _ = stats[j]
        if max(w, h) < INK_LENGTH * r:
            continue
        piece = (comp[y:y + h, x:x + w] == j) & seen[y:y + h, x:x + w]
        lab = labels[y:y + h, x:x + w][piece]
        amount = ink[y:y + h, x:x + w][piece]
        ids, counts = np.unique(lab[lab >= 2], return_counts=True)
        for i, c in zip(ids, counts):
            if c >= 2:
                out[i - 2] += float(amount[lab == i].sum()) / max(areas[i - 2], 1.0)
    return out


def _others(kind: np.ndarray, reason: np.ndarray, boxes: list, others: list[_Other]) -> list[_Other]:
    for i in np.flatnonzero(np.isin(kind, (WHITE_CELL, CLUMP, OTHER))):
        others.append(_Other(kind[i], _box(boxes[i]), reason[i]))
    others.sort(key=lambda o: (o.box[0], o.box[1]))
    return others


def _white_cells(labels: np.ndarray, n: int, colour: np.ndarray, green_od: float, typical_area: float,
                 radius: float) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """The white cells' boxes, and per region whether it is part of one.

    A white cell's nucleus (neutrophil lobes, a lymphocyte's round nucleus) is dark purple
    (absorbing green far more than a red cell, red less than green, blue least) and solid, and
    covers a sizeable share of a red cell's area: NUCLEUS_AREA of it or more, once its lobes
    are closed together. Ring stages are small dots; a schizont's merozoites, half filling an
    enlarged cell, stay under that area.
    """
    parts = np.zeros(n, bool)
    odr, odg, odb = colour[:, :, 0], colour[:, :, 1], colour[:, :, 2]
    dark = (odg >= max(NUCLEUS_DARK * green_od, green_od + NUCLEUS_MARGIN)) & (odr < 0.8 * odg) & (odb < 0.75 * odg)
    dark &= labels >= 2
    if dark.sum() < NUCLEUS_AREA * typical_area:
        return [], parts
    k = max(3, int(round(radius * 0.5)) | 1)
    closed = cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    count, blobs, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    boxes = []
    for b in range(1, count):
        area = stats[b, cv2.CC_STAT_AREA]
        if area < NUCLEUS_AREA * typical_area:
            continue
        x, y, bw, bh = stats[b, :4]
        blob = blobs[y:y + bh, x:x + bw] == b
        if dark[y:y + bh, x:x + bw][blob].sum() < NUCLEUS_FILL * area:
            continue
        # The regions it lies in: those it covers a fair share of (a red cell merely touching
        # it keeps its own count).
        owners = labels[y:y + bh, x:x + bw][blob]
        hits = np.bincount(owners, minlength=n + 2)[2:]
        sizes = np.bincount(labels.ravel(), minlength=n + 2)[2:]
        mine = hits >= 0.15 * np.maximum(sizes, 1)
        parts |= mine
        y0, x0, y1, x1 = y, x, y + bh, x + bw
        for i in np.flatnonzero(mine):
            ys, xs = np.nonzero(labels == i + 2)
            y0, x0, y1, x1 = min(y0, ys.min()), min(x0, xs.min()), max(y1, ys.max() + 1), max(x1, xs.max() + 1)
        boxes.append((int(y0), int(x0), int(y1), int(x1)))
    return boxes, parts


def _round(mask: np.ndarray, elongation: float = CLUMP_ELONGATION, solidity: float = CLUMP_SOLIDITY) -> bool:
    """One round cell rather than touching ones: not elongated and without a neck."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 5:
        return True
    cov = np.cov(np.stack([xs, ys]).astype(np.float64))
    low, high = np.linalg.eigvalsh(cov)
    if math.sqrt(high / max(low, 1e-9)) > elongation:
        return False
    return _solidity(mask) >= solidity


def _split_finer(mask: np.ndarray, raw: np.ndarray, radius: float, typical_area: float) -> list[np.ndarray] | None:
    """A clump cut into whole cells, or None when no cut gives pieces of one cell's size.

    First a finer split of the same kind (markers closer together than the first split
    allows); then one marker per pale centre (each red cell's central pallor, a hole in the
    dark pixels ``raw``, at least a cell radius from the next), each pixel going to the nearest:
    touching cells pressed flat against each other have no neck, but each keeps its pallor.
    """
    def sized(pieces: list[np.ndarray]) -> bool:
        sizes = np.array([p.sum() for p in pieces])
        return len(pieces) >= 2 and bool(((sizes >= PIECE_AREA[0] * typical_area) & (sizes <= PIECE_AREA[1] * typical_area)).all())

    padded = np.pad(mask, 1)
    for fine in (0.7, 0.5):
        labels, count = _split(padded, radius, fine)
        pieces = [labels[1:-1, 1:-1] == k for k in range(2, count + 2)]
        if sized(pieces):
            return pieces
    holes = mask & ~raw
    # A hole open to the outside is a gap between cells, not a pallor.
    count, hole_labels, stats, centres = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    if count < 3:
        return None
    outside = cv2.dilate((~mask).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) | ~np.pad(np.ones_like(mask[1:-1, 1:-1]), 1).astype(bool)
    open_ids = np.unique(hole_labels[outside & holes])
    keep = [k for k in range(1, count) if k not in open_ids and stats[k, cv2.CC_STAT_AREA] >= max(3.0, 0.02 * typical_area)]
    # Two pale spots closer than a cell radius are one cell's pallor in pieces.
    chosen: list[int] = []
    for k in sorted(keep, key=lambda k: -stats[k, cv2.CC_STAT_AREA]):
        if all(np.hypot(*(centres[k] - centres[j])) >= radius for j in chosen):
            chosen.append(k)
    if len(chosen) < 2:
        return None
    markers = np.isin(hole_labels, chosen)
    _, (iy, ix) = ndimage.distance_transform_edt(~markers, return_indices=True)
    nearest = hole_labels[iy, ix]
    pieces = [mask & (nearest == k) for k in chosen]
    return pieces if sized(pieces) else None


def _fibres(fg: _Foreground) -> np.ndarray:
    """Where a fibre, hair or scratch lies: dark, thinner than a cell and straight for
    several cells' length.

    A fibre across a cell darkens a band of it, and the classifier reads the band as stain: on
    the 193 Chula-RBC-12 fields a fibre lying over the smear (fields 26-39 and others) made
    about a fifth of the uninfected cells the bundled model called Parasitized. Thin dark
    things are what a top-hat smaller than a cell keeps; of those, only what a straight line of
    FIBRE_LENGTH radii fits inside survives an opening by that line (tried in FIBRE_ANGLES
    directions): cell rims and ring-stage parasites curve, specks are short.
    """
    radius = max(fg.radius, 1.0)
    dark = np.clip(1.0 - fg.ratio, 0.0, None).astype(np.float32)
    k = max(3, int(round(FIBRE_WIDTH * radius)) | 1)
    thin = cv2.morphologyEx(dark, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)),
                            borderType=cv2.BORDER_REFLECT)
    # In 8 bits, 128 = the depth a fibre needs: the openings run 3.5x faster than on floats.
    thin = np.clip(thin * (128.0 / (FIBRE_DEPTH * max(fg.contrast, 1e-3))), 0, 255).astype(np.uint8)
    length = int(round(FIBRE_LENGTH * radius)) | 1
    half = length // 2
    straight = np.zeros_like(thin)
    for step in range(FIBRE_ANGLES):
        angle = math.pi * step / FIBRE_ANGLES
        dx, dy = half * math.cos(angle), half * math.sin(angle)
        line = np.zeros((length, length), np.uint8)
        cv2.line(line, (round(half - dx), round(half - dy)), (round(half + dx), round(half + dy)), 1, 1)
        np.maximum(straight, cv2.morphologyEx(thin, cv2.MORPH_OPEN, line, borderType=cv2.BORDER_REFLECT), out=straight)
    return straight > 128


def _crossed(labels: np.ndarray, boxes: list, fibre: np.ndarray, radius: float) -> np.ndarray:
    """Per region, whether the fibre passes through it rather than beside it.

    A fibre is dark, so it joins the cells it touches in the foreground, and a cell lying
    against it owns a strip of it. What tells a crossing is that the cell's own pixels (its
    region less the fibre) surround the fibre: the fibre lies inside their convex hull, over
    more than FIBRE_INSIDE radii of its width times a radius of its length.
    """
    out = np.zeros(len(boxes), bool)
    if not fibre.any():
        return out
    for i in np.unique(labels[fibre]):
        if i < 2 or boxes[i - 2] is None:
            continue
        box = boxes[i - 2]
        on_fibre = fibre[box]
        own = ((labels[box] == i) & ~on_fibre).astype(np.uint8)
        points = cv2.findNonZero(own)
        if points is None:
            out[i - 2] = True  # all fibre
            continue
        hull = np.zeros_like(own)
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        out[i - 2] = int((hull.astype(bool) & on_fibre).sum()) >= FIBRE_INSIDE * radius * radius
    return out


def _solidity(mask: np.ndarray) -> float:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    biggest = max(contours, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(biggest))
    return cv2.contourArea(biggest) / hull if hull > 0 else 0.0


def _cut(rgb: np.ndarray, labels: np.ndarray, region: _Region, scale: float, ink: np.ndarray | None = None) -> FoundCell:
    """The cell's box in original pixels with everything outside its mask black (and the
    ink of a mark lying over it painted out from the cell around it)."""
    ys, xs = region.box
    # One pixel of margin at the working scale, so the upscaled mask is never clipped.
    y0, y1 = max(ys.start - 1, 0), min(ys.stop + 1, labels.shape[0])
    x0, x1 = max(xs.start - 1, 0), min(xs.stop + 1, labels.shape[1])
    local = (labels[y0:y1, x0:x1] == region.label).astype(np.uint8)
    height, width = rgb.shape[:2]
    ox0, oy0 = int(math.floor(x0 / scale)), int(math.floor(y0 / scale))
    ox1, oy1 = min(width, int(math.ceil(x1 / scale))), min(height, int(math.ceil(y1 / scale)))
    if scale < 1.0:
        local = cv2.resize(local * 255, (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_LINEAR) >= 128
    else:
        local = local.astype(bool)
    local = _trim_protrusions(local)
    # Tighten the box to the mask, as the NIH crops are.
    rows = np.flatnonzero(local.any(axis=1))
    cols = np.flatnonzero(local.any(axis=0))
    local = local[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    bx, by = ox0 + int(cols[0]), oy0 + int(rows[0])
    crop = rgb[by:by + local.shape[0], bx:bx + local.shape[1]].copy()
    if region.inked and ink is not None:
        over = cv2.dilate(ink[by:by + local.shape[0], bx:bx + local.shape[1]].astype(np.uint8), np.ones((3, 3), np.uint8))
        if over.any():
            crop = cv2.inpaint(crop, over, 3, cv2.INPAINT_TELEA)
    crop[~local] = 0
    return FoundCell(bx, by, local.shape[1], local.shape[0], local, crop)


def _trim_protrusions(mask: np.ndarray) -> np.ndarray:
    """The cell's mask opened by a disc 0.9 of the cell's radius across, largest piece kept.

    A platelet or a speck lying against a cell joins its mask, and a purple blob at the edge of
    a crop is what a parasite looks like to the classifier. On the 193 Chula-RBC-12 fields (no
    malaria; tools/eval_chula.py) this cut the cells the bundled model calls Parasitized from
    2.83% to 1.56%, with the MP-IDB infected crops trimmed the same way caught as often as
    before (74.1%): a parasite lies inside its cell's outline, so the opening keeps it. Two
    cells merged through a narrow neck are cut to the larger one.
    """
    reach = 0.5 * TRIM_DISC * math.sqrt(float(mask.sum()) / math.pi)
    # An opening by a disc as two distance transforms (linear time, where an erosion and a
    # dilation by a 17 px disc cost 0.7 ms a cell): the centres the disc fits on, grown back.
    beyond = (_distance(mask) <= reach).astype(np.uint8)  # 0 where the disc fits
    # Half a pixel of slack: the grown-back disc would otherwise shave the rim of a round cell.
    opened = (cv2.distanceTransform(beyond, cv2.DIST_L2, 5) <= reach + 0.5) & mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened.astype(np.uint8), connectivity=8)
    if n <= 1:  # thinner than the disc everywhere: leave it as it was cut
        return mask
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def looks_like_field(rgb: np.ndarray) -> bool:
    """Cheap guess (a few ms) whether an image is a whole field rather than one cell: much
    larger than a cell and holding many cell-sized blobs (in the green channel, or where that
    sees none, in the other ``CHANNELS`` as :func:`find_objects` does)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < MIN_FIELD_SIDE:
        return False
    small = _resize(rgb, min(1.0, 384 / max(rgb.shape[:2])))
    return any(_looks_like_field(small, rgb.shape, channel) for _, channel in CHANNELS)


def _looks_like_field(small: np.ndarray, shape: tuple[int, ...], channel) -> bool:
    scale = small.shape[0] / shape[0]
    try:
        fg = _foreground(small, channel)
        _check_field(fg)
    except FieldError:
        return False
    if fg.radius < 3.0 or fg.radius / scale < MIN_RADIUS_PX:  # specks of noise, not cells
        return False
    contours, _ = cv2.findContours(fg.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    areas = np.array([cv2.contourArea(c) for c in contours])
    hulls = np.array([cv2.contourArea(cv2.convexHull(c)) for c in contours])
    if len(areas) < 8:
        return False
    # Cells are compact blobs of one size, each a small part of the image; noise and photos
    # give ragged blobs of every size.
    typical = float(np.median(areas[areas >= 4])) if (areas >= 4).any() else 0.0
    cell_like = (areas >= 0.4 * typical) & (areas <= 4 * typical) & (areas >= 0.85 * hulls)
    return typical < 0.05 * fg.mask.size and int(cell_like.sum()) >= 8


# ---------------------------------------------------------------------------------------------
# Reading an image as a field or as one cell: one decision for the window and ``smear``

READ_FIELD, READ_REFUSED, READ_CELL = "field", "refused", "cell"
FIELD_MIN_PIXELS = 320 * 320  # "much larger than a cell": NIH cells are 100-250 px across, fields 640 x 480 and up


def field_sized(width: int, height: int) -> bool:
    """Large enough to be a field: a smaller image is one cell without any look at its pixels."""
    return min(width, height) >= MIN_FIELD_SIDE and width * height >= FIELD_MIN_PIXELS


@dataclass(slots=True)
class Reading:
    """How an image is read: ``READ_FIELD`` with the objects found (exactly what ``smear``
    counts), ``READ_REFUSED`` with the reason ``smear`` gives, or ``READ_CELL`` (one cell,
    for the cell scorer; ``reason`` says why it is no field)."""

    kind: str
    objects: FieldObjects | None = None
    reason: str | None = None

    @property
    def error(self) -> str | None:
        """A refused field's words (``not a smear field: <reason>``), else None."""
        return refusal(self.reason or "") if self.kind == READ_REFUSED else None


def read_image(rgb: np.ndarray, automatic: bool = True) -> Reading:
    """The decision ``smear`` and the window's automatic reading share: a field exactly when
    :func:`find_objects` finds one (the window once asked only the quick
    :func:`looks_like_field`, which misses fields of small or crowded cells that ``smear``
    counts). What is refused stays a refused field, with its reason, when it looks like one
    or when ``automatic`` is off (``smear``, View > Field images > always fields); otherwise
    (a large crop, a photo) it is one cell."""
    height, width = rgb.shape[:2]
    if automatic and not field_sized(width, height):
        return Reading(READ_CELL, reason=f"{width} x {height} pixels is a single cell's size, not a field's")
    try:
        return Reading(READ_FIELD, find_objects(rgb))
    except FieldError as exc:
        if not automatic or looks_like_field(rgb):
            return Reading(READ_REFUSED, reason=exc.reason)
        return Reading(READ_CELL, reason=exc.reason)


# ---------------------------------------------------------------------------------------------
# Counting: Wilson intervals


def wilson_interval(successes: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% by default), as fractions.

    Unlike the textbook p +- z*sqrt(p(1-p)/n), it stays inside [0, 1] and is not empty at
    0 or n successes, which matters for parasitemia (often a handful of cells in hundreds).
    """
    if total <= 0:
        return (0.0, 1.0)
    p = successes / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(slots=True)
class CellScore:
    """A found cell with its P(Parasitized); ``crop`` is kept only when asked for."""

    index: int
    x: int
    y: int
    width: int
    height: int
    p_parasitized: float
    crop: np.ndarray | None = field(default=None, repr=False)
    contour: np.ndarray | None = field(default=None, repr=False)

    def prediction(self, threshold: float) -> str:
        return PARASITIZED if self.p_parasitized >= threshold else UNINFECTED


@dataclass(slots=True)
class FieldResult:
    """One field: its scored red cells, or the reason it could not be counted; the white
    cells seen, the objects left out of the count by kind (``CLUMP``, ``OTHER``) and, from
    :func:`score_fields`, every such object (kind, box, reason) for drawing."""

    path: Path
    slide: str
    cells: list[CellScore] = field(default_factory=list)
    error: str | None = None
    white_cells: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    objects: list[FieldObject] = field(default_factory=list, repr=False)
    # READ_FIELD (counted, or ``error`` says why the file could not be read), READ_REFUSED
    # (``error`` is ``not a smear field: <reason>``) or, with ``automatic``, READ_CELL: no
    # field, to be scored as one cell (``error`` says so, so it is never counted as a field).
    reading: str = READ_FIELD

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def refused(self) -> bool:
        """Read, and refused as no smear field (not a file that could not be read)."""
        return self.reading == READ_REFUSED

    def parasitized(self, threshold: float) -> int:
        return sum(c.p_parasitized >= threshold for c in self.cells)

    def parasitemia(self, threshold: float) -> tuple[float, float, float] | None:
        """(parasitemia, ci_low, ci_high) in percent, or None for a field in error."""
        if not self.ok or not self.cells:
            return None
        return _percent(self.parasitized(threshold), len(self.cells))


@dataclass(slots=True)
class SlideSummary:
    """Cells pooled over a slide's fields (a folder of field images)."""

    slide: str
    fields: int
    failed: int
    cells: int
    parasitized: int
    white_cells: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    def parasitemia(self) -> tuple[float, float, float] | None:
        return _percent(self.parasitized, self.cells) if self.cells else None


def _percent(k: int, n: int) -> tuple[float, float, float]:
    low, high = wilson_interval(k, n)
    return 100.0 * k / n, 100.0 * low, 100.0 * high


def slide_summaries(results: Iterable[FieldResult], threshold: float) -> list[SlideSummary]:
    """Per slide (in first-seen order), the cells and parasitized cells of its good fields."""
    slides: dict[str, SlideSummary] = {}
    for r in results:
        s = slides.setdefault(r.slide, SlideSummary(r.slide, 0, 0, 0, 0))
        s.fields += 1
        if not r.ok:
            s.failed += 1
            continue
        s.cells += len(r.cells)
        s.parasitized += r.parasitized(threshold)
        s.white_cells += r.white_cells
        for kind, count in r.left_out.items():
            s.left_out[kind] = s.left_out.get(kind, 0) + count
    return list(slides.values())


# ---------------------------------------------------------------------------------------------
# Scoring a stream of fields


ProgressCallback = Callable[[int, int | None], None]


def _find(path: Path, size: int, keep_crops: bool, keep_contours: bool, automatic: bool = False):
    """Decode, read (:func:`read_image`), segment and prepare one field (runs on a worker
    thread); a Reading for a refused field or one read as a cell, an error string when the
    file cannot be read."""
    try:
        reading = read_image(decode(path), automatic)
        if reading.kind != READ_FIELD:
            return reading
        found = reading.objects
        cells = found.cells
        batch = np.empty((len(cells), size, size, 3), np.uint8)
        for i, c in enumerate(cells):
            batch[i] = prepare(c.crop, size)
        return found, batch, [c.crop if keep_crops else None for c in cells], [
            c.contour() if keep_contours else None for c in cells
        ]
    except ImageError as exc:
        return str(exc)
    except MemoryError:
        return "not enough memory to read this field"
    except Exception as exc:  # one odd image costs one field, never the run
        return f"unexpected error while finding cells: {type(exc).__name__}: {exc}"


def _predict(classifier: Classifier, batch: np.ndarray) -> np.ndarray:
    """``classifier.predict`` in power-of-two parts: the compiled forward pass pads a batch
    to the next power of two, so 151 cells cost 256 but 128 + 32 cost 160."""
    parts, start = [], 0
    while start < len(batch):
        n = len(batch) - start
        step = n if n <= 32 else 1 << (n.bit_length() - 1)
        parts.append(classifier.predict(batch[start:start + step]))
        start += step
    return np.concatenate(parts) if parts else np.empty((0,), np.float32)


def score_fields(
    paths: Iterable[str | Path],
    classifier: Classifier,
    *,
    keep_crops: bool = False,
    keep_contours: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    slide_of: Callable[[Path], str] | None = None,
    automatic: bool = False,
) -> Iterator[FieldResult]:
    """Yield one :class:`FieldResult` per field, in order, until done or ``cancel`` is set.

    Each image is read by :func:`read_image`: ``automatic`` off (``smear``), every image is a
    field, counted or refused; on (the window's automatic reading), an image that is no field
    and does not look like one comes back with ``reading == READ_CELL`` for the cell scorer.

    The next field is decoded and segmented on a worker thread while the model scores the
    current one; at most two fields' pixels exist at once, so memory stays flat over any
    number of fields. ``slide_of(path)`` names the slide (default: the parent folder).
    """
    items = list(paths) if not hasattr(paths, "__len__") else paths
    total = len(items)  # type: ignore[arg-type]
    cancel = cancel or threading.Event()
    slide_of = slide_of or (lambda p: p.parent.name or str(p.parent))
    size = classifier.input_size
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fields") as pool:
        iterator = iter(items)
        pending: Future | None = None
        first = next(iterator, None)
        if first is not None:
            pending = pool.submit(_find, Path(first), size, keep_crops, keep_contours, automatic)
        current = Path(first) if first is not None else None
        done = 0
        while pending is not None and not cancel.is_set():
            found = pending.result()
            nxt = next(iterator, None)
            path = current
            pending = pool.submit(_find, Path(nxt), size, keep_crops, keep_contours, automatic) if nxt is not None else None
            current = Path(nxt) if nxt is not None else None
            result = FieldResult(path, slide_of(path))
            if isinstance(found, str):
                result.error = found
            elif isinstance(found, Reading):
                result.reading = found.kind
                result.error = found.error if found.kind == READ_REFUSED else f"read as one cell: {found.reason}"
            else:
                objects, batch, crops, contours = found
                cells = objects.cells
                result.white_cells = objects.white_cells
                result.left_out = objects.left_out()
                result.objects = objects.others
                probs = _predict(classifier, batch).tolist()
                result.cells = [
                    CellScore(i + 1, c.x, c.y, c.width, c.height, p, crop, contour)
                    for i, (c, p, crop, contour) in enumerate(zip(cells, probs, crops, contours))
                ]
            done += 1
            yield result
            if progress is not None:
                progress(done, total)
        if pending is not None:
            pending.cancel()

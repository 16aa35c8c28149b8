"""Compose whole test fields with known truth from real pieces: another lab's fields and cells.

    python tools/compose_fields.py OUT_DIR [--infected mpidb|nih] [--fields N] [--prevalence P]
                                   [--seed S] [--variants mixed|plain] [--enlarge LO HI] [--data DIR]

No public set of other labs' fields with every red cell and every infected cell marked is at
hand, so this builds one honestly (issue 20):

- Backgrounds: Chula-RBC-12 fields (another lab, 640 x 480, no malaria) whose marked points
  account for nearly every cell the segmentation finds (at most 3 found cells, and at most 3.5%
  of them, hold no point), so nearly every red cell's truth is known. Fields holding a white cell
  (which the points leave unmarked) are not used as backgrounds; a background is never used twice.
- Infected cells: ``mpidb`` = MP-IDB P. falciparum crops (another lab; out-of-the-box figures
  only, never train on them); ``nih`` = NIH Parasitized cells of the bundled model's TEST
  patients only (models/malaria_cnn.card.json), never in its training: for the adaptation
  scenario. Pasted into background gaps (no overlap), scaled to the field's median cell radius
  (x0.9-1.1; ``--enlarge 1.5 2.0`` makes them as large as P. vivax's late stages leave the cells
  they infect: no crop here is P. vivax, so this tests the segmentation, not the classifier),
  through their mask with a feathered edge half-way at the cell's own edge (found at 0.94 of
  the field's own cells' radius; 0.91 when feathered inside the mask), colour matched to the field's own cells by Reinhard transfer (per-channel mean and standard deviation in CIE Lab over the mask). The
  source statistics leave out the darkest 10% of the cell (the parasite), so the parasite keeps
  its contrast against its own cell instead of being flattened to an uninfected cell's spread.
- Hard objects: real white cells cut from Chula fields 46, 96, 97, 306, 327, 328 (checked by eye:
  neutrophils, a monocyte, a lymphocyte), real Chula red cells pasted overlapping in pairs and
  triples (clumps; overlaps darken as two layers do: pasting multiplies transmittances), drawn
  platelets/stain specks (free, and on red cells), and a burnt-in scale bar with "10 um" or
  "50 um" text (cv2.putText, black or green, in a corner, over the smear), drawn last as camera
  software does.
- Variants (colour transforms of the whole field's transmittance, after composing): plain (50%),
  pink-stained background with pale cells (15%), greenish low-contrast (15%), uneven
  illumination (20%); and half the fields
  upscaled to 1280 x 960 as the hidden set's camera gives. JPEG quality 90.

Writes OUT_DIR/images/NNN.jpg, OUT_DIR/truth.csv (``image,x,y,truth`` as
malaria_gui.engine.field_labels reads: one point per red cell, Parasitized/Uninfected, and per
non-red object, "not a red cell"), OUT_DIR/objects.csv (each point's kind and the object's box:
red, pasted_infected, white_cell, clump_member, platelet, red_with_speck, scale_bar, text) and
OUT_DIR/fields.csv (per field: source, variant, counts). Seeded and reproducible. Never write
into the repository: it is derived from real images.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from malaria_gui.engine.field_labels import NOT_A_CELL  # noqa: E402

DATA = REPO.parent / "shared" / "data"
# Real white cells in Chula fields: (field, nucleus centre x, y), found by a purple-blob search
# and checked by eye (neutrophils in 97, 306, 327, 328; a monocyte in 46; a lymphocyte in 96).
WHITE_CELLS = [(46, 67, 222), (96, 87, 124), (97, 558, 208), (306, 64, 48), (327, 327, 35), (328, 604, 81)]
# Fields holding a white cell or a white-cell-like blob: never a background (their points leave it unmarked).
WHITE_CELL_FIELDS = {42, 46, 96, 97, 100, 141, 186, 301, 306, 326, 327, 328}
VARIANTS = ("plain", "pink", "green", "uneven")
# The mix of --variants mixed: most fields ordinary, as in a lab's set (the hidden set's hard
# backgrounds were a few fields in 60), enough of each hard kind to see it.
VARIANT_SHARES = (0.5, 0.15, 0.15, 0.2)


# ---------------------------------------------------------------------------------------------
# Pure pieces (tested in tests/test_compose_fields.py)


@dataclass
class Piece:
    """An object to paste: transmittance (or colour) pixels, its mask and its truth points.

    ``rgb`` is float32 0-255. ``mode`` "multiply": rgb is a transmittance x 255 (a Chula cell
    divided by its own field's background), multiplied into the field; "blend": rgb is the
    cell's colour, alpha-blended over the field. ``points`` are (x, y, truth, kind) in the
    piece's pixels.
    """

    rgb: np.ndarray
    mask: np.ndarray
    mode: str
    points: list[tuple[float, float, str, str]] = field(default_factory=list)
    kind: str = ""


def inner_point(mask: np.ndarray) -> tuple[float, float]:
    """The mask's pixel farthest from its edge (always inside, unlike a centroid), as (x, y)."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y)


def feather(mask: np.ndarray, width: float) -> np.ndarray:
    """Alpha 0-1: 1 deep inside the mask, falling to 0 at its edge over ``width`` pixels."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return np.clip(dist / max(width, 1e-3), 0.0, 1.0).astype(np.float32)


def reinhard(cell_rgb: np.ndarray, mask: np.ndarray, target_mean: np.ndarray, target_std: np.ndarray,
             leave_out_dark: float = 0.10) -> np.ndarray:
    """The cell's pixels with their Lab mean and std per channel moved to the target's.

    The source statistics skip the darkest ``leave_out_dark`` of the mask's pixels (the
    parasite), so the parasite keeps its contrast against the rest of its cell.
    """
    lab = cv2.cvtColor(np.clip(cell_rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    px = lab[mask]
    keep = px[:, 0] >= np.quantile(px[:, 0], leave_out_dark) if leave_out_dark > 0 else np.ones(len(px), bool)
    mean, std = px[keep].mean(axis=0), px[keep].std(axis=0) + 1e-3
    ratio = np.clip(target_std / std, 0.6, 1.6)
    out = (lab - mean) * ratio + target_mean
    rgb = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
    rgb[~mask] = 0
    return rgb


def _rim_outside(rgb: np.ndarray, mask: np.ndarray) -> None:
    """Outside the mask, the cell's own rim colour (in place), so that resizing or feathering
    the cell does not draw a dark line round it."""
    ring = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    rgb[~mask] = np.median(rgb[ring if ring.any() else mask], axis=0)


def soft_edged(rgb: np.ndarray, mask: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """The cell padded and its mask grown by half the feather ``width``, the new rim in the
    cell's own edge colour, so that the feathered blend (:func:`paste`) is half-way at the
    cell's real edge, as a focused cell's edge is, not a whole width inside it (which cut
    pasted cells ~9% smaller in radius than the field's own cells when found, and faded a
    parasite lying at the rim)."""
    # The blend's alpha is k / width at the k-th pixel inside the grown mask: growing by this
    # many pixels puts alpha 0.5 between the cell's last pixel and the first one outside it.
    grow = max(1, int(round(width / 2 - 0.5)))
    pad = grow + 1
    rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)))
    mask = np.pad(mask, pad)
    _rim_outside(rgb, mask)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    return rgb, cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def lab_stats(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)[mask]
    return lab.mean(axis=0), lab.std(axis=0)


def paste(field_rgb: np.ndarray, piece: Piece, x0: int, y0: int, feather_px: float) -> list[tuple[float, float, str, str]]:
    """Paste ``piece`` with its top-left at (x0, y0) into ``field_rgb`` (float32, in place);
    return its truth points in field pixels. The piece must lie wholly inside the field."""
    h, w = piece.mask.shape
    region = field_rgb[y0:y0 + h, x0:x0 + w]
    if region.shape[:2] != (h, w):
        raise ValueError("piece does not fit at that place")
    alpha = feather(piece.mask, feather_px)[:, :, None]
    if piece.mode == "multiply":
        region *= 1.0 - alpha + alpha * np.clip(piece.rgb / 255.0, 0.0, 1.1)
    else:
        region[:] = (1.0 - alpha) * region + alpha * piece.rgb
    return [(x + x0, y + y0, truth, kind) for x, y, truth, kind in piece.points]


def free_place(occupied: np.ndarray, piece_mask: np.ndarray, rng: np.random.Generator, margin: int = 3) -> tuple[int, int] | None:
    """A top-left (x, y) where ``piece_mask`` overlaps nothing ``occupied`` (with ``margin``
    pixels to spare) and lies inside the image, chosen at random; None when there is no room."""
    h, w = piece_mask.shape
    grown = cv2.dilate(piece_mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    # A placement is free when the correlation of occupied with the grown mask is zero.
    kernel = grown.astype(np.float32)
    occ = np.pad(occupied.astype(np.float32), ((0, h), (0, w)), constant_values=1.0)
    hits = cv2.filter2D(occ, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    H, W = occupied.shape
    valid = hits[: H - h + 1, : W - w + 1] < 0.5
    valid[:margin, :] = False
    valid[:, :margin] = False
    ys, xs = np.nonzero(valid)
    if not len(xs):
        return None
    i = int(rng.integers(len(xs)))
    return int(xs[i]), int(ys[i])


def mark(occupied: np.ndarray, mask: np.ndarray, x0: int, y0: int) -> None:
    h, w = mask.shape
    occupied[y0:y0 + h, x0:x0 + w] |= mask


# ---------------------------------------------------------------------------------------------
# Reading the real pieces


def _scaled(rgb: np.ndarray, mask: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    size = (max(3, round(mask.shape[1] * factor)), max(3, round(mask.shape[0] * factor)))
    rgb = cv2.resize(rgb.astype(np.float32), size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    m = cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_LINEAR) >= 128
    return rgb, m


def crop_cell(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A masked-on-black cell crop (NIH, MP-IDB): its RGB and mask (largest non-black blob,
    holes filled, two pixels eroded: the edge pixels are mixed with the black); None for a
    cell its source cut with a straight side."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    mask = rgb.astype(np.int32).sum(axis=2) > 30
    lab, n = ndimage.label(mask)
    if n == 0:
        return None
    mask = lab == 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))
    mask = ndimage.binary_fill_holes(mask)
    mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if mask.sum() < 200:
        return None
    ys, xs = np.nonzero(mask)
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    mask = mask[sl]
    rgb = rgb[sl].copy()
    _rim_outside(rgb, mask)
    # A cell cut by its source image's border has a straight side: not a whole cell to paste.
    if max(mask[0].mean(), mask[-1].mean(), mask[:, 0].mean(), mask[:, -1].mean()) > 0.4:
        return None
    return rgb.astype(np.float32), mask


def background_rgb(rgb: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """The field's background colour per channel (median of what no cell covers)."""
    free = ~cv2.dilate(occupied.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    px = rgb[free] if free.sum() > 500 else rgb.reshape(-1, 3)
    return np.median(px, axis=0).astype(np.float32)


def occupancy(rgb: np.ndarray) -> np.ndarray:
    """Everything darker than the background (cells, debris), holes filled: where nothing may be pasted."""
    g = cv2.GaussianBlur(rgb[:, :, 1], (0, 0), 1.0)
    t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # A little above Otsu's line: the pale rims and centres of cells count as occupied too.
    bg = np.median(g[g > t])
    dark = g < bg - 0.35 * (bg - t) - 2
    dark = cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)).astype(bool)
    return ndimage.binary_fill_holes(dark)


@dataclass
class Background:
    number: int
    rgb: np.ndarray  # uint8
    points: np.ndarray  # (N, 2)
    radius: float  # median found-cell radius
    cells: list  # FoundCell


def select_backgrounds(data: Path) -> tuple[list[Background], list[tuple[np.ndarray, np.ndarray, float]]]:
    """Fields whose points account for nearly every found cell, and the clean single cells
    (found cell holding exactly one point of a normal cell) of the other fields, as
    transmittance pieces (rgb, mask, radius, field, median transmittance) for clumps."""
    from malaria_gui.engine.decoding import decode
    from malaria_gui.engine.fields import FieldError, segment_field

    chosen, donors = [], []
    for path in sorted((data / "images").glob("*.jpg"), key=lambda p: int(p.stem)):
        number = int(path.stem)
        pts = np.loadtxt(data / "points" / f"{number}.txt", ndmin=2)
        rgb = decode(path)
        try:
            cells = segment_field(rgb)
        except FieldError:
            continue
        held = np.zeros(len(cells), int)
        kind_of = {}
        for ci, c in enumerate(cells):
            for pi, (x, y) in enumerate(pts[:, :2]):
                lx, ly = int(x) - c.x, int(y) - c.y
                if 0 <= lx < c.width and 0 <= ly < c.height and c.mask[ly, lx]:
                    held[ci] += 1
                    kind_of[ci] = int(pts[pi, 2])
        radius = float(np.median([math.sqrt(c.mask.sum() / math.pi) for c in cells]))
        # Cells cut by the image border are counted (fields.BORDER_AREA) but Chula's points often
        # leave them out: only whole cells decide whether the points account for the field.
        h, w = rgb.shape[:2]
        whole = np.array([c.x > 0 and c.y > 0 and c.x + c.width < w and c.y + c.height < h for c in cells])
        unmarked = int(((held == 0) & whole).sum())
        if number not in WHITE_CELL_FIELDS and unmarked <= 3 and unmarked <= 0.035 * len(cells):
            chosen.append(Background(number, rgb, pts[:, :2], radius, cells))
            continue  # a background's own cells are never pasted into another field (no cell on both sides of a split)
        if number in WHITE_CELL_FIELDS:
            continue
        bg = background_rgb(rgb, occupancy(rgb))
        for ci, c in enumerate(cells):
            if held[ci] == 1 and kind_of.get(ci) == 0 and len(donors) < 4000:
                pad = 2
                x0, y0 = max(c.x - pad, 0), max(c.y - pad, 0)
                x1, y1 = min(c.x + c.width + pad, rgb.shape[1]), min(c.y + c.height + pad, rgb.shape[0])
                m = np.zeros((y1 - y0, x1 - x0), bool)
                m[c.y - y0:c.y - y0 + c.height, c.x - x0:c.x - x0 + c.width] = c.mask
                m = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
                t = rgb[y0:y1, x0:x1].astype(np.float32) / bg * 255.0
                donors.append((t, m, math.sqrt(c.mask.sum() / math.pi), number, np.median(t[m], axis=0) / 255.0))
    return chosen, donors


def white_cells(data: Path) -> list[tuple[np.ndarray, np.ndarray, float, tuple[float, float]]]:
    """The real white cells of WHITE_CELLS as transmittance pieces: (rgb, mask, RBC radius of
    their field, nucleus point in the piece). The mask is the darker-than-background blob
    around the nucleus, within 2.6 red-cell radii, less the red cells the segmentation found
    apart from it, holes filled."""
    from malaria_gui.engine.decoding import decode
    from malaria_gui.engine.fields import FieldError, segment_field

    out = []
    for number, nx, ny in WHITE_CELLS:
        rgb = decode(data / "images" / f"{number}.jpg")
        occ = occupancy(rgb)
        bg = background_rgb(rgb, occ)
        try:
            cells = segment_field(rgb)
        except FieldError:
            cells = []
        radius = float(np.median([math.sqrt(c.mask.sum() / math.pi) for c in cells])) if cells else 18.0
        # Paler-than-cell cytoplasm counts: anything a little darker than the background.
        od = -np.log(np.clip(rgb.astype(np.float32) / bg, 1e-3, None)).max(axis=2)
        blob = od > 0.05
        others = np.zeros_like(blob)
        for c in cells:  # red cells found apart from the nucleus are not the white cell
            sub = np.zeros_like(blob)
            sub[c.y:c.y + c.height, c.x:c.x + c.width] = c.mask
            if not sub[max(ny - 3, 0):ny + 4, max(nx - 3, 0):nx + 4].any():
                others |= cv2.dilate(sub.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        blob &= ~others
        yy, xx = np.mgrid[0:rgb.shape[0], 0:rgb.shape[1]]
        blob &= np.hypot(xx - nx, yy - ny) < 2.6 * radius
        blob = cv2.morphologyEx(blob.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
        lab, _ = ndimage.label(blob)
        keep = lab == lab[ny, nx] if lab[ny, nx] else np.zeros_like(blob, bool)
        if keep.sum() < 200:
            continue
        # A white cell is round: its pale cytoplasm, lost to the threshold in places, is inside the hull.
        hull = np.zeros(keep.shape, np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(keep.astype(np.uint8))), 1)
        keep = hull.astype(bool) & ~others
        lab, _ = ndimage.label(keep)
        keep = lab == lab[ny, nx]
        ys, xs = np.nonzero(keep)
        sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        t = rgb[sl].astype(np.float32) / bg * 255.0
        out.append((t, keep[sl], radius, (float(nx - xs.min()), float(ny - ys.min()))))
    return out


def infected_sources(kind: str, data: Path) -> list[Path]:
    if kind == "mpidb":
        return sorted((data / "mpidb_pf_crops" / "Parasitized").glob("*.png"))
    card = json.loads((REPO / "models" / "malaria_cnn.card.json").read_text())
    test = set(card["data"]["test_patient_ids"])
    root = data / "nih_malaria_cells_128"
    with open(root / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "Parasitized" and r["patient"] in test]
    return [root / r["file"] for r in rows]


# ---------------------------------------------------------------------------------------------
# Composing one field


def _clump(donors, radius: float, rng: np.random.Generator, like: np.ndarray | None = None) -> Piece:
    """Two or three real red cells overlapping (centres 1.3-1.7 radii apart), as one piece;
    with ``like`` (the field's median cell transmittance), cells of the 40 donors closest to
    it in colour and density, so that a clump looks like the field's own cells."""
    n = 2 if rng.random() < 0.65 else 3
    pool = list(range(len(donors)))
    if like is not None and len(donors) > 40:
        tone = np.array([d[4] for d in donors])
        pool = list(np.argsort(np.abs(tone - like).sum(axis=1))[:40])
    picks = [donors[int(pool[int(rng.integers(len(pool)))])] for _ in range(n)]
    size = int(radius * 8)
    canvas = np.full((size, size, 3), 255.0, np.float32)
    mask = np.zeros((size, size), bool)
    centres = [(size / 2, size / 2)]
    angle = rng.uniform(0, 2 * math.pi)
    for i in range(1, n):
        d = rng.uniform(1.3, 1.7) * radius
        a = angle + (i - 1) * rng.uniform(0.9, 1.4) * (1 if rng.random() < 0.5 else -1)
        base = centres[0] if i == 1 or rng.random() < 0.5 else centres[-1]
        centres.append((base[0] + d * math.cos(a), base[1] + d * math.sin(a)))
    points = []
    for (t, m, r, *_), (cx, cy) in zip(picks, centres):
        t, m = _scaled(t, m, radius * rng.uniform(0.92, 1.08) / r)
        x0, y0 = int(round(cx - m.shape[1] / 2)), int(round(cy - m.shape[0] / 2))
        if x0 < 0 or y0 < 0 or x0 + m.shape[1] > size or y0 + m.shape[0] > size:
            continue
        alpha = feather(m, 1.5)[:, :, None]
        region = canvas[y0:y0 + m.shape[0], x0:x0 + m.shape[1]]
        region *= 1.0 - alpha + alpha * np.clip(t / 255.0, 0, 1.1)
        mask[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] |= m
        px, py = inner_point(m)
        points.append((px + x0, py + y0, "Uninfected", "clump_member"))
    ys, xs = np.nonzero(mask)
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    points = [(x - xs.min(), y - ys.min(), t, k) for x, y, t, k in points]
    return Piece(canvas[sl], mask[sl], "multiply", points, "clump")


def _speck(radius: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A drawn platelet / stain speck: a small pale-purple blob, a little granular (drawn: no
    real platelets were cut, the Chula fields hold few clear ones)."""
    r = radius * rng.uniform(0.2, 0.38)
    size = int(math.ceil(r * 2.6)) | 1
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, (size // 2, size // 2), (max(2, int(r)), max(2, int(r * rng.uniform(0.6, 1.0)))),
                rng.uniform(0, 180), 0, 360, 1, -1)
    m = m.astype(bool)
    depth = rng.uniform(0.35, 0.8) * (1 + 0.25 * rng.standard_normal(m.shape)).clip(0.4, 1.6)
    od = np.stack([0.55 * depth, 0.95 * depth, 0.35 * depth], axis=2)  # purple: absorbs green most
    t = np.exp(-od).astype(np.float32) * 255.0
    t[~m] = 255.0
    return t, m


def colour_variant(rgb: np.ndarray, variant: str, occupied: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A whole-field colour transform (float32 in, float32 out) on the field's transmittance."""
    if variant == "plain":
        return rgb
    bg = background_rgb(np.clip(rgb, 0, 255).astype(np.uint8), occupied)
    t = np.clip(rgb / bg, 1e-3, 1.2)
    h, w = rgb.shape[:2]
    if variant == "pink":  # pink-stained background, pale cells: the cells' own (eosin) density
        # halved, what is darker than a cell (chromatin, nuclei: azure) paled far less.
        new_bg = np.array([238, 190, 212], np.float32) + rng.uniform(-8, 8, 3)
        od = -np.log(t)
        a, knee = rng.uniform(0.45, 0.6), 0.6
        return new_bg * np.exp(-(a * od + (1 - a) * np.clip(od - knee, 0, None)))
    if variant == "green":  # greenish, low contrast, a little soft and noisy
        new_bg = np.array([165, 196, 158], np.float32) + rng.uniform(-8, 8, 3)
        out = new_bg * t ** rng.uniform(0.35, 0.5)
        out = cv2.GaussianBlur(out, (0, 0), 0.8)
        return out + rng.normal(0, 2.5, out.shape).astype(np.float32)
    if variant == "uneven":  # a lamp off-centre: a vignette and a gradient
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (0.75 * max(h, w)) ** 2
        light = (1.05 - rng.uniform(0.35, 0.5) * d2).clip(0.45, 1.1)
        return rgb * light[:, :, None]
    raise ValueError(variant)


def scale_bar(rgb: np.ndarray, radius: float, rng: np.random.Generator) -> list[tuple[float, float, str, str, tuple[int, int, int, int]]]:
    """Burn a scale bar and its "10 um"/"50 um" label into a corner (uint8 RGB, in place);
    return (x, y, truth, kind, box) for the bar and each glyph of the text."""
    h, w = rgb.shape[:2]
    px_per_um = 2 * radius / 7.5  # a red cell is ~7.5 um across
    um = 10 if rng.random() < 0.5 else 50
    length = int(round(um * px_per_um))
    if length > 0.45 * w:
        um, length = 10, int(round(10 * px_per_um))
    thick = max(3, int(round(radius * 0.22)))
    colour = (15, 15, 15) if rng.random() < 0.5 else (20, 210, 40)
    text = f"{um} um"
    scale = radius / 22.0
    tthick = max(1, int(round(radius / 12)))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, tthick)
    pad = int(radius * 0.8)
    right, bottom = rng.random() < 0.7, rng.random() < 0.7
    bx = w - pad - length if right else pad
    if bottom:
        by = h - pad - thick
        ty = by - 6
    else:
        ty = pad + th
        by = ty + 6
    tx = bx + (length - tw) // 2
    marks = np.zeros((h, w), np.uint8)
    cv2.rectangle(marks, (bx, by), (bx + length, by + thick), 1, -1)
    cv2.putText(marks, text, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, 2, tthick, cv2.LINE_AA)
    rgb[marks > 0] = colour
    out = [(bx + length / 2, by + thick / 2, NOT_A_CELL, "scale_bar", (bx, by, length + 1, thick + 1))]
    glyphs, n = ndimage.label(marks == 2)
    for i, sl in enumerate(ndimage.find_objects(glyphs), start=1):
        if (glyphs[sl] == i).sum() < 12:  # a sliver of a glyph (the anti-aliased edge)
            continue
        gx, gy = inner_point(glyphs[sl] == i)
        out.append((gx + sl[1].start, gy + sl[0].start, NOT_A_CELL, "text",
                    (sl[1].start, sl[0].start, sl[1].stop - sl[1].start, sl[0].stop - sl[0].start)))
    return out


@dataclass
class Composed:
    rgb: np.ndarray
    objects: list[tuple[float, float, str, str, tuple[int, int, int, int]]]  # x, y, truth, kind, box
    info: dict


def compose(bg: Background, infected: list[Path], donors, whites, rng: np.random.Generator,
            prevalence: float, variant: str, upscale: bool,
            enlarge: tuple[float, float] = (0.9, 1.1)) -> Composed:
    """One composed field from one background (see the module docstring)."""
    rgb = bg.rgb.astype(np.float32)
    h, w = rgb.shape[:2]
    r = bg.radius
    edge = max(1.5, 0.15 * r)  # feather width of every pasted piece
    occupied = occupancy(bg.rgb)
    yy, xx = np.mgrid[0:h, 0:w]
    for x, y in bg.points:  # a marked cell the threshold missed is occupied too
        x0, x1, y0, y1 = int(max(x - r, 0)), int(min(x + r + 1, w)), int(max(y - r, 0)), int(min(y + r + 1, h))
        occupied[y0:y1, x0:x1] |= np.hypot(xx[y0:y1, x0:x1] - x, yy[y0:y1, x0:x1] - y) <= r
    cell_mask = np.zeros((h, w), bool)
    for c in bg.cells:
        cell_mask[c.y:c.y + c.height, c.x:c.x + c.width] |= c.mask
    t_mean, t_std = lab_stats(bg.rgb, cv2.erode(cell_mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool))
    objects = []
    for x, y in bg.points:
        objects.append((float(x), float(y), "Uninfected", "red", (int(x - r), int(y - r), int(2 * r), int(2 * r))))

    def place(piece: Piece) -> bool:
        spot = free_place(occupied, piece.mask, rng)
        if spot is None:
            return False
        pts = paste(rgb, piece, spot[0], spot[1], edge)
        mark(occupied, piece.mask, *spot)
        box = (spot[0], spot[1], piece.mask.shape[1], piece.mask.shape[0])
        objects.extend((x, y, t, k, box) for x, y, t, k in pts)
        return True

    counts = {"clumps": 0, "white_cells": 0, "platelets": 0, "specks_on_cells": 0}
    # Hard objects first (they need the larger gaps): a white cell in some fields, clumps in most.
    if whites and rng.random() < 0.5:
        t, m, wr, (nx, ny) = whites[int(rng.integers(len(whites)))]
        f = r / wr * rng.uniform(0.95, 1.05)
        t, m = _scaled(t, m, f)
        counts["white_cells"] += place(Piece(t, m, "multiply", [(nx * f, ny * f, NOT_A_CELL, "white_cell")], "white_cell"))
    bg_colour = background_rgb(bg.rgb, occupied)
    like = np.median(bg.rgb[cell_mask].astype(np.float32) / bg_colour, axis=0)
    for _ in range(int(rng.integers(0, 3))):
        counts["clumps"] += place(_clump(donors, r, rng, like))
    red = sum(1 for o in objects if o[2] != NOT_A_CELL)
    expected = prevalence / (1 - prevalence) * red
    n_inf = int(expected) + int(rng.random() < expected - int(expected))
    pasted = 0
    for _ in range(n_inf):
        for _try in range(5):
            got = crop_cell(infected[int(rng.integers(len(infected)))])
            if got is not None:
                break
        if got is None:
            continue
        c_rgb, c_mask = got
        f = r * rng.uniform(*enlarge) / math.sqrt(c_mask.sum() / math.pi)
        c_rgb, c_mask = _scaled(c_rgb, c_mask, f)
        if rng.random() < 0.5:
            c_rgb, c_mask = c_rgb[:, ::-1].copy(), c_mask[:, ::-1].copy()
        c_rgb = reinhard(c_rgb, c_mask, t_mean, t_std)
        c_rgb, c_mask = soft_edged(c_rgb, c_mask, edge)
        px, py = inner_point(c_mask)
        pasted += place(Piece(c_rgb, c_mask, "blend", [(px, py, "Parasitized", "pasted_infected")], "pasted_infected"))
    for _ in range(int(rng.integers(0, 4))):  # platelets in the gaps
        t, m = _speck(r, rng)
        counts["platelets"] += place(Piece(t, m, "multiply", [(*inner_point(m), NOT_A_CELL, "platelet")], "platelet"))
    for _ in range(int(rng.integers(0, 3))):  # stain specks on red cells (the cell stays a red cell)
        reds = [i for i, o in enumerate(objects) if o[3] == "red"]
        if not reds:
            break
        i = reds[int(rng.integers(len(reds)))]
        x, y = objects[i][0], objects[i][1]
        t, m = _speck(r, rng)
        a = rng.uniform(0, 2 * math.pi)
        d = rng.uniform(0.75, 1.0) * r  # lying on the cell's edge, as platelets do
        sx, sy = int(x + d * math.cos(a) - m.shape[1] / 2), int(y + d * math.sin(a) - m.shape[0] / 2)
        if 0 <= sx and 0 <= sy and sx + m.shape[1] <= w and sy + m.shape[0] <= h:
            paste(rgb, Piece(t, m, "multiply"), sx, sy, 1.0)
            objects[i] = (x, y, "Uninfected", "red_with_speck", objects[i][4])
            counts["specks_on_cells"] += 1

    rgb = colour_variant(rgb, variant, occupied, rng)
    factor = 2.0 if upscale else 1.0
    if upscale:
        rgb = cv2.resize(rgb, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
        objects = [((x + 0.5) * 2 - 0.5, (y + 0.5) * 2 - 0.5, t, k, tuple(int(v * 2) for v in box))
                   for x, y, t, k, box in objects]
    out = np.clip(rgb, 0, 255).astype(np.uint8)
    has_bar = rng.random() < 0.6
    if has_bar:
        objects.extend(scale_bar(out, r * factor, rng))
    info = {"source_field": bg.number, "variant": variant, "size": f"{out.shape[1]}x{out.shape[0]}",
            "red_cells": sum(1 for o in objects if o[2] in ("Parasitized", "Uninfected")),
            "infected": pasted, "scale_bar": int(has_bar), **counts}
    return Composed(out, objects, info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--infected", choices=("mpidb", "nih"), default="mpidb")
    parser.add_argument("--fields", type=int, default=60, help="at most this many (each background is used once)")
    parser.add_argument("--prevalence", type=float, default=0.015, help="share of red cells infected")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--variants", choices=("mixed", "plain"), default="mixed")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--enlarge", type=float, nargs=2, default=(0.9, 1.1), metavar=("LO", "HI"),
                        help="an infected cell's radius as a share of the field's median cell's, drawn "
                             "between LO and HI (P. vivax enlarges the cells it infects: 1.2 2.0)")
    args = parser.parse_args(argv)
    if REPO in args.out.resolve().parents or args.out.resolve() == REPO:
        parser.error("write composed fields outside the repository (they are derived from real images)")
    if not 0 < args.prevalence < 0.5:
        parser.error("--prevalence must be between 0 and 0.5")
    rng = np.random.default_rng(args.seed)
    chula = args.data / "chula_rbc12_fields"
    print("choosing backgrounds (fields whose points account for nearly every found cell)...", flush=True)
    backgrounds, donors = select_backgrounds(chula)
    whites = white_cells(chula)
    infected = infected_sources(args.infected, args.data)
    print(f"{len(backgrounds)} backgrounds, {len(donors)} clean single red cells for clumps, "
          f"{len(whites)} real white cells, {len(infected)} infected cells ({args.infected})")
    order = rng.permutation(len(backgrounds))[: args.fields]
    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    infos = []
    with open(args.out / "truth.csv", "w", newline="") as ft, open(args.out / "objects.csv", "w", newline="") as fo:
        truth, objs = csv.writer(ft), csv.writer(fo)
        truth.writerow(["image", "x", "y", "truth"])
        objs.writerow(["image", "x", "y", "truth", "kind", "box_x", "box_y", "box_w", "box_h"])
        for n, i in enumerate(order, start=1):
            variant = "plain" if args.variants == "plain" else VARIANTS[int(rng.choice(len(VARIANTS), p=VARIANT_SHARES))]
            upscale = args.variants == "mixed" and rng.random() < 0.5
            done = compose(backgrounds[i], infected, donors, whites, rng, args.prevalence, variant, upscale,
                           tuple(args.enlarge))
            name = f"images/{n:03d}.jpg"
            cv2.imwrite(str(args.out / name), cv2.cvtColor(done.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            for x, y, t, k, box in done.objects:
                truth.writerow([name, f"{x:.1f}", f"{y:.1f}", t])
                objs.writerow([name, f"{x:.1f}", f"{y:.1f}", t, k, *box])
            infos.append({"image": name, **done.info})
    with open(args.out / "fields.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(infos[0]))
        writer.writeheader()
        writer.writerows(infos)
    red = sum(i["red_cells"] for i in infos)
    inf = sum(i["infected"] for i in infos)
    print(f"wrote {len(infos)} fields to {args.out}: {red} red cells, {inf} infected ({100 * inf / max(red, 1):.2f}%), "
          f"{sum(i['white_cells'] for i in infos)} white cells, {sum(i['clumps'] for i in infos)} clumps, "
          f"{sum(i['platelets'] for i in infos)} platelets, {sum(i['specks_on_cells'] for i in infos)} specks on cells, "
          f"{sum(i['scale_bar'] for i in infos)} scale bars")
    by = {}
    for i in infos:
        by[(i["variant"], i["size"])] = by.get((i["variant"], i["size"]), 0) + 1
    print("variants: " + ", ".join(f"{v} {s}: {k}" for (v, s), k in sorted(by.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

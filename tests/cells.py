"""Helpers shared by the tests: where things are, and synthetic cell images."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MALARIA_DATA_DIR", REPO.parent / "shared" / "data" / "nih_malaria_cells_128"))


def synthetic_cell(rng: np.random.Generator, parasitized: bool, size: int = 128) -> np.ndarray:
    """A pink disc on black, with purple dots when parasitized: enough to exercise the code."""
    image = np.zeros((size, size, 3), np.uint8)
    centre = (size // 2 + int(rng.integers(-5, 6)), size // 2 + int(rng.integers(-5, 6)))
    cv2.circle(image, centre, int(size * 0.4), (int(rng.integers(190, 230)), 150, 160), -1)
    if parasitized:
        for _ in range(int(rng.integers(1, 4))):
            dot = (centre[0] + int(rng.integers(-20, 21)), centre[1] + int(rng.integers(-20, 21)))
            cv2.circle(image, dot, int(rng.integers(3, 7)), (110, 30, 140), -1)
    return image


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def nih_style_folder(root: Path, patients: int = 10, per_class: int = 3) -> Path:
    """Synthetic cells named like the NIH release (patients parsed from names; no manifest)."""
    rng = np.random.default_rng(0)
    for p in range(1, patients + 1):
        for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
            for i in range(per_class):
                name = f"C{100 + p}P{p}ThinF_IMG_2015_cell_{label[0]}{i}.png"
                write_rgb(root / label / name, synthetic_cell(rng, parasitized))
    return root


BACKGROUND = (214, 210, 226)  # pale lilac-grey smear background
RBC = (205, 140, 165)  # pink red cell
PARASITE = (105, 30, 140)  # purple chromatin dot


def synthetic_field(
    rng: np.random.Generator,
    width: int = 640,
    height: int = 480,
    radius: float = 16.0,
    singles: int = 40,
    pairs: int = 10,
    overlaps: int = 8,
    infected: float = 0.1,
    white_cell: bool = True,
    debris: int = 6,
    border_cells: int = 6,
    heavy: int = 0,
) -> tuple[np.ndarray, list[tuple[float, float, bool]]]:
    """A whole smear field drawn like the tests' cells: pink discs (some touching, some
    overlapping by a fifth of a diameter, some with purple dots) on an unevenly lit background,
    plus a white cell, dark specks of debris and cells cut by the image border; ``heavy``
    extra cells, 15% larger, are filled half-way by a dark parasite (a schizont-like stage).

    Returns the RGB image and the (x, y, parasitized) of every red cell wholly inside it:
    the cells a segmentation should find.
    """
    image = np.empty((height, width, 3), np.float32)
    image[:] = BACKGROUND
    yy, xx = np.mgrid[0:height, 0:width]
    light = 1.0 - 0.10 * (((xx - width * 0.4) / width) ** 2 + ((yy - height * 0.6) / height) ** 2) * 2
    image = image.astype(np.uint8)
    placed: list[tuple[float, float, float]] = []

    def free(x: float, y: float, r: float, gap: float) -> bool:
        return all(np.hypot(x - px, y - py) >= (r + pr) * gap for px, py, pr in placed)

    def spot(r: float, span: float) -> tuple[float, float] | None:
        for _ in range(400):
            x = float(rng.uniform(r + 3, width - r - 3 - span))
            y = float(rng.uniform(r + 3, height - r - 3))
            if free(x, y, r, 1.25) and free(x + span, y, r, 1.25):
                return x, y
        return None

    truth: list[tuple[float, float, bool]] = []

    def cell(x: float, y: float, r: float, big: bool = False) -> None:
        ill = big or bool(rng.random() < infected)
        centre = (int(round(x * 16)), int(round(y * 16)))
        cv2.circle(image, centre, int(round(r * 16)), RBC, -1, cv2.LINE_AA, shift=4)
        cv2.circle(image, centre, int(round(r * 0.35 * 16)), (222, 170, 190), -1, cv2.LINE_AA, shift=4)  # pallor
        if big:
            for k in range(6):
                a = k * np.pi / 3
                blob = (int(x + 0.3 * r * np.cos(a)), int(y + 0.3 * r * np.sin(a)))
                cv2.circle(image, blob, max(2, int(r * 0.25)), PARASITE, -1, cv2.LINE_AA)
        elif ill:
            for _ in range(int(rng.integers(1, 3))):
                a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.6) * r
                dot = (int(x + d * np.cos(a)), int(y + d * np.sin(a)))
                cv2.circle(image, dot, max(2, int(r * 0.18)), PARASITE, -1, cv2.LINE_AA)
        placed.append((x, y, r))
        truth.append((x, y, ill))

    if white_cell:
        r = radius * 1.8
        pos = spot(r, 0)
        if pos is not None:
            cv2.circle(image, (int(pos[0]), int(pos[1])), int(r), (200, 185, 225), -1, cv2.LINE_AA)
            for k in range(3):
                a = k * 2.1
                lobe = (int(pos[0] + 0.4 * r * np.cos(a)), int(pos[1] + 0.4 * r * np.sin(a)))
                cv2.circle(image, lobe, int(r * 0.45), (85, 35, 125), -1, cv2.LINE_AA)
            placed.append((pos[0], pos[1], r))
    for _ in range(heavy):
        r = radius * 1.15
        pos = spot(r, 0)
        if pos is not None:
            cell(pos[0], pos[1], r, big=True)
    for kind, count in (("pair", pairs), ("overlap", overlaps), ("single", singles)):
        for _ in range(count):
            r = radius * float(rng.uniform(0.92, 1.08))
            span = {"single": 0.0, "pair": 2.0 * r, "overlap": 1.7 * r}[kind]
            pos = spot(r, span)
            if pos is None:
                continue
            cell(pos[0], pos[1], r)
            if span:
                cell(pos[0] + span, pos[1], r)
    # Cells cut by the border: centres on the edge, not wholly inside.
    for k in range(border_cells):
        r = radius
        x = float(rng.uniform(r, width - r)) if k % 2 else (0.0 if k % 4 == 0 else float(width))
        y = (0.0 if k % 4 == 1 else float(height)) if k % 2 else float(rng.uniform(r, height - r))
        if free(x, y, r, 1.1):
            cv2.circle(image, (int(x), int(y)), int(r), RBC, -1, cv2.LINE_AA)
            placed.append((x, y, r))
    for _ in range(debris):
        r = max(2.0, radius * 0.2)
        pos = spot(r, 0)
        if pos is not None:
            cv2.circle(image, (int(pos[0]), int(pos[1])), int(r), (95, 45, 125), -1, cv2.LINE_AA)
            placed.append((pos[0], pos[1], r))
    out = image.astype(np.float32) * light[..., None]
    out += rng.normal(0, 3, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8), truth


# ---------------------------------------------------------------------------------------------
# Objects that are not single red cells, drawn onto a synthetic field (tests/test_field_objects.py)

NUCLEUS = (85, 35, 125)  # a white cell's dark purple nucleus


def free_spot(image: np.ndarray, r: float, rng: np.random.Generator, avoid: list | None = None,
              tries: int = 3000) -> tuple[int, int] | None:
    """A centre where a disc of radius ``r`` (plus a margin) holds only background: nothing
    drawn there yet (judged from the pixels, so white cells, debris and border cells count)."""
    h, w = image.shape[:2]
    green = image[:, :, 1].astype(int)
    level = np.percentile(green, 90)
    m = int(r * 1.3) + 3
    for _ in range(tries):
        x, y = int(rng.integers(m, w - m)), int(rng.integers(m, h - m))
        if (green[y - m:y + m, x - m:x + m] > level - 25).all() and all(
                np.hypot(x - ax, y - ay) > r + ar + 4 for ax, ay, ar in (avoid or [])):
            return x, y
    return None


def draw_red_cell(image: np.ndarray, x: float, y: float, r: float) -> None:
    """One uninfected red cell as synthetic_field draws them (pink disc, paler centre)."""
    centre = (int(round(x * 16)), int(round(y * 16)))
    cv2.circle(image, centre, int(round(r * 16)), RBC, -1, cv2.LINE_AA, shift=4)
    cv2.circle(image, centre, int(round(r * 0.35 * 16)), (222, 170, 190), -1, cv2.LINE_AA, shift=4)


def draw_enlarged_infected_cell(image: np.ndarray, x: int, y: int, radius: float, scale: float = 1.7) -> None:
    """A red cell ``scale`` times a normal one across, as P. vivax's late trophozoites and
    schizonts leave it: a round pink disc with no pale centre, a blue-purple parasite of irregular
    cytoplasm and a few chromatin dots (far smaller and paler than a white cell's nucleus)."""
    r = radius * scale
    cv2.circle(image, (x, y), int(r), (200, 138, 168), -1, cv2.LINE_AA)
    cv2.ellipse(image, (x + int(0.1 * r), y), (int(0.35 * r), int(0.25 * r)), 30, 0, 360, (165, 120, 175), -1, cv2.LINE_AA)
    for k in range(3):
        a = k * 2.2 + 0.4
        cv2.circle(image, (int(x + 0.3 * r * np.cos(a)), int(y + 0.3 * r * np.sin(a))), max(2, int(radius * 0.15)),
                   PARASITE, -1, cv2.LINE_AA)


def draw_lymphocyte(image: np.ndarray, x: int, y: int, radius: float, nucleus=NUCLEUS) -> None:
    """A small lymphocyte: a round dark purple nucleus filling a disc about one red cell
    across, inside a thin rim of pale blue cytoplasm."""
    cv2.circle(image, (x, y), int(radius * 1.1), (175, 180, 225), -1, cv2.LINE_AA)
    cv2.circle(image, (x, y), int(radius * 0.95), nucleus, -1, cv2.LINE_AA)


def draw_neutrophil(image: np.ndarray, x: int, y: int, radius: float, nucleus=NUCLEUS) -> None:
    """A neutrophil: three dark purple lobes in pale lilac cytoplasm, 1.8 red cells across
    (as synthetic_field's white cell)."""
    r = radius * 1.8
    cv2.circle(image, (x, y), int(r), (200, 185, 225), -1, cv2.LINE_AA)
    for k in range(3):
        a = k * 2.1
        cv2.circle(image, (int(x + 0.4 * r * np.cos(a)), int(y + 0.4 * r * np.sin(a))), int(r * 0.45), nucleus, -1, cv2.LINE_AA)


def draw_clump(image: np.ndarray, x: float, y: float, radius: float, cells: int = 3, step: float = 1.2) -> list:
    """``cells`` red cells overlapping in a zig-zag row, centres ``step`` radii apart (so close
    that no neck parts them), drawn translucent as cells are (where two overlap the light goes
    through both: darker, and each keeps its pale centre); returns their centres."""
    centres = [(x + k * step * radius, y + (0.35 * radius if k % 2 else 0.0)) for k in range(cells)]
    background = np.asarray(BACKGROUND, np.float32)
    light = np.ones(image.shape, np.float32)
    for cx, cy in centres:
        cell = np.zeros(image.shape[:2], np.uint8)
        pallor = np.zeros(image.shape[:2], np.uint8)
        cv2.circle(cell, (int(round(cx * 16)), int(round(cy * 16))), int(round(radius * 16)), 1, -1, cv2.LINE_AA, shift=4)
        cv2.circle(pallor, (int(round(cx * 16)), int(round(cy * 16))), int(round(radius * 0.35 * 16)), 1, -1, cv2.LINE_AA, shift=4)
        through = np.where(pallor[..., None] > 0, np.asarray((222, 170, 190), np.float32) / background,
                           np.asarray(RBC, np.float32) / background)
        light *= np.where(cell[..., None] > 0, through, 1.0)
    image[:] = np.clip(image.astype(np.float32) * light, 0, 255).astype(np.uint8)
    return centres


def draw_scale_bar(image: np.ndarray, x: int, y: int, radius: float, colour=(0, 0, 0)) -> tuple[int, int, int, int]:
    """A burnt-in scale bar (2.5 cells long, a fifth of a cell thick) with "50 um" written
    over it in the same colour; returns its box (x0, y0, x1, y1)."""
    length, thick = int(5 * radius), max(3, int(0.4 * radius))
    cv2.rectangle(image, (x, y), (x + length, y + thick), colour, -1)
    scale = radius / 16.0
    (tw, th), _ = cv2.getTextSize("50 um", cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, int(2 * scale)))
    cv2.putText(image, "50 um", (x + (length - tw) // 2, y - int(0.3 * radius)), cv2.FONT_HERSHEY_SIMPLEX,
                scale, colour, max(1, int(2 * scale)), cv2.LINE_AA)
    return x, y - int(0.3 * radius) - th, x + length, y + thick


def tinted(image: np.ndarray, background, contrast: float, rng: np.random.Generator, noise: float = 3.0) -> np.ndarray:
    """The field recoloured: every pixel's difference from the drawn background scaled by
    ``contrast`` and added to another ``background`` colour (a greenish or pink-stained
    smear, a washed-out camera), with fresh camera noise."""
    drawn = image.astype(np.float32)
    base = np.median(drawn.reshape(-1, 3), axis=0)
    out = np.asarray(background, np.float32) * (drawn / base) ** contrast
    out += rng.normal(0, noise, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def owners(cells, x: float, y: float) -> list[int]:
    """Indices of the found cells whose mask holds the point (x, y)."""
    out = []
    for i, c in enumerate(cells):
        lx, ly = int(x) - c.x, int(y) - c.y
        if 0 <= lx < c.width and 0 <= ly < c.height and c.mask[ly, lx]:
            out.append(i)
    return out


# ---------------------------------------------------------------------------------------------
# 1280 x 960 fields the window once read otherwise than `smear` (issue 23, defect 2)


def small_cell_field(seed: int) -> np.ndarray:
    """An ordinary 1280 x 960 field at low magnification: ~220 red cells 17 px across, which
    ``smear`` counts but the window's old quick look (384 px) saw as specks: one cell."""
    image, _ = synthetic_field(np.random.default_rng(seed), 1280, 960, radius=8.5, singles=150, pairs=18, overlaps=15)
    return image


def few_cells_field(seed: int = 0) -> np.ndarray:
    """A 1280 x 960 field with four whole cells and a dozen cut by its border: it looks like
    a field, and ``smear`` refuses it ("only 4 red cell(s) found")."""
    rng = np.random.default_rng(seed)
    image = np.empty((960, 1280, 3), np.uint8)
    image[:] = BACKGROUND
    for x in np.linspace(250, 1030, 4):
        draw_red_cell(image, float(x), 480 + float(rng.uniform(-100, 100)), 60.0)
    for k in range(12):
        draw_red_cell(image, 100 + (k % 6) * 216.0, 0.0 if k < 6 else 960.0, 60.0)
    noisy = image.astype(np.float32) + rng.normal(0, 3, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)

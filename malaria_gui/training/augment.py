"""Augmentation in NumPy and OpenCV, at the 128 px storage size, before preprocessing.

Cells have no orientation, so the eight flips/rotations of the square are free. The rest
is for other labs: stain strength and hue differ between batches of Giemsa, cameras and
white balance shift colours, focus varies, and other tools crop with a margin, so the cell
can fill much less of the frame and sit on the smear's pale background instead of black.
(Keras' augmentation layers ran about 20x slower than this on the training machine.)
"""

from __future__ import annotations

import cv2
import numpy as np

LEVELS = ("none", "geometric", "full", "wide")


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 symmetries of the square: k in 0..7."""
    out = np.rot90(image, k % 4)
    return out[:, ::-1] if k >= 4 else out


def _background_mask(image: np.ndarray) -> np.ndarray:
    # NIH crops are masked to pure black outside the cell.
    return image.max(axis=2) < 12


def frame(image: np.ndarray, scale: float, angle: float, shift: tuple[float, float], background) -> np.ndarray:
    """Rotate by ``angle`` degrees, scale about the centre, shift, and fill the outside."""
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += np.asarray(shift) * size
    out = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    if background is not None:
        mask = _background_mask(out)
        out[mask] = background[mask] if np.ndim(background) == 3 else background
    return out


_LEVELS = np.arange(256, dtype=np.float32)


def _apply_luts(image: np.ndarray, luts) -> np.ndarray:
    # Per-channel colour maps as 256-entry tables: a few microseconds instead of float maths.
    table = np.stack([np.clip(lut, 0, 255) for lut in luts], axis=1).astype(np.uint8).reshape(256, 1, 3)
    return cv2.LUT(image, table)


def stain(image: np.ndarray, gains, offsets) -> np.ndarray:
    """Scale each channel's optical density: paler or stronger, bluer or pinker Giemsa."""
    od = -np.log((_LEVELS + 1.0) / 256.0)
    luts = [256.0 * np.exp(-(od * g + o)) - 1.0 for g, o in zip(gains, offsets)]
    return _apply_luts(image, luts)


def hsv_shift(image: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    luts = [(_LEVELS + hue) % 180.0, _LEVELS * saturation, _LEVELS * value]
    return cv2.cvtColor(_apply_luts(hsv, luts), cv2.COLOR_HSV2RGB)


def _smear_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A pale, slightly noisy plasma background like an unmasked crop's."""
    base = rng.uniform([180, 160, 170], [245, 235, 240]).astype(np.float32)
    noise = rng.normal(0, rng.uniform(1, 6), (size, size, 1)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def stain_mix(image: np.ndarray, mixing: np.ndarray) -> np.ndarray:
    """Mix the channels' optical densities through a 3x3 matrix: Giemsa batches differ in the
    balance of their dyes (eosin, methylene blue, azure), which moves colour along the stain
    vectors rather than per channel. Outside the cell (black) stays black."""
    od = -np.log((image.astype(np.float32) + 1.0) / 256.0)
    out = 256.0 * np.exp(-(od @ mixing.astype(np.float32))) - 1.0
    out[_background_mask(image)] = 0
    return np.clip(out, 0, 255).astype(np.uint8)


def low_resolution(image: np.ndarray, pixels: int) -> np.ndarray:
    """Down to ``pixels`` across and back: a lower magnification or a small camera crop."""
    size = image.shape[0]
    small = cv2.resize(image, (pixels, pixels), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Through a JPEG encoder at ``quality``: field cameras and exports often save JPEG."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else image


def neighbour_rim(image: np.ndarray, other: np.ndarray, offset: tuple[float, float]) -> np.ndarray:
    """Another cell behind this one, shifted by ``offset`` (fractions of the frame): a field
    segmentation's crop often keeps a rim of a touching neighbour, or the whole of it."""
    size = image.shape[0]
    matrix = np.float32([[1, 0, offset[0] * size], [0, 1, offset[1] * size]])
    moved = cv2.warpAffine(other, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    out = image.copy()
    empty = _background_mask(image)
    out[empty] = moved[empty]
    return out


def _wide(out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The "wide" level: what another lab's cells look like (MP-IDB, Chula), beyond "full".

    Scale up to 1.35x (enlarged, P. vivax-infected cells fill the frame), a neighbour's rim,
    dye balance mixed in optical-density space over a wider range, stronger hue and white
    balance shifts, lower contrast, out-of-focus blur, lower resolution, camera noise and JPEG.
    """
    size = out.shape[0]
    if rng.random() < 0.25:
        other = dihedral(out, int(rng.integers(1, 8)))
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(0.75, 1.0)
        out = neighbour_rim(out, other, (distance * np.cos(angle), distance * np.sin(angle)))
    if rng.random() < 0.7:
        scale = float(np.exp(rng.uniform(np.log(0.55), np.log(1.35))))
        background = _smear_background(rng, size) if rng.random() < 0.3 else None
        out = frame(out, scale, rng.uniform(0, 360), tuple(rng.uniform(-0.08, 0.08, 2)), background)
    if rng.random() < 0.8:
        mixing = np.diag(rng.uniform(0.55, 1.6, 3)) + rng.normal(0, 0.08, (3, 3)) * (1 - np.eye(3))
        out = stain_mix(out, mixing)
    if rng.random() < 0.8:
        out = stain(out, np.ones(3), rng.uniform(-0.1, 0.1, 3))  # white balance / illumination
    if rng.random() < 0.8:
        out = hsv_shift(out, rng.uniform(-16, 16), rng.uniform(0.45, 1.4), rng.uniform(0.75, 1.25))
    if rng.random() < 0.2:
        c = rng.uniform(0.5, 0.9)  # washed-out contrast about the cell's mean colour
        inside = ~_background_mask(out)
        mean = out[inside].mean(axis=0) if inside.any() else 0
        out = np.where(inside[..., None], np.clip(mean + c * (out - mean), 0, 255), out).astype(np.uint8)
    if rng.random() < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 3.5))
    if rng.random() < 0.3:
        out = low_resolution(out, int(rng.integers(24, 64)))
    if rng.random() < 0.35:
        channels = 3 if rng.random() < 0.5 else 1
        noise = rng.normal(0, rng.uniform(2, 12), out.shape[:2] + (channels,)).astype(np.float32)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out = jpeg(out, int(rng.integers(30, 90)))
    if rng.random() < 0.05:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(out)


def augment(image: np.ndarray, rng: np.random.Generator, level: str = "full") -> np.ndarray:
    """One randomly augmented copy of a 128 px RGB ``uint8`` cell."""
    if level == "none":
        return image
    out = dihedral(image, int(rng.integers(8)))
    if level == "geometric":
        return np.ascontiguousarray(out)
    if level == "wide":
        return _wide(np.ascontiguousarray(out), rng)
    if level != "full":
        raise ValueError(f"unknown augmentation level {level!r}; choose from {', '.join(LEVELS)}")

    size = out.shape[0]
    if rng.random() < 0.7:
        scale = float(np.exp(rng.uniform(np.log(0.55), np.log(1.1))))
        background = _smear_background(rng, size) if rng.random() < 0.35 else None
        out = frame(out, scale, rng.uniform(0, 360), tuple(rng.uniform(-0.08, 0.08, 2)), background)
    if rng.random() < 0.8:
        out = stain(out, rng.uniform(0.65, 1.45, 3), rng.uniform(-0.08, 0.08, 3))
    if rng.random() < 0.8:
        out = hsv_shift(out, rng.uniform(-12, 12), rng.uniform(0.6, 1.4), rng.uniform(0.75, 1.25))
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.3))
    if rng.random() < 0.25:
        noise = rng.normal(0, rng.uniform(2, 8), out.shape[:2] + (1,)).astype(np.float32)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.05:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(out)


# Fixed, stronger-than-training shifts for measuring robustness ("colour-shifted copy").
SHIFTS = {
    "hue +20": lambda im: hsv_shift(im, 20, 1.0, 1.0),
    "hue -20": lambda im: hsv_shift(im, -20, 1.0, 1.0),
    "pale stain": lambda im: stain(im, (0.55, 0.55, 0.55), (0, 0, 0)),
    "dark stain": lambda im: stain(im, (1.6, 1.6, 1.6), (0, 0, 0)),
    "blue cast": lambda im: stain(im, (1.3, 1.0, 0.75), (0.05, 0, -0.05)),
    "desaturated": lambda im: hsv_shift(im, 0, 0.45, 1.0),
    "framed 65% on pale background": lambda im: frame(
        im, 0.65, 0, (0, 0), np.full_like(im, (225, 205, 215))
    ),
}


def shifted_copy(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image under one of SHIFTS in turn; returns the images and each one's shift index."""
    names = list(SHIFTS)
    which = np.arange(len(images)) % len(names)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        out[i] = SHIFTS[names[which[i]]](image)
    return out, which


def other_lab_shift(image: np.ndarray) -> np.ndarray:
    """A strong, fixed "other lab" look for adaptation and out-of-distribution checks: much
    stronger and bluer stain, hue turned by 30, the cell at 60% on a pale smear background.
    The bundled model falls from ~96% to ~88% accuracy on NIH test patients under it."""
    out = stain(image, (2.0, 1.3, 0.7), (0.1, 0.0, -0.1))
    out = hsv_shift(out, 30, 1.3, 0.9)
    return frame(out, 0.6, 0, (0, 0), np.full_like(out, (215, 200, 225)))

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

"""The bundled model on other labs' cells: measured beside the NIH test patients, never trained on.

Two public sets (``../shared/data``, see its README) stand in for another lab:

- ``mpidb_pf_crops/Parasitized``: 1,016 infected P. falciparum crops from MP-IDB (Cagliari;
  mostly rings, some blurred or with no visible parasite): the share the model *catches*.
- ``chula_rbc12_fields/images``: 193 whole fields from Chula-RBC-12 (Bangkok), none infected,
  cut into cells by the app's own field segmentation: the share the model *calls
  Parasitized* is its false-positive rate on another lab's uninfected cells.

Both are one-sided (one class each), so they give a catch rate and a false-alarm rate at the
card's threshold, not an accuracy; the two together also give a cross-lab ROC AUC.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from malaria_gui.engine.decoding import ImageError, decode
from malaria_gui.engine.discovery import find_images
from malaria_gui.engine.fields import FieldError, segment_field
from malaria_gui.engine.preprocess import STORE_SIZE, preprocess

MPIDB = "mpidb_pf_crops"
CHULA = "chula_rbc12_fields"


@dataclass
class OtherLabCells:
    """128 px cells of each set (empty arrays where a set is missing)."""

    mpidb_infected: np.ndarray
    chula_uninfected: np.ndarray


def _empty() -> np.ndarray:
    return np.empty((0, STORE_SIZE, STORE_SIZE, 3), np.uint8)


def mpidb_cells(folder: Path) -> np.ndarray:
    """Every readable crop under ``folder`` at the training store size (unreadable ones skipped)."""
    cells = []
    for item in find_images([folder]) if folder.is_dir() else []:
        try:
            cells.append(preprocess(decode(item.path), STORE_SIZE))
        except ImageError:
            continue
    return np.stack(cells) if cells else _empty()


def chula_cells(folder: Path) -> np.ndarray:
    """The cells the field segmentation cuts from every field in ``folder/images``."""
    crops = []
    for path in sorted((folder / "images").glob("*.jpg")) if folder.is_dir() else []:
        try:
            crops += [preprocess(cell.crop, STORE_SIZE) for cell in segment_field(decode(path))]
        except (FieldError, ImageError):
            continue
    return np.stack(crops) if crops else _empty()


def load_other_labs(root: str | Path) -> OtherLabCells:
    """Both sets from ``root`` (the folder holding ``mpidb_pf_crops`` and ``chula_rbc12_fields``)."""
    root = Path(root)
    return OtherLabCells(mpidb_cells(root / MPIDB / "Parasitized"), chula_cells(root / CHULA))


def default_root(data_dir: str | Path) -> Path:
    """The other labs' sets sit beside the NIH folder in ``shared/data``."""
    return Path(data_dir).resolve().parent


def measure(p_mpidb: np.ndarray, p_chula: np.ndarray, threshold: float) -> dict:
    """Catch rate, false-alarm rate and cross-lab AUC from P(Parasitized) of each set."""
    out: dict = {"threshold": threshold}
    if len(p_mpidb):
        caught = int((p_mpidb >= threshold).sum())
        out["mpidb_infected"] = {"cells": int(len(p_mpidb)), "caught": caught,
                                 "share_caught": round(caught / len(p_mpidb), 4)}
    if len(p_chula):
        called = int((p_chula >= threshold).sum())
        out["chula_uninfected"] = {"cells": int(len(p_chula)), "called_parasitized": called,
                                   "share_called_parasitized": round(called / len(p_chula), 4)}
    if len(p_mpidb) and len(p_chula):
        from sklearn.metrics import roc_auc_score

        truth = np.r_[np.ones(len(p_mpidb)), np.zeros(len(p_chula))]
        out["cross_lab_roc_auc"] = round(float(roc_auc_score(truth, np.r_[p_mpidb, p_chula])), 4)
    return out


def describe_sets() -> str:
    return (f"{MPIDB}: infected P. falciparum crops from MP-IDB (another lab; share caught); "
            f"{CHULA}: uninfected cells cut by the app's field segmentation from Chula-RBC-12 fields "
            "(another lab; share called Parasitized). Never trained on.")


def format_other_labs(figures: dict) -> str:
    lines = []
    if "mpidb_infected" in figures:
        m = figures["mpidb_infected"]
        lines.append(f"  MP-IDB infected cells caught:            {100 * m['share_caught']:5.1f}%  "
                     f"({m['caught']} of {m['cells']})")
    if "chula_uninfected" in figures:
        c = figures["chula_uninfected"]
        lines.append(f"  Chula uninfected cells called Parasitized: {100 * c['share_called_parasitized']:5.2f}%  "
                     f"({c['called_parasitized']} of {c['cells']})")
    if "cross_lab_roc_auc" in figures:
        lines.append(f"  cross-lab ROC AUC (MP-IDB vs Chula):     {figures['cross_lab_roc_auc']:.4f}")
    return "\n".join(lines) or "  (no other-lab sets found)"

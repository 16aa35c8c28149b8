"""The training set: cells, their labels and their patients, and patient-grouped splits.

Patients come from ``manifest.csv`` (columns ``file,label,patient``) when the folder has
one. Otherwise they are parsed from NIH-style file names: ``C<slide>[A-Z]P<n>...`` is
patient ``P<n>`` (one donor may have slides from two microscopes), any other name starting
``C<digits>[N]`` is that slide prefix (``C1``, ``C12N``, ``C201``), and a name matching
neither is its own patient (so it can never leak across a split).
"""

from __future__ import annotations

import csv
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from malaria_gui.engine.decoding import decode
from malaria_gui.engine.discovery import find_images
from malaria_gui.engine.labels import class_index, label_for_folder
from malaria_gui.engine.preprocess import STORE_SIZE, preprocess

MANIFEST = "manifest.csv"

_INFECTED_DONOR = re.compile(r"^C\d+[A-Za-z]?P(\d+)")
_SLIDE = re.compile(r"^(C\d+N?)", re.IGNORECASE)


def patient_from_name(name: str) -> str:
    stem = Path(name).name
    match = _INFECTED_DONOR.match(stem)
    if match:
        return f"P{match.group(1)}"
    match = _SLIDE.match(stem)
    return match.group(1) if match else stem


@dataclass
class CellTable:
    """Parallel arrays, one row per cell."""

    paths: np.ndarray  # str
    labels: np.ndarray  # int class index (labels.py)
    patients: np.ndarray  # str

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray) -> "CellTable":
        return CellTable(self.paths[index], self.labels[index], self.patients[index])


def read_table(data_dir: str | Path) -> CellTable:
    """All labelled cells under ``data_dir``, from its manifest or its folder names."""
    data_dir = Path(data_dir)
    manifest = data_dir / MANIFEST
    rows: list[tuple[str, int, str]] = []
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                label = label_for_folder(row["label"])
                if label is not None:
                    rows.append((str(data_dir / row["file"]), class_index(label), row["patient"]))
    else:
        for item in find_images([data_dir]):
            if item.truth is not None:
                rows.append((str(item.path), class_index(item.truth), patient_from_name(item.path.name)))
    if not rows:
        raise ValueError(f"no labelled cells found in {data_dir}")
    paths, labels, patients = zip(*rows)
    return CellTable(np.array(paths), np.array(labels, dtype=np.int64), np.array(patients))


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_by_patient(table: CellTable, test_fraction: float = 0.2, val_fraction: float = 0.15, seed: int = 1) -> Split:
    """Disjoint train / validation / test sets of patients, stratified by cell label.

    scikit-learn's StratifiedGroupKFold keeps every patient on one side and the class
    balance close on each; one fold of ``1/test_fraction`` is the test set, then one fold
    of the rest is the validation set.
    """
    all_index = np.arange(len(table))
    n_test = max(2, round(1 / test_fraction))
    folds = StratifiedGroupKFold(n_splits=n_test, shuffle=True, random_state=seed)
    rest, test = next(folds.split(all_index, table.labels, table.patients))
    n_val = max(2, round((1 - test_fraction) / val_fraction))
    folds = StratifiedGroupKFold(n_splits=n_val, shuffle=True, random_state=seed + 1)
    train_in_rest, val_in_rest = next(folds.split(rest, table.labels[rest], table.patients[rest]))
    return Split(train=rest[train_in_rest], val=rest[val_in_rest], test=test)


def card_split(table: CellTable, card: dict, split: str) -> np.ndarray:
    """Rows of ``table`` in one of a model card's patient-grouped splits (test, validation,
    train: the rest) or all of them; ValueError when the card does not list them."""
    if split == "all":
        return np.arange(len(table))
    data = card.get("data", {})
    if split == "train":
        held = set(data.get("test_patient_ids", [])) | set(data.get("validation_patient_ids", []))
        if not held:
            raise ValueError("the model card lists no test or validation patients")
        return np.flatnonzero(~np.isin(table.patients, list(held)))
    key = "test_patient_ids" if split == "test" else "validation_patient_ids"
    if not data.get(key):
        raise ValueError(f"the model card lists no {split} patients")
    return np.flatnonzero(np.isin(table.patients, data[key]))


def load_pixels(paths, size: int = STORE_SIZE, workers: int = 8) -> np.ndarray:
    """Decode cells into one (N, size, size, 3) ``uint8`` array, through the app's decoder."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)

    def load(i: int) -> None:
        out[i] = preprocess(decode(paths[i]), size)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(load, range(len(paths))))
    return out


def describe(table: CellTable, index: np.ndarray) -> dict:
    """Counts for the model card: cells per class and patients."""
    labels = table.labels[index]
    return {
        "cells": int(len(index)),
        "parasitized_cells": int((labels == class_index("Parasitized")).sum()),
        "uninfected_cells": int((labels == class_index("Uninfected")).sum()),
        "patients": int(len(set(table.patients[index].tolist()))),
    }

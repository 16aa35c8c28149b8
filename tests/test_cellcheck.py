"""The single-cell check: a field, a montage or noise gets a warning; a cell crop never does."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from cells import DATA_DIR, synthetic_cell, write_rgb
from malaria_gui.engine.cellcheck import single_cell_warning
from malaria_gui.engine.discovery import ImageItem
from malaria_gui.engine.scorer import score_all

SHARED = DATA_DIR.parent


def _montage(rng, n: int = 3, size: int = 64) -> np.ndarray:
    return np.vstack([np.hstack([synthetic_cell(rng, i % 2 == 0, size) for i in range(n)]) for _ in range(n)])


def test_single_synthetic_cells_pass_quietly():
    rng = np.random.default_rng(0)
    for size in (40, 64, 128, 200):
        for parasitized in (True, False):
            assert single_cell_warning(synthetic_cell(rng, parasitized, size)) is None


def test_a_cell_on_a_pale_background_passes():
    image = np.full((120, 120, 3), 235, np.uint8)
    cv2.circle(image, (60, 60), 45, (200, 120, 150), -1)
    assert single_cell_warning(image) is None


def test_montage_noise_blank_and_huge_images_are_flagged():
    rng = np.random.default_rng(1)
    assert "not one cell" in single_cell_warning(_montage(rng))
    assert "smear" in single_cell_warning(_montage(rng))
    assert single_cell_warning(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)) is not None
    assert "no cell" in single_cell_warning(np.full((128, 128, 3), 255, np.uint8))
    assert "no cell" in single_cell_warning(np.zeros((100, 100, 3), np.uint8))
    assert "much larger" in single_cell_warning(np.zeros((1200, 1600, 3), np.uint8))


def test_scorer_keeps_the_score_and_adds_the_warning(tmp_path, tiny_classifier):
    rng = np.random.default_rng(2)
    cell = write_rgb(tmp_path / "cell.png", synthetic_cell(rng, True))
    field = write_rgb(tmp_path / "montage.png", _montage(rng))
    results = score_all([ImageItem(cell), ImageItem(field)], tiny_classifier)
    assert results[0].warning is None and results[0].p_parasitized is not None
    assert results[1].ok and results[1].p_parasitized is not None  # never silently dropped
    assert "not one cell" in results[1].warning


def test_cli_lists_flagged_images_and_the_csv_carries_the_warning(tmp_path, tiny_model_path, capsys):
    from malaria_gui.cli import EXIT_OK, main

    rng = np.random.default_rng(3)
    write_rgb(tmp_path / "in" / "cell.png", synthetic_cell(rng, False))
    write_rgb(tmp_path / "in" / "montage.png", _montage(rng))
    out = tmp_path / "out.csv"
    assert main(["classify", str(tmp_path / "in"), "--model", str(tiny_model_path), "--csv", str(out),
                 "--quiet"]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "1 images do not look like single cells" in printed and "malaria-gui smear" in printed
    assert "montage.png: not one cell" in printed
    rows = {Path(r["path"]).name: r for r in csv.DictReader(open(out, newline=""))}
    assert rows["cell.png"]["warning"] == "" and "not one cell" in rows["montage.png"]["warning"]
    assert rows["montage.png"]["prediction"] in ("Parasitized", "Uninfected")


@pytest.mark.skipif(not (DATA_DIR / "manifest.csv").is_file(), reason="real data not found (set MALARIA_DATA_DIR)")
def test_real_cells_pass_and_real_fields_are_flagged():
    from malaria_gui.engine.decoding import decode

    rows = list(csv.DictReader(open(DATA_DIR / "manifest.csv", newline="")))
    pick = np.random.default_rng(0).choice(len(rows), 300, replace=False)
    flagged = [rows[i]["file"] for i in pick if single_cell_warning(decode(DATA_DIR / rows[i]["file"]))]
    assert len(flagged) <= 1, flagged  # 8 of all 22,305 are flagged (bench/cellcheck.py)
    crops = sorted((SHARED / "mpidb_pf_crops" / "Parasitized").glob("*.png"))[:200]
    assert not [p for p in crops if single_cell_warning(decode(p))]
    fields = sorted((SHARED / "chula_rbc12_fields" / "images").glob("*.jpg"))[:40]
    if not fields:
        pytest.skip("Chula fields not found")
    assert all(single_cell_warning(decode(p)) for p in fields)

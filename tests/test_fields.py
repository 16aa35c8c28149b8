"""Whole smear fields: red cells found on drawn fields, non-fields refused, Wilson maths,
and the ``smear`` command's CSV contracts and crops."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from cells import PARASITE, RBC, owners, synthetic_cell, synthetic_field, write_rgb
from malaria_gui.cli import main
from malaria_gui.engine.fields import (
    FieldError,
    FieldResult,
    CellScore,
    looks_like_field,
    score_fields,
    segment_field,
    slide_summaries,
    wilson_interval,
)


@pytest.mark.parametrize(
    "seed, width, height, radius",
    [(0, 640, 480, 16.0), (1, 640, 480, 16.0), (2, 1280, 960, 32.0), (3, 480, 360, 11.0)],
)
def test_every_whole_cell_found_once_touching_and_overlapping_ones_split(seed, width, height, radius):
    rng = np.random.default_rng(seed)
    image, truth = synthetic_field(rng, width, height, radius)
    cells = segment_field(image)
    assert abs(len(cells) - len(truth)) <= 0.03 * len(truth)
    hits = [owners(cells, x, y) for x, y, _ in truth]
    found_once = sum(len(h) == 1 for h in hits)
    assert found_once >= 0.97 * len(truth)
    # Precision: each found cell holds one drawn cell, so the white cell, the debris and the
    # cells cut by the border were not counted.
    claimed = [i for h in hits for i in h]
    assert len(set(claimed)) == len(claimed)
    assert len(cells) - len(set(claimed)) <= 1


def test_heavily_infected_cells_are_kept_while_the_white_cell_is_not():
    image, truth = synthetic_field(np.random.default_rng(7), heavy=4)
    cells = segment_field(image)
    heavy = truth[:4]  # drawn first
    assert all(len(owners(cells, x, y)) == 1 for x, y, _ in heavy)
    # The white cell's nucleus is as dark as those parasites, but it is darker over its whole
    # area and larger: no found cell holds mostly nucleus-coloured pixels.
    for c in cells:
        nucleus = (np.abs(c.crop.astype(int) - (85, 35, 125)).sum(axis=2) < 60) & c.mask
        assert nucleus.sum() < 0.5 * c.mask.sum()


def test_cells_cut_by_the_border_are_left_out():
    image, _ = synthetic_field(np.random.default_rng(4), border_cells=8)
    h, w = image.shape[:2]
    for c in segment_field(image):
        assert c.x > 0 and c.y > 0 and c.x + c.width < w and c.y + c.height < h


def test_crops_are_cut_like_the_training_cells():
    image, _ = synthetic_field(np.random.default_rng(5))
    cell = segment_field(image)[0]
    assert cell.crop.shape == (cell.height, cell.width, 3)
    assert (cell.crop[~cell.mask] == 0).all()  # black outside the mask
    assert np.array_equal(cell.crop[cell.mask], image[cell.y:cell.y + cell.height, cell.x:cell.x + cell.width][cell.mask])
    # The box hugs the mask, as the NIH crops do: mask touches every side.
    assert cell.mask[0].any() and cell.mask[-1].any() and cell.mask[:, 0].any() and cell.mask[:, -1].any()
    outline = cell.contour()
    assert outline[:, 0].min() >= cell.x and outline[:, 0].max() < cell.x + cell.width


def test_a_platelet_against_a_cell_is_trimmed_off_its_crop_but_a_parasite_inside_is_kept():
    radius = 16.0
    image, truth = synthetic_field(np.random.default_rng(8), radius=radius, infected=0.5)
    centres = np.array([(x, y) for x, y, _ in truth])
    # A platelet (a purple disc 0.6 of a cell's radius across) on the rim of every cell that
    # has open background on its right.
    platelets, infected = [], []
    for x, y, ill in truth:
        px, py = int(x + 1.3 * radius), int(y)
        others = np.hypot(*(centres - (px, py)).T)
        if np.sort(others)[1] > 2.0 * radius and px + radius < image.shape[1]:
            cv2.circle(image, (px, py), int(0.35 * radius), PARASITE, -1, cv2.LINE_AA)
            platelets.append((x, y, px, py))
            infected += [(x, y)] if ill else []
    assert len(platelets) >= 3 and infected
    cells = segment_field(image)
    assert len(cells) == len(truth)
    trimmed = 0
    for x, y, px, py in platelets:
        (owner,) = owners(cells, x, y)  # the cell is still found, once
        c = cells[owner]
        # The platelet's outer half is in no crop, and the box ends at the cell's rim.
        trimmed += not owners(cells, px + 2, py) and c.x + c.width < px + 0.2 * radius
    assert trimmed >= 0.9 * len(platelets)
    # The purple dots inside the infected cells stay in their crops.
    for x, y in infected:
        (owner,) = owners(cells, x, y)
        c = cells[owner]
        purple = (np.abs(c.crop.astype(int) - PARASITE).sum(axis=2) < 60) & c.mask
        assert purple.sum() >= 0.5 * np.pi * (0.18 * radius) ** 2


@pytest.mark.parametrize("seed, width, height, radius", [(13, 640, 480, 16.0), (14, 960, 720, 24.0)])
def test_specks_ringed_by_a_pink_halo_are_not_counted_as_cells(seed, width, height, radius):
    """A platelet or speck of dust with a pinkish halo, 0.4 of a cell's area, reads to the
    classifier as a dark dot in a small cell (Chula's uninfected fields): not a red cell."""
    image, truth = synthetic_field(np.random.default_rng(seed), width, height, radius, debris=0)
    centres = np.array([(x, y) for x, y, _ in truth])
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed + 100)
    specks = []
    for _ in range(4000):
        x, y = rng.uniform(2 * radius, w - 2 * radius), rng.uniform(2 * radius, h - 2 * radius)
        clear = np.hypot(*(centres - (x, y)).T).min() > 2.2 * radius
        if clear and all(np.hypot(x - sx, y - sy) > 3 * radius for sx, sy in specks):
            cv2.circle(image, (int(x), int(y)), int(0.63 * radius), RBC, -1, cv2.LINE_AA)
            cv2.circle(image, (int(x), int(y)), max(2, int(0.2 * radius)), PARASITE, -1, cv2.LINE_AA)
            specks.append((x, y))
        if len(specks) == 6:
            break
    assert len(specks) >= 4
    cells = segment_field(image)
    assert not any(owners(cells, x, y) for x, y in specks)
    found_once = sum(len(owners(cells, x, y)) == 1 for x, y, _ in truth)
    assert found_once >= 0.97 * len(truth)


@pytest.mark.parametrize("seed, radius", [(9, 16.0), (12, 24.0)])
def test_cells_a_fibre_crosses_are_not_counted_and_the_others_are(seed, radius):
    plain, truth = synthetic_field(np.random.default_rng(seed), radius=radius)
    h, w = plain.shape[:2]
    # A translucent grey fibre, a third of a cell's radius wide, straight across the field.
    (x0, y0), (x1, y1) = (0.0, 0.1 * h), (float(w), 0.9 * h)
    shade = np.zeros((h, w), np.uint8)
    cv2.line(shade, (int(x0), int(y0)), (int(x1), int(y1)), 255, max(2, int(radius / 3)), cv2.LINE_AA)
    image = (plain * (1.0 - 0.35 * shade[..., None] / 255.0)).astype(np.uint8)

    def off_line(x, y):  # distance from a cell's centre to the fibre
        return abs((x1 - x0) * (y0 - y) - (x0 - x) * (y1 - y0)) / np.hypot(x1 - x0, y1 - y0)

    crossed = [(x, y) for x, y, _ in truth if off_line(x, y) < 0.6 * radius]
    # Clear of the fibre and of the cells it crosses (a touching pair may be cut as one).
    clear = [(x, y) for x, y, _ in truth if off_line(x, y) > 1.3 * radius
             and all(np.hypot(x - cx, y - cy) > 2.3 * radius for cx, cy in crossed)]
    assert len(crossed) >= 5
    with_fibre, without = segment_field(image), segment_field(plain)
    # Without the fibre every one of those cells is counted; with it, none.
    assert all(len(owners(without, x, y)) == 1 for x, y in crossed)
    assert all(not owners(with_fibre, x, y) for x, y in crossed)
    # The cells clear of it are counted as before (the fibre, dark like a cell where it
    # touches one, may pull one neighbour's outline out of shape).
    def found(cells):
        return sum(len(owners(cells, x, y)) == 1 for x, y in clear)

    assert found(without) >= 0.95 * len(clear)
    assert found(with_fibre) >= found(without) - 1


def _photo() -> np.ndarray:
    """Not a smear: a sky gradient, a house and a sun."""
    yy, xx = np.mgrid[0:480, 0:640]
    photo = np.stack([80 + xx / 8, 120 + yy / 6, 200 - yy / 5], axis=-1).astype(np.uint8)
    cv2.rectangle(photo, (100, 250), (400, 470), (150, 60, 40), -1)
    cv2.circle(photo, (520, 90), 50, (250, 230, 90), -1)
    return photo


NOT_FIELDS = {
    "blank": np.full((480, 640, 3), 205, np.uint8),
    "noise": np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),
    "single cell": synthetic_cell(np.random.default_rng(0), True),
    "photo": _photo(),
    "large noise": np.random.default_rng(1).integers(0, 256, (1200, 1600, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("name", list(NOT_FIELDS))
def test_images_that_are_not_fields_are_refused_with_a_reason(name):
    image = NOT_FIELDS[name]
    with pytest.raises(FieldError, match="not a smear field|no red cells"):
        segment_field(image)
    assert not looks_like_field(image)


def test_fields_are_recognised_at_any_magnification():
    for radius, size in ((16.0, (640, 480)), (32.0, (1280, 960)), (10.0, (400, 300))):
        image, _ = synthetic_field(np.random.default_rng(6), *size, radius=radius)
        assert looks_like_field(image)


def test_wilson_interval_matches_published_values_and_scipy():
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 and 0/10.
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=5e-5)
    from scipy.stats import binomtest

    for k, n in [(1, 150), (7, 76), (150, 150), (30, 1000)]:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_slides_pool_their_fields_and_skip_refused_ones():
    def field(slide, ps, error=None):
        cells = [CellScore(i + 1, 0, 0, 1, 1, p) for i, p in enumerate(ps)]
        return FieldResult(Path(slide) / "f.png", slide, cells, error)

    results = [field("A", [0.9, 0.1, 0.2]), field("A", [0.8] + [0.1] * 6), field("A", [], "not a smear field"),
               field("B", [0.1] * 5)]
    a, b = slide_summaries(results, 0.5)
    assert (a.slide, a.fields, a.failed, a.cells, a.parasitized) == ("A", 3, 1, 10, 2)
    share, low, high = a.parasitemia()
    assert share == pytest.approx(20.0)
    assert (low, high) == pytest.approx(tuple(100 * v for v in wilson_interval(2, 10)))
    assert b.parasitemia()[0] == 0.0 and b.parasitemia()[2] > 0  # zero parasitized still has an upper bound


def test_score_fields_streams_in_order_with_per_field_errors_and_cancel(tmp_path, tiny_classifier):
    paths = []
    for i in range(3):
        image, truth = synthetic_field(np.random.default_rng(10 + i), singles=20, pairs=4, overlaps=3)
        paths.append(write_rgb(tmp_path / f"f{i}.png", image))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    paths.insert(1, broken)
    got = list(score_fields(paths, tiny_classifier))
    assert [r.path for r in got] == paths
    assert got[1].error and not got[1].cells
    assert all(r.ok and len(r.cells) == 34 for r in (got[0], got[2], got[3]))

    cancel = threading.Event()
    seen = []
    for r in score_fields(paths, tiny_classifier, cancel=cancel):
        seen.append(r)
        cancel.set()
    assert len(seen) == 1


@pytest.fixture
def smear_folder(tmp_path: Path) -> Path:
    root = tmp_path / "smears"
    for slide, seeds in (("slide1", (20, 21)), ("slide2", (22,))):
        for s in seeds:
            image, _ = synthetic_field(np.random.default_rng(s), singles=25, pairs=5, overlaps=4)
            write_rgb(root / slide / f"field{s}.png", image)
    write_rgb(root / "=cmd" / "photo.png", NOT_FIELDS["photo"])  # a refused field in a formula-like slide
    return root


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_smear_command_writes_both_csvs(smear_folder, tmp_path, tiny_model_path, capsys):
    cells_csv, fields_csv = tmp_path / "cells.csv", tmp_path / "fields.csv"
    code = main(["smear", str(smear_folder), "--csv", str(cells_csv), "--summary", str(fields_csv),
                 "--model", str(tiny_model_path), "--threshold", "0.5", "--quiet"])
    assert code == 1  # one image is not a field; the others are still counted
    with open(cells_csv, encoding="utf-8") as fh:
        assert fh.readline().strip() == "image,cell,x,y,width,height,prediction,p_parasitized,model,threshold"
    with open(fields_csv, encoding="utf-8") as fh:
        assert fh.readline().strip() == ("slide,image,cells,parasitized,parasitemia,ci_low,ci_high,white_cells,"
                                         "clumps_left_out,others_left_out,error,parasitemia_confirmed_pct,"
                                         "confirmed_ci_low,confirmed_ci_high,queue_reviewed,queue_cells,review")
    cells, fields = _rows(cells_csv), _rows(fields_csv)
    assert len(fields) == 4
    bad = [f for f in fields if f["error"]]
    assert len(bad) == 1 and bad[0]["slide"] == "'=cmd" and "not a smear field" in bad[0]["error"]
    assert bad[0]["cells"] == ""  # refused, not "0 cells"
    good = [f for f in fields if not f["error"]]
    assert [int(f["cells"]) for f in good] == [43, 43, 43]
    assert len(cells) == 129
    # synthetic_field's white cell is counted as one, never as a red cell; border-cut cells
    # and the like are left out and counted as such; a refused field has no counts at all.
    assert [f["white_cells"] for f in good] == ["1", "1", "1"]
    assert all(int(f["others_left_out"]) >= 1 and f["clumps_left_out"].isdigit() for f in good)
    assert bad[0]["white_cells"] == bad[0]["clumps_left_out"] == bad[0]["others_left_out"] == ""
    assert bad[0]["queue_cells"] == bad[0]["review"] == ""
    assert len({c["model"] for c in cells}) == 1 and cells[0]["model"]  # the model that scored them, on every row
    assert {c["threshold"] for c in cells} == {"0.5"}
    for f in good:
        mine = [c for c in cells if c["image"] == f["image"]]
        k = sum(c["prediction"] == "Parasitized" for c in mine)
        assert int(f["parasitized"]) == k == sum(float(c["p_parasitized"]) >= 0.5 for c in mine)
        low, high = wilson_interval(k, len(mine))
        assert float(f["parasitemia"]) == pytest.approx(100 * k / len(mine), abs=0.006)
        assert (float(f["ci_low"]), float(f["ci_high"])) == pytest.approx((100 * low, 100 * high), abs=0.006)
        # smear reviews nothing: no confirmed figure while any cell awaits a person.
        queue = sum(float(c["p_parasitized"]) >= 0.35 for c in mine)  # calls and the band below 0.5
        assert (f["queue_reviewed"], f["queue_cells"]) == ("0", str(queue))
        assert (f["review"], f["parasitemia_confirmed_pct"]) == (("not reviewed", "") if queue else ("reviewed", "0.00"))
    image = cv2.imread(fields[0]["image"])
    for c in cells[:5]:  # boxes are in the original image's pixels
        x, y, w, h = (int(c[k]) for k in ("x", "y", "width", "height"))
        assert 0 < x and 0 < y and x + w < image.shape[1] and y + h < image.shape[0]
    out = capsys.readouterr().out
    assert "slide1: 2 fields, 86 cells" in out and "95% CI" in out and "photo.png: " in out
    assert "%), 2 white cells, " in out  # slide1's two fields, one white cell each


def test_smear_crops_round_trip_into_classify(smear_folder, tmp_path, tiny_model_path):
    cells_csv, crops, again = tmp_path / "cells.csv", tmp_path / "crops", tmp_path / "again.csv"
    main(["smear", str(smear_folder / "slide1"), "--csv", str(cells_csv), "--crops", str(crops),
          "--model", str(tiny_model_path), "--threshold", "0.5", "--quiet"])
    cells = {f"{Path(c['image']).stem}_{c['cell']}": c for c in _rows(cells_csv)}
    assert main(["classify", str(crops), "--csv", str(again), "--model", str(tiny_model_path),
                 "--threshold", "0.5", "--quiet"]) == 0
    rows = _rows(again)
    assert len(rows) == len(cells) == 86
    for row in rows:
        cell = cells[Path(row["path"]).stem]
        assert Path(row["path"]).parent.name == f"called_{cell['prediction']}"
        assert cell["prediction"] == row["prediction"]
        assert row.get("truth", "") == ""  # the model's calls are no true labels
        assert float(row["p_parasitized"]) == pytest.approx(float(cell["p_parasitized"]), abs=2e-6)


def test_adapt_refuses_smear_crops_the_model_sorted_itself(smear_folder, tmp_path, tiny_model_path, capsys):
    crops = tmp_path / "crops"
    main(["smear", str(smear_folder / "slide1"), "--crops", str(crops), "--model", str(tiny_model_path),
          "--threshold", "0.5", "--quiet"])
    assert main(["adapt", str(crops), "--out", str(tmp_path / "lab.keras"), "--base", str(tiny_model_path),
                 "--quiet"]) == 2
    assert "no labelled cells" in capsys.readouterr().err
    assert not (tmp_path / "lab.keras").exists()


def test_smear_usage_errors(tmp_path, tiny_model_path):
    assert main(["smear", str(tmp_path / "missing")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["smear", str(empty), "--model", str(tiny_model_path)]) == 2
    assert main(["smear", str(empty), "--csv", str(tmp_path / "no" / "cells.csv")]) == 2

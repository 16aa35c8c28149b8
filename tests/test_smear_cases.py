"""smear with a lab model's field threshold and field-cell figures, and recorded as a case."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from malaria_gui.cli import main
from malaria_gui.engine.cases import CaseStore
from tests.cells import synthetic_field, write_rgb


@pytest.fixture
def slide(tmp_path):
    for s in (40, 41):
        image, _ = synthetic_field(np.random.default_rng(s), singles=25, pairs=4, overlaps=3)
        write_rgb(tmp_path / "slide" / f"field{s}.png", image)
    write_rgb(tmp_path / "slide" / "blank.png", np.full((480, 640, 3), 200, np.uint8))
    return tmp_path / "slide"


def _lab_model(tiny_model_path, tmp_path, **card):
    path = tmp_path / "lab" / "lab.keras"
    path.parent.mkdir()
    shutil.copy(tiny_model_path, path)
    base = json.loads(tiny_model_path.with_name("tiny.card.json").read_text())
    (path.parent / "lab.card.json").write_text(json.dumps({**base, **card}))
    return path


def _thresholds(cells_csv):
    with open(cells_csv, newline="") as fh:
        return {row["threshold"] for row in csv.DictReader(fh)}


def test_fields_are_counted_at_the_cards_field_threshold_with_the_corrected_estimate(slide, tmp_path,
                                                                                     tiny_model_path, capsys):
    model = _lab_model(tiny_model_path, tmp_path, field_threshold=0.4,
                       field_cells={"sensitivity": 0.8, "specificity": 0.99, "positives": 40, "negatives": 2000,
                                    "threshold": 0.4, "source": "test"})
    code = main(["smear", str(slide), "--csv", str(tmp_path / "c.csv"), "--model", str(model), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1  # the blank field is refused, the others counted
    assert _thresholds(tmp_path / "c.csv") == {"0.4"}
    assert "threshold 0.40" in out
    assert "corrected for the model's errors (Rogan-Gladen" in out and "sensitivity 80% / specificity 99.0%" in out
    # At another threshold than the one Se/Sp were measured at, no corrected figure is made up.
    main(["smear", str(slide), "--model", str(model), "--threshold", "0.5", "--quiet"])
    assert "Rogan-Gladen" not in capsys.readouterr().out


def test_a_model_without_field_figures_prints_no_corrected_estimate(slide, tiny_model_path, capsys):
    main(["smear", str(slide), "--model", str(tiny_model_path), "--quiet"])
    out = capsys.readouterr().out
    assert "threshold 0.50" in out and "Rogan-Gladen" not in out


def test_a_run_recorded_as_a_case_reopens_without_scoring(slide, tmp_path, tiny_model_path, capsys):
    db = tmp_path / "cases.sqlite"
    args = ["smear", str(slide), "--model", str(tiny_model_path), "--quiet", "--cases-db", str(db),
            "--csv", str(tmp_path / "c.csv")]
    assert main(args + ["--case", "S-77", "--reference", "ward 2"]) == 1
    assert "recorded as slide S-77" in capsys.readouterr().out
    with CaseStore(db) as store:
        case = store.load_slide("S-77")
    with open(tmp_path / "c.csv", newline="") as fh:
        scored = [(r["image"], int(r["cell"]), float(r["p_parasitized"])) for r in csv.DictReader(fh)]
    assert [(c.image, c.number) for c in case.cells] == [(i, n) for i, n, _ in scored]
    assert np.allclose([c.p_parasitized for c in case.cells], [p for *_, p in scored], atol=1e-6)
    assert case.reference == "ward 2" and sum(im.error is not None for im in case.images) == 1
    # Each cell keeps its outline: inside its box, and it fills most of it (a cell, not a line).
    for c in case.cells:
        assert c.outline is not None and len(c.outline) >= 4
        assert (c.outline >= (c.x, c.y)).all() and (c.outline <= (c.x + c.width, c.y + c.height)).all()
        import cv2
        assert cv2.contourArea(c.outline.reshape(-1, 1, 2)) > 0.5 * c.width * c.height
    # The same id again is refused unless --append, so two runs never mix by accident.
    assert main(args + ["--case", "S-77"]) == 2
    assert "already in the case store" in capsys.readouterr().err
    assert main(args + ["--case", "S-77", "--append"]) == 1

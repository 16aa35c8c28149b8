"""Adapting on a person's labels on whole fields: matching, exclusions, the field threshold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cells import synthetic_cell, synthetic_field, write_rgb
from malaria_gui.cli import main
from malaria_gui.engine.decoding import decode
from malaria_gui.engine.discovery import find_images
from malaria_gui.engine.field_labels import NOT_A_CELL, FieldCellLabel, read_field_labels
from malaria_gui.engine.fields import _find, segment_field
from malaria_gui.exitcodes import EXIT_OK, EXIT_SOME_FAILED
from malaria_gui.training import adapt as adapt_module
from malaria_gui.training.adapt import adapt, choose_field_threshold, read_field_cells


def write_fields(folder: Path, n: int = 3, infected: float = 0.3, seed: int = 0) -> list[tuple[Path, list]]:
    """``n`` synthetic fields as PNG, each with the (x, y, parasitized) of its red cells."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        image, truth = synthetic_field(rng, infected=infected)
        out.append((write_rgb(folder / f"field{i}.png", image), truth))
    return out


def truth_name(ill: bool) -> str:
    return "Parasitized" if ill else "Uninfected"


def write_points(csv_path: Path, fields) -> Path:
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "x", "y", "truth"])
        for path, truth in fields:
            for x, y, ill in truth:
                w.writerow([path.name, f"{x:.1f}", f"{y:.1f}", truth_name(ill)])
    return csv_path


def smear_rows(fields) -> list[list]:
    """Rows as ``smear --csv`` writes them (found cells, a prediction) plus the person's truth:
    the drawn cell whose centre lies in the found cell's mask."""
    rows = []
    for path, truth in fields:
        for i, c in enumerate(segment_field(decode(path))):
            ill = [t[2] for t in truth if 0 <= int(t[0]) - c.x < c.width and 0 <= int(t[1]) - c.y < c.height
                   and c.mask[int(t[1]) - c.y, int(t[0]) - c.x]]
            rows.append([path.name, i + 1, c.x, c.y, c.width, c.height, "Uninfected", "0.1",
                         truth_name(ill[0]) if len(ill) == 1 else ""])
    return rows


def write_boxes(csv_path: Path, rows) -> Path:
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "cell", "x", "y", "width", "height", "prediction", "p_parasitized", "truth"])
        w.writerows(rows)
    return csv_path


def adapt_cli(capsys, out: Path, base: Path, *args: str) -> tuple[int, str]:
    """``malaria-gui adapt ARGS --out OUT --base BASE --folds 2 --quiet``: its exit code and what it printed."""
    code = main(["adapt", *args, "--out", str(out), "--base", str(base), "--folds", "2", "--quiet"])
    return code, capsys.readouterr().out


@pytest.fixture(autouse=True)
def few_steps(monkeypatch):
    monkeypatch.setattr(adapt_module, "MAX_STEPS", 12)  # CPU tests: the rules, not a good model


def test_boxes_and_points_match_found_cells_and_crops_are_the_field_pipelines(tmp_path):
    fields = write_fields(tmp_path, n=2)
    labels, notes = read_field_labels(write_points(tmp_path / "points.csv", fields))
    assert notes == []
    got = read_field_cells(labels, 32)
    drawn = sum(len(t) for _, t in fields)
    assert len(got.truth) >= drawn - 2 and len(got.truth) + len(got.unmatched) == drawn
    assert got.truth.count("Parasitized") == sum(ill for _, t in fields for *_, ill in t) - sum(
        lab.truth == "Parasitized" for lab in got.unmatched)
    # The very pixels the field scorer gives the model, not a re-cut of the crop.
    cells, batch, _, _ = _find(fields[0][0], 32, False, False)
    assert any(np.array_equal(got.pixels[0], b) for b in batch)

    rows = smear_rows(fields)
    boxes = read_field_labels(write_boxes(tmp_path / "boxes.csv", rows))[0]
    by_box = read_field_cells(boxes, 32)
    assert len(by_box.truth) == len(boxes) and not by_box.unmatched
    # Boxes drawn differently (half size, same centre): matched by the centre inside a found cell.
    shrunk = [FieldCellLabel(b.image, b.x + b.width / 4, b.y + b.height / 4, b.truth, b.width / 2, b.height / 2)
              for b in boxes]
    assert read_field_cells(shrunk, 32).truth == by_box.truth


def test_unmatched_not_a_cell_and_unreadable_fields_are_reported_not_trained(tmp_path):
    (path, truth), = write_fields(tmp_path, n=1)
    x, y, _ = truth[0]
    (tmp_path / "junk.png").write_bytes(b"not an image")
    labels = [FieldCellLabel(path, x, y, "Parasitized"),
              FieldCellLabel(path, x + 0.5, y, "Uninfected"),  # a second label on that cell
              FieldCellLabel(path, 2, 2, "Uninfected"),  # background
              FieldCellLabel(path, *truth[1][:2], NOT_A_CELL),
              FieldCellLabel(path, *truth[2][:2], "Uninfected"),
              FieldCellLabel(tmp_path / "junk.png", 10, 10, "Uninfected")]
    got = read_field_cells(labels, 32)
    assert sorted(got.truth) == ["Parasitized", "Uninfected"]
    assert len(got.unmatched) == 2 and got.not_a_cell == 1
    assert [p.name for p, _ in got.skipped] == ["junk.png"] and "1 labels not used" in got.skipped[0][1]


def test_cli_field_labels_write_a_lab_model_with_field_figures(tmp_path, tiny_model_path, capsys):
    fields = write_fields(tmp_path / "fields", n=4)
    rows = smear_rows(fields)
    labelled = [r for r in rows if r[-1]]
    for r in rows[::3]:  # reviewed only in part: the rest keep the model's prediction and no truth
        r[-1] = ""
    csv_path = write_boxes(tmp_path / "fields" / "cells.csv", rows)
    given = sum(1 for r in rows if r[-1])
    out = tmp_path / "lab.keras"
    code, printed = adapt_cli(capsys, out, tiny_model_path, "--field-labels", str(csv_path))
    assert code == EXIT_OK, printed
    assert "field threshold" in printed and "mean |error| per field" in printed
    assert f"the labels cover {given} of the" in printed  # reviewed in part: said
    card = json.loads(out.with_name("lab.card.json").read_text())
    # Only the rows a person labelled trained; the unlabelled ones (with a prediction) did not.
    assert card["data"]["field_cells"] == card["data"]["cells"] == given < len(labelled)
    assert card["data"]["fields"] == card["data"]["groups"] == 4
    assert 0.0 <= card["field_threshold"] <= 1.0 and 0.05 <= card["threshold"] <= 0.95
    cells = card["field_cells"]
    assert cells["positives"] == card["data"]["field_cells_per_class"]["Parasitized"] >= 20
    assert cells["positives"] + cells["negatives"] == given and cells["threshold"] == card["field_threshold"]
    assert 0 <= cells["sensitivity"] <= 1 and 0 <= cells["specificity"] <= 1 and "note" not in cells
    per_field = card["adaptation"]["field_cells"]["after"]["per_field"]
    assert len(per_field) == 4 and sum(f["cells"] for f in per_field) == given

    from malaria_gui.engine.model import load_classifier

    clf = load_classifier(out)
    assert clf.field_threshold == card["field_threshold"] and clf.threshold == card["threshold"]


def test_field_csv_given_as_corrections_joins_crops_and_few_infected_is_said(tmp_path, tiny_model_path, capsys):
    rng = np.random.default_rng(1)
    for label, ill in (("Parasitized", True), ("Uninfected", False)):
        for n in range(22):
            write_rgb(tmp_path / "lab" / label / f"crop{n % 3}_{n}.png", synthetic_cell(rng, ill))
    fields = write_fields(tmp_path / "fields", n=2, infected=0.05, seed=3)
    csv_path = write_points(tmp_path / "fields" / "points.csv", fields)
    with open(csv_path, "a") as fh:
        fh.write("field0.png,2,2,Uninfected\n")  # on the background: no found cell
    out = tmp_path / "lab.keras"
    code = main(["adapt", str(tmp_path / "lab"), "--corrections", str(csv_path), "--out", str(out),
                 "--base", str(tiny_model_path), "--folds", "2", "--quiet"])
    printed = capsys.readouterr().out
    assert code == EXIT_OK, printed
    card = json.loads(out.with_name("lab.card.json").read_text())
    assert card["data"]["cells"] == 44 + card["data"]["field_cells"]
    assert card["data"]["field_cells_per_class"]["Parasitized"] < 20
    assert "too few to judge" in card["field_cells"]["note"] and "too few to judge" in printed
    assert "field labels named no cell" in printed and "field0.png (2, 2) Uninfected" in printed
    assert card["adaptation"]["field_cells"]["unmatched_labels"] >= 1


def test_window_call_without_field_labels_has_no_field_threshold(tmp_path, tiny_model_path):
    rng = np.random.default_rng(2)
    for label, ill in (("Parasitized", True), ("Uninfected", False)):
        for n in range(21):
            write_rgb(tmp_path / label / f"f{n % 3}_{n}.png", synthetic_cell(rng, ill))
    result = adapt(find_images([tmp_path]), tiny_model_path, folds=2, epochs=2)
    assert "field_threshold" not in result.card and "field_cells" not in result.report
    assert result.report["training"]["steps_per_run"][-1] == 42 * 2 // 16


def test_field_threshold_gets_the_count_right_but_never_calls_nothing(monkeypatch):
    # One field of 100: 1 infected cell at 0.6; 3 uninfected at 0.7, the rest at 0.1.
    p = np.array([0.6, 0.7, 0.7, 0.7] + [0.1] * 96)
    truth = ["Parasitized"] + ["Uninfected"] * 99
    images = ["a"] * 100
    t, note = choose_field_threshold(truth, p, images)
    assert 0.1 < t <= 0.6 and note is None  # calling nothing is the closer count, but misses the one
    monkeypatch.setattr(adapt_module, "MIN_FIELD_SENSITIVITY", 0.0)
    assert choose_field_threshold(truth, p, images)[0] > 0.7
    # Two fields: a cut-off between the infected cells' scores and the uninfected ones'
    # puts both fields' counts right.
    p2 = np.array([0.9, 0.8, 0.3, 0.2, 0.85, 0.1, 0.4, 0.2])
    truth2 = ["Parasitized", "Parasitized", "Uninfected", "Uninfected", "Parasitized", "Uninfected", "Uninfected",
              "Uninfected"]
    t2, _ = choose_field_threshold(truth2, p2, ["a"] * 4 + ["b"] * 4)
    assert 0.4 < t2 <= 0.8


def test_field_threshold_counts_as_many_as_are_infected_at_one_or_two_a_field():
    # 20 fields of 100 cells, one or two infected each (1.5%), scores overlapping as a real
    # model's do: the lab reads the pooled count, so the cut-off must call as many as are
    # infected. The per-field error alone chose a cut-off that called 28 of 30 here.
    rng = np.random.default_rng(4)
    truth, p, images = [], [], []
    for field in range(20):
        n_inf = 1 + field % 2
        truth += ["Parasitized"] * n_inf + ["Uninfected"] * (100 - n_inf)
        p += list(rng.beta(5, 1.5, n_inf)) + list(rng.beta(0.6, 12, 100 - n_inf))
        images += [f"field{field}"] * 100
    p = np.array(p)
    t, note = choose_field_threshold(truth, p, images)
    infected = truth.count("Parasitized")
    assert note is None and (p >= t).sum() == infected
    sensitivity = ((p >= t) & (np.array(truth) == "Parasitized")).sum() / infected
    assert sensitivity >= adapt_module.MIN_FIELD_SENSITIVITY


def test_cli_adapt_learns_from_the_cells_reviewed_on_a_stored_slide(tmp_path, tiny_model_path, capsys):
    from malaria_gui.engine.cases import CaseStore

    fields = write_fields(tmp_path / "fields", n=4)
    db = tmp_path / "cases.sqlite"
    code = main(["smear", str(tmp_path / "fields"), "--case", "S-1", "--cases-db", str(db), "--model",
                 str(tiny_model_path), "--quiet"])
    assert code == EXIT_OK
    truth_of = {path.resolve(): truth for path, truth in fields}
    with CaseStore(db) as store:
        case = store.load_slide("S-1")
        given = 0
        for k, c in enumerate(case.cells):
            ill = [t[2] for t in truth_of[Path(c.image).resolve()]
                   if c.x <= t[0] < c.x + c.width and c.y <= t[1] < c.y + c.height]
            if len(ill) == 1 and k % 4:  # a quarter left unreviewed: those must not train
                store.decide(c.id, truth_name(ill[0]), "tech")
                given += 1
        store.decide(case.cells[0].id, NOT_A_CELL, "tech")  # (left unreviewed above) counted, never trained on
    capsys.readouterr()
    out = tmp_path / "lab.keras"
    code, printed = adapt_cli(capsys, out, tiny_model_path, "--case", "S-1", "--cases-db", str(db))
    assert code == EXIT_OK, printed
    card = json.loads(out.with_name("lab.card.json").read_text())
    assert card["data"]["field_cells"] == given and card["data"]["fields"] == 4
    assert "field_threshold" in card
    # A slide nobody reviewed teaches nothing, and says so.
    main(["smear", str(tmp_path / "fields"), "--case", "S-2", "--cases-db", str(db), "--model",
          str(tiny_model_path), "--quiet"])
    code = main(["adapt", "--case", "S-2", "--cases-db", str(db), "--out", str(tmp_path / "x.keras"), "--quiet"])
    assert code == 2 and "no reviewed cells" in capsys.readouterr().err


def test_fine_tuning_is_kept_only_when_it_ranks_no_worse_and_counts_better():
    from malaria_gui.training.adapt import fine_tuning_helps

    def fields(auc_before, auc_after, err_after, err_recal):
        return {"before": {"roc_auc": auc_before}, "after": {"roc_auc": auc_after, "mean_abs_error_points": err_after},
                "recalibrated": {"roc_auc": auc_before, "mean_abs_error_points": err_recal}}

    assert fine_tuning_helps(fields(0.95, 0.98, 0.4, 0.6))
    assert not fine_tuning_helps(fields(0.992, 0.985, 0.55, 0.58))  # ranks worse: not kept
    assert not fine_tuning_helps(fields(0.95, 0.98, 0.7, 0.6))  # counts worse: not kept


def test_when_fine_tuning_does_not_help_the_lab_model_is_the_base_with_a_field_threshold(tmp_path, tiny_model_path,
                                                                                       monkeypatch, capsys):
    import cv2

    monkeypatch.setattr(adapt_module, "fine_tuning_helps", lambda fields: False)
    fields = write_fields(tmp_path / "fields", n=4)
    csv_path = write_boxes(tmp_path / "fields" / "cells.csv", [r for r in smear_rows(fields) if r[-1]])
    out = tmp_path / "lab.keras"
    code, printed = adapt_cli(capsys, out, tiny_model_path, "--field-labels", str(csv_path))
    assert code == EXIT_OK, printed
    assert "fine-tuning did not help" in printed and "kept: base, field thr." in printed
    card = json.loads(out.with_name("lab.card.json").read_text())
    base_card = json.loads(tiny_model_path.with_name("tiny.card.json").read_text())
    assert card["threshold"] == base_card["threshold"] and card["training"]["method"].startswith("none kept")
    assert card["field_cells"]["threshold"] == card["field_threshold"] == card["adaptation"]["field_cells"]["recalibrated"]["threshold"]
    from malaria_gui.engine.model import load_classifier

    base, lab = load_classifier(tiny_model_path), load_classifier(out)
    rng = np.random.default_rng(5)
    cells = np.stack([cv2.resize(synthetic_cell(rng, k % 2 == 0), (base.input_size,) * 2) for k in range(16)])
    assert np.allclose(base.predict(cells), lab.predict(cells), atol=1e-4)  # the same network (batch norm folded)

"""Adapting a model to a lab's cells: grouping, refusals, exit codes, the card, round trips."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from cells import DATA_DIR, REPO, synthetic_cell, write_rgb
from malaria_gui.cli import main
from malaria_gui.engine.discovery import ImageItem, find_images
from malaria_gui.exitcodes import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from malaria_gui.training.adapt import (AdaptCancelled, AdaptError, _grouped_folds, adapt, format_report,
                                        read_corrections, save_lab_model, source_group)


def lab_folder(root: Path, per_class: int = 24, fields: int = 4, seed: int = 0) -> Path:
    """Synthetic crops named ``field<g>_<n>.png`` (g = the field image they were cut from)."""
    rng = np.random.default_rng(seed)
    for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
        for n in range(per_class):
            write_rgb(root / label / f"field{n % fields}_{n}.png", synthetic_cell(rng, parasitized))
    return root


def test_source_group_reads_field_images_and_folders(tmp_path):
    assert source_group(tmp_path / "Parasitized" / "img7_12.png") == source_group(tmp_path / "Uninfected" / "img7_3.png")
    assert source_group(tmp_path / "Parasitized" / "img7_12.png") != source_group(tmp_path / "Parasitized" / "img8_1.png")
    nih = "C100P61ThinF_IMG_20150918_144104_cell_162.png"
    assert source_group(tmp_path / "P" / nih).endswith("C100P61ThinF_IMG_20150918_144104_cell")
    # No numbered field in the name: the folder above the class folder is the source.
    assert source_group(tmp_path / "slide1" / "Parasitized" / "a.png") == str(tmp_path / "slide1")


def test_grouped_folds_never_split_a_group():
    rng = np.random.default_rng(3)
    groups = np.array([f"g{rng.integers(12)}" for _ in range(200)])
    labels = rng.integers(0, 2, 200)
    splits, k, how, notes = _grouped_folds(labels, groups, 5, seed=0)
    assert (k, how, notes) == (5, "grouped", [])
    for train, val in splits:
        assert not set(groups[train]) & set(groups[val])
    assert sorted(np.concatenate([val for _, val in splits]).tolist()) == list(range(200))


def test_fewer_groups_than_folds_lowers_k_and_says_so():
    labels = np.array([0, 1] * 30)
    groups = np.array(["a", "b", "c"] * 20)
    splits, k, how, notes = _grouped_folds(labels, groups, 5, seed=0)
    assert k == 3 and len(splits) == 3 and "3 folds instead of 5" in notes[0]


def test_adapt_writes_a_lab_model_that_classify_loads_and_that_adapts_again(tmp_path, tiny_model_path, capsys):
    lab = lab_folder(tmp_path / "lab")
    (lab / "Parasitized" / "field0_99.png").write_bytes(b"not an image")
    out = tmp_path / "new folder" / "lab.keras"
    code = main(["adapt", str(lab), "--out", str(out), "--base", str(tiny_model_path), "--folds", "3", "--quiet"])
    printed = capsys.readouterr().out
    assert code == EXIT_SOME_FAILED  # one unreadable file, reported, the rest used
    assert "field0_99.png" in printed and "pooled" in printed and "before" in printed and "after" in printed
    card = json.loads(out.with_name("lab.card.json").read_text())
    assert card["base_model"]["name"] == "tiny-test-model"
    assert len(card["base_model"]["sha256"]) == 64
    assert card["data"]["cells_per_class"] == {"Parasitized": 24, "Uninfected": 24}
    assert card["data"]["groups"] == 4
    validation = card["adaptation"]["validation"]
    assert validation["folds"] == 3 and validation["grouped"] and len(validation["per_fold"]) == 3
    pooled = validation["pooled"]["after"]
    assert pooled["n"] == 48 and pooled["accuracy_ci95"][0] <= pooled["accuracy"] <= pooled["accuracy_ci95"][1]
    assert 0.05 <= card["threshold"] <= 0.95 and card["class_order"] == ["Parasitized", "Uninfected"]
    assert {"keras", "numpy", "python"} <= set(card["software"]) and card["created"]
    assert card["ood"]["cells"] == 48
    # Batch norm was folded (the tiny base has it), as train does.
    import zipfile

    with zipfile.ZipFile(out) as archive:
        config = archive.read("config.json").decode()
    assert "Conv2D" in config and "BatchNormalization" not in config

    code = main(["classify", str(lab), "--model", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == EXIT_SOME_FAILED and "model tiny-test-model-lab" in printed and "Confusion matrix" in printed
    assert "look unlike" not in printed  # 48 adaptation cells: too few to describe the lab, never a warning

    again = tmp_path / "again.keras"
    code = main(["adapt", str(lab), "--out", str(again), "--base", str(out), "--folds", "2", "--quiet"])
    assert code == EXIT_SOME_FAILED
    assert json.loads(again.with_name("again.card.json").read_text())["base_model"]["name"] == "tiny-test-model-lab"


def test_refusals_exit_2_with_a_message_and_write_nothing(tmp_path, tiny_model_path, capsys):
    out = tmp_path / "out" / "m.keras"
    few = lab_folder(tmp_path / "few", per_class=10)
    assert main(["adapt", str(few), "--out", str(out), "--base", str(tiny_model_path), "--quiet"]) == EXIT_USAGE
    assert "too few cells" in capsys.readouterr().err

    one = lab_folder(tmp_path / "one")
    for f in (one / "Uninfected").iterdir():
        f.unlink()
    assert main(["adapt", str(one), "--out", str(out), "--base", str(tiny_model_path), "--quiet"]) == EXIT_USAGE
    assert "only one class" in capsys.readouterr().err

    broken = tmp_path / "broken"
    for label in ("Parasitized", "Uninfected"):
        for i in range(25):
            (broken / label).mkdir(parents=True, exist_ok=True)
            (broken / label / f"x_{i}.png").write_bytes(b"junk")
    assert main(["adapt", str(broken), "--out", str(out), "--base", str(tiny_model_path), "--quiet"]) == EXIT_USAGE
    assert "none of the 50 labelled files could be read" in capsys.readouterr().err

    lab = lab_folder(tmp_path / "lab")
    not_model = tmp_path / "notes.keras"
    not_model.write_text("hello")
    assert main(["adapt", str(lab), "--out", str(out), "--base", str(not_model), "--quiet"]) == EXIT_USAGE
    assert "cannot load base model" in capsys.readouterr().err

    import keras

    two_units = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    two_units.save(tmp_path / "two.keras")
    assert main(["adapt", str(lab), "--out", str(out), "--base", str(tmp_path / "two.keras"), "--quiet"]) == EXIT_USAGE
    assert "not a cell classifier" in capsys.readouterr().err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_corrections_csv_overrides_folder_labels(tmp_path):
    lab = lab_folder(tmp_path / "lab")
    first = sorted((lab / "Parasitized").iterdir())[0]
    csv_path = tmp_path / "corrections.csv"
    csv_path.write_text(f"path,truth\n{first},Uninfected\nlab/Uninfected/field0_0.png,parasitized\nnowhere.png,maybe\n")
    items = read_corrections(csv_path)
    assert items == [ImageItem(first, "Uninfected"), ImageItem(tmp_path / "lab/Uninfected/field0_0.png", "Parasitized")]
    from malaria_gui.training.adapt import merge_items

    merged = {it.path: it.truth for it in merge_items(find_images([lab]), items)}
    assert merged[first] == "Uninfected" and len(merged) == 48


def test_same_seed_same_model_and_cancel_leaves_nothing(tmp_path, tiny_model_path):
    items = find_images([lab_folder(tmp_path / "lab")])
    one = adapt(items, tiny_model_path, folds=2, seed=5, epochs=4)
    two = adapt(items, tiny_model_path, folds=2, seed=5, epochs=4)
    batch = np.stack([synthetic_cell(np.random.default_rng(i), i % 2 == 0)[::4, ::4] for i in range(8)])
    np.testing.assert_array_equal(np.asarray(one.model(batch)), np.asarray(two.model(batch)))
    assert one.report["validation"]["pooled"] == two.report["validation"]["pooled"]
    assert "pooled" in format_report(one)

    cancel = threading.Event()
    with pytest.raises(AdaptCancelled):
        adapt(items, tiny_model_path, folds=2, epochs=4, cancel=cancel,
              progress=lambda stage, done, total: cancel.set() if stage.startswith("cross") else None)
    with pytest.raises(AdaptError, match="must end in .keras"):
        save_lab_model(one, tmp_path / "lab.h5")


def test_subprocess_refusal_is_a_message_not_a_traceback(tmp_path, tiny_model_path):
    few = lab_folder(tmp_path / "few", per_class=5)
    run = subprocess.run([sys.executable, "-m", "malaria_gui", "adapt", str(few), "--out", str(tmp_path / "m.keras"),
                          "--base", str(tiny_model_path), "--quiet"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == EXIT_USAGE
    assert "adapt: error: too few cells: Parasitized 5, Uninfected 5" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "m.keras").exists()


@pytest.mark.skipif(not (DATA_DIR / "manifest.csv").is_file(), reason="real data not available (MALARIA_DATA_DIR)")
def test_adapting_on_a_shifted_lab_improves_its_other_patients(tmp_path):
    """Stand-in for another lab: NIH test patients under a strong stain/hue/scale shift. 100
    shifted cells of 4 patients adapt the model; 600 shifted cells of other patients judge it."""
    sys.path.insert(0, str(REPO / "bench"))
    from adapt import shifted_lab, test_patients  # bench/adapt.py

    from malaria_gui.engine.metrics import compute_metrics
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.scorer import score_all

    ids = test_patients()
    donors = [p for p in ids if p.startswith("P")][:4]
    shifted_lab(tmp_path / "lab", donors, 50)
    shifted_lab(tmp_path / "other", [p for p in ids if p not in donors], None)
    other = find_images([tmp_path / "other"])
    other = [other[i] for i in sorted(np.random.default_rng(1).choice(len(other), 600, replace=False))]
    out = tmp_path / "lab.keras"
    assert main(["adapt", str(tmp_path / "lab"), "--out", str(out), "--quiet"]) == EXIT_OK
    truth = [it.truth for it in other]
    figures = {}
    for name, path in (("before", None), ("after", out)):
        clf = load_classifier(path)
        figures[name] = compute_metrics(truth, [r.p_parasitized for r in score_all(other, clf)], clf.threshold)
    before, after = figures["before"], figures["after"]
    # Each model at its own card's threshold: more cells right, and a better ranking. (The
    # bundled model at its 0.56 already gets 90% of these; at 0.662 it got 88%, and the margin
    # asked here was then 2 points of accuracy. This run: 90.2% -> 92.0%, AUC 0.966 -> 0.975.)
    assert after.accuracy > before.accuracy + 0.005, (before.accuracy, after.accuracy)
    assert after.roc_auc > before.roc_auc + 0.005, (before.roc_auc, after.roc_auc)


def test_ctrl_c_exits_130_and_leaves_the_previous_lab_model(tmp_path, tiny_model_path, monkeypatch, capsys):
    from malaria_gui.training import adapt as adapt_module

    lab = lab_folder(tmp_path / "lab")
    out = tmp_path / "lab.keras"
    out.write_bytes(b"the previous lab model")
    calls = []

    def interrupted(*args, **kwargs):  # Ctrl+C in the second fine-tuning run
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = adapt_module._fine_tune
    monkeypatch.setattr(adapt_module, "_fine_tune", interrupted)
    assert main(["adapt", str(lab), "--out", str(out), "--base", str(tiny_model_path), "--quiet"]) == EXIT_INTERRUPTED
    assert "interrupted; nothing written" in capsys.readouterr().err
    assert out.read_bytes() == b"the previous lab model" and not out.with_name("lab.card.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", "lab.keras"]  # no temporary files left


def test_time_limit_cuts_fine_tuning_short_and_says_so(tmp_path, tiny_model_path):
    items = find_images([lab_folder(tmp_path / "lab")])
    result = adapt(items, tiny_model_path, folds=2, epochs=200, max_minutes=0.001)
    assert any("time limit" in note for note in result.report["notes"])

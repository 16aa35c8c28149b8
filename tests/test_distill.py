"""Distillation: the teacher is the average of its models, and the student learns its scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cells import nih_style_folder


def _saved(tmp_path, name, size=32, seed=0):
    import keras

    from malaria_gui.training.architectures import compact

    keras.utils.set_random_seed(seed)
    path = tmp_path / f"{name}.keras"
    compact(input_size=size, width=4).save(path)
    return path


def test_the_teacher_averages_its_models_and_refuses_a_mix_of_sizes(tmp_path):
    import keras

    from malaria_gui.training.distill import load_teacher

    a, b = _saved(tmp_path, "a", seed=1), _saved(tmp_path, "b", seed=2)
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("float32")
    each = [keras.saving.load_model(p, safe_mode=True).predict(x, verbose=0) for p in (a, b)]
    assert not np.allclose(each[0], each[1])
    np.testing.assert_allclose(load_teacher([a, b]).predict(x, verbose=0), (each[0] + each[1]) / 2, atol=1e-5)

    with pytest.raises(ValueError, match="different input sizes"):
        load_teacher([a, _saved(tmp_path, "c", size=48)])
    with pytest.raises(FileNotFoundError, match="teacher model not found"):
        load_teacher([a, tmp_path / "missing.keras"])


def _red_teacher():
    """A teacher that grades cells by how red they are: P(Uninfected) = sigmoid((R - 128) / 16)."""
    import keras

    inputs = keras.Input((32, 32, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(1, activation="sigmoid")
    outputs = dense(mean)
    dense.set_weights([np.array([[1 / 16], [0.0], [0.0]], "float32"), np.array([-8.0], "float32")])
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("alpha, learns_teacher", [(0.0, True), (1.0, False)])
def test_the_student_learns_the_teachers_grading_not_only_the_labels(alpha, learns_teacher):
    import keras

    from malaria_gui.training.architectures import compact
    from malaria_gui.training.distill import Distiller

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)

    def cells(n):
        red = rng.uniform(64, 192, n)
        x = np.tile(red[:, None, None, None], (1, 32, 32, 3)).astype("float32")
        x[..., 1:] = rng.uniform(64, 192, (n, 1, 1, 2))
        return x + rng.normal(0, 4, x.shape).astype("float32")

    teacher = _red_teacher()
    x = cells(512)
    labels = rng.integers(0, 2, len(x)).astype("float32")  # coin flips: nothing to learn from them
    distiller = Distiller(compact(input_size=32, width=4), teacher, alpha=alpha, temperature=1.0)
    distiller.compile(optimizer=keras.optimizers.Adam(3e-3), student_loss=keras.losses.BinaryCrossentropy())
    distiller.fit(x, labels, epochs=6, batch_size=32, verbose=0)

    fresh = cells(256)
    # Batch statistics of the fresh cells (training=True): the function learned, apart from how
    # far batch norm's moving averages have caught up in a hundred steps.
    student = np.asarray(distiller.student(fresh, training=True))[:, 0]
    agreement = np.corrcoef(student, teacher.predict(fresh, verbose=0)[:, 0])[0, 1]
    assert (agreement > 0.9) if learns_teacher else (agreement < 0.5)


def test_train_with_a_teacher_names_it_on_the_card_and_refuses_one_of_another_size(tmp_path, capsys):
    from malaria_gui.cli import main

    data = nih_style_folder(tmp_path / "cells")
    teacher = _saved(tmp_path, "teacher", size=64)
    out = tmp_path / "run"
    assert main(["train", str(data), "--epochs", "1", "--out", str(out), "--batch-size", "16",
                 "--teacher", str(teacher)]) == 0
    card = json.loads((out / "malaria_cnn.card.json").read_text())
    assert card["training"]["teachers"] == ["teacher.keras"]
    assert "distillation" in card["training"]["loss"]

    small = _saved(tmp_path, "small", size=32)
    assert main(["train", str(data), "--epochs", "1", "--out", str(tmp_path / "run2"), "--teacher", str(small)]) == 2
    assert "teacher takes 32 px" in capsys.readouterr().err

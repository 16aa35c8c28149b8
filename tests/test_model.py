"""Loading a model file: the right errors for bad files, safe mode always on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from malaria_gui.engine.model import ModelError, load_classifier, read_card


def test_tiny_model_loads_with_its_card(tiny_classifier):
    assert tiny_classifier.input_size == 32
    assert tiny_classifier.name == "tiny-test-model"
    assert tiny_classifier.threshold == 0.5


def test_predict_returns_one_probability_of_parasitized_per_cell(tiny_classifier):
    batch = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    p = tiny_classifier.predict(batch)
    raw = np.asarray(tiny_classifier.model.predict_on_batch(batch)).reshape(5)
    assert p.shape == (5,) and ((p >= 0) & (p <= 1)).all()
    # The network's sigmoid is P(Uninfected) (class 1): the engine must flip it exactly once.
    np.testing.assert_allclose(p, 1.0 - raw, atol=1e-6)
    assert tiny_classifier.predict(np.empty((0, 32, 32, 3), np.uint8)).shape == (0,)


@pytest.mark.parametrize("n", [1, 17, 300])
def test_any_batch_size_scores_each_cell_as_keras_does(tiny_classifier, n):
    """Batches are padded to a few compiled sizes and split above 256: no cell may be
    dropped, duplicated or mixed up with its padding."""
    batch = np.random.default_rng(n).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    raw = np.concatenate([np.asarray(tiny_classifier.model.predict_on_batch(batch[i:i + 100])).reshape(-1)
                          for i in range(0, n, 100)])
    np.testing.assert_allclose(tiny_classifier.predict(batch), 1.0 - raw, atol=1e-6)


def test_fast_load_equals_keras_load_and_leaves_keras_usable(tiny_model_path, tiny_classifier):
    """The loader skips Keras' random initialisation: the weights must still be the file's,
    and Keras' own deferred-initialisation bookkeeping must still work afterwards."""
    import keras

    reference = keras.saving.load_model(tiny_model_path, compile=False, safe_mode=True)
    for ours, theirs in zip(tiny_classifier.model.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    with keras.StatelessScope():  # ends by initialising whatever Keras still has pending
        fresh = keras.layers.Dense(2)
        fresh.build((None, 3))
    assert fresh.kernel.shape == (3, 2)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_classifier(tmp_path / "nope.keras")


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"this is not a zip archive" * 10)
    with pytest.raises(ModelError, match="cannot load model bad.keras"):
        load_classifier(bad)


def test_truncated_model_file(tmp_path, tiny_model_path):
    cut = tmp_path / "cut.keras"
    cut.write_bytes(tiny_model_path.read_bytes()[:2000])
    with pytest.raises(ModelError, match="cut.keras"):
        load_classifier(cut)


def test_model_with_code_inside_is_refused(tmp_path):
    """safe_mode=True: a Lambda layer (arbitrary Python) in a downloaded file must not run."""
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelError, match="cannot load model"):
        load_classifier(path)


def test_model_with_wrong_output_is_refused(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    path = tmp_path / "two.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelError, match="not a cell classifier"):
        load_classifier(path)


def test_card_is_optional(tmp_path):
    assert read_card(tmp_path / "m.keras") == {}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", json.dumps({"threshold": 3}), json.dumps({"threshold": "x"})])
def test_bad_card_is_a_model_error(tmp_path, text):
    (tmp_path / "m.card.json").write_text(text)
    with pytest.raises(ModelError, match="card"):
        read_card(tmp_path / "m.keras")

"""The ``seed`` network must stay exactly the original notebook's, layer by layer."""

from __future__ import annotations

import pytest

SEED_TABLE = [
    # (layer type, output shape without the batch axis, parameters) at 224 x 224
    ("Rescaling", (224, 224, 3), 0),
    ("Conv2D", (222, 222, 32), 896),
    ("MaxPooling2D", (111, 111, 32), 0),
    ("Conv2D", (109, 109, 64), 18_496),
    ("MaxPooling2D", (54, 54, 64), 0),
    ("Conv2D", (52, 52, 128), 73_856),
    ("MaxPooling2D", (26, 26, 128), 0),
    ("Flatten", (86_528,), 0),
    ("Dense", (128,), 11_075_712),
    ("Dropout", (128,), 0),
    ("Dense", (1,), 129),
]


@pytest.fixture(scope="module")
def seed_model():
    from malaria_gui.training.architectures import seed

    return seed(224)


def test_seed_layer_table(seed_model):
    layers = [layer for layer in seed_model.layers if type(layer).__name__ != "InputLayer"]
    table = [(type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params()) for layer in layers]
    assert table == SEED_TABLE
    assert seed_model.count_params() == 11_169_089


def test_seed_layer_settings(seed_model):
    convs = [layer for layer in seed_model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 3
    assert {c.get_config()["activation"] for c in convs} == {"relu"}
    assert {c.get_config()["padding"] for c in convs} == {"valid"}
    dense_hidden, dropout, dense_out = seed_model.layers[-3:]
    assert dense_hidden.get_config()["activation"] == "relu"
    assert dropout.rate == 0.5
    assert dense_out.get_config()["activation"] == "sigmoid"
    assert seed_model.layers[1].scale == pytest.approx(1 / 255)


def test_compact_takes_uint8_range_and_outputs_one_probability():
    from malaria_gui.training.architectures import build

    model = build("compact")
    assert tuple(model.input_shape) == (None, 64, 64, 3)
    assert tuple(model.output_shape) == (None, 1)
    assert type(model.layers[1]).__name__ == "Rescaling"


def test_unknown_architecture_is_a_clear_error():
    from malaria_gui.training.architectures import build

    with pytest.raises(ValueError, match="unknown architecture"):
        build("resnet9000")


def test_folding_batch_norm_keeps_the_predictions_and_drops_the_layers():
    """The shipped form of a trained network must score cells exactly as the trained one."""
    import keras
    import numpy as np

    from malaria_gui.training.architectures import compact, fold_batch_norm

    keras.utils.set_random_seed(3)
    model = compact(input_size=32, width=4)
    # Give batch norm non-trivial statistics, as training would.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            rng = np.random.default_rng(len(gamma))
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 3, mean.shape), rng.uniform(0.5, 4, var.shape)])
    folded = fold_batch_norm(model)
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype(np.uint8)
    np.testing.assert_allclose(folded.predict_on_batch(images), model.predict_on_batch(images), atol=1e-5)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)


def test_compact_norm_ignores_each_channels_stain_strength_and_loads_in_safe_mode(tmp_path):
    """Per-image colour normalisation: what the first convolution sees barely moves when a
    channel's gain and offset change (a paler or bluer lab), and the app's loader takes the file."""
    import keras
    import numpy as np

    from cells import synthetic_cell
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.training.architectures import build, fold_batch_norm

    rng = np.random.default_rng(0)
    cells = np.stack([synthetic_cell(rng, i % 2 == 0, size=64) for i in range(4)]).astype("float32")
    inside = cells.max(axis=-1, keepdims=True) > 0
    recoloured = np.where(inside, cells * np.float32([0.7, 1.0, 1.25]) + np.float32([20, -10, 0]), 0)
    model = build("compact_norm")
    norm = next(layer for layer in model.layers if type(layer).__name__ == "GroupNormalization")
    seen = keras.Model(model.input, norm.output)
    a, b = np.asarray(seen(cells)), np.asarray(seen(recoloured))
    raw_change = np.abs(recoloured - cells).mean() / np.abs(cells).mean()
    assert raw_change > 0.1 and np.abs(a - b).mean() / np.abs(a).mean() < 0.05 * raw_change

    folded = fold_batch_norm(model)
    folded.save(tmp_path / "m.keras")
    classifier = load_classifier(tmp_path / "m.keras")
    batch = cells.astype(np.uint8)
    assert np.allclose(classifier.predict(batch), 1 - np.asarray(folded(batch.astype("float32"))).ravel(), atol=1e-5)


def test_the_stride_4_stem_is_a_4x4_stride_4_convolution_and_loads_safely(tmp_path):
    """compact128's stem regroups pixels instead of running a strided convolution (twice as
    fast on CPU); it must compute the same thing, and survive folding, saving, safe loading."""
    import keras
    import numpy as np

    from malaria_gui.engine.model import load_classifier
    from malaria_gui.training.architectures import build, compact, fold_batch_norm

    keras.utils.set_random_seed(5)
    model = compact(input_size=32, width=4, stem=4)
    one_by_one = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    stem_output = keras.Model(model.inputs, one_by_one.output)
    kernel = one_by_one.get_weights()[0]  # (1, 1, 48, 4): channels ordered (row, column, colour)
    conv = keras.layers.Conv2D(4, 4, strides=4, use_bias=False)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    conv.build((None, 32, 32, 3))
    conv.set_weights([kernel.reshape(4, 4, 3, 4)])
    np.testing.assert_allclose(stem_output.predict(x, verbose=0), conv(x / 255.0), atol=1e-5)

    big = build("compact128")
    assert tuple(big.input_shape) == (None, 128, 128, 3)
    fold_batch_norm(big).save(tmp_path / "c128.keras")
    cells = np.random.default_rng(1).integers(0, 255, (3, 128, 128, 3), dtype=np.uint8)
    loaded = load_classifier(tmp_path / "c128.keras")
    np.testing.assert_allclose(loaded.predict(cells), 1.0 - big.predict(cells, verbose=0)[:, 0], atol=1e-5)

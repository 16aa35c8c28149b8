"""The networks, in plain Keras: ``seed`` (the original notebook's) and ``compact`` (ours).

Both output one sigmoid unit, P(class 1) = P(Uninfected) (see engine/labels.py), and both
take ``uint8``-range RGB: scaling lives inside the model so a saved file is self-contained.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers


def seed(input_size: int = 224) -> keras.Model:
    """The original notebook's CNN, unchanged: 11,169,089 parameters at 224 x 224."""
    inputs = keras.Input((input_size, input_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(32, (3, 3), activation="relu")(x)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Conv2D(64, (3, 3), activation="relu")(x)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Conv2D(128, (3, 3), activation="relu")(x)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="seed")


def _conv_bn_relu(x, filters: int, strides: int = 1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def compact(input_size: int = 64, width: int = 16, normalise: bool = False, stem: int = 2) -> keras.Model:
    """Our default: about 0.4M parameters, ~2,000 cells/s of inference on two CPU cores.

    A strided stem halves the resolution at once (most of a CPU's time goes on the
    full-resolution layers); plain 3x3 convolutions then double the channels at each
    halving, and global pooling makes the head indifferent to where the cell sits.
    Separable convolutions were tried and ran slower on CPU for the same budget.
    ``normalise`` puts each image's colour channels on a common scale first (instance
    normalisation: per image and channel, zero mean and unit spread), so a lab's overall
    stain strength and white balance matter less than the cell's own contrasts.
    ``stem=4`` takes a cell at twice the size through a stride-4 stem instead: the same
    feature maps and cost from the second layer on, but the stem sees the full-resolution
    pixels where 64 px had averaged each 2x2 block (a ring form is a few pixels across).
    """
    inputs = keras.Input((input_size, input_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    if normalise:
        x = layers.GroupNormalization(groups=-1, epsilon=1e-3)(x)
    if stem == 2:
        x = _conv_bn_relu(x, width, strides=2)
    else:
        # Each stem x stem block of pixels becomes one position's channels, then a 1x1
        # convolution: the same function as a stride-4 4x4 convolution, which XLA ran at
        # half the speed on CPU.
        grid = input_size // stem
        x = layers.Reshape((grid, stem, grid, stem, 3))(x)
        x = layers.Permute((1, 3, 2, 4, 5))(x)
        x = layers.Reshape((grid, grid, stem * stem * 3))(x)
        x = layers.Conv2D(width, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    for filters in (2 * width, 4 * width, 8 * width):
        x = _conv_bn_relu(x, filters)
        x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 8 * width)
    x = _conv_bn_relu(x, 8 * width)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="compact")


def fold_batch_norm(model: keras.Model) -> keras.Model:
    """The same function with every Conv2D -> BatchNormalization pair merged into one Conv2D.

    At inference batch normalisation is a fixed per-channel scale and shift, so it can live
    in the convolution's kernel and bias: about 16% more cells/s on CPU, outputs equal to
    float rounding. Works on chains of layers (both networks here); the saved file is then
    a plain, optimizer-free network. Layers other than those pairs are copied as they are.
    """
    inputs = keras.Input(model.input_shape[1:], name=model.layers[0].name)
    x = inputs
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    i = 0
    while i < len(chain):
        layer = chain[i]
        nxt = chain[i + 1] if i + 1 < len(chain) else None
        if isinstance(layer, layers.Conv2D) and isinstance(nxt, layers.BatchNormalization):
            weights = layer.get_weights()
            kernel = weights[0]
            bias = weights[1] if layer.use_bias else np.zeros(kernel.shape[-1], kernel.dtype)
            gamma, beta, mean, var = nxt.get_weights()
            scale = gamma / np.sqrt(var + nxt.epsilon)
            config = layer.get_config() | {"use_bias": True, "name": layer.name}
            conv = layers.Conv2D.from_config(config)
            x = conv(x)
            conv.set_weights([kernel * scale, (bias - mean) * scale + beta])
            i += 2
            continue
        copy = layer.__class__.from_config(layer.get_config())
        x = copy(x)
        copy.set_weights(layer.get_weights())
        i += 1
    return keras.Model(inputs, x, name=model.name)


ARCHITECTURES = {
    "seed": (seed, 224),
    "compact": (compact, 64),
    "compact_norm": (lambda size: compact(size, normalise=True), 64),
    "compact24": (lambda size: compact(size, width=24), 64),
    "compact128": (lambda size: compact(size, stem=4), 128),
}


def build(name: str) -> keras.Model:
    """The named network at its native input size."""
    try:
        builder, size = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}") from None
    return builder(size)

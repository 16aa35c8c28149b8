"""The networks, in plain Keras: ``seed`` (the original notebook's) and ``compact`` (ours).

Both output one sigmoid unit, P(class 1) = P(Uninfected) (see engine/labels.py), and both
take ``uint8``-range RGB: scaling lives inside the model so a saved file is self-contained.
"""

from __future__ import annotations

import keras
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


def compact(input_size: int = 64, width: int = 16) -> keras.Model:
    """Our default: about 0.4M parameters, ~2,000 cells/s of inference on two CPU cores.

    A strided stem halves the resolution at once (most of a CPU's time goes on the
    full-resolution layers); plain 3x3 convolutions then double the channels at each
    halving, and global pooling makes the head indifferent to where the cell sits.
    Separable convolutions were tried and ran slower on CPU for the same budget.
    """
    inputs = keras.Input((input_size, input_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = _conv_bn_relu(x, width, strides=2)
    for filters in (2 * width, 4 * width, 8 * width):
        x = _conv_bn_relu(x, filters)
        x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 8 * width)
    x = _conv_bn_relu(x, 8 * width)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="compact")


ARCHITECTURES = {"seed": (seed, 224), "compact": (compact, 64)}


def build(name: str) -> keras.Model:
    """The named network at its native input size."""
    try:
        builder, size = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}") from None
    return builder(size)

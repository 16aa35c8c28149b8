"""The one preprocessing step shared by training and inference.

A cell crop of any size becomes the square RGB ``uint8`` array the network takes. Scaling to
[0, 1] and any colour normalisation live inside the saved model as layers, so a ``.keras``
file carries its own preprocessing and nothing else can drift between training and use.
"""

from __future__ import annotations

import cv2
import numpy as np

STORE_SIZE = 128  # training keeps every cell at this size (the NIH crop size) before resizing


def preprocess(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB ``uint8`` cell image to ``size`` x ``size`` (area when shrinking).

    The NIH crops were stretched to a square without keeping their aspect ratio, so other
    crops are stretched the same way rather than padded.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return np.ascontiguousarray(image)
    shrinking = height * width > size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def preprocess_batch(images: list[np.ndarray], size: int) -> np.ndarray:
    """Stack preprocessed images into one (N, size, size, 3) ``uint8`` batch."""
    batch = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        batch[i] = preprocess(image, size)
    return batch


def prepare(image: np.ndarray, size: int) -> np.ndarray:
    """What the network sees for one decoded file, made exactly as training makes it.

    Training stores every cell at :data:`STORE_SIZE` (``data.load_pixels``) and resizes that
    to the network's input (``preprocess_batch``); going through the same two steps here keeps
    a file of any size byte-identical between training and inference.
    """
    return preprocess(preprocess(image, STORE_SIZE), size)

"""malaria-gui: classify single red blood cell images as Parasitized or Uninfected."""

import os

# Keras 3 runs on JAX here: against TensorFlow it scores ~1.3-1.6x more cells/s on CPU
# with the same outputs, and keeps the bundled executable under 1 GB (TensorFlow's one C++
# library is 560 MB). Set before anything imports keras; KERAS_BACKEND still wins if set, and
# KERAS_BACKEND=tensorflow gives the same results (README, "Keras backends").
os.environ.setdefault("KERAS_BACKEND", "jax")

__version__ = "0.1.0"

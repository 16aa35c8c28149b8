"""Finding bundled files (the model, its card, icons) from a checkout and from a frozen build.

PyInstaller unpacks data next to ``sys._MEIPASS``; a source checkout keeps them at the
repository's top level. Everything that needs a bundled file asks here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODEL_ENV = "MALARIA_GUI_MODEL"
DEFAULT_MODEL_NAME = "malaria_cnn.keras"


def base_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    return base_dir().joinpath(*parts)


def default_model_path() -> Path:
    """The bundled model, unless ``MALARIA_GUI_MODEL`` names another file."""
    override = os.environ.get(MODEL_ENV)
    return Path(override) if override else resource_path("models", DEFAULT_MODEL_NAME)


def card_path_for(model_path: str | os.PathLike[str]) -> Path:
    """Where a model's card lives: ``name.keras`` -> ``name.card.json`` beside it."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".card.json")

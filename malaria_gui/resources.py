"""Finding bundled files (the model, its card, the icon) wherever the program runs from.

Three layouts hold the top-level ``models/`` and ``resources/`` folders:

- a frozen PyInstaller build unpacks them under ``sys._MEIPASS``;
- an installed wheel (``pip install .``) carries them as package data, ``malaria_gui/_models``
  and ``malaria_gui/_resources`` (setup.py maps the folders there);
- a source checkout (or an editable install) keeps them at the repository's top level.

Everything that needs a bundled file asks here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODEL_ENV = "MALARIA_GUI_MODEL"
DEFAULT_MODEL_NAME = "malaria_cnn.keras"

_PACKAGE = Path(__file__).resolve().parent
# Top-level folder name -> where an installed wheel puts it (see setup.py).
_INSTALLED = {"models": _PACKAGE / "_models", "resources": _PACKAGE / "_resources"}


def base_dir() -> Path:
    """The folder that holds ``models/`` and ``resources/`` in a frozen build or a checkout."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return _PACKAGE.parent


def resource_path(*parts: str) -> Path:
    """A bundled file, e.g. ``resource_path("models", "malaria_cnn.keras")``.

    The installed package data win when present (they exist only in an installed wheel, so a
    checkout never sees them); otherwise the frozen or checkout location, which is also the
    path named in a "not found" error.
    """
    if parts and not getattr(sys, "_MEIPASS", None) and parts[0] in _INSTALLED:
        installed = _INSTALLED[parts[0]]
        if installed.is_dir():
            return installed.joinpath(*parts[1:])
    return base_dir().joinpath(*parts)


def default_model_path() -> Path:
    """The bundled model, unless ``MALARIA_GUI_MODEL`` names another file."""
    override = os.environ.get(MODEL_ENV)
    return Path(override) if override else resource_path("models", DEFAULT_MODEL_NAME)


def icon_paths() -> list[Path]:
    """The application icon's PNG renderings (16-512 px) that exist, smallest first."""
    folder = resource_path("resources", "icons")
    sizes = (16, 32, 48, 64, 128, 256, 512)
    return [p for p in (folder / f"malaria-gui-{s}.png" for s in sizes) if p.is_file()]


def card_path_for(model_path: str | os.PathLike[str]) -> Path:
    """Where a model's card lives: ``name.keras`` -> ``name.card.json`` beside it."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".card.json")

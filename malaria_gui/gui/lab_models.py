"""The lab models folder: models adapted to a lab's cells, kept beside the bundled one.

Each lab model is ``NAME.keras`` with its card ``NAME.card.json`` in the user's data folder
(``QStandardPaths.GenericDataLocation``/malaria-gui/models: ``~/.local/share/malaria-gui/models``
on Linux), or in the folder named by ``MALARIA_GUI_MODELS_DIR`` (tests point it at a temporary
folder). Earlier versions wrote to ``AppDataLocation``/models, which is
``.../malaria-gui/malaria-gui/models`` because the organisation and the application share
the name; models found there are still listed, so no lab model is lost. Nothing here loads Keras:
a file is checked by its structure (a .keras archive holds ``config.json`` and weights) and
its card; the scoring process then loads it for real and says so if it cannot.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from malaria_gui.engine.model import ModelError, read_card
from malaria_gui.gui.settings import APPLICATION
from malaria_gui.resources import card_path_for

MODELS_DIR_ENV = "MALARIA_GUI_MODELS_DIR"


class LabModelError(Exception):
    """A file that cannot be a lab model, or a copy that failed; the message is for the user."""


@dataclass(frozen=True)
class LabModel:
    path: Path
    card: dict

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.path.stem)

    @property
    def version(self) -> str:
        return str(self.card.get("version") or "")

    @property
    def label(self) -> str:
        """How the Model menu names it."""
        return f"{self.name} {self.version}".strip()


def models_dir() -> Path:
    """Where lab models are kept (created on first use by whoever writes there)."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override)
    # Not AppDataLocation: that is <data>/<organisation>/<application>, and both are "malaria-gui".
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return (Path(base) / APPLICATION if base else Path.home() / f".{APPLICATION}") / "models"


def legacy_models_dirs() -> list[Path]:
    """Folders earlier versions saved lab models in, still read (never written)."""
    if os.environ.get(MODELS_DIR_ENV):
        return []
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    old = Path(base) / "models" if base else None
    return [old] if old is not None and old != models_dir() and old.is_dir() else []


def describe(path: Path) -> LabModel:
    """A model file and its card (an empty card when it has none or it is unreadable)."""
    try:
        card = read_card(path)
    except ModelError:
        card = {}
    return LabModel(Path(path), card)


def list_lab_models(folder: Path | None = None) -> list[LabModel]:
    """The lab models in ``folder`` (default: :func:`models_dir`, then the folders of earlier
    versions; a file name found in both is the newer folder's), by name; temp files skipped."""
    folders = [folder] if folder is not None else [models_dir(), *legacy_models_dirs()]
    files: dict[str, Path] = {}
    for place in folders:
        try:
            found = [p for p in place.iterdir() if p.suffix.lower() == ".keras" and not p.name.startswith(".")
                     and p.is_file()]
        except OSError:
            continue
        for p in found:
            files.setdefault(p.name.casefold(), p)
    return sorted((describe(p) for p in files.values()), key=lambda m: m.label.casefold())


def check_model_file(path: Path) -> dict:
    """Refuse what cannot be a Keras model with a card; return the card. Loading is the
    scoring process's job: this catches the wrong file picked in a dialog."""
    path = Path(path)
    if path.suffix.lower() != ".keras":
        raise LabModelError(f"{path.name} is not a Keras model (a lab model is a .keras file)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise LabModelError(f"{path.name} is not a Keras model file: {exc}") from None
    if "config.json" not in names or not any(n.endswith(".weights.h5") for n in names):
        raise LabModelError(f"{path.name} is not a Keras model file (no model configuration or weights inside)")
    if not card_path_for(path).is_file():
        raise LabModelError(f"{path.name} has no model card ({card_path_for(path).name} beside it): "
                            "a lab model needs its card (threshold, training, accuracy)")
    try:
        return read_card(path)
    except ModelError as exc:
        raise LabModelError(str(exc)) from None


def import_lab_model(source: Path, folder: Path | None = None) -> Path:
    """Copy a .keras file and its card into the models folder; the copy's path."""
    check_model_file(source)
    folder = models_dir() if folder is None else folder
    target = folder / Path(source).name
    if target.resolve() == Path(source).resolve():
        return target
    return _copy_pair(Path(source), target)


def export_lab_model(model: Path, folder: Path) -> Path:
    """Copy a lab model and its card into ``folder`` (another computer's import)."""
    return _copy_pair(Path(model), Path(folder) / Path(model).name)


def _copy_pair(source: Path, target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for src, dst in ((card_path_for(source), card_path_for(target)), (source, target)):
            if src.is_file():
                tmp = dst.with_name(f".{dst.name}.tmp")
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)  # a reader sees the old file or the whole new one
    except OSError as exc:
        raise LabModelError(f"could not copy {source.name} to {target.parent}: {exc.strerror or exc}") from None
    return target

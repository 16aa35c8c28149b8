"""The Model menu: the bundled model and the lab models, each with its card; picking one
loads it in the scoring process and scores again what is on screen (corrections kept), and
the pick is remembered. Import and export copy a lab model (.keras and its card) in or out.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from malaria_gui.gui.lab_models import (
    LabModel, LabModelError, describe, export_lab_model, import_lab_model, list_lab_models, models_dir,
)
from malaria_gui.gui.scoring_process import ModelInfo
from malaria_gui.gui.session import Session
from malaria_gui.resources import default_model_path


def _same(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def remembered_model(settings) -> Path | None:
    """The lab model picked last time, if it is still there (else the bundled one: None)."""
    chosen = settings.chosen_model()
    return Path(chosen) if chosen and Path(chosen).is_file() else None


def info_from(model: LabModel) -> ModelInfo:
    """What the card dialog needs, read from the card alone (nothing is loaded)."""
    card = model.card
    threshold = card.get("threshold", 0.5)
    size = (card.get("architecture") or {}).get("input_size") if isinstance(card.get("architecture"), dict) else None
    return ModelInfo(name=model.name, version=model.version or "unversioned",
                     threshold=float(threshold) if isinstance(threshold, (int, float)) else 0.5, card=card,
                     path=str(model.path), input_size=int(size[0]) if isinstance(size, list) and size else 0)


class ModelMenu(QMenu):
    """Rebuilt each time it opens, so a model saved by Adapt or copied in by hand shows."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("&Model", parent)
        self._session = session
        self.group = QActionGroup(self)
        self.model_actions: dict[str, QAction] = {}  # str(path) ("" for the bundled model) -> action
        self.extra_actions: list[QAction] = []  # appended by the window (e.g. Adapt), kept on rebuild
        self.aboutToShow.connect(self.rebuild)
        session.model_changed.connect(self._mark_current)
        self.rebuild()

    # ---- contents ---------------------------------------------------------------------
    def models(self) -> list[tuple[str, LabModel]]:
        bundled = describe(default_model_path())
        return [("", bundled)] + [(str(m.path), m) for m in list_lab_models()]

    def rebuild(self) -> None:
        for action in self.group.actions():
            self.group.removeAction(action)
        self.clear()
        self.model_actions.clear()
        cards = QMenu("Model &cards", self)
        lab = []
        models = self.models()
        for key, model in models:
            text = f"Bundled model ({model.label})" if key == "" else model.label
            action = self.addAction(text)
            action.setCheckable(True)
            action.setToolTip(str(model.path))
            self.group.addAction(action)
            action.triggered.connect(lambda _=False, k=key: self.choose(k))
            self.model_actions[key] = action
            cards.addAction(text).triggered.connect(lambda _=False, m=model: self.show_card(m))
            if key:
                lab.append(model)
            if key == "" and len(models) > 1:
                self.addSeparator()
        if not lab:
            hint = self.addAction("No lab models yet (Adapt or Import)")
            hint.setEnabled(False)
        self.addSeparator()
        self.addMenu(cards)
        self.import_action = self.addAction("&Import lab model...")
        self.import_action.triggered.connect(self.import_dialog)
        export = self.addMenu("&Export lab model")
        for model in lab:
            export.addAction(model.label).triggered.connect(lambda _=False, m=model: self.export_dialog(m))
        export.setEnabled(bool(lab))
        if self.extra_actions:
            self.addSeparator()
            self.addActions(self.extra_actions)
        if self._session.model_info is not None:
            self._mark_current(self._session.model_info)

    def _mark_current(self, info: ModelInfo) -> None:
        for key, action in self.model_actions.items():
            path = key or str(default_model_path())
            action.setChecked(_same(path, info.path))

    # ---- actions ----------------------------------------------------------------------
    def choose(self, key: str) -> None:
        """Use this model from now on (and next time); what is on screen is scored again."""
        self._session.settings.set_chosen_model(key)
        path = Path(key) if key else None
        if self._session.inputs:
            self._session.rescore(path)
        else:
            self._session.load_model(path)

    def show_card(self, model: LabModel) -> None:
        from malaria_gui.gui.model_panel import ModelCardDialog

        ModelCardDialog(info_from(model), self.window()).exec()

    def import_dialog(self) -> None:
        source, _ = QFileDialog.getOpenFileName(self.window(), "Import a lab model (.keras with its card)",
                                                self._session.settings.last_dir("model"), "Keras models (*.keras)")
        if source:
            self.import_file(Path(source))

    def import_file(self, source: Path) -> Path | None:
        """Copy a model in (asking before replacing one of the same name); None if refused."""
        target = models_dir() / source.name
        if target.exists() and not _same(target, source):
            answer = QMessageBox.question(self.window(), "Replace lab model?",
                                          f"A lab model named {source.name} exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        try:
            copied = import_lab_model(source)
        except LabModelError as exc:
            QMessageBox.warning(self.window(), "Not a lab model", str(exc))
            return None
        self._session.message.emit(f"Imported {copied.name} into {copied.parent}", 8000)
        self.rebuild()
        return copied

    def export_dialog(self, model: LabModel) -> None:
        folder = QFileDialog.getExistingDirectory(self.window(), f"Export {model.label} to a folder",
                                                  self._session.settings.last_dir("export"))
        if not folder:
            return
        try:
            out = export_lab_model(model.path, Path(folder))
        except LabModelError as exc:
            QMessageBox.warning(self.window(), "Export failed", str(exc))
            return
        self._session.message.emit(f"Wrote {out} and its card", 8000)

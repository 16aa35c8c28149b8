"""What the window remembers between runs: folders, threshold per model, geometry.

Always an INI file in the user's config folder (``QSettings.setPath`` can point it
elsewhere, which the tests do so that no run sees another's settings).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "malaria-gui"
APPLICATION = "malaria-gui"
MAX_RECENT = 8


class Settings:
    def __init__(self) -> None:
        self._s = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)

    def _list(self, key: str) -> list[str]:
        value = self._s.value(key, [])
        if isinstance(value, str):
            return [value] if value else []
        return [str(v) for v in (value or [])]

    def recent_folders(self) -> list[str]:
        return self._list("recent_folders")

    def add_recent_folder(self, folder: str) -> list[str]:
        folders = [folder] + [f for f in self.recent_folders() if f != folder]
        self._s.setValue("recent_folders", folders[:MAX_RECENT])
        return folders[:MAX_RECENT]

    def clear_recent_folders(self) -> None:
        self._s.setValue("recent_folders", [])

    def last_dir(self, kind: str) -> str:
        return str(self._s.value(f"last_dir/{kind}", "") or "")

    def set_last_dir(self, kind: str, folder: str) -> None:
        self._s.setValue(f"last_dir/{kind}", folder)

    # A *pinned* threshold: only "Keep this threshold for this model" stores one; a moved
    # slider lasts for the session. (Older versions stored every moved threshold under
    # "threshold/": those values are ignored, so the card's threshold applies again.)
    def threshold_for(self, model_key: str) -> float | None:
        """The threshold the user pinned for this model, or None (use the card's)."""
        value = self._s.value(f"pinned_threshold/{model_key}")
        try:
            return None if value is None else min(1.0, max(0.0, float(value)))
        except (TypeError, ValueError):
            return None

    def set_threshold_for(self, model_key: str, value: float) -> None:
        self._s.setValue(f"pinned_threshold/{model_key}", float(value))

    def clear_threshold_for(self, model_key: str) -> None:
        self._s.remove(f"pinned_threshold/{model_key}")

    def use_truth(self) -> bool:
        """Whether folder names give true labels (View > Use folder names as true labels)."""
        value = self._s.value("use_truth", True)
        return value not in (False, "false", "0", 0)

    def set_use_truth(self, on: bool) -> None:
        self._s.setValue("use_truth", bool(on))

    def thumb_size(self, default: int) -> int:
        try:
            return int(self._s.value("view/thumb_size", default))
        except (TypeError, ValueError):
            return default

    def set_thumb_size(self, px: int) -> None:
        self._s.setValue("view/thumb_size", int(px))

    def field_mode(self) -> str:
        """How images are read: "auto" (fields recognised by their content), "cells" or "fields"."""
        value = str(self._s.value("fields/mode", "auto") or "auto")
        return value if value in ("auto", "cells", "fields") else "auto"

    def set_field_mode(self, mode: str) -> None:
        self._s.setValue("fields/mode", mode)

    def reviewer_name(self) -> str:
        """The name decisions are recorded under in the case store (File > New case...)."""
        return str(self._s.value("cases/reviewer", "") or "")

    def set_reviewer_name(self, name: str) -> None:
        self._s.setValue("cases/reviewer", name)

    def record_cases(self) -> bool:
        """File > Record cases: ask for a slide id when the first images are scored."""
        return self._s.value("cases/record", False) in (True, "true", "1", 1)

    def set_record_cases(self, on: bool) -> None:
        self._s.setValue("cases/record", bool(on))

    def chosen_model(self) -> str | None:
        """The model picked in the Model menu: a lab model's path, "" for the bundled one,
        None when never picked."""
        value = self._s.value("model/chosen")
        return None if value is None else str(value)

    def set_chosen_model(self, path: str) -> None:
        self._s.setValue("model/chosen", path)

    def geometry(self) -> QByteArray | None:
        value = self._s.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._s.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._s.setValue("window/geometry", geometry)
        self._s.setValue("window/state", state)

    def sync(self) -> None:
        self._s.sync()

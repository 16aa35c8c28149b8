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

    def threshold_for(self, model_key: str) -> float | None:
        """The threshold the user last chose for this model, or None (use the card's)."""
        value = self._s.value(f"threshold/{model_key}")
        try:
            return None if value is None else min(1.0, max(0.0, float(value)))
        except (TypeError, ValueError):
            return None

    def set_threshold_for(self, model_key: str, value: float) -> None:
        self._s.setValue(f"threshold/{model_key}", float(value))

    def clear_threshold_for(self, model_key: str) -> None:
        self._s.remove(f"threshold/{model_key}")

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

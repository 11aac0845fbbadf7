"""A user's own settings, in $XDG_CONFIG_HOME/tpudeck/ui.json: the app's remembered choices
(theme, sampling pace, the bell) and the `notify_command` that any of their processes (the
app or a trainer) runs when a run ends."""

from __future__ import annotations

import json
import os
from pathlib import Path


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "tpudeck" / "ui.json"


def load_settings() -> dict:
    try:
        values = json.loads(settings_path().read_text())
        return values if isinstance(values, dict) else {}
    except (OSError, ValueError):
        return {}


def save_setting(key: str, value) -> None:
    path = settings_path()
    values = {**load_settings(), key: value}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2) + "\n")
    except OSError:
        pass  # an unwritable config dir costs the preference, never the session

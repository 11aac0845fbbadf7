"""Textual themes shipped as data: one TOML file per theme, loaded at start."""

from __future__ import annotations

import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

THEME_FIELDS = (
    "name", "dark", "primary", "secondary", "accent", "warning", "error",
    "success", "foreground", "background", "surface", "panel",
)  # fmt: skip


def load_theme_files() -> list[dict]:
    """Every theme file's values, checked for unknown keys (a typo must not pass silently)."""
    themes = []
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        values = tomllib.loads(entry.read_text())
        unknown = set(values) - set(THEME_FIELDS)
        if unknown or "name" not in values or "primary" not in values:
            raise ValueError(
                f"theme file {entry.name}: unknown keys {sorted(unknown)} or no name/primary"
            )
        themes.append(values)
    return themes

"""What a user chose in the app and expects to find again: the theme (^P → Theme), in settings.toml beside keys.toml."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from core.checkpoint import write_atomically
from core.data import read_file_text
from core.places import config_home


def preferences_file() -> Path:
    return config_home() / "settings.toml"


def read_preferences(path: Path, themes: set[str]) -> dict[str, str]:
    """The preferences in `path`, checked against the `themes` there are; a ValueError says what is wrong."""
    try:
        found = tomllib.loads(read_file_text(path, 64 * 1024, "settings", ValueError))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"not TOML: {error}") from None
    unknown = sorted(set(found) - {"theme"})
    if unknown:
        raise ValueError(f"unknown setting {', '.join(unknown)}: the one kept here is theme")
    theme = found.get("theme")
    if theme is not None and theme not in themes:
        raise ValueError(f"no theme called {theme!r}; the themes are {', '.join(sorted(themes))}")
    return found


def remember_theme(path: Path, theme: str) -> None:
    """Write the theme chosen (TOML's basic strings are JSON's), so that the next start has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, f"theme = {json.dumps(theme)}  # chosen in charlm-tui (^P → Theme)\n".encode())

"""Typing file paths: where a typed path points, and completing it from what is on disk."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester, SuggestionReady

from charlm_tui.widgets.ordered_input import OrderedInput
from core.places import readable


def resolve_path(text: str, base: Path | None) -> Path:
    """Where `text` points: `~` expanded, a relative path taken from `base` (or left relative without one)."""
    path = Path(text.strip()).expanduser()
    return path if path.is_absolute() or base is None else base / path


def tilde_path(path: Path) -> str:
    """`path` as a person reads it: the home folder shortened to ~."""
    home = Path.home()
    if path == home:
        return "~"
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


class PathSuggester(Suggester):
    """Completes the last part of a path from what is on disk: the first match alphabetically, a '/' after a folder.

    Dot-files are offered only once the typed name starts with '.'. The suggestion keeps the form of what was
    typed (`~/...` stays `~/...`, a relative path stays relative), so accepting it changes only the end.
    """

    def __init__(self, base: Path | None = None):
        super().__init__(use_cache=False, case_sensitive=True)  # no cache: files come and go while the app runs
        self.base = base

    async def get_suggestion(self, value: str) -> str | None:
        if value == "~":
            return "~/"
        typed_folder, _, stem = value.rpartition("/")
        folder = resolve_path(typed_folder + "/" if "/" in value else ".", self.base)
        try:
            with os.scandir(readable(folder)) as entries:  # a served visitor lists only its own folders
                names = sorted(
                    (entry.name, entry.is_dir()) for entry in entries
                    if entry.name.startswith(stem) and (stem.startswith(".") or not entry.name.startswith("."))
                )
        except OSError:
            return None
        if not names:
            return None
        name, is_dir = names[0]
        return value[: len(value) - len(stem)] + name + ("/" if is_dir else "")


class PathInput(OrderedInput):
    """A path field completed from disk (→ accepts); its text is not selected on focus, so Backspace deletes one character."""

    def __init__(self, value: str = "", base: Path | None = None, **kwargs):
        super().__init__(value, suggester=PathSuggester(base), select_on_focus=False, **kwargs)

    async def on_focus(self) -> None:
        # Input drops its suggestion on focus, and a prefilled path deserves one at once ("checkpoints/" → its
        # first file). Posted, it arrives after Input's own focus handling.
        if self.value:
            suggestion = await self.suggester.get_suggestion(self.value)
            if suggestion is not None:
                self.post_message(SuggestionReady(self.value, suggestion))

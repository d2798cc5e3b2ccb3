"""Where charlm-tui keeps its files, and where this process may read and write.

Run by its user (the app in a terminal, headless, `charlm-tui runs`), charlm-tui opens what that user could
open: the rule is theirs. Run for a visitor of `charlm-tui serve`, it is confined: the server names the
visitor's own folder (and any folders of texts it serves) in the app's environment, and the app then reads
only the bundled texts, those folders and the visitor's folder, and writes only in the visitor's folder.
Every file the core reads goes through `readable()` and every file it writes through `writable()`: the rule
is here and nowhere else.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two apps quitting in the same instant are rare there
    fcntl = None

APP = "charlm-tui"
VISITOR_HOME = "CHARLM_TUI_VISITOR_HOME"  # set by `charlm-tui serve`: the visitor's folder, the only one written
SERVED_CORPORA = "CHARLM_TUI_CORPORA"  # set by `charlm-tui serve`: folders of texts to read, os.pathsep between
VISITOR_QUOTA = "CHARLM_TUI_QUOTA_MB"  # set by `charlm-tui serve`: the most a visitor's folder may hold


class OutsideError(PermissionError):
    """A path this process may not use, with a message saying where it may."""

    def __str__(self) -> str:
        return self.args[0]


def user_data_home() -> Path:
    """The user's charlm-tui data folder, where the platform keeps such things ($XDG_DATA_HOME honoured on Linux,
    ~/Library/Application Support on macOS); a server keeps its visitors' folders in it."""
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_home() -> Path:
    """The user's charlm-tui settings folder: keys.toml, settings.toml ($XDG_CONFIG_HOME honoured on Linux)."""
    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_home() -> Path:
    """Where checkpoints, the autosave and the run history go: the user's folder, or a served visitor's own."""
    visitor = os.environ.get(VISITOR_HOME)
    return Path(visitor) if visitor else user_data_home()


def visitors_home() -> Path:
    """The folder of `charlm-tui serve`'s visitors: one folder each, named by the visitor's id."""
    return user_data_home() / "visitors"


def sample_texts_dir() -> Path:
    """The bundled texts: beside the package when installed, in the checkout's sample_texts otherwise."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sample_texts", here.parent / "sample_texts"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the bundled sample_texts folder is missing from this installation")


@dataclass(frozen=True)
class Confinement:
    """A served visitor's folders, all resolved through symlinks: what it may read, and the one it writes."""

    home: Path
    corpora: tuple[Path, ...]
    quota: int | None = None  # bytes the visitor's folder may hold

    @property
    def readable_roots(self) -> tuple[Path, ...]:
        return (Path(os.path.realpath(sample_texts_dir())), *self.corpora, self.home)

    def where_readable(self) -> str:
        served = "".join(f", {folder}" for folder in self.corpora)
        return f"the bundled texts{served} and your own folder ({self.home})"


def confinement() -> Confinement | None:
    """The rule of a served visitor's app, or None for an app run by its own user."""
    home = os.environ.get(VISITOR_HOME)
    if not home:
        return None
    corpora = tuple(Path(os.path.realpath(folder)) for folder in os.environ.get(SERVED_CORPORA, "").split(os.pathsep)
                    if folder)
    megabytes = os.environ.get(VISITOR_QUOTA, "")
    return Confinement(Path(os.path.realpath(home)), corpora, int(megabytes) * 2**20 if megabytes.isdigit() else None)


def _bytes_in(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _inside(real: Path, roots) -> bool:
    return any(real == root or real.is_relative_to(root) for root in roots)


def readable(path: str | Path) -> Path:
    """The path to read `path` from; confined, its real path (symlinks followed), or OutsideError when that
    leaves the folders a visitor may read."""
    path = Path(path).expanduser()
    rule = confinement()
    if rule is None:
        return path
    real = Path(os.path.realpath(path))
    if not _inside(real, rule.readable_roots):
        raise OutsideError(f"{path} is not open to this served app: it reads only {rule.where_readable()}.")
    return real


def writable(path: str | Path) -> Path:
    """The path to write `path` at; confined, its real path, or OutsideError when that leaves the visitor's
    own folder (a symlink out of it included)."""
    path = Path(path).expanduser()
    rule = confinement()
    if rule is None:
        return path
    real = Path(os.path.realpath(path))
    if not _inside(real, (rule.home,)):
        raise OutsideError(f"{path} is not open to this served app: it saves only in your own folder, {rule.home}.")
    if rule.quota is not None and (used := _bytes_in(rule.home)) >= rule.quota:
        raise OutsideError(f"your folder holds {used / 2**20:.0f} MB, the most a visitor may keep here: nothing more "
                           "can be saved (ask the person serving the app to make room).")
    return real


@contextlib.contextmanager
def locked(folder: Path):
    """Hold `folder`'s advisory lock (every charlm-tui process that writes its autosave there takes it)."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
        yield
    finally:
        os.close(fd)

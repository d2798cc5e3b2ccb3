import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.places import SERVED_CORPORA, VISITOR_HOME  # noqa: E402  (from the checkout, put first above)

PROVERBS = (
    "\nThe quick brown fox jumps over the lazy dog.\n"
    "A journey of a thousand miles begins with a single step.\n"
    "To be or not to be, that is the question.\n"
    "All that glitters is not gold.\n"
    "The only thing we have to fear is fear itself.\n"
)


@pytest.fixture
def proverbs() -> str:
    return PROVERBS


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """Keep checkpoints, the autosave and the keymap out of the real home folder (subprocesses inherit this)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def visitor(tmp_path, monkeypatch):
    """The process of a visitor of `charlm-tui serve`: confined to its own folder (its working folder too), with a
    served folder of texts beside a private folder of the serving user's. Yields (home, texts, private)."""
    home, texts, private = tmp_path / "visitors" / "v1", tmp_path / "texts", tmp_path / "private"
    for folder in (home, texts, private):
        folder.mkdir(parents=True)
    (texts / "poems.txt").write_text("roses are red\nviolets are blue\nsugar is sweet\n" * 40)
    (private / "secret.txt").write_text("the serving user's own words\n" * 40)
    monkeypatch.setenv(VISITOR_HOME, str(home))
    monkeypatch.setenv(SERVED_CORPORA, str(texts))
    monkeypatch.chdir(home)
    return home, texts, private


@pytest.fixture
def snap_compare(snap_compare):
    """Snapshots without animations (a tab's underline slides after a 20 ms timer, and a loaded machine caught it
    midway) and with every text cursor shown and still (a loaded machine caught one mid-blink)."""

    def compare(app, *args, run_before=None, **kwargs):
        async def before(pilot):
            if run_before is not None:
                await run_before(pilot)
            await steady_cursors(pilot)

        app.animation_level = "none"
        return snap_compare(app, *args, run_before=before, **kwargs)

    return compare


async def steady_cursors(pilot) -> None:
    """Every Input's cursor visible and not blinking: blinking off (public API), the app idle (a blink already on its
    way has landed), then blinking on and off again at once (turning it off shows the cursor; no blink comes between)."""
    from textual.widgets import Input

    fields = list(pilot.app.screen.query(Input))
    for field in fields:
        field.cursor_blink = False
    await pilot.pause()
    for field in fields:
        field.cursor_blink = True
        field.cursor_blink = False

"""Snapshots of the main screen (pytest-textual-snapshot). Update with: pytest tests/test_snapshots.py --snapshot-update"""

import pytest
from textual.widgets import Input

from charlm_tui.app import CharLMApp


async def no_blink(pilot):
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen(snap_compare, tmp_path, size):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=size, run_before=no_blink)


def test_watch_view_at_80x24(snap_compare, tmp_path):
    async def watch(pilot):
        await no_blink(pilot)
        await pilot.press("f3")

    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=watch)


def test_a_terminal_too_small_says_so(snap_compare, tmp_path):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=(40, 12), run_before=no_blink)

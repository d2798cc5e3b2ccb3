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


async def trained(pilot, steps: int = 3000):
    """The default model after `steps` steps, driven through the session (a step count, not seconds), paused."""
    app = pilot.app
    await pilot.pause()  # the main screen is composed
    for field in app.query(Input):
        field.cursor_blink = False
    app.query_one("#auto-every", Input).value = "0"
    session = app.session
    session.new(app.main.corpus, app.main.settings)
    session.start()
    for _ in session.train():
        if session.step >= steps:
            session.pause()
    app.main.query_one("TrainingPanel").show_run(session)
    app.main.follow_session()
    app.main.action_view("train")
    session.saved_step = session.step  # nothing to autosave
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_the_loss_chart_after_a_run(snap_compare, tmp_path, size):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=size, run_before=trained)

"""^S and ^O in a thread worker (issue 22): the keys are answered while a checkpoint is written or read, what cannot
be done meanwhile says why, a folder that cannot be made is said in one line; a second F4 reuses the first read."""

import threading

from charlm_tui.screens.dialogs import PathScreen
from charlm_tui.screens.runs import RunsScreen
from core.history import RunLog, RunRecord
from core.run import Run
from core.session import Phase, Session
from tests.test_app import make_app, set_field, train_then_pause, wait_for
from tests.test_history import record

STALL = 10  # seconds a save or load waits to be let go: long enough that a blocked UI thread cannot answer first


def stalled(monkeypatch, owner, name: str) -> tuple[threading.Event, list[bool]]:
    """Make `owner.name` wait until the test lets it go; whether it was let go (not timed out), a list per call."""
    go, let_go = threading.Event(), []
    real = getattr(owner, name)

    def waiting(*args, **kwargs):
        let_go.append(go.wait(STALL))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, waiting)
    return go, let_go


async def enter_path(pilot, key: str, path) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PathScreen), what="the path dialog")
    await set_field(pilot, "#path", str(path))
    await pilot.press("enter")


async def test_keys_are_answered_while_a_checkpoint_is_written(tmp_path, monkeypatch):
    go, let_go = stalled(monkeypatch, Run, "save")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_then_pause(pilot, 20)
        await enter_path(pilot, "ctrl+s", tmp_path / "slow.json")
        await pilot.press("f2")  # the UI thread is free: the view changes while the file is written
        assert app.main.has_class("view-setup") and not app.said_that("Saved")
        await pilot.press("ctrl+s")
        assert app.said_that("Wait a moment: a checkpoint is saving")
        go.set()
        await wait_for(pilot, lambda: app.said_that(f"Saved {tmp_path / 'slow.json'}"), what="the save")
        assert let_go == [True] and app.session.unsaved_steps == 0


async def test_keys_are_answered_while_a_checkpoint_is_read_and_training_waits_for_it(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_then_pause(pilot, 20)
        app.session.save(tmp_path / "m.json")
        step = app.session.step
        go, let_go = stalled(monkeypatch, Session, "load")
        await enter_path(pilot, "ctrl+o", tmp_path / "m.json")
        await pilot.press("f5")
        assert app.said_that("Wait a moment: a checkpoint is loading") and app.main.phase is Phase.PAUSED
        go.set()
        await wait_for(pilot, lambda: app.said_that(f"Loaded {tmp_path / 'm.json'}: step {step:,}"), what="the load")
        assert let_go == [True] and app.session.step == step


async def test_save_when_the_data_folder_cannot_be_made_says_so_and_the_app_stays(tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("a file where $XDG_DATA_HOME should be a folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "not-a-folder"))
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_then_pause(pilot, 20)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.return_code is None and isinstance(app.screen, PathScreen)
        (said,) = [message for _, message in app.said if "cannot be created" in message]
        assert "Not a directory" in said and "\n" not in said
        await set_field(pilot, "#path", str(tmp_path / "here.json"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.said_that(f"Saved {tmp_path / 'here.json'}"), what="the save elsewhere")
        await pilot.press("ctrl+s")
        await set_field(pilot, "#path", str(tmp_path / "not-a-folder" / "x.json"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.said_that("Not saved"), what="the refusal")
        assert app.return_code is None and app.is_running


async def test_a_second_f4_reuses_the_first_read(tmp_path, monkeypatch):
    log = RunLog()
    for i in range(20):
        log.record(record(f"run{i}", started=f"2024-01-{i + 1:02d}T00:00:00.000+00:00"))
    parsed = []
    real = RunRecord.from_line

    def slow(line):
        threading.Event().wait(0.02)  # a long history takes a while
        parsed.append(line)
        return real(line)

    monkeypatch.setattr(RunRecord, "from_line", slow)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await pilot.press("escape")  # while it reads
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.sub_title.startswith("20 runs"),
                       what="the runs")
        assert len(parsed) == 20  # read once
        await pilot.press("escape", "f4")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.sub_title.startswith("20 runs"),
                       what="the runs again")
        assert len(parsed) == 20

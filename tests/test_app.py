"""The app driven from the keyboard with Pilot, headless, at 80×24 and 160×48."""

import io
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.widgets import Footer, Input, OptionList, Static

from charlm_tui.app import CharLMApp
from charlm_tui.screens.dialogs import ConfirmScreen, HelpScreen, PathScreen
from charlm_tui.widgets.generation_panel import GenerationPanel
from charlm_tui.widgets.hyper_panel import HyperPanel
from core.checkpoint import load_checkpoint
from core.corpora import DEFAULT_CORPUS, bundled_corpora
from core.session import Phase
from core.settings import RunConfig

SIZES = [(80, 24), (160, 48)]
TINY = RunConfig(context_length=4, embed_dim=4, hidden_dim=8, learning_rate=0.05, epochs=500)


class RecordingApp(CharLMApp):
    """The app, keeping every notification it shows (through `notify`, Textual's public API)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.said: list[tuple[str, str]] = []  # (title, message)

    def notify(self, message, **kwargs):
        self.said.append((kwargs.get("title", ""), message))
        return super().notify(message, **kwargs)

    def said_that(self, text: str) -> bool:
        return any(text in title or text in message for title, message in self.said)


def make_app(tmp_path: Path, config: RunConfig = TINY, **kwargs) -> RecordingApp:
    return RecordingApp(config=config, autosave_path=tmp_path / "autosave.json", calibrate=False, **kwargs)


async def wait_for(pilot, condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def text_of(widget) -> str:
    """What a Static shows, as plain text (rich renderables included)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def steps(app: CharLMApp) -> int:
    return app.session.step


def training_thread_running(app: CharLMApp) -> bool:
    return any(worker.is_running for worker in app.workers if worker.group == "train")


def sampling(app: CharLMApp) -> bool:
    return app.query_one(GenerationPanel).sampling


async def load_with_keys(pilot, path):
    """^O, type the path, Enter."""
    await pilot.press("ctrl+o")
    await set_field(pilot, "#path", str(path))
    await pilot.press("enter")
    await pilot.pause()


async def train_then_pause(pilot, at_least: int):
    await pilot.press("f5")
    await wait_for(pilot, lambda: steps(pilot.app) > at_least, what=f"{at_least} steps")
    await pilot.press("f5")
    await wait_for(pilot, lambda: pilot.app.main.phase is Phase.PAUSED, what="pause")


async def stop_training(pilot):
    await pilot.press("f6")
    await wait_for(pilot, lambda: pilot.app.main.phase is Phase.STOPPED, what="stop")
    assert not training_thread_running(pilot.app)


async def set_field(pilot, selector: str, value: str):
    """Focus a field and fill it with `value`, typing its last character as a key press."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    await pilot.pause()  # focusing selects the old text; let that happen before replacing it
    field.value = value[:-1]
    field.cursor_position = len(field.value)
    if value:
        await pilot.press(value[-1])
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
async def test_choose_each_bundled_corpus(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        options = app.query_one("#corpus-list", OptionList)
        options.focus()
        names = [c.name for c in bundled_corpora()]
        assert names[0] == DEFAULT_CORPUS and app.main.corpus.name == DEFAULT_CORPUS
        for name in names[1:]:
            await pilot.press("down", "enter")
            await pilot.pause()
            assert app.main.corpus.name == name
            assert f"vocab {len(app.main.corpus.vocab)}" in text_of(app.query_one("#corpus-stats"))
        assert {"names", "shakespeare", "alice"} <= set(names)


@pytest.mark.parametrize("size", SIZES)
async def test_open_a_good_file(tmp_path, size):
    good = tmp_path / "poem.txt"
    good.write_text("roses are red, violets are blue\n" * 20, encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await set_field(pilot, "#corpus-path", str(good))
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.corpus.name == "poem.txt"
        assert not app.query_one("#corpus-error").display


BAD_FILES = {
    "missing": (lambda p: p / "nope.txt", "no such text file"),
    "directory": (lambda p: (p / "folder").mkdir() or p / "folder", "directory"),
    "binary": (lambda p: (p / "b.bin").write_bytes(b"\x00\x01\x02abc") and p / "b.bin", "binary"),
    "not utf-8": (lambda p: (p / "l.txt").write_bytes(b"caf\xe9\n") and p / "l.txt", "not UTF-8"),
    "empty": (lambda p: (p / "e.txt").write_bytes(b"") or p / "e.txt", "empty"),
    "too short": (lambda p: (p / "s.txt").write_text("ab") and p / "s.txt", "too few"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
async def test_open_a_bad_file_keeps_the_previous_corpus(tmp_path, kind):
    make, message = BAD_FILES[kind]
    path = make(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#corpus-path", str(path))
        await pilot.press("enter")
        await pilot.pause()
        error = app.query_one("#corpus-error")
        assert error.display and message in text_of(error)
        assert app.main.corpus.name == DEFAULT_CORPUS


@pytest.mark.parametrize("size", SIZES)
async def test_invalid_hyperparameters_block_start_with_a_reason(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await set_field(pilot, "#hidden_dim", "abc")
        await pilot.pause()
        assert app.query_one("#hidden_dim", Input).has_class("-invalid")
        assert app.main.settings is None
        assert "hidden dim" in text_of(app.query_one("#hyper-problems"))
        await pilot.press("f5")
        await pilot.pause()
        assert app.session.run is None
        assert app.said_that("Cannot start")

        await set_field(pilot, "#hidden_dim", "32")
        await set_field(pilot, "#learning_rate", "0.1")
        await pilot.pause()
        assert app.main.settings.hidden_dim == 32 and app.main.settings.learning_rate == 0.1
        table = text_of(app.query_one("#param-table"))
        assert "(4×4)×32+32" in table  # the parameter table follows the form


async def test_empty_budget_is_refused(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#epochs", "")
        await set_field(pilot, "#max_steps", "")
        await pilot.pause()
        assert app.main.settings is None
        assert "epochs, a step budget or a time budget" in text_of(app.query_one("#hyper-problems"))


@pytest.mark.parametrize("size", SIZES)
async def test_start_pause_resume_stop(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: "step" in text_of(app.query_one("#train-steps")), what="progress")
        assert app.main.phase is Phase.RUNNING
        assert app.query_one("LossChart").training  # the chart has points
        assert "loss" in text_of(app.query_one("#train-stats")) and "smoothed" in text_of(app.query_one("#train-stats"))

        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.PAUSED, what="pause")
        paused_at = steps(app)
        await pilot.pause(0.3)
        assert steps(app) == paused_at

        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > paused_at + 50, what="resume")
        assert app.main.phase is Phase.RUNNING

        await pilot.press("f6")
        await wait_for(pilot, lambda: app.main.phase is Phase.STOPPED, what="stop")
        assert not training_thread_running(app)


async def test_changing_the_architecture_asks_before_discarding(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_then_pause(pilot, 10)
        old_run = app.session.run
        await pilot.press("f2")
        await set_field(pilot, "#hidden_dim", "12")
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep the model: its settings come back and it carries on
        assert app.session.run is old_run and app.main.phase is Phase.RUNNING
        assert app.query_one("#hidden_dim", Input).value == "8"
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.PAUSED)
        await set_field(pilot, "#hidden_dim", "12")
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("y")  # now discard it
        await wait_for(pilot, lambda: app.session.run is not old_run and app.session.run.model.hidden_dim == 12)
        await stop_training(pilot)


async def test_keeping_a_finished_model_over_changed_settings_asks_nothing_more(tmp_path):
    app = make_app(tmp_path, config=TINY.replace(max_steps=30))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED, what="the run to finish")
        await set_field(pilot, "#hidden_dim", "12")
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep it: the settings come back, and what it needs to go on is said, not asked
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and app.main.phase is Phase.FINISHED
        assert app.query_one("#hidden_dim", Input).value == "8"
        assert app.said_that("The budget is used up (its max steps, 30, are done): raise max steps")


def generated_after_heading(app) -> str:
    """The last sample asked for with F7: after its "step …" heading, before the novelty summary that follows it.

    Only that heading counts: a summary line after a sample ending in a line break also follows a blank line."""
    return re.findall(r"(?:\A|(?<=\n\n))── step [^\n]* ──\n(.*?)(?=\n── |\Z)", app.query_one(GenerationPanel).text, re.S)[-1]


async def test_generate_while_paused_streams_the_requested_length(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#prompt", "")  # no prompt: exactly `length` characters follow the heading
        await set_field(pilot, "#length", "3000")
        await set_field(pilot, "#auto-every", "0")
        await train_then_pause(pilot, 100)
        panel = app.query_one(GenerationPanel)
        pieces = []
        post = panel.post_message
        panel.post_message = lambda message: (pieces.append(getattr(message, "text", None)), post(message))[1]
        await pilot.press("f7")
        await wait_for(pilot, lambda: not sampling(app), what="generation to finish")
        await pilot.pause()
        assert len(generated_after_heading(app)) == 3000
        assert len([p for p in pieces if p]) > 1  # it arrived in pieces, not all at once


async def test_generate_during_training(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#prompt", "")
        await set_field(pilot, "#length", "80")
        await set_field(pilot, "#auto-every", "0")
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 50)
        before = steps(app)
        await pilot.press("f7")
        await wait_for(pilot, lambda: not sampling(app), what="generation to finish")
        await pilot.pause()
        assert app.main.phase is Phase.RUNNING and steps(app) > before
        assert len(generated_after_heading(app)) == 80
        await stop_training(pilot)


async def test_unknown_prompt_characters_are_reported_not_fatal(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#auto-every", "0")
        await train_then_pause(pilot, 20)
        await set_field(pilot, "#prompt", "Zebra!")  # after the model came: a new model would reset it
        await pilot.press("f7")
        await wait_for(pilot, lambda: not sampling(app))
        status = text_of(app.query_one("#gen-status"))
        assert "Z" in status and "!" in status


async def test_temperature_keys(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10", "f10")
        assert app.query_one("#temperature", Input).value == "1"
        for _ in range(15):
            await pilot.press("f9")
        assert app.query_one("#temperature", Input).value == "0"


async def test_save_and_load_a_checkpoint(tmp_path):
    path = tmp_path / "model.json"
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_then_pause(pilot, 30)
        saved_steps, saved_weights = steps(app), app.session.run.model.weights()
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, PathScreen)
        await set_field(pilot, "#path", str(path))
        await pilot.press("enter")
        await pilot.pause()
        assert load_checkpoint(path).state.step == saved_steps
        await pilot.press("ctrl+s")
        default = app.screen.query_one("#path", Input).value
        assert default.startswith(str(tmp_path / "data" / "charlm-tui" / "checkpoints"))
        await set_field(pilot, "#path", str(tmp_path / "missing" / "m.json"))
        await pilot.press("enter")
        await pilot.pause()
        assert app.said_that("does not exist")

    other = make_app(tmp_path)
    async with other.run_test(size=(160, 48)) as pilot:
        await load_with_keys(pilot, path)
        assert steps(other) == saved_steps
        assert other.session.run.model.weights() == saved_weights
        assert other.main.phase is Phase.PAUSED
        await pilot.press("f5")  # carries on from the checkpoint
        await wait_for(pilot, lambda: steps(other) > saved_steps)
        await stop_training(pilot)


async def test_loading_over_unsaved_training_asks_first(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_then_pause(pilot, 20)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, (ConfirmScreen, PathScreen))
        await pilot.press("ctrl+o")
        await pilot.press("enter")  # Enter alone keeps the training: throwing it away takes y
        assert not isinstance(app.screen, (ConfirmScreen, PathScreen)) and app.session.unsaved_steps > 0


async def test_loading_a_bad_checkpoint_says_why(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await load_with_keys(pilot, bad)
        assert app.session.run is None
        assert app.said_that("not valid JSON")


def threads_running(function_name: str) -> list[str]:
    """Threads whose stack is inside `function_name` right now (idle pool threads do not count)."""
    found = []
    for thread_id, frame in sys._current_frames().items():
        while frame is not None:
            if frame.f_code.co_name == function_name:
                found.append(str(thread_id))
                break
            frame = frame.f_back
    return found


async def test_quit_during_training_stops_the_thread_and_autosaves(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 20)
        assert threads_running("train_loop")  # the check below can see a training thread
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None, what="the app to exit")  # set by App.exit
    assert not training_thread_running(app)
    assert threads_running("train_loop") == []
    saved = load_checkpoint(tmp_path / "autosave.json")
    assert saved.state.step == app.session.step > 20


async def test_editing_keys_keep_their_order_while_training(tmp_path):
    """Textual issue #6605: a backspace typed fast under load used to land after later characters."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 20)
        await set_field(pilot, "#prompt", "ab")
        for key, char in [("c", "c"), ("backspace", None), ("x", "x"), ("y", "y"), ("left", None), ("z", "z")]:
            app._driver.send_message(events.Key(key, char))  # as a terminal delivers them: no waiting between
        await wait_for(pilot, lambda: len(app.query_one("#prompt", Input).value) >= 5)
        await pilot.pause(0.2)
        assert app.query_one("#prompt", Input).value == "abxzy"
        await stop_training(pilot)


async def test_sigterm_quits_and_autosaves(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 20)
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_for(pilot, lambda: app.return_code is not None, what="the app to exit")  # set by App.exit
    assert load_checkpoint(tmp_path / "autosave.json").state.step > 20
    assert threads_running("train_loop") == []


async def test_keymap_file_remaps_and_is_checked(tmp_path):
    keys = tmp_path / "config" / "charlm-tui" / "keys.toml"
    keys.parent.mkdir(parents=True)
    keys.write_text('[keys]\n"train.toggle" = "f12"\n', encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "F12" in text_of(app.query_one("#train-state"))
        await pilot.press("f12")
        await wait_for(pilot, lambda: app.main.phase is Phase.RUNNING)
        await pilot.press("f12")
        await wait_for(pilot, lambda: app.main.phase is Phase.PAUSED)
    keys.write_text('[keys]\n"train.toggle" = "f9"\n"bogus" = "f11"\n', encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        assert app.said_that("unknown binding id bogus")
    keys.write_text('[keys]\n"train.toggle" = "f9"\n', encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        assert app.said_that("two things: f9")
        assert "F5" in text_of(app.query_one("#train-state"))  # nothing was remapped


async def test_help_lists_the_keys(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert ("F5", "Start, pause or resume training") in app.screen.keys
        assert ("F1, ?", "Show every key") in app.screen.keys
        assert "Save a checkpoint" in dict((d, k) for k, d in app.screen.keys)
        assert "In a browser" not in dict(app.screen.keys)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_in_a_browser_the_drivers_blur_at_start_up_is_undone_and_later_ones_stand(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    monkeypatch.setattr(type(app), "is_web", property(lambda app: True))
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(events.AppBlur())  # what textual's web driver sends once it has started
        await pilot.pause()
        await pilot.pause()
        assert app.app_focus and app.main.query_one(Footer).children  # its keys are shown
        app.post_message(events.AppBlur())  # the visitor went to another tab
        await pilot.pause()
        assert not app.app_focus


async def test_help_in_a_browser_says_which_keys_the_browser_keeps(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    monkeypatch.setattr(type(app), "is_web", property(lambda app: True))  # as under textual-serve's driver
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert "Ctrl+N and Ctrl+T" in dict(app.screen.keys)["In a browser"]


async def test_narrow_views_switch_with_keys(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one("#hyper").display and not app.query_one("#training").display
        await pilot.press("f3")
        assert app.query_one("#training").display and not app.query_one("#hyper").display
        await pilot.press("f3")  # again, from the view it is on: still focuses the prompt
        assert app.focused is app.query_one("#prompt")
        await pilot.press("f2")
        assert app.query_one("#hyper").display
        assert app.focused is app.query_one("#corpus-list")


async def test_wide_screen_shows_every_panel(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)):
        assert all(app.query_one(f"#{p}").display for p in ("corpus", "hyper", "training", "generation"))


async def test_course_preset_fills_the_form(tmp_path):
    app = make_app(tmp_path, config=None)
    async with app.run_test(size=(160, 48)) as pilot:
        app.query_one("#preset").value = "course"
        await pilot.pause()
        assert app.main.settings.hidden_dim == 128 and app.main.settings.learning_rate == 0.01
        assert app.query_one(HyperPanel).config.embed_dim == 32


async def test_long_generated_text_without_line_breaks_is_trimmed(tmp_path):
    """The pane keeps its last characters, even without a line break; brackets and backslashes stay as they are."""
    from charlm_tui.widgets.generation_panel import KEEP_CHARACTERS

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(GenerationPanel)
        panel.begin("long")
        for _ in range(2 * KEEP_CHARACTERS // 1000):
            panel.append("a[b]c[/x]\\" * 100)
        await pilot.pause()
        assert len(panel.text) == KEEP_CHARACTERS
        assert panel.text.endswith("a[b]c[/x]\\")


@pytest.mark.parametrize("ending", ["finished", "stopped"])
async def test_a_finished_or_stopped_run_trains_on_once_its_budget_is_raised(tmp_path, ending):
    app = make_app(tmp_path, config=TINY.replace(epochs=None, max_steps=40))
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#auto-every", "0")
        if ending == "finished":
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED, what="the budget to run out")
            await pilot.press("f5")  # nothing left: it says so, and offers a new model instead
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen) and "(its max steps, 40, are done): raise max steps" in text_of(app.screen.query_one(Static))
            await pilot.press("n")
        else:
            await set_field(pilot, "#max_steps", "100000")
            await train_then_pause(pilot, 10)
            await stop_training(pilot)
        run, reached = app.session.run, steps(app)
        await pilot.press("f2")
        await set_field(pilot, "#max_steps", str(reached + 60))
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED and steps(app) == reached + 60, what="the extension")
        assert app.session.run is run  # the same model, trained on


async def test_a_checkpoint_with_a_large_validation_fraction_loads_and_continues(tmp_path):
    from charlm_tui.cli import main

    path = tmp_path / "v.json"
    assert main(["--headless", "--steps", "20", "--val-fraction", "0.6", "--context", "4", "--sample", "0",
                 "--save", str(path)]) == 0
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await load_with_keys(pilot, path)
        assert app.main.phase is Phase.FINISHED and app.main.settings.validation_fraction == 0.6
        await set_field(pilot, "#max_steps", "50")
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED and steps(app) == 50, what="training on")


def test_keymap_keys_are_trimmed(tmp_path):
    from charlm_tui.keymap import read_keymap

    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"train.toggle" = " f12 , ctrl+g "\n', encoding="utf-8")
    assert read_keymap(keys) == {"train.toggle": "f12,ctrl+g"}


async def test_a_run_history_that_cannot_be_written_is_said_when_training_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "data" / "charlm-tui" / "runs.jsonl").mkdir(parents=True)  # a folder where the file should be
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_then_pause(pilot, 10)
        await pilot.pause()
        assert app.said_that("the run history could not be written") and app.said_that("Runs view will miss")

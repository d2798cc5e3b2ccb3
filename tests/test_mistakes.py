"""A learner's natural mistakes never break the instrument (issue 22)."""

import threading
from contextlib import contextmanager

import pytest
from textual import events
from textual.widgets import Input, Static

from charlm_tui.cli import main
from charlm_tui.screens.dialogs import ConfirmScreen
from charlm_tui.screens.inside import InsideScreen
from charlm_tui.screens.runs import RunsScreen
from charlm_tui.screens.temperatures import TemperatureScreen
from charlm_tui.widgets.generation_panel import GenerationPanel
from core.history import RunLog
from core.session import Phase
from core.settings import RunConfig
from test_app import make_app, set_field, steps, wait_for
from test_first_minutes import a_paused_model

DIVERGES = RunConfig(learning_rate=10.0, max_steps=5_000, epochs=None)  # the default model: nan by step ~10


async def diverge(pilot) -> None:
    await pilot.press("f5")
    await wait_for(pilot, lambda: pilot.app.main.phase is Phase.FAILED, what="the divergence")


async def test_after_a_divergence_a_lower_lr_and_f5_train_a_new_model(tmp_path):
    app = make_app(tmp_path, config=DIVERGES)
    async with app.run_test(size=(80, 24)) as pilot:
        await diverge(pilot)
        diverged = app.session.run
        await set_field(pilot, "#learning_rate", "0.03")
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # a new model, or the last good weights again
        await pilot.press("y")
        await wait_for(pilot, lambda: app.session.run is not diverged and steps(app) > 50, what="a new model training")
        assert app.main.phase is Phase.RUNNING and app.session.run.config.learning_rate == 0.03
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.PAUSED, what="the pause")
    runs, warnings = RunLog().read()
    assert warnings == [] and [run.outcome() for run in runs] == ["non_finite", "paused"]


async def test_try_again_goes_on_from_the_last_good_weights(tmp_path):
    app = make_app(tmp_path, config=DIVERGES)
    async with app.run_test(size=(80, 24)) as pilot:
        await diverge(pilot)
        diverged, step = app.session.run, app.session.step
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("enter")  # Enter alone never throws a model away: "Try again"
        await wait_for(pilot, lambda: app.main.phase is Phase.FAILED and app.session.step >= step,
                       what="the same divergence")
        assert app.session.run is diverged


async def test_inside_a_diverged_model_says_so_instead_of_nan_bars(tmp_path):
    app = make_app(tmp_path, config=DIVERGES)
    async with app.run_test(size=(80, 24)) as pilot:
        await diverge(pilot)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, InsideScreen) and app.screen.readings is not None,
                       what="the readings")
        await pilot.pause()
        screen = app.screen
        assert screen.readings.blown_up and screen.has_class("-blown-up")
        said = screen.query_one("#blown-up", Static).render().plain
        assert "not finite" in said and "lower lr" in said
        assert not screen.query_one("#parts").display


def burst(app, *keys: str) -> None:
    """Keys as a fast typist or a terminal's paste sends them: all at once, none waiting for the one before."""
    for key in keys:
        event = events.Paste(key[len("paste:"):]) if key.startswith("paste:") else \
            events.Key(key, " " if key == "space" else key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)  # as the driver does: Pilot.press waits for the app between keys


@contextmanager
def a_busy_thread():
    """A thread that holds the GIL as training does, so the UI thread gets it only now and then."""
    done = threading.Event()
    thread = threading.Thread(target=lambda: [sum(i * i for i in range(20_000)) for _ in iter(done.is_set, True)])
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


async def test_keys_typed_in_a_burst_land_in_order_in_every_field(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        context = app.screen.query_one("#context_length", Input)
        context.focus()
        await pilot.pause()
        with a_busy_thread():
            burst(app, "ctrl+u", "4", "tab", "ctrl+u", "1", "2", "tab", "ctrl+u", "3", "2", "shift+tab", "tab", "tab",
                  "ctrl+u", "paste:3")
            await wait_for(pilot, lambda: app.screen.focused is app.screen.query_one("#n_hidden", Input) and
                           app.screen.focused.value == "3", what="the burst typed")
        values = [app.screen.query_one(f"#{name}", Input).value
                  for name in ("context_length", "embed_dim", "hidden_dim", "n_hidden")]
        assert values == ["4", "12", "32", "3"]


async def test_a_burst_in_the_temperatures_field_lands_in_order(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, TemperatureScreen), what="the temperatures")
        field = app.screen.query_one("#temperatures", Input)
        field.focus()
        await pilot.pause()
        with a_busy_thread():
            burst(app, "ctrl+u", "1", ",", "space", "2")
            await wait_for(pilot, lambda: field.value == "1, 2", what="the burst typed")


async def test_the_main_screens_view_keys_work_from_inside(tmp_path):
    """The tab bar names F2, F3, F4: from the Inside view they lead there (and F7 samples) instead of nothing."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        for key, lands in (("f2", lambda: app.main.has_class("view-setup")),
                           ("f3", lambda: app.main.has_class("view-train")),
                           ("f4", lambda: isinstance(app.screen, RunsScreen)),
                           ("f7", lambda: app.main.query_one(GenerationPanel).sampling or "step" in
                            app.main.query_one(GenerationPanel).text)):
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: isinstance(app.screen, InsideScreen), what="the Inside view")
            await pilot.press(key)
            await wait_for(pilot, lambda: not isinstance(app.screen, InsideScreen) and lands(), what=f"{key} from Inside")
            if isinstance(app.screen, RunsScreen):
                await pilot.press("escape")


async def test_in_the_odds_field_the_footer_says_what_esc_does(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, InsideScreen), what="the Inside view")
        screen = app.screen
        screen.query_one("#context", Input).focus()
        await pilot.pause()
        assert screen.active_bindings["escape"].binding.description == "Leave field"  # what the footer says
        await pilot.press("escape")
        assert app.screen is screen and not screen.query_one("#context", Input).has_focus
        assert screen.active_bindings["escape"].binding.description == "Close"
        await pilot.press("escape")
        assert not isinstance(app.screen, InsideScreen)


def test_the_palette_offers_no_keys_panel(tmp_path):
    app = make_app(tmp_path)
    assert "Keys" not in {command.title for command in app.get_system_commands(app.main)}


ODD_TEXTS = {"one long line (minified)": "ab cd ef gh " * 400, "old-Mac line ends": "emma\rolivia\rava\rmia\r" * 100,
             "Unicode line separators": "emma\u2028olivia\u2028ava\u2028mia\u2028" * 100}


@pytest.mark.parametrize("kind", ODD_TEXTS)
def test_a_text_of_odd_lines_trains_headless(tmp_path, capsys, kind):
    path = tmp_path / "odd.txt"
    path.write_text(ODD_TEXTS[kind], newline="")
    code = main(["--headless", "--corpus", str(path), "--context", "3", "--embed", "4", "--hidden", "8", "--steps", "20",
                 "--sample", "30"])
    out, err = capsys.readouterr()
    assert code == 0 and "training finished" in out and "validation examples" in out, out + err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ODD_TEXTS)
async def test_a_text_of_odd_lines_opens_and_trains_in_the_app(tmp_path, kind):
    path = tmp_path / "odd.txt"
    path.write_text(ODD_TEXTS[kind], newline="")
    app = make_app(tmp_path)
    app.calibrate = True  # the run estimate divided by the examples: 0 of them crashed the app
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#corpus-path", str(path))
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.corpus.source == str(path)
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 20, what="training")
        assert app.return_code is None


def test_an_empty_corpus_name_is_said_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--headless", "--corpus", ""])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "the corpus is empty" in err and err.count("\n") == 1


def test_the_course_preset_says_how_little_it_has_learnt_when_it_finishes():
    """Its 3 epochs end at loss ~3.0, with gibberish: "finished after 645 steps" alone left a learner puzzled."""
    from core.corpora import resolve_corpus
    from core.session import Session

    course = RunConfig.preset("course")
    finished = {}
    for name, config in (("course", course), ("a faster lr", course.replace(learning_rate=0.1))):
        session = Session()
        session.new(resolve_corpus("proverbs"), config)
        session.start()
        finished[name] = [event for event in session.train()][-1].message
    assert "barely below a uniform guess over 32 characters" in finished["course"] and "raise epochs" in finished["course"]
    assert finished["a faster lr"] == "training finished after 645 steps"  # its loss ends well below a guess

"""A learner's first minutes in the app, with Pilot: nothing is silent, the numbers have names, the
form says what it is, and a terminal too small says so."""

from pathlib import Path

import pytest
from textual.widgets import Input, Select

from charlm_tui.screens.main import MIN_SIZE
from charlm_tui.widgets.generation_panel import GenerationPanel
from charlm_tui.widgets.hyper_panel import HyperPanel
from charlm_tui.widgets.loss_chart import LossChart
from charlm_tui.widgets.paths import tilde_path
from core.corpora import DEFAULT_CORPUS
from core.places import data_home
from core.session import Phase
from core.settings import CUSTOM, RunConfig
from test_app import (TINY, make_app, sampling, set_field, steps, stop_training, text_of, train_then_pause,
                      wait_for)

SIZES = [(80, 24), (160, 48)]


async def a_paused_model(pilot) -> None:
    """Train a few steps and pause, with automatic samples off (so the pane holds only what is asked for)."""
    await set_field(pilot, "#auto-every", "0")
    await train_then_pause(pilot, 20)


def footer_keys(app) -> set[str]:
    """The keys the footer offers now (bindings whose action is allowed)."""
    return set(app.screen.active_bindings)


@pytest.mark.parametrize("size", SIZES)
async def test_focus_starts_on_the_corpus_list_so_arrows_and_enter_work(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        assert app.focused is not None and app.focused.id == "corpus-list"
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.main.corpus.name != DEFAULT_CORPUS


@pytest.mark.parametrize("key, words", [
    ("ctrl+s", "no model yet to save"),
    ("f7", "no model yet to sample from"),
    ("f6", "Training is not running"),
    ("f8", "No text is being generated"),
])
async def test_a_key_refused_before_there_is_a_model_says_why(tmp_path, key, words):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert key not in footer_keys(app)  # not offered...
        await pilot.press(key)
        await pilot.pause()
        assert app.said_that(words), app.said  # ...and not silent either


@pytest.mark.parametrize("key, words", [("ctrl+o", "Pause training (F5) before loading"),
                                        ("ctrl+r", "before the learning-rate finder")])
async def test_a_key_that_needs_a_pause_says_so_while_training(tmp_path, key, words):
    app = make_app(tmp_path, config=TINY.replace(max_steps=10**9))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 10, what="training")
        await pilot.press(key)
        await pilot.pause()
        assert app.said_that(words)
        assert app.screen is app.main  # no dialog opened
        await stop_training(pilot)


async def test_the_command_palette_says_why_too(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        await app.main.attempt("save")
        assert app.said_that("no model yet to save")


async def test_the_footer_offers_stop_text_only_while_text_streams(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        await set_field(pilot, "#length", "100000")
        app.main.action_generate()  # F7's action: Pilot.press would wait for idle, which a loaded machine may reach
        assert sampling(app) and "f8" in footer_keys(app)  # only once the whole sample is written
        await pilot.press("f8")
        await wait_for(pilot, lambda: not sampling(app), what="the sample to stop")
        assert "f8" not in footer_keys(app)
        await set_field(pilot, "#length", "5")
        await pilot.press("f7")
        await wait_for(pilot, lambda: not sampling(app), what="a short sample to end")
        assert "f8" not in footer_keys(app)


async def test_a_generation_field_that_cannot_be_read_is_said_at_once_and_auto_samples_wait(tmp_path):
    app = make_app(tmp_path, config=TINY.replace(max_steps=10**9))
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#auto-every", "50")
        await set_field(pilot, "#top_k", "many")
        status = app.query_one("#gen-status")
        assert status.display and "top-k" in text_of(status) and "samples wait" in text_of(status)
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 500, what="training")
        assert "auto sample" not in app.query_one(GenerationPanel).text
        assert "samples wait" in text_of(status)  # still said while auto-samples are held back
        await set_field(pilot, "#top_k", "all")  # "all" (like empty) means no limit
        assert not status.display
        await wait_for(pilot, lambda: "auto sample" in app.query_one(GenerationPanel).text, what="an auto sample")
        await stop_training(pilot)


async def test_switching_corpus_resets_a_prompt_the_new_text_cannot_read(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        prompt = app.query_one("#prompt", Input)
        app.main.query_one("CorpusPanel").choose("proverbs")
        await pilot.pause()
        await set_field(pilot, "#prompt", "The ")
        app.main.query_one("CorpusPanel").choose("names")  # lowercase names: no 'T', no space
        await pilot.pause()
        assert prompt.value == ""
        assert "it is now ''" in text_of(app.query_one("#gen-status"))
        await set_field(pilot, "#prompt", "ma")
        app.main.query_one("CorpusPanel").choose("shakespeare")  # has 'm' and 'a': the prompt stays
        await pilot.pause()
        assert prompt.value == "ma"


async def test_the_preset_says_custom_once_a_field_differs_and_a_preset_brings_its_corpus(tmp_path):
    app = make_app(tmp_path, config=RunConfig.preset("default"))
    async with app.run_test(size=(80, 24)) as pilot:
        preset = app.query_one("#preset", Select)
        assert preset.value == "default"
        await set_field(pilot, "#learning_rate", "0.02")
        assert preset.value == CUSTOM
        await set_field(pilot, "#learning_rate", "0.01")
        assert preset.value == "default"
        preset.value = "course"
        await pilot.pause()
        assert app.main.settings == RunConfig.preset("course")
        assert app.main.corpus.name == "proverbs" and preset.value == "course"
        assert "215 train, 0 val" in text_of(app.query_one("#corpus-stats"))  # the course holds none out


async def test_the_course_preset_shows_no_empty_validation_row_and_says_why(tmp_path):
    app = make_app(tmp_path, config=RunConfig.preset("course").replace(max_steps=50))
    async with app.run_test(size=(80, 24)) as pilot:
        app.main.query_one("CorpusPanel").choose("proverbs")
        await pilot.pause()
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED, what="50 steps")
        assert app.query_one("TrainingPanel").has_class("-no-validation")
        app.main.query_one("CorpusPanel").choose("names")
        await pilot.pause()
        await set_field(pilot, "#validation_fraction", "0.1")
        assert "for a new model" in text_of(app.query_one("#hyper-pending"))

    app = make_app(tmp_path, config=TINY.replace(max_steps=50))
    async with app.run_test(size=(80, 24)) as pilot:
        app.main.query_one("CorpusPanel").choose("proverbs")
        await pilot.pause()
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED, what="50 steps")
        assert app.query_one("TrainingPanel").has_class("-no-validation")
        assert "validation off: 10% of proverbs is 21 examples" in text_of(app.query_one("#train-verdict"))


@pytest.mark.parametrize("size", SIZES)
async def test_the_numbers_have_names_and_validation_is_judged_in_words(tmp_path, size):
    app = make_app(tmp_path, config=TINY.replace(max_steps=10**9, eval_every=100))
    async with app.run_test(size=size) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: len(app.session.run.trainer.state.validation) >= 3, what="3 evaluations")
        await wait_for(pilot, lambda: "validation" in text_of(app.query_one("#train-verdict")), what="the verdict")
        stats = text_of(app.query_one("#train-stats"))
        for name in ("loss", "smoothed", "val", "ppl", "epoch avg", "example"):
            assert name in stats
        verdict = text_of(app.query_one("#train-verdict"))
        assert "best" in verdict and "at step" in verdict
        await stop_training(pilot)
        chart = app.query_one(LossChart)
        best = min(loss for _, loss in app.session.run.trainer.state.validation)
        assert chart.training and f"best {best:.3f}" in chart.legend_text  # the chart: curves, and the best marked


async def test_where_a_chart_would_not_be_readable_the_sparklines_show_the_curves(tmp_path):
    app = make_app(tmp_path, config=TINY.replace(max_steps=300))
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one("TrainingPanel")
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED, what="300 steps")
        assert not panel.has_class("-sparklines") and not app.query_one("#loss-row").display
        panel.styles.width = LossChart.MIN_COLUMNS  # too narrow for the chart's axes
        await pilot.pause()
        assert panel.has_class("-sparklines") and app.query_one("#loss-row").display
        curve = app.query_one("#loss-curve").data
        assert curve and text_of(app.query_one("#loss-max")).strip() == f"{max(curve):.2f}"


async def test_changing_the_model_while_it_trains_says_it_is_for_a_new_model(tmp_path):
    app = make_app(tmp_path, config=TINY.replace(max_steps=10**9))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: steps(app) > 10, what="training")
        await pilot.press("f2")
        await set_field(pilot, "#n_hidden", "3")
        pending = app.query_one("#hyper-pending")
        assert pending.display and "layers 2 → 3" in text_of(pending)
        await set_field(pilot, "#n_hidden", "2")
        assert not pending.display
        await stop_training(pilot)


async def test_a_run_over_an_hour_comes_with_a_hint(tmp_path):
    app = make_app(tmp_path, config=RunConfig.preset("default"))
    async with app.run_test(size=(80, 24)) as pilot:
        hyper = app.query_one(HyperPanel)
        hyper.seconds_per_step_per_parameter = 1e-7  # as if measured: ~700 steps/s for the default model
        await pilot.pause()
        assert "over an hour" not in text_of(app.query_one("#run-estimate"))
        await set_field(pilot, "#max_steps", "100000000")
        assert "over an hour" in text_of(app.query_one("#run-estimate"))
        await set_field(pilot, "#max_steps", "")  # no budget at all (epochs is empty too): nothing to estimate
        assert app.query_one(HyperPanel).problems and not text_of(app.query_one("#run-estimate")).strip()


async def test_a_loaded_model_gets_a_pane_of_its_own(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        await set_field(pilot, "#length", "30")
        await pilot.press("f7")
        await wait_for(pilot, lambda: not sampling(app))
        app.session.save(tmp_path / "m.json")
        app.main._load_from(str(tmp_path / "m.json"))
        await pilot.pause()
        text = app.query_one(GenerationPanel).text
        assert text.startswith("── loaded m.json at step") and "temperature" not in text


@pytest.mark.parametrize("size", [(40, 12), (60, 20)])
async def test_a_terminal_too_small_says_how_big_it_must_be(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        message = app.query_one("#too-small")
        assert message.display and f"at least {MIN_SIZE[0]}×{MIN_SIZE[1]}" in text_of(message)
        assert not app.query_one("#panels").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not message.display and app.query_one("#panels").display


async def test_in_a_browser_too_small_says_to_widen_the_window_or_zoom_out(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    monkeypatch.setattr(type(app), "is_web", property(lambda app: True))  # as under textual-serve's driver
    async with app.run_test(size=(60, 20)):
        said = text_of(app.query_one("#too-small"))
        assert "browser window bigger, or zoom out" in said and "terminal" not in said
        assert f"at least {MIN_SIZE[0]}×{MIN_SIZE[1]} characters (it is 60×20 now)" in said


async def test_a_new_name_saves_as_json_beside_the_suggestion_and_load_offers_it_next(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        await pilot.press("ctrl+s")
        suggested = Path(app.screen.query_one("#path", Input).value)
        await set_field(pilot, "#path", "first")  # a bare name: relative to the suggested folder
        await pilot.press("enter")
        await pilot.pause()
        saved = suggested.parent / "first.json"
        assert saved.is_file() and app.said_that(f"Saved {saved}")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.screen.query_one("#path", Input).value == str(saved)


async def test_load_takes_a_bare_name_from_the_folder_save_puts_it_in_even_when_it_offers_the_autosave(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        folder, saved_step = data_home() / "checkpoints", app.session.step
        folder.mkdir(parents=True)
        app.session.save(folder / "mine.json")
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.session.step > saved_step, what="more steps")
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.PAUSED, what="the pause")
        app.session.autosave()  # as a relaunch finds it: ^O offers the autosave, outside that folder
        app.main.last_checkpoint = None
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.screen.query_one("#path", Input).value == str(app.session.autosave_path)
        caption = " ".join(label.render().plain for label in app.screen.query(".caption"))
        assert f"relative paths are in {tilde_path(folder)}" in caption
        await set_field(pilot, "#path", "mine.json")
        await pilot.press("enter")
        await pilot.pause()
        assert app.said_that(f"Loaded {folder / 'mine.json'}: step {saved_step:,}")


async def test_the_lr_finder_sweeps_a_copy_and_one_key_applies_its_suggestion(tmp_path):
    app = make_app(tmp_path, config=RunConfig.preset("default"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: getattr(app.screen, "result", None) is not None, what="the sweep")
        suggestion = app.screen.result.suggestion
        assert "suggested lr" in text_of(app.screen.query_one("#lr-verdict"))
        await pilot.press("a")
        await pilot.pause()
        assert app.main.settings.learning_rate == pytest.approx(suggestion)
        assert app.said_that(f"lr set to {suggestion:g}")
        assert app.session.run is None  # the sweep trained a throwaway copy, not a model of the session


async def test_early_stopping_says_so_in_words(tmp_path):
    app = make_app(tmp_path, config=TINY.replace(learning_rate=0.5, max_steps=10**6, eval_every=50,
                                                 eval_examples=200, patience=3))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.FINISHED, timeout=60, what="early stopping")
        verdict = text_of(app.query_one("#train-verdict"))
        assert "has not improved for 3 evaluations" in verdict and "back to the best weights" in verdict


async def test_ctrl_l_puts_the_loss_chart_on_a_log_scale(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one("LossChart")
        assert not chart.log_y
        await pilot.press("ctrl+l")
        assert chart.log_y and app.said_that("Loss axis: log")
        await pilot.press("ctrl+l")
        assert not chart.log_y


async def test_auto_every_is_a_setting_like_the_others_and_empty_means_off(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(GenerationPanel)
        assert panel.settings().auto_every == 1000
        await set_field(pilot, "#auto-every", "")
        assert panel.settings().auto_every == 0  # off: F7 still samples
        await set_field(pilot, "#auto-every", "abc")
        assert panel.settings() == "auto every: 'abc' is not a whole number from 0 to 10,000,000 (empty: off)"

"""Comparing (issue 13), the parts that are not the Runs view or the temperature screen themselves: top-p and
the novelty marks in the generation panel and on the command line, temperatures side by side headless, and
loading a run from the history into the app."""

import json

import pytest
from rich.text import Text
from textual.widgets import Input

from charlm_tui.cli import main
from charlm_tui.headless import side_by_side
from charlm_tui.widgets.generation_panel import GenerationPanel
from charlm_tui.widgets.hyper_panel import HyperPanel
from charlm_tui.widgets.novelty_marks import KNOWN_STYLE, LEGEND, NEW_STYLE, mark_lines
from core.checkpoint import load_checkpoint
from core.data import Corpus
from core.history import RunLog
from core.novelty import NoveltyIndex, novelty_index
from core.run import Run
from core.session import Phase, Session, recorded_checkpoint
from core.settings import RunConfig
from test_app import generated_after_heading, make_app, sampling, set_field, text_of, train_then_pause, wait_for

TEXT = "anna\nbob\ncarla\n" * 40
SMALL = RunConfig(context_length=3, embed_dim=4, hidden_dim=8, n_hidden=1, max_steps=40, eval_every=20,
                  validation_fraction=0.0)


# --- novelty marks ------------------------------------------------------------------------------


def styles_of(text: Text) -> dict[str, str]:
    return {text.plain[span.start:span.end]: str(span.style) for span in text.spans}


def test_finished_lines_are_marked_new_or_known_and_the_unfinished_one_waits():
    index = NoveltyIndex("anna\nbob\n")
    text = Text("── heading ──\n")
    start = len(text)
    text.append("anna\nzzq\n\nbo")
    start = mark_lines(text, start, index)
    assert styles_of(text) == {"anna": KNOWN_STYLE, "zzq": NEW_STYLE}
    assert text.plain[start:] == "bo"  # the unfinished line starts the next call
    text.append("b\n")
    assert mark_lines(text, start, index) == len(text)
    assert styles_of(text)["bob"] == KNOWN_STYLE


def test_prose_is_not_marked_line_by_line():
    index = NoveltyIndex("The cat sat.\n\nThe dog ran.\n")
    assert index.unit == "word"
    text = Text("The cat sat.\nnew words\n")
    assert mark_lines(text, 0, index) == len(text) and not text.spans


# --- the command line ---------------------------------------------------------------------------


def samples_of(capsys) -> list[dict]:
    return [event for event in map(json.loads, capsys.readouterr().out.splitlines()) if event["event"] == "sample"]


def test_top_p_at_its_smallest_keeps_only_the_likeliest_character_like_greedy_sampling(capsys):
    base = ["--headless", "--steps", "300", "--print-every", "1000", "--json", "--sample", "60", "--prompt", "ma"]
    assert main(base + ["--temperature", "0"]) == 0
    greedy = samples_of(capsys)[0]["text"]
    assert main(base + ["--top-p", "0.01"]) == 0
    assert samples_of(capsys)[0]["text"] == greedy
    assert main(base + ["--top-p", "0.9"]) == 0
    assert samples_of(capsys)[0]["text"] != greedy  # a nucleus of several characters draws among them


@pytest.mark.parametrize("value", ["0", "1.5", "lots"])
def test_a_bad_top_p_is_refused_with_its_range(capsys, value):
    with pytest.raises(SystemExit) as exit_:
        main(["--headless", "--top-p", value])
    assert exit_.value.code == 2 and "top-p" in capsys.readouterr().err


def test_several_temperatures_print_side_by_side_with_their_novelty(capsys):
    assert main(["--headless", "--steps", "200", "--print-every", "1000", "--sample", "80",
                 "--temperature", "0.5,1,1.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    heading = next(line for line in lines if "--- temperature 0.5 ---" in line)
    assert "--- temperature 1 ---" in heading and "--- temperature 1.5 ---" in heading
    assert sum(line.count("new ·") for line in lines) == 3  # a summary under each column


def test_columns_share_the_width_and_each_keeps_its_lines():
    index = NoveltyIndex("anna\nbob\n")
    samples = [(0.5, "anna\nbob\n", index.stats("anna\nbob\n")), (1.5, "zzq\nqq", index.stats("zzq\nqq"))]
    rows = side_by_side(samples, 60)
    width = (60 - 3) // 2
    left = [row[:width].rstrip() for row in rows]
    right = [row[width + 3:].rstrip() for row in rows]
    assert left[:3] == ["--- temperature 0.5 ---", "anna", "bob"]
    assert right[:3] == ["--- temperature 1.5 ---", "zzq", "qq"]
    assert "100% new" in " ".join(right) and "0% new" in " ".join(left)
    assert all(len(row) <= 60 for row in rows)


# --- a run's checkpoint, as the history knows it ------------------------------------------------


def trained_session(tmp_path, config: RunConfig = SMALL, steps: int = 30) -> Session:
    session = Session(tmp_path / "autosave.json")
    session.new(Corpus(TEXT, "abc"), config)
    session.start()
    for _ in session.train():
        if session.step >= steps:
            session.pause()
    return session


def last_record(run_id: str):
    return next(r for r in RunLog().read()[0] if r.id == run_id)


def test_a_checkpoint_names_the_run_that_saved_it(tmp_path):
    session = trained_session(tmp_path)
    session.save(tmp_path / "a.json")
    assert load_checkpoint(tmp_path / "a.json").run_id == session.run.id
    record = last_record(session.run.id)
    assert recorded_checkpoint(record) == (tmp_path / "a.json", "")


def test_a_checkpoint_saved_over_by_another_run_is_not_offered_as_the_first_ones(tmp_path):
    first = trained_session(tmp_path)
    first.save(tmp_path / "shared.json")
    second = trained_session(tmp_path, SMALL.replace(learning_rate=0.1))
    second.save(tmp_path / "shared.json")
    path, why = recorded_checkpoint(last_record(first.run.id))
    assert path is None and "holds another run" in why
    assert recorded_checkpoint(last_record(second.run.id))[0] == tmp_path / "shared.json"
    (tmp_path / "shared.json").unlink()
    assert "is gone" in recorded_checkpoint(last_record(second.run.id))[1]


def test_an_unsaved_run_has_no_checkpoint(tmp_path):
    session = trained_session(tmp_path)
    session.stop()
    assert recorded_checkpoint(last_record(session.run.id)) == (None, "it was not saved")


# --- the generation panel -----------------------------------------------------------------------


async def test_top_p_in_the_panel_reaches_the_sample_and_a_bad_one_is_said(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#auto-every", "0")
        await train_then_pause(pilot, 20)
        await set_field(pilot, "#top_p", "1.5")
        panel = app.query_one(GenerationPanel)
        assert "top-p" in panel.settings() and "samples wait" in text_of(panel.query_one("#gen-status"))
        await set_field(pilot, "#top_p", "0.5")
        await pilot.press("f7")
        await wait_for(pilot, lambda: not sampling(app), what="the sample")
        assert "temperature 0.8, top-p 0.5 ──" in panel.text


async def test_a_finished_sample_is_summed_up_and_its_lines_marked(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await set_field(pilot, "#auto-every", "0")
        await set_field(pilot, "#prompt", "")
        await train_then_pause(pilot, 20)
        await pilot.press("f7")
        await wait_for(pilot, lambda: not sampling(app), what="the sample")
        await pilot.pause()
        panel = app.query_one(GenerationPanel)
        sample = generated_after_heading(app)
        index = novelty_index(app.session.run.corpus.text)
        stats = index.stats(sample)
        assert f"── {stats.summary(compact=True)} ──" in panel.text or f"── {stats.summary()} ──" in panel.text
        assert panel.text.endswith(f"── {LEGEND} ──")  # the first summary in a pane explains the marks
        shown = panel.query_one("#generated").render()
        for line, known in index.mark_lines(sample):
            assert styles_of(shown).get(line) == (KNOWN_STYLE if known else NEW_STYLE)


# --- the Runs view and the temperature screen, opened from the main screen ------------------------


def saved_run(tmp_path, name: str, config: RunConfig) -> Run:
    """A run on the names corpus, trained a little and saved: it is in the history with its checkpoint."""
    from core.corpora import resolve_corpus

    session = Session(tmp_path / f"{name}-autosave.json")
    session.new(resolve_corpus("names"), config)
    session.start()
    for _ in session.train():
        if session.step >= 25:
            session.pause()
    session.save(tmp_path / f"{name}.json")
    return session.run


async def open_runs(pilot):
    await pilot.press("f4")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "RunsScreen", what="the Runs view")


async def test_choosing_a_run_loads_its_settings_and_checkpoint(tmp_path):
    tanh = saved_run(tmp_path, "tanh", SMALL.replace(activation="tanh", hidden_dim=12))
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        app.screen.dismiss(last_record(tanh.id))
        await wait_for(pilot, lambda: app.session.run is not None, what="the checkpoint to load")
        assert app.session.step == tanh.trainer.state.step and app.session.run.config.activation == "tanh"
        form = app.query_one(HyperPanel).config
        assert form.activation == "tanh" and form.hidden_dim == 12 and form.context_length == 3
        assert app.main.corpus.name == "names"
        assert app.said_that("F5 continues")


async def test_a_finished_run_loaded_says_to_raise_its_budget_before_f5(tmp_path):
    done = saved_run(tmp_path, "done", SMALL.replace(max_steps=20))  # it finishes at step 20, before the pause
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        app.screen.dismiss(last_record(done.id))
        await wait_for(pilot, lambda: app.session.run is not None, what="the checkpoint to load")
        assert app.session.phase is Phase.FINISHED
        assert app.said_that("its budget is used up: raise max steps, then F5 trains on") and not app.said_that(
            "F5 continues")


async def test_a_run_whose_checkpoint_is_gone_brings_its_settings_only(tmp_path):
    run = saved_run(tmp_path, "gone", SMALL.replace(hidden_dim=10, learning_rate=0.02))
    (tmp_path / "gone.json").unlink()
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        app.screen.dismiss(last_record(run.id))
        await pilot.pause()
        assert app.session.run is None
        form = app.query_one(HyperPanel).config
        assert (form.hidden_dim, form.learning_rate) == (10, 0.02)
        assert app.main.corpus.name == "names"  # the bundled corpus by its name, not as a file of its own
        assert app.said_that("is gone") and app.said_that("trains a new model with them")


async def test_the_runs_tab_opens_the_view_and_escape_comes_back(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#view-tabs Tab#runs")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunsScreen", what="the Runs view")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main and app.main.has_class("view-setup")


async def test_temperatures_side_by_side_need_a_model_then_take_the_panels_settings(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.said_that("no model yet to sample from")
        await set_field(pilot, "#auto-every", "0")
        await train_then_pause(pilot, 20)
        await set_field(pilot, "#top_k", "5")
        await set_field(pilot, "#length", "40")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TemperatureScreen", what="the comparison")
        screen = app.screen
        assert (screen.top_k, screen.top_p, screen.length, screen.temperatures) == (5, None, 40, (0.5, 1.0, 1.5))
        await set_field(pilot, "#temperatures", "0.2, 2")
        await pilot.press("enter")
        await pilot.press("escape")
        await pilot.press("ctrl+t")  # the columns come back as they were last set
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TemperatureScreen", what="the comparison")
        assert app.screen.temperatures == (0.2, 2.0) and app.screen.query_one("#temperatures", Input).value == "0.2, 2"


async def test_with_no_color_the_charts_draw_in_monochrome(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # Textual reads it when the app is made
    saved_run(tmp_path, "relu", SMALL)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#auto-every", "0")
        await train_then_pause(pilot, 20)  # the loss chart draws while training
        await open_runs(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one("RunsChart").region.height > 0
        assert "loss" in app.export_screenshot() and app.is_running


@pytest.mark.parametrize("argv, words", [
    (["--sample", "-5"], "length must be a whole number from 0"),
    (["--temperature", "0.5 hot"], "'hot' is not a number from 0 to 5 (value 2 of 2)"),
])
def test_sampling_arguments_are_checked_and_say_which_value(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main(["--headless", *argv])
    assert exit_.value.code == 2 and words in capsys.readouterr().err


async def test_sampling_again_before_the_columns_are_up_gives_one_set_of_columns(tmp_path):
    """Enter then F7 at once: the second sampling waits for the first's columns, then replaces them."""
    import asyncio

    from charlm_tui.screens.temperatures import TemperatureColumn

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "#auto-every", "0")
        await train_then_pause(pilot, 20)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TemperatureScreen", what="the comparison")
        screen = app.screen
        await asyncio.gather(screen.sample((1.0,)), screen.sample((0.5, 1.5)))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [column.temperature for column in screen.query(TemperatureColumn)] == [0.5, 1.5]

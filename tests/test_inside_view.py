"""The Inside view (issue 14) in the app: a single step taken apart and recorded as training would have taken it, the
odds as you type and as the temperature changes, the embedding map, the warning when a layer dies, the keys that
switch parts and those the footer offers, Esc.
Snapshots: pytest tests/test_inside_view.py --snapshot-update"""

import io
import json
from dataclasses import replace

import pytest
from rich.console import Console
from textual.widgets import Input, Static, Tabs

from charlm_tui.app import CharLMApp
from charlm_tui.screens.inside import GRADIENT_EXAMPLES, GraphPart, InsideScreen, MapPart, OddsPart, StepPart
from charlm_tui.widgets.embedding_map import EmbeddingMap, place
from charlm_tui.widgets.training_panel import TrainingPanel
from core.corpora import resolve_corpus
from core.inside import embedding_map, evenly_spaced, inspect_step, mean_gradient_steps, next_char_odds, shown
from core.run import Run
from core.session import Phase, Session
from core.settings import RunConfig
from core.training import StepEvent, StoppedEvent

SMALL = dict(embed_dim=8, hidden_dim=32, n_hidden=2, max_steps=100_000)  # quick to train, every part still there
STEPS = 1_000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small model of the names, trained a fixed number of steps, saved (a Run: no history is written)."""
    run = Run.new(resolve_corpus("names"), RunConfig.preset("default").replace(**SMALL))
    run.trainer.run(max_steps=STEPS)
    return run.save(tmp_path_factory.mktemp("inside") / "names.json")


def app_on(checkpoint, tmp_path) -> CharLMApp:
    """The app with the checkpoint loaded (its settings in the form, as ^O leaves them)."""
    return CharLMApp(resume=str(checkpoint), autosave_path=tmp_path / "autosave.json", calibrate=False)


async def settled(pilot) -> None:
    """Every worker done, and what it found shown."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def opened(pilot) -> InsideScreen:
    await wait_for(pilot, lambda: pilot.app.session.run is not None)  # the checkpoint is loaded
    await pilot.pause()  # and its notification is up (a message to the app)
    pilot.app.clear_notifications()  # "Loaded …": it would cover a part
    screen = InsideScreen(pilot.app.session)
    await pilot.app.push_screen(screen)
    await settled(pilot)
    return screen


async def show_part(pilot, name: str) -> None:
    pilot.app.screen.query_one("#part-tabs", Tabs).active = name
    await settled(pilot)


async def wait_for(pilot, condition, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


def text_of(screen, selector: str) -> str:
    """What a Static shows, as plain text (a table drawn as wide as it likes)."""
    console = Console(width=1000, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(screen.query_one(selector, Static).content, markup=False, highlight=False)
    return capture.get()


def twin(checkpoint, tmp_path) -> Session:
    """Another session on the same checkpoint: where the app's would be had it only trained."""
    session = Session(tmp_path / "twin.json")
    session.load(checkpoint)
    return session


def where_training_is(session: Session):
    trainer = session.run.trainer
    return json.dumps(session.run.model.weights()), trainer.state  # the state as a state: its clock aside


def without_timing(events):
    """The step's own events, timing aside (the session's single step ends with a pause: a StoppedEvent)."""
    return [replace(e, steps_per_sec=0.0) if isinstance(e, StepEvent) else e for e in events
            if not isinstance(e, StoppedEvent)]


# --- one step ---


async def test_s_takes_one_step_apart_and_training_goes_on_as_if_it_had_trained(checkpoint, tmp_path):
    plain = twin(checkpoint, tmp_path)
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        session = pilot.app.session
        await pilot.press("s")
        await settled(pilot)
        assert session.step == STEPS + 1 and session.phase is Phase.PAUSED

        report, expected = screen.query_one(StepPart).report, inspect_step(plain.run.trainer, plain.run.corpus.vocab)
        assert report.examples == expected.examples and report.learning_rate == expected.learning_rate
        assert report.layers == expected.layers and without_timing(report.events) == without_timing(expected.events)
        shown_report = text_of(screen, "#step-report")
        (example,) = report.examples
        assert f"{shown(example.context)}” → “{shown(example.target)}" in shown_report
        assert f"p {example.p_before:.3f} → {example.p_after:.3f}" in shown_report
        for layer in report.layers:
            assert f"{layer.name:<10} {layer.grad_norm:>8.2g}  {layer.log10_update_ratio:>+9.1f}" in shown_report
        assert pilot.app.main.query_one(TrainingPanel).last.step == STEPS + 1  # back there, the step is shown

        for _ in range(4):  # repeatable
            await pilot.press("s")
            await settled(pilot)
        assert session.step == STEPS + 5 and len(session.run.trainer.state.losses) == STEPS + 5
        plain.run.trainer.run(max_steps=4)
        assert where_training_is(session) == where_training_is(plain)

    for each in (session, plain):  # and on from there, bit for bit
        each.run.trainer.run(max_steps=50)
    assert where_training_is(session) == where_training_is(plain)


async def test_a_step_waits_for_a_pause_and_f5_pauses(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        session = pilot.app.session
        await pilot.press("f5")  # the main screen's training worker starts
        await wait_for(pilot, lambda: session.phase is Phase.RUNNING and session.step > STEPS + 20)
        await pilot.press("s")
        assert "Training is running: F5 pauses it, then s takes one step." in text_of(screen, "#step-words")
        assert screen.query_one(StepPart).report is None
        assert "training at step" in text_of(screen, "#status")
        await pilot.press("f5")
        await wait_for(pilot, lambda: pilot.app.main.phase is Phase.PAUSED)
        step = session.step
        await pilot.press("s")
        await settled(pilot)
        assert session.step == step + 1 and screen.query_one(StepPart).report is not None
        assert "paused at step" in text_of(screen, "#status")


async def test_a_step_beyond_the_budget_says_so(tmp_path):
    run = Run.new(resolve_corpus("names"), RunConfig.preset("default").replace(**{**SMALL, "max_steps": 20}))
    run.trainer.run()
    checkpoint = run.save(tmp_path / "done.json")
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        assert pilot.app.session.phase is Phase.FINISHED
        await pilot.press("s")
        await settled(pilot)
        assert "The budget is used up (its max steps, 20, are done)" in text_of(screen, "#step-words")
        assert pilot.app.session.step == 20


# --- the odds ---


async def test_typing_a_context_updates_the_bars(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await show_part(pilot, "odds")
        run = pilot.app.session.run
        for key in "em":  # the Odds tab takes typing into its field, whatever has the focus
            await pilot.press(key)
        await pilot.pause()
        assert screen.query_one("#context", Input).value == "em"
        odds = next_char_odds(run.trainer.snapshot(), run.corpus.vocab, "em")
        bars = text_of(screen, "#bars").splitlines()
        assert [line[:10] for line in bars[:10]] == [f" {shown(char)} {p:6.1%} " for char, p in odds.odds[:10]]
        assert bars[10].strip() == f"… {len(odds.odds) - 10} more, {sum(p for _, p in odds.odds[10:]):.1%} in all"
        assert "the model sees “⏎⏎⏎⏎⏎⏎em”" in text_of(screen, "#seen")  # padded as the sampler pads names

        await pilot.press("X")
        await pilot.pause()
        assert "skipped “X”: not in the vocabulary" in text_of(screen, "#seen")
        assert text_of(screen, "#bars").splitlines()[:10] == bars[:10]  # the same odds: X is left out

        await pilot.press("escape")  # leaves the field; a second Esc would close the view
        assert pilot.app.screen is screen and not screen.query_one("#context", Input).has_focus


async def test_the_temperature_keys_flatten_and_sharpen_the_bars(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        run = pilot.app.session.run
        frozen, vocab = run.trainer.snapshot(), run.corpus.vocab

        def top_lines():
            return text_of(screen, "#bars").splitlines()[:3]

        await pilot.press(*["f10"] * 10)  # the Odds tab comes forward
        assert screen.query_one(Tabs).active == "odds" and screen.query_one(OddsPart).temperature == 2.0
        hot = next_char_odds(frozen, vocab, "", 2.0).odds
        assert [line[:10] for line in top_lines()] == [f" {shown(c)} {p:6.1%} " for c, p in hot[:3]]
        assert "temperature 2" in text_of(screen, "#temperature")
        await pilot.press(*["f9"] * 25)
        assert screen.query_one(OddsPart).temperature == 0.0
        greedy = next_char_odds(frozen, vocab, "", 0.0).odds
        assert top_lines()[0].startswith(f" {shown(greedy[0][0])} 100.0% ██")
        assert "greedy" in text_of(screen, "#temperature")


# --- the keys ---


def offered(screen) -> set[str]:
    """The keys the footer offers now."""
    return {key for key, active in screen.active_bindings.items() if active.binding.show}


async def test_the_part_keys_switch_parts_also_while_typing_a_context(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        tabs, field = screen.query_one(Tabs), screen.query_one("#context", Input)
        await pilot.press("ctrl+pagedown")
        assert tabs.active == "odds"
        context = "emma" * 8  # longer than the field: it scrolls sideways
        await pilot.press(*context)
        assert field.has_focus and field.value == context
        await pilot.press("ctrl+pagedown")  # ← → would move the text cursor here
        assert tabs.active == "map" and field.value == context and tabs.has_focus  # ← → choose again
        await pilot.press("ctrl+pageup", "ctrl+pageup", "ctrl+pageup")
        assert tabs.active == "graph"  # round from the first part to the last
        await settled(pilot)


async def test_the_footer_offers_the_keys_that_work_here(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        assert {"s", "ctrl+pageup", "ctrl+pagedown"} <= offered(screen)
        await pilot.press("ctrl+pagedown")
        assert "s" not in offered(screen)  # on the Odds tab, s is typed into the context field
        await pilot.press("s")
        assert screen.query_one("#context", Input).value == "s" and "s" not in offered(screen)
        assert {"ctrl+pageup", "ctrl+pagedown"} <= offered(screen)
        await pilot.press("escape")  # out of the field, on the Odds tab still
        assert "s" not in offered(screen) and screen.query_one(Tabs).has_focus  # ← → choose a part
        await pilot.press("ctrl+pageup")
        assert "s" in offered(screen)

        await pilot.resize_terminal(160, 48)  # the grid: every part at once
        await settled(pilot)
        assert "s" in offered(screen) and not {"ctrl+pageup", "ctrl+pagedown"} & offered(screen)
        await pilot.click("#context")
        assert "s" not in offered(screen)
        await pilot.press("escape")
        assert "s" in offered(screen)

        await pilot.press("f1")
        keys = dict(pilot.app.screen.keys)
        assert "next part" in keys["^pgdn"] and "previous part" in keys["^pgup"]


# --- the map, the health, the graph ---


async def test_the_map_draws_every_character_once(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await show_part(pilot, "map")
        run = pilot.app.session.run
        drawn = screen.query_one(EmbeddingMap)
        assert list(drawn.points) == embedding_map(run.trainer.snapshot(), run.corpus.vocab)
        width, height = drawn.content_size
        placed = place(drawn.points, width, height - 1)
        assert sorted(p.char for p in placed.values()) == sorted(run.corpus.vocab.chars)
        picture = str(drawn.render())
        for char in run.corpus.vocab.chars:
            assert shown(char) in picture
        assert "a vowel  b consonant  ␣ space, newline" in picture.splitlines()[-1]


async def test_the_health_warns_when_a_layer_dies(tmp_path):
    """relu with lr 0.5: after 300 such steps most of the only hidden layer's units never fire again (on names cut as a
    stream: this order of examples kills them)."""
    config = RunConfig.preset("default").replace(embed_dim=8, hidden_dim=32, n_hidden=1, max_steps=100_000,
                                                 items="stream")
    run = Run.new(resolve_corpus("names"), config)
    run.trainer.run(max_steps=200)
    checkpoint = run.save(tmp_path / "healthy.json")
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await show_part(pilot, "health")
        assert "hidden 1" in text_of(screen, "#health-table") and text_of(screen, "#health-warnings").strip() == ""

        session = pilot.app.session
        session.resume(config.replace(learning_rate=0.5))
        for _ in session.train():
            if session.step >= 500:
                session.pause()
        await wait_for(pilot, lambda: screen.readings.step == 500)  # the next reading sees the weights moved
        await settled(pilot)
        stuck = screen.readings.health[0]
        assert stuck.stuck > stuck.units / 2
        warnings = text_of(screen, "#health-warnings")
        dead = f"{stuck.stuck / stuck.units:.0%} of hidden 1's units are dead, never active on any of the 200 examples"
        assert f"⚠ {dead}" in warnings
        assert "Try a lower learning rate, gradient clipping, or tanh instead of relu." in warnings


async def test_the_graph_and_the_live_gradient(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        await show_part(pilot, "graph")
        run = pilot.app.session.run
        frozen = run.trainer.snapshot()
        gradient = mean_gradient_steps(frozen, evenly_spaced(run.trainer.train_examples, GRADIENT_EXAMPLES),
                                       run.trainer.learning_rate)
        assert screen.readings.gradient == gradient
        graph = text_of(screen, "#graph")
        assert "embedding" in graph and "linear+relu" in graph and "27×8" in graph and "64×32+32" in graph  # in × out
        assert f"loss {frozen.loss(*screen.example):.3f}" in graph
        counts = text_of(screen, "#graph-counts").replace("\n", " ")
        assert f"{sum(screen.readings.op_counts.values()):,} nodes for this one example" in counts
        assert screen.query_one(GraphPart).display and not screen.query_one(MapPart).display


async def test_esc_closes_and_stops_the_readings(checkpoint, tmp_path):
    async with app_on(checkpoint, tmp_path).run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        assert all(part.display for part in screen.parts)  # the grid: every part at once
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is pilot.app.main
        assert not [worker for worker in pilot.app.workers if worker.group == "inside" and not worker.is_finished]


# --- how it looks ---


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_how_it_looks(snap_compare, checkpoint, tmp_path, size):
    async def one_step(pilot):
        await opened(pilot)
        await pilot.press("s")
        await settled(pilot)

    assert snap_compare(app_on(checkpoint, tmp_path), terminal_size=size, run_before=one_step)


async def test_the_main_screen_opens_the_inside_view_once_there_is_a_model(tmp_path):
    from test_app import make_app, set_field, train_then_pause, wait_for

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.said_that("no model yet to look inside") and app.screen is app.main
        await set_field(pilot, "#auto-every", "0")
        await train_then_pause(pilot, 20)
        await pilot.click("#view-tabs Tab#inside")
        await wait_for(pilot, lambda: isinstance(app.screen, InsideScreen), what="the Inside view")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main

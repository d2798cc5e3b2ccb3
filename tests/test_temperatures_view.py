"""Temperatures side by side (exercise 5): columns streaming from one snapshot, equal to the headless samples
for the same checkpoint and seed, the editable list of temperatures, novelty under each column, Esc.
Snapshots: pytest tests/test_temperatures_view.py --snapshot-update"""

import json
import threading

import pytest
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

import charlm_tui.screens.temperatures as temperatures_module
from charlm_tui.cli import main
from charlm_tui.screens.temperatures import (FIELD_LENGTH, SEPARATOR, ColumnsGrew, TemperatureScreen, fill,
                                             parse_temperatures)
from charlm_tui.widgets.novelty_marks import KNOWN_STYLE, LEGEND, NEW_STYLE
from core.corpora import resolve_corpus
from core.novelty import novelty_index
from core.run import Run
from core.sampling import Sampler, prepare_prompt
from core.settings import RunConfig, SettingError

TINY = dict(embed_dim=8, hidden_dim=32, n_hidden=1, batch_size=4, learning_rate=0.1, max_steps=2000)  # a few seconds


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small model of the names, trained to the end of its budget, saved."""
    run = Run.new(resolve_corpus("names"), RunConfig.preset("default").replace(**TINY))
    run.trainer.run()
    return run.save(tmp_path_factory.mktemp("temperatures") / "names.json")


@pytest.fixture
def run(checkpoint) -> Run:
    return Run.load(checkpoint, resolve_corpus("names"))


class Host(App):
    """Just enough app to show the screen."""

    TITLE = "charlm-tui"

    def __init__(self, screen: TemperatureScreen):
        super().__init__()
        self.shown = screen

    def on_mount(self) -> None:
        self.push_screen(self.shown)


async def settled(pilot) -> None:
    """Every sample streamed to its end, and shown."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def expected(run: Run, prompt: str, length: int, temperature: float) -> str:
    """What one column should hold: the prompt and a sample seeded with the run's seed."""
    prepared = prepare_prompt(prompt, run.corpus.vocab, run.model.context_length, run.items)
    sampler = Sampler(run.trainer.snapshot(), run.corpus.vocab, seed=run.config.seed)
    return prepared.text + "".join(sampler.stream(prepared, length, temperature))


def texts(screen: TemperatureScreen) -> list[str]:
    return [column.text for column in screen.columns]


def about(screen: TemperatureScreen) -> str:
    return str(screen.query_one("#about", Static).content)


def problem(screen: TemperatureScreen) -> str | None:
    field = screen.query_one("#problem", Static)
    return str(field.content) if field.display else None


async def type_temperatures(pilot, text: str) -> None:
    pilot.app.screen.query_one("#temperatures", Input).value = text
    await pilot.press("enter")
    await settled(pilot)


# --- the list of temperatures ---


def test_temperatures_are_read_as_the_command_line_reads_them():
    assert parse_temperatures("0.5, 1,1.5") == (0.5, 1.0, 1.5)
    assert parse_temperatures("0") == (0.0,)
    with pytest.raises(SettingError, match="'hot' is not a number from 0 to 5"):
        parse_temperatures("0.5, hot")
    with pytest.raises(SettingError, match="must be a number from 0 to 5, not 7"):
        parse_temperatures("7")
    assert parse_temperatures("0.5 1,, 2") == (0.5, 1.0, 2.0)  # spaces and commas alike
    with pytest.raises(SettingError, match=r"'x' is not a number from 0 to 5 \(value 2 of 3\)"):
        parse_temperatures("0.5 x 2")
    with pytest.raises(SettingError, match="temp is required"):
        parse_temperatures(" ")
    with pytest.raises(SettingError, match="at most 5 temperatures side by side, not 6"):
        parse_temperatures("1,1,1,1,1,1")


def test_a_summary_breaks_between_its_parts():
    summary = "31 lines: 16% in the training set, 84% new · 19 distinct chars · 0% repeats"
    assert fill(summary, 80) == [summary]
    assert fill(summary, 47) == ["31 lines: 16% in the training set, 84% new", "19 distinct chars · 0% repeats"]
    assert fill("31 lines · 84% new · 0% repeats", 22) == ["31 lines · 84% new", "0% repeats"]


# --- the columns ---


async def test_the_columns_are_the_headless_samples_of_the_same_checkpoint(checkpoint, run, capsys):
    assert main(["--headless", "--resume", str(checkpoint), "--sample", "60", "--prompt", "ma",
                 "--temperature", "0.5,1,1.5", "--json"]) == 0
    headless = [event for event in map(json.loads, capsys.readouterr().out.splitlines()) if event["event"] == "sample"]
    assert [event["temperature"] for event in headless] == [0.5, 1.0, 1.5]

    screen = TemperatureScreen(run, "ma", 60)
    async with Host(screen).run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        assert [column.temperature for column in screen.columns] == [0.5, 1.0, 1.5]
        assert texts(screen) == [event["text"] for event in headless]
        assert len(set(texts(screen))) == 3  # the temperature does change what is drawn
        assert all(len(text) == 2 + 60 and text.startswith("ma") for text in texts(screen))


async def test_two_screens_of_the_same_run_show_the_same_columns(run):
    shown = []
    for _ in range(2):
        screen = TemperatureScreen(run, "", 80, temperatures=(0.7, 1.3))
        async with Host(screen).run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            shown.append(texts(screen))
    assert shown[0] == shown[1] == [expected(run, "", 80, 0.7), expected(run, "", 80, 1.3)]


async def test_top_k_and_top_p_reach_every_column_and_are_said(run):
    screen = TemperatureScreen(run, "", 60, top_k=3, top_p=0.9, temperatures=(1.0,))
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        prompt = prepare_prompt("", run.corpus.vocab, run.model.context_length, run.items)
        sampler = Sampler(run.trainer.snapshot(), run.corpus.vocab, seed=run.config.seed)
        assert texts(screen) == ["".join(sampler.stream(prompt, 60, 1.0, 3, top_p=0.9))]
        assert "top-k 3 · top-p 0.9" in about(screen)


async def test_editing_the_field_gives_a_column_per_temperature_from_the_same_snapshot(run):
    screen = TemperatureScreen(run, "", 50)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        weights = screen.weights
        await type_temperatures(pilot, "0.2, 2")
        assert [column.temperature for column in screen.columns] == [0.2, 2.0]
        assert [column.border_title for column in screen.columns] == ["temperature 0.2", "temperature 2"]
        assert screen.weights is weights
        assert texts(screen) == [expected(run, "", 50, 0.2), expected(run, "", 50, 2.0)]
        await type_temperatures(pilot, "0")
        assert [column.border_title for column in screen.columns] == ["temperature 0 (greedy)"]
        await type_temperatures(pilot, "0.1, 0.5, 1, 1.5, 2")  # five columns of 16 cells: the short heading
        assert [column.border_title for column in screen.columns] == ["temp 0.1", "temp 0.5", "temp 1", "temp 1.5",
                                                                      "temp 2"]


async def test_the_field_takes_no_more_than_it_can_read_quickly(run):
    """A 10,000-character paste was read again at each key: the screen froze for a minute and a half."""
    screen = TemperatureScreen(run, "", 50)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        field = screen.query_one("#temperatures", Input)
        field.value = ""
        field.insert_text_at_cursor("1," * 5_000)
        assert field.value == ""  # refused whole, as Textual refuses a paste past max_length
        field.insert_text_at_cursor("0.5, 1, 1.5")
        for _ in range(FIELD_LENGTH):
            field.insert_text_at_cursor("0")
        assert len(field.value) == FIELD_LENGTH and field.value.startswith("0.5, 1, 1.5")


async def test_a_bad_temperature_is_said_under_the_field_and_changes_nothing(run):
    screen = TemperatureScreen(run, "", 50)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        before = texts(screen)
        assert problem(screen) is None
        await type_temperatures(pilot, "0.5, hot")
        assert problem(screen).startswith("temp: 'hot' is not a number from 0 to 5")
        assert texts(screen) == before and len(screen.columns) == 3
        await type_temperatures(pilot, "1, 1, 1, 1, 1, 1")
        assert problem(screen).startswith("at most 5 temperatures side by side, not 6")
        await pilot.press("f7")  # a new snapshot waits for temperatures it can read, too
        await settled(pilot)
        assert texts(screen) == before
        await type_temperatures(pilot, "1.5")
        assert problem(screen) is None and texts(screen) == [expected(run, "", 50, 1.5)]


async def test_f7_samples_the_weights_as_they_are_now(run):
    screen = TemperatureScreen(run, "", 50, temperatures=(1.0,))
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert "the weights of step 2,000" in about(screen)
        before = texts(screen)
        for _ in range(300):  # training goes on meanwhile
            run.trainer.step()
        await pilot.press("enter")  # the same snapshot again: the same text
        await settled(pilot)
        assert texts(screen) == before
        await pilot.press("f7")
        await settled(pilot)
        assert "the weights of step 2,300" in about(screen)
        assert texts(screen) == [expected(run, "", 50, 1.0)] != before


async def test_the_prompts_skipped_characters_are_said(run):
    screen = TemperatureScreen(run, "Ma9ri", 30)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert "prompt 'ari'" in about(screen)
        assert "skipped 'M9': not in the vocabulary of names" in about(screen)
        assert all(text.startswith("ari") for text in texts(screen))


# --- novelty ---


@pytest.mark.parametrize("size,compact", [((80, 24), True), ((160, 48), False)])
async def test_under_each_column_its_novelty(run, size, compact):
    screen = TemperatureScreen(run, "", 200)
    async with Host(screen).run_test(size=size) as pilot:
        await settled(pilot)
        index = novelty_index(run.corpus.text)
        for column in screen.columns:
            summary = index.stats(column.text).summary(compact=compact)
            assert column.novelty.replace("\n", SEPARATOR) == summary
            assert len(column.novelty.splitlines()) == 2


def marks(column) -> set[str]:
    """The styles of the column's finished lines, each checked against the index: new or known."""
    index = novelty_index(column.screen.run.corpus.text)
    shown = column.query_one(".sample", Static).content
    styles = {(span.start, span.end): span.style for span in shown.spans}
    kinds, position = set(), 0
    for line in shown.plain.split("\n")[:-1]:
        if line:
            kind = KNOWN_STYLE if index.is_known_line(line) else NEW_STYLE
            assert styles[position, position + len(line)] == kind, line
            kinds.add(kind)
        position += len(line) + 1
    return kinds


async def test_each_finished_name_is_marked_new_or_known_and_the_legend_shown_once(run):
    screen = TemperatureScreen(run, "", 300, temperatures=(0.3, 1.0))
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert str(screen.query_one("#legend", Static).content) == LEGEND and screen.query_one("#legend").display
        assert set().union(*map(marks, screen.columns)) == {KNOWN_STYLE, NEW_STYLE}  # both kinds were checked


async def test_a_column_follows_its_end_and_keeps_its_last_lines(run, monkeypatch):
    monkeypatch.setattr(temperatures_module, "KEEP_CHARACTERS", 100)
    screen = TemperatureScreen(run, "", 400, temperatures=(0.5,))
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        column = screen.columns[0]
        whole, shown = expected(run, "", 400, 0.5), column.text
        assert 50 < len(shown) <= 100 and whole.endswith(shown) and whole[-len(shown) - 1] == "\n"  # whole lines
        assert marks(column)  # still on the lines they belong to
        summary = novelty_index(run.corpus.text).stats(whole).summary()
        assert column.novelty.replace("\n", SEPARATOR) == summary  # of all of it, not only what is kept
        scroll = column.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0 and scroll.is_vertical_scroll_end


async def test_prose_has_no_line_marks_and_no_legend():
    run = Run.new(resolve_corpus("shakespeare"), RunConfig.preset("default").replace(**TINY))  # untrained will do
    screen = TemperatureScreen(run, "The ", 100)
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert not screen.query_one("#legend").display
        assert all(not column.query_one(".sample", Static).content.spans for column in screen.columns)
        assert all(" words · " in column.novelty for column in screen.columns)  # counted in words, not lines


# --- closing ---


class Recorded(list):
    """Every message the columns' workers post, and whether the loop of each sampling has returned (its thread
    ends with it: Textual marks a cancelled thread worker cancelled at once, but only the loop can stop)."""

    def __init__(self):
        super().__init__()
        self._returned: dict[int, threading.Event] = {}

    def returned(self, generation: int = 1) -> threading.Event:
        return self._returned.setdefault(generation, threading.Event())  # setdefault: atomic across threads

    def sampled(self, generation: int = 1) -> int:
        """Characters the first column of that sampling was given."""
        return sum(len(message.added[0]) for message in self
                   if isinstance(message, ColumnsGrew) and message.generation == generation)


@pytest.fixture
def posted(monkeypatch) -> Recorded:
    posted = Recorded()
    stream_together = temperatures_module.stream_together

    def recorded(streams, prompt, index, generation, post, cancelled):
        def post_and_record(message):
            posted.append(message)
            return post(message)

        stream_together(streams, prompt, index, generation, post_and_record, cancelled)
        posted.returned(generation).set()

    monkeypatch.setattr(temperatures_module, "stream_together", recorded)
    return posted


LONG = 100_000  # the longest sample there is: minutes of work


async def streaming(pilot, posted: Recorded) -> None:
    while not posted.sampled():
        await pilot.pause(0.02)


async def test_escape_closes_and_ends_a_long_generation(run, posted):
    async with Host(TemperatureScreen(run, "", LONG)).run_test(size=(80, 24)) as pilot:
        await streaming(pilot, posted)
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, TemperatureScreen)
        assert posted.returned().wait(timeout=60)
        assert 0 < posted.sampled() < LONG


async def test_quitting_ends_a_long_generation(run, posted):
    app = Host(TemperatureScreen(run, "", LONG))
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot, posted)
        app.exit()
    assert posted.returned().wait(timeout=60)
    assert 0 < posted.sampled() < LONG


async def test_enter_ends_the_sampling_it_replaces(run, posted):
    async with Host(TemperatureScreen(run, "", LONG)).run_test(size=(80, 24)) as pilot:
        await streaming(pilot, posted)
        await pilot.press("enter")  # the same snapshot, sampled again from the start
        assert posted.returned(1).wait(timeout=60)
        assert 0 < posted.sampled(1) < LONG


# --- how it looks ---


async def no_blink(pilot) -> None:
    pilot.app.screen.query_one("#temperatures", Input).cursor_blink = False
    await settled(pilot)


@pytest.mark.parametrize("size,length", [((80, 24), 200), ((160, 48), 600)])
def test_how_it_looks(snap_compare, run, size, length):
    assert snap_compare(Host(TemperatureScreen(run, "", length)), terminal_size=size, run_before=no_blink)

"""The course's exercise 5 side by side: one snapshot of the weights sampled at several temperatures, the
columns streaming together from the same prompt, each with how much of it is new.

Every column has its own `Sampler` seeded with the run's seed, as `--headless --sample N --temperature
0.5,1,1.5` has: for the same checkpoint the columns are its samples, character for character. One thread
worker advances the columns in turn, so they grow together, and posts what they gained in batches.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from itertools import repeat
from typing import Callable, Iterator, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widgets import Footer, Header, Input, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from charlm_tui.widgets.novelty_marks import LEGEND, mark_lines
from charlm_tui.widgets.ordered_input import OrderedInput
from charlm_tui.workers import TEXT_INTERVAL, Post
from core.novelty import NoveltyIndex, NoveltyStats, novelty_index
from core.run import Run
from core.sampling import FrozenModel, Sampler, prepare_prompt
from core.settings import MOST_TEMPERATURES, TEMPERATURE, SettingError, parse_temperatures
from core.visible import visible

NOVELTY_LINES = 2  # under each column: the long novelty summary when it fits in these, else the short one
SEPARATOR = " · "  # between the parts of a novelty summary
KEEP_CHARACTERS = 3_000  # a column shows this much of its end (two screens of it at 160×48): each update wraps it all
TITLE_MARGIN = 6  # a border title has the width less the corners and, each side, a blank and a corner's room
FIELD_LENGTH = 80  # characters the temperatures field takes: plenty for 5; each key re-reads the whole field
STATS_INTERVAL = 0.25  # seconds between novelty summaries while streaming: each is a pass over the whole text


class TemperaturesValidator(Validator):
    """Marks the field invalid while `parse_temperatures` refuses it."""

    def validate(self, value: str) -> ValidationResult:
        try:
            parse_temperatures(value)
        except SettingError as error:
            return self.failure(str(error))
        return self.success()


@dataclass
class NoveltyIndexed(Message):
    """The worker has the training text's index: what tells a new line from a known one."""

    index: NoveltyIndex


@dataclass
class ColumnsGrew(Message):
    """What each column gained since the last message (in order; never replaced), and each one's whole text
    summed up, or None when that was not worked out again."""

    generation: int
    added: list[str]
    stats: list[NoveltyStats] | None


def fill(text: str, width: int) -> list[str]:
    """`text`'s parts (between SEPARATORs) in as few lines of at most `width` as they fit, a part never cut
    by a line break unless it is wider than a line."""
    lines: list[str] = []
    for part in text.split(SEPARATOR):
        if lines and len(lines[-1]) + len(SEPARATOR) + len(part) <= width:
            lines[-1] += SEPARATOR + part
        else:
            lines.append(part)
    return lines


def stream_together(streams: Sequence[Iterator[str]], prompt: str, index: NoveltyIndex, generation: int,
                    post: Post, cancelled: Callable[[], bool]) -> None:
    """Advance every stream a character in turn until they end or `cancelled()`, posting at most every
    TEXT_INTERVAL seconds what each column gained, and at most every STATS_INTERVAL (and at the end) each
    column's text, the prompt first, summed up by `index`."""
    texts = [prompt] * len(streams)
    pending: list[list[str]] = [[] for _ in streams]

    def flush(sum_up: bool) -> None:
        added = ["".join(chars) for chars in pending]
        for i, chars in enumerate(pending):
            texts[i] += added[i]
            chars.clear()
        post(ColumnsGrew(generation, added, [index.stats(text) for text in texts] if sum_up else None))

    last_post = last_sum = time.monotonic()
    for chars in zip(*streams):
        if cancelled():
            return  # nobody is waiting for the rest
        for column, char in zip(pending, chars):
            column.append(char)
        now = time.monotonic()
        if now - last_post >= TEXT_INTERVAL:
            sum_up = now - last_sum >= STATS_INTERVAL
            flush(sum_up)
            last_post, last_sum = now, now if sum_up else last_sum
    flush(True)


class TemperatureColumn(Vertical):
    """One temperature's sample: the text as it streams (wrapped, following its end) and how much of it is new."""

    def __init__(self, temperature: float, prompt: str):
        super().__init__(classes="column")
        self.temperature = temperature
        self._text = Text(visible(prompt, lines=True))
        self._marked = 0  # where the first line not yet marked new or known begins
        self._stats: NoveltyStats | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._text, classes="sample")
        yield Static("", classes="novelty")

    def grow(self, added: str, stats: NoveltyStats | None, index: NoveltyIndex | None) -> None:
        self._text.append(visible(added, lines=True))
        if index is not None:
            self._marked = mark_lines(self._text, self._marked, index)
        if len(self._text) > KEEP_CHARACTERS:
            start = len(self._text) - KEEP_CHARACTERS
            line_break = self._text.plain.find("\n", start)  # whole lines go, if there is a line break
            cut = line_break + 1 if line_break != -1 else start
            self._text = self._text[cut:]
            self._marked = max(0, self._marked - cut)
        self.query_one(".sample", Static).update(self._text)
        self.query_one(VerticalScroll).scroll_end(animate=False)
        if stats is not None:
            self._stats = stats
            self._show_novelty()

    def on_resize(self, _: Resize) -> None:
        self.border_title = self._heading(self.size.width - TITLE_MARGIN)
        self._show_novelty()
        self.query_one(VerticalScroll).scroll_end(animate=False)  # the text wraps anew: its end moves

    def _heading(self, room: int) -> str:
        """"temperature 0.5", or "temp 0.5" in a column too narrow for it: the number must show."""
        greedy = " (greedy)" if self.temperature == 0 else ""
        heading = f"temperature {self.temperature:g}{greedy}"
        return heading if len(heading) <= room else f"{TEMPERATURE.label} {self.temperature:g}{greedy}"

    def _show_novelty(self) -> None:
        if self._stats is None:
            return
        width = self.content_size.width
        lines = fill(self._stats.summary(), width)
        if len(lines) > NOVELTY_LINES:
            lines = fill(self._stats.summary(compact=True), width)
        self.query_one(".novelty", Static).update("\n".join(lines))

    @property
    def text(self) -> str:
        """The column's text as plain text: the prompt and what was sampled after it (the last
        KEEP_CHARACTERS of it)."""
        return self._text.plain

    @property
    def novelty(self) -> str:
        """The novelty line as shown."""
        return str(self.query_one(".novelty", Static).content)


class TemperatureScreen(Screen):
    """One snapshot of `run`'s weights sampled at each temperature, side by side; Enter samples the same
    snapshot at the temperatures typed, F7 takes a new one (training may have moved on), Esc closes."""

    BINDINGS = [
        Binding("f7", "new_snapshot", "New snapshot", tooltip="Sample the weights as they are now (training may have "
                "moved on)"),
        Binding("escape", "close", "Close", tooltip="Back to training (stops the sampling)"),
    ]
    DEFAULT_CSS = """
    TemperatureScreen #field-row {
        height: 1;
        padding: 0 1;
    }
    TemperatureScreen #field-row Label {
        padding-right: 1;
    }
    TemperatureScreen #temperatures {
        width: 24;
    }
    TemperatureScreen #field-hint {
        color: $text-muted;
        padding-left: 2;
    }
    TemperatureScreen #problem {
        display: none;
        color: $text-error;
        padding: 0 1;
    }
    TemperatureScreen #about, TemperatureScreen #legend {
        color: $text-muted;
        padding: 0 1;
    }
    TemperatureScreen #legend {
        display: none;  /* until the worker says the text is one item a line */
    }
    TemperatureScreen #columns {
        height: 1fr;
    }
    TemperatureScreen .column {
        width: 1fr;
        border: round $primary 50%;
        border-title-color: $text-accent;
        padding: 0 1;
    }
    TemperatureScreen .column VerticalScroll {
        scrollbar-size-vertical: 1;
    }
    TemperatureScreen .column:focus-within {
        border: round $primary;
    }
    TemperatureScreen .novelty {
        height: auto;
        min-height: 3;  /* the rule and NOVELTY_LINES: the same in every column, so their texts end level */
        color: $text-muted;
        border-top: solid $primary 30%;
    }
    """

    def __init__(self, run: Run, prompt: str, length: int, top_k: int | None = None, top_p: float | None = None,
                 temperatures: Sequence[float] = (0.5, 1.0, 1.5)):
        super().__init__()
        self.run = run
        self.prompt = prepare_prompt(prompt, run.corpus.vocab, run.model.context_length, run.items)
        self.length = length
        self.top_k = top_k
        self.top_p = top_p
        self.temperatures = tuple(temperatures)  # the columns'
        self.weights: FrozenModel | None = None
        self.step = 0  # the training step the weights are from
        self.index: NoveltyIndex | None = None  # from the worker: building it can take a while
        self._generation = 0  # which sampling is current: text from an older one is dropped
        self._rebuilding = asyncio.Lock()
        self.sub_title = "temperatures side by side"

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="field-row"):
            yield Label("temperatures")
            yield OrderedInput(", ".join(TEMPERATURE.show(t) for t in self.temperatures), id="temperatures", compact=True,
                        validators=[TemperaturesValidator()], placeholder="0.5, 1, 1.5", max_length=FIELD_LENGTH,
                        tooltip=f"1 to {MOST_TEMPERATURES}, separated by commas; each {TEMPERATURE.requirement()}")
            yield Static("Enter: sample these weights again", id="field-hint")
        yield Static("", id="problem")
        yield Static("", id="about")
        yield Horizontal(id="columns")
        yield Static(LEGEND, id="legend")
        yield Footer(compact=True, show_command_palette=False)

    async def on_mount(self) -> None:
        await self.action_new_snapshot()

    # --- keys ---

    async def action_new_snapshot(self) -> None:
        temperatures = self._read_temperatures()
        if temperatures is not None:
            self.step = self.run.trainer.state.step  # the weights may be a step ahead (one may end in between)
            self.weights = self.run.trainer.snapshot()
            await self.sample(temperatures)

    def action_close(self) -> None:
        self.dismiss()

    @on(Input.Submitted, "#temperatures")
    async def _temperatures_submitted(self) -> None:
        temperatures = self._read_temperatures()
        if temperatures is not None:
            await self.sample(temperatures)

    @on(Input.Changed, "#temperatures")
    def _temperatures_changed(self) -> None:
        self._read_temperatures()  # says at once what is wrong

    def _read_temperatures(self) -> tuple[float, ...] | None:
        """The field's temperatures, or None with the reason shown under the field."""
        problem = self.query_one("#problem", Static)
        try:
            temperatures = parse_temperatures(self.query_one("#temperatures", Input).value)
        except SettingError as error:
            problem.update(str(error))
            problem.display = True
            return None
        problem.display = False
        return temperatures

    # --- sampling ---

    async def sample(self, temperatures: tuple[float, ...]) -> None:
        """Sample the snapshot at `temperatures`, a column each, replacing the columns there were."""
        self._generation += 1
        generation = self._generation
        self.temperatures = temperatures
        self._describe()
        columns = self.query_one("#columns", Horizontal)
        async with self._rebuilding:  # Enter then F7 at once: the second waits, or both would mount their columns
            await columns.remove_children()
            await columns.mount_all(TemperatureColumn(t, self.prompt.text) for t in temperatures)
        if generation == self._generation:  # else a newer sample() has its columns up and samples them
            self._sample(self.weights, temperatures, generation)

    def _describe(self) -> None:
        """What the columns are sampled from: the same for every one of them."""
        prompt = self.prompt
        limits = "".join(f" · {name} {value:g}" for name, value in (("top-k", self.top_k), ("top-p", self.top_p))
                         if value is not None)
        start = f"prompt {prompt.text!r}" if prompt.text else "no prompt"
        about = (f"the weights of step {self.step:,} · {start} · seed {self.run.config.seed} · "
                 f"{self.length:,} characters{limits}")
        if prompt.skipped:
            about += f" · skipped {prompt.skipped!r}: not in the vocabulary of {self.run.corpus.name}"
        self.query_one("#about", Static).update(about)

    @work(thread=True, exclusive=True, group="temperatures", exit_on_error=False)
    def _sample(self, weights: FrozenModel, temperatures: tuple[float, ...], generation: int) -> None:
        """Textual cancels this worker when another one starts (exclusive), when the screen closes and when
        the app quits: the loop checks between two rounds of characters, so the thread ends at once."""
        worker = get_current_worker()
        run = self.run
        index = novelty_index(run.corpus.text)
        self.post_message(NoveltyIndexed(index))
        streams = [Sampler(weights, run.corpus.vocab, seed=run.config.seed).stream(
                       self.prompt, self.length, temperature, self.top_k, top_p=self.top_p)
                   for temperature in temperatures]
        stream_together(streams, self.prompt.text, index, generation, self.post_message, lambda: worker.is_cancelled)

    @on(NoveltyIndexed)
    def _novelty_indexed(self, message: NoveltyIndexed) -> None:
        self.index = message.index
        self.query_one("#legend").display = message.index.unit == "line"

    @on(ColumnsGrew)
    def _columns_grew(self, message: ColumnsGrew) -> None:
        if message.generation == self._generation:
            for column, added, stats in zip(self.columns, message.added, message.stats or repeat(None)):
                column.grow(added, stats, self.index)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{type(error).__name__}: {error}", severity="error", title="Sampling failed")

    @property
    def columns(self) -> list[TemperatureColumn]:
        return list(self.query(TemperatureColumn))

"""Generation panel: prompt, temperature, top-k and length; sampling runs in a thread worker of this
panel and the text streams into it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Input, Label, Static

from charlm_tui.messages import GeneratedText, GenerationFinished
from charlm_tui.widgets.fields import read_field, setting_field
from charlm_tui.widgets.novelty_marks import LEGEND, mark_lines
from charlm_tui.widgets.ordered_input import OrderedInput
from charlm_tui.workers import sample_loop
from core.run import Run
from core.data import Corpus
from core.novelty import NoveltyIndex, novelty_index
from core.sampling import Prompt, Sampler, prepare_prompt, starter_prompt
from core.settings import SAMPLING, Setting, SettingError
from core.visible import visible

KEEP_CHARACTERS = 20_000  # generated text kept on screen (older text scrolls away for good)
AUTO_EVERY = Setting("auto_every", "auto every", "", int, "steps between automatic samples while training",
                     {"default": 1000}, minimum=0, maximum=10_000_000, optional=True)  # the app's alone: no flag
TEMPERATURE, TOP_K, TOP_P, LENGTH = SAMPLING


@dataclass(frozen=True)
class GenerationSettings:
    prompt: str
    temperature: float
    top_k: int | None
    top_p: float | None
    length: int
    auto_every: int  # steps between automatic samples while training; 0 is off


class GenerationPanel(Vertical):
    VIEW = "train"
    sampling = reactive(False)

    def __init__(self, **kwargs):
        super().__init__(id="generation", **kwargs)
        self.border_title = "Generation"
        self._text = Text()  # headings and generated text, as shown
        self._cancel = threading.Event()
        self._generation = 0  # which sample is current: text from an older one is dropped
        self.next_auto_sample = 0  # the step of the next automatic sample
        self._status = ""
        self._automatic = False  # the sample streaming now came from auto every, not F7
        self._novelty: tuple[int, NoveltyIndex] | None = None  # (generation, its training text's index)
        self._sample_start = 0  # where the current sample (its prompt first) begins in the text
        self._line_start = 0  # where its unfinished line begins
        self._legend_shown = False  # the novelty marks' legend, once a pane

    def compose(self) -> ComposeResult:
        with Horizontal(classes="gen-row"):
            yield Label("prompt")
            yield OrderedInput("", id="prompt", compact=True, select_on_focus=False,
                               placeholder="empty: from the start of a line", tooltip="text the model continues")
            yield Label(TEMPERATURE.label)
            yield setting_field(TEMPERATURE)
        with Horizontal(classes="gen-row"):
            yield Label(TOP_K.label)
            yield setting_field(TOP_K)
            yield Label(TOP_P.label)
            yield setting_field(TOP_P)
            yield Label(LENGTH.label)
            yield setting_field(LENGTH)
            yield Label(AUTO_EVERY.label)
            yield setting_field(AUTO_EVERY, "auto-every")
        yield Static("", id="gen-status", markup=False)  # it quotes the prompt
        with VerticalScroll(id="generated-scroll"):
            yield Static("", id="generated")

    def on_mount(self) -> None:
        for setting in SAMPLING:
            self.query_one(f"#{setting.name}", Input).value = setting.show(setting.default)
        self.query_one("#auto-every", Input).value = AUTO_EVERY.show(AUTO_EVERY.default)

    def settings(self) -> GenerationSettings | str:
        """The current settings, or a message saying which field is wrong."""
        try:
            temperature, top_k, top_p, length = (read_field(s, self.query_one(f"#{s.name}", Input)) for s in SAMPLING)
            auto_every = read_field(AUTO_EVERY, self.query_one("#auto-every", Input))
        except SettingError as error:
            return str(error)
        return GenerationSettings(self.query_one("#prompt", Input).value, temperature, top_k, top_p, length,
                                  auto_every or 0)

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        """A field that cannot be read is said at once, not at the next sample (auto-samples wait on it)."""
        problem = self.settings()
        if isinstance(problem, str):
            self.show_status(f"{problem} — samples wait until it is fixed")
        elif self._status.endswith("samples wait until it is fixed"):
            self.show_status("")

    def fit_prompt(self, corpus: Corpus) -> None:
        """A prompt the model of `corpus` cannot read (another text's characters) becomes one from `corpus`."""
        field = self.query_one("#prompt", Input)
        if all(c in corpus.vocab for c in field.value):
            return
        old, field.value = field.value, starter_prompt(corpus.text)
        self.show_status(f"prompt {old!r} has characters {corpus.name} does not: it is now {field.value!r}")

    def nudge_temperature(self, delta: float) -> None:
        field = self.query_one("#temperature", Input)
        try:
            value = float(field.value)
        except ValueError:
            value = TEMPERATURE.default
        field.value = TEMPERATURE.show(round(min(TEMPERATURE.maximum, max(TEMPERATURE.minimum, value + delta)), 2))

    # --- sampling ---

    def generate(self, run: Run, heading: str | None = None, length: int | None = None,
                 automatic: bool = False) -> str | None:
        """Sample from a snapshot of `run`'s weights in a worker; a message saying why not, or None."""
        settings = self.settings()
        if isinstance(settings, str):
            return settings
        prompt = prepare_prompt(settings.prompt, run.corpus.vocab, run.model.context_length, run.items)
        self.show_status(f"skipped characters not in the vocabulary: {prompt.skipped!r}" if prompt.skipped else "")
        self.stop()
        self._generation += 1
        self._cancel = threading.Event()
        self._automatic = automatic
        limits = "".join(f", {s.label} {s.show(getattr(settings, s.name))}" for s in (TOP_K, TOP_P)
                         if getattr(settings, s.name) is not None)
        self.begin(heading or f"step {run.trainer.state.step:,}, temperature {settings.temperature:g}{limits}")
        self._sample_start = self._line_start = len(self._text)
        self.append(prompt.text)
        sampler = Sampler(run.trainer.snapshot(), run.corpus.vocab, seed=self._generation)
        if self.sampling and not automatic:  # one sample replaces another: the reactive does not change
            self.app.refresh_bindings()
        self.sampling = True
        self._sample(sampler, prompt, replace(settings, length=length or settings.length), run.corpus.text,
                     self._generation, self._cancel)
        return None

    def auto_sample(self, run: Run, step: int) -> None:
        """A short sample every `auto every` steps while training, unless one is streaming."""
        settings = self.settings()
        if isinstance(settings, str):  # the field itself says so, and the status line (see _field_changed)
            return
        if settings.auto_every <= 0 or step < self.next_auto_sample:
            return
        self.next_auto_sample = step + settings.auto_every
        if step > 0 and not self.sampling:
            self.generate(run, heading=f"auto sample at step {step:,}", length=min(settings.length, 120), automatic=True)

    @work(thread=True, exclusive=True, group="sample", exit_on_error=False)
    def _sample(self, sampler: Sampler, prompt: Prompt, settings: GenerationSettings, training_text: str,
                generation: int, cancel: threading.Event) -> None:
        self._novelty = (generation, novelty_index(training_text))  # built here the first time: off the UI thread
        sample_loop(sampler, prompt, settings.length, settings.temperature, settings.top_k, generation, cancel,
                    self.post_message, top_p=settings.top_p)

    def stop(self) -> None:
        self._cancel.set()

    @property
    def sampling_on_request(self) -> bool:
        """A sample asked for (F7) is streaming: F8 stops it. An automatic one lasts a blink, several a
        second, so it is not offered: redrawing the footer for each would flicker and cost the UI thread."""
        return self.sampling and not self._automatic

    def watch_sampling(self) -> None:
        if not self._automatic:
            self.app.refresh_bindings()

    @on(GeneratedText)
    def _generated_text(self, message: GeneratedText) -> None:
        if message.generation == self._generation:
            self._text.append(visible(message.text, lines=True))  # a model of any text may write any character
            novelty = self._index()
            if novelty is not None:
                self._line_start = mark_lines(self._text, self._line_start, novelty)
            self._show()

    @on(GenerationFinished)
    def _generation_finished(self, message: GenerationFinished) -> None:
        if message.generation == self._generation:
            novelty = self._index()
            stats = novelty.stats(self._text.plain[self._sample_start:]) if novelty else None
            summary = ""
            if stats:
                summary = stats.summary()
                if len(summary) + 6 > self.content_region.width:  # "── " and " ──" around it, and a scrollbar
                    summary = stats.summary(compact=True)
            if message.cancelled:
                self._text.append(" …(stopped)")
            if summary:
                self._text.append(f"\n── {summary} ──", style="dim")
                if novelty.unit == "line" and not self._legend_shown:
                    self._text.append(f"\n── {LEGEND} ──", style="dim")
                    self._legend_shown = True
            self._show()
            self.sampling = False

    def _index(self) -> NoveltyIndex | None:
        """The current sample's novelty index (None until its worker has built it)."""
        return self._novelty[1] if self._novelty is not None and self._novelty[0] == self._generation else None

    # --- the text ---

    def begin(self, heading: str) -> None:
        if self._text:
            self._text.append("\n\n")
        self._text.append(f"── {heading} ──\n", style="dim")
        self._show()

    def append(self, text: str) -> None:
        self._text.append(visible(text, lines=True))
        self._show()

    def _show(self) -> None:
        if len(self._text) > KEEP_CHARACTERS:
            start = len(self._text) - KEEP_CHARACTERS
            line_break = self._text.plain.find("\n", start)  # whole lines go, if there is a line break
            cut = line_break + 1 if line_break != -1 else start
            self._text = self._text[cut:]
            self._sample_start, self._line_start = max(self._sample_start - cut, 0), max(self._line_start - cut, 0)
        self.query_one("#generated", Static).update(self._text)
        self.query_one("#generated-scroll", VerticalScroll).scroll_end(animate=False)

    def show_status(self, message: str) -> None:
        self._status = message
        status = self.query_one("#gen-status", Static)
        status.update(message)
        status.display = bool(message)

    def clear(self, heading: str) -> None:
        """Start the pane afresh (another model: the old samples are not its)."""
        self.stop()
        self._generation += 1
        self._text = Text()
        self._legend_shown = False
        self.begin(heading)

    @property
    def text(self) -> str:
        """What the pane shows, as plain text."""
        return self._text.plain

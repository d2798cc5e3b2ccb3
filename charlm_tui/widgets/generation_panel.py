"""Generation panel: prompt, temperature, top-k and length; generated text streams into a log."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.validation import Integer, Number
from textual.widgets import Input, Label, Static
from charlm_tui.widgets.ordered_input import OrderedInput

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.0, 5.0
KEEP_CHARACTERS = 20_000  # generated text kept on screen (older text scrolls away for good)


@dataclass(frozen=True)
class GenerationSettings:
    prompt: str
    temperature: float
    top_k: int | None
    length: int
    auto_every: int  # steps between automatic samples while training; 0 is off


class GenerationPanel(Vertical):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.border_title = "Generation"
        self._text = Text()  # headings and generated text, as shown

    def compose(self) -> ComposeResult:
        with Horizontal(classes="gen-row"):
            yield Label("prompt")
            yield OrderedInput("The ", id="prompt", compact=True, select_on_focus=False)
            yield Label("temp")
            yield OrderedInput("0.8", id="temperature", compact=True,
                        validators=[Number(MIN_TEMPERATURE, MAX_TEMPERATURE)])
        with Horizontal(classes="gen-row"):
            yield Label("top-k")
            yield OrderedInput("", id="top-k", compact=True, placeholder="all", valid_empty=True, validators=[Integer(1, 10_000)])
            yield Label("length")
            yield OrderedInput("200", id="length", compact=True, validators=[Integer(1, 100_000)])
            yield Label("auto every")
            yield OrderedInput("1000", id="auto-every", compact=True, validators=[Integer(0, 10_000_000)])
        yield Static("", id="gen-status")
        with VerticalScroll(id="generated-scroll"):
            yield Static("", id="generated")

    def settings(self) -> GenerationSettings | str:
        """The current settings, or a message saying which field is wrong."""
        values = {}
        for field_id in ("temperature", "top-k", "length", "auto-every"):
            field = self.query_one(f"#{field_id}", Input)
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                return f"{field_id}: {'; '.join(result.failure_descriptions)}"
            values[field_id] = field.value.strip()
        return GenerationSettings(
            prompt=self.query_one("#prompt", Input).value,
            temperature=float(values["temperature"]),
            top_k=int(values["top-k"]) if values["top-k"] else None,
            length=int(values["length"]),
            auto_every=int(values["auto-every"]),
        )

    def nudge_temperature(self, delta: float) -> float | None:
        field = self.query_one("#temperature", Input)
        try:
            value = float(field.value)
        except ValueError:
            value = 0.8
        value = round(min(MAX_TEMPERATURE, max(MIN_TEMPERATURE, value + delta)), 2)
        field.value = f"{value:g}"
        return value

    def begin(self, heading: str) -> None:
        if self._text:
            self._text.append("\n\n")
        self._text.append(f"── {heading} ──\n", style="dim")
        self._show()

    def append(self, text: str) -> None:
        self._text.append(text)
        self._show()

    def _show(self) -> None:
        if len(self._text) > KEEP_CHARACTERS:
            start = len(self._text) - KEEP_CHARACTERS
            line_break = self._text.plain.find("\n", start)  # whole lines go, if there is a line break
            self._text = self._text[line_break + 1 if line_break != -1 else start :]
        self.query_one("#generated", Static).update(self._text)
        self.query_one("#generated-scroll", VerticalScroll).scroll_end(animate=False)

    def show_status(self, message: str) -> None:
        status = self.query_one("#gen-status", Static)
        status.update(message)
        status.display = bool(message)

    @property
    def text(self) -> str:
        """What the pane shows, as plain text."""
        return self._text.plain

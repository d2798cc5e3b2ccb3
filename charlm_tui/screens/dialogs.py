"""Small modal screens: help, a yes/no question, and a path prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from charlm_tui.widgets.paths import PathInput, resolve_path, tilde_path
from core.places import OutsideError

PANEL_HELP = (  # (panel, what it shows, for someone learning how a language model works)
    ("Corpus",
     "The text the model learns from, cut into examples: a few characters of context → the character that "
     "comes next. Some examples are held out for validation, never trained on, to check the model generalises."),
    ("Hyperparameters",
     "The model turns each context character into a vector (embed dim), passes them through hidden layers and "
     "scores every character as the next one. Training nudges its parameters, counted in the table, so the right "
     "character scores higher; lr is the size of each nudge."),
    ("Training",
     "loss: the cross-entropy of the next character, how surprised the model was; lower is better. It is "
     "smoothed over the last ~500 examples; 'example' is the last single example's loss (noisy), 'epoch avg' the "
     "course's mean so far this epoch. val: the loss on held-out text; if it rises while the training loss falls, "
     "the model is memorising (overfitting). "
     "perplexity = e^loss: roughly how many characters the model is choosing between; 1 is certain, the "
     "vocabulary size is guessing. The chart: the smoothed training loss and val against the step, the best val "
     "marked ◆ (^L: log scale). The line under the numbers says in words whether val is still falling. lr: the "
     "step size, on its schedule; ^R sweeps fresh weights of these settings to suggest one."),
    ("Generation",
     "The model writes one character at a time. temperature: below 1 sharper and safer, above 1 flatter and "
     "wilder, 0 always the likeliest. top-k: only the k likeliest characters (empty or all: every character). "
     "top-p: only the likeliest characters whose probabilities add up to p (nucleus sampling, as in llama.cpp). "
     "prompt: the text the model continues (empty: from the start of a line). auto every: while training, a short "
     "sample every so many steps, so you can watch the text improve (0: off). Under each sample: how much of it is "
     "new; for names each new line is bold, one the training set has is dim (copying is not learning). "
     "^t: the same snapshot at several temperatures side by side."),
    ("Runs (F4)",
     "Every run is recorded: its settings, curves and best val. Mark runs (space) to draw their curves on one chart; "
     "the settings that differ are highlighted. Enter puts a run's settings in the form and loads its checkpoint."),
    ("Inside (^n)",
     "One step at a time (s, paused): the example, the odds of its target before and after, and per layer the "
     "gradient and how far the update moved it. The next character's odds for any context you type. The embedding "
     "map: similar characters end up near each other. Layer health: dead or saturated units. The graph the engine "
     "builds for one example. Below 140×40 each part has a tab: ^PgUp and ^PgDn switch parts, also while you type a "
     "context (← → too, on the tabs)."),
)


class HelpScreen(ModalScreen[None]):
    """What each panel shows, then every key; it scrolls, so it reads at 80×24 too."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]]):
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for key, description in self.keys:
            table.add_row(key, description)
        # focusable, and the first thing that is: it takes ↑↓, PageUp and PageDown as the screen opens
        with VerticalScroll(classes="dialog", id="help"):
            yield Label("[b]charlm-tui help[/]  (Esc closes, ↑↓ PgUp PgDn scroll)")
            for panel, text in PANEL_HELP:
                yield Static(f"[b $text-accent]{panel}[/]  {text}", classes="help-panel")
            yield Label("[b $text-accent]Keys[/]")
            yield Static(table, id="help-keys")


class ConfirmScreen(ModalScreen[bool | None]):
    """A yes/no question; Esc closes it with None: neither answer. Every question asked is whether to throw
    something away, so Enter alone answers No: throwing away takes y, or a click."""

    AUTO_FOCUS = "#no"
    BINDINGS = [Binding("n", "answer(False)", "No"), Binding("y", "answer(True)", "Yes"),
                Binding("escape", "answer(None)", "Cancel")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, markup=False)  # it may quote a file name or an error
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="warning", id="yes")
                yield Button(f"{self.no} (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class PathScreen(ModalScreen[str | None]):
    """Asks for a file path; returns it as an absolute path, or None if cancelled.

    A relative path is taken from `base`: by default the folder of `default` (or `default` itself when it
    ends with '/'), so a bare name lands next to the suggested file rather than in the app's working folder.
    `allowed` (`core.places.readable` or `writable`) refuses, in the dialog, a path this app may not use.
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, default: str = "", base: Path | None = None,
                 allowed: Callable[[Path], Path] | None = None):
        super().__init__()
        self.title_text, self.default, self.allowed = title, default, allowed
        if base is None:
            suggested = Path(default).expanduser()
            base = suggested if default.endswith("/") else suggested.parent
        self.base = base.absolute()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text)
            yield PathInput(self.default, self.base, id="path")
            yield Static(id="path-message", classes="error", markup=False)
            yield Label(f"relative paths are in {tilde_path(self.base)}", classes="caption")
            yield Label("Enter to confirm, Esc to cancel, → completes", classes="caption")

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        if not self.is_current:  # a second Enter before it has closed does nothing
            return
        if not event.value.strip():
            self._show_message("type a path, or Esc to cancel")
            return
        path = resolve_path(event.value, self.base)
        if self.allowed is not None:
            try:
                self.allowed(path)
            except OutsideError as error:
                self._show_message(str(error))
                return
        self.dismiss(str(path))

    @on(Input.Changed, "#path")
    def _changed(self) -> None:
        self._show_message("")  # the message was about the empty field

    def _show_message(self, message: str) -> None:
        shown = self.query_one("#path-message", Static)
        shown.update(message)
        shown.display = bool(message)

"""Small modal screens: help, a yes/no question, and a path prompt."""

from __future__ import annotations

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from charlm_tui.widgets.corpus_panel import PathSuggester
from charlm_tui.widgets.ordered_input import OrderedInput


class HelpScreen(ModalScreen[None]):
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
        with VerticalScroll(classes="dialog", id="help-keys"):
            yield Label("[b]charlm-tui keys[/]  (Esc closes, ↑↓ scroll)")
            yield Static(table)


class ConfirmScreen(ModalScreen[bool | None]):
    """A yes/no question; Esc closes it with None: neither answer."""

    BINDINGS = [Binding("n", "answer(False)", "No"), Binding("y", "answer(True)", "Yes"),
                Binding("escape", "answer(None)", "Cancel")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="warning", id="yes")
                yield Button(f"{self.no} (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class PathScreen(ModalScreen[str | None]):
    """Asks for a file path; returns it, or None if cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, default: str = ""):
        super().__init__()
        self.title_text, self.default = title, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text)
            yield OrderedInput(self.default, id="path", suggester=PathSuggester())
            yield Label("Enter to confirm, Esc to cancel, → completes", classes="caption")

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() and self.is_current:  # a second Enter before it has closed does nothing
            self.dismiss(event.value.strip())

"""The learning-rate finder as a dialog: the sweep runs in this screen's thread worker on fresh weights, then the
smoothed loss is plotted against the learning rate (LRChart) with the suggestion, which one key applies."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from charlm_tui.widgets.lr_chart import LRChart
from core.lr_finder import LRFinderResult, find_lr
from core.run import Run


class LRFinderScreen(ModalScreen[float | None]):
    """Dismissed with the suggested learning rate when `a` applies it, None on Esc. `run` is a new run to sweep;
    `trained_step`, the step of the model whose settings it has (None: the form's settings, no model yet)."""

    BINDINGS = [Binding("a", "apply", "Apply the suggestion"), Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, run: Run, trained_step: int | None = None):
        super().__init__()
        self.run = run
        self.trained_step = trained_step
        self.result: LRFinderResult | None = None

    def compose(self) -> ComposeResult:
        start = ("the form's settings" if self.trained_step is None
                 else f"this model's settings, not the weights it has trained for {self.trained_step:,} steps")
        with Vertical(classes="dialog", id="lr-finder"):
            yield Static(f"[b]Learning-rate finder[/]: a step per lr, 0.0001 to 1, on fresh weights of {start}")
            yield LRChart(id="lr-plot")
            yield Static("sweeping…", id="lr-verdict")

    def on_mount(self) -> None:
        self._sweep()

    @work(thread=True, exclusive=True, group="lr-find", exit_on_error=False)
    def _sweep(self) -> None:
        result = find_lr(self.run, seed=self.run.config.seed)
        self.app.call_from_thread(self._show, result)

    def _show(self, result: LRFinderResult) -> None:
        if not self.is_mounted:  # closed while it swept
            return
        self.result = result
        self.query_one(LRChart).show(result)
        lowest, suggestion = result.lowest, result.suggestion
        words = [result.message]
        if result.note:
            words.append(result.note)
        if suggestion is not None:
            words.append(f"lowest smoothed loss {lowest.smoothed:.3f} at lr {lowest.lr:.3g}: [b]suggested lr "
                         f"{suggestion:g}[/], a tenth of it · [b]a[/] puts it in the form, Esc closes")
        else:
            words.append("no suggestion: Esc closes")
        self.query_one("#lr-verdict", Static).update("\n".join(words))

    def action_apply(self) -> None:
        if self.result is None or self.result.suggestion is None:
            self.notify("The sweep has no suggestion yet." if self.result is None else "This sweep has no suggestion.",
                        severity="warning")
            return
        self.dismiss(self.result.suggestion)

"""Training panel: the loss curve, validation loss, the numbers of the moment, and progress."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar, Sparkline, Static

from charlm_tui.messages import TrainingProgress
from charlm_tui.widgets.hyper_panel import format_duration

STATES = {
    "idle": "press [b]F5[/] to start training · loss curve is smoothed over the whole run",
    "running": "[b green]training[/] · F5 pauses · F6 stops",
    "paused": "[b yellow]paused[/] · F5 resumes · F6 stops · F7 samples",
    "finished": "[b]finished[/] · F7 samples · ^S saves · F5 new model",
    "stopped": "[b]stopped[/] · F7 samples · ^S saves · F5 new model",
    "failed": "[b red]stopped by a problem[/] · see below",
}


class TrainingPanel(Vertical):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.border_title = "Training"

    def compose(self) -> ComposeResult:
        yield Static(STATES["idle"], id="train-state")
        with Horizontal(id="loss-row", classes="curve-row"):
            yield Label("loss", classes="caption")
            yield Sparkline([], id="loss-curve")
        with Horizontal(id="val-row", classes="curve-row"):
            yield Label("val", classes="caption")
            yield Sparkline([], id="val-curve")
        yield Static("", id="train-stats")
        bar = ProgressBar(total=None, show_eta=False, id="train-progress")
        bar.display = False  # until there is progress to show (an empty bar would only animate)
        yield bar

    def show_state(self, state: str, detail: str = "") -> None:
        self.query_one("#train-state", Static).update(STATES[state] + (f"\n{detail}" if detail else ""))
        self.set_class(state == "running", "-running")

    def show_progress(self, p: TrainingProgress) -> None:
        self.query_one("#loss-curve", Sparkline).data = p.curve
        self.query_one("#val-curve", Sparkline).data = p.validation_curve
        of_steps = f"/{p.total_steps:,}" if p.total_steps else ""
        of_epochs = f"/{p.epochs}" if p.epochs else ""
        val = f"{p.validation_loss:.3f}" if p.validation_loss is not None else "–"
        eta = ""
        if p.total_steps and p.steps_per_sec > 0:
            eta = f"  ETA {format_duration((p.total_steps - p.step) / p.steps_per_sec)}"
        self.query_one("#train-stats", Static).update(
            f"step [b]{p.step:,}[/]{of_steps}  epoch {p.epoch}{of_epochs}  {p.steps_per_sec:,.0f} steps/s{eta}\n"
            f"loss [b]{p.loss:.3f}[/]  avg {p.avg_loss:.3f}  ppl {p.perplexity:.2f}  val {val}"
        )
        bar = self.query_one("#train-progress", ProgressBar)
        bar.update(total=p.total_steps, progress=p.step)
        bar.display = True

    def reset(self) -> None:
        self.query_one("#loss-curve", Sparkline).data = []
        self.query_one("#val-curve", Sparkline).data = []
        self.query_one("#train-stats", Static).update("")
        self.query_one("#train-progress", ProgressBar).display = False

"""Training panel: runs the session's training in a thread worker and shows it — the loss curve,
validation loss, the numbers of the moment, and progress."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar, Sparkline, Static

from charlm_tui.messages import TrainingProgress
from charlm_tui.widgets.hyper_panel import format_duration
from charlm_tui.workers import LossCurves, progress_message, train_loop
from core.session import Phase, Session

STATES = {
    Phase.EMPTY: "press [b]{train.toggle}[/] to start training",
    Phase.RUNNING: "[b green]training[/] · {train.toggle} pauses · {train.stop} stops",
    Phase.PAUSED: "[b yellow]paused[/] · {train.toggle} resumes · {train.stop} stops · {sample.start} samples",
    Phase.FINISHED: "[b]finished[/] · {sample.start} samples · {checkpoint.save} saves · {train.toggle} trains on",
    Phase.STOPPED: "[b]stopped[/] · {sample.start} samples · {checkpoint.save} saves · {train.toggle} trains on",
    Phase.FAILED: "[b red]stopped by a problem[/] · see below",
}
OVERFITTING = 1.05  # validation loss this far above its best, while training goes on, reads as overfitting


class TrainingPanel(Vertical):
    VIEW = "train"

    def __init__(self, **kwargs):
        super().__init__(id="training", **kwargs)
        self.border_title = "Training"
        self.last: TrainingProgress | None = None
        self.curves: LossCurves | None = None
        self.phase = Phase.EMPTY

    def compose(self) -> ComposeResult:
        yield Static("", id="train-state")
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

    # --- the worker ---

    def show_run(self, session: Session) -> None:
        """Show the session's run from its start (a new or loaded model): its curves so far, its last step."""
        self.reset()
        self.curves = LossCurves(session.run)
        last = session.run.trainer.last_step_event()
        if last is not None:
            self.show_progress(progress_message(session.run, self.curves, last))

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def train(self, session: Session) -> None:
        """Run `session.train()` in a thread; progress comes back as messages (the app sees them too)."""
        train_loop(session, self.curves, self.post_message)

    @on(TrainingProgress)
    def _progress(self, message: TrainingProgress) -> None:
        self.show_progress(message)

    # --- what it shows ---

    def show_state(self, phase: Phase, keys: dict[str, str], detail: str = "") -> None:
        """`keys`: how the keys of train.toggle, train.stop, sample.start and checkpoint.save are shown."""
        self.phase = phase
        text = STATES[phase]
        for binding_id, label in keys.items():
            text = text.replace("{" + binding_id + "}", label)
        self.query_one("#train-state", Static).update(text + (f"\n{detail}" if detail else ""))
        if self.last is not None and phase is not Phase.RUNNING:
            self.show_progress(self.last)

    def show_progress(self, p: TrainingProgress) -> None:
        self.last = p
        self.query_one("#loss-curve", Sparkline).data = p.curve
        # one point would be drawn as a full-height bar: wait for a second one
        self.query_one("#val-curve", Sparkline).data = p.validation_curve if len(p.validation_curve) > 1 else []
        of_steps = f"/{p.total_steps:,}" if p.total_steps else ""
        of_epochs = f"/{p.epochs}" if p.epochs else ""
        val = "–"
        if p.validation_loss is not None:
            val = f"{p.validation_loss:.3f}"
            best = min(p.validation_curve, default=p.validation_loss)
            if len(p.validation_curve) > 2 and p.validation_loss > OVERFITTING * best and p.avg_loss < best:
                val += " [b $warning]↑ overfitting[/]"
        speed, eta = "", ""
        if self.phase is Phase.RUNNING:
            speed = f"  {p.steps_per_sec:,.0f} steps/s"
            if p.total_steps and p.steps_per_sec > 0:
                eta = f"  ETA {format_duration((p.total_steps - p.step) / p.steps_per_sec)}"
        self.query_one("#train-stats", Static).update(
            f"step [b]{p.step:,}[/]{of_steps}  epoch {p.epoch}{of_epochs}{speed}{eta}\n"
            f"loss [b]{p.loss:.3f}[/]  avg {p.avg_loss:.3f}  ppl {p.perplexity:.2f}  val {val}",
            layout=False,  # always two lines: repainting is enough, and it keeps keys snappy while training
        )
        bar = self.query_one("#train-progress", ProgressBar)
        bar.update(total=p.total_steps, progress=p.step)
        if not bar.display:
            bar.display = True

    def reset(self) -> None:
        self.last = None
        self.query_one("#loss-curve", Sparkline).data = []
        self.query_one("#val-curve", Sparkline).data = []
        self.query_one("#train-stats", Static).update("")
        self.query_one("#train-progress", ProgressBar).display = False

"""Training panel: runs the session's training in a thread worker and shows it — the loss curve with
its range, validation, the numbers of the moment with their names, progress, and in words whether
validation is still improving."""

from __future__ import annotations

import time

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Sparkline, Static

from charlm_tui.messages import TrainingProgress
from charlm_tui.widgets.hyper_panel import LONG_RUN, format_duration
from charlm_tui.widgets.loss_chart import LossChart
from charlm_tui.workers import LossCurves, progress_message, train_loop
from core.metrics import short_number
from core.session import Phase, Session
from core.training import perplexity

STATES = {
    Phase.EMPTY: "press [b]{train.toggle}[/] to start training",
    Phase.RUNNING: "[b green]training[/] · {train.toggle} pauses · {train.stop} stops",
    Phase.PAUSED: "[b yellow]paused[/] · {train.toggle} resumes · {train.stop} stops · {sample.start} samples",
    Phase.FINISHED: "[b]finished[/] · {sample.start} samples · {checkpoint.save} saves · raise max steps, then "
                    "{train.toggle} trains on",
    Phase.STOPPED: "[b]stopped[/] · {sample.start} samples · {checkpoint.save} saves · {train.toggle} trains on",
    Phase.FAILED: "[b red]stopped by a problem[/] · see below",
}
CHART_INTERVAL = 1.0  # seconds between two redraws of the curves while training
CHART_ROWS = 6  # the chart's height in a small terminal (app.tcss); a big one gives it the panel's free rows
LONG_RUN_HINT = "[i]over an hour: a step budget (max steps) or a smaller model ends sooner[/]"
STATS_TOOLTIP = (
    "loss: cross-entropy of the next character on the training text, smoothed over the last ~500 steps (lower is "
    "better)\nval: the same on held-out text the model never trains on — it shows whether the model generalises\n"
    "ppl: perplexity, e^loss (of val when there is one): roughly how many characters the model hesitates between\n"
    "epoch avg: the course's figure, the mean loss so far this epoch\nexample: the last update's loss (one example's, "
    "or its batch's mean: noisy)\nlr (on the step line): the learning rate of the last update, on its schedule"
)


class TrainingPanel(Vertical):
    VIEW = "train"

    def __init__(self, **kwargs):
        super().__init__(id="training", **kwargs)
        self.border_title = "Training"
        self.last: TrainingProgress | None = None
        self.curves: LossCurves | None = None
        self.phase = Phase.EMPTY
        self.detail = ""  # what the session said last (paused at…, the failure)
        self.validation_note = ""  # why the run has no validation, when it asked for some
        self._verdict = ""
        self._curves_shown = 0.0  # when the curves were last drawn (time.monotonic())
        self._validations_shown = 0  # how many validation points they had

    def compose(self) -> ComposeResult:
        yield Static("", id="train-state")
        yield LossChart(id="loss-chart")
        with Horizontal(id="loss-row", classes="curve-row sparklines"):
            with Vertical(id="loss-range", classes="caption"):  # the curve's highest value at its top, lowest at its foot
                yield Static("", id="loss-max")
                yield Static("loss", id="loss-label")
                yield Static("", id="loss-min")
            yield Sparkline([], id="loss-curve")
        with Horizontal(id="val-row", classes="curve-row sparklines"):
            yield Static("val", classes="caption")
            yield Sparkline([], id="val-curve")
        with Horizontal(id="step-row"):
            yield Static("", id="train-steps")
            bar = ProgressBar(total=None, show_eta=False, id="train-progress")
            bar.display = False  # until there is progress to show (an empty bar would only animate)
            yield bar
        yield Static("", id="train-stats").with_tooltip(STATS_TOOLTIP)
        yield Static("", id="train-verdict")

    # --- the worker ---

    def show_run(self, session: Session) -> None:
        """Show the session's run from its start (a new or loaded model): its curves so far, its last step."""
        self.reset()
        run = session.run
        self.curves = LossCurves(run)
        self.validation_note = run.validation_note
        self.set_class(not run.trainer.validation_examples, "-no-validation")
        last = run.trainer.last_step_event()
        if last is not None:
            self.show_progress(progress_message(run, self.curves, last))
        else:
            self._show_verdict()

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
        self.phase, self.detail = phase, detail
        text = STATES[phase]
        for binding_id, label in keys.items():
            text = text.replace("{" + binding_id + "}", label)
        self.query_one("#train-state", Static).update(text)
        if self.last is not None and phase is not Phase.RUNNING:
            self.show_progress(self.last)
        else:
            self._show_verdict()

    def on_resize(self) -> None:
        """A real chart where it is readable; the Sparklines where it is not (borders and padding: 4 columns)."""
        self.set_class(not LossChart.fits(self.size.width - 4, CHART_ROWS), "-sparklines")
        if self.last is not None:
            self._curves_shown = 0.0  # the other kind may be stale
            self._show_curves(self.last)

    def toggle_log_scale(self) -> bool:
        """Switch the chart's loss axis between linear and log; True if it is now log."""
        chart = self.query_one(LossChart)
        chart.log_y = not chart.log_y
        return chart.log_y

    def show_progress(self, p: TrainingProgress) -> None:
        self.last = p
        self._show_curves(p)
        of_steps = f"/{p.total_steps:,}" if p.total_steps else ""
        of_epochs = f"/{p.epochs}" if p.epochs else ""
        speed, eta = "", ""
        if self.phase is Phase.RUNNING:
            speed = f"  {p.steps_per_sec:,.0f} steps/s"
            if (left := self._seconds_left(p)) is not None:
                eta = f"  ETA {format_duration(left)}"
        self.query_one("#train-steps", Static).update(f"step [b]{p.step:,}[/]{of_steps}  epoch {p.epoch}{of_epochs}  "
                                                      f"lr {p.learning_rate:.3g}{speed}{eta} ", layout=False)
        val = "–" if p.validation_loss is None else f"[b]{short_number(p.validation_loss)}[/]"
        ppl = perplexity(p.loss if p.validation_loss is None else p.validation_loss)
        self.query_one("#train-stats", Static).update(
            f"loss [b]{short_number(p.loss)}[/] [dim]smoothed[/]  val {val}  ppl {short_number(ppl, 2)}  "
            f"[dim]epoch avg {short_number(p.avg_loss)}  example {short_number(p.example_loss, 2)}[/]",
            layout=False,  # always one line: repainting is enough, and it keeps keys snappy while training
        )
        bar = self.query_one("#train-progress", ProgressBar)
        if p.time_budget is None:
            bar.update(total=p.total_steps, progress=p.step)
        else:  # a time budget: the bar follows the time (or the steps, when they run out first)
            spent, budget = p.time_budget
            shares = [spent / budget] + ([p.step / p.total_steps] if p.total_steps else [])
            bar.update(total=1000, progress=round(1000 * min(1.0, max(shares))))
        if not bar.display:
            bar.display = True
        self._show_verdict()

    @staticmethod
    def _seconds_left(p: TrainingProgress) -> float | None:
        """How long the budget has left: its time, or its steps at the speed now, whichever ends first."""
        by_steps = (p.total_steps - p.step) / p.steps_per_sec if p.total_steps and p.steps_per_sec > 0 else None
        by_time = max(0.0, p.time_budget[1] - p.time_budget[0]) if p.time_budget else None
        left = [t for t in (by_steps, by_time) if t is not None]
        return min(left) if left else None

    def _show_curves(self, p: TrainingProgress) -> None:
        """The chart, or the Sparklines where it does not fit. While training, at most once a CHART_INTERVAL:
        a curve of the whole run hardly moves in a quarter of a second, and each redraw is the UI thread's
        time taken from training."""
        now = time.monotonic()
        new_validation = len(p.validation_points) != self._validations_shown  # the legend's best is said below too
        if self.phase is Phase.RUNNING and now - self._curves_shown < CHART_INTERVAL and not new_validation:
            return
        self._curves_shown, self._validations_shown = now, len(p.validation_points)
        if not self.has_class("-sparklines"):
            self.query_one(LossChart).show(list(zip(p.curve_steps, p.curve)), p.validation_points, p.epoch_steps)
            return
        self.query_one("#loss-curve", Sparkline).data = p.curve
        if p.curve:
            self.query_one("#loss-max", Static).update(short_number(max(p.curve), 2), layout=False)
            self.query_one("#loss-min", Static).update(short_number(min(p.curve), 2), layout=False)
        # one point would be drawn as a full-height bar: wait for a second one
        self.query_one("#val-curve", Sparkline).data = p.validation_curve if len(p.validation_curve) > 1 else []

    def _show_verdict(self) -> None:
        """One line in words: the session's last word, the ETA's hint, what validation is doing."""
        p = self.last
        words = [escape(self.detail)] if self.detail else []  # it may name a file
        if p is not None and self.phase is Phase.RUNNING and (self._seconds_left(p) or 0) > LONG_RUN:
            words.append(LONG_RUN_HINT)
        if self.validation_note:
            words.append(self.validation_note)
        elif p is not None and p.verdict.text:
            words.append(f"[b $warning]{p.verdict.text}[/]" if p.verdict.warning else p.verdict.text)
        text = " · ".join(words)
        if text != self._verdict:  # it changes at each evaluation: a new layout only then
            self._verdict = text
            self.query_one("#train-verdict", Static).update(text)

    def reset(self) -> None:
        self.last = None
        self._curves_shown = 0.0
        self.query_one(LossChart).show([], [], [])
        self.query_one("#loss-curve", Sparkline).data = []
        self.query_one("#loss-max", Static).update("")
        self.query_one("#loss-min", Static).update("")
        self.query_one("#val-curve", Sparkline).data = []
        self.query_one("#train-steps", Static).update("")
        self.query_one("#train-stats", Static).update("")
        self._verdict = ""
        self.query_one("#train-verdict", Static).update("")
        self.query_one("#train-progress", ProgressBar).display = False

"""Hyperparameter panel: a field for every setting declared in `core.settings`, checked as typed, with
the model's parameter table and the time its run should take."""

from __future__ import annotations

import math

from rich.markup import escape
from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.reactive import reactive
from textual.widgets import Input, Label, Select, Static

from charlm_tui.messages import PresetChosen, SettingsChanged, SpeedMeasured
from charlm_tui.workers import measure_speed
from core.data import Corpus, CorpusError
from core.run import Run
from charlm_tui.widgets.fields import read_field, setting_field
from core.model import parameter_table
from core.settings import BY_NAME, CUSTOM, PRESETS, REFERENCE_SLOWDOWN, SETTINGS, RunConfig, SettingError

SPEED_PROBE = (10, 20)  # 10 bursts of 20 steps (a fifth of a second in all), the median counts
STARTUP_SECONDS = 1.0  # the probe waits this long: the app drawing its first screen takes the CPU meanwhile
LONG_RUN = 3600  # seconds: a run or an ETA beyond this comes with a hint


class HyperPanel(Vertical):
    """Posts SettingsChanged whenever the form changes."""

    VIEW = "setup"
    corpus: reactive[Corpus | None] = reactive(None, init=False)  # the next model's, for its size and time
    seconds_per_step_per_parameter: reactive[float | None] = reactive(None, init=False)  # measured at start-up

    def __init__(self, **kwargs):
        super().__init__(id="hyper", **kwargs)
        self.border_title = "Hyperparameters"
        self._preset = CUSTOM  # what the preset selector shows: a Changed event saying so is not a choice
        self.config: RunConfig | None = None
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        self._preset = self.app.initial_settings.matching_preset() or CUSTOM
        with Grid(id="hyper-form"):
            yield Label("preset")
            yield Select([(name, name) for name in (*PRESETS, CUSTOM)], value=self._preset, allow_blank=False,
                         id="preset", compact=True, tooltip="\n".join(f"{n}: {p.about}" for n, p in PRESETS.items())
                         + f"\n{CUSTOM}: your own settings (shown once a field differs from every preset)")
            for setting in SETTINGS:
                yield Label(setting.label)
                yield setting_field(setting)
        yield Static(id="hyper-problems", classes="error")
        yield Static(id="hyper-pending")
        yield Static(id="param-table")
        yield Static(id="run-estimate")

    def on_mount(self) -> None:
        self.fill(self.app.initial_settings)
        if self.app.calibrate:
            self.set_timer(STARTUP_SECONDS, self._measure_speed)  # after start-up: it would share the CPU with it

    @work(thread=True, exclusive=True, group="speed", exit_on_error=False)
    def _measure_speed(self) -> None:
        probe = Corpus("the quick brown fox jumps over the lazy dog. " * 20, "probe")
        measure_speed(Run.new(probe, RunConfig.preset("default")), *SPEED_PROBE, self.post_message)

    @on(SpeedMeasured)
    def _speed_measured(self, message: SpeedMeasured) -> None:
        self.seconds_per_step_per_parameter = message.seconds_per_step_per_parameter

    def watch_corpus(self) -> None:
        self._changed()  # the model's size depends on the corpus's vocabulary

    def watch_seconds_per_step_per_parameter(self) -> None:
        self.refresh_table()

    def fill(self, config: RunConfig) -> None:
        """Show `config` in the form."""
        for setting in SETTINGS:
            field = self.query_one(f"#{setting.name}")
            value = getattr(config, setting.name)
            field.value = value if isinstance(field, Select) else setting.show(value)
        self._changed()

    def set_learning_rate(self, lr: float) -> None:
        self.query_one("#learning_rate", Input).value = BY_NAME["learning_rate"].show(lr)

    def _read(self) -> tuple[RunConfig | None, list[str]]:
        values, problems = {}, []
        for setting in SETTINGS:
            try:
                values[setting.name] = read_field(setting, self.query_one(f"#{setting.name}"))
            except SettingError as error:
                problems.append(str(error))
        if problems:
            return None, problems
        try:
            config = RunConfig(**values)
            if self.corpus is not None:
                config.check_size(len(self.corpus.vocab))
        except SettingError as error:  # a rule across settings (epochs or steps), or a model too big
            return None, [str(error)]
        return config, []

    def _changed(self) -> None:
        self.config, self.problems = self._read()
        self._preset = (self.config and self.config.matching_preset()) or CUSTOM
        self.query_one("#preset", Select).value = self._preset
        problems = self.query_one("#hyper-problems", Static)
        problems.update("\n".join(self.problems))
        problems.display = bool(self.problems)
        self.refresh_table()
        self.post_message(SettingsChanged(self.config, self.problems))

    @on(Input.Changed)
    @on(Select.Changed)
    def _field_changed(self, event: Input.Changed | Select.Changed) -> None:
        event.stop()
        if event.control.id != "preset":
            if self.is_mounted:
                self._changed()
        elif event.value not in (self._preset, CUSTOM):  # a preset chosen: its settings and its corpus
            self._preset = event.value
            self.fill(RunConfig.preset(event.value))
            self.post_message(PresetChosen(PRESETS[event.value].corpus))

    def show_pending(self, changes: list[str], key: str) -> None:
        """Settings the current model cannot take (they need a new one), or none."""
        pending = self.query_one("#hyper-pending", Static)
        pending.update(f"[b]for a new model[/]: {escape(', '.join(changes))} — the current model keeps its own "
                       f"({key} asks before discarding it)" if changes else "")
        pending.display = bool(changes)

    def refresh_table(self) -> None:
        """The course's parameter table for the current settings, and the time an epoch should take."""
        config = self.config
        target = self.query_one("#param-table", Static)
        if config is None or self.corpus is None:
            target.update("")
            self.query_one("#run-estimate", Static).update("")  # no settings to estimate
            return
        rows = parameter_table(len(self.corpus.vocab), config.embed_dim, config.hidden_dim, config.context_length, config.n_hidden)
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
        table.add_column("component")
        table.add_column("size")
        table.add_column("parameters", justify="right")
        for row in rows:
            table.add_row(row.component, row.shape, f"{row.count:,}", style="bold" if row.component == "Total" else "")
        target.update(table)
        self.query_one("#run-estimate", Static).update(self.run_estimate(rows[-1].count))

    def run_estimate(self, parameters: int) -> str:
        """How long the run's budget should take, from the measured speed; a hint when it is over an hour."""
        if self.seconds_per_step_per_parameter is None:
            return ""
        config = self.config
        try:
            examples = len(config.split_of(self.corpus).train)
        except (CorpusError, ValueError):
            return ""
        # measured on one example a step: a batch is that many passes, and an update of every weight (momentum, Adam,
        # decay) costs about as much again as the sparse SGD step's
        dense = config.optimizer != "sgd" or config.weight_decay > 0
        per_step = self.seconds_per_step_per_parameter * parameters * (config.batch_size + (DENSE_UPDATE if dense else 0))
        if config.engine == "reference":
            per_step *= REFERENCE_SLOWDOWN
        by_steps = min(config.max_steps or math.inf, (config.epochs or math.inf) * -(-examples // config.batch_size))
        seconds = min(per_step * by_steps, 60 * config.minutes if config.minutes is not None else math.inf)
        steps = round(seconds / per_step)
        epochs = steps * config.batch_size / examples
        shown = f"{epochs:,.0f}" if epochs >= 10 else f"{epochs:.2g}"
        budget = " (its time budget)" if config.minutes is not None and seconds == 60 * config.minutes else ""
        estimate = (f"[i]≈ {format_duration(seconds)}{budget} for {'about ' if budget else ''}{steps:,} steps "
                    f"({shown} epochs), at {1 / per_step:,.0f} steps/s (measured)[/]")
        if seconds > LONG_RUN:
            estimate += ("\n[b $warning]over an hour[/]: lower max steps (or epochs) to see a result sooner, or make "
                         "the model smaller")
        return estimate


DENSE_UPDATE = 1.3  # an update of every weight, in examples' worth of a step (Adam, makemore's model, measured here)


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return "<1s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"

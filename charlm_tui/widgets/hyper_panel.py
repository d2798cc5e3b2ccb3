"""Hyperparameter panel: every setting, validated as typed, with the model's parameter table and time per epoch."""

from __future__ import annotations

from dataclasses import replace

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.validation import Integer, Number
from textual.widgets import Input, Label, Select, Static

from charlm_tui.messages import SettingsChanged
from charlm_tui.widgets.ordered_input import OrderedInput
from core.fused import ACTIVATIONS
from core.model import ENGINES, parameter_table
from core.run import PRESETS, ModelConfig, RunConfig
from core.training import TrainConfig

# id, label, validator, may be left empty, tooltip
FIELDS = [
    ("context", "context", Integer(1, 64), False, "characters the model sees before predicting the next"),
    ("embed", "embed dim", Integer(1, 256), False, "numbers per character embedding"),
    ("hidden", "hidden dim", Integer(1, 1024), False, "width of each hidden layer"),
    ("layers", "layers", Integer(1, 6), False, "number of hidden layers (the course uses 2)"),
    ("lr", "lr", Number(minimum=1e-6, maximum=10.0), False, "step size of each SGD update"),
    ("epochs", "epochs", Integer(1, 100_000), True, "passes over the training examples (empty: no limit)"),
    ("steps", "max steps", Integer(1, 100_000_000), True, "stop after this many steps in all (empty: no limit)"),
    ("clip", "clip", Number(minimum=1e-9, maximum=1e6), True, "clip each gradient to ±this (the course's clip; empty: off)"),
    ("clip-norm", "clip norm", Number(minimum=1e-9, maximum=1e6), True, "scale gradients to at most this global norm (empty: off)"),
    ("val", "val frac", Number(minimum=0.0, maximum=0.5), False, "fraction of examples held out (0 to 0.5)"),
    ("seed", "seed", Integer(0, 2**31 - 1), False, "random seed for the weights and the shuffling"),
]


def _text(value) -> str:
    return "" if value is None else str(value)


class HyperPanel(Vertical):
    """Posts SettingsChanged whenever the form changes."""

    def __init__(self, config: RunConfig, preset: str = "default", **kwargs):
        super().__init__(**kwargs)
        self.border_title = "Hyperparameters"
        self._initial = config
        self._preset = preset
        self.vocab_size = 32
        self.train_examples = 0
        self.seconds_per_step_per_parameter: float | None = None
        self.config: RunConfig | None = config
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        with Grid(id="hyper-form"):
            yield Label("preset")
            yield Select([(name, name) for name in PRESETS], value=self._preset, allow_blank=False,
                         id="preset", compact=True)
            for field_id, label, validator, optional, tooltip in FIELDS:
                yield Label(label)
                field = OrderedInput(id=field_id, validators=[validator], valid_empty=optional, compact=True)
                field.tooltip = tooltip
                yield field
            yield Label("activation")
            yield Select([(a, a) for a in ACTIVATIONS], allow_blank=False, id="activation", compact=True)
            yield Label("engine")
            yield Select([(e, e) for e in ENGINES], allow_blank=False, id="engine", compact=True)
        yield Static(id="hyper-problems", classes="error")
        yield Static(id="param-table")
        yield Static(id="epoch-estimate")

    def on_mount(self) -> None:
        self.fill(self._initial)

    def fill(self, config: RunConfig) -> None:
        """Show `config` in the form."""
        m, t = config.model, config.train
        values = {
            "context": m.context_length, "embed": m.embed_dim, "hidden": m.hidden_dim, "layers": m.n_hidden,
            "lr": t.learning_rate, "epochs": t.epochs, "steps": t.max_steps, "clip": t.clip_value,
            "clip-norm": t.clip_norm, "val": config.validation_fraction, "seed": t.seed,
        }
        for field_id, value in values.items():
            self.query_one(f"#{field_id}", Input).value = _text(value)
        self.query_one("#activation", Select).value = m.activation
        self.query_one("#engine", Select).value = m.engine
        self._changed()

    def _read(self) -> tuple[RunConfig | None, list[str]]:
        problems = []
        raw: dict[str, str] = {}
        for field_id, label, _, optional, _ in FIELDS:
            field = self.query_one(f"#{field_id}", Input)
            result = field.validate(field.value)
            raw[field_id] = field.value.strip()
            if result is not None and not result.is_valid:
                problems.append(f"{label}: {'; '.join(result.failure_descriptions)}")
        if not raw["epochs"] and not raw["steps"]:
            problems.append("give a number of epochs or a step budget (or both)")
        if problems:
            return None, problems
        number = lambda key, kind: kind(raw[key]) if raw[key] else None  # noqa: E731
        model = ModelConfig(number("context", int), number("embed", int), number("hidden", int), number("layers", int),
                            self.query_one("#activation", Select).value, self.query_one("#engine", Select).value)
        train = TrainConfig(learning_rate=number("lr", float), epochs=number("epochs", int), max_steps=number("steps", int),
                            clip_value=number("clip", float), clip_norm=number("clip-norm", float), seed=number("seed", int),
                            eval_every=self._initial.train.eval_every)
        return RunConfig(model, train, number("val", float)), []

    def _changed(self) -> None:
        self.config, self.problems = self._read()
        problems = self.query_one("#hyper-problems", Static)
        problems.update("\n".join(self.problems))
        problems.display = bool(self.problems)
        self.refresh_table()
        self.post_message(SettingsChanged(self.config, self.problems))

    @on(Input.Changed)
    @on(Select.Changed, "#activation, #engine")
    def _field_changed(self, event) -> None:
        event.stop()
        if self.is_mounted:
            self._changed()

    @on(Select.Changed, "#preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        event.stop()
        if event.value == self._preset:
            return
        self._preset = event.value
        preset = PRESETS[event.value]
        self.fill(replace(preset, train=replace(preset.train, eval_every=self._initial.train.eval_every)))

    def refresh_table(self) -> None:
        """The course's parameter table for the current settings, and the time an epoch should take."""
        config = self.config
        target = self.query_one("#param-table", Static)
        if config is None:
            target.update("")
            return
        m = config.model
        rows = parameter_table(self.vocab_size, m.embed_dim, m.hidden_dim, m.context_length, m.n_hidden)
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
        table.add_column("component")
        table.add_column("size")
        table.add_column("parameters", justify="right")
        for row in rows:
            table.add_row(row.component, row.shape, f"{row.count:,}", style="bold" if row.component == "Total" else "")
        target.update(table)
        self.query_one("#epoch-estimate", Static).update(self.epoch_estimate(rows[-1].count))

    def epoch_estimate(self, parameters: int) -> str:
        if self.seconds_per_step_per_parameter is None or not self.train_examples or self.config is None:
            return ""
        per_step = self.seconds_per_step_per_parameter * parameters
        if self.config.model.engine == "reference":
            per_step *= 150  # the elementary graph is about this much slower (see benchmarks/)
        seconds = per_step * self.train_examples
        return f"[i]≈ {format_duration(seconds)} an epoch, at {1 / per_step:,.0f} steps/s (measured)[/]"


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

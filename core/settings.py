"""Every setting of a run, declared once.

A `Setting` says what a hyperparameter is called, what it accepts, what it does and its value in each
preset. Everything else is built from these declarations: `RunConfig` (the checked values a run is
made from), the hyperparameter form, the command-line flags and their help, the checkpoint's
validation, the "what changed" list before a model is discarded, and the presets. Adding a setting is
one declaration here plus the code that uses it.

Text from the form and from the command line goes through the same `Setting.parse`, and every value,
whatever its source (a checkpoint, a test), through the same `Setting.check`: so all of them accept
and refuse exactly the same values.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import Any

from core.corpora import DEFAULT_CORPUS
from core.data import ITEMS, SPLITS
from core.fused import ACTIVATIONS
from core.model import ENGINES, CharacterLM, table_shapes
from core.optim import OPTIMIZERS

OPTIMIZER_NAMES = tuple(OPTIMIZERS)



@dataclass(frozen=True)
class Preset:
    about: str
    corpus: str  # the bundled text it trains on: a preset is a whole first run, not only its numbers


PRESETS = {
    "default": Preset("small and quick on 32,033 names: validation falls and the names get better within seconds; "
                      "lr 0.01, 50,000 steps (about a minute)", DEFAULT_CORPUS),
    "course": Preset("the course's own run (Section 3.5): its 5 lines, context 8, embed 32, hidden 128, lr 0.01, "
                     "3 epochs, no validation", "proverbs"),
    "makemore": Preset("Zero to Hero's makemore MLP (part 2): context 3, embed 10, one tanh layer of 200, on names "
                       "a name at a time; AdamW (decay 0.01) in batches of 16 for 30 minutes, lr 0.005 then 0.0005 "
                       "from minute 7.5; every held-out name validated each 2,000 updates", DEFAULT_CORPUS),
    "overfit": Preset("overfitting on screen: a model big enough for a text small enough (half of Alice's first "
                      "chapter; the other half held out), AdamW at lr 0.003 in batches of 16: validation turns upward "
                      "within about 2 minutes and ends far above training; then try dropout 0.2 or weight decay 0.1",
                      "rabbit_hole"),
}
SCHEDULES = ("constant", "step", "cosine")
CUSTOM = "custom"  # what the form's preset says once a field differs from every preset
NONE_WORDS = ("", "none", "off", "all")  # how an optional setting is left empty
# What a model may cost here. Measured on a 558,557-parameter model (shakespeare, context 16, embed 32,
# hidden 512 × 2) on this project's 2-core machine: 60 bytes of memory per parameter, 6e-8 s per
# parameter per step with the fused engine; the reference engine's graph is 200-370× slower (course configuration).
MAX_PARAMETERS = 1_000_000
MAX_SECONDS_PER_STEP = 1.0  # a pause or a quit waits for the step under way
BYTES_PER_PARAMETER = 60
SECONDS_PER_PARAMETER_STEP = 6e-8
REFERENCE_SLOWDOWN = 300


class SettingError(ValueError):
    """A value a setting does not accept, with a message saying what it accepts."""


@dataclass(frozen=True)
class Setting:
    name: str  # the attribute of RunConfig, and the key in a checkpoint
    label: str  # in the form, and in messages
    flag: str  # on the command line
    kind: type  # int, float or str
    help: str
    presets: dict[str, Any]  # its value in each preset; a preset it does not name takes "default"'s
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False  # may be empty (None): no limit, or off
    empty: str = "off"  # what an empty (optional) value means, in words
    fixed: bool = False  # fixed when a run starts: changing it needs a new model
    group: str = "training"  # "model" or "training"

    @property
    def default(self) -> Any:
        return self.presets["default"]

    def preset_value(self, preset: str) -> Any:
        return self.presets.get(preset, self.default)

    def requirement(self) -> str:
        """What the setting accepts, in words."""
        if self.choices:
            accepted = "one of " + ", ".join(self.choices)
        else:
            noun, shown = ("a whole number", "{:,.0f}") if self.kind is int else ("a number", "{:g}")
            accepted = f"{noun} from {shown.format(self.minimum)} to {shown.format(self.maximum)}"
        return accepted + (f" (empty: {self.empty})" if self.optional else "")

    def parse(self, text: str) -> Any:
        """The value typed as `text` (form or command line), or a SettingError."""
        text = text.strip()
        if text.lower() in NONE_WORDS and (self.optional or not text):
            return self.check(None)
        try:
            value = self.kind(text)
        except ValueError:
            raise SettingError(f"{self.label}: {text!r} is not {self.requirement()}") from None
        return self.check(value)

    def parse_list(self, text: str) -> tuple:
        """Several values, separated by commas or spaces ("0.5, 1 1.5"), each parsed; an error says which one."""
        parts = re.split(r"[\s,]+", text.strip().strip(","))
        values = []
        for position, part in enumerate(parts, start=1):
            try:
                values.append(self.parse(part))
            except SettingError as error:
                raise SettingError(f"{error} (value {position} of {len(parts)})" if len(parts) > 1 else str(error)) from None
        return tuple(values)

    def check(self, value: Any) -> Any:
        """`value` if the setting accepts it (a whole float counts as an int), else a SettingError."""
        if value is None:
            if self.optional:
                return None
            raise SettingError(f"{self.label} is required: {self.requirement()}")
        if self.kind is str:
            if value in self.choices:
                return value
            raise SettingError(f"{self.label} must be {self.requirement()}, not {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingError(f"{self.label} must be {self.requirement()}, not {value!r}")
        if self.kind is int:
            if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
                raise SettingError(f"{self.label} must be {self.requirement()}, not {value!r}")
            value = int(value)
        elif isinstance(value, int) and abs(value) > sys.float_info.max:  # float() would raise OverflowError
            raise SettingError(f"{self.label} must be {self.requirement()}, not a number of {len(str(value))} digits")
        else:
            value = float(value)
        if not ((self.kind is int or math.isfinite(value)) and self.minimum <= value <= self.maximum):
            shown = (f"{value:,}" if abs(value) < 10**15 else f"a number of {len(str(abs(value)))} digits") \
                if self.kind is int else f"{value:.12g}"  # :g would round 5.0000001 to the 5 it exceeds
            raise SettingError(f"{self.label} must be {self.requirement()}, not {shown}")
        return value

    def show(self, value: Any) -> str:
        """`value` as the form and the command line write it."""
        return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _setting(name, label, kind, help, presets, flag=None, **limits) -> Setting:
    return Setting(name, label, flag or "--" + name.replace("_", "-"), kind, help,
                   presets if isinstance(presets, dict) else {"default": presets}, **limits)


SETTINGS: tuple[Setting, ...] = (
    # the model
    _setting("context_length", "context", int, "characters the model sees before predicting the next",
             {"default": 8, "makemore": 3},
             flag="--context", minimum=1, maximum=64, fixed=True, group="model"),
    _setting("embed_dim", "embed dim", int, "numbers per character embedding",
             {"default": 16, "course": 32, "makemore": 10},
             flag="--embed", minimum=1, maximum=256, fixed=True, group="model"),
    _setting("hidden_dim", "hidden dim", int, "width of each hidden layer",
             {"default": 64, "course": 128, "makemore": 200, "overfit": 128},
             flag="--hidden", minimum=1, maximum=1024, fixed=True, group="model"),
    _setting("n_hidden", "layers", int, "number of hidden layers (the course uses 2)", {"default": 2, "makemore": 1},
             flag="--layers", minimum=1, maximum=6, fixed=True, group="model"),
    _setting("activation", "activation", str, "the hidden layers' nonlinearity", {"default": "relu", "makemore": "tanh"},
             choices=ACTIVATIONS, fixed=True, group="model"),
    _setting("engine", "engine", str, "fused: a layer is one graph node; reference: the course's graph of + and *",
             "fused", choices=ENGINES, fixed=True, group="model"),
    # the data and the start
    _setting("validation_fraction", "val frac", float, "share of the examples held out for validation",
             {"default": 0.1, "course": 0.0, "overfit": 0.5}, flag="--val-fraction", minimum=0.0, maximum=0.9, fixed=True),
    _setting("split", "split", str, "held-out examples: spread (whole lines or paragraphs drawn from all through "
             "the text, by seed) or tail (the last ones)", "spread", choices=SPLITS, fixed=True),
    _setting("items", "items", str, "how examples are cut from the text: lines (each line an item, as makemore's "
             "names: it starts from a padded context and ends by predicting the line break), stream (the course's: "
             "contexts run on through the whole text) or auto (lines for a text of one short item a line, else stream)",
             {"default": "auto", "course": "stream"}, choices=ITEMS, fixed=True),
    _setting("seed", "seed", int, "random seed for the weights and the shuffling", 0,
             minimum=0, maximum=2**31 - 1, fixed=True),
    # training: these may change between a pause and a resume
    _setting("optimizer", "optimizer", str, "how the gradient moves the weights: sgd (the course's), momentum, "
             "nesterov (momentum looking ahead), adam, adamw (Adam with decoupled weight decay), as PyTorch defines "
             "them", {"default": "sgd", "makemore": "adamw", "overfit": "adamw"}, choices=OPTIMIZER_NAMES, fixed=True),
    _setting("learning_rate", "lr", float, "step size of each update (the peak, with a schedule; Adam's is "
             "about 0.001)", {"default": 0.01, "makemore": 0.005, "overfit": 0.003}, flag="--lr", minimum=1e-6, maximum=10.0),
    _setting("momentum", "momentum", float, "momentum and nesterov: the share of the last step carried into the next",
             0.9, minimum=0.0, maximum=0.999),
    _setting("weight_decay", "wt decay", float, "pulls every weight towards 0 at each step: L2 in the "
             "gradient (sgd, momentum, adam), decoupled (adamw); 0: off", {"default": 0.0, "makemore": 0.01},
             minimum=0.0, maximum=1.0),
    _setting("dropout", "dropout", float, "share of each hidden layer's outputs zeroed at random while training "
             "(inverted dropout: the rest scaled up; 0: off)", 0.0, minimum=0.0, maximum=0.9),
    _setting("batch_size", "batch", int, "examples whose gradients are averaged into one update (1: the course's "
             "per-example SGD)", {"default": 1, "makemore": 16, "overfit": 16}, minimum=1, maximum=1024, fixed=True),
    _setting("lr_schedule", "schedule", str, "how lr changes over the budget: constant, step (lr × decay from "
             "'decay at' of the budget on) or cosine (down to lr × decay)", {"default": "constant", "makemore": "step"}, flag="--schedule",
             choices=SCHEDULES),
    _setting("lr_decay", "decay", float, "the schedule's factor: lr × decay after the step, or at the cosine's end",
             {"default": 0.1}, minimum=1e-4, maximum=1.0),
    _setting("decay_at", "decay at", float, "where the step schedule drops lr, as a share of the budget",
             {"default": 0.5, "makemore": 0.25}, minimum=0.0, maximum=1.0),
    _setting("warmup_steps", "warmup", int, "steps over which lr rises from 0 at the start (0: none)", 0,
             flag="--warmup", minimum=0, maximum=10**9),
    # A budget in steps by default: an epoch of tinyshakespeare is a million steps, of proverbs 215.
    _setting("epochs", "epochs", int, "passes over the training examples (empty: until the step budget)",
             {"default": None, "course": 3}, minimum=1, maximum=100_000, optional=True),
    _setting("max_steps", "max steps", int, "updates in all, counted across resumes (empty: until the epochs)",
             {"default": 50_000, "course": None, "makemore": None, "overfit": 2000}, flag="--steps", minimum=1, maximum=10**9,
             optional=True),
    _setting("minutes", "minutes", float, "a time budget: minutes of training (pauses left out), the schedule "
             "following the share of them spent, so it decays at the end on any machine; such a run is reproducible "
             "only up to timing (empty: off)", {"default": None, "makemore": 30.0}, minimum=0.01, maximum=100_000.0, optional=True),
    _setting("clip_value", "clip", float, "clip each gradient to ±this (the course's clip; empty: off)", None,
             flag="--clip", minimum=1e-9, maximum=1e6, optional=True),
    _setting("clip_norm", "clip norm", float, "scale the gradients to at most this global L2 norm (empty: off)", None,
             minimum=1e-9, maximum=1e6, optional=True),
    _setting("eval_every", "eval every", int, "steps between validation passes (and at each epoch's end)",
             {"default": 500, "makemore": 2000, "overfit": 125},
             minimum=1, maximum=10**7),
    _setting("eval_examples", "eval size", int, "validation examples per pass, evenly spaced (bounds its cost)",
             {"default": 500, "makemore": 25_000, "overfit": 1000},
             minimum=1, maximum=10**6),
    _setting("patience", "patience", int, "stop after this many evaluations without a better validation loss, and "
             "go back to the best weights (empty: off)", None, minimum=1, maximum=10**6, optional=True),
)
BY_NAME = {s.name: s for s in SETTINGS}

# How text is sampled: not part of a run, shared by the generation panel and the command line.
SAMPLING: tuple[Setting, ...] = (
    _setting("temperature", "temp", float, "sampling temperature: below 1 sharper, above 1 flatter, 0 greedy", 0.8,
             minimum=0.0, maximum=5.0),
    _setting("top_k", "top-k", int, "sample only among the k likeliest characters (empty: all)", None,
             minimum=1, maximum=10_000, optional=True),
    _setting("top_p", "top-p", float, "sample only among the likeliest characters whose probabilities add up to p "
             "(nucleus sampling; empty: all)", None, minimum=0.01, maximum=1.0, optional=True),
    _setting("length", "length", int, "characters to generate", 200, minimum=1, maximum=100_000),
)
TEMPERATURE = SAMPLING[0]
MOST_TEMPERATURES = 5  # samples compared side by side: more columns than this are too narrow to read


def parse_temperatures(text: str) -> tuple[float, ...]:
    """Temperatures to compare, separated by commas or spaces, 1 to MOST_TEMPERATURES of them (^T and
    --temperature read them alike); a SettingError says what is wrong."""
    temperatures = TEMPERATURE.parse_list(text)
    if len(temperatures) > MOST_TEMPERATURES:
        raise SettingError(f"at most {MOST_TEMPERATURES} temperatures side by side, not {len(temperatures)}")
    return temperatures


class RunConfig:
    """The value of every setting, each checked by its declaration. Immutable: `replace` makes a new one."""

    __slots__ = tuple(BY_NAME)

    def __init__(self, **values: Any):
        unknown = sorted(set(values) - set(BY_NAME))
        if unknown:
            raise SettingError(f"unknown setting {', '.join(unknown)}")
        for s in SETTINGS:
            object.__setattr__(self, s.name, s.check(values.get(s.name, s.default)))
        if self.epochs is None and self.max_steps is None and self.minutes is None:
            raise SettingError("give a number of epochs, a step budget or a time budget in minutes (or several)")

    @classmethod
    def preset(cls, name: str) -> RunConfig:
        if name not in PRESETS:
            raise SettingError(f"no preset called {name!r}; the presets are {', '.join(PRESETS)}")
        return cls(**{s.name: s.preset_value(name) for s in SETTINGS})

    def __setattr__(self, name, value):
        raise AttributeError("a RunConfig does not change: use replace()")

    def replace(self, **changes: Any) -> RunConfig:
        return RunConfig(**{**self.to_json(), **changes})

    def to_json(self) -> dict[str, Any]:
        return {s.name: getattr(self, s.name) for s in SETTINGS}

    def __eq__(self, other) -> bool:
        return isinstance(other, RunConfig) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(tuple(self.to_json().values()))

    def __repr__(self) -> str:
        return "RunConfig(" + ", ".join(f"{k}={v!r}" for k, v in self.to_json().items()) + ")"

    def build_model(self, vocab_size: int) -> CharacterLM:
        self.check_size(vocab_size)
        return CharacterLM(vocab_size, self.embed_dim, self.hidden_dim, self.context_length, n_hidden=self.n_hidden,
                           activation=self.activation, engine=self.engine, seed=self.seed)

    def with_fixed_of(self, other: RunConfig) -> RunConfig:
        """These settings, but the fixed ones (model, split, seed) taken from `other`."""
        return self.replace(**{s.name: getattr(other, s.name) for s in SETTINGS if s.fixed})

    def split_of(self, corpus):
        """`corpus` split into training and validation examples as these settings say."""
        return corpus.split(self.context_length, self.validation_fraction, self.seed, self.split, self.items)

    def items_of(self, corpus) -> str:
        """"lines" or "stream": how examples are cut from `corpus` (auto resolved by the text)."""
        return corpus.items if self.items == "auto" else self.items

    def parameters(self, vocab_size: int) -> int:
        """How many parameters the model has on a vocabulary of `vocab_size` characters."""
        return sum(rows * cols for rows, cols in table_shapes(vocab_size, self.embed_dim, self.hidden_dim,
                                                              self.context_length, self.n_hidden))

    def check_size(self, vocab_size: int) -> None:
        """A SettingError with the estimate if the model on `vocab_size` characters is too big to train here."""
        count = self.parameters(vocab_size)
        seconds = count * SECONDS_PER_PARAMETER_STEP * (REFERENCE_SLOWDOWN if self.engine == "reference" else 1)
        if count > MAX_PARAMETERS or seconds > MAX_SECONDS_PER_STEP:
            raise SettingError(
                f"this model would have {count:,} parameters (≈ {count * BYTES_PER_PARAMETER / 2**20:,.0f} MB, "
                f"≈ {seconds:.2g} s a step with the {self.engine} engine); the limits are {MAX_PARAMETERS:,} parameters "
                f"and {MAX_SECONDS_PER_STEP:g} s a step: make the hidden dim, context, embed dim or layers smaller")

    def differences(self, other: RunConfig, fixed_only: bool = False) -> list[str]:
        """What changes from this configuration to `other`, in words ("hidden dim 64 → 128")."""
        return [f"{s.label} {s.show(getattr(self, s.name)) or 'off'} → {s.show(getattr(other, s.name)) or 'off'}"
                for s in SETTINGS if (s.fixed or not fixed_only) and getattr(self, s.name) != getattr(other, s.name)]

    def matching_preset(self) -> str | None:
        """The preset these settings are, if any."""
        return next((name for name in PRESETS if RunConfig.preset(name) == self), None)


DEFAULT = RunConfig.preset("default")

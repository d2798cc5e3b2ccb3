"""Every message the app's workers and panels send, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from core.data import Corpus
from core.metrics import Verdict
from core.settings import RunConfig
from core.training import StopReason


@dataclass
class TrainingProgress(Message):
    """Where training is now. Each one carries the whole picture, so a newer one replaces an unread older one."""

    step: int
    total_steps: int | None
    time_budget: tuple[float, float] | None  # a time budget's (seconds spent, seconds in all); None without one
    epoch: int
    epochs: int | None
    loss: float  # smoothed over the last ~500 steps: the one to watch
    example_loss: float  # the last step's single example: noisy
    avg_loss: float  # the course's running average over this epoch
    steps_per_sec: float
    learning_rate: float  # the last update's, on the schedule
    curve: list[float]  # smoothed training loss over the whole run, downsampled
    curve_steps: list[float]  # the step each point of `curve` stands for
    validation_points: list[tuple[int, float]]  # (step, loss), at most ~256 of them
    epoch_steps: list[int]  # where each finished epoch ended
    validation_curve: list[float]
    validation_loss: float | None
    verdict: Verdict  # in words: is validation still improving?

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainingProgress)


@dataclass
class TrainingStopped(Message):
    """The training worker's loop ended; the session's phase says what it is now."""

    reason: StopReason
    message: str


@dataclass
class GeneratedText(Message):
    """Characters just sampled (in order; never replaced)."""

    generation: int
    text: str


@dataclass
class GenerationFinished(Message):
    generation: int
    cancelled: bool


@dataclass
class SpeedMeasured(Message):
    """Seconds per training step per parameter, measured on this machine (for time estimates)."""

    seconds_per_step_per_parameter: float


@dataclass
class CorpusChosen(Message):
    corpus: Corpus


@dataclass
class PresetChosen(Message):
    """A preset was chosen in the form: its settings are in; its corpus is to be selected."""

    corpus: str


@dataclass
class SettingsChanged(Message):
    """The hyperparameter form changed: its configuration, or why there is none."""

    config: RunConfig | None
    problems: list[str]

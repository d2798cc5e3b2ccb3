"""Per-example SGD, as in the course, with its whole state explicit so it can be saved and resumed.

A `Trainer` owns its random generator (never the global `random`), takes one example per step in a
freshly shuffled order each epoch, and reports what happens as typed events. It can be driven one
step at a time (`step()`), or run until done or cancelled (`run()` / `events()`), checking a
`threading.Event` between steps. A step whose loss or gradients are not finite is not applied:
training stops with a reason and the weights stay the last finite ones.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Callable, Iterator

from core.data import ExampleView
from core.model import CharacterLM
from core.optim import SGD
from core.sampling import FrozenModel
from core.settings import RunConfig


# --- events ------------------------------------------------------------------------------------


def perplexity(loss: float) -> float:
    """e^loss, capped so a huge loss reads as a huge number rather than an overflow."""
    return math.exp(min(loss, 700.0))


@dataclass(frozen=True)
class StepEvent:
    """One SGD step was applied."""

    step: int  # steps taken so far, 1-based
    epoch: int  # 1-based
    index: int  # examples done in this epoch
    epoch_size: int
    loss: float
    avg_loss: float  # the course's running average over this epoch
    steps_per_sec: float

    @property
    def perplexity(self) -> float:
        return perplexity(self.avg_loss)


@dataclass(frozen=True)
class EpochEvent:
    epoch: int
    avg_loss: float

    @property
    def perplexity(self) -> float:
        return perplexity(self.avg_loss)


@dataclass(frozen=True)
class ValidationEvent:
    step: int
    loss: float

    @property
    def perplexity(self) -> float:
        return perplexity(self.loss)


class StopReason(str, Enum):
    FINISHED = "finished"  # the epochs or the step budget are done
    CANCELLED = "cancelled"
    NON_FINITE = "non_finite"


@dataclass(frozen=True)
class StoppedEvent:
    reason: StopReason
    step: int
    message: str


TrainingEvent = StepEvent | EpochEvent | ValidationEvent | StoppedEvent


# --- state -------------------------------------------------------------------------------------


@dataclass
class TrainerState:
    """Where training is: enough, with the weights, to carry on exactly as if never stopped."""

    step: int = 0  # steps taken in all
    epoch: int = 0  # 0-based epoch in progress
    index: int = 0  # examples done in this epoch
    epoch_loss_sum: float = 0.0
    shuffle_state: list | None = None  # the RNG state this epoch's order was drawn from (None between epochs)
    rng_state: list | None = None  # the RNG state after drawing it
    losses: list[float] = field(default_factory=list)  # every step's loss
    validation: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainerState:
        """The state saved as `data`, every field checked (a ValueError names the first bad one)."""
        if not isinstance(data, dict) or set(data) != {f.name for f in fields(cls)}:
            raise ValueError(f"the trainer's fields must be exactly {', '.join(f.name for f in fields(cls))}")
        step, epoch, index = data["step"], data["epoch"], data["index"]
        for name in ("step", "epoch", "index"):
            _check(_is_count(data[name]), f"trainer.{name} must be a whole number ≥ 0")
        _check(index <= step, "trainer.index is beyond the steps taken")
        _check(_is_finite(data["epoch_loss_sum"]), "trainer.epoch_loss_sum must be a finite number")
        losses = data["losses"]
        _check(isinstance(losses, list) and all(_is_finite(x) for x in losses),
               "trainer.losses must be a list of finite numbers")
        _check(len(losses) == step, f"trainer.losses holds {len(losses)} losses for {step} steps")
        validation = data["validation"]
        _check(isinstance(validation, list) and all(
            isinstance(pair, list) and len(pair) == 2 and _is_count(pair[0]) and pair[0] <= step and _is_finite(pair[1])
            for pair in validation), "trainer.validation must be a list of [step, finite loss] pairs")
        for name in ("shuffle_state", "rng_state"):
            _check(data[name] is None or _is_rng_state(data[name]), f"trainer.{name} is not a random generator's state")
        _check((data["shuffle_state"] is None) == (index == 0), "trainer.shuffle_state does not match trainer.index")
        return cls(step, epoch, index, float(data["epoch_loss_sum"]), data["shuffle_state"], data["rng_state"],
                   [float(x) for x in losses], [(s, float(loss)) for s, loss in validation])


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_rng_state(data) -> bool:
    """A Mersenne Twister state as `_rng_state_to_json` writes it: [3, 624 words and a position, gauss]."""
    if not (isinstance(data, list) and len(data) == 3 and data[0] == 3 and isinstance(data[1], list)
            and len(data[1]) == 625 and (data[2] is None or _is_finite(data[2]))):
        return False
    *words, position = data[1]
    return all(_is_count(w) and w < 2**32 for w in words) and _is_count(position) and position <= 624


def _rng_state_to_json(state: tuple) -> list:
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def _rng_state_from_json(data: list) -> tuple:
    version, internal, gauss_next = data
    return version, tuple(internal), gauss_next


class NonFiniteError(ArithmeticError):
    pass


class Trainer:
    def __init__(
        self,
        model: CharacterLM,
        train_examples: ExampleView,
        validation_examples: ExampleView | None,
        config: RunConfig,
        state: TrainerState | None = None,
    ):
        if len(train_examples) == 0:
            raise ValueError("there are no training examples: use a longer text or a smaller validation fraction")
        self.model = model
        self.optimizer = SGD(model, config.learning_rate)
        self.train_examples = train_examples
        self.validation_examples = validation_examples if validation_examples else None
        self.config = config
        self.state = state or TrainerState()
        self.lock = threading.Lock()  # held during a step; snapshot() takes it to read whole weights
        self._rng = random.Random(f"shuffle:{config.seed}")
        self._order: list[int] = []
        self._recent: deque[float] = deque(maxlen=64)  # wall times of recent steps, for steps/s
        if self.state.rng_state is not None:
            self._rng.setstate(_rng_state_from_json(self.state.rng_state))
        if self.state.shuffle_state is not None:
            self._order = self._shuffled(self.state.shuffle_state)

    # --- the run's limits ---

    @property
    def epoch_size(self) -> int:
        return len(self.train_examples)

    @property
    def total_steps(self) -> int | None:
        """Steps the whole run will take, when that is known."""
        by_epochs = self.config.epochs * self.epoch_size if self.config.epochs is not None else None
        candidates = [n for n in (by_epochs, self.config.max_steps) if n is not None]
        return min(candidates) if candidates else None

    @property
    def finished(self) -> bool:
        total = self.total_steps
        return total is not None and self.state.step >= total

    def _shuffled(self, state: list) -> list[int]:
        self._rng.setstate(_rng_state_from_json(state))
        order = list(range(self.epoch_size))
        self._rng.shuffle(order)
        return order

    def _start_epoch(self) -> None:
        self.state.shuffle_state = _rng_state_to_json(self._rng.getstate())
        self._order = self._shuffled(self.state.shuffle_state)
        self.state.rng_state = _rng_state_to_json(self._rng.getstate())

    # --- one step ---

    def step(self) -> list[TrainingEvent]:
        """Take one SGD step; returns its events. Raises NonFiniteError (weights untouched) on NaN/inf."""
        events: list[TrainingEvent] = []
        with self.lock:
            state, optimizer, config = self.state, self.optimizer, self.config
            if not self._order:
                self._start_epoch()
            context, target = self.train_examples[self._order[state.index]]
            optimizer.zero_grad()
            loss = self.model.loss(context, target)
            if not math.isfinite(loss.data):
                raise NonFiniteError(f"the loss became {loss.data} at step {state.step + 1}; the step was not applied")
            loss.backward()
            if not optimizer.grads_finite():
                raise NonFiniteError(f"the gradients became infinite or NaN at step {state.step + 1}; the step was not applied")
            if config.clip_value is not None:
                optimizer.clip_grad_value(config.clip_value)
            if config.clip_norm is not None:
                optimizer.clip_grad_norm(config.clip_norm)
            optimizer.lr = config.learning_rate  # the config may change between pauses
            optimizer.step()
            state.step += 1
            state.index += 1
            state.epoch_loss_sum += loss.data
            state.losses.append(loss.data)
            now = time.perf_counter()
            self._recent.append(now)
            events.append(StepEvent(state.step, state.epoch + 1, state.index, self.epoch_size, loss.data,
                                    state.epoch_loss_sum / state.index, self.steps_per_sec()))
            if state.index == self.epoch_size:
                events.append(EpochEvent(state.epoch + 1, state.epoch_loss_sum / state.index))
                state.epoch += 1
                state.index = 0
                state.epoch_loss_sum = 0.0
                state.shuffle_state = None
                self._order = []
            if self.validation_examples and (state.step % config.eval_every == 0 or state.index == 0):
                validation = self._validation_loss()
                if not math.isfinite(validation):
                    raise NonFiniteError(f"the validation loss became {validation} after step {state.step} (the weights "
                                         "are finite but overflow on held-out text)")
                events.append(ValidationEvent(state.step, validation))
                state.validation.append((state.step, validation))
        return events

    def last_step_event(self) -> StepEvent | None:
        """The latest step's reading, rebuilt from the state (after a resume, say); None before any step."""
        state = self.state
        if not state.losses:
            return None
        if state.index:  # within an epoch
            return StepEvent(state.step, state.epoch + 1, state.index, self.epoch_size, state.losses[-1],
                             state.epoch_loss_sum / state.index, 0.0)
        # just finished an epoch: the epoch's average is the mean of its steps
        epoch_losses = state.losses[-self.epoch_size:]
        return StepEvent(state.step, state.epoch, self.epoch_size, self.epoch_size, state.losses[-1],
                         sum(epoch_losses) / len(epoch_losses), 0.0)

    def steps_per_sec(self) -> float:
        if len(self._recent) < 2:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-9)

    def _validation_loss(self) -> float:
        examples = self.validation_examples
        n = min(len(examples), self.config.eval_examples)
        stride = len(examples) / n
        frozen = FrozenModel.from_model(self.model, copy=False)
        return frozen.mean_loss([examples[int(i * stride)] for i in range(n)])

    def validation_loss(self) -> float | None:
        if not self.validation_examples:
            return None
        with self.lock:
            return self._validation_loss()

    # --- running ---

    def events(self, cancel: threading.Event | None = None, max_steps: int | None = None) -> Iterator[TrainingEvent]:
        """Step until finished, cancelled, `max_steps` more steps, or a non-finite step; yield every event.

        The last event is always a StoppedEvent.
        """
        taken = 0
        while True:
            if self.finished:
                yield StoppedEvent(StopReason.FINISHED, self.state.step, f"training finished after {self.state.step} steps")
                return
            if (cancel is not None and cancel.is_set()) or (max_steps is not None and taken >= max_steps):
                yield StoppedEvent(StopReason.CANCELLED, self.state.step, f"stopped after {self.state.step} steps")
                return
            try:
                yield from self.step()
            except NonFiniteError as error:
                yield StoppedEvent(
                    StopReason.NON_FINITE, self.state.step,
                    f"{error}. Lower the learning rate or turn on gradient clipping.",
                )
                return
            taken += 1

    def run(self, on_event: Callable[[TrainingEvent], None] | None = None, cancel: threading.Event | None = None,
            max_steps: int | None = None) -> StoppedEvent:
        for event in self.events(cancel, max_steps):
            if on_event is not None:
                on_event(event)
        return event

    def snapshot(self) -> FrozenModel:
        """A copy of the weights taken between steps, for sampling while training goes on."""
        with self.lock:
            return FrozenModel.from_model(self.model)


def train(model: CharacterLM, examples, epochs: int, learning_rate: float, print_every: int = 100,
          *, seed: int | None = None) -> CharacterLM:
    """The course's train(): per-example SGD over `examples`, printing its progress lines."""
    print(f"Training model with {model.num_parameters()} parameters")
    config = RunConfig(learning_rate=learning_rate, epochs=epochs, validation_fraction=0.0,
                       seed=seed if seed is not None else random.SystemRandom().randrange(2**31))
    trainer = Trainer(model, examples, None, config)
    for event in trainer.events():
        if isinstance(event, StepEvent) and event.index % print_every == 0:
            print(f"Epoch {event.epoch}, Example {event.index}/{event.epoch_size}, Avg Loss: {event.avg_loss:.4f}")
        elif isinstance(event, EpochEvent):
            print(f"Epoch {event.epoch} complete. Loss: {event.avg_loss:.4f}, Perplexity: {event.perplexity:.2f}")
        elif isinstance(event, StoppedEvent) and event.reason is not StopReason.FINISHED:
            print(event.message)
    return model

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
from collections.abc import Sequence
from typing import Callable, Iterator

from core.data import ExampleView
from core.metrics import (SmoothedSeries, best_point, check, evaluations_since_best, is_count, is_finite,
                          thinned_validation)
from core.model import CharacterLM
from core.optim import optimizer_for, scheduled_lr
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
    loss: float  # the example's, or the batch's mean
    avg_loss: float  # the course's running average over this epoch
    steps_per_sec: float
    learning_rate: float = 0.0  # the one this update used

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
    EARLY_STOPPED = "early_stopped"  # validation stopped improving for `patience` evaluations: back to the best
    CANCELLED = "cancelled"
    NON_FINITE = "non_finite"


@dataclass(frozen=True)
class StoppedEvent:
    reason: StopReason
    step: int
    message: str


TrainingEvent = StepEvent | EpochEvent | ValidationEvent | StoppedEvent


# --- state -------------------------------------------------------------------------------------


RECENT_LOSSES = 1024  # single steps' losses kept: the latest stretch, twice the smoothing's ~500 steps
CURVE_POINTS = 256  # points of the smoothed loss curve kept over the whole run
VALIDATION_KEPT = 1024  # evaluations kept; one more and they are thinned to half as many (see `add_validation`)


@dataclass
class TrainerState:
    """Where training is: enough, with the weights, to carry on exactly as if never stopped.

    Its size does not grow with the steps taken: the whole run's losses are a downsampled smoothed curve, the single
    losses only the latest ones, and a long run's evaluations are thinned (its best and latest ones kept)."""

    step: int = 0  # steps taken in all
    epoch: int = 0  # 0-based epoch in progress
    index: int = 0  # examples done in this epoch
    epoch_loss_sum: float = 0.0  # this epoch's losses added up; between two epochs, the last one's (reset at a start)
    epoch_key: int | None = None  # the key of this epoch's order (None between epochs)
    rng_state: list | None = None  # the trainer's RNG state after drawing that key
    losses: list[float] = field(default_factory=list)  # the latest RECENT_LOSSES steps' losses (a batch's mean)
    validation: list[tuple[int, float]] = field(default_factory=list)  # (step, loss), thinned beyond VALIDATION_KEPT
    best_weights: list | None = None  # the weights at the best validation so far, kept when patience is set
    loss_curve: SmoothedSeries = field(default_factory=lambda: SmoothedSeries(CURVE_POINTS))  # every step's loss
    evaluations_since_best: int = 0  # counted as they come: the thinned `validation` no longer holds them all
    # time spent training (steps and their validation; pauses left out): a time budget's clock, and no part of what
    # makes two runs the same run (a machine's speed is not)
    seconds: float = field(default=0.0, compare=False)

    def add_loss(self, loss: float) -> None:
        """A step's loss, in the curve and among the latest."""
        self.losses.append(loss)
        if len(self.losses) > RECENT_LOSSES:
            del self.losses[:-RECENT_LOSSES]  # one, or all but the latest of an older checkpoint's every loss
        self.loss_curve.append(loss)

    def add_validation(self, step: int, loss: float) -> None:
        """An evaluation after `step`; beyond VALIDATION_KEPT of them, thinned to half as many, evenly over the
        steps, the best and the latest kept (see `thinned_validation`)."""
        improved = not self.validation or loss < best_point(self.validation)[1]
        self.evaluations_since_best = 0 if improved else self.evaluations_since_best + 1
        self.validation.append((step, loss))
        if len(self.validation) > VALIDATION_KEPT:
            self.validation = thinned_validation(self.validation, VALIDATION_KEPT // 2)

    def to_json(self) -> dict:
        return {**asdict(self), "loss_curve": self.loss_curve.to_json()}

    @classmethod
    def from_json(cls, data: dict, batch_size: int = 1) -> TrainerState:
        """The state saved as `data` by a run of `batch_size`, every field checked (a ValueError names the
        first bad one). A state saved before checkpoint version 4 holds every step's loss and no curve: its
        curve is made from them, and they stay until the next step keeps only the latest."""
        names = {f.name for f in fields(cls)}
        optional = {"best_weights", "loss_curve", "evaluations_since_best", "seconds"}  # v2: no best_weights; v3…
        if not isinstance(data, dict) or not names - optional <= set(data) <= names:
            raise ValueError(f"the trainer's fields must be exactly {', '.join(f.name for f in fields(cls))}")
        step, epoch, index = data["step"], data["epoch"], data["index"]
        for name in ("step", "epoch", "index"):
            check(is_count(data[name]), f"trainer.{name} must be a whole number ≥ 0")
        check(index <= step * batch_size, "trainer.index is beyond the steps taken")
        check(epoch <= step, "trainer.epoch is beyond the steps taken")
        check(is_finite(data["epoch_loss_sum"]) and data["epoch_loss_sum"] >= 0,
              "trainer.epoch_loss_sum must be a finite number ≥ 0 (a sum of losses)")
        losses = data["losses"]
        check(isinstance(losses, list) and all(is_finite(x) for x in losses),
              "trainer.losses must be a list of finite numbers")
        check(len(losses) in (min(step, RECENT_LOSSES), step),
              f"trainer.losses holds {len(losses)} losses for {step} steps")
        losses = [float(x) for x in losses]
        if "loss_curve" in data:
            try:
                curve = SmoothedSeries.from_json(data["loss_curve"])
            except ValueError as error:
                raise ValueError(f"trainer.loss_curve: {error}") from None
            check(curve.count <= step, "trainer.loss_curve holds more losses than the steps taken")
        else:
            check(len(losses) == step, "trainer.loss_curve is missing")
            curve = SmoothedSeries(CURVE_POINTS)
            curve.extend(losses)
        validation = data["validation"]
        check(isinstance(validation, list) and all(
            isinstance(pair, list) and len(pair) == 2 and is_count(pair[0]) and pair[0] <= step and is_finite(pair[1])
            for pair in validation), "trainer.validation must be a list of [step, finite loss] pairs")
        validation = [(s, float(loss)) for s, loss in validation]
        since_best = data.get("evaluations_since_best", evaluations_since_best(validation))
        check(is_count(since_best) and since_best <= step,
              "trainer.evaluations_since_best must be a whole number ≥ 0, at most the steps taken")
        check(data["rng_state"] is None or _is_rng_state(data["rng_state"]), "trainer.rng_state is not a random generator's state")
        key = data["epoch_key"]
        check(key is None or (is_count(key) and key < 2**64), "trainer.epoch_key must be empty or a 64-bit whole number")
        check((key is None) == (index == 0), "trainer.epoch_key does not match trainer.index")
        seconds = data.get("seconds", 0.0)
        check(is_finite(seconds) and seconds >= 0, "trainer.seconds must be a number of seconds ≥ 0")
        return cls(step, epoch, index, float(data["epoch_loss_sum"]), key, data["rng_state"], losses, validation,
                   data.get("best_weights"), curve, since_best, float(seconds))


def _is_rng_state(data) -> bool:
    """A Mersenne Twister state as `_rng_state_to_json` writes it: [3, 624 words and a position, gauss]."""
    if not (isinstance(data, list) and len(data) == 3 and data[0] == 3 and isinstance(data[1], list)
            and len(data[1]) == 625 and (data[2] is None or is_finite(data[2]))):
        return False
    *words, position = data[1]
    return (all(is_count(w) and w < 2**32 for w in words) and any(words)  # all zeros would never change
            and is_count(position) and position <= 624)


def _rng_state_to_json(state: tuple) -> list:
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def _rng_state_from_json(data: list) -> tuple:
    version, internal, gauss_next = data
    return version, tuple(internal), gauss_next


class EpochOrder(Sequence):
    """A random order of range(n), worked out one position at a time: `order[i]` is the example taken i-th.

    A 4-round Feistel network keyed by `key` permutes the integers below the smallest even power of two
    ≥ n; following a value's cycle until it falls below n keeps it a permutation of range(n) (at most
    four hops on average). Nothing proportional to n is built, so an epoch of a large corpus starts at once.
    """

    def __init__(self, n: int, key: int):
        self.n = n
        self.half = max(1, ((n - 1).bit_length() + 1) // 2)  # bits in each half of a value
        self.mask = (1 << self.half) - 1
        rounds = random.Random(key)
        self.round_keys = [rounds.getrandbits(32) for _ in range(4)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError("position beyond the epoch")
        x = i
        while True:
            left, right = x >> self.half, x & self.mask
            for key in self.round_keys:
                left, right = right, left ^ (_mix32(right ^ key) & self.mask)
            x = (left << self.half) | right
            if x < self.n:
                return x


def _mix32(x: int) -> int:
    """A 32-bit integer hash (MurmurHash3's finaliser): each output bit depends on every input bit."""
    x = ((x ^ (x >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    x = ((x ^ (x >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)


class NonFiniteError(ArithmeticError):
    pass


BARELY_LEARNT = 0.9  # a run that ends with its loss above this share of a uniform guess's has hardly begun
VALIDATION_CHUNK = 32  # validation examples between two looks at the cancel flag


class Trainer:
    def __init__(
        self,
        model: CharacterLM,
        train_examples: ExampleView,
        validation_examples: ExampleView | None,
        config: RunConfig,
        state: TrainerState | None = None,
        optimizer_state: dict | None = None,
    ):
        if len(train_examples) == 0:
            raise ValueError("there are no training examples: use a longer text or a smaller validation fraction")
        self.model = model
        self.train_examples = train_examples
        self.validation_examples = validation_examples if validation_examples else None
        self.config = config
        self.state = state or TrainerState()
        self.optimizer = optimizer_for(model, config)
        if optimizer_state is not None:  # momentum, Adam's moments and step count: a resume carries on exactly
            self.optimizer.load_state_dict(optimizer_state)
        self.lock = threading.Lock()  # held during a step; snapshot() takes it to read whole weights
        self._rng = random.Random(f"shuffle:{config.seed}")
        self._recent: deque[float] = deque(maxlen=64)  # wall times of recent steps, for steps/s
        if self.state.rng_state is not None:
            self._rng.setstate(_rng_state_from_json(self.state.rng_state))
        self._order = None if self.state.epoch_key is None else EpochOrder(self.epoch_size, self.state.epoch_key)

    # --- the run's limits ---

    @property
    def epoch_size(self) -> int:
        """Examples in an epoch."""
        return len(self.train_examples)

    @property
    def steps_per_epoch(self) -> int:
        """Updates in an epoch: a batch never runs over an epoch's end."""
        return -(-self.epoch_size // self.config.batch_size)

    @property
    def total_steps(self) -> int | None:
        """Steps (updates) the whole run will take, when that is known."""
        by_epochs = self.config.epochs * self.steps_per_epoch if self.config.epochs is not None else None
        candidates = [n for n in (by_epochs, self.config.max_steps) if n is not None]
        return min(candidates) if candidates else None

    @property
    def time_spent(self) -> float | None:
        """The share of the time budget used so far (None without one)."""
        minutes = self.config.minutes
        return None if minutes is None else self.state.seconds / (60 * minutes)

    @property
    def finished(self) -> bool:
        total, spent = self.total_steps, self.time_spent
        return (total is not None and self.state.step >= total) or (spent is not None and spent >= 1) \
            or self.stopped_early

    @property
    def evaluations_since_best(self) -> int:
        return self.state.evaluations_since_best

    @property
    def stopped_early(self) -> bool:
        """Validation has not improved for `patience` evaluations (raising patience lets it go on)."""
        return self.config.patience is not None and self.evaluations_since_best >= self.config.patience

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next update, on the schedule."""
        return scheduled_lr(self.config, self.state.step, self.total_steps, self.time_spent)

    def _start_epoch(self) -> None:
        self.state.epoch_loss_sum = 0.0  # not at the last epoch's end: until now it gave that epoch's average
        self.state.epoch_key = self._rng.getrandbits(64)
        self.state.rng_state = _rng_state_to_json(self._rng.getstate())
        self._order = EpochOrder(self.epoch_size, self.state.epoch_key)

    # --- one step ---

    def step(self, cancel: threading.Event | None = None, watch: Callable[[list, float], None] | None = None
             ) -> list[TrainingEvent]:
        """Take one SGD step; returns its events. Raises NonFiniteError (weights untouched) on NaN/inf.
        If `cancel` is set during the step's validation pass, the pass is dropped (the step stays).
        `watch(batch, lr)` is called with the batch's (context, target) examples once the gradients are ready
        and before the update (the optimizer's lr is set): it may read the weights and gradients, not change them."""
        events: list[TrainingEvent] = []
        started = time.perf_counter()
        with self.lock:
            state, optimizer, config = self.state, self.optimizer, self.config
            if self._order is None:
                self._start_epoch()
            batch = min(config.batch_size, self.epoch_size - state.index)
            optimizer.zero_grad()
            total = 0.0
            examples = [self.train_examples[self._order[i]] for i in range(state.index, state.index + batch)]
            # dropout's masks come from the step's own generator: a resumed run draws the same ones
            masks = random.Random(f"dropout:{config.seed}:{state.step}") if config.dropout else None
            for context, target in examples:  # the gradients add up in the tables
                keep = self.model.dropout_masks(masks, config.dropout) if masks else None
                loss = self.model.loss(context, target, keep)
                if not math.isfinite(loss.data):
                    raise NonFiniteError(f"the loss became {loss.data} at step {state.step + 1}; the step was not applied")
                loss.backward()
                total += loss.data
            if not optimizer.grads_finite():
                raise NonFiniteError(f"the gradients became infinite or NaN at step {state.step + 1}; the step was not applied")
            lr = self.learning_rate
            optimizer.follow(config, lr)  # the settings may change between pauses
            optimizer.prepare(batch)
            if watch is not None:
                watch(examples, lr)
            optimizer.update()
            mean_loss = total / batch
            state.step += 1
            state.index += batch
            state.epoch_loss_sum += total
            state.add_loss(mean_loss)
            now = time.perf_counter()
            self._recent.append(now)
            events.append(StepEvent(state.step, state.epoch + 1, state.index, self.epoch_size, mean_loss,
                                    state.epoch_loss_sum / state.index, self.steps_per_sec(), lr))
            if state.index == self.epoch_size:
                events.append(EpochEvent(state.epoch + 1, state.epoch_loss_sum / state.index))
                state.epoch += 1
                state.index = 0
                state.epoch_key = None
                self._order = None
            if self.validation_examples and (state.step % config.eval_every == 0 or state.index == 0):
                validation = self._validation_loss(cancel)
                if validation is not None:
                    if not math.isfinite(validation):
                        raise NonFiniteError(f"the validation loss became {validation} after step {state.step} (the "
                                             "weights are finite but overflow on held-out text)")
                    events.append(ValidationEvent(state.step, validation))
                    state.add_validation(state.step, validation)
                    self._keep_best()
            state.seconds += time.perf_counter() - started  # a time budget's clock: steps and validation only
        return events

    def _keep_best(self) -> None:
        """With patience set: keep the weights of a new best validation; once it has not improved for
        `patience` evaluations, go back to them (as makemore keeps its best model by validation)."""
        if self.config.patience is None:
            return
        since = self.evaluations_since_best
        if since == 0:
            self.state.best_weights = self.model.weights()
        elif self.stopped_early and self.state.best_weights is not None:
            self.model.load_weights(self.state.best_weights)

    def last_step_event(self) -> StepEvent | None:
        """The latest step's reading, rebuilt from the state (after a resume, say); None before any step."""
        state = self.state
        if not state.step:
            return None
        lr = scheduled_lr(self.config, state.step - 1, self.total_steps, self.time_spent)
        if state.index:  # within an epoch
            return StepEvent(state.step, state.epoch + 1, state.index, self.epoch_size, state.losses[-1],
                             state.epoch_loss_sum / state.index, 0.0, lr)
        return StepEvent(state.step, state.epoch, self.epoch_size, self.epoch_size, state.losses[-1],
                         self._finished_epoch_average(), 0.0, lr)

    def _finished_epoch_average(self) -> float:
        """The average loss of the epoch just finished (between two epochs), as its EpochEvent said."""
        state = self.state
        if state.epoch_loss_sum or len(state.losses) < self.steps_per_epoch:
            return state.epoch_loss_sum / self.epoch_size
        # a checkpoint before version 4 reset the sum at the epoch's end, and kept every step's loss
        epoch_losses = state.losses[-self.steps_per_epoch:]
        return sum(epoch_losses) / len(epoch_losses)

    def steps_per_sec(self) -> float:
        if len(self._recent) < 2:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-9)

    def _validation_loss(self, cancel: threading.Event | None = None) -> float | None:
        """The mean loss over `eval_examples` evenly spaced validation examples; None if `cancel` was set
        meanwhile (it is checked every few examples, so a pause never waits for a long pass)."""
        examples = self.validation_examples
        n = min(len(examples), self.config.eval_examples)
        stride = len(examples) / n
        frozen = FrozenModel.from_model(self.model, copy=False)
        total = 0.0
        for start in range(0, n, VALIDATION_CHUNK):
            if cancel is not None and cancel.is_set():
                return None
            total += sum(frozen.loss(*examples[int(i * stride)]) for i in range(start, min(n, start + VALIDATION_CHUNK)))
        return total / n

    def validation_loss(self) -> float | None:
        if not self.validation_examples:
            return None
        with self.lock:
            return self._validation_loss()

    def _in_its_time(self) -> str:
        spent = self.time_spent
        return f", in its {self.config.minutes:g} minutes" if spent is not None and spent >= 1 else ""

    def _barely_learnt(self) -> str:
        """What a run that ends near a uniform guess has to be told (the course's own 3 epochs end at loss 3.0 for
        ln 32 = 3.47, its samples gibberish): "" when its smoothed loss is well below that."""
        loss, guess = self.state.loss_curve.current, math.log(self.model.vocab_size)
        if loss is None or loss < BARELY_LEARNT * guess:
            return ""
        return (f": its loss, {loss:.2f}, is barely below a uniform guess over {self.model.vocab_size} characters "
                f"(ln {self.model.vocab_size} = {guess:.2f}), so its samples are still noise: raise epochs (or max "
                "steps), or lr, and train on")

    # --- running ---

    def events(self, cancel: threading.Event | None = None, max_steps: int | None = None,
               watch: Callable[[list, float], None] | None = None) -> Iterator[TrainingEvent]:
        """Step until finished, cancelled, `max_steps` more steps, or a non-finite step; yield every event
        (`watch`: see `step`).

        The last event is always a StoppedEvent.
        """
        taken = 0
        while True:
            if self.stopped_early:
                best_step, best = best_point(self.state.validation)
                yield StoppedEvent(StopReason.EARLY_STOPPED, self.state.step,
                                   f"validation has not improved for {self.evaluations_since_best} evaluations (best "
                                   f"{best:.3f} at step {best_step:,}): stopped early, back to the best weights")
                return
            if self.finished:
                yield StoppedEvent(StopReason.FINISHED, self.state.step,
                                   f"training finished after {self.state.step:,} steps{self._in_its_time()}"
                                   f"{self._barely_learnt()}")
                return
            if (cancel is not None and cancel.is_set()) or (max_steps is not None and taken >= max_steps):
                yield StoppedEvent(StopReason.CANCELLED, self.state.step, f"stopped after {self.state.step:,} steps")
                return
            try:
                yield from self.step(cancel, watch)
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

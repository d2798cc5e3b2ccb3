"""The learning-rate finder of Zero to Hero's makemore (part 2): a short sweep of growing learning rates.

    result = find_lr(run)                      # or find_lr(model, examples)
    print(result.table())
    print(f"suggested lr: {result.suggestion:g}")

Step i of `steps` uses lr = 10**e_i, e_i spaced evenly from log10(lr_min) to log10(lr_max), as the
course's `lre = torch.linspace(-3, 0, 1000); lrs = 10**lre`. Each step is one update of the run's optimiser
(SGD, momentum, Adam…: Adam's good lr is about a hundred times lower than SGD's) on one example (a batch of
them for a run trained in batches), the examples taken in a random order fixed by `seed`
from the training examples, and the loss of each step (before its update) is recorded. The loss first
hardly moves (the lr is too small to do anything in a few hundred steps), then falls, then — once the
lr is too large — rises and blows up: the sweep stops when the loss is not finite, or when the
smoothed loss exceeds `diverge` (4) times the lowest smoothed loss so far. The smoothed loss is an
exponential moving average of the losses (beta `smoothing`, 0.95: about the last 20), debiased as Adam
debiases its moments; over its first ~20 rows it averages too few losses to be trusted, so the lowest
loss (and the 4× rule) counts only the rows after that warm-up.

The sweep runs on a copy of the model: the model's weights, and the trainer's state and random
generator, stay exactly as they were, bit for bit. The copy always uses the fused engine (the same
model and maths as the reference engine's graph, 300 times faster), and steps as `core.training.Trainer`
does, through the same optimiser (`core.optim`): the batch's mean gradient, the run's clipping and decay.

The suggestion is an lr to train from the start: the app and --lr-find sweep fresh weights of a trained
model's settings, since on its trained weights the loss has little left to fall, the lowest point is the
noise of a few examples, and a tenth of it came out up to 100 times below the lr that trained it (names,
lr 0.01: suggestions of 0.0001 to 0.004 after 2,000 to 20,000 steps).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from core.model import CharacterLM
from core.optim import SGD, optimizer_for

LR_MIN = 1e-4
LR_MAX = 1.0
STEPS = 250
SMOOTHING = 0.95  # the EMA's beta: about the last 20 steps (per-example losses are noisy; 0.98 lags 50 steps)
DIVERGE = 4.0  # stop once the smoothed loss is this many times the lowest smoothed loss so far
TABLE_ROWS = 20  # about this many rows in the default table


@dataclass(frozen=True)
class LRFinderRow:
    step: int  # 1-based
    lr: float
    loss: float  # the step's example's loss (a batch's mean), before its update
    smoothed: float  # the debiased exponential moving average of the losses up to this step


STOP_REASONS = ("finished", "diverged", "non_finite")


def sweep_lrs(lr_min: float, lr_max: float, steps: int) -> list[float]:
    """10**e for `steps` exponents e evenly spaced from log10(lr_min) to log10(lr_max): lr_min, then each
    lr the same factor above the one before, up to lr_max (both ends exact)."""
    if steps < 2:
        raise ValueError(f"a sweep needs at least 2 steps, not {steps}")
    low, high = math.log10(lr_min), math.log10(lr_max)
    lrs = [10 ** (low + (high - low) * i / (steps - 1)) for i in range(steps)]
    lrs[0], lrs[-1] = lr_min, lr_max
    return lrs


def round_lr(lr: float) -> float:
    """`lr` to one significant figure (0.0346 → 0.03): a finder gives an order of magnitude, not digits."""
    return float(f"{lr:.1g}")


@dataclass(frozen=True)
class LRFinderResult:
    """What a sweep saw: a row per step taken, why it stopped, and the lr it suggests."""

    rows: tuple[LRFinderRow, ...]
    lr_min: float
    lr_max: float
    steps: int  # the steps planned; `len(rows)` were taken
    seed: int
    batch_size: int
    stop: str  # one of STOP_REASONS
    message: str  # the stop, in words
    warmup: int = 0  # rows whose smoothed loss averages too few losses to count as the lowest

    @property
    def settled_rows(self) -> tuple[LRFinderRow, ...]:
        """The rows after the warm-up (all of them if the sweep stopped within it)."""
        return self.rows[self.warmup:] or self.rows

    @property
    def stopped_early(self) -> bool:
        return self.stop != "finished"

    @property
    def lowest(self) -> LRFinderRow | None:
        """The row of the lowest smoothed loss after the warm-up (the first, on a tie); None if no step was
        taken. In the first rows the debiased average is of a few losses only — the first row's is one
        example's — so a lucky example there would pass for the lowest loss of the sweep."""
        return min(self.settled_rows, key=lambda row: row.smoothed) if self.rows else None

    @property
    def suggestion(self) -> float | None:
        """The learning rate to train with: a tenth of the lr at the lowest smoothed loss (fastai's rule),
        rounded to one significant figure, and never outside [lr_min, that lr].

        Why this rule and not the steepest fall of the smoothed loss: the course trains one example a
        step, and one example's loss is noisy (on names, from near 0 to over 6), so the slope of even a
        smoothed curve of 250 points jumps about — on names the steepest fall lands anywhere from lr
        1e-4 to 1 depending on the seed — while its lowest point stays within lr 0.1 to 0.9. The lowest point is
        where the lr is already about as large as the training tolerates (and the smoothing lags a few
        steps behind, so a little past it); a tenth of it is safely below, still large enough to learn
        fast. It is never above the lr of the lowest loss: if that is within a factor 10 of lr_min (the
        loss never fell), the suggestion is lr_min. None when no step could be taken.
        """
        lowest = self.lowest
        if lowest is None:
            return None
        exact = max(self.lr_min, lowest.lr / 10)
        rounded = round_lr(exact)
        return rounded if self.lr_min <= rounded <= lowest.lr else exact

    @property
    def plot_range(self) -> tuple[float, float] | None:
        """The smoothed losses worth plotting, (lowest, top): the start and the fall, from the highest smoothed loss
        before the lowest down to the lowest (after the warm-up both; at least 5% of the lowest apart). The rise
        past the lowest goes above `top` — a diverged tail can reach 20 times the loss, and plotting all of it would
        flatten the fall into one row. None if no step was taken."""
        lowest = self.lowest
        if lowest is None:
            return None
        top = max(row.smoothed for row in self.settled_rows if row.step <= lowest.step)
        return lowest.smoothed, max(top, lowest.smoothed * 1.05)

    @property
    def note(self) -> str:
        """A caveat on the suggestion, when the sweep gives reason for one ("" otherwise)."""
        lowest = self.lowest
        if lowest is None:
            return "no step could be taken: the loss was not finite at the first one"
        if lowest.lr < self.lr_min * 10:
            return ("the smoothed loss was lowest within a factor 10 of the smallest lr: no lr in the range helped; "
                    "sweep from a smaller lr_min")
        if lowest is self.rows[-1] and not self.stopped_early:
            return "the loss was still falling at the largest lr: a sweep to a larger lr_max might suggest a larger lr"
        return ""

    def table(self, every: int | None = None) -> str:
        """The rows as text: step, lr, loss and smoothed loss, every `every`-th row (by default about
        TABLE_ROWS of them), always with the last row and the lowest smoothed loss's (marked)."""
        if every is None:
            every = max(1, math.ceil(len(self.rows) / TABLE_ROWS))
        if every < 1:
            raise ValueError(f"every must be at least 1, not {every}")
        lowest = self.lowest
        lines = [f"{'step':>5}  {'lr':>9}  {'loss':>8}  {'smoothed':>8}"]
        for i, row in enumerate(self.rows):
            if i % every == 0 or i == len(self.rows) - 1 or row is lowest:
                mark = "  ← lowest" if row is lowest else ""
                lines.append(f"{row.step:>5}  {row.lr:>9.3g}  {_number(row.loss)}  {_number(row.smoothed)}{mark}")
        return "\n".join(lines)


def _number(x: float) -> str:
    """A loss in 8 characters: 4 decimals while it fits (a diverging loss can be huge)."""
    text = f"{x:8.4f}"
    return text if len(text) <= 8 else f"{x:8.2e}"


def find_lr(source, examples: Sequence | None = None, *, lr_min: float = LR_MIN, lr_max: float = LR_MAX,
            steps: int = STEPS, seed: int = 0, batch_size: int | None = None, clip_value: float | None = None,
            clip_norm: float | None = None, smoothing: float = SMOOTHING, diverge: float = DIVERGE) -> LRFinderResult:
    """Sweep the learning rate from `lr_min` to `lr_max` over `steps` SGD steps on a copy of a model.

    `source` is a `core.run.Run` — its model, its training examples (never the validation ones), its
    batch size and its clipping, unless given here (None: the run's) — or a `CharacterLM`, with
    `examples`, a sequence of (context, target) pairs. The source is never changed: its weights are copied (under the trainer's
    lock, for a run that may be training in another thread). `batch_size` defaults to 1, one example a
    step (a run's own batch size for a run). The same seed gives the same rows.
    """
    config = None
    if isinstance(source, CharacterLM):
        model, lock = source, None
        if examples is None:
            raise ValueError("give the examples to sweep on with a model (or give a run)")
        batch_size = 1 if batch_size is None else batch_size
    else:  # a Run (not imported: core.run imports the trainer, which this module does not need)
        model, lock = source.model, source.trainer.lock
        examples = source.trainer.train_examples if examples is None else examples
        config = source.config
        batch_size = config.batch_size if batch_size is None else batch_size
        clip_value = config.clip_value if clip_value is None else clip_value
        clip_norm = config.clip_norm if clip_norm is None else clip_norm
    _check_arguments(lr_min, lr_max, steps, batch_size, smoothing, diverge)
    if len(examples) == 0:
        raise ValueError("there are no examples to sweep on")
    if lock is not None:
        with lock:
            weights = model.weights()
    else:
        weights = model.weights()
    copy = CharacterLM(model.vocab_size, model.embed_dim, model.hidden_dim, model.context_length,
                       n_hidden=model.n_hidden, activation=model.activation, engine="fused", seed=0)
    copy.load_weights(weights)
    order = _order(len(examples), steps * batch_size, seed)
    # the run's own optimiser (Adam's good lr is a hundred times SGD's), fresh: its momentum starts at the sweep
    optimizer = optimizer_for(copy, config) if config is not None else SGD(copy, lr_min)
    optimizer.clip_value, optimizer.clip_norm = clip_value, clip_norm
    rows: list[LRFinderRow] = []
    warmup = min(round(smoothing / (1 - smoothing)), steps // 4)  # 19 steps at 0.95: the average settles
    average, best = 0.0, math.inf
    stop, message = "finished", f"finished: {steps} steps from lr {lr_min:g} to {lr_max:g}"
    for i, lr in enumerate(sweep_lrs(lr_min, lr_max, steps)):
        optimizer.zero_grad()
        loss = _mean_loss_backward(copy, examples, order[i * batch_size:(i + 1) * batch_size])
        if loss is None or not optimizer.grads_finite():
            stop = "non_finite"
            message = f"the loss or its gradients became infinite or NaN at step {i + 1} (lr {lr:.3g}): stopped there"
            break
        optimizer.lr = lr
        optimizer.step(batch_size)
        average = smoothing * average + (1 - smoothing) * loss
        smoothed = average / (1 - smoothing ** (i + 1))  # debiased: the average starts from 0
        rows.append(LRFinderRow(i + 1, lr, loss, smoothed))
        if i >= warmup:
            best = min(best, smoothed)
        if smoothed > diverge * best and i + 1 < steps:
            stop = "diverged"
            message = (f"diverged at step {i + 1} (lr {lr:.3g}): the smoothed loss {smoothed:.4g} is over "
                       f"{diverge:g} × its lowest, {best:.4f}")
            break
    return LRFinderResult(tuple(rows), lr_min, lr_max, steps, seed, batch_size, stop, message, warmup)


def _check_arguments(lr_min, lr_max, steps, batch_size, smoothing, diverge) -> None:
    for name, value in (("lr_min", lr_min), ("lr_max", lr_max), ("smoothing", smoothing), ("diverge", diverge)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
    if not 0 < lr_min < lr_max:
        raise ValueError(f"the sweep needs 0 < lr_min < lr_max, not {lr_min:g} and {lr_max:g}")
    for name, value, least in (("steps", steps, 2), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be a whole number ≥ {least}, not {value!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), not {smoothing:g}")
    if not diverge > 1:
        raise ValueError(f"diverge must be above 1, not {diverge:g}")


def _order(n: int, count: int, seed: int) -> list[int]:
    """`count` example indices below `n` in a random order fixed by `seed`: no example twice until all
    have been taken (a text with fewer examples than the sweep's steps goes round again, reshuffled)."""
    rng = random.Random(f"lr-find:{seed}")
    order: list[int] = []
    while len(order) < count:
        order += rng.sample(range(n), min(n, count - len(order)))
    return order


def _mean_loss_backward(model: CharacterLM, examples: Sequence, indices: list[int]) -> float | None:
    """The mean loss of these examples, their gradients summed in the model's tables; None if a loss is
    not finite."""
    total = 0.0
    for j in indices:
        context, target = examples[j]
        loss = model.loss(context, target)
        if not math.isfinite(loss.data):
            return None
        loss.backward()
        total += loss.data
    return total / len(indices)

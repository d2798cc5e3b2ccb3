"""Summaries of a run's history that stay the same size however long the run goes."""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import NamedTuple


def short_number(x: float | None, digits: int = 3) -> str:
    """A loss or a perplexity as a few characters: `2.215`, `1.23e+07` when huge (a diverging run's 4.56e+231
    is not 232 digits), `nan`, `-` when there is none."""
    return "-" if x is None else f"{x:.{digits}f}" if abs(x) < 1e6 or x != x else f"{x:.2e}"


class DownsampledSeries:
    """A whole series kept as at most `capacity` bucket means: when full, neighbouring buckets merge.

    Memory is bounded and the curve always spans the run from its first point to its last.
    """

    def __init__(self, capacity: int = 256):
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number of at least 2")
        self.capacity = capacity
        self.bucket_size = 1  # points per full bucket
        self._means: list[float] = []
        self._open_sum = 0.0
        self._open_count = 0

    def append(self, value: float) -> None:
        self._open_sum += value
        self._open_count += 1
        if self._open_count == self.bucket_size:
            self._means.append(self._open_sum / self._open_count)
            self._open_sum, self._open_count = 0.0, 0
            if len(self._means) == self.capacity:
                self._means = [(a + b) / 2 for a, b in zip(self._means[::2], self._means[1::2])]
                self.bucket_size *= 2

    def extend(self, values) -> None:
        for v in values:
            self.append(v)

    def values(self) -> list[float]:
        """Bucket means, oldest first, with the partly filled last bucket included."""
        tail = [self._open_sum / self._open_count] if self._open_count else []
        return self._means + tail

    def __len__(self) -> int:
        return len(self._means) + (1 if self._open_count else 0)

    def positions(self) -> list[float]:
        """Where each of `values()` sits in the series: the mean 1-based index of the points it averages."""
        size = self.bucket_size
        full = [i * size + (size + 1) / 2 for i in range(len(self._means))]
        return full + ([len(self._means) * size + (self._open_count + 1) / 2] if self._open_count else [])

    @property
    def count(self) -> int:
        """Points appended so far."""
        return len(self._means) * self.bucket_size + self._open_count

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def to_json(self) -> dict:
        """Everything it holds, so that a series read back goes on exactly as this one would."""
        return {"capacity": self.capacity, "bucket_size": self.bucket_size, "means": list(self._means),
                "open_sum": self._open_sum, "open_count": self._open_count}

    @classmethod
    def from_json(cls, data) -> DownsampledSeries:
        """A series as `to_json` wrote it, every field checked (a ValueError names the first bad one)."""
        series = cls.__new__(cls)
        series._restore(data)
        return series

    def _restore(self, data) -> None:
        check(isinstance(data, dict), "must be an object")
        capacity, size, means = data.get("capacity"), data.get("bucket_size"), data.get("means")
        check(is_count(capacity) and capacity >= 2 and capacity % 2 == 0, "capacity must be an even number ≥ 2")
        check(is_count(size) and size >= 1 and size & (size - 1) == 0, "bucket_size must be a power of 2")
        check(isinstance(means, list) and len(means) < capacity and all(is_finite(m) for m in means),
               "means must be a list of fewer numbers than the capacity")
        check(is_count(data.get("open_count")) and data["open_count"] < size, "open_count must be below bucket_size")
        check(is_finite(data.get("open_sum")), "open_sum must be a number")
        self.capacity, self.bucket_size, self._means = capacity, size, [float(m) for m in means]
        self._open_sum, self._open_count = float(data["open_sum"]), data["open_count"]


class SmoothedSeries(DownsampledSeries):
    """An exponential moving average of a series (weight `smoothing` on the newest value), downsampled.

    Debiased as TensorBoard's is: the average is divided by the weight its terms have so far, so the
    first points are their own mean rather than the first point dragged out (one unlucky first example
    would otherwise set the curve's scale for hundreds of steps)."""

    def __init__(self, capacity: int = 256, smoothing: float = 0.002):  # ~500 steps: one example's loss is noisy
        super().__init__(capacity)
        self.smoothing = smoothing
        self.current: float | None = None
        self._average = 0.0
        self._weight = 0.0  # 1 - (1 - smoothing)^n: what the average's terms add up to

    def append(self, value: float) -> None:
        self._average += self.smoothing * (value - self._average)
        self._weight += self.smoothing * (1.0 - self._weight)
        self.current = self._average / self._weight
        super().append(self.current)

    def to_json(self) -> dict:
        return {**super().to_json(), "smoothing": self.smoothing, "current": self.current, "average": self._average,
                "weight": self._weight}

    def _restore(self, data) -> None:
        super()._restore(data)
        smoothing, weight, current = data.get("smoothing"), data.get("weight"), data.get("current")
        check(is_finite(smoothing) and 0 < smoothing <= 1, "smoothing must be a number in (0, 1]")
        check(is_finite(weight) and 0 <= weight <= 1, "weight must be a number in [0, 1]")
        check(is_finite(data.get("average")), "average must be a number")
        check((current is None) == (self.count == 0) and (current is None or is_finite(current)),
               "current must be a number once there is a point, and null before")
        self.smoothing, self._weight, self._average = float(smoothing), float(weight), float(data["average"])
        self.current = None if current is None else float(current)


def check(condition: bool, message: str) -> None:
    """Raise a ValueError saying `message` unless `condition` (checking what a file holds)."""
    if not condition:
        raise ValueError(message)


def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


IMPROVEMENT = 1e-3  # a validation loss must beat the best by this much to count as better
OVERFITTING = 1.05  # the latest validation this far above its best reads as rising, not noise
TREND_WINDOW = 4  # evaluations averaged to tell a falling validation loss from noise


def best_point(validation: list[tuple[int, float]]) -> tuple[int, float]:
    """The (step, loss) of the lowest validation loss, the first of equals; `validation` must not be empty."""
    return min(validation, key=lambda point: (point[1], point[0]))


def thinned_validation(validation: list[tuple[int, float]], most: int) -> list[tuple[int, float]]:
    """About `most` of the (step, loss) `validation` points, spread evenly over the steps, with the first, the best and
    the latest 2 × TREND_WINDOW kept: what a chart, the best and the trend need of a long run's evaluations."""
    kept = {0, validation.index(best_point(validation)), *range(max(0, len(validation) - 2 * TREND_WINDOW), len(validation))}
    steps = [step for step, _ in validation]
    first, last = steps[0], steps[-1]
    for i in range(most):  # the first point at or after each of `most` evenly spaced steps
        kept.add(bisect_left(steps, first + (last - first) * i / most))
    return [validation[i] for i in sorted(kept)]


def evaluations_since_best(validation: list[tuple[int, float]]) -> int:
    """Evaluations after the best one (0 when the latest is the best, or there is none)."""
    if not validation:
        return 0
    best_step = best_point(validation)[0]
    return sum(1 for step, _ in validation if step > best_step)


class Verdict(NamedTuple):
    text: str
    warning: bool = False  # something to act on: overfitting, or a step size too big


def validation_verdict(validation: list[tuple[int, float]], training_rising: bool = False,
                       since_best: int | None = None, training: float | None = None) -> Verdict:
    """In words: is validation still improving? `validation` is (step, loss) in order; `training_rising`
    says whether the smoothed training loss is going up too (then the step size is the suspect); `since_best`, the
    evaluations after the best when `validation` has been thinned (by default they are counted in it); `training`,
    the smoothed training loss now, to say how far validation is above it."""
    if not validation:
        return Verdict("")
    best_step, best = best_point(validation)
    if len(validation) == 1:
        return Verdict(f"first validation: {best:.3f} at step {best_step:,}")
    since = evaluations_since_best(validation) if since_best is None else since_best
    if since == 0:
        return Verdict(f"validation improving: best {best:.3f} at step {best_step:,}")
    # One evaluation is noisy: a run whose latest evaluations are lower on average than the ones before
    # is still learning, whichever of them was the single best.
    losses = [loss for _, loss in validation]
    window = min(TREND_WINDOW, len(losses) // 2)
    recent, before = losses[-window:], losses[-2 * window : -window]
    if window >= 2 and sum(recent) / window < sum(before) / window - IMPROVEMENT:
        return Verdict(f"validation still falling on average (best {best:.3f} at step {best_step:,})")
    evaluations = "evaluation" if since == 1 else "evaluations"
    text = f"validation has not improved for {since} {evaluations} (best {best:.3f} at step {best_step:,})"
    if since >= 3 and validation[-1][1] > OVERFITTING * best:
        if training_rising:
            return Verdict(text + ": the training loss is rising too — the learning rate may be too high", warning=True)
        last = validation[-1][1]
        gap = f" is {last - training:.2f} above training and" if training is not None else ""
        return Verdict(f"validation {last:.2f}{gap} rising since step {best_step:,}: overfitting — try dropout, "
                       "weight decay, a smaller model, more text, or patience", warning=True)
    return Verdict(text)

"""The loops the app runs in its thread workers. They touch no widget: they only post messages."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Callable

from textual.message import Message

from charlm_tui.messages import GeneratedText, GenerationFinished, SpeedMeasured, TrainingProgress, TrainingStopped
from core.metrics import DownsampledSeries, SmoothedSeries, best_point, validation_verdict
from core.run import Run
from core.sampling import Prompt, Sampler
from core.session import Session
from core.training import StepEvent, StoppedEvent, ValidationEvent

Post = Callable[[Message], object]

PROGRESS_INTERVAL = 0.25  # seconds between progress messages: a few a second looks smooth and keeps keys snappy
TEXT_INTERVAL = 1 / 30  # seconds between batches of generated characters


class LossCurves:
    """The smoothed training loss and the validation loss of a run, downsampled to a fixed size."""

    def __init__(self, run: Run, capacity: int = 256):
        self.run = run
        self.validation = DownsampledSeries(capacity)
        self.validation.extend(loss for _, loss in run.trainer.state.validation)

    @property
    def training(self) -> SmoothedSeries:
        """The trainer's own curve of the whole run: it keeps it, a checkpoint saves it."""
        return self.run.trainer.state.loss_curve


RISING = 1.1  # the smoothed training loss this far above its lowest reads as rising
EPOCH_MARKS = 21  # the chart marks up to 20 epochs; one more tells it there are too many
CHART_POINTS = 256


def thinned(points: list[tuple[int, float]], most: int = CHART_POINTS) -> list[tuple[int, float]]:
    """At most about `most` of `points`, evenly chosen, always with the best and the last."""
    if len(points) <= most:
        return list(points)
    return sorted({*points[:: len(points) // most + 1], best_point(points), points[-1]})


def progress_message(run: Run, curves: LossCurves, last: StepEvent) -> TrainingProgress:
    trainer = run.trainer
    validation = trainer.state.validation
    curve = curves.training.values()
    rising = bool(curve) and curve[-1] > RISING * min(curve)
    return TrainingProgress(
        step=last.step, total_steps=trainer.total_steps, epoch=last.epoch, epochs=trainer.config.epochs,
        time_budget=None if trainer.config.minutes is None else (trainer.state.seconds, 60 * trainer.config.minutes),
        loss=curves.training.current, example_loss=last.loss, avg_loss=last.avg_loss,
        steps_per_sec=last.steps_per_sec, learning_rate=last.learning_rate, curve=curve,
        curve_steps=curves.training.positions(), validation_points=thinned(validation),
        epoch_steps=[(k + 1) * trainer.steps_per_epoch for k in range(min(trainer.state.epoch, EPOCH_MARKS))],
        validation_curve=curves.validation.values(),
        validation_loss=validation[-1][1] if validation else None,
        verdict=validation_verdict(validation, rising, trainer.evaluations_since_best, curves.training.current),
    )


def train_loop(session: Session, curves: LossCurves, post: Post) -> None:
    """Train until the session stops, posting progress at most every PROGRESS_INTERVAL seconds."""
    last_post = 0.0
    last_step: StepEvent | None = None
    for event in session.train():
        if isinstance(event, StepEvent):
            last_step = event
        elif isinstance(event, ValidationEvent):
            curves.validation.append(event.loss)
        now = time.monotonic()
        if last_step is not None and (now - last_post >= PROGRESS_INTERVAL or isinstance(event, StoppedEvent)):
            post(progress_message(session.run, curves, last_step))
            last_post = now
    post(TrainingStopped(event.reason, event.message))


def sample_loop(sampler: Sampler, prompt: Prompt, length: int, temperature: float, top_k: int | None,
                generation: int, cancel: threading.Event, post: Post, top_p: float | None = None) -> None:
    """Stream `length` characters, posting them in small batches so they appear as they are made."""
    pending: list[str] = []
    last_post = time.monotonic()
    for char in sampler.stream(prompt, length, temperature, top_k, cancel, top_p=top_p):
        pending.append(char)
        now = time.monotonic()
        if now - last_post >= TEXT_INTERVAL:
            post(GeneratedText(generation, "".join(pending)))
            pending.clear()
            last_post = now
    if pending:
        post(GeneratedText(generation, "".join(pending)))
    post(GenerationFinished(generation, cancel.is_set()))


def measure_speed(run: Run, bursts: int, steps: int, post: Post) -> None:
    """Time `bursts` bursts of `steps` steps of a throwaway run, to estimate how long an epoch of any configuration
    takes: the median burst, as a run's steps meet the same interruptions (the fastest would promise too much)."""
    trainer = run.trainer
    trainer.step()  # warm-up
    times = []
    for _ in range(bursts):
        start = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        times.append((time.perf_counter() - start) / steps)
    post(SpeedMeasured(statistics.median(times) / run.model.num_parameters()))

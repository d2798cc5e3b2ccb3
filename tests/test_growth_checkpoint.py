"""Nothing in a checkpoint grows with the steps trained (issue 22): the loss history is a bounded summary, an older
checkpoint holding every loss still loads and resumes bit for bit, and a long run's evaluations are thinned without
losing what early stopping and the verdict need."""

import json
import random
from dataclasses import replace

from core.data import Corpus
from core.metrics import TREND_WINDOW, best_point
from core.run import Run
from core.settings import RunConfig
from core.training import RECENT_LOSSES, VALIDATION_KEPT, StepEvent, StopReason, TrainerState

SMALL = dict(context_length=4, embed_dim=8, hidden_dim=32, epochs=None, validation_fraction=0.1)


def small_run(proverbs, **settings) -> Run:
    return Run.new(Corpus(proverbs * 5, "proverbs"), RunConfig(**{**SMALL, "max_steps": 10**9, **settings}))


def forge(run: Run, steps: int) -> None:
    """Give `run` the state of `steps` steps of training, through the trainer's own records: a loss a step, an
    evaluation every `eval_every` steps (training a million steps would take hours)."""
    state, rng, every = run.trainer.state, random.Random(steps), run.config.eval_every
    for step in range(1, steps + 1):
        state.add_loss(2.0 + rng.random())
        if step % every == 0:
            state.add_validation(step, 2.5 - step / 1e7 + rng.random() / 10)
    state.step = steps


def test_a_checkpoint_after_a_million_steps_is_the_size_of_one_after_ten_thousand(tmp_path, proverbs):
    sizes = {}
    for steps in (10_000, 1_000_000):
        run = small_run(proverbs)
        forge(run, steps)
        path = run.save(tmp_path / f"{steps}.json")
        sizes[steps] = path.stat().st_size
        loaded = Run.load(path, run.corpus)  # it opens what it wrote, and trains on
        assert loaded.trainer.state == run.trainer.state
        assert loaded.trainer.run(max_steps=1).reason is StopReason.CANCELLED and loaded.trainer.state.step == steps + 1
    assert (sizes[1_000_000] - sizes[10_000]) / 990_000 < 1, sizes


def test_an_older_checkpoint_holding_every_loss_loads_and_resumes_bit_for_bit(tmp_path, proverbs):
    steps = RECENT_LOSSES + 300  # more losses than a checkpoint keeps now
    straight = small_run(proverbs, max_steps=steps + 200, eval_every=50, seed=3)
    every_loss = []
    straight.trainer.run(lambda e: isinstance(e, StepEvent) and every_loss.append(e.loss), max_steps=steps)
    path = straight.save(tmp_path / "v4.json")
    data = json.loads(path.read_text())
    trainer = data["trainer"]
    del trainer["loss_curve"], trainer["evaluations_since_best"]
    trainer["losses"], data["version"] = every_loss, 3  # as version 3 saved it
    path.write_text(json.dumps(data))

    loaded = Run.load(path, straight.corpus)
    assert loaded.trainer.state.losses == every_loss  # until the next step keeps only the latest
    kept = replace(loaded.trainer.state, losses=every_loss[-RECENT_LOSSES:])
    assert kept == straight.trainer.state  # the curve made from every loss is the one the run kept as it went
    assert loaded.trainer.last_step_event() == straight.trainer.last_step_event()
    loaded.trainer.run()
    straight.trainer.run()
    assert loaded.model.weights() == straight.model.weights() and loaded.trainer.state == straight.trainer.state


def test_an_older_checkpoint_saved_at_an_epoch_end_shows_that_epochs_average(tmp_path, proverbs):
    """Before version 4 the epoch's sum was reset at its end: its average comes from its losses, all kept then."""
    run = small_run(proverbs, max_steps=10**6)
    epoch = run.trainer.steps_per_epoch
    every_loss = []
    run.trainer.run(lambda e: isinstance(e, StepEvent) and every_loss.append(e.loss), max_steps=epoch)
    data = json.loads(run.save(tmp_path / "end.json").read_text())
    trainer = data["trainer"]
    del trainer["loss_curve"], trainer["evaluations_since_best"]
    trainer.update(losses=every_loss, epoch_loss_sum=0.0)
    data["version"] = 3
    (tmp_path / "end.json").write_text(json.dumps(data))
    loaded = Run.load(tmp_path / "end.json", run.corpus).trainer.last_step_event()
    assert loaded.avg_loss == run.trainer.last_step_event().avg_loss == sum(every_loss) / epoch


def test_a_long_runs_evaluations_are_thinned_keeping_the_first_the_best_and_the_latest():
    state, rng = TrainerState(), random.Random(0)
    losses = [3.0 - i / 10_000 if i < 6_000 else 2.5 + rng.random() for i in range(20_000)]  # best at 5,999
    for i, loss in enumerate(losses):
        state.add_validation(10 * (i + 1), loss)
        assert len(state.validation) <= VALIDATION_KEPT
    kept = state.validation
    assert kept[0] == (10, 3.0) and best_point(kept) == (60_000, losses[5_999])
    assert kept[-2 * TREND_WINDOW:] == [(10 * (i + 1), losses[i]) for i in range(20_000 - 2 * TREND_WINDOW, 20_000)]
    assert state.evaluations_since_best == 20_000 - 6_000  # every evaluation counted, not only those kept
    steps = [step for step, _ in kept]
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert steps == sorted(steps) and max(gaps) < 0.01 * 200_000  # spread over the whole run: no hole of 1 % of it


def test_early_stopping_counts_every_evaluation_of_a_run_thinned_many_times(tmp_path, proverbs):
    run = small_run(proverbs, patience=3 * VALIDATION_KEPT)
    state = run.trainer.state
    for step in range(1, 3 * VALIDATION_KEPT + 2):
        state.add_loss(1.0)
        state.add_validation(step, 0.5 if step == 1 else 1.0)  # a best no later evaluation beats
        state.step = step
        assert run.trainer.stopped_early == (step == 3 * VALIDATION_KEPT + 1)
    assert len(state.validation) <= VALIDATION_KEPT
    assert run.trainer.stopped_early and run.trainer.evaluations_since_best == 3 * VALIDATION_KEPT
    again = Run.load(run.save(tmp_path / "patient.json"), run.corpus).trainer
    assert again.stopped_early and again.evaluations_since_best == 3 * VALIDATION_KEPT

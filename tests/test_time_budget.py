"""A budget in minutes (issue 23): training stops once its time is spent, and the schedule follows the share of it
used, so that "train 10 minutes" decays at its end on any machine."""

import math

import pytest

from charlm_tui.arguments import build_parser, given_settings
from core.corpora import resolve_corpus
from core.optim import scheduled_lr
from core.run import Run
from core.settings import RunConfig

TINY = dict(context_length=3, embed_dim=4, hidden_dim=8, eval_every=10**6)


def test_the_schedule_follows_the_share_of_the_time_spent():
    cosine = RunConfig(**TINY, minutes=10, max_steps=None, lr_schedule="cosine", learning_rate=0.1, lr_decay=0.01)
    assert scheduled_lr(cosine, 5000, None, 0.0) == pytest.approx(0.1)
    assert scheduled_lr(cosine, 5000, None, 0.5) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))  # halfway down
    assert scheduled_lr(cosine, 5000, None, 1.0) == pytest.approx(0.001)
    step = cosine.replace(lr_schedule="step", decay_at=0.75)
    assert [scheduled_lr(step, 10, None, share) for share in (0.74, 0.75)] == pytest.approx([0.1, 0.001])
    both = cosine.replace(max_steps=1000)  # whichever budget runs out first leads
    assert scheduled_lr(both, 900, 1000, 0.1) == scheduled_lr(both, 900, 1000, None)
    assert scheduled_lr(both, 100, 1000, 0.9) == scheduled_lr(both, 900, None, 0.9)


def test_a_run_stops_when_its_minutes_are_spent_and_its_lr_follows_the_clock():
    run = Run.new(resolve_corpus("names"), RunConfig(**TINY, minutes=0.02, max_steps=None, lr_schedule="cosine",
                                                     learning_rate=0.1, lr_decay=0.01))
    state = run.trainer.state
    state.seconds = 0.6  # half of 1.2 s spent
    assert run.trainer.learning_rate == pytest.approx(0.1 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.5))))
    state.seconds = 0.0
    stopped = run.trainer.run()
    assert state.seconds >= 1.2 and run.trainer.finished and state.step > 0
    assert stopped.message.startswith(f"training finished after {state.step:,} steps, in its 0.02 minutes")


def test_a_resumed_run_goes_on_with_the_time_it_had_left(tmp_path):
    config = RunConfig(**TINY, minutes=5, max_steps=None)
    run = Run.new(resolve_corpus("names"), config)
    run.trainer.run(max_steps=20)
    spent = run.trainer.state.seconds
    assert spent > 0
    resumed = Run.load(run.save(tmp_path / "timed.json"), resolve_corpus("names"))
    assert resumed.trainer.state.seconds == spent and resumed.trainer.time_spent == spent / 300


def test_minutes_alone_is_the_runs_only_budget():
    args = build_parser().parse_args(["--headless", "--minutes", "10"])
    assert {k: given_settings(args)[k] for k in ("minutes", "max_steps", "epochs")} == {
        "minutes": 10.0, "max_steps": None, "epochs": None}

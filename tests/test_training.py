import math
import random
import threading
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from core.checkpoint import load_checkpoint
from core.corpora import resolve_corpus
from core.data import Corpus
from core.run import Run
from core.settings import RunConfig, SettingError
from core.sampling import FrozenModel
from core.training import (RECENT_LOSSES, EpochEvent, EpochOrder, StepEvent, StoppedEvent, StopReason,
                           ValidationEvent)

SMALL = dict(context_length=4, embed_dim=8, hidden_dim=32)


def small_run(text, steps=None, epochs=None, lr=0.05, seed=0, val=0.1, **train):
    config = RunConfig(**SMALL, learning_rate=lr, epochs=epochs, max_steps=steps, seed=seed, validation_fraction=val, **train)
    return Run.new(Corpus(text, "proverbs"), config)


def test_training_lowers_the_loss(proverbs):
    run = small_run(proverbs, steps=3000)
    first = []
    run.trainer.run(lambda event: len(first) < 200 and isinstance(event, StepEvent) and first.append(event.loss))
    losses = run.trainer.state.losses
    assert len(losses) == RECENT_LOSSES  # the latest ones only: a run's state does not grow with its steps
    first, last = sum(first) / 200, sum(losses[-200:]) / 200
    assert last < first - 1.0, (first, last)


def test_training_lowers_the_validation_loss():
    """On unseen text: better than the untrained model, and better than any prediction that ignores the
    context (the characters' frequencies in the training text), so what was learnt generalises."""
    config = RunConfig(**SMALL, learning_rate=0.05, max_steps=3000, epochs=None, validation_fraction=0.1)
    run = Run.new(resolve_corpus("names"), config)
    train, validation = run.trainer.train_examples, run.trainer.validation_examples
    frequency = {c: n / len(train) for c, n in Counter(target for _, target in train).items()}
    context_free = -sum(math.log(frequency[target]) for _, target in validation) / len(validation)
    untrained = FrozenModel.from_model(run.model).mean_loss(validation)
    run.trainer.run()
    trained = FrozenModel.from_model(run.model).mean_loss(validation)
    assert trained < untrained - 0.5, (untrained, trained)
    assert trained < context_free - 0.2, (context_free, trained)


def test_events_report_steps_epochs_validation_and_stop(proverbs):
    run = small_run(proverbs * 5, epochs=2, eval_every=100)  # big enough for a validation set
    events = list(run.trainer.events())
    steps = [e for e in events if isinstance(e, StepEvent)]
    n = len(run.trainer.train_examples)
    assert [e.step for e in steps] == list(range(1, 2 * n + 1))
    assert [e.epoch for e in events if isinstance(e, EpochEvent)] == [1, 2]
    expected = [s for s in range(1, 2 * n + 1) if s % 100 == 0 or s % n == 0]
    assert [e.step for e in events if isinstance(e, ValidationEvent)] == expected
    assert isinstance(events[-1], StoppedEvent) and events[-1].reason is StopReason.FINISHED
    assert steps[-1].avg_loss == pytest.approx(sum(run.trainer.state.losses[-n:]) / n)
    assert run.trainer.last_step_event().avg_loss == steps[-1].avg_loss  # the epoch just finished, as it was said


@pytest.mark.parametrize("stop_at", ["mid-epoch", "epoch end"])
def test_resume_is_bit_identical(proverbs, tmp_path, stop_at):
    straight = small_run(proverbs, steps=500, seed=7)
    straight.trainer.run()

    first = small_run(proverbs, steps=500, seed=7)
    first.trainer.run(max_steps=333 if stop_at == "mid-epoch" else len(first.trainer.train_examples))
    assert (first.trainer.state.index == 0) == (stop_at == "epoch end")
    path = first.save(tmp_path / "ckpt.json")
    resumed = Run.load(path, Corpus(proverbs, "proverbs"))
    resumed.trainer.run()

    assert resumed.trainer.state.step == 500
    assert resumed.model.weights() == straight.model.weights()
    assert resumed.trainer.state == straight.trainer.state  # the losses, their curve, the validation…


def test_training_keeps_the_weights_packed(proverbs):
    """Nothing on the trainer's path asks for Values, so it stays on the fast path of the tables."""
    run = small_run(proverbs, steps=30, eval_every=10, clip_value=1.0, clip_norm=1.0)
    run.trainer.run()
    run.trainer.snapshot()
    assert all(table.packed for table in run.model.tables())


def test_training_on_unpacked_weights_is_the_same_run(proverbs):
    packed, unpacked = small_run(proverbs, steps=300, clip_value=0.5), small_run(proverbs, steps=300, clip_value=0.5)
    unpacked.model.parameters()  # from now on its weights are Values
    packed.trainer.run()
    unpacked.trainer.run()
    assert not any(table.packed for table in unpacked.model.tables())
    assert unpacked.model.weights() == packed.model.weights()
    assert unpacked.trainer.state == packed.trainer.state


def test_a_new_learning_rate_applies_from_the_next_step(proverbs):
    def largest_move(before, after):
        return max(abs(a - b) for tb, ta in zip(before, after) for rb, ra in zip(tb, ta) for a, b in zip(ra, rb))

    run = small_run(proverbs, steps=20, lr=0.05)
    start = run.model.weights()
    run.trainer.run(max_steps=10)
    before = run.model.weights()
    run.trainer.config = run.trainer.config.replace(learning_rate=1e-6)
    run.trainer.run()
    assert run.trainer.state.step == 20
    assert 0 < largest_move(before, run.model.weights()) < 1e-4 < largest_move(start, before)


def test_trainer_leaves_the_global_random_alone(proverbs):
    random.seed(123)
    expected = random.random()
    random.seed(123)
    small_run(proverbs, steps=50).trainer.run()
    assert random.random() == expected


def test_each_epoch_is_a_fresh_shuffle(proverbs):
    run = small_run(proverbs, epochs=2)
    trainer = run.trainer
    trainer.step()
    first = list(trainer._order)
    trainer.run(max_steps=len(first))
    assert sorted(trainer._order) == sorted(first) and trainer._order != first


def test_cancel_stops_between_steps(proverbs):
    run = small_run(proverbs, epochs=100)
    cancel = threading.Event()
    seen = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, StepEvent) and event.step == 25:
            cancel.set()

    stopped = run.trainer.run(on_event, cancel)
    assert stopped.reason is StopReason.CANCELLED
    assert run.trainer.state.step == 25


def test_non_finite_step_is_not_applied(proverbs):
    run = small_run(proverbs, steps=100, lr=0.05)
    run.trainer.run(max_steps=10)
    before = run.model.weights()
    run.model.output.bias.rows()[0][0] = math.inf  # poison a weight every step uses
    poisoned = run.model.weights()
    stopped = run.trainer.run()
    assert stopped.reason is StopReason.NON_FINITE
    assert "not applied" in stopped.message
    assert run.model.weights() == poisoned  # nothing moved after the bad step
    assert run.trainer.state.step == len(run.trainer.state.losses) == 10
    assert before != poisoned


def test_exploding_learning_rate_stops_with_a_reason(proverbs):
    run = small_run(proverbs, steps=5000, lr=10.0)  # the highest the settings allow
    stopped = run.trainer.run()
    assert stopped.reason is StopReason.NON_FINITE
    assert all(math.isfinite(v) for t in run.model.weights() for r in t for v in r)


def test_clipping_bounds_the_update(proverbs):
    run = small_run(proverbs, steps=1, lr=1.0, clip_value=0.001)
    before = run.model.weights()
    run.trainer.run()
    moves = [abs(a - b) for tb, ta in zip(before, run.model.weights()) for rb, ra in zip(tb, ta) for a, b in zip(ra, rb)]
    assert max(moves) <= 0.001 + 1e-15 and max(moves) > 0


def test_norm_clipping_bounds_the_global_norm(proverbs):
    run = small_run(proverbs, steps=1, lr=1.0, clip_norm=0.01)
    before = run.model.weights()
    run.trainer.run()
    moves = [a - b for tb, ta in zip(before, run.model.weights()) for rb, ra in zip(tb, ta) for a, b in zip(ra, rb)]
    assert math.sqrt(sum(m * m for m in moves)) == pytest.approx(0.01, rel=1e-6)


@pytest.mark.parametrize("bad", [dict(learning_rate=0), dict(learning_rate=float("nan")), dict(epochs=None, max_steps=None),
                                 dict(epochs=0), dict(clip_value=-1.0)])
def test_bad_train_config_is_refused(bad):
    with pytest.raises(SettingError):
        RunConfig(**bad)


def test_checkpoint_round_trip_keeps_everything(proverbs, tmp_path):
    run = small_run(proverbs, steps=50)
    run.trainer.run()
    ckpt = load_checkpoint(run.save(tmp_path / "x.json"))
    assert ckpt.model.weights() == run.model.weights()
    assert ckpt.vocab == run.corpus.vocab
    assert ckpt.state == run.trainer.state
    assert ckpt.config == run.trainer.config
    assert ckpt.model.config() == run.model.config()


@pytest.mark.parametrize("epochs_done", [0, 0.3, 1, 2])  # none, mid-epoch, at an epoch's end
def test_last_step_event_is_rebuilt_from_the_state(proverbs, epochs_done):
    run = small_run(proverbs, epochs=5)
    steps = int(epochs_done * len(run.trainer.train_examples))
    seen = [e for e in run.trainer.events(max_steps=steps) if isinstance(e, StepEvent)]
    rebuilt = run.trainer.last_step_event()
    if not seen:
        assert rebuilt is None
        return
    last = seen[-1]
    assert (rebuilt.step, rebuilt.epoch, rebuilt.index, rebuilt.epoch_size, rebuilt.loss) == \
        (last.step, last.epoch, last.index, last.epoch_size, last.loss)
    assert rebuilt.avg_loss == pytest.approx(last.avg_loss, rel=1e-12)


@given(st.integers(1, 3000), st.integers(0, 2**64 - 1))
@settings(max_examples=60, deadline=None)
def test_an_epoch_order_is_a_permutation(n, key):
    order = EpochOrder(n, key)
    assert sorted(order) == list(range(n))


def test_epoch_orders_differ_by_key_and_cost_nothing_up_front():
    a, b = EpochOrder(1000, 1), EpochOrder(1000, 2)
    assert list(a) != list(b) and list(a) != list(range(1000))
    huge = EpochOrder(10**12, 7)  # a list of that many positions would not fit in memory
    picks = [huge[i] for i in range(1000)]
    assert all(0 <= p < 10**12 for p in picks) and len(set(picks)) == 1000

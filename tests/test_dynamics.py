"""Training dynamics: learning-rate schedules, mini-batches, early stopping, and where validation comes from."""

import json
import math

import pytest

from core.checkpoint import load_checkpoint
from core.corpora import resolve_corpus
from core.data import Corpus
from core.model import CharacterLM
from core.optim import scheduled_lr
from core.run import Run
from core.settings import RunConfig
from core.training import EpochOrder, StopReason

SMALL = dict(context_length=3, embed_dim=4, hidden_dim=8, seed=1)


@pytest.mark.parametrize("schedule, step, expected", [
    ("constant", 0, 0.1), ("constant", 999, 0.1),
    ("step", 499, 0.1), ("step", 500, 0.01), ("step", 999, 0.01),
    ("cosine", 0, 0.1), ("cosine", 500, 0.055), ("cosine", 1000, 0.01),
])
def test_schedules_give_the_learning_rate_of_each_step(schedule, step, expected):
    config = RunConfig(learning_rate=0.1, lr_schedule=schedule, lr_decay=0.1, decay_at=0.5)
    assert scheduled_lr(config, step, 1000) == pytest.approx(expected)


def test_warmup_rises_to_the_learning_rate_then_the_schedule_goes_on():
    config = RunConfig(learning_rate=0.1, lr_schedule="cosine", lr_decay=0.1, warmup_steps=10)
    assert [scheduled_lr(config, s, 110) for s in (0, 4, 9)] == pytest.approx([0.01, 0.05, 0.1])
    assert scheduled_lr(config, 10, 110) == pytest.approx(0.1) and scheduled_lr(config, 110, 110) == pytest.approx(0.01)
    assert scheduled_lr(config, 60, None) == 0.1  # no budget, nothing to decay towards


def gradients(model: CharacterLM, examples) -> list[float]:
    """The sum of the examples' gradients, every parameter in order (the course's Values)."""
    params = model.parameters()
    for p in params:
        p.grad = 0.0
    for context, target in examples:
        model.loss(context, target).backward()
    return [p.grad for p in params]


@pytest.mark.parametrize("batch", [1, 4, 16])
def test_a_mini_batch_update_is_the_mean_of_the_per_example_gradients(proverbs, batch):
    config = RunConfig(**SMALL, batch_size=batch, learning_rate=0.1, validation_fraction=0.0, max_steps=1)
    run = Run.new(Corpus(proverbs * 2, "p"), config)
    before = run.model.weights()
    run.trainer.step()
    train = run.trainer.train_examples
    order = EpochOrder(len(train), run.trainer.state.epoch_key)  # the epoch's order, drawn again from its key
    chosen = [train[order[i]] for i in range(batch)]
    reference = CharacterLM(len(run.corpus.vocab), 4, 8, 3, seed=1)
    reference.load_weights(before)
    mean = [g / batch for g in gradients(reference, chosen)]
    expected = [w - 0.1 * g for w, g in zip((w for table in before for row in table for w in row), mean)]
    after = [w for table in run.model.weights() for row in table for w in row]
    assert max(abs(a - e) for a, e in zip(after, expected)) < 1e-12
    assert run.trainer.state.index == batch and run.trainer.state.step == 1


def test_the_cost_of_an_example_does_not_grow_with_the_batch():
    """Counted, not timed: the work of a batch is its examples' forward and backward passes and one update."""
    corpus = resolve_corpus("names")
    for batch in (1, 32):
        run = Run.new(corpus, RunConfig(**SMALL, batch_size=batch, max_steps=10))
        calls = []
        loss = run.model.loss
        run.model.loss = lambda context, target, *keep: calls.append(1) or loss(context, target, *keep)
        run.trainer.run()
        assert len(calls) == 10 * batch  # one forward (and backward) per example, none more


def test_an_epoch_of_batches_ends_at_the_epoch_and_counts_updates(proverbs):
    config = RunConfig(**SMALL, batch_size=64, validation_fraction=0.0, epochs=2, max_steps=None)
    run = Run.new(Corpus(proverbs, "p"), config)  # 220 examples: 3 batches of 64, then 28
    assert run.trainer.steps_per_epoch == 4 and run.trainer.total_steps == 8
    run.trainer.run()
    assert run.trainer.state.step == 8 and run.trainer.state.epoch == 2


@pytest.mark.parametrize("stop_at", [7, 33])
def test_resume_mid_schedule_and_mid_batch_is_bit_identical(tmp_path, stop_at):
    corpus = resolve_corpus("names")
    config = RunConfig(**SMALL, batch_size=5, lr_schedule="cosine", warmup_steps=10, learning_rate=0.2,
                       max_steps=60, eval_every=20)
    straight = Run.new(corpus, config)
    straight.trainer.run()
    first = Run.new(corpus, config)
    first.trainer.run(max_steps=stop_at)
    first.save(tmp_path / "half.json")
    resumed = Run.resume(load_checkpoint(tmp_path / "half.json"), corpus)
    resumed.trainer.run()
    assert resumed.model.weights() == straight.model.weights()
    assert resumed.trainer.state == straight.trainer.state


def test_early_stopping_goes_back_to_the_best_weights(tmp_path):
    corpus = resolve_corpus("names")
    # a learning rate this high makes validation wander: it stops improving soon
    config = RunConfig(**SMALL, learning_rate=0.5, max_steps=20_000, eval_every=50, eval_examples=300, patience=3)
    run = Run.new(corpus, config)
    stopped = run.trainer.run()
    assert stopped.reason is StopReason.EARLY_STOPPED, stopped
    state = run.trainer.state
    best_step, best = min(state.validation, key=lambda point: (point[1], point[0]))
    assert sum(1 for step, _ in state.validation if step > best_step) == 3
    assert "has not improved for 3 evaluations" in stopped.message and f"best {best:.3f}" in stopped.message
    assert run.model.weights() == state.best_weights
    assert run.trainer.validation_loss() == pytest.approx(best, abs=1e-12)  # the weights of that evaluation
    run.save(tmp_path / "early.json")
    saved = json.loads((tmp_path / "early.json").read_text())
    assert saved["trainer"]["best_weights"] == saved["weights"]
    assert Run.resume(load_checkpoint(tmp_path / "early.json"), corpus).trainer.finished  # patience still holds
    more = Run.resume(load_checkpoint(tmp_path / "early.json"), corpus, config.replace(patience=10))
    assert not more.trainer.finished  # raising patience lets it go on


def test_the_spread_split_is_drawn_by_seed_whole_lines_from_all_through_the_text():
    corpus = resolve_corpus("names")
    split = corpus.split(3, 0.1, seed=0, method="spread")
    again = corpus.split(3, 0.1, seed=0, method="spread")
    other = corpus.split(3, 0.1, seed=1, method="spread")
    assert split.validation.spans == again.validation.spans != other.validation.spans
    assert len(split.train) + len(split.validation) == len(corpus.examples(3))
    assert abs(len(split.validation) - 0.1 * len(corpus.examples(3))) < 20  # whole lines: a little over
    text = corpus.text
    for start, stop in split.validation.spans:
        assert text[start - 1] == "\n" and text[stop - 1] == "\n"  # whole names
    starts = [start for start, _ in split.validation.spans]
    assert min(starts) < 0.05 * len(text) and max(starts) > 0.95 * len(text)  # not the tail: all through it
    held = {p for start, stop in split.validation.spans for p in range(start, stop)}
    assert not held & {p for start, stop in split.train.spans for p in range(start, stop)}


def test_prose_is_held_out_in_runs_of_paragraphs():
    corpus = resolve_corpus("shakespeare")
    split = corpus.split(8, 0.1, seed=0, method="spread")
    assert all(corpus.text[start - 2 : start] == "\n\n" for start, _ in split.validation.spans if start > 8)
    assert len(split.validation.spans) > 5  # spread, not one block
    assert min(start for start, _ in split.validation.spans) < 0.5 * len(corpus.text)
    assert math.isclose(len(split.validation) / len(corpus.examples(8)), 0.1, abs_tol=0.02)

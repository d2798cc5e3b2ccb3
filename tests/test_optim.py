import math
import random

import pytest

from core.model import CharacterLM
from core.optim import SGD

VOCAB, CONTEXT = 6, 4
_rnd = random.Random(0)
EXAMPLES = [([2, 2, 5, 2], 1), ([0, 3, 3, 0], 4)]  # tokens repeated within a context
EXAMPLES += [([_rnd.randrange(VOCAB) for _ in range(CONTEXT)], _rnd.randrange(VOCAB)) for _ in range(10)]


def small_model(**kwargs) -> CharacterLM:
    return CharacterLM(VOCAB, 3, 8, CONTEXT, seed=5, **kwargs)


def course_step(model, params, context, target, lr) -> float:
    """The course's training step, one Value at a time."""
    loss = model.loss(context, target)
    for p in params:
        p.grad = 0.0
    loss.backward()
    for p in params:
        p.data -= lr * p.grad
    return loss.data


def optimizer_step(model, optimizer, context, target) -> float:
    optimizer.zero_grad()
    loss = model.loss(context, target)
    loss.backward()
    optimizer.step()
    return loss.data


COURSE_EXAMPLES = [([(k + i) % 32 for i in range(8)], k) for k in range(3)]


@pytest.mark.parametrize("build, examples", [
    (lambda: small_model(activation="relu"), EXAMPLES),
    (lambda: small_model(activation="tanh"), EXAMPLES),
    (lambda: CharacterLM(32, 32, 128, 8, seed=0), COURSE_EXAMPLES),  # the course's configuration
], ids=["relu", "tanh", "course"])
def test_the_course_loop_gives_exactly_the_weights_of_optimizer_step(build, examples):
    by_values, by_optimizer = build(), build()
    params = by_values.parameters()
    optimizer = SGD(by_optimizer, lr=0.1)
    for context, target in examples:
        assert course_step(by_values, params, context, target, 0.1) == optimizer_step(by_optimizer, optimizer, context, target)
    assert all(table.packed for table in by_optimizer.tables())  # the optimizer took the fast path
    assert by_values.weights() == by_optimizer.weights()
    assert by_values.weights() != build().weights()


def test_a_step_after_two_backward_passes_matches_the_course_loop():
    by_values, by_optimizer = small_model(), small_model()
    params = by_values.parameters()
    for context, target in EXAMPLES[:2]:  # no zeroing in between: each gradient has two terms
        by_values.loss(context, target).backward()
        by_optimizer.loss(context, target).backward()
    for p in params:
        p.data -= 0.1 * p.grad
    SGD(by_optimizer, lr=0.1).step()
    assert by_values.weights() == by_optimizer.weights()


def gradients_after(examples, engine="fused", unpacked=False) -> list[float]:
    model = small_model(engine=engine)
    if unpacked:
        model.parameters()
    for context, target in examples:
        model.loss(context, target).backward()  # no zero_grad in between, as in micrograd
    return [p.grad for p in model.parameters()]


@pytest.mark.parametrize("engine, unpacked", [("fused", False), ("fused", True), ("reference", True)])
def test_gradients_accumulate_across_backward_calls(engine, unpacked):
    first, second = gradients_after(EXAMPLES[:1], engine, unpacked), gradients_after(EXAMPLES[1:2], engine, unpacked)
    both = gradients_after(EXAMPLES[:2], engine, unpacked)
    assert both != first and both != second
    for g, a, b in zip(both, first, second):
        assert math.isclose(g, a + b, rel_tol=1e-12, abs_tol=1e-15)
    for g, r in zip(both, gradients_after(EXAMPLES[:2], "reference")):
        assert math.isclose(g, r, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("read_midway", [False, True])
def test_a_batch_gradient_folded_whole_is_the_sum_example_after_example_to_the_bit(activation, read_midway):
    """A layer hands each example's weight gradient over whole (`add_outers`); folding a batch of them at once
    gives the bits of adding them into each weight one example after the other (unpacked Values). Read midway,
    the rest is added to rows that already hold a gradient."""
    def batch_gradient(unpacked: bool) -> list[float]:
        model = small_model(activation=activation)
        if unpacked:
            model.parameters()
        for i, (context, target) in enumerate(EXAMPLES):
            model.loss(context, target).backward()
            if read_midway and i == 3:
                [table.grad_rows() for table in model.tables()]
        return [g for table in model.tables() for row in table.grad_rows() for g in row]

    packed = batch_gradient(unpacked=False)
    assert packed == batch_gradient(unpacked=True)
    assert sum(g != 0.0 for g in packed) > len(packed) // 2


def test_sgd_step_updates_only_what_has_gradient():
    model = CharacterLM(6, 2, 4, 2, seed=1)
    before = model.weights()
    optimizer = SGD(model, lr=0.1)
    optimizer_step(model, optimizer, [0, 1], 2)
    after = model.weights()
    emb_before, emb_after = before[0], after[0]
    assert emb_after[0] != emb_before[0] and emb_after[1] != emb_before[1]  # context rows move
    assert emb_after[3:] == emb_before[3:]  # rows not in the context do not
    expected = [w - 0.1 * p.grad for w, p in zip([v for t in before for r in t for v in r], model.parameters())]
    for a, b in zip([v for t in after for r in t for v in r], expected):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def test_the_learning_rate_is_read_at_each_step():
    model = small_model()
    optimizer = SGD(model, lr=0.1)
    before = model.weights()
    optimizer.lr = 0.0
    optimizer_step(model, optimizer, *EXAMPLES[0])
    assert model.weights() == before
    optimizer.lr = 0.1
    optimizer_step(model, optimizer, *EXAMPLES[0])
    assert model.weights() != before


def backward_once(unpacked: bool) -> tuple[CharacterLM, SGD]:
    model = small_model()
    if unpacked:
        model.parameters()
    optimizer = SGD(model, lr=0.1)
    model.loss(*EXAMPLES[0]).backward()
    return model, optimizer


@pytest.mark.parametrize("unpacked", [False, True])
def test_clip_grad_value_clips_each_gradient(unpacked):
    model, optimizer = backward_once(unpacked)
    unclipped = gradients_after(EXAMPLES[:1])
    limit = sorted(abs(g) for g in unclipped if g)[len(unclipped) // 4]
    optimizer.clip_grad_value(limit)
    clipped = [p.grad for p in model.parameters()]
    assert clipped == [min(max(g, -limit), limit) for g in unclipped]
    assert clipped != unclipped


@pytest.mark.parametrize("unpacked", [False, True])
def test_clip_grad_norm_scales_the_whole_gradient(unpacked):
    model, optimizer = backward_once(unpacked)
    unclipped = gradients_after(EXAMPLES[:1])
    norm = math.sqrt(sum(g * g for g in unclipped))
    assert optimizer.clip_grad_norm(norm * 2) == pytest.approx(norm, rel=1e-12)  # within the limit: unchanged
    assert [p.grad for p in model.parameters()] == unclipped
    assert optimizer.clip_grad_norm(norm / 4) == pytest.approx(norm, rel=1e-12)
    for g, u in zip([p.grad for p in model.parameters()], unclipped):
        assert math.isclose(g, u / 4, rel_tol=1e-12, abs_tol=1e-18)
    assert optimizer.grad_norm() == pytest.approx(norm / 4, rel=1e-12)


@pytest.mark.parametrize("unpacked", [False, True])
@pytest.mark.parametrize("poison", [math.inf, math.nan])
def test_grads_finite_finds_a_bad_gradient(unpacked, poison):
    model, optimizer = backward_once(unpacked)
    assert optimizer.grads_finite()
    vector = [0.0] * model.hidden_dim
    vector[3] = poison
    model.hidden[1].weight.add_outer(2, 1.0, vector)  # what a layer's backward hands over
    assert not optimizer.grads_finite()

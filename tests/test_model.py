import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.model import CharacterLM, parameter_table


def build_pair(vocab, embed, hidden, context, n_hidden=2, activation="relu", seed=0):
    return [CharacterLM(vocab, embed, hidden, context, n_hidden=n_hidden, activation=activation, engine=e, seed=seed)
            for e in ("fused", "reference")]


def loss_and_grads(model, context, target):
    model.zero_grad()
    loss = model.loss(context, target)
    loss.backward()
    return loss.data, [p.grad for p in model.parameters()]


def assert_close(a, b, rel=1e-9, abs_=1e-12):
    assert math.isclose(a, b, rel_tol=rel, abs_tol=abs_), (a, b)


configs = st.tuples(
    st.integers(2, 9),  # vocab
    st.integers(1, 4),  # embed
    st.integers(1, 6),  # hidden
    st.integers(1, 4),  # context
    st.integers(1, 3),  # hidden layers
    st.sampled_from(["relu", "tanh"]),
    st.integers(0, 10_000),  # seed
)


@settings(max_examples=40, deadline=None)
@given(configs, st.randoms(use_true_random=False))
def test_fused_matches_reference_on_random_configs(config, rnd):
    vocab, embed, hidden, context, n_hidden, activation, seed = config
    fused, reference = build_pair(vocab, embed, hidden, context, n_hidden, activation, seed)
    ctx = [rnd.randrange(vocab) for _ in range(context)]
    target = rnd.randrange(vocab)
    loss_f, grads_f = loss_and_grads(fused, ctx, target)  # packed: the outer products folded when read
    loss_r, grads_r = loss_and_grads(reference, ctx, target)
    assert_close(loss_f, loss_r)
    scale = max(map(abs, grads_r)) or 1.0
    for gf, gr in zip(grads_f, grads_r):
        assert_close(gf, gr, abs_=1e-12 * scale)
    assert not any(table.packed for table in fused.tables())
    assert loss_and_grads(fused, ctx, target) == (loss_f, grads_f)  # unpacked: the same numbers, to the bit


def test_fused_matches_reference_on_the_course_configuration():
    fused, reference = build_pair(32, 32, 128, 8, seed=3)
    rnd = random.Random(1)
    ctx, target = [rnd.randrange(32) for _ in range(8)], 5
    loss_f, grads_f = loss_and_grads(fused, ctx, target)
    loss_r, grads_r = loss_and_grads(reference, ctx, target)
    assert_close(loss_f, loss_r)
    assert sum(g != 0 for g in grads_r) > 1000  # a real test: many gradients are live
    for gf, gr in zip(grads_f, grads_r):
        assert_close(gf, gr, abs_=1e-15)


def test_probabilities_agree_and_sum_to_one():
    fused, reference = build_pair(6, 3, 5, 2, activation="tanh", seed=9)
    pf = [p.data for p in fused.predict_probs([1, 4])]
    pr = [p.data for p in reference.predict_probs([1, 4])]
    assert_close(sum(pf), 1.0)
    for a, b in zip(pf, pr):
        assert_close(a, b)
    # and the fused softmax backpropagates like the elementary one
    for model in (fused, reference):
        model.zero_grad()
        model.predict_probs([1, 4])[2].backward()
    for a, b in zip([p.grad for p in fused.parameters()], [p.grad for p in reference.parameters()]):
        assert_close(a, b, abs_=1e-14)


@pytest.mark.parametrize("engine", ["fused", "reference"])
@pytest.mark.parametrize("n_hidden,activation", [(2, "relu"), (3, "tanh"), (1, "relu")])
def test_gradients_match_central_differences(engine, n_hidden, activation):
    model = CharacterLM(5, 2, 4, 3, n_hidden=n_hidden, activation=activation, engine=engine, seed=11)
    ctx, target = [0, 3, 1], 2
    _, grads = loss_and_grads(model, ctx, target)
    params = model.parameters()
    h = 1e-6
    for p, g in zip(params, grads):
        original = p.data
        p.data = original + h
        up = model.loss(ctx, target).data
        p.data = original - h
        down = model.loss(ctx, target).data
        p.data = original
        assert math.isclose(g, (up - down) / (2 * h), rel_tol=1e-5, abs_tol=1e-7)


def test_reference_engine_backpropagates_a_deep_graph():
    model = CharacterLM(10, 32, 256, 32, engine="reference", seed=0)
    loss = model.loss(list(range(10)) * 3 + [1, 2], 4)
    loss.backward()  # a Linear over 1,024 inputs is a chain of 2,048 nodes: recursion would fail
    assert any(p.grad != 0.0 for p in model.embedding.parameters())


def test_parameters_come_in_the_course_order():
    model = CharacterLM(4, 2, 3, 2, seed=0)
    params = model.parameters()
    emb = model.embedding.table.rows()
    l1 = model.hidden[0]
    assert len(params) == 4 * 2 + (4 * 3 + 3) + (3 * 3 + 3) + (3 * 4 + 4)
    assert [p.data for p in params[:8]] == [v for row in emb for v in row]
    first_layer = [p.data for p in params[8 : 8 + 15]]
    assert first_layer == [v for row in l1.weight.rows() for v in row] + l1.bias.rows()[0]


def test_same_seed_same_weights_in_both_engines():
    fused, reference = build_pair(7, 3, 4, 2, seed=42)
    assert [p.data for p in fused.parameters()] == [p.data for p in reference.parameters()]
    other = CharacterLM(7, 3, 4, 2, seed=43)
    assert [p.data for p in fused.parameters()] != [p.data for p in other.parameters()]


def test_parameter_table_of_the_course_example():
    rows = parameter_table(vocab_size=32, embed_dim=32, hidden_dim=128, context_length=8)
    assert [(r.component, r.count) for r in rows] == [
        ("Embedding", 1024), ("Layer 1", 32896), ("Layer 2", 16512), ("Output", 4128), ("Total", 54560)]
    assert rows[1].shape == "(8×32)×128+128"


@pytest.mark.parametrize("n_hidden", [1, 2, 3])
def test_parameter_table_total_matches_the_model(n_hidden):
    model = CharacterLM(11, 3, 7, 5, n_hidden=n_hidden, seed=0)
    assert model.parameter_table()[-1].count == len(model.parameters()) == model.num_parameters()


@pytest.mark.parametrize("bad", [dict(engine="gpu"), dict(activation="gelu"), dict(hidden_dim=0)])
def test_bad_configuration_is_refused(bad):
    args = dict(vocab_size=4, embed_dim=2, hidden_dim=3, context_length=2) | bad
    with pytest.raises(ValueError):
        CharacterLM(**args)

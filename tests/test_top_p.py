import bisect
import math
import random
from fractions import Fraction
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data import Vocabulary
from core.functional import softmax
from core.model import CharacterLM
from core.sampling import FrozenModel, Sampler, generate, nucleus, prepare_prompt

# exact probability vectors (Fractions that add up to 1), so the properties hold with no rounding slack
weights = st.lists(st.integers(0, 12), min_size=1, max_size=30).filter(any)
exact_probs = weights.map(lambda ws: [Fraction(w, sum(ws)) for w in ws])
exact_p = st.fractions(min_value=0, max_value=1, max_denominator=1000).filter(lambda p: p > 0)


@given(exact_probs, exact_p)
def test_the_nucleus_holds_p_and_is_the_smallest_set_that_does(probs, p):
    kept = nucleus(probs, p)
    assert sum(probs[i] for i in kept) >= p
    assert sum(probs[i] for i in kept[:-1]) < p  # without its least likely member it falls short
    assert len(set(kept)) == len(kept)


@given(exact_probs, exact_p)
def test_the_nucleus_is_the_most_likely_first_ties_by_index(probs, p):
    kept = nucleus(probs, p)
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    assert kept == order[: len(kept)]
    assert kept[0] == max(range(len(probs)), key=lambda i: (probs[i], -i))  # the top-1 (lowest index on a tie)
    assert min(probs[i] for i in kept) >= max((probs[i] for i in order[len(kept):]), default=0)


@given(exact_probs)
def test_a_p_that_is_exactly_a_prefix_mass_keeps_that_prefix(probs):
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    for k in range(1, len(order) + 1):
        if probs[order[k - 1]] > 0:  # a zero adds no mass: the shorter prefix already holds p
            assert nucleus(probs, sum(probs[i] for i in order[:k])) == order[:k]


@given(exact_probs)
def test_p_one_keeps_everything_with_a_nonzero_probability(probs):
    assert sorted(nucleus(probs, 1)) == [i for i, q in enumerate(probs) if q > 0]


@given(st.lists(st.floats(-30, 30), min_size=1, max_size=70), st.floats(0.01, 2.0), st.floats(1e-6, 1.0))
def test_the_nucleus_of_softmax_floats(logits, temperature, p):
    probs = softmax(logits, temperature)
    kept = nucleus(probs, p)
    mass = math.fsum(probs[i] for i in kept)
    assert mass >= p - 1e-12
    assert math.fsum(probs[i] for i in kept[:-1]) < p + 1e-12
    assert probs[kept[0]] == max(probs)
    if p == 1.0:
        assert sorted(kept) == [i for i, q in enumerate(probs) if q > 0]


def test_a_peaked_distribution_keeps_the_top_one():
    probs = [0.05, 0.9, 0.05]
    assert nucleus(probs, 0.5) == [1] and nucleus(probs, 0.9) == [1]
    assert nucleus(probs, 0.91) == [1, 0]  # the tie goes to the lower index
    assert nucleus([0.25] * 4, 0.5) == [0, 1]


@pytest.mark.parametrize("p", [0.0, -0.1, 1.01, float("nan"), None])
def test_a_p_outside_zero_to_one_is_refused(p):
    with pytest.raises(ValueError, match="top_p"):
        nucleus([0.5, 0.5], p)


@pytest.fixture(scope="module")
def untrained():
    model = CharacterLM(20, 4, 8, 3, seed=1)  # near-uniform, so every character gets drawn sometimes
    vocab = Vocabulary("".join(chr(97 + i) for i in range(20)))
    frozen = FrozenModel.from_model(model)
    return frozen, vocab, prepare_prompt("abc", vocab, 3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), temperature=st.floats(0.05, 8.0), p=st.floats(0.01, 0.999),
       top_k=st.one_of(st.none(), st.integers(1, 25)))
def test_sampling_with_top_p_never_leaves_the_nucleus(untrained, seed, temperature, p, top_k):
    frozen, vocab, prompt = untrained
    context = list(prompt.context)
    sampler = Sampler(frozen, vocab, seed=seed)
    for _ in range(30):
        logits = frozen.logits(context)
        if top_k is not None and top_k < len(logits):
            cutoff = sorted(logits, reverse=True)[top_k - 1]
            logits = [z if z >= cutoff else -math.inf for z in logits]
        allowed = set(nucleus(softmax(logits, temperature), p))  # top-k first, then top-p
        idx = sampler.next_index(context, temperature, top_k, top_p=p)
        assert idx in allowed
        context = context[1:] + [idx]


def test_top_p_draws_every_member_of_the_nucleus_and_nothing_else(untrained):
    frozen, vocab, prompt = untrained
    allowed = set(nucleus(frozen.probs(prompt.context, 5.0), 0.3))
    sampler = Sampler(frozen, vocab, seed=3)
    picks = {sampler.next_index(prompt.context, 5.0, top_p=0.3) for _ in range(400)}
    assert 1 < len(allowed) < 20 and picks == allowed


def test_top_p_at_temperature_zero_is_greedy(untrained):
    frozen, vocab, prompt = untrained
    greedy = "".join(Sampler(frozen, vocab, seed=0).stream(prompt, 30, 0.0))
    assert "".join(Sampler(frozen, vocab, seed=5).stream(prompt, 30, 0.0, top_p=0.5)) == greedy


def todays_draws(frozen, vocab, prompt, length, temperature, top_k, seed):
    """The sampler's draws as they were before top_p: softmax, cumulative sums, one bisect per character."""
    rng, context, out = random.Random(seed), list(prompt.context), []
    for _ in range(length):
        logits = frozen.logits(context)
        if top_k is not None and 0 < top_k < len(logits):
            cutoff = sorted(logits, reverse=True)[top_k - 1]
            logits = [z if z >= cutoff else -math.inf for z in logits]
        cumulative = list(accumulate(softmax(logits, temperature)))
        idx = min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)
        out.append(vocab.idx_to_char[idx])
        context = context[1:] + [idx]
    return "".join(out)


@pytest.mark.parametrize("seed, temperature, top_k", [(7, 1.0, None), (11, 0.7, 5), (0, 1.5, None), (3, 0.0, None)])
def test_top_p_off_gives_exactly_todays_draws(untrained, seed, temperature, top_k):
    frozen, vocab, prompt = untrained
    expected = todays_draws(frozen, vocab, prompt, 80, temperature, top_k, seed)
    for kwargs in ({}, {"top_p": None}, {"top_p": 1}, {"top_p": 1.0}):
        assert "".join(Sampler(frozen, vocab, seed=seed).stream(prompt, 80, temperature, top_k, **kwargs)) == expected
    positional = "".join(Sampler(frozen, vocab, seed=seed).stream(prompt, 80, temperature, top_k, None))
    assert positional == expected


def test_stream_refuses_a_bad_top_p_when_called(untrained):
    frozen, vocab, prompt = untrained
    with pytest.raises(ValueError, match="top_p"):
        Sampler(frozen, vocab, seed=0).stream(prompt, 10, 1.0, top_p=0.0)  # before any character is asked for


def test_course_generate_takes_top_p(proverbs):
    from core.data import build_vocab

    char_to_idx, idx_to_char = build_vocab(proverbs)
    model = CharacterLM(len(char_to_idx), 4, 8, 8, seed=0)
    same = [generate(model, idx_to_char, char_to_idx, "The ", 40, 0.9, seed=4, top_p=p) for p in (None, 1.0)]
    assert same[0] == same[1] == generate(model, idx_to_char, char_to_idx, "The ", 40, 0.9, seed=4)
    assert len(generate(model, idx_to_char, char_to_idx, "The ", 40, 0.9, seed=4, top_p=0.5)) == len("The ") + 40

import math
import threading

import pytest

from core.data import Corpus, Vocabulary, build_vocab
from core.model import CharacterLM
from core.run import Run
from core.settings import RunConfig
from core.functional import softmax
from core.sampling import FrozenModel, Sampler, generate, prepare_prompt


@pytest.fixture(scope="module")
def trained(request):
    from conftest import PROVERBS

    run = Run.new(Corpus(PROVERBS, "proverbs"),
                  RunConfig(context_length=8, embed_dim=16, hidden_dim=64, learning_rate=0.03, max_steps=4000, epochs=None,
                            validation_fraction=0.0))
    run.trainer.run()
    return run


def test_frozen_model_matches_the_graph():
    model = CharacterLM(9, 3, 7, 4, n_hidden=3, activation="tanh", seed=2)
    frozen = FrozenModel.from_model(model)
    graph = [v.data for v in model.forward([1, 2, 3, 4])]
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) for a, b in zip(frozen.logits([1, 2, 3, 4]), graph))
    assert math.isclose(frozen.loss([1, 2, 3, 4], 5), model.loss([1, 2, 3, 4], 5).data, rel_tol=1e-12)


@pytest.mark.parametrize("n_hidden, activation", [(1, "relu"), (2, "relu"), (3, "tanh")])
def test_frozen_model_reuses_first_layer_terms_correctly(n_hidden, activation):
    """The same character at different positions, and again in later contexts, gives the graph's logits."""
    model = CharacterLM(6, 3, 5, 4, n_hidden=n_hidden, activation=activation, seed=7)
    frozen = FrozenModel.from_model(model)
    contexts = [[0, 0, 0, 0], [0, 1, 0, 1], [5, 4, 3, 2], [2, 3, 4, 5], [0, 0, 0, 0]]
    for context in contexts:
        graph = [v.data for v in model.forward(context)]
        assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) for a, b in zip(frozen.logits(context), graph))
    assert len(frozen._first_terms) == len({(p, c) for context in contexts for p, c in enumerate(context)})


def test_frozen_copy_is_a_snapshot():
    model = CharacterLM(5, 2, 3, 2, seed=0)
    frozen = FrozenModel.from_model(model)
    before = frozen.logits([0, 1])
    model.output.bias.rows()[0][0] += 1.0  # the packed table's own rows
    assert frozen.logits([0, 1]) == before


def test_greedy_reproduces_a_memorised_text(trained):
    vocab = trained.corpus.vocab
    sampler = Sampler(FrozenModel.from_model(trained.model), vocab, seed=0)
    prompt = prepare_prompt("\nThe quick", vocab, 8)
    text = "".join(sampler.stream(prompt, 40, temperature=0.0))
    assert text.startswith(" brown fox jumps over the la"), text  # greedy follows what it memorised


def test_temperature_zero_is_deterministic_whatever_the_seed(trained):
    vocab = trained.corpus.vocab
    frozen = FrozenModel.from_model(trained.model)
    prompt = prepare_prompt("To be", vocab, 8)
    outs = {"".join(Sampler(frozen, vocab, seed=s).stream(prompt, 30, 0.0)) for s in range(5)}
    assert len(outs) == 1


def test_same_seed_same_sample_different_seed_differs():
    model = CharacterLM(20, 4, 8, 3, seed=1)  # untrained: near-uniform, so samples vary
    vocab = Vocabulary("".join(chr(97 + i) for i in range(20)))
    frozen = FrozenModel.from_model(model)
    prompt = prepare_prompt("abc", vocab, 3)
    a = "".join(Sampler(frozen, vocab, seed=7).stream(prompt, 50, 1.0))
    b = "".join(Sampler(frozen, vocab, seed=7).stream(prompt, 50, 1.0))
    c = "".join(Sampler(frozen, vocab, seed=8).stream(prompt, 50, 1.0))
    assert a == b and a != c and len(a) == 50


def test_top_k_restricts_the_choice():
    model = CharacterLM(20, 4, 8, 3, seed=1)
    vocab = Vocabulary("".join(chr(97 + i) for i in range(20)))
    frozen = FrozenModel.from_model(model)
    prompt = prepare_prompt("abc", vocab, 3)
    logits = frozen.logits(prompt.context)
    top2 = {vocab.idx_to_char[i] for i in sorted(range(20), key=lambda i: -logits[i])[:2]}
    sampler = Sampler(frozen, vocab, seed=3)
    picks = {vocab.idx_to_char[sampler.next_index(prompt.context, 5.0, top_k=2)] for _ in range(200)}
    assert picks == top2


def test_softmax_temperatures():
    logits = [1.0, 2.0, 3.0]
    assert softmax(logits, 0.0) == [0.0, 0.0, 1.0]
    hot, cold = softmax(logits, 5.0), softmax(logits, 0.5)
    assert math.isclose(sum(hot), 1.0) and math.isclose(sum(cold), 1.0)
    assert cold[2] > softmax(logits)[2] > hot[2]


def test_unknown_prompt_characters_are_skipped_and_reported():
    vocab = Vocabulary(" abc")
    prompt = prepare_prompt("aXbéYc", vocab, 5)
    assert prompt.text == "abc" and prompt.skipped == "XéY"
    assert prompt.context == [vocab.char_to_idx[c] for c in "  abc"]


def test_padding_uses_a_character_the_vocabulary_has():
    vocab = Vocabulary("\nabc")  # no space, as in names.txt
    prompt = prepare_prompt("a", vocab, 4)
    assert prompt.context == [0, 0, 0, 1]


def test_course_generate_keeps_its_signature_and_never_raises_on_unknown_characters(proverbs):
    char_to_idx, idx_to_char = build_vocab(proverbs)
    model = CharacterLM(len(char_to_idx), 4, 8, 8, seed=0)
    out = generate(model, idx_to_char, char_to_idx, "Quick! Zebra", length=25, temperature=0.8)
    assert out.startswith("uick ebra") and len(out) == len("uick ebra") + 25


def test_stream_stops_when_cancelled():
    model = CharacterLM(5, 2, 3, 2, seed=0)
    vocab = Vocabulary("abcde")
    cancel = threading.Event()
    stream = Sampler(FrozenModel.from_model(model), vocab, seed=0).stream(prepare_prompt("ab", vocab, 2), 1000, 1.0, None, cancel)
    first = [next(stream) for _ in range(3)]
    cancel.set()
    assert len(first) == 3 and list(stream) == []


def test_vocabulary_mismatch_is_refused():
    model = CharacterLM(5, 2, 3, 2, seed=0)
    with pytest.raises(ValueError, match="vocabulary has 3"):
        Sampler(FrozenModel.from_model(model), Vocabulary("abc"))

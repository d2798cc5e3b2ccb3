import json
import math
import statistics
from dataclasses import replace

import numpy as np
import pytest

from core.data import Corpus
from core.fused import Node
from core.inside import (char_kind, embedding_map, evenly_spaced, fused_graph, hidden_activations, inspect_step,
                         layer_health, mean_gradient_steps, next_char_odds, pca_2d, reference_op_counts, shown)
from core.model import CharacterLM
from core.run import Run
from core.sampling import FrozenModel
from core.settings import RunConfig
from core.session import Session
from core.training import StepEvent, StoppedEvent, StopReason

TINY = dict(context_length=3, embed_dim=4, hidden_dim=8, n_hidden=1)
NAMES = "emma\nolivia\nava\nisabella\nsophia\ncharlotte\nmia\namelia\nharper\nevelyn\nabigail\nemily\n"


def tiny_run(text=NAMES, **changes) -> Run:
    return Run.new(Corpus(text, "names"), RunConfig.preset("default").replace(**{**TINY, **changes}))


def trained(steps=300, **changes) -> Run:
    run = tiny_run(**{"learning_rate": 0.1, **changes})
    run.trainer.run(max_steps=steps)
    return run


# --- one step ----------------------------------------------------------------------------------------


def where_training_is(run: Run):
    trainer = run.trainer
    return json.dumps(run.model.weights()), trainer.state, trainer._rng.getstate()  # the state as a state: its clock aside


def without_timing(events):
    return [replace(e, steps_per_sec=0.0) if isinstance(e, StepEvent) else e for e in events]


@pytest.mark.parametrize("text, changes, steps", [
    (NAMES, {}, 90),  # crosses an epoch (about 80 examples)
    (NAMES, dict(batch_size=4), 30),
    (NAMES, dict(clip_value=0.05, learning_rate=0.2), 30),
    (NAMES, dict(batch_size=4, clip_norm=0.1, n_hidden=2, activation="tanh"), 30),
    (NAMES, dict(engine="reference"), 10),
    (NAMES * 15, dict(eval_every=7, eval_examples=20), 30),  # with validation passes
])
def test_inspected_steps_train_exactly_as_plain_steps(text, changes, steps):
    plain, inspected = tiny_run(text, **changes), tiny_run(text, **changes)
    plain_events = [e for _ in range(steps) for e in plain.trainer.step()]
    inspected_events = [e for _ in range(steps) for e in inspect_step(inspected.trainer, inspected.corpus.vocab).events]
    assert where_training_is(inspected) == where_training_is(plain)
    assert without_timing(inspected_events) == without_timing(plain_events)
    assert inspected.trainer.state.step == steps


def layer_tables(weights, n_hidden):
    """The model's weight tables grouped by layer: [embedding], then [weight, bias] per linear layer."""
    return [[weights[0]]] + [weights[1 + 2 * i: 3 + 2 * i] for i in range(n_hidden + 1)]


def norm(tables):
    return math.sqrt(sum(x * x for table in tables for row in table for x in row))


def minus(after, before):
    return [[[a - b for a, b in zip(ra, rb)] for ra, rb in zip(ta, tb)] for ta, tb in zip(after, before)]


@pytest.mark.parametrize("changes", [
    {}, dict(batch_size=4), dict(batch_size=2, clip_value=0.05, learning_rate=0.2), dict(clip_norm=0.1, n_hidden=2),
    dict(engine="reference"),
])
def test_the_report_is_what_the_update_did(changes):
    """Each layer's gradient, its largest entries and the update ratio, read off the weights' change."""
    run = tiny_run(**changes)
    run.trainer.run(max_steps=5)
    before = run.model.weights()
    report = inspect_step(run.trainer, run.corpus.vocab, top=3)
    lr = report.learning_rate
    assert lr == report.events[0].learning_rate
    n_hidden = run.config.n_hidden
    deltas = layer_tables(minus(run.model.weights(), before), n_hidden)
    assert [layer.name for layer in report.layers] == ["embedding", *(f"hidden {i + 1}" for i in range(n_hidden)), "output"]
    for layer, delta, weights in zip(report.layers, deltas, layer_tables(before, n_hidden)):
        assert lr * layer.grad_norm == pytest.approx(norm(delta), rel=1e-6)
        assert layer.update_ratio == pytest.approx(norm(delta) / norm(weights), rel=1e-6)
        assert layer.log10_update_ratio == pytest.approx(math.log10(norm(delta) / norm(weights)), abs=1e-6)
        assert len(layer.largest) == 3
        sizes = [abs(g.value) for g in layer.largest]
        assert sizes == sorted(sizes, reverse=True)
        moves = sorted((abs(x) for table in delta for row in table for x in row), reverse=True)
        assert [lr * size for size in sizes] == pytest.approx(moves[:3], rel=1e-6)  # (clipping makes ties: no positions)
        for g in layer.largest:
            table = delta[1 if g.table == "bias" else 0]
            assert table[g.row][g.column] == pytest.approx(-lr * g.value, rel=1e-6)


def test_the_report_shows_the_examples_and_their_odds_before_and_after():
    run = tiny_run(batch_size=2)
    run.trainer.run(max_steps=20)
    vocab = run.corpus.vocab
    frozen_before = run.trainer.snapshot()
    report = inspect_step(run.trainer, vocab)
    frozen_after = run.trainer.snapshot()
    assert len(report.examples) == 2
    for example in report.examples:
        assert len(example.context) == 3 and example.context + example.target in NAMES
        context, target = [vocab.char_to_idx[c] for c in example.context], vocab.char_to_idx[example.target]
        assert example.p_before == pytest.approx(frozen_before.probs(context)[target], rel=1e-9)
        assert example.p_after == pytest.approx(frozen_after.probs(context)[target], rel=1e-9)
        assert example.loss_before == pytest.approx(-math.log(example.p_before), rel=1e-9)
    assert report.loss_before == pytest.approx(report.events[0].loss, rel=1e-9)  # the training graph's own loss


def test_one_small_step_makes_its_example_more_likely():
    run = tiny_run(learning_rate=0.01)
    for _ in range(10):
        report = inspect_step(run.trainer, run.corpus.vocab)
        (example,) = report.examples
        assert example.p_after > example.p_before and report.loss_after < report.loss_before


def test_a_session_takes_the_step_and_records_it():
    session = Session()
    run = session.new(Corpus(NAMES, "names"), RunConfig.preset("default").replace(**TINY))
    report = inspect_step(run.trainer, run.corpus.vocab, take_step=session.single_step)
    assert session.step == 1 and run.trainer.state.losses == [report.events[0].loss]
    assert isinstance(report.events[-1], StoppedEvent) and len(report.examples) == 1


def test_no_step_taken_is_said():
    run = tiny_run()
    stopped = StoppedEvent(StopReason.NON_FINITE, 0, "the loss became nan at step 1")
    with pytest.raises(ValueError, match="no step was taken: the loss became nan"):
        inspect_step(run.trainer, run.corpus.vocab, take_step=lambda watch: [stopped])


@pytest.mark.parametrize("changes", [{}, dict(batch_size=4, n_hidden=2, activation="tanh"), dict(engine="reference")])
def test_the_gradient_of_a_snapshot_is_the_one_a_step_follows(changes):
    """On the step's own examples, the gradient worked out on a copy is the one inspect_step reads off the step."""
    run = trained(steps=40, **changes)
    before = run.trainer.snapshot()
    report = inspect_step(run.trainer, run.corpus.vocab, top=4)
    vocab = run.corpus.vocab
    batch = [(vocab.encode(e.context), vocab.char_to_idx[e.target]) for e in report.examples]
    layers = mean_gradient_steps(before, batch, report.learning_rate, top=4)
    assert [layer.name for layer in layers] == [layer.name for layer in report.layers]
    for ours, stepped in zip(layers, report.layers):
        assert ours.grad_norm == pytest.approx(stepped.grad_norm, rel=1e-9)
        assert ours.update_ratio == pytest.approx(stepped.update_ratio, rel=1e-9)
        assert [(g.table, g.row, g.column) for g in ours.largest] == [
            (g.table, g.row, g.column) for g in stepped.largest]
        assert [g.value for g in ours.largest] == pytest.approx([g.value for g in stepped.largest], rel=1e-9)


def test_the_gradient_of_a_snapshot_leaves_the_training_model_alone():
    run = trained(steps=40)
    weights, grads = run.model.weights(), [table.grad_rows() for table in run.model.tables()]
    grads = json.dumps(grads)
    examples = evenly_spaced(run.trainer.train_examples, 32)
    layers = mean_gradient_steps(run.trainer.snapshot(), examples, 0.1)
    assert run.model.weights() == weights and json.dumps([table.grad_rows() for table in run.model.tables()]) == grads
    assert all(layer.grad_norm > 0 for layer in layers)
    one = mean_gradient_steps(run.trainer.snapshot(), examples[:1], 0.1)
    assert one != layers  # the mean over 32 examples is not the first one's
    with pytest.raises(ValueError, match="at least one example"):
        mean_gradient_steps(run.trainer.snapshot(), [], 0.1)


def test_evenly_spaced_items():
    assert evenly_spaced(range(10), 5) == [0, 2, 4, 6, 8]
    assert evenly_spaced(range(10), 4) == [0, 2, 5, 7]
    assert evenly_spaced(range(3), 200) == [0, 1, 2]


def test_characters_that_print_as_nothing_are_shown():
    assert shown("a b\nc\td") == "a␣b⏎c⇥d"


# --- the next character's odds -------------------------------------------------------------------


def test_next_char_odds_are_the_models_probabilities_likeliest_first():
    run = trained()
    frozen, vocab = run.trainer.snapshot(), run.corpus.vocab
    result = next_char_odds(frozen, vocab, "av")
    assert result.context == "\nav" and result.skipped == ""  # padded with a newline, as the sampler pads names
    probs = [p for _, p in result.odds]
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)
    assert probs == sorted(probs, reverse=True) and probs[0] > 2 / len(vocab)  # trained: not uniform
    assert dict(result.odds) == dict(zip(vocab.chars, frozen.probs([vocab.char_to_idx[c] for c in "\nav"])))


def test_next_char_odds_skip_unknown_characters_and_keep_the_last_context():
    run = trained()
    frozen, vocab = run.trainer.snapshot(), run.corpus.vocab
    unknown = next_char_odds(frozen, vocab, "aXv!X")
    assert unknown.skipped == "X!" and unknown.odds == next_char_odds(frozen, vocab, "av").odds
    long = next_char_odds(frozen, vocab, "isabel")
    assert long.context == "bel" and long.odds == next_char_odds(frozen, vocab, "bel").odds


def test_temperature_flattens_and_sharpens_the_odds():
    run = trained()
    frozen, vocab = run.trainer.snapshot(), run.corpus.vocab
    normal, hot, cold = (next_char_odds(frozen, vocab, "em", t) for t in (1.0, 2.0, 0.0))
    assert hot.odds[0][1] < normal.odds[0][1]
    assert dict(hot.odds) == pytest.approx(dict(zip(vocab.chars, frozen.probs([vocab.char_to_idx[c] for c in "\nem"], 2.0))))
    assert cold.odds[0] == (normal.odds[0][0], 1.0) and sum(p for _, p in cold.odds) == 1.0


def test_a_vocabulary_that_is_not_the_models_is_refused():
    run = tiny_run()
    with pytest.raises(ValueError, match="vocabulary"):
        next_char_odds(run.trainer.snapshot(), Corpus("abc").vocab, "ab")


# --- the embedding map ---------------------------------------------------------------------------


def test_pca_of_points_on_a_line_gives_their_position_along_it():
    points = [[1 + 0.6 * t, 2 + 0.8 * t] for t in (-2, -1, 0, 1, 2)]
    for (x, y), t in zip(pca_2d(points), (-2, -1, 0, 1, 2)):
        assert x == pytest.approx(t, abs=1e-9) and y == pytest.approx(0.0, abs=1e-9)
    flipped = pca_2d([[-a, -b] for a, b in points])  # the same directions: the sign follows them, not the data
    assert [x for x, _ in flipped] == pytest.approx([-t for t in (-2, -1, 0, 1, 2)], abs=1e-9)


def test_pca_of_points_on_a_plane_gives_their_coordinates_in_it():
    u = [x / math.sqrt(3) for x in (1, 1, 0, 0, 1)]
    v = [x / math.sqrt(6) for x in (2, -1, 0, 0, -1)]  # orthogonal to u; its largest coordinate is positive
    a, b = [3, -3, 3, -3, 0], [1, 1, -1, -1, 0]  # centred, uncorrelated, a spread wider: u is the first axis
    points = [[7 + ai * ui + bi * vi for ui, vi in zip(u, v)] for ai, bi in zip(a, b)]
    coordinates = pca_2d(points)
    assert [x for x, _ in coordinates] == pytest.approx(a, abs=1e-9)
    assert [y for _, y in coordinates] == pytest.approx(b, abs=1e-9)


def matches_numpy_pca(vectors, coordinates):
    centred = np.array(vectors) - np.mean(vectors, axis=0)
    _, _, vt = np.linalg.svd(centred)
    expected = centred @ vt[:2].T
    ours = np.array(coordinates)
    for j in range(2):
        sign = 1.0 if ours[:, j] @ expected[:, j] >= 0 else -1.0
        np.testing.assert_allclose(ours[:, j], sign * expected[:, j], atol=1e-7)
    return True


def test_pca_agrees_with_numpy():
    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(30, 6)) * [5, 3, 1, 0.5, 0.2, 0.1]) @ rng.normal(size=(6, 6))
    assert matches_numpy_pca(vectors.tolist(), pca_2d(vectors.tolist()))


def test_pca_of_nothing_and_of_one_point():
    assert pca_2d([]) == []
    assert pca_2d([[1.0, 2.0, 3.0]] * 4) == [(0.0, 0.0)] * 4


def test_characters_have_kinds():
    kinds = {c: char_kind(c) for c in "aÉeyz7 \n,$—€"}
    assert kinds == {"a": "vowel", "É": "vowel", "e": "vowel", "y": "consonant", "z": "consonant", "7": "digit",
                     " ": "space", "\n": "space", ",": "punctuation", "$": "punctuation", "—": "punctuation",
                     "€": "other"}


def test_the_embedding_map_places_every_character():
    run = trained()
    frozen, vocab = run.trainer.snapshot(), run.corpus.vocab
    points = embedding_map(frozen, vocab)
    assert [p.char for p in points] == list(vocab.chars)
    assert {p.char: p.kind for p in points}["\n"] == "space" and {p.char: p.kind for p in points}["o"] == "vowel"
    assert matches_numpy_pca(frozen.embedding, [(p.x, p.y) for p in points])


# --- layer health -------------------------------------------------------------------------------------


def test_hidden_activations_are_the_forward_pass():
    run = trained(n_hidden=2, activation="tanh")
    frozen = run.trainer.snapshot()
    contexts = [context for context, _ in run.trainer.train_examples[:10]]
    first, second = hidden_activations(frozen, contexts)
    assert len(first) == len(second) == 10 and len(first[0]) == 8
    for context, h1, h2 in zip(contexts, first, second):
        x = np.concatenate([frozen.embedding[i] for i in context])
        np.testing.assert_allclose(h1, np.tanh(np.array(frozen.hidden[0].weight) @ x + frozen.hidden[0].bias), atol=1e-12)
        assert frozen.output(h2) == frozen.logits(context)  # the same numbers the model predicts from


def test_dead_relu_units_are_counted():
    half_dead = [[0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]  # units 0 and 2 never fire
    mostly_dead = [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    first, second = layer_health([half_dead, mostly_dead], "relu")
    assert (first.name, first.units, first.stuck, first.stuck_as, first.warning) == ("hidden 1", 4, 2, "dead", "")
    flat = [h for example in half_dead for h in example]
    assert first.mean == pytest.approx(statistics.fmean(flat)) and first.std == pytest.approx(statistics.pstdev(flat))
    assert second.stuck == 3 and second.stuck_share == 0.75
    assert "75%" in second.warning and "dead" in second.warning and "learning rate" in second.warning
    assert "tanh" in second.warning


def test_saturated_tanh_units_are_counted():
    examples = [[0.99, 0.99, 0.97], [-0.98, 0.99, -0.97], [0.99, 0.1, 0.97], [0.1, 0.2, -0.97]]
    # unit 0: beyond 0.97 on 3 of 4 examples (saturated); unit 1: on 2 of 4 (not most); unit 2: at 0.97 (not beyond)
    (health,) = layer_health([examples], "tanh")
    assert (health.stuck, health.stuck_as, health.warning) == (1, "saturated", "")
    (saturated,) = layer_health([[[0.999, -0.999, 0.999]] * 5], "tanh")
    assert saturated.stuck == 3 and "saturated" in saturated.warning and "relu" in saturated.warning


def test_huge_activations_give_an_infinite_spread_not_an_error():
    (health,) = layer_health([[[1e200, 0.0], [-1e200, 0.0]]], "relu")  # a run about to diverge
    assert health.std == math.inf and health.stuck == 1


def test_layer_health_refuses_what_it_cannot_judge():
    with pytest.raises(ValueError, match="activation"):
        layer_health([[[0.0]]], "sigmoid")
    with pytest.raises(ValueError, match="at least one example"):
        layer_health([[]], "relu")


def test_a_layer_pushed_below_zero_is_reported_dead():
    run = tiny_run(n_hidden=2)
    run.model.hidden[0].bias.load([[-100.0] * 8])  # no input can lift these units above zero
    frozen = FrozenModel.from_model(run.model)
    contexts = [context for context, _ in run.trainer.train_examples[:50]]
    first, second = layer_health(hidden_activations(frozen, contexts), "relu")
    assert first.stuck == 8 and "100% of hidden 1's units are dead" in first.warning
    assert second.mean == 0.0 and second.stuck == 8  # its input is all zeros and its biases start at zero


# --- the computation graph -----------------------------------------------------------------------


def tiny_frozen(context_length=2, activation="relu") -> FrozenModel:
    model = CharacterLM(3, 2, 3, context_length, n_hidden=1, activation=activation, seed=1)
    return FrozenModel.from_model(model)


def test_the_course_graph_of_a_tiny_model_counted_by_hand():
    """Vocabulary 3, embeddings of 2, a context of 2, one hidden layer of 3 units, relu."""
    counts = reference_op_counts(tiny_frozen(), [0, 1], 2)
    assert counts == {
        "weight": 2 * 2 + 3 * (4 + 1) + 3 * (3 + 1),  # the context's two embeddings, W1 and b1, W2 and b2
        "*": 3 * 4 + 3 * 3 + 1,  # w·x in each layer, and the -1 of "- z_target"
        "+": 3 * 4 + 3 * 3 + 3 + 3 + 1 + 1,  # the layers' sums, z - max, the sum of exps, + max, - z_target
        "constant": 3 + 1 + 1 + 1,  # -max per logit, the sum's 0, max, -1
        "relu": 3, "exp": 3, "log": 1,
    }
    assert reference_op_counts(tiny_frozen(), [0, 0], 2)["weight"] == 2 + 3 * 5 + 3 * 4  # one character, one row


def reachable(root) -> set:
    seen, todo = {id(root): root}, [root]
    while todo:
        for parent in todo.pop()._parents:
            if id(parent) not in seen:
                seen[id(parent)] = parent
                todo.append(parent)
    return set(seen.values())


def test_the_counts_cover_the_whole_reference_graph():
    run = trained(steps=20, engine="reference", n_hidden=2, activation="tanh")
    context, target = run.trainer.train_examples[5]
    counts = reference_op_counts(run.trainer.snapshot(), context, target)
    nodes = reachable(run.model.loss(context, target))  # the trainer's own model builds the same graph
    assert sum(counts.values()) == len(nodes)
    assert counts["tanh"] == 2 * 8 and counts["exp"] == len(run.corpus.vocab) and counts["log"] == 1


def test_the_fused_graph_is_the_one_the_engine_builds():
    run = trained(steps=20, n_hidden=2)
    context, target = run.trainer.train_examples[5]
    graph = fused_graph(run.trainer.snapshot())
    loss = run.model.loss(context, target)
    nodes = reachable(loss)
    chain, node = [("cross_entropy", len(loss._parents), 1)], loss._parents[0]._parents[0]
    while True:  # from the loss back to the embedding, one fused node at a time
        outputs = sum(1 for v in nodes if v._parents and v._parents[0] is node)
        chain.append((node._op, len(node._parents), outputs))
        if not node._parents:
            break
        node = node._parents[0]._parents[0]
    assert sum(isinstance(n, Node) for n in nodes) == len(graph) - 1  # cross-entropy is a Value, not a Node
    assert [(n.op, n.inputs, n.outputs) for n in graph] == [("embedding", 3, 12), *reversed(chain[:-1])]
    assert chain[-1] == ("embedding", 0, 12)  # its inputs are the context's indices, not Values
    assert [shape for n in graph for shape in n.tables] == [t.shape for t in run.model.tables()]

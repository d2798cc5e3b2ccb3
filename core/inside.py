"""Inside the model: one step taken apart, the next character's odds, the embedding map, layer health and
the computation graph.

Nothing here changes what training does. `inspect_step` takes the trainer's own step and reads the
gradients through its `watch` hook, between backward and the update; the rest works on a `FrozenModel`
snapshot, so it can run while training goes on in another thread.
"""

from __future__ import annotations

import heapq
import math
import random
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from operator import mul
from statistics import fmean
from typing import Callable, NamedTuple, Sequence

from core.data import Vocabulary
from core.engine import topological_order
from core.model import CharacterLM
from core.optim import SGD, optimizer_for
from core.params import ParamTable
from core.sampling import FrozenModel, prepare_prompt
from core.training import Trainer, TrainingEvent
from core.visible import visible


def _check_vocab(frozen: FrozenModel, vocab: Vocabulary) -> None:
    if len(vocab) != frozen.vocab_size:
        raise ValueError(f"vocabulary has {len(vocab)} characters but the model expects {frozen.vocab_size}")


def _model_on(frozen: FrozenModel, engine: str) -> CharacterLM:
    """A CharacterLM on `engine` holding the snapshot's weights."""
    model = CharacterLM(frozen.vocab_size, len(frozen.embedding[0]), len(frozen.hidden[0].bias), frozen.context_length,
                        n_hidden=len(frozen.hidden), activation=frozen.activation, engine=engine)
    linears = [*frozen.hidden, frozen.output]
    model.load_weights([frozen.embedding] + [table for layer in linears for table in (layer.weight, [layer.bias])])
    return model


def _sum_of_squares(rows: Sequence[Sequence[float]]) -> float:
    return sum(sum(map(mul, row, row)) for row in rows)


# --- one step, taken apart -------------------------------------------------------------------------


@dataclass(frozen=True)
class Gradient:
    """One weight's gradient: `table[row][column]` (an embedding's row is a character's index; a bias
    is row 0 of its one-row table)."""

    table: str  # "embedding", "weight" or "bias"
    row: int
    column: int
    value: float


@dataclass(frozen=True)
class LayerStep:
    """What one update does to a layer, its weights and biases together."""

    name: str  # "embedding", "hidden 1", …, "output"
    grad_norm: float  # ‖g‖, g the gradient the update follows: the batch's mean, clipped when clipping is on
    largest: list[Gradient]  # the largest gradients in size, largest first (zeros left out)
    update_ratio: float  # ‖Δweights‖ / ‖weights‖: how far the optimiser's step moved the layer, next to its size

    @property
    def log10_update_ratio(self) -> float:
        """Around -3 is a healthy pace (makemore part 3); -inf when nothing moved (a dead layer)."""
        return math.log10(self.update_ratio) if self.update_ratio > 0 else -math.inf


@dataclass(frozen=True)
class ExampleStep:
    """One example of the step, and how the update changed the model's odds on it."""

    context: str
    target: str
    p_before: float  # the probability the model gave the target
    p_after: float
    loss_before: float  # -log p
    loss_after: float


@dataclass(frozen=True)
class StepReport:
    """One SGD step taken apart."""

    examples: list[ExampleStep]  # one per example of the batch
    learning_rate: float  # this step's lr, on the schedule
    layers: list[LayerStep]  # input to output
    events: list[TrainingEvent]  # the step's own events: record them as for any other step

    @property
    def loss_before(self) -> float:
        return fmean(e.loss_before for e in self.examples)

    @property
    def loss_after(self) -> float:
        return fmean(e.loss_after for e in self.examples)


def _layers(model: CharacterLM) -> list[tuple[str, list[tuple[str, ParamTable]]]]:
    """Each layer's name and its named parameter tables, input to output."""
    linears = [*((f"hidden {i}", layer) for i, layer in enumerate(model.hidden, 1)), ("output", model.output)]
    return [("embedding", [("embedding", model.embedding.table)])] + [
        (name, [("weight", layer.weight), ("bias", layer.bias)]) for name, layer in linears]


def _largest(rows: list[list[float]], k: int) -> list[tuple[int, int, float]]:
    """The k non-zero entries largest in size, as (row, column, value), largest first."""
    peaks = heapq.nlargest(k, range(len(rows)), key=lambda r: max(map(abs, rows[r])))  # the k largest lie in these rows
    entries = ((r, c, g) for r in peaks for c, g in enumerate(rows[r]) if g)
    return heapq.nlargest(k, entries, key=lambda entry: abs(entry[2]))


def layer_gradients(model: CharacterLM, grad_scale: float = 1.0, top: int = 5) -> list[tuple[str, float, list]]:
    """Per layer, its name, the norm of the gradient now in the model's tables times `grad_scale`, and its `top`
    largest entries. Call it between backward and the update (a step's watch, under the trainer's lock)."""
    found = []
    for name, tables in _layers(model):
        grad_norm = grad_scale * math.sqrt(sum(table.grad_sum_of_squares() for _, table in tables))
        candidates = (Gradient(table_name, r, c, grad_scale * g)
                      for table_name, table in tables for r, c, g in _largest(table.grad_rows(), top))
        found.append((name, grad_norm, heapq.nlargest(top, candidates, key=lambda gradient: abs(gradient.value))))
    return found


def layer_steps(model: CharacterLM, gradients: list[tuple[str, float, list]], before: list, after: list
                ) -> list[LayerStep]:
    """`gradients` (see layer_gradients) with how far the update moved each layer: ‖after − before‖ / ‖before‖,
    `before` and `after` the model's weights (`CharacterLM.weights()`) around it, whatever the optimiser."""
    steps, start = [], 0
    for (name, tables), (_, grad_norm, largest) in zip(_layers(model), gradients):
        was, now = before[start:start + len(tables)], after[start:start + len(tables)]
        start += len(tables)
        moved = math.sqrt(sum(sum((b - a) ** 2 for a, b in zip(row, new_row))
                              for rows, new_rows in zip(was, now) for row, new_row in zip(rows, new_rows)))
        size = math.sqrt(sum(_sum_of_squares(rows) for rows in was))
        steps.append(LayerStep(name, grad_norm, largest, moved / size if size else 0.0))
    return steps


def mean_gradient_steps(frozen: FrozenModel, examples: Sequence[tuple[Sequence[int], int]], lr: float,
                        config=None, optimizer_state: dict | None = None, top: int = 5) -> list[LayerStep]:
    """Per layer, the gradient of the mean loss over `examples` at the snapshot's weights, and what the run's
    optimiser (`config`'s, from `optimizer_state`: its momentum, Adam's moments; plain SGD without) would do with
    it at lr: the real update, clipping and decay included. Worked out on copies, so it can run while training
    goes on: the model that trains is never touched. Costs about a step per example."""
    if not examples:
        raise ValueError("the gradient needs at least one example")
    model = _model_on(frozen, "fused")  # the same gradient as the reference engine's (to rounding), much faster
    for context, target in examples:
        model.loss(context, target).backward()
    optimizer = optimizer_for(model, config) if config is not None else SGD(model, lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)  # a copy: loading copies the buffers
    if config is not None:
        optimizer.follow(config, lr)
    optimizer.prepare(len(examples))
    gradients, before = layer_gradients(model, 1.0 / optimizer.divisor, top), model.weights()
    optimizer.update()
    return layer_steps(model, gradients, before, model.weights())


def evenly_spaced(items: Sequence, most: int) -> list:
    """At most `most` of `items`, evenly spaced from the first (all of them when there are no more)."""
    stride = max(1.0, len(items) / most)
    return [items[int(i * stride)] for i in range(min(most, len(items)))]


def _target_losses(frozen: FrozenModel, batch: list[tuple[list[int], int]]) -> list[float]:
    return [frozen.loss(context, target) for context, target in batch]


def inspect_step(trainer: Trainer, vocab: Vocabulary, top: int = 5,
                 take_step: Callable[..., list[TrainingEvent]] | None = None) -> StepReport:
    """Take exactly one of the trainer's steps (the same step, to the bit, as `trainer.step()`) and take it
    apart: its examples, their odds before and after, and per layer the gradient and the update.

    `take_step(watch=…)` takes it: `trainer.step` by default (which raises NonFiniteError, the step not
    applied); a session passes its `single_step`, so that the step is also recorded in the run's history.
    Pause training first: a step of another thread between this one and the "after" snapshot would count
    as this one's. A ValueError if no step was taken (a session's step that met a non-finite loss)."""
    seen: dict = {}  # what the watch saw, under the lock

    def watch(batch, lr):  # under the lock: the gradients are in (divisor × the one followed), the weights not moved
        seen.update(batch=batch, lr=lr, weights=trainer.model.weights(),
                    gradients=layer_gradients(trainer.model, 1.0 / trainer.optimizer.divisor, top),
                    before=_target_losses(FrozenModel.from_model(trainer.model, copy=False), batch))

    events = (take_step or trainer.step)(watch=watch)
    if not seen:
        raise ValueError(f"no step was taken: {events[-1].message}")
    after = _target_losses(trainer.snapshot(), seen["batch"])
    layers = layer_steps(trainer.model, seen["gradients"], seen["weights"], trainer.model.weights())
    examples = [ExampleStep(vocab.decode(context), vocab.idx_to_char[target], math.exp(-before), math.exp(-loss),
                            before, loss)
                for (context, target), before, loss in zip(seen["batch"], seen["before"], after)]
    return StepReport(examples, seen["lr"], layers, events)


# --- the next character's odds ---------------------------------------------------------------------


@dataclass(frozen=True)
class NextCharOdds:
    odds: list[tuple[str, float]]  # every character of the vocabulary with its probability, likeliest first
    context: str  # what the model saw: the known characters, padded as the sampler pads and cut to its context
    skipped: str  # characters of the text the vocabulary lacks, left out (as the sampler leaves them out)
    line_start: bool = False  # items "lines" and nothing of the line typed yet: where training started every line


LINE_START = "the start of a line, padded as training padded every line's start (for names: the first letter)"


def next_char_odds(frozen: FrozenModel, vocab: Vocabulary, context_text: str, temperature: float = 1.0,
                   items: str = "stream") -> NextCharOdds:
    """The model's odds for the character after `context_text`, at `temperature` (0: all on the likeliest),
    padded as the run's `items` padded its examples (see prepare_prompt). Unknown characters do not raise: they
    are skipped and named in `skipped`, for the caller to say."""
    _check_vocab(frozen, vocab)
    prompt = prepare_prompt(context_text, vocab, frozen.context_length, items)
    probs = frozen.probs(prompt.context, temperature)
    odds = sorted(zip(vocab.chars, probs), key=lambda pair: -pair[1])  # ties keep the vocabulary's order
    return NextCharOdds(odds, vocab.decode(prompt.context), prompt.skipped, prompt.context == prompt.start)


def blown_up(frozen: FrozenModel, contexts: Sequence[Sequence[int]]) -> bool:
    """Whether these weights have diverged: a weight, or the logits of one of `contexts`, is not finite (after an lr
    far too high, the last finite weights may still overflow every softmax). Nothing inside such a model reads."""
    tables = [frozen.embedding, *(layer.weight for layer in (*frozen.hidden, frozen.output))]
    biases = [layer.bias for layer in (*frozen.hidden, frozen.output)]
    if not all(math.isfinite(x) for table in tables for row in table for x in row) or \
            not all(math.isfinite(x) for bias in biases for x in bias):
        return True
    return not all(math.isfinite(x) for context in contexts for x in frozen.logits(context))


# --- the embedding map -----------------------------------------------------------------------------


def _matvec(matrix: list[list[float]], v: list[float]) -> list[float]:
    return [sum(map(mul, row, v)) for row in matrix]


def _unit(v: list[float]) -> list[float]:
    """v / ‖v‖ (zeros stay zeros)."""
    norm = math.sqrt(sum(map(mul, v, v)))
    return [x / norm for x in v] if norm else v


def _without(v: list[float], u: list[float]) -> list[float]:
    """v minus its component along the unit vector u."""
    along = sum(map(mul, v, u))
    return [a - along * b for a, b in zip(v, u)]


def _top_eigenvector(matrix: list[list[float]], orthogonal_to: list[float] | None = None,
                     tolerance: float = 1e-12, max_iterations: int = 1000) -> list[float]:
    """The unit eigenvector of the largest eigenvalue of a symmetric positive semi-definite matrix, by power
    iteration; with `orthogonal_to` (an eigenvector), the top one among those orthogonal to it (deflation:
    each iterate loses its component along it, so where nothing else varies only rounding noise is left, a
    vector of size ~1e-16). Its largest coordinate is made positive, so the same matrix always gives the
    same vector: a map redrawn during training does not flip."""
    def deflated(v):
        return _without(v, orthogonal_to) if orthogonal_to else v

    start = random.Random(0)  # a fixed random start: (almost surely) not orthogonal to the answer
    v = deflated(_unit([start.gauss(0.0, 1.0) for _ in matrix]))
    for _ in range(max_iterations):
        w = deflated(_unit(_matvec(matrix, v)))  # each product shrinks the other eigenvectors' share by λ_i / λ_1
        converged = max(abs(a - b) for a, b in zip(w, v)) < tolerance
        v = w
        if converged:
            break
    peak = max(range(len(v)), key=lambda i: abs(v[i]))
    return [-x for x in v] if v[peak] < 0 else v


def pca_2d(vectors: list[list[float]]) -> list[tuple[float, float]]:
    """Each vector's coordinates along the two directions in which the vectors vary most (their first two
    principal components): the centred vectors projected on their covariance's top two eigenvectors, found
    by power iteration, the second with the first deflated. Vectors on a line get y = 0."""
    if not vectors:
        return []
    n = len(vectors)
    mean = [sum(column) / n for column in zip(*vectors)]
    centred = [[x - m for x, m in zip(v, mean)] for v in vectors]
    columns = list(zip(*centred))
    covariance = [[sum(map(mul, a, b)) / n for b in columns] for a in columns]
    first = _top_eigenvector(covariance)
    second = _top_eigenvector(covariance, orthogonal_to=first)
    return [(sum(map(mul, v, first)), sum(map(mul, v, second))) for v in centred]


def char_kind(char: str) -> str:
    """vowel, consonant, digit, punctuation, space or other: how the map styles a character. Accented
    vowels are vowels; y is a consonant; symbols in ASCII's punctuation ($, +, |…) count as punctuation."""
    if char.isspace():
        return "space"
    if char.isdigit():
        return "digit"
    if char.isalpha():
        return "vowel" if unicodedata.normalize("NFD", char)[0].lower() in "aeiou" else "consonant"
    if char in string.punctuation or unicodedata.category(char).startswith("P"):
        return "punctuation"
    return "other"


SHOWN_CHARS = {" ": "␣", "\n": "⏎", "\t": "⇥"}  # characters that would print as nothing


def shown(text: str) -> str:
    """`text` with its spaces, newlines and tabs made visible (␣ ⏎ ⇥), and any other control character drawn
    (core.visible), as the views print characters."""
    return visible("".join(SHOWN_CHARS.get(char, char) for char in text))


class MapPoint(NamedTuple):
    char: str
    x: float
    y: float
    kind: str  # see char_kind


def embedding_map(frozen: FrozenModel, vocab: Vocabulary) -> list[MapPoint]:
    """Every character's embedding projected to 2-D by PCA, in the vocabulary's order."""
    _check_vocab(frozen, vocab)
    return [MapPoint(char, x, y, char_kind(char)) for char, (x, y) in zip(vocab.chars, pca_2d(frozen.embedding))]


# --- layer health ----------------------------------------------------------------------------------


SATURATED = 0.97  # |tanh| above this passes back under 6 % of the gradient (1 - h² < 0.06)

STUCK = {  # per activation: what a stuck unit is called, what it means, and what to try
    "relu": ("dead", "never active on any of the {n} examples: they pass no gradient back, so they stop learning",
             "a lower learning rate, gradient clipping, or tanh instead of relu"),
    "tanh": ("saturated", f"at ±1 (|h| > {SATURATED}) on most of the {{n}} examples: their gradient all but vanishes",
             "a lower learning rate, gradient clipping, or relu instead of tanh"),
}


@dataclass(frozen=True)
class LayerHealth:
    name: str  # "hidden 1", …
    units: int
    stuck: int  # units that pass (almost) no gradient back: dead ReLUs or saturated tanhs
    stuck_as: str  # "dead" or "saturated"
    mean: float  # of all the layer's activations over the examples
    std: float
    warning: str  # what happened and what to try, when more than half the units are stuck; else ""

    @property
    def stuck_share(self) -> float:
        return self.stuck / self.units


def hidden_activations(frozen: FrozenModel, contexts: Sequence[Sequence[int]]) -> list[list[list[float]]]:
    """activations[layer][example][unit]: each hidden layer's outputs (after the activation) for each context."""
    per_example = [frozen.hidden_states(context) for context in contexts]
    return [[states[layer] for states in per_example] for layer in range(len(frozen.hidden))]


def _stuck_units(examples: list[list[float]], activation: str) -> int:
    """Dead ReLUs: 0 on every example. Saturated tanhs: |h| > SATURATED on more than half the examples."""
    units = list(zip(*examples))  # each unit's value on every example
    if activation == "relu":
        return sum(1 for unit in units if max(unit) <= 0.0)
    return sum(1 for unit in units if sum(1 for h in map(abs, unit) if h > SATURATED) > len(examples) / 2)


def _health(name: str, examples: list[list[float]], activation: str) -> LayerHealth:
    if not examples:
        raise ValueError("layer health needs the activations of at least one example")
    units = len(examples[0])
    stuck = _stuck_units(examples, activation)
    values = [h for example in examples for h in example]
    mean = fmean(values)
    std = math.sqrt(fmean([(h - mean) * (h - mean) for h in values]))  # (x * x overflows to inf; x ** 2 raises)
    word, meaning, advice = STUCK[activation]
    warning = ""
    if stuck > units / 2:
        warning = (f"{stuck / units:.0%} of {name}'s units are {word}, {meaning.format(n=len(examples))}. "
                   f"Try {advice}.")
    return LayerHealth(name, units, stuck, word, mean, std, warning)


def layer_health(activations: list[list[list[float]]], activation: str) -> list[LayerHealth]:
    """Per hidden layer, from `hidden_activations`: how many units are stuck, the activations' mean and
    standard deviation, and a warning in words when more than half the layer is stuck.

    A ReLU unit is dead when it is 0 on every example (no gradient reaches its weights, so it stays
    dead); a tanh unit is saturated when |h| > 0.97 on more than half the examples (not on average)."""
    if activation not in STUCK:
        raise ValueError(f"activation must be one of {', '.join(STUCK)}, not {activation!r}")
    return [_health(f"hidden {i}", examples, activation) for i, examples in enumerate(activations, 1)]


# --- the computation graph -------------------------------------------------------------------------


def reference_op_counts(frozen: FrozenModel, context: Sequence[int], target: int) -> Counter[str]:
    """The nodes of the course's graph (the reference engine's) for one example's loss, by operation:
    "+", "*", "exp", "log", "relu" or "tanh", and its leaves as "weight" (a parameter) or "constant"
    (a number the graph needs, such as the max subtracted before exp). A character twice in the
    context shares its embedding's weights, so they count once.

    It builds the whole graph (some 42,000 Values and a quarter of a second for the default model): call it
    off the UI thread. The counts depend only on the model's shape and the context's distinct characters."""
    model = _model_on(frozen, "reference")
    weights = set(model.parameters())
    loss = model.loss(context, target)
    return Counter(node._op or ("weight" if node in weights else "constant") for node in topological_order(loss))


@dataclass(frozen=True)
class FusedNode:
    """A node of the fused engine's graph: one whole operation on Values in, Values out."""

    op: str  # "embedding", "linear+relu" (or +tanh), "linear", "cross_entropy"
    inputs: int  # Values in (the embedding: the context's characters, which are not Values)
    outputs: int  # Values out
    tables: tuple[tuple[int, int], ...]  # the (rows, columns) of the parameter tables it reads, as stored

    @property
    def shape(self) -> str:
        """Its tables as the course, and the Setup view's table, write them: a layer is inputs × outputs + biases."""
        if len(self.tables) == 2:
            (outputs, inputs), _ = self.tables
            return f"{inputs}×{outputs}+{outputs}"
        return " + ".join(f"{rows}×{columns}" for rows, columns in self.tables)


def fused_graph(frozen: FrozenModel) -> list[FusedNode]:
    """One example's graph as the fused engine builds it, from the context to the loss: a node per layer."""
    embed_dim = len(frozen.embedding[0])
    nodes = [FusedNode("embedding", frozen.context_length, frozen.context_length * embed_dim,
                       ((frozen.vocab_size, embed_dim),))]
    for layer, op in [*((h, f"linear+{frozen.activation}") for h in frozen.hidden), (frozen.output, "linear")]:
        rows, cols = len(layer.weight), len(layer.weight[0])
        nodes.append(FusedNode(op, cols, rows, ((rows, cols), (1, rows))))
    nodes.append(FusedNode("cross_entropy", frozen.vocab_size, 1, ()))
    return nodes

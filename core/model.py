"""The course's character-level language model: embedding → concat → (Linear + activation) × n → logits.

Two engines build the same model from the same parameters:
- "reference": the course's elementary graph exactly. Every weight is a `Value` and a node of the
  graph: a Linear is a chain of `+` and `*` Values over them, softmax and cross-entropy are built from
  `exp`, `log`, `+`, `-`, `/`. It is the baseline to check against.
- "fused": the embedding lookup, each layer, and softmax with cross-entropy are one node each
  (`core.fused`). The graph's Values are the layers' inputs and outputs; the weights stay in their
  tables, outside the graph, and each node's backward hands their gradients to the tables.
Both draw their initial weights in the same order from the same seed, so they hold the same numbers.
`parameters()` gives every weight as a `Value` in either engine (see `core.params`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

from core import fused
from core.engine import Value
from core.params import ParamTable

ENGINES = ("fused", "reference")


# --- the course's elementary functions (the reference engine) ---------------------------------


def relu(x: Sequence[Value]) -> list[Value]:
    """ReLU of each Value."""
    return [v.relu() for v in x]


def softmax(logits: Sequence[Value]) -> list[Value]:
    """Probabilities from logits, shifted by the max for stability."""
    max_val = max(v.data for v in logits)
    exp_logits = [(v - max_val).exp() for v in logits]
    sum_exp = sum(exp_logits, Value(0.0))
    return [e / sum_exp for e in exp_logits]


def cross_entropy_loss(logits: Sequence[Value], target_idx: int) -> Value:
    """-log softmax(logits)[target], by the log-sum-exp trick."""
    max_logit = max(v.data for v in logits)
    exp_logits = [(v - max_logit).exp() for v in logits]
    log_sum_exp = sum(exp_logits, Value(0.0)).log() + max_logit
    return log_sum_exp - logits[target_idx]


# --- layers --------------------------------------------------------------------------------------


class Embedding:
    """Lookup table: one row of `embed_dim` parameters per token."""

    def __init__(self, vocab_size: int, embed_dim: int, rng: random.Random, engine: str):
        self.table = ParamTable([[rng.gauss(0, 0.1) for _ in range(embed_dim)] for _ in range(vocab_size)])
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.engine = engine

    def __call__(self, token_idx: int) -> list[Value]:
        """The course's lookup: the token's row of parameters."""
        return self.table.value_rows()[token_idx]

    def concat(self, context: Sequence[int]) -> list[Value]:
        """The context's embeddings end to end: the first layer's input."""
        if self.engine == "fused":
            return fused.embedding(self.table, context)
        return [v for idx in context for v in self(idx)]

    def tables(self) -> list[ParamTable]:
        return [self.table]

    def parameters(self) -> list[Value]:
        return self.table.values()


class Linear:
    """y = Wx + b, with Xavier-initialised W and zero b."""

    def __init__(self, in_features: int, out_features: int, rng: random.Random, engine: str):
        scale = (2.0 / (in_features + out_features)) ** 0.5
        self.weight = ParamTable([[rng.gauss(0, scale) for _ in range(in_features)] for _ in range(out_features)])
        self.bias = ParamTable([[0.0] * out_features])
        self.in_features = in_features
        self.out_features = out_features
        self.engine = engine

    def __call__(self, x: Sequence[Value], activation: str | None = None, keep: Sequence[float] | None = None
                 ) -> list[Value]:
        """The layer's outputs; with a dropout mask `keep` (0 for a unit dropped, 1/(1-p) for one kept), times it."""
        if self.engine == "fused":
            return fused.linear(x, self.weight, self.bias, activation, keep)
        out = []
        for weights, bias in zip(self.weight.value_rows(), self.bias.value_rows()[0]):
            total = bias
            for w, xj in zip(weights, x):
                total = total + w * xj
            out.append(total)
        if activation == "relu":
            out = relu(out)
        elif activation == "tanh":
            out = [v.tanh() for v in out]
        return out if keep is None else [v * k for v, k in zip(out, keep)]

    def tables(self) -> list[ParamTable]:
        return [self.weight, self.bias]

    def parameters(self) -> list[Value]:
        return self.weight.values() + self.bias.values()


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterRow:
    component: str
    shape: str
    count: int


def parameter_table(vocab_size: int, embed_dim: int, hidden_dim: int, context_length: int, n_hidden: int = 2) -> list[ParameterRow]:
    """The course's "Analysis" table: each component's shape and parameter count, then the total."""
    rows = [ParameterRow("Embedding", f"{vocab_size}×{embed_dim}", vocab_size * embed_dim)]
    fan_in, fan_in_label = context_length * embed_dim, f"({context_length}×{embed_dim})"
    for layer in range(1, n_hidden + 1):
        rows.append(ParameterRow(f"Layer {layer}", f"{fan_in_label}×{hidden_dim}+{hidden_dim}", fan_in * hidden_dim + hidden_dim))
        fan_in, fan_in_label = hidden_dim, str(hidden_dim)
    rows.append(ParameterRow("Output", f"{hidden_dim}×{vocab_size}+{vocab_size}", hidden_dim * vocab_size + vocab_size))
    rows.append(ParameterRow("Total", "", sum(r.count for r in rows)))
    return rows


def table_shapes(vocab_size: int, embed_dim: int, hidden_dim: int, context_length: int, n_hidden: int = 2) -> list[tuple[int, int]]:
    """(rows, columns) of every parameter table in `CharacterLM.tables()` order, without building anything."""
    shapes, fan_in = [(vocab_size, embed_dim)], context_length * embed_dim
    for _ in range(n_hidden):
        shapes += [(hidden_dim, fan_in), (1, hidden_dim)]
        fan_in = hidden_dim
    return shapes + [(vocab_size, hidden_dim), (1, vocab_size)]


def check_weights(weights, shapes: list[tuple[int, int]]) -> None:
    """A ValueError unless `weights` is tables of rows of finite numbers with exactly these shapes."""
    if not isinstance(weights, list) or len(weights) != len(shapes):
        raise ValueError(f"expected {len(shapes)} weight tables, got {len(weights) if isinstance(weights, list) else weights!r}")
    for i, (table, (rows, cols)) in enumerate(zip(weights, shapes)):
        if not (isinstance(table, list) and len(table) == rows and all(isinstance(r, list) and len(r) == cols for r in table)):
            raise ValueError(f"weight table {i} should be {rows}×{cols}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for r in table for v in r):
            raise ValueError(f"weight table {i}: weights must be finite numbers")


class CharacterLM:
    """Character-level neural language model."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        context_length: int,
        *,
        n_hidden: int = 2,
        activation: str = "relu",
        engine: str = "fused",
        seed: int | None = None,
    ):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        if activation not in fused.ACTIVATIONS:
            raise ValueError(f"activation must be one of {fused.ACTIVATIONS}, not {activation!r}")
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("hidden_dim", hidden_dim),
                            ("context_length", context_length), ("n_hidden", n_hidden)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.context_length = context_length
        self.n_hidden = n_hidden
        self.activation = activation
        self.engine = engine
        rng = random.Random(seed)
        self.embedding = Embedding(vocab_size, embed_dim, rng, engine)
        widths = [context_length * embed_dim] + [hidden_dim] * n_hidden
        self.hidden = [Linear(a, b, rng, engine) for a, b in zip(widths, widths[1:])]
        self.output = Linear(hidden_dim, vocab_size, rng, engine)

    def config(self) -> dict:
        """Everything needed to build this model again (weights aside)."""
        return {
            "vocab_size": self.vocab_size, "embed_dim": self.embed_dim, "hidden_dim": self.hidden_dim,
            "context_length": self.context_length, "n_hidden": self.n_hidden,
            "activation": self.activation, "engine": self.engine,
        }

    def forward(self, context: Sequence[int], keep: Sequence[Sequence[float]] | None = None) -> list[Value]:
        """Logits over the vocabulary for the next character after `context` (token indices); `keep`, while
        training with dropout, a mask for each hidden layer's outputs (see `dropout_masks`)."""
        x = self.embedding.concat(context)
        for i, layer in enumerate(self.hidden):
            x = layer(x, self.activation, keep[i] if keep is not None else None)
        return self.output(x)

    def predict_probs(self, context: Sequence[int]) -> list[Value]:
        logits = self.forward(context)
        return fused.softmax(logits) if self.engine == "fused" else softmax(logits)

    def loss(self, context: Sequence[int], target_idx: int, keep: Sequence[Sequence[float]] | None = None) -> Value:
        logits = self.forward(context, keep)
        if self.engine == "fused":
            return fused.cross_entropy(logits, target_idx)
        return cross_entropy_loss(logits, target_idx)

    def dropout_masks(self, rng: random.Random, p: float) -> list[list[float]]:
        """Inverted dropout's masks for one example, a list per hidden layer: each unit dropped (0) with
        probability p, or kept and scaled by 1/(1-p) so that a layer's expected output is the same as without."""
        scale = 1.0 / (1.0 - p)
        draw = rng.random
        return [[scale if draw() >= p else 0.0 for _ in range(self.hidden_dim)] for _ in self.hidden]

    def tables(self) -> list[ParamTable]:
        """Parameter blocks in the course's order: embedding, then each layer's weights and bias."""
        return [t for part in (self.embedding, *self.hidden, self.output) for t in part.tables()]

    def parameters(self) -> list[Value]:
        """Every parameter as a Value: embedding rows, then per layer its weight rows, then its biases."""
        return [p for table in self.tables() for p in table.values()]

    def num_parameters(self) -> int:
        return sum(rows * cols for rows, cols in (t.shape for t in self.tables()))

    def parameter_table(self) -> list[ParameterRow]:
        return parameter_table(self.vocab_size, self.embed_dim, self.hidden_dim, self.context_length, self.n_hidden)

    def zero_grad(self) -> None:
        for table in self.tables():
            table.zero_grad()

    def weights(self) -> list[list[list[float]]]:
        """A copy of every table's rows, in `tables()` order."""
        return [table.copy_rows() for table in self.tables()]

    def load_weights(self, weights: list[list[list[float]]]) -> None:
        tables = self.tables()
        check_weights(weights, [table.shape for table in tables])
        for table, rows in zip(tables, weights):
            table.load(rows)

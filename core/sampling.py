"""Inference on plain floats, and text generation from it.

Sampling needs no gradients, so it builds no graph: `FrozenModel` holds a copy of the weights as
rows of floats and runs the forward pass directly (the course's `generate` built a full autograd
graph for every character, then threw it away). A copy also means sampling can run in another thread
while training goes on.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from dataclasses import dataclass
from itertools import accumulate
from operator import mul
from typing import Iterator, Sequence

from core.data import Vocabulary


class FrozenModel:
    """A model's forward pass over a snapshot of its weights (which must not change while it is used)."""

    def __init__(self, weights: list[list[list[float]]], activation: str, context_length: int):
        self.embedding = weights[0]
        self.layers = [(weights[i], weights[i + 1][0]) for i in range(1, len(weights), 2)]
        self.activation = activation
        self.context_length = context_length
        self.vocab_size = len(self.embedding)
        embed_dim = len(self.embedding[0])
        first_weight, _ = self.layers[0]
        # the first layer's weight columns that meet position p of the context, row by row
        self._columns_at = [[row[p * embed_dim:(p + 1) * embed_dim] for row in first_weight]
                            for p in range(context_length)]
        self._first_terms: dict[tuple[int, int], list[float]] = {}

    @classmethod
    def from_model(cls, model, copy: bool = True) -> FrozenModel:
        weights = model.weights() if copy else [t.data for t in model.tables()]
        return cls(weights, model.activation, model.context_length)

    def _first_term(self, position: int, idx: int) -> list[float]:
        """W₁[:, position's columns] · embedding[idx]: what character idx at that position adds to the
        first layer. The first layer of a concatenation of embeddings is the sum of these terms, and
        there are only context_length × vocab_size of them, so each is worked out once and reused."""
        key = (position, idx)
        term = self._first_terms.get(key)
        if term is None:
            vector = self.embedding[idx]
            term = self._first_terms[key] = [sum(map(mul, columns, vector)) for columns in self._columns_at[position]]
        return term

    def logits(self, context: Sequence[int]) -> list[float]:
        _, first_bias = self.layers[0]
        pre = list(map(sum, zip(first_bias, *(self._first_term(pos, idx) for pos, idx in enumerate(context)))))
        for weight, bias in self.layers[1:]:
            x = [p if p > 0.0 else 0.0 for p in pre] if self.activation == "relu" else [math.tanh(p) for p in pre]
            pre = [sum(map(mul, row, x), b) for row, b in zip(weight, bias)]
        return pre

    def probs(self, context: Sequence[int], temperature: float = 1.0) -> list[float]:
        return softmax_floats(self.logits(context), temperature)

    def loss(self, context: Sequence[int], target: int) -> float:
        """Cross-entropy of `target` after `context`."""
        zs = self.logits(context)
        top = max(zs)
        return math.log(sum(math.exp(z - top) for z in zs)) + top - zs[target]

    def mean_loss(self, examples: Sequence[tuple[list[int], int]]) -> float:
        return sum(self.loss(c, t) for c, t in examples) / len(examples)


def softmax_floats(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Probabilities at a temperature; temperature 0 puts all the mass on the largest logit."""
    if temperature <= 0.0:
        best = max(range(len(logits)), key=logits.__getitem__)
        return [1.0 if i == best else 0.0 for i in range(len(logits))]
    top = max(logits)
    exps = [math.exp((z - top) / temperature) for z in logits]
    total = sum(exps)
    return [e / total for e in exps]


@dataclass(frozen=True)
class Prompt:
    """A prompt made ready for a model: its context indices and what had to be dropped."""

    text: str  # the usable part of the prompt, as given (unknown characters removed)
    context: list[int]
    skipped: str  # characters not in the vocabulary, in order of appearance


def prepare_prompt(prompt: str, vocab: Vocabulary, context_length: int) -> Prompt:
    """Drop characters the model does not know, left-pad with a known one, keep the last context_length."""
    usable = "".join(c for c in prompt if c in vocab)
    skipped = "".join(dict.fromkeys(c for c in prompt if c not in vocab))
    padded = vocab.padding_char() * max(0, context_length - len(usable)) + usable
    context = [vocab.char_to_idx[c] for c in padded[len(padded) - context_length :]]
    return Prompt(usable, context, skipped)


class Sampler:
    """Generates text from a FrozenModel with its own random generator."""

    def __init__(self, model: FrozenModel, vocab: Vocabulary, seed: int | None = None):
        if len(vocab) != model.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} characters but the model expects {model.vocab_size}")
        self.model = model
        self.vocab = vocab
        self.rng = random.Random(seed)

    def next_index(self, context: Sequence[int], temperature: float = 1.0, top_k: int | None = None) -> int:
        logits = self.model.logits(context)
        if top_k is not None and 0 < top_k < len(logits):
            cutoff = sorted(logits, reverse=True)[top_k - 1]
            logits = [z if z >= cutoff else -math.inf for z in logits]
        probs = softmax_floats(logits, temperature)
        cumulative = list(accumulate(probs))
        return min(bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1]), len(probs) - 1)

    def stream(
        self,
        prompt: Prompt,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield `length` generated characters one at a time (stops early if `cancel` is set)."""
        context = list(prompt.context)
        for _ in range(length):
            if cancel is not None and cancel.is_set():
                return
            idx = self.next_index(context, temperature, top_k)
            context = context[1:] + [idx]
            yield self.vocab.idx_to_char[idx]


def generate(model, idx_to_char, char_to_idx, seed_text: str, length: int, temperature: float = 1.0,
             *, top_k: int | None = None, seed: int | None = None) -> str:
    """The course's generate(): the prompt followed by `length` sampled characters.

    Unlike the course's version it builds no graph, skips prompt characters outside the vocabulary
    instead of raising KeyError, and pads a short prompt with a character that is in the vocabulary.
    """
    vocab = Vocabulary("".join(idx_to_char[i] for i in range(len(idx_to_char))))
    if vocab.char_to_idx != dict(char_to_idx):
        raise ValueError("char_to_idx and idx_to_char disagree")
    frozen = model if isinstance(model, FrozenModel) else FrozenModel.from_model(model)
    prompt = prepare_prompt(seed_text, vocab, frozen.context_length)
    sampler = Sampler(frozen, vocab, seed)
    return prompt.text + "".join(sampler.stream(prompt, length, temperature, top_k))

"""Inference on plain floats, and text generation from it.

Sampling needs no gradients, so it builds no graph: `FrozenModel` holds a copy of the weights as
rows of floats, layer by layer, and runs the forward pass directly with the fused nodes' own float
maths (`core.functional`); the course's `generate` built a full autograd graph for every character,
then threw it away. A copy also means sampling can run in another thread while training goes on.
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

from core import functional as F
from core.data import Vocabulary


@dataclass(frozen=True)
class FrozenLinear:
    """A linear layer's weights as rows of floats: y = Wx + b."""

    weight: list[list[float]]
    bias: list[float]

    def __call__(self, x: list[float]) -> list[float]:
        return F.linear(self.weight, self.bias, x)


class FrozenModel:
    """A model's forward pass over a snapshot of its weights (which must not change while it is used)."""

    def __init__(self, embedding: list[list[float]], hidden: list[FrozenLinear], output: FrozenLinear,
                 activation: str, context_length: int):
        self.embedding = embedding
        self.hidden = hidden
        self.output = output
        self.activation = activation
        self.context_length = context_length
        self.vocab_size = len(embedding)
        embed_dim = len(embedding[0])
        # the first layer's weight columns that meet position p of the context, row by row
        self._columns_at = [[row[p * embed_dim:(p + 1) * embed_dim] for row in hidden[0].weight]
                            for p in range(context_length)]
        self._first_terms: dict[tuple[int, int], list[float]] = {}

    @classmethod
    def from_model(cls, model, copy: bool = True) -> FrozenModel:
        """The model's current weights; copy=False shares the rows of packed tables instead of copying
        them (cheap, but only valid until the weights next change)."""
        def rows(table):
            return table.copy_rows() if copy else table.rows()

        def frozen(layer) -> FrozenLinear:
            return FrozenLinear(rows(layer.weight), rows(layer.bias)[0])

        return cls(rows(model.embedding.table), [frozen(layer) for layer in model.hidden], frozen(model.output),
                   model.activation, model.context_length)

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

    def hidden_states(self, context: Sequence[int]) -> list[list[float]]:
        """Each hidden layer's output (after its activation) for `context`."""
        activate = F.ACTIVATIONS[self.activation]
        pre = list(map(sum, zip(self.hidden[0].bias, *(self._first_term(pos, idx) for pos, idx in enumerate(context)))))
        states = [activate(pre)]
        for layer in self.hidden[1:]:
            states.append(activate(layer(states[-1])))
        return states

    def logits(self, context: Sequence[int]) -> list[float]:
        return self.output(self.hidden_states(context)[-1])

    def probs(self, context: Sequence[int], temperature: float = 1.0) -> list[float]:
        return F.softmax(self.logits(context), temperature)

    def loss(self, context: Sequence[int], target: int) -> float:
        """Cross-entropy of `target` after `context`: log sum_j e^z_j - z_target."""
        zs = self.logits(context)
        return F.logsumexp(zs) - zs[target]

    def mean_loss(self, examples: Sequence[tuple[list[int], int]]) -> float:
        return sum(self.loss(c, t) for c, t in examples) / len(examples)


@dataclass(frozen=True)
class Prompt:
    """A prompt made ready for a model: its context indices and what had to be dropped."""

    text: str  # the usable part of the prompt, as given (unknown characters removed)
    context: list[int]
    skipped: str  # characters not in the vocabulary, in order of appearance
    start: list[int] | None = None  # items "lines": the all-padding context a line starts from; None: a stream


def starter_prompt(text: str) -> str:
    """A prompt drawn from a corpus: the first word of its first line, with the space after it ("The ");
    empty for a text of one word a line (names), where a sample starts best at the start of a line."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    word, space, _ = first_line.strip().partition(" ")
    return word + space if space else ""


def prepare_prompt(prompt: str, vocab: Vocabulary, context_length: int, items: str = "stream") -> Prompt:
    """Drop characters the model does not know, left-pad with a known one, keep the last context_length.

    items "lines" (a model trained a line at a time): the context is the prompt's last line, padded with line
    breaks exactly as training padded the start of each line — an empty prompt is the start of a line (of a
    name) — and sampling starts each new line from that padding again."""
    usable = "".join(c for c in prompt if c in vocab)
    skipped = "".join(dict.fromkeys(c for c in prompt if c not in vocab))
    if items == "lines" and "\n" in vocab:
        line = usable.rpartition("\n")[2]  # training never saw a line reach into the one before it
        start = [vocab.char_to_idx["\n"]] * context_length
        context = start[len(line):] + [vocab.char_to_idx[c] for c in line[-context_length:]]
        return Prompt(usable, context[-context_length:], skipped, start)
    padded = vocab.padding_char() * max(0, context_length - len(usable)) + usable
    context = [vocab.char_to_idx[c] for c in padded[len(padded) - context_length :]]
    return Prompt(usable, context, skipped)


def check_top_p(top_p: float | None) -> None:
    """Refuse a top_p that is not None or in (0, 1]."""
    if top_p is not None and not 0.0 < top_p <= 1.0:  # NaN fails this too
        raise ValueError(f"top_p must be in (0, 1] (or None for off), not {top_p}")


def nucleus(probs: Sequence[float], p: float) -> list[int]:
    """Top-p: the indices of the smallest set of characters, most likely first, whose probabilities add up
    to at least p of the total (the total is 1 for softmax output; any non-negative weights will do).

    Most likely first, ties broken by the lower index, so the set is the same for the same input. Mass
    is added up in that order, so the set minus its last (least likely) member holds less than p. p=1
    keeps every character with a nonzero probability (in floats, a tiny one can fail to add anything
    to a sum near 1). The most likely character is always kept. Works on Fractions too."""
    if p is None:
        raise ValueError("top_p must be in (0, 1], not None")
    check_top_p(p)
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    if not order:
        return []
    if p >= 1:
        return [i for i in order if probs[i] > 0] or order[:1]
    cumulative = list(accumulate(probs[i] for i in order))
    needed = p * cumulative[-1]
    return order[: bisect.bisect_left(cumulative, needed) + 1]  # the first prefix whose mass reaches p


class Sampler:
    """Generates text from a FrozenModel with its own random generator."""

    def __init__(self, model: FrozenModel, vocab: Vocabulary, seed: int | None = None):
        if len(vocab) != model.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} characters but the model expects {model.vocab_size}")
        self.model = model
        self.vocab = vocab
        self.rng = random.Random(seed)

    def next_index(self, context: Sequence[int], temperature: float = 1.0, top_k: int | None = None, *,
                   top_p: float | None = None) -> int:
        """The next character's index: the model's probabilities at `temperature`, cut to the `top_k` most
        likely (by logit) and then to the nucleus of mass `top_p` (see `nucleus`), and one draw from them.
        top_p None or 1 is off, and then the draw is exactly the one without it."""
        logits = self.model.logits(context)
        if top_k is not None and 0 < top_k < len(logits):
            cutoff = sorted(logits, reverse=True)[top_k - 1]
            logits = [z if z >= cutoff else -math.inf for z in logits]
        probs = F.softmax(logits, temperature)
        if top_p is not None and top_p != 1:
            kept = sorted(nucleus(probs, top_p))  # in index order: with every character kept, the same draw as without
            cumulative = list(accumulate(probs[i] for i in kept))
            return kept[min(bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1]), len(kept) - 1)]
        cumulative = list(accumulate(probs))
        return min(bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1]), len(probs) - 1)

    def stream(
        self,
        prompt: Prompt,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        cancel: threading.Event | None = None,
        *,
        top_p: float | None = None,
    ) -> Iterator[str]:
        """Yield `length` generated characters one at a time (stops early if `cancel` is set)."""
        check_top_p(top_p)  # raised here, by the call, not later by the first next()
        return self._stream(prompt, length, temperature, top_k, cancel, top_p)

    def _stream(self, prompt: Prompt, length: int, temperature: float, top_k: int | None,
                cancel: threading.Event | None, top_p: float | None) -> Iterator[str]:
        context = list(prompt.context)
        for _ in range(length):
            if cancel is not None and cancel.is_set():
                return
            if top_p is None:  # the call as it always was (a subclass may override next_index without top_p)
                idx = self.next_index(context, temperature, top_k)
            else:
                idx = self.next_index(context, temperature, top_k, top_p=top_p)
            restart = prompt.start is not None and idx == prompt.start[0]  # a line ended: the next starts afresh
            context = list(prompt.start) if restart else context[1:] + [idx]
            yield self.vocab.idx_to_char[idx]


def generate(model, idx_to_char, char_to_idx, seed_text: str, length: int, temperature: float = 1.0,
             *, top_k: int | None = None, top_p: float | None = None, seed: int | None = None) -> str:
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
    return prompt.text + "".join(sampler.stream(prompt, length, temperature, top_k, top_p=top_p))

"""Parameter storage: a layer's weights in one table, packed as rows of floats until asked for Values.

A table starts *packed*: its weights are rows of floats, which fused layers read at C speed
(`sum(map(mul, row, x))`). A linear layer's weight gradient for one example is an outer product,
g_i * x for row i; fused layers hand it over in that form (`add_outers`: g and x, once an example) and
the table keeps it pending: the SGD step applies it to the weights directly, skipping the rows with no
gradient and, after a ReLU, the inputs that are 0. It becomes rows of numbers only for a reader of whole
gradients (a dense optimiser, clipping, the norm), a batch at once, or for a row with more than one term
(a token twice in a context).

`value_rows()` / `values()` *unpack* the table, for good: each weight becomes a plain `Value` (the
course's parameter, with real `data` and `grad` attributes), and from then on those Values are the
weights. Fused layers read their `.data` when they run forward and add into their `.grad` in
backward, so the course's loop `for p in params: p.data -= lr * p.grad` runs at the speed of plain
attributes, and gives the same weights, to the last bit, as `sgd_step` on a packed table.
"""

from __future__ import annotations

import math
from collections import Counter
from operator import mul
from typing import Callable

from core.engine import Value


class ParamTable:
    """A rows × cols block of parameters with their gradients."""

    __slots__ = ("shape", "_rows", "_grad", "_dirty", "_pending", "_blocks", "_values")

    def __init__(self, rows: list[list[float]]):
        self.shape = (len(rows), len(rows[0]))
        self._rows = rows  # the weights, while packed
        self._grad = [[0.0] * len(row) for row in rows]
        self._dirty: set[int] = set()  # rows of _grad that may be non-zero
        self._pending: list[tuple[int, float, list[float]]] = []  # grad[row] += scale * vector, not yet done
        self._blocks: list[tuple[list[float], list[float]]] = []  # grad[r] += scales[r] * vector for every row r
        self._values: list[list[Value]] | None = None  # the weights, once unpacked

    # --- the weights ---

    @property
    def packed(self) -> bool:
        return self._values is None

    def rows(self) -> list[list[float]]:
        """The weights as rows of floats: while packed, the table's own rows (not a copy)."""
        if self.packed:
            return self._rows
        return [[p.data for p in row] for row in self._values]

    def copy_rows(self) -> list[list[float]]:
        return [row[:] for row in self.rows()]

    def value_rows(self) -> list[list[Value]]:
        """The weights as rows of Values, gradients included; unpacks the table for good."""
        if self.packed:
            grad = self._folded_grad()
            self._values = [[Value(w) for w in row] for row in self._rows]
            for r in self._dirty:
                for p, g in zip(self._values[r], grad[r]):
                    p.grad = g
            self._rows = self._grad = None
            self._dirty.clear()
        return self._values

    def values(self) -> list[Value]:
        """Every parameter as a Value, row by row (unpacks the table)."""
        return [p for row in self.value_rows() for p in row]

    def load(self, rows: list[list[float]]) -> None:
        """Set the weights to `rows`, and the gradients to 0."""
        self.set_rows([[float(w) for w in row] for row in rows])
        self.zero_grad()

    def set_rows(self, rows: list[list[float]]) -> None:
        """The weights become `rows` (an optimiser's dense step); the gradients stay as they are."""
        if self.packed:
            self._rows = rows
        else:
            for params, weights in zip(self._values, rows):
                for p, w in zip(params, weights):
                    p.data = w

    # --- the gradients ---

    def add_outer(self, row: int, scale: float, vector: list[float]) -> None:
        """grad[row] += scale * vector (kept pending while packed)."""
        if self.packed:
            self._products().append((row, scale, vector))
        else:
            for p, x in zip(self._values[row], vector):
                p.grad += scale * x

    def add_outers(self, scales: list[float], vector: list[float]) -> None:
        """grad[r] += scales[r] * vector for every row r: one example's gradient of a layer's weights, handed
        over whole (one call an example, not one a row); kept pending while packed."""
        if self.packed:
            self._blocks.append((scales, vector))
        else:
            for params, scale in zip(self._values, scales):
                if scale:
                    for p, x in zip(params, vector):
                        p.grad += scale * x

    def _products(self) -> list[tuple[int, float, list[float]]]:
        """The pending gradient as one outer product a row, the blocks handed over whole among them, in order."""
        if self._blocks:
            self._pending.extend([(r, scale, vector) for scales, vector in self._blocks
                                  for r, scale in enumerate(scales) if scale])
            self._blocks.clear()
        return self._pending

    def _fold_blocks(self) -> None:
        """Fold whole blocks into clean rows: row r's gradient is, for each input, one dot product of the row's
        scales with that input over the examples, added in the examples' order (the bits of one block after
        the other); a row no example reached stays clean."""
        columns = list(zip(*[vector for _, vector in self._blocks]))
        grad, dirty = self._grad, self._dirty
        for r, scales in enumerate(zip(*[scales for scales, _ in self._blocks])):
            if any(scales):
                grad[r] = [sum(map(mul, scales, column)) for column in columns]
                dirty.add(r)
        self._blocks.clear()

    def _fold(self, products: list[tuple[int, float, list[float]]]) -> None:
        """grad[row] += scale * vector for each product. A layer's products share a few input vectors (one per example
        of a batch): a clean row's gradient is then one dot product per input, over the examples, at C speed; its
        terms are added in the same order as one product after the other would add them, so the bits are the same."""
        vectors: dict[int, int] = {}  # id of an input vector → its place among them
        for _, _, vector in products:
            vectors.setdefault(id(vector), len(vectors))
        shared = len(vectors) < len(products) // 2
        scales: dict[int, list[float]] = {}
        for row, scale, vector in products:
            if shared and row not in self._dirty:
                scales.setdefault(row, [0.0] * len(vectors))[vectors[id(vector)]] += scale
            else:  # an embedding's rows, each with a slice of its own; a row with a gradient already
                self._grad[row] = [g + scale * x for g, x in zip(self._grad[row], vector)]
                self._dirty.add(row)
        if scales:
            inputs = [None] * len(vectors)
            for _, _, vector in products:
                inputs[vectors[id(vector)]] = vector
            columns = list(zip(*inputs))
            for row, row_scales in scales.items():
                self._grad[row] = [sum(map(mul, row_scales, column)) for column in columns]
                self._dirty.add(row)

    def grad_rows(self) -> list[list[float]]:
        """The gradient as rows of numbers. Folding a packed table's pending products in changes how it is held,
        not the next update's bits (which is why a step's watch may call this)."""
        if self.packed:
            return self._folded_grad()
        return [[p.grad for p in row] for row in self._values]

    def _folded_grad(self) -> list[list[float]]:
        """The packed gradient as rows of numbers, every pending outer product folded in."""
        if self._blocks and not self._pending and not self._dirty:
            self._fold_blocks()  # a layer's gradient over a batch: the common case, the fast one
        self._fold(self._products())
        self._pending.clear()
        return self._grad

    def zero_grad(self) -> None:
        if self.packed:
            for r in self._dirty:
                self._grad[r] = [0.0] * len(self._grad[r])
            self._dirty.clear()
            self._pending.clear()
            self._blocks.clear()
        else:
            for row in self._values:
                for p in row:
                    p.grad = 0.0

    def grads_finite(self) -> bool:
        if not self.packed:
            return all(math.isfinite(sum([p.grad for p in row])) for row in self._values)
        for scales, vector in self._blocks:  # a sum is finite only if every term is (else: overflow, or not)
            if not (math.isfinite(sum(scales)) or all(map(math.isfinite, scales))):
                return False
            if not (math.isfinite(sum(vector)) or all(map(math.isfinite, vector))):
                return False
        finite_vectors: dict[int, bool] = {}  # fused layers share one input vector across rows
        for _, scale, vector in self._pending:
            if not math.isfinite(scale):
                return False
            key = id(vector)
            if key not in finite_vectors:
                finite_vectors[key] = math.isfinite(sum(vector))
            if not finite_vectors[key]:
                return False
        return all(math.isfinite(sum(self._grad[r])) for r in self._dirty)

    def _grad_rows(self) -> list[list[float]]:
        """The rows of the gradient that may be non-zero."""
        if self.packed:
            grad = self._folded_grad()
            return [grad[r] for r in self._dirty]
        return [[p.grad for p in row] for row in self._values]

    def _map_grad_rows(self, change: Callable[[list[float]], list[float]]) -> None:
        """Replace each row g of the gradient by change(g)."""
        if self.packed:
            grad = self._folded_grad()
            for r in self._dirty:
                grad[r] = change(grad[r])
        else:
            for row in self._values:
                for p, g in zip(row, change([p.grad for p in row])):
                    p.grad = g

    def grad_sum_of_squares(self) -> float:
        return sum(sum(map(mul, g, g)) for g in self._grad_rows())

    def scale_grad(self, factor: float) -> None:
        self._map_grad_rows(lambda row: [factor * g for g in row])

    def clip_grad(self, limit: float) -> None:
        """The course's element-wise clip: each gradient into [-limit, limit]."""
        low = -limit
        self._map_grad_rows(lambda row: [limit if g > limit else low if g < low else g for g in row])

    # --- the update ---

    def sgd_step(self, learning_rate: float) -> None:
        """w -= learning_rate * grad, for every weight."""
        if not self.packed:
            for row in self._values:
                for p in row:
                    p.data -= learning_rate * p.grad
            return
        self._products()
        self._fold_rows_with_several_terms()
        data = self._rows
        for r in self._dirty:
            data[r] = [w - learning_rate * g for w, g in zip(data[r], self._grad[r])]
        nonzeros: dict[int, list[tuple[int, float]]] = {}  # per input vector, shared by its rows
        for r, scale, vector in self._pending:  # each is its row's whole gradient: grad[r] = scale * vector
            key = id(vector)
            if key not in nonzeros:
                nonzeros[key] = [(j, x) for j, x in enumerate(vector) if x]
            row = data[r]
            for j, x in nonzeros[key]:  # after a ReLU about half the inputs are 0: their weights stay
                row[j] -= learning_rate * (scale * x)

    def _fold_rows_with_several_terms(self) -> None:
        """Fold the pending products of rows that have more than one gradient term (a token twice in a
        context, two backward passes, an earlier fold), so that each product left pending is its row's
        whole gradient: stepping by it directly then gives the same bits as folding first."""
        terms = Counter(row for row, _, _ in self._pending)
        several = [product for product in self._pending if terms[product[0]] > 1 or product[0] in self._dirty]
        if several:
            self._fold(several)
            self._pending = [product for product in self._pending if product[0] not in self._dirty]

"""Parameter storage: a matrix of weights kept as rows of floats, seen one scalar at a time as Values.

Fused layers read and update whole rows at C speed (`sum(map(mul, row, x))`); the elementary engine
and any user code see each weight as a `Parameter`, a `Value` whose `.data` and `.grad` read and write
the table.

A linear layer's weight gradient for one example is an outer product, g_i * x for row i. Fused layers
hand it over in that form (`add_outer`) and the table keeps it pending: an SGD step applies it to the
weights directly, and only a reader of individual gradients (a Parameter's `.grad`, clipping, the
norm) makes it into rows of numbers. Rows that may hold a non-zero gradient are tracked, so zeroing
and updating skip the rest.
"""

from __future__ import annotations

import math
from operator import mul

from core.engine import Value, _leaf_backward

SPARSE_ENOUGH = 0.9  # below this share of non-zero inputs, updating them one by one beats rebuilding the row


class ParamTable:
    """A rows × cols block of parameters with their gradients."""

    __slots__ = ("data", "_grad", "_dirty", "_pending", "_views")

    def __init__(self, rows: list[list[float]]):
        self.data = rows
        self._grad = [[0.0] * len(row) for row in rows]
        self._dirty: set[int] = set()  # rows of _grad that may be non-zero
        self._pending: list[tuple[int, float, list[float]]] = []  # grad[row] += scale * vector, not yet done
        self._views: list[list[Parameter]] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.data), len(self.data[0]) if self.data else 0

    def row_values(self, row: int) -> list[Parameter]:
        if self._views is None:
            self._views = [[Parameter(self, r, c) for c in range(len(cols))] for r, cols in enumerate(self.data)]
        return self._views[row]

    def values(self) -> list[Parameter]:
        """Every parameter as a Value, row by row."""
        return [p for r in range(len(self.data)) for p in self.row_values(r)]

    def add_outer(self, row: int, scale: float, vector: list[float]) -> None:
        """grad[row] += scale * vector (kept pending until someone reads the gradient)."""
        self._pending.append((row, scale, vector))

    @property
    def grad(self) -> list[list[float]]:
        """The gradient as rows of numbers (folds in every pending outer product first)."""
        if self._pending:
            for row, scale, vector in self._pending:
                self._grad[row] = [g + scale * x for g, x in zip(self._grad[row], vector)]
                self._dirty.add(row)
            self._pending.clear()
        return self._grad

    def mark_dirty(self, row: int) -> None:
        self._dirty.add(row)

    def zero_grad(self) -> None:
        for r in self._dirty:
            self._grad[r] = [0.0] * len(self._grad[r])
        self._dirty.clear()
        self._pending.clear()

    def sgd_step(self, learning_rate: float) -> None:
        """data -= learning_rate * grad"""
        data = self.data
        for r in self._dirty:
            data[r] = [w - learning_rate * g for w, g in zip(data[r], self._grad[r])]
        nonzeros: dict[int, list[tuple[int, float]] | None] = {}  # per input vector, shared by its rows
        for r, scale, vector in self._pending:
            step = -learning_rate * scale
            key = id(vector)
            if key not in nonzeros:
                found = [(j, x) for j, x in enumerate(vector) if x]
                nonzeros[key] = found if len(found) < SPARSE_ENOUGH * len(vector) else None
            sparse = nonzeros[key]
            if sparse is None:
                data[r] = [w + step * x for w, x in zip(data[r], vector)]
            else:  # after a ReLU about half the inputs are 0: touch only the weights that move
                row = data[r]
                for j, x in sparse:
                    row[j] += step * x

    def grads_finite(self) -> bool:
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

    def grad_sum_of_squares(self) -> float:
        grad = self.grad
        return sum(sum(map(mul, grad[r], grad[r])) for r in self._dirty)

    def scale_grad(self, factor: float) -> None:
        grad = self.grad
        for r in self._dirty:
            grad[r] = [factor * g for g in grad[r]]

    def clip_grad(self, limit: float) -> None:
        """The course's element-wise clip: each gradient into [-limit, limit]."""
        grad, low = self.grad, -limit
        for r in self._dirty:
            grad[r] = [limit if g > limit else low if g < low else g for g in grad[r]]

    def copy_data(self) -> list[list[float]]:
        return [row[:] for row in self.data]

    def load(self, rows: list[list[float]]) -> None:
        self.data = [[float(v) for v in r] for r in rows]
        self.zero_grad()


class Parameter(Value):
    """One weight of a ParamTable, usable anywhere a Value is."""

    __slots__ = ("_table", "_row", "_col")

    def __init__(self, table: ParamTable, row: int, col: int):
        self._table = table
        self._row = row
        self._col = col
        self._backward = _leaf_backward
        self._parents = ()
        self._op = ""

    @property
    def data(self) -> float:
        return self._table.data[self._row][self._col]

    @data.setter
    def data(self, value: float) -> None:
        self._table.data[self._row][self._col] = value

    @property
    def grad(self) -> float:
        return self._table.grad[self._row][self._col]

    @grad.setter
    def grad(self, value: float) -> None:
        self._table.grad[self._row][self._col] = value
        self._table.mark_dirty(self._row)

"""Scalar reverse-mode autograd: the course's `Value`, with an iterative backward.

A `Value` is a scalar with `.data` and `.grad`; every operation on Values records its parents and
how to push its output's gradient back to them. `backward()` walks the graph in reverse topological
order. The walk is iterative, so a graph of any depth backpropagates (the course's recursive sort
hits Python's recursion limit around a thousand nodes deep).

In the reference engine every number of a model is a Value node, weights included, as in the course.
The fused nodes of `core.fused` do a whole layer in one node: they consume and produce these same
Values, so both kinds of node mix freely in one graph, but the weights they use are not graph nodes,
even when `parameters()` has made them Values: each fused node's backward hands the weights'
gradients to their tables (`core.params`), which keep them or add them into those Values.
"""

from __future__ import annotations

import math


def _leaf_backward() -> None:
    """Leaves and constants have nothing to propagate to."""


class Value:
    """A scalar with a gradient."""

    __slots__ = ("data", "grad", "_backward", "_parents", "_op")

    def __init__(self, data: float, _parents: tuple = (), _op: str = ""):
        self.data = data
        self.grad = 0.0
        self._backward = _leaf_backward
        self._parents = _parents
        self._op = _op

    def __repr__(self) -> str:
        return f"Value(data={self.data:.4f})"

    def __add__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a+b)/da = d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(ab)/da = b, d(ab)/db = a
            self.grad += out.grad * other.data
            other.grad += out.grad * self.data

        out._backward = _backward
        return out

    def __pow__(self, n: float) -> Value:
        out = Value(self.data**n, (self,), f"**{n}")

        def _backward():  # d(a^n)/da = n a^(n-1)
            self.grad += out.grad * (n * self.data ** (n - 1))

        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | float) -> Value:
        return self + (-other)

    def __truediv__(self, other: Value | float) -> Value:
        return self * (other**-1)

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rsub__(self, other: float) -> Value:
        return other + (-self)

    def __rtruediv__(self, other: float) -> Value:
        return other * (self**-1)

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():  # d(e^a)/da = e^a
            self.grad += out.grad * out.data

        out._backward = _backward
        return out

    def log(self) -> Value:
        out = Value(math.log(self.data), (self,), "log")

        def _backward():  # d(ln a)/da = 1/a
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():  # passes the gradient where the input was positive
            self.grad += out.grad * (1.0 if self.data > 0 else 0.0)

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():  # d(tanh a)/da = 1 - tanh(a)^2
            self.grad += out.grad * (1.0 - out.data * out.data)

        out._backward = _backward
        return out

    def backward(self) -> None:
        """Backpropagate from this node: its grad is set to 1, every ancestor's accumulates."""
        order = topological_order(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def topological_order(root) -> list:
    """Every node reachable from `root`, each after all of its parents (iterative depth-first).

    A node goes straight into `order` when it has no parents, or one parent already visited (the
    outputs of a fused node, after the first): a visited node is in `order` or on the stack, and the
    stack holds only descendants of the node being explored, never an ancestor of its parents.
    """
    order = []
    visited = {root}
    stack = [(root, iter(root._parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent not in visited:
                visited.add(parent)
                grandparents = parent._parents
                if not grandparents or (len(grandparents) == 1 and grandparents[0] in visited):
                    order.append(parent)  # it waits for nothing
                    continue
                stack.append((parent, iter(parent._parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order

"""Fused scalar operations: a whole layer, or softmax with cross-entropy, as one node.

The graph stays a graph of scalar Values: a fused layer takes Values in and gives Values out. What
changes is the bookkeeping. Instead of one node per multiply and add, a layer is one `Node` whose
backward reads its outputs' gradients and does the layer's whole chain rule over rows of floats at
C speed. Each output Value's only parent is that node, so backpropagation reaches it once all the
outputs' gradients are in.
"""

from __future__ import annotations

import math
from operator import mul
from typing import Sequence

from core.engine import Value, _leaf_backward
from core.params import ParamTable

ACTIVATIONS = ("relu", "tanh")


class Node:
    """A fused operation in the graph: parents, and one backward for all its outputs."""

    __slots__ = ("_parents", "_backward", "_op")

    def __init__(self, parents: tuple, op: str):
        self._parents = parents
        self._backward = _leaf_backward
        self._op = op


def _outputs_of(node: Node, data: list[float]) -> list[Value]:
    return [Value(d, (node,), node._op) for d in data]


def linear(x: Sequence[Value], weight: ParamTable, bias: ParamTable, activation: str | None) -> list[Value]:
    """y_i = act(b_i + sum_j W_ij x_j); backward: g_i = dy_i act'(.), dW_i += g_i x, db += g, dx_j += sum_i g_i W_ij."""
    xs = [v.data for v in x]
    rows = weight.data
    pre = [sum(map(mul, row, xs), b) for row, b in zip(rows, bias.data[0])]
    if activation == "relu":
        ys = [p if p > 0.0 else 0.0 for p in pre]
    elif activation == "tanh":
        ys = [math.tanh(p) for p in pre]
    else:
        ys = pre
    node = Node(tuple(x), f"linear+{activation}" if activation else "linear")
    outputs = _outputs_of(node, ys)

    def _backward():
        grads = [y.grad for y in outputs]
        if activation == "relu":
            grads = [g if y > 0.0 else 0.0 for g, y in zip(grads, ys)]
        elif activation == "tanh":
            grads = [g * (1.0 - y * y) for g, y in zip(grads, ys)]
        active = [i for i, g in enumerate(grads) if g]
        if not active:
            return
        for i in active:
            weight.add_outer(i, grads[i], xs)
        bias.add_outer(0, 1.0, grads)
        active_grads = [grads[i] for i in active]
        for v, column in zip(x, zip(*[rows[i] for i in active])):
            v.grad += sum(map(mul, active_grads, column))

    node._backward = _backward
    return outputs


def _softmax_floats(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(z - top) for z in logits]
    total = sum(exps)
    return [e / total for e in exps]


def cross_entropy(logits: Sequence[Value], target: int) -> Value:
    """loss = log(sum_j e^z_j) - z_t; backward: dz_j += dloss * (p_j - [j == t])."""
    zs = [v.data for v in logits]
    top = max(zs)
    log_total = math.log(sum(math.exp(z - top) for z in zs)) + top
    out = Value(log_total - zs[target], tuple(logits), "cross_entropy")

    def _backward():
        g = out.grad
        for v, z in zip(logits, zs):
            v.grad += g * math.exp(z - log_total)
        logits[target].grad -= g

    out._backward = _backward
    return out


def softmax(logits: Sequence[Value]) -> list[Value]:
    """p_i = e^z_i / sum_j e^z_j; backward: dz_i += p_i (dp_i - sum_j dp_j p_j)."""
    ps = _softmax_floats([v.data for v in logits])
    node = Node(tuple(logits), "softmax")
    outputs = _outputs_of(node, ps)

    def _backward():
        grads = [p.grad for p in outputs]
        dot = sum(map(mul, grads, ps))
        for v, g, p in zip(logits, grads, ps):
            v.grad += p * (g - dot)

    node._backward = _backward
    return outputs

"""Fused operations: an embedding lookup, a whole layer, softmax, softmax with cross-entropy, each one node.

Between layers the graph stays a graph of scalar Values: a fused node takes Values in and gives Values
out. Inside, it works on plain floats (`core.functional`), and its backward does the node's whole
chain rule over rows at C speed. Each output Value's only parent is the node, so backpropagation
reaches the node once all its outputs' gradients are in.

The weights are not nodes of this graph. A fused node reads them from their `ParamTable` as rows of
floats, and its backward hands their gradients to the table (`add_outer` a row, `add_outers` a layer's
rows at once), which keeps them as outer products or, once it has been unpacked into Values, adds them
into those Values' `.grad`.
"""

from __future__ import annotations

from operator import mul
from typing import Sequence

from core import functional as F
from core.engine import Value, _leaf_backward
from core.params import ParamTable

ACTIVATIONS = tuple(F.ACTIVATIONS)  # the names a layer accepts


class Node:
    """A fused operation in the graph: parents, and one backward for all its outputs."""

    __slots__ = ("_parents", "_backward", "_op")

    def __init__(self, parents: tuple, op: str):
        self._parents = parents
        self._backward = _leaf_backward
        self._op = op


def _outputs_of(node: Node, data: list[float]) -> list[Value]:
    parents = (node,)
    return [Value(d, parents, node._op) for d in data]


def embedding(table: ParamTable, context: Sequence[int]) -> list[Value]:
    """x = E[t_1] ‖ E[t_2] ‖ … (the context's rows end to end); backward: dE[t_k] += dx[k-th slice]."""
    rows, width = table.rows(), table.shape[1]
    node = Node((), "embedding")
    outputs = _outputs_of(node, [w for t in context for w in rows[t]])

    def _backward():
        grads = [x.grad for x in outputs]
        for k, t in enumerate(context):
            table.add_outer(t, 1.0, grads[k * width:(k + 1) * width])

    node._backward = _backward
    return outputs


def linear(x: Sequence[Value], weight: ParamTable, bias: ParamTable, activation: str | None,
           keep: Sequence[float] | None = None) -> list[Value]:
    """y_i = k_i act(b_i + sum_j W_ij x_j), k the dropout mask (0, or 1/(1-p) for a unit kept; none: 1);
    backward: g_i = dy_i k_i act'(.), dW_i += g_i x, db += g, dx_j += sum_i g_i W_ij."""
    xs = [v.data for v in x]
    rows = weight.rows()
    pre = F.linear(rows, bias.rows()[0], xs)
    ys = F.ACTIVATIONS[activation](pre) if activation else pre
    node = Node(tuple(x), f"linear+{activation}" if activation else "linear")
    outputs = _outputs_of(node, ys if keep is None else [y * k for y, k in zip(ys, keep)])

    def _backward():
        grads = [y.grad for y in outputs]
        if keep is not None:
            grads = [g * k for g, k in zip(grads, keep)]
        if activation:
            grads = F.ACTIVATION_BACKWARDS[activation](ys, grads)
        active = [i for i, g in enumerate(grads) if g]
        if not active:
            return
        weight.add_outers(grads, xs)
        bias.add_outer(0, 1.0, grads)
        active_grads = [grads[i] for i in active]
        for v, column in zip(x, zip(*[rows[i] for i in active])):
            v.grad += sum(map(mul, active_grads, column))

    node._backward = _backward
    return outputs


def cross_entropy(logits: Sequence[Value], target: int) -> Value:
    """loss = log(sum_j e^z_j) - z_t; backward: dz_j += dloss * (p_j - [j == t]), p = softmax(z)."""
    zs = [v.data for v in logits]
    out = Value(F.logsumexp(zs) - zs[target], tuple(logits), "cross_entropy")

    def _backward():
        g = out.grad
        for v, p in zip(logits, F.softmax(zs)):
            v.grad += g * p
        logits[target].grad -= g

    out._backward = _backward
    return out


def softmax(logits: Sequence[Value]) -> list[Value]:
    """p_i = e^z_i / sum_j e^z_j; backward: dz_i += p_i (dp_i - sum_j dp_j p_j)."""
    ps = F.softmax([v.data for v in logits])
    node = Node(tuple(logits), "softmax")
    outputs = _outputs_of(node, ps)

    def _backward():
        grads = [p.grad for p in outputs]
        dot = sum(map(mul, grads, ps))
        for v, g, p in zip(logits, grads, ps):
            v.grad += p * (g - dot)

    node._backward = _backward
    return outputs

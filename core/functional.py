"""The maths of the model on plain floats, in one place: a layer, its activations, log-sum-exp, softmax.

The fused nodes (`core.fused`) run their forward and backward passes with these, and inference
(`core.sampling`) uses the same ones, so training and sampling compute the same functions.
"""

from __future__ import annotations

import math
from operator import mul
from typing import Sequence


def linear(weight: Sequence[Sequence[float]], bias: Sequence[float], x: Sequence[float]) -> list[float]:  # y = Wx + b
    return [sum(map(mul, row, x), b) for row, b in zip(weight, bias)]


def relu(xs: Sequence[float]) -> list[float]:  # y = max(0, x)
    return [x if x > 0.0 else 0.0 for x in xs]


def relu_backward(ys: Sequence[float], grads: Sequence[float]) -> list[float]:  # dx = dy where y > 0, else 0
    return [g if y > 0.0 else 0.0 for g, y in zip(grads, ys)]


def tanh(xs: Sequence[float]) -> list[float]:  # y = (e^x - e^-x) / (e^x + e^-x)
    return [math.tanh(x) for x in xs]


def tanh_backward(ys: Sequence[float], grads: Sequence[float]) -> list[float]:  # dx = dy (1 - y²)
    return [g * (1.0 - y * y) for g, y in zip(grads, ys)]


ACTIVATIONS = {"relu": relu, "tanh": tanh}
ACTIVATION_BACKWARDS = {"relu": relu_backward, "tanh": tanh_backward}


def logsumexp(zs: Sequence[float]) -> float:  # log sum_j e^z_j, shifted by max z so no e^z overflows
    top = max(zs)
    return math.log(sum(math.exp(z - top) for z in zs)) + top


def softmax(zs: Sequence[float], temperature: float = 1.0) -> list[float]:  # p_i = e^(z_i/T) / sum_j e^(z_j/T)
    """Probabilities at a temperature T; as T → 0 all the mass goes to the largest z (T ≤ 0 gives that limit)."""
    if temperature <= 0.0:
        best = max(range(len(zs)), key=zs.__getitem__)
        return [1.0 if i == best else 0.0 for i in range(len(zs))]
    top = max(zs)
    exps = [math.exp((z - top) / temperature) for z in zs]
    total = sum(exps)
    return [e / total for e in exps]

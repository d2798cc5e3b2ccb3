"""The optimiser: what to do with the gradients once `backward()` has filled them in.

    optimizer = SGD(model, lr=0.01)
    optimizer.zero_grad()
    loss = model.loss(context, target)
    loss.backward()
    optimizer.step()

as in PyTorch and makemore. It works on the model's parameter tables (`core.params`), so a step
applies each layer's pending outer products directly instead of visiting 50,000 Values one by one.
The clipping helpers and the finite check sit here too, as the step's companions.
"""

from __future__ import annotations

import math


class SGD:
    """Plain stochastic gradient descent: w -= lr * dL/dw for every parameter of `model`.

    `lr` is a plain attribute: set it before any step (a trainer sets it from its configuration).
    """

    def __init__(self, model, lr: float):
        self.model = model
        self.lr = lr

    def zero_grad(self) -> None:
        self.model.zero_grad()

    def step(self) -> None:
        for table in self.model.tables():
            table.sgd_step(self.lr)

    def grads_finite(self) -> bool:
        """No gradient is infinite or NaN."""
        return all(table.grads_finite() for table in self.model.tables())

    def grad_norm(self) -> float:
        """sqrt(sum of every gradient squared): the gradients' global L2 norm."""
        return sum(table.grad_sum_of_squares() for table in self.model.tables()) ** 0.5

    def scale_grad(self, factor: float) -> None:
        for table in self.model.tables():
            table.scale_grad(factor)

    def clip_grad_value(self, limit: float) -> None:
        """The course's element-wise clip: each gradient into [-limit, limit]."""
        for table in self.model.tables():
            table.clip_grad(limit)

    def clip_grad_norm(self, max_norm: float) -> float:
        """Scale all gradients down so their global L2 norm is at most max_norm; returns the norm before."""
        norm = self.grad_norm()
        if norm > max_norm:
            for table in self.model.tables():
                table.scale_grad(max_norm / norm)
        return norm


def scheduled_lr(config, step: int, total_steps: int | None) -> float:
    """The learning rate of update number `step` (0-based) of a run of `total_steps` updates.

    Warm-up: lr·(step+1)/warmup over the first `warmup_steps`. Then "constant": lr; "step": lr, then
    lr·decay from `decay_at` of the budget on (makemore's 0.1 → 0.01); "cosine": from lr down to
    lr·decay along half a cosine. A run without a budget has no end to decay towards: constant.
    """
    lr, warmup = config.learning_rate, config.warmup_steps
    if step < warmup:
        return lr * (step + 1) / warmup
    if total_steps is None or config.lr_schedule == "constant":
        return lr
    if config.lr_schedule == "step":
        return lr * config.lr_decay if step >= config.decay_at * total_steps else lr
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return lr * (config.lr_decay + (1.0 - config.lr_decay) * 0.5 * (1.0 + math.cos(math.pi * progress)))

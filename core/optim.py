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

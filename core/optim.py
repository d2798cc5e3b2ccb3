"""The optimisers: everything that happens to the weights once `backward()` has filled in the gradients.

    optimizer = SGD(model, lr=0.01)          # or Momentum, Adam, AdamW: PyTorch's definitions and defaults
    optimizer.zero_grad()
    loss = model.loss(context, target)
    loss.backward()
    optimizer.step()

as in PyTorch and makemore. An optimiser owns the whole update and nothing else touches the weights: the
mean of a batch's gradients (they add up in the tables: `step(batch)` divides), clipping, weight decay, its
own state (momentum, Adam's moments, the step count) and the step itself. `lr` is the learning rate, always.

The update works on the model's parameter tables (`core.params`). Plain SGD without decay takes their sparse
path: each layer's pending outer products applied directly, the weights of a ReLU's zero inputs skipped.
Anything that moves every weight at every step (momentum, Adam, decay) runs row by row over whole tables.
"""

from __future__ import annotations

import math

from core.params import ParamTable


class Optimizer:
    """What every optimiser does around its own rule: average, clip, decay; its state in and out of a checkpoint."""

    name = ""  # what --optimizer calls it: registered in OPTIMIZERS, it is a choice of the form and the flag
    SETTINGS: tuple[str, ...] = ()  # the run settings it reads besides lr, decay and clipping (its own Settings)

    def __init__(self, model, lr: float, weight_decay: float = 0.0, clip_value: float | None = None,
                 clip_norm: float | None = None):
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.steps = 0  # updates taken: Adam's t
        self.divisor = 1  # the last step's: the tables held `divisor` × the gradient it followed (see `prepare`)

    # --- the gradients ---

    @property
    def tables(self) -> list[ParamTable]:
        return self.model.tables()

    def zero_grad(self) -> None:
        self.model.zero_grad()

    def grads_finite(self) -> bool:
        """No gradient is infinite or NaN."""
        return all(table.grads_finite() for table in self.tables)

    def grad_norm(self) -> float:
        """sqrt(sum of every gradient squared): the gradients' global L2 norm."""
        return sum(table.grad_sum_of_squares() for table in self.tables) ** 0.5

    def scale_grad(self, factor: float) -> None:
        for table in self.tables:
            table.scale_grad(factor)

    def clip_grad_value(self, limit: float) -> None:
        """The course's element-wise clip: each gradient into [-limit, limit]."""
        for table in self.tables:
            table.clip_grad(limit)

    def clip_grad_norm(self, max_norm: float) -> float:
        """Scale all gradients down so their global L2 norm is at most max_norm; returns the norm before."""
        norm = self.grad_norm()
        if norm > max_norm:
            self.scale_grad(max_norm / norm)
        return norm

    # --- the step ---

    def follow(self, config, lr: float) -> None:
        """Take a run's settings for the next step (they may change between pauses): lr, decay, clipping, and
        the optimiser's own (SETTINGS)."""
        self.lr, self.weight_decay = lr, config.weight_decay
        self.clip_value, self.clip_norm = config.clip_value, config.clip_norm
        for name in self.SETTINGS:
            setattr(self, name, getattr(config, name))

    def prepare(self, batch: int = 1) -> None:
        """Make the tables hold the gradient the update follows: the mean of the `batch` gradients summed in
        them, clipped. Without clipping the mean is left to the update (`divisor`): no pass over every weight."""
        self.divisor = batch
        if self.clip_value is not None or self.clip_norm is not None:
            if batch > 1:
                self.scale_grad(1.0 / batch)  # clip the mean gradient, as a batch-1 step clips its own
            self.divisor = 1
            if self.clip_value is not None:
                self.clip_grad_value(self.clip_value)
            if self.clip_norm is not None:
                self.clip_grad_norm(self.clip_norm)

    def step(self, batch: int = 1) -> None:
        """One update from the gradients of `batch` examples summed in the tables (`prepare`, then the rule)."""
        self.prepare(batch)
        self.update()

    def update(self) -> None:
        """The rule, on the prepared gradients; `steps` counts it."""
        self.steps += 1
        for index, table in enumerate(self.tables):
            self._update_table(index, table)

    def _update_table(self, index: int, table: ParamTable) -> None:
        raise NotImplementedError

    def _gradient_rows(self, table: ParamTable) -> list[list[float]]:
        """The gradient followed, as whole rows: the tables' prepared one, divided into its mean."""
        rows = table.grad_rows()
        if self.divisor == 1:
            return rows
        return [[g / self.divisor for g in row] for row in rows]

    # --- its state ---

    def state_dict(self) -> dict:
        """What a checkpoint keeps of it: its name, steps and buffers (rows of floats, by table). Each table's list
        of rows is a copy: a step replaces rows, never changes one, so this stays as it is while training goes on."""
        return {"name": self.name, "steps": self.steps,
                "buffers": {name: tables and [list(rows) for rows in tables] for name, tables in self._buffers().items()}}

    def load_state_dict(self, state: dict) -> None:
        """Carry on from `state_dict()`'s output; a ValueError names what does not fit this optimiser and model."""
        if not isinstance(state, dict) or state.get("name") != self.name:
            raise ValueError(f"the optimizer state is not {self.name}'s")
        steps, buffers = state.get("steps"), state.get("buffers")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
            raise ValueError("the optimizer's steps must be a whole number ≥ 0")
        shapes = [table.shape for table in self.tables]
        if not isinstance(buffers, dict) or set(buffers) != set(self._buffers()):
            raise ValueError(f"the optimizer's buffers must be {', '.join(self._buffers()) or 'none'}")
        for name, tables in buffers.items():
            if tables is not None and not _rows_of(tables, shapes):
                raise ValueError(f"the optimizer's {name} does not fit the model's tables (or is not finite)")
        self.steps = steps
        self._load_buffers({name: tables and [[[float(x) for x in row] for row in rows] for rows in tables]
                            for name, tables in buffers.items()})

    def _buffers(self) -> dict[str, list | None]:
        return {}

    def _load_buffers(self, buffers: dict) -> None:
        pass


def _rows_of(tables, shapes) -> bool:
    """Whether `tables` are rows of finite numbers in exactly these shapes."""
    return isinstance(tables, list) and len(tables) == len(shapes) and all(
        isinstance(rows, list) and len(rows) == r and all(
            isinstance(row, list) and len(row) == c and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in row)
            for row in rows)
        for rows, (r, c) in zip(tables, shapes))


def _zeros(tables: list[ParamTable]) -> list[list[list[float]]]:
    return [[[0.0] * table.shape[1] for _ in range(table.shape[0])] for table in tables]


class SGD(Optimizer):
    """Stochastic gradient descent, the course's: w -= lr·(g + weight_decay·w) (PyTorch's L2 decay)."""

    name = "sgd"

    def update(self) -> None:
        self.steps += 1
        if not self.weight_decay:  # the sparse path: lr·(sum)/batch, as the course's loop gives it, to the bit
            for table in self.tables:
                table.sgd_step(self.lr / self.divisor)
            return
        for table in self.tables:
            self._update_table(0, table)

    def _update_table(self, index: int, table: ParamTable) -> None:
        lr, decay = self.lr, self.weight_decay
        grads = self._gradient_rows(table)
        table.set_rows([[w - lr * (g + decay * w) for w, g in zip(weights, gradient)]
                        for weights, gradient in zip(table.rows(), grads)])


class Momentum(Optimizer):
    """SGD with momentum, PyTorch's: b = momentum·b + (g + decay·w) (b = g + decay·w at first), w -= lr·b."""

    name = "momentum"
    SETTINGS = ("momentum",)
    NESTEROV = False  # Nesterov's: w -= lr·(g + decay·w + momentum·b)

    def __init__(self, model, lr: float, momentum: float = 0.9, **common):
        super().__init__(model, lr, **common)
        self.momentum = momentum
        self.buffer: list[list[list[float]]] | None = None

    def update(self) -> None:
        if self.buffer is None:
            self.buffer = [None] * len(self.tables)  # each becomes its table's first gradient, as PyTorch's
        super().update()

    def _update_table(self, index: int, table: ParamTable) -> None:
        lr, decay, mu = self.lr, self.weight_decay, self.momentum
        weights, grads = table.rows(), self._gradient_rows(table)
        if decay:
            grads = [[g + decay * w for w, g in zip(row, gradient)] for row, gradient in zip(weights, grads)]
        buffer = self.buffer[index]
        buffer = self.buffer[index] = ([row[:] for row in grads] if buffer is None else
                                       [[mu * b + g for b, g in zip(brow, grow)] for brow, grow in zip(buffer, grads)])
        follow = ([[g + mu * b for g, b in zip(grow, brow)] for grow, brow in zip(grads, buffer)] if self.NESTEROV
                  else buffer)
        table.set_rows([[w - lr * d for w, d in zip(row, drow)] for row, drow in zip(weights, follow)])

    def _buffers(self) -> dict:
        return {"momentum": self.buffer}

    def _load_buffers(self, buffers: dict) -> None:
        self.buffer = buffers["momentum"]


class Nesterov(Momentum):
    """SGD with Nesterov momentum (PyTorch's nesterov=True): the step looks ahead along the buffer."""

    name = "nesterov"
    NESTEROV = True


class Adam(Optimizer):
    """Adam, PyTorch's: m = β1·m + (1-β1)·g, v = β2·v + (1-β2)·g², w -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε), with
    g the gradient plus decay·w (L2, as PyTorch's Adam adds it)."""

    name = "adam"
    DECOUPLED = False  # AdamW: the decay shrinks the weights directly, outside the moments

    def __init__(self, model, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 **common):
        super().__init__(model, lr, **common)
        self.betas, self.eps = betas, eps
        self.m: list[list[list[float]]] | None = None
        self.v: list[list[list[float]]] | None = None

    def update(self) -> None:
        if self.m is None:
            self.m, self.v = _zeros(self.tables), _zeros(self.tables)
        super().update()

    def _update_table(self, index: int, table: ParamTable) -> None:
        (beta1, beta2), eps, lr, decay, t, div = self.betas, self.eps, self.lr, self.weight_decay, self.steps, self.divisor
        # PyTorch's w -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε), rearranged to one division an entry:
        # w -= k · m / (√v + ε'), k = lr·√(1-β2^t)/(1-β1^t), ε' = ε·√(1-β2^t)
        root_correction = math.sqrt(1 - beta2 ** t)
        k, eps_ = lr * root_correction / (1 - beta1 ** t), eps * root_correction
        # the tables hold div × the mean gradient: its share of each moment, divided in once (one pass, not two)
        share1, share2 = (1 - beta1) / div, (1 - beta2) / (div * div)
        l2 = 0.0 if self.DECOUPLED else decay * div  # Adam's decay joins the gradient (the sum, here)
        shrink = 1 - lr * decay if self.DECOUPLED else 1.0
        sqrt = math.sqrt
        ms, vs, new = self.m[index], self.v[index], []
        for r, (w_row, g_row) in enumerate(zip(table.rows(), table.grad_rows())):
            if l2:
                g_row = [g + l2 * w for w, g in zip(w_row, g_row)]
            m_row = ms[r] = [beta1 * m + share1 * g for m, g in zip(ms[r], g_row)]
            v_row = vs[r] = [beta2 * v + share2 * g * g for v, g in zip(vs[r], g_row)]
            new.append([shrink * w - k * m / (sqrt(v) + eps_) for w, m, v in zip(w_row, m_row, v_row)])
        table.set_rows(new)

    def _buffers(self) -> dict:
        return {"m": self.m, "v": self.v}

    def _load_buffers(self, buffers: dict) -> None:
        self.m, self.v = buffers["m"], buffers["v"]


class AdamW(Adam):
    """AdamW, PyTorch's: w *= 1 - lr·decay, then Adam's step without decay in its moments (decoupled)."""

    name = "adamw"
    DECOUPLED = True

    def __init__(self, model, lr: float = 1e-3, weight_decay: float = 1e-2, **rest):
        super().__init__(model, lr, weight_decay=weight_decay, **rest)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adam, AdamW)}


def optimizer_for(model, config) -> Optimizer:
    """The optimiser a run's settings name, with their decay, clipping and its own settings (momentum's)."""
    kind = OPTIMIZERS[config.optimizer]
    return kind(model, config.learning_rate, weight_decay=config.weight_decay, clip_value=config.clip_value,
                clip_norm=config.clip_norm, **{name: getattr(config, name) for name in kind.SETTINGS})


def scheduled_lr(config, step: int, total_steps: int | None, spent: float | None = None) -> float:
    """The learning rate of update number `step` (0-based) of a run of `total_steps` updates, or of a time budget
    of which the share `spent` is used (whichever ends first leads the schedule).

    Warm-up: lr·(step+1)/warmup over the first `warmup_steps`. Then "constant": lr; "step": lr, then
    lr·decay from `decay_at` of the budget on (makemore's 0.1 → 0.01); "cosine": from lr down to
    lr·decay along half a cosine. A run without a budget has no end to decay towards: constant.
    """
    lr, warmup = config.learning_rate, config.warmup_steps
    if step < warmup:
        return lr * (step + 1) / warmup
    if (total_steps is None and spent is None) or config.lr_schedule == "constant":
        return lr
    if config.lr_schedule == "step":
        past = (total_steps is not None and step >= config.decay_at * total_steps) or \
            (spent is not None and spent >= config.decay_at)
        return lr * config.lr_decay if past else lr
    shares = [spent] if spent is not None else []
    if total_steps is not None:
        shares.append((step - warmup) / max(1, total_steps - warmup))
    progress = min(1.0, max(shares))
    return lr * (config.lr_decay + (1.0 - config.lr_decay) * 0.5 * (1.0 + math.cos(math.pi * progress)))

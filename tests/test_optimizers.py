"""The optimisers (issue 23): each update is its formula, PyTorch's where torch is here; weight decay and dropout
have the gradients they should, in both engines; a run resumes mid-Adam, mid-dropout, bit for bit; and the
default and course presets train exactly as before the optimisers came."""

import json
import math
import random
from pathlib import Path

import pytest

from core.corpora import resolve_corpus
from core.model import CharacterLM
from core.optim import SGD, Adam, AdamW, Momentum, Nesterov
from core.run import Run
from core.settings import RunConfig

VOCAB, CONTEXT = 6, 4
_rnd = random.Random(3)
EXAMPLES = [([_rnd.randrange(VOCAB) for _ in range(CONTEXT)], _rnd.randrange(VOCAB)) for _ in range(12)]
FIXTURES = Path(__file__).parent / "fixtures"


def small_model(engine: str = "fused", **kwargs) -> CharacterLM:
    return CharacterLM(VOCAB, 3, 8, CONTEXT, n_hidden=2, seed=5, engine=engine, **kwargs)


def flat(model: CharacterLM) -> list[float]:
    return [w for table in model.weights() for row in table for w in row]


def mean_gradient(model: CharacterLM, batch, keep=None) -> list[float]:
    """The mean gradient of `batch`'s losses at the model's weights, flat (on a copy: the model is left alone)."""
    copy = small_model()
    copy.load_weights(model.weights())
    for context, target in batch:
        copy.loss(context, target, keep).backward()
    return [g / len(batch) for table in copy.tables() for row in table.grad_rows() for g in row]


def by_formula(name: str, steps: int, lr: float, decay: float, batch_size: int) -> list[float]:
    """The weights after `steps` updates, each written out by hand from its definition (PyTorch's)."""
    model = small_model()
    w = flat(model)
    state = {"m": [0.0] * len(w), "v": [0.0] * len(w), "b": None}
    for t in range(1, steps + 1):
        model.load_weights(unflatten(model, w))
        g = mean_gradient(model, EXAMPLES[(t - 1) * batch_size:t * batch_size])
        if name == "adamw":
            w = [x * (1 - lr * decay) for x in w]
        elif decay:
            g = [gi + decay * x for gi, x in zip(g, w)]
        if name == "sgd":
            w = [x - lr * gi for x, gi in zip(w, g)]
        elif name in ("momentum", "nesterov"):
            b = state["b"] = g[:] if state["b"] is None else [0.9 * bi + gi for bi, gi in zip(state["b"], g)]
            d = [gi + 0.9 * bi for gi, bi in zip(g, b)] if name == "nesterov" else b
            w = [x - lr * di for x, di in zip(w, d)]
        else:  # adam, adamw
            m = state["m"] = [0.9 * mi + 0.1 * gi for mi, gi in zip(state["m"], g)]
            v = state["v"] = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(state["v"], g)]
            m_hat = [mi / (1 - 0.9 ** t) for mi in m]
            v_hat = [vi / (1 - 0.999 ** t) for vi in v]
            w = [x - lr * mh / (math.sqrt(vh) + 1e-8) for x, mh, vh in zip(w, m_hat, v_hat)]
    return w


def unflatten(model: CharacterLM, values: list[float]) -> list:
    it = iter(values)
    return [[[next(it) for _ in range(cols)] for _ in range(rows)] for rows, cols in (t.shape for t in model.tables())]


def by_optimizer(name: str, steps: int, lr: float, decay: float, batch_size: int) -> list[float]:
    model = small_model()
    kind = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam, "adamw": AdamW}[name]
    optimizer = kind(model, lr, weight_decay=decay)
    for t in range(steps):
        optimizer.zero_grad()
        for context, target in EXAMPLES[t * batch_size:(t + 1) * batch_size]:
            model.loss(context, target).backward()
        optimizer.step(batch_size)
    return flat(model)


CASES = [(name, decay, batch) for name in ("sgd", "momentum", "nesterov", "adam", "adamw")
         for decay, batch in ((0.0, 1), (0.1, 2))]


@pytest.mark.parametrize("name, decay, batch", CASES, ids=[f"{n}-decay{d}-batch{b}" for n, d, b in CASES])
def test_each_update_is_its_formula_written_out(name, decay, batch):
    lr = 0.01 if name.startswith("adam") else 0.1
    ours, formula = by_optimizer(name, 4, lr, decay, batch), by_formula(name, 4, lr, decay, batch)
    assert ours == pytest.approx(formula, rel=1e-12, abs=1e-14)
    assert ours != flat(small_model())


@pytest.mark.parametrize("name, decay, batch", CASES, ids=[f"{n}-decay{d}-batch{b}" for n, d, b in CASES])
def test_each_update_is_pytorchs(name, decay, batch):
    torch = pytest.importorskip("torch", reason="torch is not installed: PyTorch's optimisers were not compared")
    lr = 0.01 if name.startswith("adam") else 0.1
    model = small_model()
    params = [torch.tensor(table, dtype=torch.float64, requires_grad=True) for table in model.weights()]
    make = {"sgd": lambda: torch.optim.SGD(params, lr, weight_decay=decay),
            "momentum": lambda: torch.optim.SGD(params, lr, momentum=0.9, weight_decay=decay),
            "nesterov": lambda: torch.optim.SGD(params, lr, momentum=0.9, nesterov=True, weight_decay=decay),
            "adam": lambda: torch.optim.Adam(params, lr, weight_decay=decay),
            "adamw": lambda: torch.optim.AdamW(params, lr, weight_decay=decay)}
    theirs = make[name]()
    for t in range(4):  # our gradient at their weights, each step: the same gradients in, the same weights out?
        model.load_weights([p.detach().tolist() for p in params])
        gradient = unflatten(model, mean_gradient(model, EXAMPLES[t * batch:(t + 1) * batch]))
        for p, g in zip(params, gradient):
            p.grad = torch.tensor(g, dtype=torch.float64)
        theirs.step()
    assert by_optimizer(name, 4, lr, decay, batch) == pytest.approx(
        [x for p in params for row in p.tolist() for x in row], rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dropouts_gradient_is_the_same_in_both_engines_and_is_the_loss_slope(activation):
    rng = random.Random(1)
    fused, reference = small_model(activation=activation), small_model("reference", activation=activation)
    keep = fused.dropout_masks(rng, 0.5)
    assert 0 in keep[0] and 2.0 in keep[0]  # dropped units, and kept ones scaled by 1/(1-p)
    context, target = EXAMPLES[0]
    for model in (fused, reference):
        model.zero_grad()
        model.loss(context, target, keep).backward()
    grads = [[table.grad_rows() for table in model.tables()] for model in (fused, reference)]
    assert flat_rows(grads[0]) == pytest.approx(flat_rows(grads[1]), rel=1e-9, abs=1e-12)
    weights = fused.weights()
    for t, r, c in ((1, 3, 2), (3, 0, 5), (5, 4, 1)):  # a weight of each layer: the slope of the loss, numerically
        slope = []
        for h in (1e-6, -1e-6):
            moved = [[row[:] for row in table] for table in weights]
            moved[t][r][c] += h
            probe = small_model(activation=activation)
            probe.load_weights(moved)
            slope.append(probe.loss(context, target, keep).data)
        assert grads[0][t][r][c] == pytest.approx((slope[0] - slope[1]) / 2e-6, rel=1e-5, abs=1e-8)


def flat_rows(tables) -> list[float]:
    return [x for table in tables for row in table for x in row]


@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_weight_decay_follows_the_slope_of_the_loss_plus_its_l2(engine):
    """SGD with decay λ steps down the gradient of loss + λ/2·‖w‖², in both engines."""
    decay, lr = 0.3, 1e-3
    model = small_model(engine)
    before = flat(model)
    context, target = EXAMPLES[1]
    optimizer = SGD(model, lr, weight_decay=decay)
    optimizer.zero_grad()
    model.loss(context, target).backward()
    optimizer.step()
    followed = [(b - a) / lr for b, a in zip(before, flat(model))]

    def regularised(weights: list[float]) -> float:
        probe = small_model()
        probe.load_weights(unflatten(probe, weights))
        return probe.loss(context, target).data + decay / 2 * sum(w * w for w in weights)

    for i in (0, 40, len(before) - 1):
        up, down = before[:], before[:]
        up[i] += 1e-6
        down[i] -= 1e-6
        assert followed[i] == pytest.approx((regularised(up) - regularised(down)) / 2e-6, rel=1e-5, abs=1e-8)


def test_a_run_resumes_mid_adam_with_dropout_bit_for_bit(tmp_path):
    config = RunConfig(context_length=4, embed_dim=4, hidden_dim=16, optimizer="adamw", learning_rate=0.003,
                       weight_decay=0.1, dropout=0.2, batch_size=3, max_steps=60, epochs=None, eval_every=20)
    corpus = resolve_corpus("names")
    straight = Run.new(corpus, config)
    straight.trainer.run()
    first = Run.new(corpus, config)
    first.trainer.run(max_steps=25)
    resumed = Run.load(first.save(tmp_path / "mid-adam.json"), corpus)
    assert resumed.trainer.optimizer.steps == 25
    resumed.trainer.run()
    assert resumed.model.weights() == straight.model.weights()
    assert resumed.trainer.state == straight.trainer.state
    assert resumed.trainer.optimizer.state_dict() == straight.trainer.optimizer.state_dict()


def test_dropout_changes_training_and_only_training():
    corpus = resolve_corpus("names")
    config = RunConfig(context_length=4, embed_dim=4, hidden_dim=16, max_steps=30, epochs=None)
    plain, dropped = Run.new(corpus, config), Run.new(corpus, config.replace(dropout=0.5))
    assert plain.trainer.snapshot().loss(*EXAMPLES[0]) == dropped.trainer.snapshot().loss(*EXAMPLES[0])  # same start
    plain.trainer.run()
    dropped.trainer.run()
    assert plain.model.weights() != dropped.model.weights()
    frozen = dropped.trainer.snapshot()  # sampling and validation see every unit: the same odds every time
    assert frozen.probs(EXAMPLES[0][0]) == frozen.probs(EXAMPLES[0][0])


def test_the_default_and_course_presets_train_exactly_as_before_the_optimisers():
    """1,000 steps of each, loss by loss, to the bit, against the losses recorded before core.optim owned the update
    (cut as a stream, as every run was then: names are now trained a line at a time by default)."""
    recorded = json.loads((FIXTURES / "preset_losses_1000_steps.json").read_text())
    for preset, corpus in (("default", "names"), ("course", "proverbs")):
        config = RunConfig.preset(preset).replace(max_steps=1000, epochs=None, items="stream")
        run = Run.new(resolve_corpus(corpus), config)
        run.trainer.run(max_steps=1000)
        assert [x.hex() for x in run.trainer.state.losses] == recorded[preset], preset

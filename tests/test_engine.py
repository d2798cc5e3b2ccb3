import math

from hypothesis import given
from hypothesis import strategies as st

from core.engine import Value, topological_order

finite = st.floats(min_value=-3, max_value=3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)
positive = st.floats(min_value=0.1, max_value=3)


def numeric_grad(f, xs, i, h=1e-6):
    up = list(xs)
    down = list(xs)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


def check(expr, xs):
    """expr on Values vs expr on floats: value equal, gradients match central differences."""
    vs = [Value(x) for x in xs]
    out = expr(*vs)
    out.backward()
    assert math.isclose(out.data, expr(*xs), rel_tol=1e-12, abs_tol=1e-12)
    for i, v in enumerate(vs):
        assert math.isclose(v.grad, numeric_grad(expr, xs, i), rel_tol=1e-4, abs_tol=1e-6)



def exp(v):
    return v.exp() if isinstance(v, Value) else math.exp(v)


def log(v):
    return v.log() if isinstance(v, Value) else math.log(v)


def tanh(v):
    return v.tanh() if isinstance(v, Value) else math.tanh(v)


@given(finite, finite)
def test_arithmetic_gradients(a, b):
    check(lambda x, y: x * y + x - y / (y * y + 1) - (-x) * 2, [a, b])
    check(lambda x, y: 3 - x + 2 / (y * y + 1) + x * 0.5, [a, b])


@given(finite, positive)
def test_transcendental_gradients(a, b):
    check(lambda x, y: exp(x) * log(y) + tanh(x * y) + y**1.5, [a, b])


@given(finite)
def test_relu(a):
    v = Value(a)
    out = v.relu()
    out.backward()
    assert out.data == max(0.0, a)
    assert v.grad == (1.0 if a > 0 else 0.0)


def test_gradients_accumulate_like_the_course():
    x = Value(2.0)
    y = x * x  # the same node twice: both paths add up
    y.backward()
    assert x.grad == 4.0
    z = x * 3
    z.backward()  # no zeroing in between: gradients accumulate
    assert x.grad == 7.0


def test_backward_is_iterative_at_any_depth():
    x = Value(1.0)
    y = x
    for _ in range(50_000):  # far past Python's recursion limit
        y = y + 1.0
    y.backward()
    assert x.grad == 1.0
    assert y.data == 50_001.0


def test_topological_order_puts_parents_first():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    order = topological_order(d)
    assert order.index(a) < order.index(c) < order.index(d)
    assert order.index(b) < order.index(c)
    assert len(order) == len(set(map(id, order)))


def test_topological_order_with_outputs_sharing_one_parent():
    a = Value(0.5)
    h = a * 2.0
    outs = [h.exp(), h.tanh(), h.relu()]  # h is each one's only parent, as a fused node is its outputs'
    total = outs[0] + outs[1] + outs[2]
    order = topological_order(total)
    assert all(order.index(a) < order.index(h) < order.index(o) < order.index(total) for o in outs)
    assert len(order) == len(set(map(id, order)))
    total.backward()
    assert math.isclose(a.grad, 2.0 * (math.exp(1.0) + 1.0 - math.tanh(1.0) ** 2 + 1.0), rel_tol=1e-12)

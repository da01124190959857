"""Tier 1: properties of the scaling laws, on NumPy and on PyTensor."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayescale.laws import loss_law, loss_law_pivot, pivot_to_user

LOG_C_MIN, LOG_C_MAX = np.log(1e15), np.log(1e27)


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


log_compute = floats(LOG_C_MIN, LOG_C_MAX)
scale_a = floats(1e-3, 1e6)
exponent_b = floats(-1.0, -0.005)
floor_c = floats(0.0, 5.0)
level = floats(0.1, 20.0)
reducible = floats(0.01, 0.99)
exponent_k = floats(0.005, 1.0)
log_pivot = floats(LOG_C_MIN, LOG_C_MAX)

# log compute sorted ascending, at least two points a little apart
log_compute_pair = st.tuples(log_compute, floats(0.01, 10.0)).map(
    lambda t: (t[0], min(t[0] + t[1], LOG_C_MAX))
)


# --- loss_law -----------------------------------------------------------------------------


def test_docstring_value():
    assert loss_law(np.log(1e20), 100.0, -0.1, 1.5) == pytest.approx(2.5, rel=1e-12)


@given(log_compute, scale_a, exponent_b, floor_c)
def test_loss_law_finite_and_above_floor(x, a, b, c):
    loss = loss_law(x, a, b, c)
    assert np.isfinite(loss)
    assert loss >= c
    assert loss > 0


@given(log_compute_pair, scale_a, exponent_b, floor_c)
def test_loss_law_monotone_decreasing(pair, a, b, c):
    lo, hi = pair
    assert loss_law(hi, a, b, c) <= loss_law(lo, a, b, c)
    # The reducible part itself strictly decreases whenever the points differ by more than
    # rounding: near LOG_C_MAX the pair can be one float step apart, where a C^b is equal.
    if hi - lo > 1e-6:
        assert loss_law(hi, a, b, 0.0) < loss_law(lo, a, b, 0.0)


@given(scale_a, exponent_b, floor_c)
def test_loss_law_approaches_floor(a, b, c):
    far = loss_law(1e5, a, b, c)  # ln C = 1e5, far beyond any real run
    assert far >= c
    assert far - c <= 1e-12 * max(c, 1.0)
    assert far - c <= loss_law(LOG_C_MAX, a, b, c) - c


def test_loss_law_broadcasts():
    x = np.log(np.array([1e18, 1e20, 1e22]))
    a = np.array([[50.0], [100.0]])
    out = loss_law(x, a, -0.1, 1.5)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1], 100.0 * np.exp(-0.1 * x) + 1.5, rtol=1e-12)
    assert np.all(np.diff(out, axis=1) < 0)


# --- loss_law_pivot -----------------------------------------------------------------------


def test_pivot_docstring_value():
    assert loss_law_pivot(0.0, 3.0, 0.5, 0.1) == 3.0


@given(floats(-30.0, 30.0), level, reducible, exponent_k)
def test_pivot_law_finite_above_floor_and_level_at_pivot(x, ell, f, k):
    loss = loss_law_pivot(x, ell, f, k)
    assert np.isfinite(loss)
    assert loss >= ell * (1.0 - f)
    assert loss_law_pivot(0.0, ell, f, k) == pytest.approx(ell, rel=1e-12)


@given(floats(-30.0, 30.0), floats(0.01, 10.0), level, reducible, exponent_k)
def test_pivot_law_monotone_decreasing(x, step, ell, f, k):
    assert loss_law_pivot(x + step, ell, f, k) <= loss_law_pivot(x, ell, f, k)


@given(level, reducible, exponent_k)
def test_pivot_law_approaches_floor(ell, f, k):
    floor = ell * (1.0 - f)
    far = loss_law_pivot(1e5, ell, f, k)
    assert far >= floor
    assert far == pytest.approx(floor, rel=1e-12)


# --- pivot_to_user ------------------------------------------------------------------------


@given(log_compute, level, reducible, exponent_k, log_pivot)
def test_pivot_to_user_round_trip(x, ell, f, k, x0):
    a, b, c = pivot_to_user(ell, f, k, x0)
    assert a > 0
    assert b < 0
    assert c >= 0
    np.testing.assert_allclose(
        loss_law(x, a, b, c), loss_law_pivot(x - x0, ell, f, k), rtol=1e-9, atol=0
    )


def test_pivot_to_user_on_arrays():
    rng = np.random.default_rng(7)
    ell = rng.uniform(1.0, 5.0, size=(4, 50))
    f = rng.uniform(0.1, 0.9, size=(4, 50))
    k = rng.uniform(0.01, 0.5, size=(4, 50))
    x0 = np.log(1e20)
    a, b, c = pivot_to_user(ell, f, k, x0)
    assert a.shape == b.shape == c.shape == (4, 50)
    x = np.log(np.array([1e16, 1e20, 1e25]))[:, None, None]
    np.testing.assert_allclose(
        loss_law(x, a, b, c), loss_law_pivot(x - x0, ell, f, k), rtol=1e-9, atol=0
    )
    np.testing.assert_allclose(c, ell * (1 - f))
    np.testing.assert_allclose(b, -k)


# --- PyTensor gives the same numbers ------------------------------------------------------


@pytest.fixture(scope="module")
def pt():
    return pytest.importorskip("pytensor.tensor")


def test_loss_law_pytensor_matches_numpy(pt):
    x = np.log(np.array([1e15, 1e18, 1e21, 1e24, 1e27]))
    a = np.array([[1e-3], [50.0], [1e6]])
    b = np.array([[-1.0], [-0.1], [-0.005]])
    c = np.array([[0.0], [1.5], [5.0]])
    expected = loss_law(x, a, b, c)
    got = loss_law(pt.as_tensor(x), pt.as_tensor(a), pt.as_tensor(b), pt.as_tensor(c), xp=pt)
    np.testing.assert_allclose(got.eval(), expected, rtol=1e-12)


def test_loss_law_pivot_pytensor_matches_numpy(pt):
    x = np.linspace(-12.0, 15.0, 7)
    ell = np.array([[1.0], [3.0]])
    f = np.array([[0.2], [0.8]])
    k = np.array([[0.05], [0.7]])
    expected = loss_law_pivot(x, ell, f, k)
    got = loss_law_pivot(
        pt.as_tensor(x), pt.as_tensor(ell), pt.as_tensor(f), pt.as_tensor(k), xp=pt
    )
    np.testing.assert_allclose(got.eval(), expected, rtol=1e-12)


def test_pytensor_symbolic_inputs(pt):
    x = pt.vector("x")
    a, b, c = pt.scalars("a", "b", "c")
    graph = loss_law(x, a, b, c, xp=pt)
    values = np.log(np.array([1e18, 1e22]))
    got = graph.eval({x: values, a: 100.0, b: -0.1, c: 1.5})
    np.testing.assert_allclose(got, loss_law(values, 100.0, -0.1, 1.5), rtol=1e-12)


def test_pure_stages_do_not_import_pymc_or_jax():
    code = (
        "import sys, bayescale.laws, bayescale.data, bayescale.decision, bayescale.report;"
        "bad = [m for m in ('pymc', 'jax') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

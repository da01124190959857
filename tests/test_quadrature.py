"""Tier 1: the per-problem marginal likelihood against brute-force integration, and the
conditional draws of the intercepts against the brute-force posterior (NumPy; JAX for draws)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from bayescale import quadrature as qd

GRID = np.linspace(-20.0, 20.0, 100_001)


def brute_log_marginal(centre, sigma, offset, n, k):
    """ln of the integral on a 100,001-point grid (spacing 4e-4)."""
    out = []
    for j in range(n.shape[0]):
        log_f = qd.binomial_loglik(GRID[None, :], offset[j : j + 1], n[j : j + 1], k[j : j + 1])[0]
        log_f = log_f - 0.5 * ((GRID - centre[j]) / sigma) ** 2
        out.append(
            logsumexp(log_f) + np.log(GRID[1] - GRID[0]) - np.log(sigma * np.sqrt(2 * np.pi))
        )
    return np.array(out)


def problems(rng, n_samples, n_problems=12, n_models=4):
    """Counts from never solved to always solved, and the offsets of a random line."""
    x = np.linspace(-1.5, 1.5, n_models)
    p = np.clip(rng.beta(0.3, 0.6, size=(n_problems, 1)) * np.exp(0.8 * x)[None, :], 0, 1)
    n = np.full((n_problems, n_models), float(n_samples))
    k = rng.binomial(n.astype(int), p).astype(float)
    k[0], k[1] = 0.0, n[1]  # one never solved, one always solved
    k[2] = 0.0
    k[2, 0] = 1.0  # solved once, by the weakest model only: against the trend
    offset = -rng.uniform(0.1, 0.8) * x[None, :] + rng.normal(0, 0.3, n_models)[None, :]
    return np.broadcast_to(offset, n.shape).copy(), n, k


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_samples=st.sampled_from([1, 10, 200, 10_000]),
    sigma=st.floats(0.2, 2.0),
    shift=st.floats(-3.0, 3.0),
)
def test_log_marginal_matches_brute_force(seed, n_samples, sigma, shift):
    rng = np.random.default_rng(seed)
    offset, n, k = problems(rng, n_samples)
    start = qd.start_values(n, k)
    centre = start + shift
    got = qd.log_marginal(centre, sigma, offset, n, k, start)
    want = brute_log_marginal(centre, sigma, offset, n, k)
    # measured: <= 2e-3 for most problems; up to ~1.5e-2 for a never-solved problem with 10,000
    # samples per model and a wide problem scale (the window's narrow side is coarse there)
    never = k.sum(axis=1) == 0
    np.testing.assert_allclose(got[~never], want[~never], atol=2e-3)
    np.testing.assert_allclose(got[never], want[never], atol=2e-2)


def test_missing_pairs_contribute_nothing():
    rng = np.random.default_rng(0)
    offset, n, k = problems(rng, 50)
    n_gap, k_gap = n.copy(), k.copy()
    n_gap[:, -1] = k_gap[:, -1] = 0.0
    start = qd.start_values(n_gap, k_gap)
    got = qd.log_marginal(start, 0.7, offset, n_gap, k_gap, start)
    want = qd.log_marginal(start, 0.7, offset[:, :-1], n[:, :-1], k[:, :-1], start)
    np.testing.assert_allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("n_samples", [10, 10_000])
def test_draws_follow_the_conditional_posterior(n_samples):
    rng = np.random.default_rng(1)
    offset, n, k = problems(rng, n_samples, n_problems=6)
    centre, sigma = qd.start_values(n, k) + 0.5, 0.8
    draws = 4000
    theta = qd.draw_intercepts(
        np.tile(centre, (draws, 1)),
        np.full(draws, sigma),
        np.tile(offset, (draws, 1, 1)),
        n,
        k,
        np.random.default_rng(2),
    )
    for j in range(n.shape[0]):
        log_f = (
            qd.binomial_loglik(GRID[None, :], offset[j : j + 1], n[j : j + 1], k[j : j + 1])[0]
            - 0.5 * ((GRID - centre[j]) / sigma) ** 2
        )
        w = np.exp(log_f - log_f.max())
        w /= w.sum()
        mean = np.sum(w * GRID)
        sd = np.sqrt(np.sum(w * (GRID - mean) ** 2))
        # Monte Carlo: the mean of 4000 independent draws is within 4 sd/sqrt(4000)
        assert abs(theta[:, j].mean() - mean) < 4 * sd / np.sqrt(draws)
        assert theta[:, j].std() == pytest.approx(sd, rel=0.1)


def test_grid_takes_one_logarithm_per_point_and_model():
    """PyTensor must not rewrite ln(1 - p) on the grid into log1mexp: its JAX form evaluates
    both branches (exp, log1p, expm1 and log per point), which doubled the cost of a gradient."""
    import jax
    import pytensor.tensor as pt
    from pymc.sampling.jax import get_jaxified_graph

    rng = np.random.default_rng(3)
    offset, n, k = problems(rng, 200)
    start = qd.start_values(n, k)
    centre, sigma = pt.vector("centre"), pt.scalar("sigma")
    out = qd.log_marginal(centre, sigma, offset, n, k, start, xp=pt).sum()
    fn = get_jaxified_graph([centre, sigma], [out])
    # 64-bit JAX, as PyTensor's float64 graphs need (bayescale's own import of PyMC's JAX
    # module leaves the process's setting as it was)
    with jax.enable_x64(True):
        jaxpr = jax.make_jaxpr(fn)(start, 0.7)
        value = fn(start, 0.7)[0]

    def grid_ops(jaxpr):
        for eqn in jaxpr.eqns:
            for param in eqn.params.values():
                inner = getattr(param, "jaxpr", None)
                if inner is not None:
                    yield from grid_ops(getattr(inner, "jaxpr", inner))
            if eqn.outvars and getattr(eqn.outvars[0].aval, "shape", ()) == (
                *n.shape[:1],
                qd.NODES,
                n.shape[1],
            ):
                yield eqn.primitive.name

    ops = list(grid_ops(jaxpr.jaxpr))
    assert ops.count("log") == 1
    assert "log1p" not in ops
    assert ops.count("exp") + ops.count("expm1") == 2
    np.testing.assert_allclose(value, qd.log_marginal(start, 0.7, offset, n, k, start).sum())

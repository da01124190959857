"""Tier 1: the line shift of pass-rate forecasts, no sampler.

:func:`bayescale.pass_forecast.line_shift` restores the part of the model-to-model scatter
that the fit's constrained model effects absorbed into the bucket lines. Its slope part moves
every line's exponent by the same amount and is not bounded by the exponents, so a share of
the draws' laws fall with compute: measured and kept (docs/pass-rates.md, "The line shift";
``benchmarks/pass_line_shift.py``). These tests pin that form, so that a change to it comes
with a new measurement.
"""

from __future__ import annotations

import numpy as np
import pytest
from arviz_base import from_dict

from bayescale.buckets import make_buckets
from bayescale.pass_data import load_pass_counts
from bayescale.pass_fit import PassFit
from bayescale.pass_forecast import line_shift, pass_draws, pass_parameter_table
from bayescale.priors import PassPriors
from bayescale.seeds import forecast_stream
from bayescale.simulate import simulate_pass_counts
from tests.helpers import fake_fit_fields

CHAINS, DRAWS = 2, 500


def fake_pass_fit(exponent_median: float, sigma_model: float, n_models: int = 5) -> PassFit:
    """Per-problem counts of ``n_models`` models, the largest held out, and a fake posterior."""
    table, _ = simulate_pass_counts(n_models=n_models, n_problems=30, samples=50, seed=5)
    data = load_pass_counts(table, fit_max_compute=float(np.sort(table["compute"].unique())[-2]))
    buckets = make_buckets(data, n_buckets=3)
    rng = np.random.default_rng(2)
    shape = (CHAINS, DRAWS)
    exponent = exponent_median * np.exp(0.3 * rng.standard_normal((*shape, 3)))
    posterior = {
        "level": rng.normal(1.0, 0.5, (*shape, 3)),
        "exponent": exponent,
        "theta": rng.normal(1.0, 1.0, (*shape, buckets.kept.size)),
        "problem_exponent": exponent[..., buckets.index],
        "sigma_model": np.abs(rng.normal(0.0, sigma_model, shape)),
    }
    idata = from_dict(
        {"posterior": posterior},
        dims={
            "level": ["bucket"],
            "exponent": ["bucket"],
            "theta": ["problem"],
            "problem_exponent": ["problem"],
        },
    )
    fitted = data.models.compute[data.models.fitted]
    return PassFit(
        data=data,
        buckets=buckets,
        idata=idata,
        log_pivot=float(np.log(fitted).mean()),
        priors=PassPriors(),
        **fake_fit_fields(CHAINS, DRAWS),
    )


def law_slopes(fit: PassFit) -> np.ndarray:
    """Exponent of every shifted line, ``(sample, problem)``: k_j - delta_1 on ln(-ln p)."""
    _, slope = line_shift(fit, forecast_stream(fit, "test"))
    return fit.draws("problem_exponent") - slope[:, None]


def test_the_slope_shift_is_not_bounded_by_the_exponents():
    # exponents near 0.05 against a slope shift of sd ~0.1 (sigma_m 0.3): a share of the
    # draws' laws fall with compute, which the forecast keeps (docs/pass-rates.md)
    fit = fake_pass_fit(exponent_median=0.05, sigma_model=0.3)
    falls = (law_slopes(fit) < 0).any(axis=1).mean()
    assert 0.1 < falls < 0.5
    draws = pass_draws(fit, np.logspace(20, 24, 9))
    overall = (np.diff(draws["curve_pass_rate"].values, axis=-1) < 0).any(axis=-1).mean()
    assert 0.1 < overall <= falls
    k = pass_parameter_table(fit).query("parameter == 'k'")
    assert (k["lower"] < 0).any()


@pytest.mark.parametrize("exponent_median", [0.05, 0.5])
def test_the_slope_shift_is_normal_with_its_documented_sd(exponent_median):
    # sd sigma_m / sqrt(sum x^2), whatever the exponents
    fit = fake_pass_fit(exponent_median=exponent_median, sigma_model=0.3)
    models = fit.data.models
    x = np.log(models.compute[models.fitted]) - fit.log_pivot
    _, slope = line_shift(fit, forecast_stream(fit, "test"))
    z = slope / (fit.draws("sigma_model") / np.sqrt(np.sum(x**2)))
    assert abs(z.std() - 1) < 4 / np.sqrt(2 * z.size)
    assert abs(z.mean()) < 4 / np.sqrt(z.size)

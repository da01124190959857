"""A new model's accuracy draws are one model seen at every compute: its scatter about the law
and its score's measurement noise are drawn once per posterior draw and reused at every
compute, as the loss, pass and L(N, D) forecasts do. So the numbers at one target do not
depend on the other targets asked, a ``>=`` rule's probability never falls with compute, and
a decision's GO agrees with the compute it says is needed. Fake posteriors (tier 1 of
STYLE.md), with the normal measurement noise and with the binomial one on ``n_questions``.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from bayescale.accuracy import (
    AccuracyFit,
    accuracy_draws,
    binomial_quantile,
    simulate_accuracy_table,
)
from bayescale.accuracy_data import load_accuracy_table
from bayescale.accuracy_forecast import forecast_accuracy
from bayescale.accuracy_pipeline import (
    accuracy_requirement_draws,
    decide_accuracy,
    result_from_accuracy_fit,
)
from bayescale.decision import search_grid
from tests.test_accuracy_registry import OPTIONS, fake_fit

TARGETS = (3e23, 1e24, 3e24)


def counted_fit() -> AccuracyFit:
    """The fake posterior on the same table with 200 questions a benchmark, gsm8k without a
    count (so both noises are drawn: binomial on mmlu and winogrande, normal on gsm8k)."""
    table = simulate_accuracy_table(seed=3, n_questions=200)
    table["n_questions"] = table["n_questions"].astype(float)
    table.loc[table["benchmark"] == "gsm8k", "n_questions"] = np.nan
    fit = fake_fit()
    return replace(fit, data=load_accuracy_table(table, fit_max_compute=1.2e23))


FITS = {"normal": fake_fit, "binomial": counted_fit}


@pytest.mark.parametrize("noise", list(FITS))
def test_the_numbers_at_a_target_do_not_depend_on_the_other_targets(noise):
    fit = FITS[noise]()
    alone = accuracy_draws(fit, [1e24]).values[..., 0]
    for others in ([1e23, 1e24], [1e24, 3e25, 1e22], np.logspace(22, 26, 41)):
        with_others = accuracy_draws(fit, others).sel(compute=1e24).values
        np.testing.assert_array_equal(with_others, alone)
    table = forecast_accuracy(fit, np.array([1e24]), warn=False).table()
    both = forecast_accuracy(fit, np.array([1e23, 1e24]), warn=False).table()
    np.testing.assert_array_equal(
        both[both["target_compute"] == 1e24][["median", "lower", "upper", "mean"]].to_numpy(),
        table[["median", "lower", "upper", "mean"]].to_numpy(),
    )
    one = decide_accuracy(fit, "mmlu.accuracy>=0.5", [1e24], family="beta")[0]
    two = decide_accuracy(fit, "mmlu.accuracy>=0.5", [1e23, 1e24], family="beta")[1]
    assert one.probability == two.probability


@pytest.mark.parametrize("noise", list(FITS))
def test_a_new_models_accuracy_never_falls_with_compute_in_any_draw(noise):
    fit = FITS[noise]()
    grid = np.logspace(21, 27, 301)
    new = accuracy_draws(fit, grid).values
    assert (np.diff(new, axis=-1) >= 0).all()
    # so a >= rule's probability never falls along the compute search's grid
    for threshold in (0.3, 0.5, 0.7, 0.9):
        rule = f"mmlu.accuracy>={threshold}"
        _, draws_at = accuracy_requirement_draws(fit, rule, family="beta")
        probability = (draws_at(search_grid(1e21, np.array(TARGETS))) >= threshold).mean(axis=0)
        assert (np.diff(probability) >= 0).all(), rule
    result = result_from_accuracy_fit(fit, OPTIONS)
    assert result.curve is not None and (np.diff(result.curve.probability) >= 0).all()


@pytest.mark.parametrize("noise", list(FITS))
def test_a_decision_goes_where_the_compute_needed_says(noise):
    """GO at a target exactly when the compute needed at the confidence is at or below it, up
    to the grid's step (the search reads the probability on its grid only). Family alpha
    starts at 1e21 FLOPs, so 1e23 and 1e24 are points of the search's grid."""
    fit = FITS[noise]()
    targets = np.array([1e23, 1e24])
    smallest = fit.data.compute[fit.data.fitted & (fit.data.family == "alpha")].min()
    grid = search_grid(float(smallest), targets)
    assert np.isclose(grid, 1e24, rtol=1e-12).any()
    for threshold, confidence in itertools.product(np.arange(0.3, 0.9, 0.005), (0.5, 0.8, 0.9)):
        rule = f"mmlu.accuracy>={threshold:.3f}"
        for d in decide_accuracy(fit, rule, targets, confidence, family="alpha"):
            needed = d.compute_needed_at_confidence
            if needed is not None and needed <= d.target_compute * (1 + 1e-12):
                assert d.go, (rule, d)
            if d.go:
                step_above = grid[grid >= d.target_compute * (1 - 1e-12)][0]
                assert needed is not None and needed <= step_above, (rule, d)


def test_the_binomial_quantile_is_scipys_and_rises_with_the_success_probability():
    rng = np.random.default_rng(0)
    u = rng.random((400, 1))
    p = np.sort(np.concatenate([[0.0, 1e-12, 1.0 - 1e-12, 1.0], rng.random(60)]))
    for n in (1, 7, 200, 14042):
        k = binomial_quantile(u, n, p[None, :])
        np.testing.assert_array_equal(k, np.maximum(stats.binom.ppf(u, n, p[None, :]), 0))
        assert (np.diff(k, axis=1) >= 0).all() and k.min() >= 0 and k.max() <= n
    assert binomial_quantile(np.array([0.0]), 40, np.array([0.3]))[0] == 0


def test_binomial_quantile_is_zero_at_u_zero():
    from bayescale.accuracy import binomial_quantile

    # the walk down stopped at 3 for (1000, 0.034) by a rounding of F
    k = binomial_quantile(np.zeros(3), 1000, np.array([0.034, 0.5, 0.999]))
    assert k.tolist() == [0.0, 0.0, 0.0]

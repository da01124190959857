"""Tier 2-3 for pass rates: model structure without MCMC, then real JAX NUTS fits on
simulated per-problem counts (zero-pass problems included) and on aggregate rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.buckets import make_buckets
from bayescale.diagnostics import COPY_ATTR, diagnose
from bayescale.pass_data import load_pass_aggregate, load_pass_counts
from bayescale.pass_fit import fit_pass
from bayescale.pass_forecast import forecast_pass, score_held_out_models
from bayescale.pass_model import _fitted_counts, build_pass_model, informative
from bayescale.priors import PassPriors
from bayescale.sampling import SamplerSettings
from bayescale.simulate import simulate_pass_counts

SMALL = SamplerSettings(draws=1000, tune=500, chains=4, seed=2, progress=False)


@pytest.fixture(scope="module")
def simulated():
    table, truth = simulate_pass_counts(n_models=7, n_problems=90, samples=200, seed=4)
    return table, truth


def test_model_structure_and_zero_pass_problems(simulated):
    table, _ = simulated
    counts = load_pass_counts(table)
    buckets = make_buckets(counts, n_buckets=6, exclude_hardest=6)
    model = build_pass_model(counts, buckets)
    assert model.coords["bucket"] == ("1", "2", "3", "4", "5", "6", "excluded")
    assert len(model.coords["problem"]) == 90
    never = (counts.k.sum(axis=0) == 0).sum()
    assert never > 0
    free = {v.name for v in model.free_RVs}
    assert {"theta_solved", "model_effect_raw", "level", "log_exponent"} <= free
    # problems the counts barely inform are integrated out, not sampled
    pinned = informative(counts.n.T, counts.k.T)
    assert 0 < pinned.sum() < pinned.size
    assert model["theta_solved"].eval().size == pinned.sum()
    assert "z_unsolved" not in free
    assert [p.name for p in model.potentials] == ["passes_integrated"]
    slopes = build_pass_model(counts, buckets, PassPriors(problem_slopes=True))
    assert {"log_slope_trend", "z_slope", "sigma_slope", "z_unsolved"} <= {
        v.name for v in slopes.free_RVs
    }
    # every observed (model, problem) pair is in the likelihood, zero passes included
    assert slopes["passes"].eval().size == counts.observed.sum()
    assert model["passes"].eval().size == counts.observed[:, pinned].sum()


@pytest.fixture(scope="module")
def counts_fit(simulated):
    table, _ = simulated
    counts = load_pass_counts(table, fit_max_compute=5e21)
    buckets = make_buckets(counts, n_buckets=3)
    return fit_pass(counts, buckets, settings=SMALL)


@pytest.mark.sampling
def test_counts_fit_converges_and_recovers_truth(counts_fit, simulated):
    _, truth = simulated
    assert counts_fit.diagnostics.ok, counts_fit.diagnostics.problems()
    # the problem intercepts theta are pinned per problem; check the solved ones against the
    # truth within z posterior sds (plus Monte Carlo error sd/sqrt(ESS))
    theta = counts_fit.draws("theta")
    solved = counts_fit.data.k[counts_fit.data.models.fitted].sum(axis=0) > 5
    ess = counts_fit.diagnostics.ess_bulk_min
    kept = counts_fit.buckets.kept
    # theta in the fit is relative to the fit's pivot; the truth uses its own pivot
    shift = np.log(truth.pivot) - counts_fit.log_pivot
    true_theta = truth.theta[kept] + truth.exponent[truth.bucket[kept]] * shift
    sd = theta.std(axis=0)
    err = np.abs(theta.mean(axis=0) - true_theta)
    # model effects are shared by all problems, so allow their scale too
    tol = 4 * (sd + sd / np.sqrt(ess)) + 3 * truth.model_sd
    assert (err[solved] <= tol[solved]).mean() > 0.95


@pytest.mark.sampling
def test_diagnostics_skip_only_the_copied_columns(counts_fit):
    post = counts_fit.idata["posterior"]
    marked = {str(n): a.attrs[COPY_ATTR] for n, a in post.data_vars.items() if COPY_ATTR in a.attrs}
    assert marked == {"theta_solved": "theta", "problem_exponent": "exponent"}
    solved = np.flatnonzero(informative(*_fitted_counts(counts_fit.data, counts_fit.buckets)[1:]))
    np.testing.assert_array_equal(post["theta"].values[..., solved], post["theta_solved"].values)
    b_of = counts_fit.buckets.index
    exponent = post["exponent"].values[..., b_of]
    np.testing.assert_array_equal(post["problem_exponent"].values, exponent)
    # the same numbers (only the name of the worst variable can move to its copy)
    everything = diagnose(counts_fit.idata, list(post.data_vars))
    checks = {k: v for k, v in counts_fit.diagnostics.to_dict().items() if k != "attempts"}
    assert checks == {k: v for k, v in everything.to_dict().items() if k != "attempts"}


@pytest.mark.sampling
def test_counts_forecast_covers_held_out_model(counts_fit):
    held = score_held_out_models(counts_fit)
    assert set(held["model"]) == {"m7"}
    # 7 statistics of one held-out model (overall pass@1, and pass@1 and -ln p of 3 buckets)
    # share its model effect, so they miss together or not at all; a 90% interval may miss,
    # but not by far: the truth is within the 99% interval
    assert len(held) == 7
    wide = score_held_out_models(counts_fit, interval=0.99)
    assert wide["covered"].all()
    forecast = forecast_pass(counts_fit, [1e22, 1e23], k=10)
    overall = forecast.overall()
    assert (overall["lower"] < overall["median"]).all()
    assert (overall["median"] < overall["upper"]).all()
    # more compute, better pass rate; pass@10 above pass@1
    assert overall["median"].is_monotonic_increasing
    assert (overall["pass_at_10_median"] > overall["median"]).all()
    # new-model interval contains the law's own credible interval (up to Monte Carlo error)
    width = overall["upper"] - overall["lower"]
    assert (width >= 0.98 * (overall["curve_upper"] - overall["curve_lower"])).all()


@pytest.mark.sampling
def test_aggregate_fit():
    rng = np.random.default_rng(0)
    compute = np.logspace(21, 23, 6)
    rows = []
    for b, (alpha, k) in enumerate([(2.5, 0.2), (5.0, 0.15)]):
        x = np.log(compute) - np.log(1e22)
        rate = np.exp(-alpha * np.exp(-k * x + rng.normal(0, 0.05, x.size)))
        rows += [
            {
                "model": f"m{i}",
                "compute": c,
                "pass_rate": r,
                "bucket": f"b{b + 1}",
                "n_problems": 50,
            }
            for i, (c, r) in enumerate(zip(compute, rate, strict=True))
        ]
    data = load_pass_aggregate(pd.DataFrame(rows), fit_max_compute=2e22)
    fit = fit_pass(data, settings=SMALL)
    assert fit.diagnostics.ok, fit.diagnostics.problems()
    exponent = fit.draws("exponent")
    for b, k in enumerate([0.2, 0.15]):
        assert abs(exponent[:, b].mean() - k) < 4 * exponent[:, b].std() + 0.02
    held = score_held_out_models(fit)
    # 2 held-out models x 2 buckets x (pass@1, -ln p); no overall rate of aggregate buckets
    assert len(held) == 2 * 4
    assert "pass_rate" not in set(held["quantity"])
    # bucket b2's held-out rates sit at the edge of their 90% intervals (its exponent, 0.15,
    # is pooled towards b1's 0.2 from 4 models): 4 or 6 of 8 covered depending on the chains
    # (the unpadded model too, seeds 2-3), every one within the 99% interval
    assert held["covered"].mean() >= 1 / 2
    assert score_held_out_models(fit, interval=0.99)["covered"].all()


def test_counts_without_buckets_are_refused_with_the_call_to_make(simulated):
    """A Python user's slip: an InputError that shows the call (it was a bare ValueError)."""
    from bayescale.errors import InputError

    with pytest.raises(InputError, match=r"make_buckets\(counts"):
        fit_pass(load_pass_counts(simulated[0]))

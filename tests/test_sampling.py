"""Tier 3: real JAX NUTS fits with few draws; truth recovered within ESS-gated tolerances."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bayescale.data import load_loss_runs
from bayescale.forecast import forecast_loss, parameter_table
from bayescale.loss_fit import fit_loss
from bayescale.sampling import SAMPLERS, SamplerSettings
from bayescale.simulate import LossTruth, simulate_loss_runs

pytestmark = pytest.mark.sampling

TRUTH = {
    "web": LossTruth(a=70.0, b=-0.10, c=2.2),
    "code": LossTruth(a=45.0, b=-0.11, c=1.1),
}
SMALL = SamplerSettings(draws=500, tune=500, chains=4, seed=3, progress=False)


@pytest.fixture(scope="module")
def small_fit():
    runs = simulate_loss_runs(TRUTH, runs_per_group=10, scatter=0.004, seed=11)
    return fit_loss(load_loss_runs(runs), settings=SMALL)


def test_fit_converges_with_the_exposed_samplers(small_fit):
    assert SAMPLERS == ("numpyro",)
    diag = small_fit.diagnostics
    assert diag.ok, diag.problems()
    assert diag.divergences == 0
    post = small_fit.idata["posterior"]
    assert post["a"].dims == ("chain", "draw", "group")
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 500


def _assert_within_ess_tolerance(draws: np.ndarray, truth: float, ess: float, z: float = 4.0):
    """|posterior mean - truth| must be within z posterior sd (a credible-interval check).

    The posterior sd is the scale of the statistical error of a correct posterior; the Monte
    Carlo error of the mean (sd / sqrt(ESS)) is added so that short runs are not penalised.
    """
    sd = draws.std()
    mcse = sd / np.sqrt(ess)
    assert abs(draws.mean() - truth) <= z * sd + z * mcse, (draws.mean(), truth, sd)


def test_recovers_curve_within_posterior_tolerance(small_fit):
    ess = small_fit.diagnostics.ess_bulk_min
    compute = np.array([1e18, 1e20, 1e22])
    draws = forecast_loss(small_fit, compute).draws["curve"].values
    for gi, group in enumerate(small_fit.data.groups):
        for ci, c in enumerate(compute):
            _assert_within_ess_tolerance(draws[:, gi, ci], float(TRUTH[group](c)), ess)
    exponent = -small_fit.draws("b")
    for gi, group in enumerate(small_fit.data.groups):
        _assert_within_ess_tolerance(exponent[:, gi], -TRUTH[group].b, ess)


def test_parameters_are_in_user_units(small_fit):
    table = parameter_table(small_fit)
    b = table[table["parameter"] == "b"]
    assert (b["upper"] < 0).all()
    c = table[table["parameter"] == "c"]
    assert (c["lower"] >= 0).all()


def test_same_seed_same_numbers():
    runs = simulate_loss_runs({"web": TRUTH["web"]}, runs_per_group=8, seed=5)
    data = load_loss_runs(runs)
    settings = SamplerSettings(draws=100, tune=200, chains=2, seed=9, progress=False)
    one = fit_loss(data, settings=settings, allow_unconverged=True)
    two = fit_loss(data, settings=settings, allow_unconverged=True)
    np.testing.assert_array_equal(one.draws("c"), two.draws("c"))
    np.testing.assert_array_equal(
        forecast_loss(one, 1e23).draws["loss"].values, forecast_loss(two, 1e23).draws["loss"].values
    )


def test_probability_of_meeting_a_bar_is_monotone_in_compute(small_fit):
    """One scatter draw per posterior draw is reused at every compute (common random
    numbers), so P(loss <= x) cannot fall as compute grows, and the numbers at one target do
    not depend on the other targets asked for."""
    from bayescale.decision import compute_grid, parse_requirement, probability_curve

    req = parse_requirement("loss<=2.5")
    grid = compute_grid(1e17, 1e23)

    def draws_at(compute):
        return forecast_loss(small_fit, compute).draws["loss"].values[:, 0, :]

    prob = probability_curve(req, draws_at, grid)
    assert np.all(np.diff(prob) >= 0)
    alone = forecast_loss(small_fit, [1e23]).draws["loss"].values[:, :, 0]
    together = forecast_loss(small_fit, [1e22, 1e23]).draws["loss"].values[:, :, 1]
    np.testing.assert_array_equal(alone, together)


def test_direct_numpyro_call_draws_what_pm_sample_draws():
    """The seam skips pm.sample's step assignment; same seed and model must give the same draws.

    A model without data containers: those with them sample on the data-as-arguments path
    (tests/test_shape_classes.py).
    """
    import pymc as pm

    from bayescale import sampling

    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    with pm.Model() as model:  # eight schools, non-centred
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfNormal("tau", 5.0)
        z = pm.Normal("z", 0.0, 1.0, shape=8)
        pm.Normal("y", mu + tau * z, 10.0, observed=y)
    settings = SamplerSettings(draws=30, tune=30, chains=2, seed=5, progress=False)
    kernel = {
        "dense_mass": False,
        "inverse_mass_matrix": sampling.laplace_inverse_mass(model),
        "max_tree_depth": settings.max_tree_depth,
    }
    direct, chains = sampling.run_numpyro(model, settings, "vectorized", False, kernel)
    reference, _ = sampling.run_pm_sample(model, settings, "vectorized", False, kernel)
    assert chains is not None
    for name, values in reference["posterior"].data_vars.items():
        np.testing.assert_array_equal(direct["posterior"][name].values, values.values)
    np.testing.assert_array_equal(
        direct["sample_stats"]["n_steps"].values, reference["sample_stats"]["n_steps"].values
    )


def test_more_draws_continue_the_chains_as_one_longer_run_would():
    """Running the adapted chains on gives the draws a run with that many more draws gives."""
    from bayescale import sampling
    from bayescale.loss_model import build_loss_model

    runs = simulate_loss_runs(TRUTH, runs_per_group=5, scatter=0.004, seed=11)
    model = build_loss_model(load_loss_runs(runs))
    short = SamplerSettings(draws=20, tune=30, chains=2, seed=5, progress=False)
    kernel = {"dense_mass": False, "max_tree_depth": short.max_tree_depth}
    _, chains = sampling.run_numpyro(model, short, "vectorized", False, kernel)
    assert chains is not None
    continued, _ = sampling.more_draws(chains, 15)
    longer, _ = sampling.run_numpyro(model, replace(short, draws=35), "vectorized", False, kernel)
    assert continued["posterior"].sizes["draw"] == 35
    for name in ("level", "slope", "a"):
        np.testing.assert_allclose(
            continued["posterior"][name].values, longer["posterior"][name].values, rtol=1e-9
        )
    np.testing.assert_array_equal(
        continued["sample_stats"]["diverging"].values, longer["sample_stats"]["diverging"].values
    )


def test_continued_chains_recover_a_known_posterior():
    """Draws after the continuation are draws of the posterior (ESS-gated tolerance)."""
    import arviz_stats
    import pymc as pm

    from bayescale import sampling

    with pm.Model() as model:  # conjugate: the posterior of mu is normal, known exactly
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu, 1.0, observed=np.array([1.2, 2.0, 1.6, 1.4]))
    precision = 1 / 100 + 4
    mean, sd = 6.2 / precision, precision**-0.5
    settings = SamplerSettings(draws=200, tune=200, chains=2, seed=3, progress=False)
    _, chains = sampling.run_numpyro(model, settings, "vectorized", False, {})
    assert chains is not None
    idata, chains = sampling.more_draws(chains, 400)
    new = idata["posterior"]["mu"].isel(draw=slice(200, None))
    ess = float(arviz_stats.ess(new.to_dataset(), method="bulk")["mu"])
    assert ess > 100
    assert abs(float(new.mean()) - mean) < 4 * sd / np.sqrt(ess)
    assert abs(float(new.std()) / sd - 1) < 4 / np.sqrt(ess)
    # the adapted mass matrix is what new chains can start from
    assert chains.inverse_mass.shape == (1,) and 0 < chains.inverse_mass[0] < 1


def test_the_private_pymc_functions_the_numpyro_path_calls_are_there():
    """sampling.py calls these private functions of ``pymc.sampling.jax``; a PyMC release
    that renames one fails here, not in a user's fit (pyproject pins pymc below 7)."""
    from bayescale.config import import_pymc_jax

    pmjax = import_pymc_jax()
    for name in (
        "_get_batched_jittered_initial_points",
        "_numpyro_stats_to_dict",
        "_postprocess_samples",
    ):
        assert callable(getattr(pmjax, name, None)), f"pymc.sampling.jax.{name} is gone"

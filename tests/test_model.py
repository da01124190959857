"""Tier 1-2: the model's structure and prior predictive, no MCMC."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from bayescale.data import load_loss_runs
from bayescale.loss_model import build_loss_model, loss_pivot
from bayescale.priors import LossPriors
from tests.helpers import log_marginal_over_scatter


def test_model_dims_and_variables(demo_runs):
    data = load_loss_runs(demo_runs)
    model = build_loss_model(data)
    assert model.coords["group"] == ("web", "code", "books")
    assert len(model.coords["run"]) == len(demo_runs)
    names = {v.name for v in model.free_RVs}
    assert {
        "mu_slope",
        "tau_slope",
        "slope_group",
        "mu_reducible",
        "tau_reducible",
        "z_reducible",
        "log_level",
    } == names  # sigma is integrated out (drawn after sampling, see add_scatter)
    assert {"a", "b", "c", "exponent", "reducible", "level", "slope"} <= {
        v.name for v in model.deterministics
    }


def test_single_group_has_no_hierarchy(demo_runs):
    data = load_loss_runs(demo_runs[demo_runs["group"] == "web"].drop(columns="group"))
    model = build_loss_model(data)
    assert not any(v.name.startswith(("tau_", "z_")) for v in model.free_RVs)


def test_held_out_runs_are_not_in_the_likelihood(demo_runs):
    data = load_loss_runs(demo_runs, fit_max_compute=1e19)
    model = build_loss_model(data)
    assert model["log_loss_obs"].eval().shape == (int(data.fitted.sum()),)
    assert data.held_out.sum() > 0
    assert np.isclose(loss_pivot(data), np.log(data.compute[data.fitted]).mean())


def test_prior_predictive_is_plausible(demo_runs):
    """Prior draws of a, b, c respect the law's constraints and cover the observed losses."""
    data = load_loss_runs(demo_runs)
    with build_loss_model(data):
        prior = pm.sample_prior_predictive(draws=500, random_seed=1)
    p = prior["prior"]
    assert float(p["b"].max()) < 0
    assert float(p["c"].min()) >= 0
    assert float(p["a"].min()) > 0
    from bayescale.laws import loss_law_pivot

    x = np.log(data.compute)[None, :] - loss_pivot(data)
    curve = (
        p[n].values.reshape(-1, 3)[:, data.group_index] for n in ("level", "reducible", "exponent")
    )
    pred = np.asarray(loss_law_pivot(x, *curve)).ravel()
    lo, hi = np.quantile(pred, [0.01, 0.99])
    assert lo < demo_runs["loss"].min() and hi > demo_runs["loss"].max()


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_likelihood_choice(demo_runs, likelihood):
    model = build_loss_model(load_loss_runs(demo_runs), LossPriors(likelihood=likelihood))
    if likelihood == "normal":  # sigma integrated out: the likelihood is a Potential
        assert model["log_loss"] in model.potentials
        return
    dist = model["log_loss"].owner.op.__class__.__name__.lower()
    assert "student" in dist
    assert "sigma_squared" in {v.name for v in model.free_RVs}


def test_halfnormal_scatter_prior_samples_sigma(demo_runs):
    model = build_loss_model(load_loss_runs(demo_runs), LossPriors(scatter_prior="halfnormal"))
    assert "sigma" in {v.name for v in model.free_RVs}
    assert model["log_loss"] in model.observed_RVs


def test_integrated_scatter_is_the_integral_over_the_inverse_gamma_prior(demo_runs):
    """The model's log density equals the sampled-sigma model's, sigma^2 integrated numerically."""
    data = load_loss_runs(demo_runs[demo_runs["group"] == "web"].head(4))
    priors = LossPriors()
    model = build_loss_model(data, priors)
    point = model.initial_point()
    y = np.log(data.loss)
    x = np.log(data.compute) - loss_pivot(data)
    names = ("log_loss", "level", "reducible", "exponent")
    outputs = model.replace_rvs_by_values([model[n] for n in names])  # at the point, not drawn
    integrated, *curve = model.compile_fn(
        outputs, inputs=model.value_vars, on_unused_input="ignore"
    )(point)
    from bayescale.laws import loss_law_pivot

    mean = np.log(loss_law_pivot(x, curve[0][0], curve[1][0], curve[2][0]))
    np.testing.assert_allclose(integrated, log_marginal_over_scatter(y, mean, priors), rtol=1e-6)


def test_scatter_draws_follow_their_conditional_posterior(demo_runs):
    """add_scatter draws sigma^2 | theta, y: inverse gamma with the residuals' sum of squares."""
    import xarray as xr
    from arviz_base import from_dict

    from bayescale.loss_model import add_scatter
    from bayescale.priors import scatter_scale

    data = load_loss_runs(demo_runs)
    priors = LossPriors()
    shape = (2, 4000, 3)
    values = {"level": 3.0, "reducible": 0.5, "exponent": 0.1}
    idata = from_dict(
        {"posterior": {k: np.full(shape, v) for k, v in values.items()}},
        dims={k: ["group"] for k in values},
        coords={"group": list(data.groups)},
    )
    out = add_scatter(idata, data, priors, seed=1)
    variance = out["posterior"]["sigma"].values ** 2
    from bayescale.laws import loss_law_pivot

    x = np.log(data.compute) - loss_pivot(data)
    rss = ((np.log(data.loss) - np.log(loss_law_pivot(x, 3.0, 0.5, 0.1))) ** 2).sum()
    alpha = priors.scatter_shape + data.loss.size / 2
    expected = (scatter_scale(priors) + rss / 2) / (alpha - 1)
    sd = expected / np.sqrt(alpha - 2)
    assert abs(variance.mean() - expected) < 5 * sd / np.sqrt(variance.size)
    assert isinstance(out["posterior"]["sigma"], xr.DataArray)
    assert add_scatter(out, data, priors, seed=2) is out  # sigma there already

"""Tier 1-2: the model's structure and prior predictive, no MCMC."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from bayescale.data import load_loss_runs
from bayescale.loss_model import build_loss_model, loss_pivot
from bayescale.priors import LossPriors


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
        "sigma",
    } == names
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
    assert model["log_loss"].eval().shape == (int(data.fitted.sum()),)
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
    pred = np.exp(prior["prior_predictive"]["log_loss"].values.ravel())
    lo, hi = np.quantile(pred, [0.01, 0.99])
    assert lo < demo_runs["loss"].min() and hi > demo_runs["loss"].max()


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_likelihood_choice(demo_runs, likelihood):
    model = build_loss_model(load_loss_runs(demo_runs), LossPriors(likelihood=likelihood))
    dist = model["log_loss"].owner.op.__class__.__name__.lower()
    assert ("student" in dist) == (likelihood == "student_t")

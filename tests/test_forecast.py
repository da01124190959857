"""Tier 1: loss forecasts on a fake posterior (arviz_base.from_dict), no sampler.

The law discrepancy of bayescale.priors is zero on the fitted range and, beyond a group's
largest fitted run, makes the exponent of the reducible loss uncertain; these tests pin both
halves, its scale, and that every draw stays monotone and above the irreducible loss.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
from arviz_base import from_dict

from bayescale.data import load_loss_runs
from bayescale.diagnostics import Diagnostics
from bayescale.errors import InputError
from bayescale.forecast import LossForecast, loss_draws
from bayescale.loss_fit import LossFit
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings

CHAINS, DRAWS = 4, 5000


def fake_fit(demo_runs, s: float) -> LossFit:
    """A fit whose posterior is a point (no curve uncertainty) with a tiny scatter."""
    data = load_loss_runs(demo_runs)
    groups = len(data.groups)
    shape = (CHAINS, DRAWS, groups)
    posterior = {
        "level": np.full(shape, 3.0),
        "reducible": np.full(shape, 0.4),
        "exponent": np.full(shape, 0.2),
        "sigma": np.full((CHAINS, DRAWS), 1e-6),
    }
    idata = from_dict(
        {"posterior": posterior},
        dims={name: ["group"] for name in ("level", "reducible", "exponent")},
        coords={"group": list(data.groups)},
    )
    diagnostics = Diagnostics(1.0, 4000.0, 4000.0, 0, "level", 400.0, CHAINS, DRAWS)
    return LossFit(
        data=data,
        idata=idata,
        log_pivot=float(np.mean(np.log(data.compute))),
        priors=LossPriors(discrepancy_exponent_sd=s),
        settings=SamplerSettings(seed=3),
        diagnostics=diagnostics,
    )


def test_discrepancy_is_zero_on_the_fitted_range(demo_runs):
    with_term = fake_fit(demo_runs, 0.25)
    without = replace(with_term, priors=LossPriors(discrepancy_exponent_sd=0.0))
    inside = np.array([1e17, 1e18, with_term.data.compute.max()])
    a = loss_draws(with_term, inside)
    b = loss_draws(without, inside)
    np.testing.assert_array_equal(a["loss"].values, b["loss"].values)


@pytest.mark.parametrize("factor", [10.0, 1000.0])
def test_discrepancy_spread_matches_the_exponent_uncertainty(demo_runs, factor):
    fit = fake_fit(demo_runs, 0.25)
    largest = fit.data.compute.max()
    curve = loss_draws(fit, np.array([largest * factor]))["curve"].values[:, 0, 0]
    # the reducible part falls with exponent k exp(0.25 zeta) beyond the data
    reducible = curve - 3.0 * (1 - 0.4)
    at_largest = loss_draws(fit, np.array([largest]))["curve"].values[:, 0, 0] - 3.0 * 0.6
    rate = -np.log(reducible / at_largest) / np.log(factor)
    spread = np.std(np.log(rate / 0.2))
    # sd of a normal sample of size n has relative standard error 1/sqrt(2n)
    assert spread == pytest.approx(0.25, rel=4 / np.sqrt(2 * curve.size))


def test_every_draw_is_monotone_and_above_the_irreducible_loss(demo_runs):
    fit = fake_fit(demo_runs, 0.25)
    grid = fit.data.compute.max() * np.logspace(-1, 4, 60)
    curve = loss_draws(fit, grid)["curve"].values
    assert (np.diff(curve, axis=-1) <= 0).all()
    assert (curve > 3.0 * (1 - 0.4)).all()


def test_discrepancy_is_shared_by_groups(demo_runs):
    """One new run: every eval set moves with the same discrepancy draw."""
    fit = fake_fit(demo_runs, 0.25)
    curve = loss_draws(fit, np.array([fit.data.compute.max() * 100]))["curve"].values[:, :, 0]
    log_dev = np.log(curve / np.median(curve, axis=0))
    assert np.corrcoef(log_dev.T).min() > 0.999


@pytest.mark.parametrize("s", [-0.01, float("nan"), "0.01", True])
def test_discrepancy_must_be_a_non_negative_number(s):
    with pytest.raises(InputError, match="discrepancy_exponent_sd"):
        LossPriors(discrepancy_exponent_sd=s)


def varied_fit(demo_runs) -> LossFit:
    """A fit whose groups have posteriors of their own (random draws, different per group)."""
    fit = fake_fit(demo_runs, 0.25)
    rng = np.random.default_rng(7)
    shape = (CHAINS, 500, len(fit.data.groups))
    posterior = {
        "level": rng.uniform(2.0, 4.0, shape),
        "reducible": rng.uniform(0.2, 0.6, shape),
        "exponent": rng.uniform(0.1, 0.3, shape),
        "sigma": rng.uniform(0.01, 0.05, shape[:2]),
    }
    idata = from_dict(
        {"posterior": posterior},
        dims={name: ["group"] for name in ("level", "reducible", "exponent")},
        coords={"group": list(fit.data.groups)},
    )
    return replace(fit, idata=idata)


@pytest.mark.parametrize("student_t", [False, True])
def test_a_group_drawn_alone_has_the_numbers_it_has_among_all(demo_runs, student_t):
    """``groups=``: the requirement's group alone, bit for bit the same draws (one stream)."""
    fit = varied_fit(demo_runs)
    if student_t:
        fit = replace(fit, priors=LossPriors(likelihood="student_t"))
    grid = fit.data.compute.max() * np.logspace(-2, 3, 40)  # inside and beyond the runs
    every = loss_draws(fit, grid)
    names = list(fit.data.groups)
    for picked in ([names[-1]], [names[0]], names[::-1]):
        some = loss_draws(fit, grid, groups=picked)
        assert list(some["group"].values) == picked
        for name in ("curve", "loss"):
            np.testing.assert_array_equal(some[name].values, every[name].sel(group=picked).values)


def test_an_unknown_group_is_named_with_the_known_ones(demo_runs):
    fit = varied_fit(demo_runs)
    with pytest.raises(InputError, match=r"no group 'wbe'.*web.*Groups:"):
        loss_draws(fit, np.array([1e22]), groups=["wbe"])


def test_a_forecast_table_keeps_the_groups_in_the_tables_order():
    """By target, then the groups as the table has them: g2 before g10, not sorted as text."""
    dims = ("sample", "group", "compute")
    values = np.linspace(1.0, 2.0, 60).reshape(10, 3, 2)
    draws = xr.Dataset(
        {"curve": (dims, values), "loss": (dims, values)},
        coords={"group": ["g2", "g10", "a"], "compute": [1e22, 1e21]},
    )
    table = LossForecast(draws=draws, interval=0.9).table()
    assert table["group"].tolist() == ["g2", "g10", "a"] * 2
    assert table["target_compute"].tolist() == [1e21] * 3 + [1e22] * 3


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_held_out_runs_with_their_own_error_are_scored_with_it(demo_runs, likelihood):
    """A held-out run's loss_sd widens its interval as the fit's likelihood does for fitted runs."""
    from scipy import stats

    from bayescale.data import LossColumns
    from bayescale.forecast import score_held_out

    cut = float(np.quantile(demo_runs["compute"], 0.7))
    priors = LossPriors(likelihood=likelihood, discrepancy_exponent_sd=0.0)
    plain = replace(fake_fit(demo_runs, 0.0), priors=priors)
    table = demo_runs.assign(se=0.05 * demo_runs["loss"])
    data = load_loss_runs(table, LossColumns(loss_sd="se"), fit_max_compute=cut)
    with_sd = replace(plain, data=data)
    without = replace(plain, data=load_loss_runs(table, fit_max_compute=cut))
    a, b = score_held_out(with_sd), score_held_out(without)
    assert len(a) == len(b) > 0
    width = np.log(a["upper"] / a["lower"]).to_numpy()
    # a point posterior with a scatter of 1e-6: the run's own 5% alone, in the likelihood's
    # distribution (one scale, sqrt(sigma^2 + sd^2), as the fit reads it)
    nu = plain.priors.student_t_nu
    z = stats.t(nu).ppf(0.95) if likelihood == "student_t" else stats.norm.ppf(0.95)
    np.testing.assert_allclose(width, 2 * z * 0.05, rtol=0.05)
    assert (np.log(b["upper"] / b["lower"]) < 1e-4).all()


def test_the_stages_refuse_arguments_of_another_type():
    # a LossData to forecast_loss, a SavedFit to decide_loss, a dict of options to run_loss
    # and LossOptions to run_pass raised AttributeErrors from deep inside
    from pathlib import Path

    import bayescale as bs
    from bayescale.errors import InputError

    data = bs.load_loss_runs(bs.demo_loss_runs())
    saved = bs.load_fit(Path(__file__).parent / "data" / "loss_fit_v0.1.0.nc")
    with pytest.raises(InputError, match=r"forecast_loss takes a LossFit .*got LossData"):
        bs.forecast_loss(data, 1e23)
    with pytest.raises(InputError, match=r"got SavedFit \(a SavedFit: pass its .fit\)"):
        bs.decide_loss(saved, "web.loss<=2.6", 1e23)
    with pytest.raises(InputError, match=r"fit_loss takes LossData.*got str"):
        bs.fit_loss("runs.csv")
    with pytest.raises(InputError, match="run_loss takes LossOptions"):
        bs.run_loss(data, {"targets": (1e23,)})
    with pytest.raises(InputError, match=r"run_pass takes PassOptions.*got LossOptions"):
        bs.run_pass(data, bs.LossOptions(targets=(1e23,)))

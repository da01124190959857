"""Tier 1: loss forecasts on a fake posterior (arviz_base.from_dict), no sampler.

The law discrepancy of bayescale.priors is zero on the fitted range and grows linearly with the
log distance beyond the largest fitted run; these tests pin both halves and the scale.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from arviz_base import from_dict

from bayescale.data import load_loss_runs
from bayescale.diagnostics import Diagnostics
from bayescale.errors import InputError
from bayescale.fit import LossFit
from bayescale.forecast import loss_draws
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings

CHAINS, DRAWS = 4, 5000


def fake_fit(demo_runs, kappa: float) -> LossFit:
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
        priors=LossPriors(discrepancy_per_efold=kappa),
        settings=SamplerSettings(seed=3),
        diagnostics=diagnostics,
    )


def test_discrepancy_is_zero_on_the_fitted_range(demo_runs):
    with_term = fake_fit(demo_runs, 0.008)
    without = replace(with_term, priors=LossPriors(discrepancy_per_efold=0.0))
    inside = np.array([1e17, 1e18, with_term.data.compute.max()])
    a = loss_draws(with_term, inside)
    b = loss_draws(without, inside)
    np.testing.assert_array_equal(a["loss"].values, b["loss"].values)


@pytest.mark.parametrize("factor", [10.0, 1000.0])
def test_discrepancy_spread_grows_with_log_distance(demo_runs, factor):
    fit = fake_fit(demo_runs, 0.008)
    largest = fit.data.compute.max()
    draws = loss_draws(fit, np.array([largest * factor]))["curve"].values[:, 0, 0]
    spread = np.std(np.log(draws))
    expected = 0.008 * np.log(factor)
    # sd of a normal sample of size n has relative standard error 1/sqrt(2n)
    assert spread == pytest.approx(expected, rel=4 / np.sqrt(2 * draws.size))


def test_discrepancy_is_shared_by_groups(demo_runs):
    """One new run: every eval set moves with the same discrepancy draw."""
    fit = fake_fit(demo_runs, 0.008)
    curve = loss_draws(fit, np.array([fit.data.compute.max() * 100]))["curve"].values[:, :, 0]
    log_dev = np.log(curve / np.median(curve, axis=0))
    assert np.corrcoef(log_dev.T).min() > 0.999


@pytest.mark.parametrize("kappa", [-0.01, float("nan"), "0.01"])
def test_discrepancy_must_be_a_non_negative_number(kappa):
    with pytest.raises(InputError, match="discrepancy_per_efold"):
        LossPriors(discrepancy_per_efold=kappa)  # type: ignore[arg-type]

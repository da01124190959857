"""The accuracy law on Chinchilla's effective compute (``axis="chinchilla"``).

The axis's math, the PyMC model's mean (PyTensor) against the forecast's curve (NumPy) on that
axis, the option reaching the model, the draws and the saved fit; the ``params``/``tokens``
columns of the table. No sampling (tier 1 and 2 of STYLE.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayescale.accuracy import (
    accuracy_draws,
    fit_accuracy,
    largest_fitted_log_compute,
    simulate_accuracy_table,
)
from bayescale.accuracy_data import (
    CHINCHILLA_LOSS,
    AccuracyPriors,
    accuracy_law,
    accuracy_pivots,
    chinchilla_effective_compute,
    law_compute,
    load_accuracy_table,
)
from bayescale.accuracy_forecast import score_held_out_rows
from bayescale.accuracy_pipeline import AccuracyOptions, result_from_accuracy_fit
from bayescale.errors import InputError
from bayescale.sampling import SamplerSettings
from bayescale.saved import load_fit, save_fit


def _sized(seed: int = 3) -> pd.DataFrame:
    """The demo table with parameters and tokens: 20 tokens a parameter, C = 6 N D."""
    table = simulate_accuracy_table(seed=seed)
    params = np.sqrt(table["compute"] / (6 * 20))
    return table.assign(params=params, tokens=20 * params)


def test_effective_compute_is_the_inverse_reducible_loss_and_saturates_in_n():
    a, alpha, b, beta = CHINCHILLA_LOSS
    n, d = np.array([1e8, 1e9, 7e9]), np.array([2e9, 2e10, 1.4e11])
    np.testing.assert_allclose(
        chinchilla_effective_compute(n, d), 1 / (a / n**alpha + b / d**beta), rtol=1e-12
    )
    # at a fixed token budget more parameters help less and less, up to D^beta / B
    fixed = chinchilla_effective_compute(np.logspace(9, 14, 6), 3e11)
    assert np.all(np.diff(fixed) > 0) and np.all(np.diff(np.diff(np.log(fixed))) < 0)
    assert fixed[-1] < 3e11**beta / b


def test_the_table_reads_params_and_tokens_and_the_axis_needs_them(tmp_path):
    data = load_accuracy_table(_sized())
    assert data.params is not None and data.tokens is not None
    np.testing.assert_allclose(
        law_compute(data, "chinchilla"), chinchilla_effective_compute(data.params, data.tokens)
    )
    assert law_compute(data, "compute") is data.compute
    sub = data.subset(data.family == "alpha")
    assert sub.params is not None and sub.params.size == sub.compute.size
    plain = load_accuracy_table(simulate_accuracy_table(seed=3))
    assert plain.params is None
    with pytest.raises(InputError, match="needs 'params' and 'tokens'"):
        law_compute(plain, "chinchilla")
    with pytest.raises(InputError, match="not one of compute, chinchilla"):
        law_compute(data, "flops")
    bad = _sized()
    bad.loc[2, "tokens"] = -1.0
    with pytest.raises(InputError, match=r"row \d+, column 'tokens'"):
        load_accuracy_table(bad)
    gap = _sized()
    gap.loc[2, "params"] = np.nan
    with pytest.raises(InputError, match="lacks them"):
        law_compute(load_accuracy_table(gap), "chinchilla")


def test_the_axis_refuses_params_and_tokens_in_billions():
    # LLaMA-1 typed as 6.7:1000 ... 65.2:1400 was fitted without a word; the axis's constants
    # weigh N and D by counts, so the fit and every planned model sat on a misread axis
    data = load_accuracy_table(_sized())
    for column in ("params", "tokens"):
        billions = replace(data, **{column: getattr(data, column) / 1e9})
        with pytest.raises(InputError, match="takes counts, not billions"):
            law_compute(billions, "chinchilla")
        np.testing.assert_array_equal(law_compute(billions, "compute"), data.compute)


def test_model_mean_in_pytensor_matches_the_numpy_curve_on_the_axis():
    """The likelihood's mean at each fitted row (PyTensor) is the forecast's curve (NumPy)."""
    from bayescale.accuracy_model import accuracy_inputs, build_accuracy_model

    data = load_accuracy_table(_sized())
    priors = AccuracyPriors(discrepancy_exponent_sd=0.0)
    model = build_accuracy_model(data, priors, axis="chinchilla")
    # the benchmark exponents' prior sits at the axis's median
    log_k = model["log_exponent_bench"].owner.inputs[-2].eval()
    np.testing.assert_allclose(log_k, np.log(priors.exponent_median_chinchilla))
    inputs = accuracy_inputs(data, priors, axis="chinchilla")
    pivot = accuracy_pivots(data, "global", "chinchilla")
    np.testing.assert_allclose(
        inputs["x"], np.log(law_compute(data, "chinchilla")) - pivot[data.family_index]
    )
    point = model.initial_point()
    point = {k: v + 0.3 for k, v in point.items()}  # off the prior's centre
    mean = model["accuracy"].owner.inputs[-2]
    outputs = [model["level"], model["exponent"], mean]
    fn = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")
    level, exponent, mu = fn(point)
    # NumPy: the law at each row's effective compute
    fam, bench = data.family_index, data.benchmark_index
    expected = accuracy_law(inputs["x"], level[fam, bench], exponent[fam, bench], data.row_chance)
    np.testing.assert_allclose(mu, expected, rtol=1e-6, atol=1e-9)
    # and the forecast's curve through accuracy_draws, two chains of four draws at this point
    dims = ("chain", "draw", "family", "benchmark")
    posterior = xr.Dataset(
        {
            "level": (dims, np.broadcast_to(level, (2, 4, *level.shape))),
            "exponent": (dims, np.broadcast_to(exponent, (2, 4, *exponent.shape))),
            "sigma": (("chain", "draw", "benchmark"), np.full((2, 4, len(data.benchmarks)), 0.1)),
            "noise": (("chain", "draw", "benchmark"), np.full((2, 4, len(data.benchmarks)), 0.01)),
        }
    )
    fit = _fit_from(data, posterior, priors)
    row = int(np.flatnonzero((data.family == "beta") & (data.benchmark == "mmlu"))[1])
    curve = accuracy_draws(
        fit,
        [data.compute[row]],
        params=[data.params[row]],
        tokens=[data.tokens[row]],
        new_model=False,
    ).sel(family="beta", benchmark="mmlu")
    within = int(np.flatnonzero(np.flatnonzero(data.fitted) == row)[0])
    np.testing.assert_allclose(curve.values[:, 0], mu[within], rtol=1e-6)


def _fit_from(data, posterior: xr.Dataset, priors: AccuracyPriors):
    from bayescale.accuracy import AccuracyFit
    from tests.helpers import fake_fit_fields

    return AccuracyFit(
        data=data,
        idata=xr.DataTree.from_dict({"posterior": posterior}),
        log_pivot=accuracy_pivots(data, "global", "chinchilla"),
        priors=priors,
        axis="chinchilla",
        **fake_fit_fields(2, 4),
    )


def test_the_axis_reaches_the_fit_the_draws_and_the_saved_fit(tmp_path, mock_pymc_sample):
    data = load_accuracy_table(_sized(), fit_max_compute=1.2e23)
    settings = SamplerSettings(draws=20, tune=10, chains=2)
    fit = fit_accuracy(data, settings=settings, axis="chinchilla", allow_unconverged=True)
    assert fit.axis == "chinchilla"
    np.testing.assert_allclose(fit.log_pivot, accuracy_pivots(data, "global", "chinchilla"))
    assert np.all(largest_fitted_log_compute(data, "chinchilla") < 5)  # effective, not FLOPs
    with pytest.raises(InputError, match="parameters and tokens"):
        accuracy_draws(fit, [1e24])
    with pytest.raises(InputError, match="parameters and tokens"):  # the command's targets
        result_from_accuracy_fit(fit, AccuracyOptions((1e24,)))
    n, d = 3e10, 6e11
    draws = accuracy_draws(fit, [6 * n * d], params=[n], tokens=[d])
    assert draws.dims == ("sample", "family", "benchmark", "compute")
    # a model of the same compute trained on fewer tokens per parameter is a different target
    other = accuracy_draws(fit, [6 * n * d], params=[4 * n], tokens=[d / 4])
    assert not np.allclose(draws.values, other.values)
    held = score_held_out_rows(fit)
    assert len(held) == int(data.held_out.sum())
    path = save_fit(fit, tmp_path / "fit.nc", AccuracyOptions((1e24,)).forecast_options())
    saved = load_fit(path).fit
    assert saved.axis == "chinchilla"
    np.testing.assert_array_equal(saved.data.params, data.params)
    np.testing.assert_array_equal(saved.data.tokens, data.tokens)
    np.testing.assert_array_equal(
        accuracy_draws(saved, [6 * n * d], params=[n], tokens=[d]).values, draws.values
    )
    # a fit on compute saves no axis data and reads back on compute
    plain = replace(fit, axis="compute", data=replace(data, params=None, tokens=None))
    plain = replace(plain, log_pivot=accuracy_pivots(plain.data))
    again = load_fit(
        save_fit(plain, tmp_path / "plain.nc", AccuracyOptions((1e24,)).forecast_options())
    ).fit
    assert again.axis == "compute" and again.data.params is None

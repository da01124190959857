"""Large loss tables: blocked per-run arrays give the numbers of one array, and the shape
classes and sampler choices beyond ``LARGE_TABLE_RUNS`` (docs/performance.md, "Large tables").

Tier 1 (fake posteriors, no sampler), except the slow end-to-end fit of a 1,500-run table.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from arviz_base import from_dict

import bayescale.forecast as forecast
import bayescale.loss_model as loss_model
from bayescale.cli import main
from bayescale.data import load_loss_runs
from bayescale.draws import summarise
from bayescale.forecast import importance_loo, loss_draws, run_blocks, run_quantiles
from bayescale.laws import loss_law_pivot
from bayescale.loss_fit import LossFit
from bayescale.loss_model import (
    LARGE_TABLE_RUNS,
    add_scatter,
    build_loss_model,
    large_table,
    run_class,
)
from bayescale.priors import LossPriors
from bayescale.scatter import add_scatter_draws
from bayescale.simulate import DEMO_TRUTH, simulate_loss_runs
from tests.helpers import fake_loss_fit

CHAINS, DRAWS = 4, 250


def table(runs_per_group: int = 40, held: float | None = 3e19):
    runs = simulate_loss_runs(DEMO_TRUTH, runs_per_group=runs_per_group, seed=5)
    return load_loss_runs(runs, fit_max_compute=held)


def fake_fit(data, likelihood: str = "normal", seed: int = 0) -> LossFit:
    """A posterior that varies from draw to draw around the demo's curves."""
    rng = np.random.default_rng(seed)
    groups = len(data.groups)
    shape = (CHAINS, DRAWS, groups)
    posterior = {
        "level": 3.0 * np.exp(0.01 * rng.standard_normal(shape)),
        "reducible": 0.4 + 0.02 * rng.standard_normal(shape),
        "exponent": 0.2 * np.exp(0.05 * rng.standard_normal(shape)),
        "sigma": 0.01 * np.exp(0.2 * rng.standard_normal((CHAINS, DRAWS))),
    }
    return fake_loss_fit(data, posterior, LossPriors(likelihood=likelihood))


def importance_loo_in_one_array(fit: LossFit):
    """The leave-one-out probabilities as computed before blocks: one draws x runs array."""
    data = fit.data
    rows = np.flatnonzero(data.fitted)
    g = data.group_index[rows]
    x = np.log(data.compute[rows]) - fit.log_pivot
    curve = loss_law_pivot(
        x[None, :],
        fit.draws("level")[:, g],
        fit.draws("reducible")[:, g],
        fit.draws("exponent")[:, g],
    )
    z, scale = forecast._run_z(fit, rows, curve)
    if fit.priors.likelihood == "student_t":
        nu = fit.priors.student_t_nu
        log_density = -(nu + 1) / 2 * np.log1p(z**2 / nu) - np.log(scale)
    else:
        log_density = -(z**2) / 2 - np.log(scale)
    w = np.exp(log_density.min(axis=0) - log_density)
    ess = w.sum(axis=0) ** 2 / (w**2).sum(axis=0)
    w = np.minimum(w, w.mean(axis=0) * np.sqrt(w.shape[0]))
    return rows, (w * forecast._below(fit.priors, z)).sum(axis=0) / w.sum(axis=0), ess


@pytest.mark.parametrize("runs", [1, 2, 3, 7, 10, 11, 100])
@pytest.mark.parametrize("width", [2, 3, 5])
def test_run_blocks_cover_the_runs_in_order_two_or_more_at_a_time(runs, width):
    blocks = run_blocks(runs, draws=10, block_values=10 * width)
    covered = np.concatenate([np.arange(runs)[b] for b in blocks])
    assert np.array_equal(covered, np.arange(runs))
    widths = [b.stop - b.start for b in blocks]
    assert all(w >= 2 for w in widths) or runs == 1
    assert max(widths) <= max(width, 2) + 1


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
@pytest.mark.parametrize("block_values", [2 * CHAINS * DRAWS, 3 * CHAINS * DRAWS, 10**9])
def test_blocked_leave_one_out_is_bit_identical(monkeypatch, likelihood, block_values):
    fit = fake_fit(table(), likelihood)
    rows, below, ess = importance_loo_in_one_array(fit)
    monkeypatch.setattr(forecast, "BLOCK_VALUES", block_values)
    got = importance_loo(fit)
    assert np.array_equal(got[0], rows)
    assert np.array_equal(got[1], below)  # to the last bit
    assert np.array_equal(got[2], ess)


@pytest.mark.parametrize("block_values", [CHAINS * DRAWS, 5 * CHAINS * DRAWS, 10**9])
def test_blocked_predictive_intervals_match_every_group_drawn_at_once(monkeypatch, block_values):
    fit = fake_fit(table())
    data = fit.data
    every = loss_draws(fit, data.compute)["loss"].values
    pick = every[:, data.group_index, np.arange(data.compute.size)]
    want = summarise(pick, 0.9)
    monkeypatch.setattr(forecast, "BLOCK_VALUES", block_values)
    got = run_quantiles(fit, np.arange(data.compute.size), 0.9)
    for key in ("median", "lower", "upper"):
        assert np.array_equal(got[key], want[key])


def test_held_out_scores_match_every_group_drawn_at_once(monkeypatch):
    fit = fake_fit(table())
    data = fit.data
    held = np.flatnonzero(data.held_out)
    assert held.size > 5
    stats = summarise(loss_draws(fit, data.compute[held])["loss"].values, 0.9)
    monkeypatch.setattr(forecast, "BLOCK_VALUES", 2 * CHAINS * DRAWS)
    scores = forecast.score_held_out(fit, 0.9)
    g = data.group_index[held]
    j = np.arange(held.size)
    for key in ("median", "lower", "upper"):
        assert np.array_equal(scores[key].to_numpy(), stats[key][g, j])


@pytest.mark.parametrize("block_values", [1, 2 * 120, 3 * 120, 7 * 100, 10**9])
def test_blocked_scatter_draws_are_bit_identical(monkeypatch, block_values):
    data = table(held=None)
    fit = fake_fit(data)
    posterior = fit.idata["posterior"].to_dataset().drop_vars("sigma")
    tree = from_dict(
        {"posterior": {name: posterior[name].values for name in posterior.data_vars}},
        dims={name: ["group"] for name in posterior.data_vars},
        coords={"group": list(data.groups)},
    )
    x = np.log(data.compute) - loss_model.loss_pivot(data)
    level, reducible, exponent = (
        posterior[n].transpose("chain", "draw", "group").values[..., data.group_index]
        for n in ("level", "reducible", "exponent")
    )
    residuals = np.log(data.loss) - np.log(loss_law_pivot(x, level, reducible, exponent))
    want = add_scatter_draws(tree, residuals, LossPriors(), 11, "loss.sigma")
    monkeypatch.setattr(loss_model, "SCATTER_BLOCK_VALUES", block_values)
    got = add_scatter(tree, data, LossPriors(), 11)
    assert np.array_equal(got["posterior"]["sigma"].values, want["posterior"]["sigma"].values)


def test_shape_classes_are_powers_of_two_up_to_the_large_table_size():
    assert [run_class(n) for n in (1, 8, 9, 36, 1000, 1024)] == [8, 8, 16, 64, 1024, 1024]
    assert LARGE_TABLE_RUNS == 1024
    assert [run_class(n) for n in (1025, 2048, 2049, 3000, 10_000)] == [
        2048,
        2048,
        3072,
        3072,
        10_240,
    ]


def test_a_large_table_samples_its_reducible_shares_centred():
    small = table(runs_per_group=12, held=None)
    assert not large_table(small)
    free = {v.name for v in build_loss_model(small).free_RVs}
    assert "z_reducible" in free and "reducible_group" not in free
    big = table(runs_per_group=342, held=None)
    assert large_table(big)
    model = build_loss_model(big, pad_runs=run_class(1026), centred_reducible=True)
    free = {v.name for v in model.free_RVs}
    assert "reducible_group" in free and "z_reducible" not in free
    assert {"tau_reducible", "mu_reducible"} <= free
    # the same gamma prior on tau as non-centred: the same model, the other geometry
    assert model["tau_reducible"].owner.op.name == "gamma"


def test_a_large_table_is_fitted_at_the_large_table_target(monkeypatch):
    import bayescale.loss_fit as fit_module

    seen = {}

    def ladder(build, settings, complete, **_):
        seen["settings"] = settings
        seen["free"] = {v.name for v in build(False).free_RVs}
        raise RuntimeError("stop before sampling")

    monkeypatch.setattr(fit_module, "run_ladder", ladder)
    with pytest.raises(RuntimeError, match="stop before sampling"):
        fit_module.fit_loss(table(runs_per_group=342, held=None))
    assert seen["settings"].target_accept == fit_module.LARGE_TABLE_TARGET_ACCEPT
    assert "reducible_group" in seen["free"]
    with pytest.raises(RuntimeError, match="stop before sampling"):
        fit_module.fit_loss(table(runs_per_group=12, held=None))
    assert seen["settings"].target_accept == fit_module.LOSS_TARGET_ACCEPT
    assert "z_reducible" in seen["free"]


@pytest.mark.slow
def test_a_1500_run_table_answers(tmp_path):
    runs = simulate_loss_runs(
        {k: DEMO_TRUTH[k] for k in ("web", "code")}, runs_per_group=750, seed=9
    )
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    out = tmp_path / "out"
    code = main(
        [
            "loss",
            str(path),
            "--target-compute",
            "1e23",
            "--out",
            str(out),
            "--quiet",
            "--draws",
            "300",
            "--tune",
            "300",
        ]
    )
    assert code == 0
    document = json.loads((out / "forecast.json").read_text())
    assert document["ok"]
    assert "1500 fitted runs" in (out / "report.md").read_text()


@pytest.mark.parametrize("block_values", [1, 2 * 60, 10**9])
def test_blocked_nd_scatter_draws_are_bit_identical(monkeypatch, block_values):
    import bayescale.nd_model as nd_model
    from bayescale.laws import nd_law_pivot
    from bayescale.nd_data import NDPriors, load_nd_runs

    rng = np.random.default_rng(4)
    frame = {
        "params": 10 ** rng.uniform(7, 9, 60),
        "tokens": 10 ** rng.uniform(9, 11, 60),
        "group": np.repeat(["a", "b"], 30),
    }
    frame["loss"] = 1.7 + 400 / frame["params"] ** 0.34 + 410 / frame["tokens"] ** 0.28
    data = load_nd_runs(pd.DataFrame(frame))
    shape = (CHAINS, DRAWS, 2)
    names = ("level", "reducible", "share", "alpha", "beta")
    centres = {"level": 3.0, "reducible": 0.4, "share": 0.5, "alpha": 0.34, "beta": 0.28}
    posterior = {n: centres[n] * np.exp(0.02 * rng.standard_normal(shape)) for n in names}
    tree = from_dict(
        {"posterior": posterior},
        dims={n: ["group"] for n in names},
        coords={"group": list(data.groups)},
    )
    inputs = nd_model.nd_inputs(data)
    idx = inputs["run_group"]
    law = nd_law_pivot(
        inputs["log_params"],
        inputs["log_tokens"],
        *(tree["posterior"][n].transpose("chain", "draw", "group").values[..., idx] for n in names),
    )
    residuals = inputs["log_loss_obs"] - np.log(law)
    normal = NDPriors(likelihood="normal")  # sigma integrated out, then drawn
    want = add_scatter_draws(tree, residuals, normal, 5, "nd.sigma")
    monkeypatch.setattr(nd_model, "SCATTER_BLOCK_VALUES", block_values)
    got = nd_model.add_nd_scatter(tree, data, normal, 5)
    assert np.array_equal(got["posterior"]["sigma"].values, want["posterior"]["sigma"].values)


def nd_table(runs_per_group: int):
    from bayescale.nd_data import load_nd_runs

    rng = np.random.default_rng(6)
    n = 2 * runs_per_group
    frame = {
        "params": 10 ** rng.uniform(7, 9, n),
        "tokens": 10 ** rng.uniform(9, 11, n),
        "group": np.repeat(["a", "b"], runs_per_group),
    }
    law = 1.7 + 400 / frame["params"] ** 0.34 + 410 / frame["tokens"] ** 0.28
    frame["loss"] = law * np.exp(0.01 * rng.standard_normal(n))
    return load_nd_runs(pd.DataFrame(frame))


def test_a_large_nd_table_is_fitted_as_a_large_loss_table(monkeypatch):
    import bayescale.ladder as ladder_module
    from bayescale.nd import fit_nd

    seen = {}

    def ladder(build, settings, complete, **_):
        seen["settings"] = settings
        model = build(False)
        seen["free"] = {v.name for v in model.free_RVs}
        seen["runs"] = model["log_params"].get_value().size
        raise RuntimeError("stop before sampling")

    monkeypatch.setattr(ladder_module, "run_ladder", ladder)
    with pytest.raises(RuntimeError, match="stop before sampling"):
        fit_nd(nd_table(600))
    assert seen["settings"].target_accept == ladder_module.LARGE_TABLE_TARGET_ACCEPT
    assert {"reducible_group", "share_group"} <= seen["free"]
    assert not {"z_reducible", "z_share"} & seen["free"]
    assert seen["runs"] == 2048
    with pytest.raises(RuntimeError, match="stop before sampling"):
        fit_nd(nd_table(20))
    assert seen["settings"].target_accept == ladder_module.LOSS_TARGET_ACCEPT
    assert {"z_reducible", "z_share"} <= seen["free"]
    assert seen["runs"] == 64


@pytest.mark.parametrize("k", [None, 5])
def test_pass_draws_in_smaller_chunks_are_bit_identical(monkeypatch, k):
    from pathlib import Path

    import bayescale.pass_forecast as pass_forecast
    from bayescale.saved import read_fit

    fit = read_fit(Path(__file__).parent / "data" / "pass_fit_v0.1.0.nc")[0]
    compute = np.logspace(21, 24, 37)
    want = pass_forecast.pass_draws(fit, compute, k=k)
    samples, units = pass_forecast._lines(fit)[0].shape
    assert pass_forecast.computes_per_chunk(samples, units) == pass_forecast.CHUNK
    for values in (1, 3 * samples * units):
        monkeypatch.setattr(pass_forecast, "CHUNK_VALUES", values)
        got = pass_forecast.pass_draws(fit, compute, k=k)
        for name in want.data_vars:
            assert np.array_equal(got[name].values, want[name].values), name

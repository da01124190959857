"""Learned floors of the accuracy law: a benchmark without a known chance rate (or
``--chance BENCH=learn``) and ``floor="below_chance"`` learn g_b = bound * u_b, u_b ~ Beta.

The model's prior and likelihood without sampling; the document and the saved fit on a fake
posterior; the command, ``bayescale forecast`` from its fit and the recovery of a known floor
with real NUTS; ``bayescale backtest accuracy --chance``."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import bayescale.accuracy_backtest
from bayescale.accuracy import fit_accuracy, simulate_accuracy_table
from bayescale.accuracy_data import (
    AccuracyPriors,
    floor_bounds,
    load_accuracy_table,
    parse_chance,
)
from bayescale.accuracy_pipeline import AccuracyOptions, result_from_accuracy_fit
from bayescale.accuracy_report import chance_entries
from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.sampling import SamplerSettings
from bayescale.saved import load_fit, save_fit
from tests.test_accuracy_registry import fake_fit

FAST = ["--draws", "60", "--tune", "60", "--chains", "2", "--quiet", "--seed", "4"]


@pytest.fixture
def quiz() -> pd.DataFrame:
    """The demo table with MMLU renamed 'quiz': a benchmark without a known chance rate."""
    table = simulate_accuracy_table(seed=3)
    return table.assign(benchmark=table["benchmark"].replace("mmlu", "quiz"))


def test_parse_chance_learn():
    assert parse_chance(["mmlu=learn", "gsm8k=0", "arc= LEARN "]) == {
        "mmlu": None,
        "gsm8k": 0.0,
        "arc": None,
    }
    with pytest.raises(InputError, match="BENCHMARK=learn"):
        parse_chance(["mmlu=learned"])


def test_a_benchmark_without_a_rate_learns_its_floor(quiz, caplog):
    with caplog.at_level(logging.WARNING, logger="bayescale"):
        data = load_accuracy_table(quiz)
    assert data.chance_source == ("learned", "default", "default")
    assert np.isnan(data.chance[0]) and data.chance[1:].tolist() == [0.0, 0.5]
    assert "'quiz' has no known chance rate: its floor is learned" in caplog.text
    # asked for: a named benchmark's default is overridden
    data = load_accuracy_table(quiz, chance={"quiz": 0.25, "winogrande": None})
    assert data.chance_source == ("option", "default", "learned")
    assert np.isnan(data.chance[2]) and data.chance[0] == 0.25


def test_floor_bounds(quiz):
    top = quiz.loc[quiz["benchmark"] == "quiz", "compute"].idxmax()
    quiz.loc[top, "accuracy"] = 0.001  # held out below: it does not bound the floor
    data = load_accuracy_table(quiz, fit_max_compute=1.2e23)
    learned, bound = floor_bounds(data)
    assert learned.tolist() == [True, False, False]
    fitted = data.fitted & (data.benchmark == "quiz")
    assert bound[0] == data.accuracy[fitted].min() > 0.1  # the lowest fitted score
    assert bound[1:].tolist() == [0.0, 0.5]
    # below_chance: every positive rate is learned below itself; a zero rate stays fixed
    learned, bound = floor_bounds(load_accuracy_table(simulate_accuracy_table(3)), "below_chance")
    assert learned.tolist() == [True, False, True]
    assert bound.tolist() == [0.25, 0.0, 0.5]
    with pytest.raises(InputError, match="not one of"):
        floor_bounds(data, "free")


def _point(model, **values):
    point = model.initial_point()
    for name, value in values.items():
        point[name] = np.asarray(value, dtype=float)
    return point


def test_learned_floor_prior_is_the_documented_beta_and_logp_is_finite(quiz):
    import pymc as pm
    import pytensor

    from bayescale.accuracy_model import build_accuracy_model

    data = load_accuracy_table(quiz)
    _, bound = floor_bounds(data)
    priors = AccuracyPriors(floor_a=2.0, floor_b=5.0)
    model = build_accuracy_model(data, priors)
    fraction = model["floor_fraction"]
    assert model.named_vars_to_dims["chance"] == ("learned_benchmark",)
    assert list(model.coords["learned_benchmark"]) == ["quiz"]
    for u in (0.01, 0.3, 0.97):
        logp = pm.logp(fraction, np.array([u])).eval()
        np.testing.assert_allclose(logp, stats.beta(2.0, 5.0).logpdf(u), rtol=1e-6)
    # the default is uniform
    default = build_accuracy_model(data)
    np.testing.assert_allclose(pm.logp(default["floor_fraction"], np.array([0.3])).eval(), 0.0)
    # the floor is the fraction of the bound; the density and its gradient are finite
    value = model.rvs_to_values[fraction]
    chance = pytensor.function([value], model.replace_rvs_by_values([model["chance"]])[0])
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    for u in (1e-4, 0.5, 1 - 1e-4):
        point = _point(model, floor_fraction_logodds__=[np.log(u / (1 - u))])
        np.testing.assert_allclose(chance(point["floor_fraction_logodds__"]), [bound[0] * u])
        assert np.isfinite(logp(point)) and np.all(np.isfinite(dlogp(point)))
    # no learned floor, no floor variable
    known = build_accuracy_model(load_accuracy_table(quiz, chance={"quiz": 0.25}))
    assert "floor_fraction" not in known.named_vars and "chance" not in known.named_vars


def test_a_learned_floor_enters_the_likelihood_as_a_known_one_would(quiz):
    """One model: the likelihood at g = bound * u is the fixed-floor model's at that g."""
    from bayescale.accuracy_model import build_accuracy_model

    learned_data = load_accuracy_table(quiz)
    _, bound = floor_bounds(learned_data)
    u = 0.6
    learned = build_accuracy_model(learned_data)
    fixed = build_accuracy_model(load_accuracy_table(quiz, chance={"quiz": bound[0] * u}))
    point = _point(learned, floor_fraction_logodds__=[np.log(u / (1 - u))])
    rng = np.random.default_rng(0)
    point["level_raw"] = rng.normal(0.0, 0.5, point["level_raw"].shape)
    fixed_point = {k: v for k, v in point.items() if k in fixed.initial_point()}
    at_learned = learned.compile_logp(vars=[learned["accuracy"]])(point)
    at_fixed = fixed.compile_logp(vars=[fixed["accuracy"]])(fixed_point)
    np.testing.assert_allclose(at_learned, at_fixed, rtol=1e-9)
    other = _point(learned, floor_fraction_logodds__=[0.0]) | {"level_raw": point["level_raw"]}
    assert not np.isclose(learned.compile_logp(vars=[learned["accuracy"]])(other), at_fixed)


def _learned_fake_fit():
    """The registry tests' fake posterior with MMLU's floor learned (draws near 0.2)."""
    fit = fake_fit()
    data = replace(
        fit.data,
        chance=np.array([np.nan, 0.0, 0.5]),
        chance_source=("learned", "default", "default"),
    )
    posterior = fit.idata["posterior"].to_dataset()
    draws = 0.2 + 0.01 * np.random.default_rng(2).standard_normal(
        (*posterior["sigma"].shape[:2], 1)
    )
    posterior["chance"] = xr.DataArray(
        draws,
        dims=("chain", "draw", "learned_benchmark"),
        coords={"learned_benchmark": ["mmlu"]},
    )
    idata = fit.idata.copy()
    idata["posterior"] = xr.DataTree(posterior)
    return replace(fit, data=data, idata=idata)


def test_learned_floor_in_the_document_forecast_and_saved_fit(tmp_path):
    fit = _learned_fake_fit()
    floors = fit.floor_draws()
    assert floors.shape == (100, 3)
    np.testing.assert_allclose(np.median(floors[:, 0]), 0.2, atol=0.01)
    assert np.all(floors[:, 1] == 0.0) and np.all(floors[:, 2] == 0.5)
    options = AccuracyOptions((3e23,), 0.9, None, family="beta", chance={"mmlu": None})
    result = result_from_accuracy_fit(fit, options)
    doc = result.document()
    entry = doc["chance"]["mmlu"]
    assert entry["rate"] is None and entry["source"] == "learned"
    assert entry["learned"]["lower"] < 0.2 < entry["learned"]["upper"]
    assert entry["learned"]["prior"].endswith("* Beta(1, 1)")
    assert doc["chance"]["gsm8k"] == {"rate": 0.0, "source": "default"}
    # a new model never scores below its draw's floor before measurement noise
    curve = result.forecast.draws["curve_accuracy"].sel(family="beta", benchmark="mmlu").values
    assert np.all(curve[:, 0] >= floors[:, 0] - 1e-12)
    path = save_fit(fit, tmp_path / "fit.nc", options.forecast_options())
    saved = load_fit(path)
    assert saved.fit.data.chance_source == fit.data.chance_source
    assert np.isnan(saved.fit.data.chance[0]) and saved.fit.floor == "chance"
    np.testing.assert_array_equal(saved.fit.floor_draws(), floors)
    assert saved.result().document()["chance"] == doc["chance"]
    assert saved.result().document()["targets"] == doc["targets"]


def test_the_floor_option_is_saved_and_checked(tmp_path):
    fit = replace(fake_fit(), floor="below_chance")
    options = AccuracyOptions((3e23,), 0.9, None, family="beta", floor="below_chance")
    path = save_fit(fit, tmp_path / "fit.nc", options.forecast_options())
    saved = load_fit(path)
    assert saved.fit.floor == "below_chance" and saved.options.floor == "below_chance"
    with pytest.raises(InputError, match="not one of chance, below_chance"):
        result_from_accuracy_fit(fit, replace(options, floor="free"))


@pytest.mark.sampling
def test_cli_learn_end_to_end_and_forecast_from_its_fit(tmp_path, quiz):
    table = quiz[quiz["benchmark"] != "winogrande"]
    path, out = tmp_path / "quiz.csv", tmp_path / "out"
    table.to_csv(path, index=False)
    doc, again = tmp_path / "acc.json", tmp_path / "again.json"
    args = ["accuracy", str(path), "--target-compute", "1e24", "--family", "alpha"]
    args += ["--chance", "quiz=learn", "--json", str(doc), "--out", str(out)]
    assert main([*args, "--allow-unconverged", *FAST]) == 0
    result = json.loads(doc.read_text())
    entry = result["chance"]["quiz"]
    assert entry["source"] == "learned" and entry["rate"] is None
    learned = entry["learned"]
    assert 0 <= learned["lower"] <= learned["median"] <= learned["upper"] <= learned["bound"]
    assert learned["bound"] == table.loc[table["benchmark"] == "quiz", "accuracy"].min()
    assert "floor learned" in (out / "report.md").read_text()
    forecast = ["forecast", str(out / "fit.nc"), "--target-compute", "1e24", "--json", str(again)]
    assert main([*forecast, "--quiet", "--allow-unconverged"]) == 0
    back = json.loads(again.read_text())
    assert back["chance"] == result["chance"] and back["targets"] == result["targets"]


@pytest.mark.sampling
@pytest.mark.slow
def test_a_learned_floor_recovers_the_true_chance_rate():
    """Four families on a 4-option benchmark whose rate is not given: g = 0.25 recovered."""
    table = simulate_accuracy_table(
        seed=0, families={"a": 5, "b": 5, "c": 4, "d": 4}, benchmarks={"quiz": 0.25}
    )
    data = load_accuracy_table(table)
    settings = SamplerSettings(draws=500, tune=500, chains=2, seed=2, progress=False)
    fit = fit_accuracy(data, settings=settings)
    g = fit.floor_draws()[:, 0]
    lower, upper = np.quantile(g, [0.05, 0.95])
    assert lower <= 0.25 <= upper
    assert upper - lower < 0.2  # informed by the data, not the uniform prior's [0, bound]
    assert chance_entries(fit)["quiz"]["source"] == "learned"


def test_backtest_chance_reaches_the_loader(tmp_path, quiz, monkeypatch):
    path = tmp_path / "quiz.csv"
    quiz.to_csv(path, index=False)
    seen = {}

    def loader(source, *, chance=None, columns=None):
        seen["chance"] = chance
        raise InputError("stop here")

    monkeypatch.setattr(bayescale.accuracy_backtest, "load_accuracy_table", loader)
    args = ["backtest", "accuracy", str(path), "--ratio", "1.01", "--quiet"]
    assert main([*args, "--chance", "quiz=0.25", "--chance", "winogrande=learn"]) == 2
    assert seen["chance"] == {"quiz": 0.25, "winogrande": None}
    seen.clear()
    assert main([*args, "--chance", "quiz"]) == 2
    assert not seen  # refused while parsing
    assert main(["backtest", "loss", str(path), "--ratio", "10", "--chance", "a=0.2"]) == 2


def _counted_mmlu(lowest: float) -> pd.DataFrame:
    """One family's MMLU ladder on 14,042 questions (chance 0.25), its smallest at ``lowest``."""
    return pd.DataFrame(
        {
            "model": ["a1", "a2", "a3", "a4"],
            "family": "a",
            "compute": [1e20, 3e20, 1e21, 3e21],
            "benchmark": "MMLU",
            "accuracy": [lowest, 0.26, 0.29, 0.35],
            "n_questions": 14042,
        }
    )


def test_counted_rows_well_below_chance_are_warned_with_the_below_chance_floor():
    # MMLU at 0.23 on 14,042 questions is 5.5 binomial sds under chance: the floor at chance
    # forced the law to p >= 0.25 and the row effect absorbed the misfit without a word
    from bayescale.accuracy_forecast import below_chance_warnings
    from bayescale.accuracy_pipeline import check_accuracy_data

    options = AccuracyOptions(targets=(1e22,))
    data = load_accuracy_table(_counted_mmlu(0.23))
    (warned,) = [w for w in check_accuracy_data(data, options) if "binomial sds below" in w]
    assert warned.startswith("MMLU: 1 counted row more than 2 binomial sds below the chance")
    assert "a1 at 0.23 on 14042 questions, 5.5 sds below" in warned
    assert "--floor below_chance" in warned
    # 'bayescale run SPEC' takes no --floor: the warning names the spec's key too
    assert '[forecast] floor = "below_chance"' in warned
    # not with the floor learned below chance, nor within noise of chance (0.245: 1.4 sds),
    # nor for a row without n_questions (its normal likelihood reaches below the floor)
    assert not below_chance_warnings(data, "below_chance")
    assert not check_accuracy_data(data, replace(options, floor="below_chance"))
    assert not below_chance_warnings(load_accuracy_table(_counted_mmlu(0.245)))
    plain = _counted_mmlu(0.23).drop(columns="n_questions")
    assert not below_chance_warnings(load_accuracy_table(plain))
    # a row at 0 is the failed-evaluation warning's, not warned twice
    assert not below_chance_warnings(load_accuracy_table(_counted_mmlu(0.0)))

"""Planned models as targets of the accuracy law: ``--target N:D`` runs it on Chinchilla's
effective compute, end to end (command, document, report, figure, saved fit, ``bayescale
forecast``, spec, backtest), and ``--target-compute`` keeps training compute. Refusals exit
2 before any sampling. Fake posteriors and the mocked sampler (tiers 1 and 2 of STYLE.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale.accuracy
import bayescale.accuracy_pipeline
import bayescale.accuracy_report
from bayescale.accuracy import accuracy_figure, simulate_accuracy_table
from bayescale.accuracy_data import (
    AccuracyPriors,
    accuracy_pivots,
    chinchilla_effective_compute,
    load_accuracy_table,
    optimal_equivalent_compute,
)
from bayescale.accuracy_forecast import accuracy_target_warnings, forecast_accuracy
from bayescale.accuracy_pipeline import (
    AccuracyOptions,
    check_accuracy_data,
    result_from_accuracy_fit,
)
from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.saved import load_fit, save_fit
from bayescale.seeds import forecast_stream
from tests.test_accuracy_registry import fake_fit

FAST = ["--draws", "20", "--tune", "10", "--chains", "2", "--quiet", "--allow-unconverged"]
#: Two planned models of one compute (6ND = 1.08e23) at 20 and 5 tokens a parameter,
#: and a third at 20.
RUNS = "3e10:6e11,6e10:3e11"
MORE = "6e10:1.2e12"


def _sized(seed: int = 3) -> pd.DataFrame:
    """The demo table with parameters and tokens: 20 tokens a parameter, C = 6 N D."""
    table = simulate_accuracy_table(seed=seed)
    params = np.sqrt(table["compute"] / (6 * 20))
    return table.assign(params=params, tokens=20 * params)


@pytest.fixture
def sized_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sized.csv"
    _sized().to_csv(path, index=False)
    return path


def chinchilla_fake_fit():
    """:func:`fake_fit`'s posterior on the sized table, read as a fit on effective compute."""
    fit, sized = fake_fit(), _sized()
    data = replace(
        fit.data,
        params=sized["params"].to_numpy(dtype=float),
        tokens=sized["tokens"].to_numpy(dtype=float),
    )
    return replace(
        fit, data=data, axis="chinchilla", log_pivot=accuracy_pivots(data, "global", "chinchilla")
    )


PLANNED = AccuracyOptions(
    runs=((3e10, 6e11), (6e10, 3e11)), interval=0.8, requirement="mmlu.accuracy>=0.5", family="beta"
)


def test_planned_models_forecast_at_their_own_n_and_d():
    fit = chinchilla_fake_fit()
    result = result_from_accuracy_fit(fit, PLANNED)
    doc = result.document()
    assert doc["model"]["axis"] == "chinchilla" and "C_eff" in doc["model"]["formula"]
    assert doc["model"]["effective_compute"]["A"] == 482.01
    first, second = doc["targets"]
    assert (first["params"], first["tokens"]) == (3e10, 6e11)
    assert first["compute"] == first["target_compute"] == pytest.approx(6 * 3e10 * 6e11)
    assert second["compute"] == pytest.approx(first["compute"])  # one compute, two models
    assert set(first["accuracy"][0]) == {"family", "benchmark", "median", "lower", "upper", "mean"}
    assert first["accuracy"] != second["accuracy"]
    # each model's numbers are the law at its own effective compute
    draws = result.draws.sel(family="beta", benchmark="mmlu").values
    expected = bayescale.accuracy._draw_arrays(
        fit,
        np.array([1.08e23, 1.08e23]),
        forecast_stream(fit, "accuracy.forecast"),
        chinchilla_effective_compute([3e10, 6e10], [6e11, 3e11]),
    )[1][:, 1, 0, :]
    np.testing.assert_allclose(draws, expected)
    # the decision is read from the same draws, the compute needed along each model's ratio
    rule = np.mean(draws >= 0.5, axis=0)
    decisions = [t["decision"] for t in doc["targets"]]
    assert [d["probability"] for d in decisions] == pytest.approx(rule.tolist())
    assert [d["tokens_per_parameter"] for d in decisions] == pytest.approx([20.0, 5.0])
    assert result.curve is None  # two ratios: two curves, no single decision figure
    one_ratio = result_from_accuracy_fit(fit, replace(PLANNED, runs=((3e10, 6e11), (6e10, 1.2e12))))
    assert one_ratio.curve is not None
    # a compute names no N and D on this axis, and a compute fit takes no N:D
    with pytest.raises(InputError, match="--target N:D"):
        result_from_accuracy_fit(fit, replace(PLANNED, runs=(), targets=(1e24,)))
    with pytest.raises(InputError, match="runs on training compute"):
        result_from_accuracy_fit(fake_fit(), PLANNED)


def test_options_take_computes_or_planned_models_not_both():
    fit = chinchilla_fake_fit()
    with pytest.raises(InputError, match="not both"):
        result_from_accuracy_fit(fit, replace(PLANNED, targets=(1e24,)))
    with pytest.raises(InputError, match="nothing to forecast"):
        result_from_accuracy_fit(fit, replace(PLANNED, runs=()))
    with pytest.raises(InputError, match="positive"):
        result_from_accuracy_fit(fit, replace(PLANNED, runs=((-1.0, 6e11),)))


def test_figure_and_report_say_the_axis(tmp_path):
    result = result_from_accuracy_fit(chinchilla_fake_fit(), PLANNED)
    runs = (np.array([3e10, 6e10]), np.array([6e11, 3e11]))
    fig = accuracy_figure(result.fit, result.forecast.targets, result.ladders, runs=runs)
    assert "effective compute" in fig.axes[0].get_xlabel()
    plain = result_from_accuracy_fit(fake_fit(), replace(PLANNED, runs=(), targets=(1e24,)))
    fig = accuracy_figure(plain.fit, plain.forecast.targets, plain.ladders)
    assert fig.axes[0].get_xlabel() == "training compute (FLOPs)"
    assert plain.document()["model"]["axis"] == "compute"
    report = bayescale.accuracy_report.accuracy_markdown(result, "x")
    assert "Axis: Chinchilla's effective compute" in report and "| N | D |" in report
    assert "Axis: training compute" in bayescale.accuracy_report.accuracy_markdown(plain, "x")
    assert "N=3e+10 D=6e+11" in bayescale.accuracy_report.accuracy_summary(result)
    assert "beta mmlu @ N=6e+10 D=3e+11" in repr(result.forecast)


def test_command_forecasts_planned_models_and_the_saved_fit_answers_again(
    tmp_path, sized_csv, mock_pymc_sample, capsys
):
    out, first, second = tmp_path / "out", tmp_path / "a.json", tmp_path / "b.json"
    args = ["accuracy", str(sized_csv), "--target", RUNS, "--target", MORE, "--family", "beta"]
    rule = ["--require", "mmlu.accuracy>=0.5"]
    assert main([*args, *rule, *FAST, "--json", str(first), "--out", str(out)]) == 0
    doc = json.loads(first.read_text())
    assert doc["model"]["axis"] == "chinchilla"
    assert [(t["params"], t["tokens"]) for t in doc["targets"]] == [
        (3e10, 6e11),
        (6e10, 3e11),
        (6e10, 1.2e12),
    ]
    for t in doc["targets"]:
        assert t["compute"] == pytest.approx(6 * t["params"] * t["tokens"])
        assert {a["family"] for a in t["accuracy"]} == {"beta"}
        assert t["decision"]["requirement"] == "mmlu.accuracy>=0.5"
    assert "effective compute" in (out / "report.md").read_text()
    saved = load_fit(out / "fit.nc")
    assert saved.fit.axis == "chinchilla" and len(saved.options.runs) == 3
    # the saved fit answers the same planned models with the run's numbers
    forecast = ["forecast", str(out / "fit.nc"), "--allow-unconverged", "--quiet"]
    runs = ["--target", RUNS, "--target", MORE]
    assert main([*forecast, *runs, "--json", str(second)]) == 0
    assert json.loads(second.read_text())["targets"] == doc["targets"]
    capsys.readouterr()
    assert main([*forecast, "--target-compute", "1e24"]) == 2
    err = capsys.readouterr().err
    assert "effective compute" in err and "--target N:D" in err
    # no targets given: the saved run's planned models, as every law's saved fit answers
    assert main([*forecast, "--json", str(second)]) == 0
    assert json.loads(second.read_text())["targets"] == doc["targets"]


def test_a_compute_fit_refuses_planned_models(tmp_path, capsys):
    fit = fake_fit()
    options = replace(PLANNED, runs=(), targets=(1e24,))
    path = save_fit(fit, tmp_path / "fit.nc", options.forecast_options())
    assert main(["forecast", str(path), "--target", "3e10:6e11", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "runs on training compute" in err and "--target-compute" in err
    assert main(["forecast", str(path), "--target-compute", "1e24", "--quiet"]) == 0


@pytest.mark.parametrize(
    ("drop", "given", "message"),
    [
        ((), ["--target", RUNS, "--target-compute", "1e24"], "not both"),
        ((), [], "nothing to forecast: give --target-compute C"),
        (("params", "tokens"), ["--target", RUNS], r"'params' \(--params-col\), 'tokens'"),
        (("tokens",), ["--target", RUNS], r"missing column\(s\) 'tokens' \(--tokens-col\)\."),
        ((), ["--target", "3e10x6e11"], "is not N:D"),
        ((), ["--target", RUNS, "--params-col", "tokens"], "named by both --params-col and"),
    ],
    ids=["both", "neither", "no-sizes", "no-tokens", "malformed", "params-are-tokens"],
)
def test_command_refusals_exit_2_before_sampling(
    tmp_path, monkeypatch, capsys, drop, given, message
):
    def no_fit(*args, **kwargs):
        raise AssertionError("sampled")

    monkeypatch.setattr(bayescale.accuracy_pipeline, "fit_accuracy", no_fit)
    path = tmp_path / "t.csv"
    _sized().drop(columns=list(drop)).to_csv(path, index=False)
    assert main(["accuracy", str(path), *given, "--quiet"]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_sizes_outside_the_range_are_refused_as_for_nd(tmp_path, capsys):
    # params 1e300 (a unit mistake) was fitted without a word
    table = _sized()
    table.loc[4, "params"] = 1e300
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    assert main(["accuracy", str(path), "--target", RUNS, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "row 5 (line 6), column 'params'" in err and "a parameter count (1e-30 to 1e+60)" in err


@pytest.mark.parametrize("unit", [1 / 8.64e19, 1e3], ids=["pf-days", "x1000"])
def test_planned_models_are_placed_against_the_fitted_models_6nd(unit):
    # with the compute column in PF-days, 70B on 1.4T tokens was warned 21 decades beyond
    # the data; counted 1000x larger, it was refused as a backcast (exit 2): the law on
    # effective compute does not read that column
    data = load_accuracy_table(_sized().assign(compute=lambda t: t["compute"] * unit))
    planned = AccuracyOptions(runs=((7e10, 1.4e12),), family="beta")
    assert not [w for w in check_accuracy_data(data, planned) if "FLOPs" in w]
    assert check_accuracy_data(data, replace(planned, runs=((2e12, 4e13),)))  # 3.5 decades
    with pytest.raises(InputError, match="backcast"):
        check_accuracy_data(data, replace(planned, runs=((1e9, 2e10),)))


def test_a_model_without_sizes_is_named(tmp_path, capsys):
    table = _sized()
    table.loc[4, "tokens"] = np.nan
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    assert main(["accuracy", str(path), "--target", RUNS, "--quiet"]) == 2
    assert f"model '{table.loc[4, 'model']}' lacks them" in capsys.readouterr().err


def _spec(tmp_path: Path, forecast: str) -> Path:
    _sized().to_csv(tmp_path / "sized.csv", index=False)
    spec = tmp_path / "acc.toml"
    spec.write_text(
        'schema_version = 1\nlaw = "accuracy"\n\n[data]\npath = "sized.csv"\n\n'
        f'[forecast]\n{forecast}\nfamily = "beta"\n\n[sampler]\nseed = 0\n'
    )
    return spec


def test_a_spec_names_planned_models_as_runs(tmp_path, mock_pymc_sample, capsys):
    spec = _spec(tmp_path, "runs = [[3e10, 6e11], [6e10, 3e11]]")
    assert main(["check", str(spec)]) == 0
    assert "planned models (the law on Chinchilla's effective compute)" in capsys.readouterr().out
    doc = tmp_path / "run.json"
    assert main(["run", str(spec), "--json", str(doc), *FAST]) == 0
    result = json.loads(doc.read_text())
    assert result["model"]["axis"] == "chinchilla"
    assert [t["tokens"] for t in result["targets"]] == [6e11, 3e11]
    # targets and runs together, in the spec or with --target-compute, are refused
    both = _spec(tmp_path, "targets = [1e24]\nruns = [[3e10, 6e11]]")
    assert main(["check", str(both)]) == 2
    capsys.readouterr()
    assert main(["run", str(spec), "--target-compute", "1e24", *FAST]) == 2
    assert "not both" in capsys.readouterr().err


def test_backtest_takes_the_effective_compute_axis_when_the_table_has_sizes(
    tmp_path, sized_csv, mock_pymc_sample, capsys
):
    doc = tmp_path / "bt.json"
    args = ["backtest", "accuracy", str(sized_csv), "--ratio", "1.01", "--json", str(doc), *FAST]
    assert main(args) == 0
    chinchilla = json.loads(doc.read_text())
    assert chinchilla["model"] == {"axis": "chinchilla"}
    assert main([*args, "--axis", "compute"]) == 0
    on_compute = json.loads(doc.read_text())
    assert on_compute["model"] == {"axis": "compute"}
    # the same held-out rows, forecast on the two axes
    assert [c["case"] for c in on_compute["cases"]] == [c["case"] for c in chinchilla["cases"]]
    assert [c["median"] for c in on_compute["cases"]] != [c["median"] for c in chinchilla["cases"]]
    plain = tmp_path / "plain.csv"
    simulate_accuracy_table(seed=3).to_csv(plain, index=False)
    plain_args = ["backtest", "accuracy", str(plain), "--ratio", "1.01", *FAST]
    assert main([*plain_args, "--json", str(doc)]) == 0
    assert json.loads(doc.read_text())["model"] == {"axis": "compute"}
    capsys.readouterr()
    assert main([*plain_args, "--axis", "chinchilla"]) == 2
    assert "needs 'params' and 'tokens'" in capsys.readouterr().err


def test_a_model_starved_of_tokens_is_placed_where_the_law_puts_it():
    # 1e13 parameters on 1e8 tokens: 6·N·D = 6e21 FLOPs lies inside the fitted models' range,
    # and it was answered as an interpolation; on the law's axis it is far below every fitted
    # model (a compute-optimal model of about 1e17 FLOPs does as well), so a backcast
    data = load_accuracy_table(_sized())
    six_nd = 6 * data.params * data.tokens
    assert six_nd.min() < 6e21 < six_nd.max()
    starved = AccuracyOptions(runs=((1e13, 1e8),), family="beta")
    with pytest.raises(InputError, match=r"planned model N=1e\+13, D=1e\+08 .*backcast"):
        check_accuracy_data(data, starved)
    warned = check_accuracy_data(data, replace(starved, allow_backcast=True))
    assert any("below the smallest fitted model" in w for w in warned)
    # a compute-optimal model is its own equal, an over-trained one sits lower
    optimal = optimal_equivalent_compute(7e10, 1.4e12) / (6 * 7e10 * 1.4e12)
    assert 0.99 < optimal <= 1.0
    assert optimal_equivalent_compute(7e9, 1.4e13) < 6 * 7e9 * 1.4e13 / 2


def test_a_ladder_at_chance_is_warned_as_resting_on_the_prior():
    # seven sizes of one family all within a point of MMLU's 0.25 (GPT-3 below 175B): the
    # forecast at 10x was answered with no word that the data show no rise at all
    computes = np.logspace(20, 22, 7)
    mmlu = [0.259, 0.26, 0.254, 0.261, 0.259, 0.249, 0.26]
    rows = [
        {"model": f"m{i}", "family": "f", "compute": c, "benchmark": b, "accuracy": a}
        for b, scores in (("mmlu", mmlu), ("arc_easy", np.linspace(0.40, 0.60, 7)))
        for i, (c, a) in enumerate(zip(computes, scores, strict=True))
    ]
    data = load_accuracy_table(pd.DataFrame(rows))
    warned = accuracy_target_warnings(data, np.array([1e23]))
    at_chance = [w for w in warned if "within noise of chance" in w]
    assert len(at_chance) == 1 and at_chance[0].startswith("f on mmlu:")
    # counted answers: 0.27 of 2000 questions is clear of chance (binomial sd 0.0097)
    counted = pd.DataFrame(rows).assign(n_questions=2000)
    counted.loc[0, "accuracy"] = 0.27
    warned = accuracy_target_warnings(load_accuracy_table(counted), np.array([1e23]))
    assert not any("within noise of chance" in w for w in warned)


def test_the_at_chance_warning_uses_the_fit_s_noise_prior():
    # within noise of chance is judged with the noise prior the fit uses, not the default:
    # scores 0.004-0.011 above MMLU's 0.25 are within 2 x 0.01 (the default median noise)
    # of chance, but clear of 2 x 0.001
    computes = np.logspace(20, 22, 7)
    mmlu = [0.259, 0.26, 0.254, 0.261, 0.259, 0.258, 0.26]
    rows = [
        {"model": f"m{i}", "family": "f", "compute": c, "benchmark": "mmlu", "accuracy": a}
        for i, (c, a) in enumerate(zip(computes, mmlu, strict=True))
    ]
    data = load_accuracy_table(pd.DataFrame(rows))
    tight = AccuracyPriors(noise_median=0.001)

    def at_chance(warned: list[str] | tuple[str, ...]) -> bool:
        return any("within noise of chance" in w for w in warned)

    assert at_chance(accuracy_target_warnings(data, np.array([1e23])))
    assert not at_chance(accuracy_target_warnings(data, np.array([1e23]), priors=tight))
    options = AccuracyOptions(targets=(1e23,))
    assert at_chance(check_accuracy_data(data, options))
    assert not at_chance(check_accuracy_data(data, replace(options, priors=tight)))
    # and the forecast's warnings, from the fit's priors
    fit = fake_fit(chance={"mmlu": 0.25})
    ladder = fit.data.fitted & (fit.data.family == "alpha") & (fit.data.benchmark == "mmlu")
    near = replace(fit.data, accuracy=np.where(ladder, 0.255, fit.data.accuracy))
    for priors, warned in ((AccuracyPriors(), True), (tight, False)):
        forecast = forecast_accuracy(replace(fit, data=near, priors=priors), [3e23], warn=False)
        assert at_chance(forecast.warnings) is warned


def test_log10_compute_of_an_accuracy_table_is_warned():
    # log10(FLOPs) in the accuracy table's compute column was fitted as FLOPs without a word
    # (the loss and pass commands warned)
    rows = [
        {"model": f"m{i}", "family": "f", "compute": c, "benchmark": "arc_easy", "accuracy": a}
        for i, (c, a) in enumerate(zip([21.0, 21.5, 22.0, 22.5], [0.4, 0.5, 0.6, 0.7], strict=True))
    ]
    data = load_accuracy_table(pd.DataFrame(rows))
    warned = accuracy_target_warnings(data, np.array([23.0]))
    assert any("these look like log10(FLOPs)" in w for w in warned)
    flops = pd.DataFrame(rows).assign(compute=lambda t: 10.0 ** t["compute"])
    warned = accuracy_target_warnings(load_accuracy_table(flops), np.array([1e23]))
    assert not any("log10" in w for w in warned)


def test_a_short_ladder_of_the_only_family_names_what_it_pools_with():
    # LLaMA-1 alone, fitted on 7B and 13B: "its exponent comes mostly from the other
    # families' (pooling)", with no other family in the table
    table = simulate_accuracy_table(seed=3)
    data = load_accuracy_table(table[table["family"] == "alpha"], fit_max_compute=4e21)
    text = " ".join(accuracy_target_warnings(data, np.array([1e23])))
    assert "other families'" not in text
    assert "the prior and the family's other benchmarks" in text
    one = table[(table["family"] == "alpha") & (table["benchmark"] == "mmlu")]
    text = " ".join(
        accuracy_target_warnings(load_accuracy_table(one, fit_max_compute=4e21), np.array([1e23]))
    )
    assert "from the prior (there are no other families or benchmarks" in text
    pooled = accuracy_target_warnings(
        load_accuracy_table(table, fit_max_compute=4e21), np.array([1e23])
    )
    assert any("from the other families' (pooling)" in w for w in pooled)

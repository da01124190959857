"""Benchmark accuracy as a registry entry: the saved fit (round trip, tamper-evident, pivot
checked), ``bayescale forecast`` from it without sampling, the convergence ladder, the
per-family backtest split and ``bayescale backtest accuracy``. Fits are fake posteriors
(arviz_base.from_dict), scripted samplers or the mocked sampler (tests/conftest.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from arviz_base import from_dict

import bayescale.accuracy_model
import bayescale.ladder
import bayescale.sampling
from bayescale.accuracy import AccuracyFit, fit_accuracy, simulate_accuracy_table
from bayescale.accuracy_data import (
    AccuracyPriors,
    accuracy_pivots,
    accuracy_split,
    load_accuracy_table,
    transformed_accuracy,
)
from bayescale.accuracy_pipeline import (
    AccuracyOptions,
    decide_accuracy,
    result_from_accuracy_fit,
)
from bayescale.accuracy_saved import ACCURACY_GROUP
from bayescale.cli import main
from bayescale.diagnostics import Diagnostics
from bayescale.errors import InputError
from bayescale.registry import get_law, law_of
from bayescale.result_files import write_outputs
from bayescale.sampling import SamplerSettings
from bayescale.saved import load_fit, save_fit
from tests.helpers import edited_fit, fake_fit_fields, scripted_sampler

CHAINS, DRAWS = 2, 50
FAST = ["--draws", "20", "--tune", "20", "--chains", "2", "--quiet"]


def _table() -> pd.DataFrame:
    return simulate_accuracy_table(seed=3)


def fake_fit(
    diagnostics: Diagnostics | None = None,
    chance: dict | None = None,
    table: pd.DataFrame | None = None,
) -> AccuracyFit:
    """A posterior near each ladder's least-squares line, with some spread."""
    table = _table() if table is None else table
    data = load_accuracy_table(table, chance=chance, fit_max_compute=1.2e23)
    pivot = accuracy_pivots(data)
    rng = np.random.default_rng(1)
    n_f, n_b = len(data.families), len(data.benchmarks)
    level = np.zeros((n_f, n_b))
    for fi, f in enumerate(data.families):
        for bi, b in enumerate(data.benchmarks):
            rows = data.fitted & (data.family == f) & (data.benchmark == b)
            y = transformed_accuracy(data.accuracy[rows], data.chance[bi])
            x = np.log(data.compute[rows]) - pivot[fi]
            level[fi, bi] = np.nanmean(y + 0.25 * x)
    shape = (CHAINS, DRAWS)
    posterior = {
        "level": level + 0.05 * rng.standard_normal((*shape, n_f, n_b)),
        "exponent": 0.25 * np.exp(0.1 * rng.standard_normal((*shape, n_f, n_b))),
        "sigma": np.full((*shape, n_b), 0.08),
        "noise": np.full((*shape, n_b), 0.01),
    }
    idata = from_dict(
        {"posterior": posterior},
        dims={
            "level": ["family", "benchmark"],
            "exponent": ["family", "benchmark"],
            "sigma": ["benchmark"],
            "noise": ["benchmark"],
        },
        coords={"family": list(data.families), "benchmark": list(data.benchmarks)},
    )
    return AccuracyFit(
        data=data,
        idata=idata,
        log_pivot=pivot,
        priors=AccuracyPriors(),
        **fake_fit_fields(CHAINS, DRAWS, diagnostics),
    )


OPTIONS = AccuracyOptions((3e23, 1e24), 0.8, "mmlu.accuracy>=0.5", family="beta")


def test_accuracy_is_the_fourth_registry_entry():
    law = get_law("accuracy")
    assert law.data_group == ACCURACY_GROUP == "bayescale_accuracy"
    fit = fake_fit()
    result = result_from_accuracy_fit(fit, OPTIONS)
    for obj in (fit, OPTIONS, fit.data, result):
        assert law_of(obj) is law
    assert "AccuracyFit" in repr(fit) and "AccuracyResult" in repr(result)


def test_result_document_decisions_and_held_out_rows():
    fit = fake_fit()
    result = result_from_accuracy_fit(fit, OPTIONS)
    doc = result.document()
    assert doc["kind"] == "accuracy" and doc["interval"] == 0.8
    entry = doc["targets"][0]
    assert [t["target_compute"] for t in doc["targets"]] == [3e23, 1e24]
    assert {(a["family"], a["benchmark"]) for a in entry["accuracy"]} == {
        ("beta", b) for b in ("mmlu", "gsm8k", "winogrande")
    }
    assert set(entry["accuracy"][0]) == {"family", "benchmark", "median", "lower", "upper", "mean"}
    assert entry["decision"]["requirement"] == "mmlu.accuracy>=0.5"
    assert set(entry["decision"]) >= {"probability", "go", "compute_needed"}
    # the largest models of alpha and beta (above 1.2e23) are held out and scored
    held = doc["held_out"]
    assert held and {h["group"] for h in held} <= {"alpha", "beta", "gamma"}
    assert all(h["target_compute"] > 1.2e23 for h in held)
    # the shared decision step: the same decisions as decide_accuracy, curve for decision.png
    again = decide_accuracy(fit, "mmlu.accuracy>=0.5", [3e23, 1e24], 0.9, family="beta")
    assert [d.probability for d in again] == [d.probability for d in result.decisions]
    assert result.curve is not None
    # the rule keeps its scope checks
    with pytest.raises(InputError, match="measured for 3 families"):
        result_from_accuracy_fit(fit, replace(OPTIONS, family=None))


def test_targets_below_every_fitted_model_are_refused_unless_asked():
    fit = fake_fit()
    with pytest.raises(InputError, match="backcast"):
        result_from_accuracy_fit(fit, replace(OPTIONS, targets=(1e19,), requirement=None))
    result = result_from_accuracy_fit(
        fit, replace(OPTIONS, targets=(1e19,), requirement=None, allow_backcast=True)
    )
    assert any("backcast" in w for w in result.warnings)
    with pytest.raises(InputError, match="not supported"):
        result_from_accuracy_fit(fit, replace(OPTIONS, value=1.0, cost_per_flop=1e-24))


def test_a_saved_fit_loads_whole_and_answers_the_same(tmp_path):
    fit = fake_fit(chance={"mmlu": 0.2})
    options = replace(OPTIONS, chance={"mmlu": 0.2})
    result = result_from_accuracy_fit(fit, options)
    path = save_fit(fit, tmp_path / "fit.nc", options.forecast_options())
    saved = load_fit(path)
    assert saved.kind == "accuracy" and saved.options.family == "beta"
    assert saved.options.targets == OPTIONS.targets and saved.options.interval == 0.8
    assert saved.options.chance == {"mmlu": 0.2}
    data, back = fit.data, saved.fit.data
    assert back.chance_source == ("option", "default", "default")
    assert back.families == data.families and back.benchmarks == data.benchmarks
    np.testing.assert_array_equal(back.held_out, data.held_out)
    np.testing.assert_array_equal(back.n_questions, data.n_questions)  # NaN kept
    np.testing.assert_allclose(saved.fit.log_pivot, fit.log_pivot)
    assert saved.result().document() == result.document()
    other = saved.result(targets=[5e23], requirement=None, family="alpha")
    assert {a["family"] for a in other.document()["targets"][0]["accuracy"]} == {"alpha"}


def test_a_saved_fit_of_one_family_loads(tmp_path):
    """NetCDF reads the one-element pivot array back as a scalar: still the saved pivot."""
    table = _table()
    fit = fake_fit(table=table[table["family"] == "alpha"])
    options = replace(OPTIONS, family=None, requirement=None)
    path = save_fit(fit, tmp_path / "fit.nc", options.forecast_options())
    saved = load_fit(path)
    assert saved.fit.data.families == ("alpha",)
    np.testing.assert_allclose(saved.fit.log_pivot, fit.log_pivot)
    assert saved.result().document() == result_from_accuracy_fit(fit, options).document()

    def move(tree):
        tree.attrs["log_pivot"] = float(tree.attrs["log_pivot"]) + 1.0

    with pytest.raises(InputError, match="attribute 'log_pivot' changed"):
        load_fit(edited_fit(path, tmp_path / "moved.nc", move))


def test_the_folder_holds_the_figures_and_a_fit_that_loads(tmp_path):
    result = result_from_accuracy_fit(fake_fit(), OPTIONS)
    names = sorted(p.name for p in write_outputs(result, tmp_path / "out"))
    assert names == ["accuracy.png", "decision.png", "fit.nc", "forecast.json", "report.md"]
    assert load_fit(tmp_path / "out" / "fit.nc").kind == "accuracy"
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Decision" not in report and "mmlu" in report and "## Held-out rows" in report


@pytest.mark.parametrize(
    "change",
    [
        lambda ds: ds.assign(accuracy=ds["accuracy"] * 0.99),
        lambda ds: ds.assign(chance=ds["chance"] + 0.01),
    ],
    ids=["accuracy", "chance"],
)
def test_an_edited_saved_fit_is_refused(tmp_path, change):
    path = save_fit(fake_fit(), tmp_path / "fit.nc", OPTIONS.forecast_options())

    def edit(tree):
        tree[ACCURACY_GROUP] = xr.DataTree(change(tree[ACCURACY_GROUP].to_dataset(inherit=False)))

    edited = edited_fit(path, tmp_path / "edited.nc", edit)
    with pytest.raises(InputError, match=f"group '{ACCURACY_GROUP}' changed"):
        load_fit(edited)
    assert main(["forecast", str(edited), "--target-compute", "1e24", "--quiet"]) == 2


def test_a_pivot_that_does_not_match_the_rows_is_refused(tmp_path):
    moved = replace(fake_fit(), log_pivot=np.full(3, 40.0))
    path = save_fit(moved, tmp_path / "fit.nc")
    with pytest.raises(InputError, match="stored pivot does not match"):
        load_fit(path)


def test_the_command_saves_a_fit_that_forecasts_again_without_sampling(
    tmp_path, mock_pymc_sample, monkeypatch
):
    table = tmp_path / "acc.csv"
    _table().to_csv(table, index=False)
    out, first, second = tmp_path / "out", tmp_path / "a.json", tmp_path / "b.json"
    # --family in another case than the table's (BETA, Alpha) names the table's family
    args = ["accuracy", str(table), "--target-compute", "1e24", "--family", "BETA"]
    rule = ["--require", "mmlu.accuracy>=0.5"]
    code = main([*args, *rule, "--json", str(first), "--out", str(out), "--allow-unconverged"])
    assert code == 0 and (out / "fit.nc").is_file()

    def no_sampling(*args, **kwargs):
        raise AssertionError("bayescale forecast sampled")

    monkeypatch.setattr(bayescale.sampling, "sample_chains", no_sampling)
    forecast = ["forecast", str(out / "fit.nc"), "--allow-unconverged", "--quiet"]
    assert main([*forecast, "--target-compute", "1e24,3e24", "--json", str(second)]) == 0
    before, after = json.loads(first.read_text()), json.loads(second.read_text())
    assert after["kind"] == "accuracy" and len(after["targets"]) == 2
    assert after["targets"][0]["target_compute"] == 1e24
    assert {a["family"] for a in after["targets"][1]["accuracy"]} == {"beta"}  # remembered
    assert after["targets"][1]["decision"]["requirement"] == "mmlu.accuracy>=0.5"
    # the same target and seed: the numbers of the run that saved the fit
    assert main([*forecast, "--target-compute", "1e24", "--json", str(second)]) == 0
    again = json.loads(second.read_text())
    assert again["targets"] == before["targets"]
    # a forecast seed of its own gives other draws
    assert main([*forecast, "--target-compute", "1e24", "--seed", "7", "--json", str(second)]) == 0
    assert json.loads(second.read_text())["targets"] != before["targets"]
    # another family's ladders; its rule is that family's
    other = [*forecast, "--target-compute", "1e24", "--family", "Alpha", "--json", str(second)]
    assert main(other) == 0
    entry = json.loads(second.read_text())["targets"][0]
    assert {a["family"] for a in entry["accuracy"]} == {"alpha"}


def test_accuracy_split_cuts_each_family_at_its_own_largest():
    data = load_accuracy_table(_table())  # alpha 5 sizes, beta 4, gamma 3
    split, fitted_max, skipped = accuracy_split(data, 1.01)
    assert skipped == ("gamma",)  # 2 sizes would be left
    for f in ("alpha", "beta"):
        rows = data.family == f
        largest = data.compute[rows].max()
        np.testing.assert_array_equal(split.held_out[rows], data.compute[rows] == largest)
        assert fitted_max[f] == np.unique(data.compute[rows])[-2]
    assert not split.held_out[data.family == "gamma"].any()
    _, _, skipped = accuracy_split(data, 1e3)
    assert skipped == data.families


def test_fit_accuracy_climbs_the_shared_convergence_ladder(monkeypatch):
    scripted_sampler(monkeypatch, [{"divergences": 3}, {"divergences": 1}, {}])
    built: list[int] = []
    monkeypatch.setattr(
        bayescale.accuracy_model, "build_accuracy_model", lambda *a, **k: built.append(1)
    )
    fit = fit_accuracy(load_accuracy_table(_table()), settings=SamplerSettings(seed=1))
    whats = [a.what for a in fit.diagnostics.attempts]
    assert len(whats) == 3 and whats[1].startswith("a smaller step: target_accept 0.99")
    assert whats[2] == "the smallest step: target_accept 0.999"  # no alternative model
    assert built == [1] and fit.diagnostics.ok and fit.settings.target_accept == 0.999


def test_backtest_accuracy_scores_each_familys_largest_model(tmp_path, mock_pymc_sample):
    table = tmp_path / "acc.csv"
    _table().to_csv(table, index=False)
    doc = tmp_path / "bt.json"
    args = ["backtest", "accuracy", str(table), "--ratio", "1.01", "--json", str(doc)]
    assert main([*args, *FAST, "--allow-unconverged"]) == 0
    bt = json.loads(doc.read_text())
    assert bt["kind"] == "accuracy" and bt["ratio"] == 1.01
    cases = bt["cases"]
    assert len(cases) == 2 * 3  # alpha's and beta's largest on 3 benchmarks; gamma skipped
    assert {c["case"].split(":")[1] for c in cases} == {"mmlu", "gsm8k", "winogrande"}
    assert main([*args[:3], "--ratio", "1000", *FAST]) == 2  # every family skipped


@pytest.mark.sampling
@pytest.mark.slow
def test_real_fit_saves_and_forecasts_again_the_same(tmp_path):
    """Real JAX NUTS, few draws: the ladder's steps run on the accuracy model and the saved fit
    answers as the run did (101 s at load average 6-7 on 2 cores: slow)."""
    table = simulate_accuracy_table(seed=4, families={"a": 4, "b": 3}, benchmarks={"mmlu": 0.25})
    path, out, first, second = tmp_path / "acc.csv", tmp_path / "o", tmp_path / "a", tmp_path / "b"
    table.to_csv(path, index=False)
    fast = ["--draws", "100", "--tune", "100", "--chains", "2", "--seed", "1", "--quiet"]
    args = ["accuracy", str(path), "--target-compute", "3e23", "--family", "a"]
    code = main([*args, *fast, "--allow-unconverged", "--json", str(first), "--out", str(out)])
    assert code == 0
    doc = json.loads(first.read_text())
    attempts = doc["diagnostics"]["attempts"]
    assert attempts[0]["why"] == "first fit" and doc["sampler"]["chains"] >= 2
    forecast = ["forecast", str(out / "fit.nc"), "--target-compute", "3e23", "--quiet"]
    assert main([*forecast, "--allow-unconverged", "--json", str(second)]) == 0
    assert json.loads(second.read_text())["targets"] == doc["targets"]


def test_family_is_refused_for_a_fit_of_another_law(capsys):
    v010 = Path(__file__).parent / "data" / "loss_fit_v0.1.0.nc"
    args = ["forecast", str(v010), "--target-compute", "1e23", "--family", "a", "--quiet"]
    assert main([*args, "--allow-unconverged"]) == 2
    assert "--family is for accuracy" in capsys.readouterr().err


@pytest.mark.parametrize("function", ["result_from_fit", "result_from_pass_fit"])
def test_another_laws_result_from_fit_refuses_an_accuracy_fit(function):
    import bayescale as bs

    options = bs.LossOptions(targets=(1e23,)) if function == "result_from_fit" else None
    with pytest.raises(InputError) as err:
        getattr(bs, function)(fake_fit(), options or bs.PassOptions(targets=(1e23,)))
    message = str(err.value)
    assert "AccuracyFit" in message and "result_from_accuracy_fit" in message


def test_nd_and_accuracy_results_refuse_another_laws_fit():
    """They failed deep inside with an AttributeError; now they name the right function."""
    import bayescale as bs
    from bayescale.accuracy_pipeline import result_from_accuracy_fit
    from bayescale.nd_pipeline import NDOptions, nd_result_from_fit

    with pytest.raises(InputError, match="result_from_accuracy_fit"):
        nd_result_from_fit(fake_fit(), NDOptions(targets=(1e23,)))
    loss = bs.load_fit(Path(__file__).parent / "data" / "loss_fit_v0.1.0.nc").fit
    with pytest.raises(InputError, match=r"takes a AccuracyFit, got LossFit.*result_from_fit"):
        result_from_accuracy_fit(loss, bs.AccuracyOptions(targets=(1e23,)))


def test_every_fit_type_names_the_function_that_answers_it():
    """``answered_by`` (the refusal's hint) is the law's own ``result_from_fit``."""
    import importlib

    from bayescale.registry import get_law

    for name in ("loss", "pass", "nd", "accuracy"):
        law = get_law(name)
        module, _, function = law.fit_type.answered_by.rpartition(".")
        assert getattr(importlib.import_module(module), function) is law.result_from_fit, name


def test_a_fit_saved_before_the_discrepancy_shift_forecasts_without_one(tmp_path):
    # fits saved before the shift existed have no shift in their priors: they must reproduce
    # their numbers (shift 0), not take today's default
    import json

    from bayescale.saved_format import INTEGRITY_ATTR, integrity_digests

    path = save_fit(fake_fit(), tmp_path / "fit.nc", OPTIONS.forecast_options())

    def older(tree):
        priors = json.loads(tree.attrs["priors"])
        del priors["discrepancy_exponent_shift"], priors["discrepancy_exponent_shift_chinchilla"]
        tree.attrs["priors"] = json.dumps(priors)
        tree.attrs[INTEGRITY_ATTR] = json.dumps(integrity_digests(tree), sort_keys=True)

    loaded = load_fit(edited_fit(path, tmp_path / "older.nc", older)).fit
    assert loaded.priors.discrepancy_exponent_shift == 0.0
    assert loaded.priors.discrepancy_exponent_shift_chinchilla == 0.0
    assert load_fit(path).fit.priors.discrepancy_exponent_shift == -0.6

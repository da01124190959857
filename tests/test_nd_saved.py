"""L(N, D) as a registry entry: saved fits (round trip, tamper-evident, pivot checked),
``bayescale forecast`` from a saved fit, the convergence ladder, the path figure and the
backtest hook. Fits are fake posteriors (arviz_base.from_dict) or scripted samplers; the
whole command with the mocked sampler is in tests/test_nd.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from arviz_base import from_dict

import bayescale.ladder
import bayescale.nd_model
import bayescale.sampling
from bayescale.cli import main
from bayescale.diagnostics import Diagnostics
from bayescale.errors import InputError
from bayescale.laws import nd_pivot_to_user
from bayescale.loss_model import run_class
from bayescale.nd import (
    EPOCH_LAW,
    NDFit,
    NDPriors,
    fit_nd,
    load_nd_runs,
    nd_pivot,
    simulate_nd_runs,
)
from bayescale.nd_pipeline import NDOptions, nd_result_from_fit
from bayescale.nd_saved import ND_GROUP
from bayescale.registry import get_law, law_of
from bayescale.result_files import write_outputs
from bayescale.sampling import SamplerSettings
from bayescale.saved import load_fit, save_fit
from tests.helpers import edited_fit, fake_fit_fields, scripted_sampler

CHAINS, DRAWS = 2, 50
DATA = Path(__file__).parent / "data"


def _runs() -> pd.DataFrame:
    runs = simulate_nd_runs(0, budgets=[1e18, 1e19, 1e20])
    return pd.concat([runs.assign(group="a"), runs.assign(group="b", loss=runs["loss"] + 0.1)])


def fake_fit(diagnostics: Diagnostics | None = None) -> NDFit:
    """A posterior near Epoch's law at the runs' pivot, with some spread, two groups."""
    data = load_nd_runs(_runs(), fit_max_compute=5e19)
    rng = np.random.default_rng(1)
    shape = (CHAINS, DRAWS, 2)
    ln_n0, ln_d0 = nd_pivot(data)
    law = EPOCH_LAW
    terms = law["A"] * np.exp(-law["alpha"] * ln_n0), law["B"] * np.exp(-law["beta"] * ln_d0)
    level = law["E"] + sum(terms)
    posterior = {
        "level": level * np.exp(0.01 * rng.standard_normal(shape)),
        "reducible": np.full(shape, sum(terms) / level),
        "share": np.full(shape, terms[0] / sum(terms)),
        "alpha": law["alpha"] * np.exp(0.05 * rng.standard_normal(shape)),
        "beta": law["beta"] * np.exp(0.05 * rng.standard_normal(shape)),
        "sigma": np.full((CHAINS, DRAWS), 0.01),
    }
    names = ("level", "reducible", "share", "alpha", "beta")
    user = nd_pivot_to_user(*(posterior[n] for n in names), (ln_n0, ln_d0))
    posterior |= dict(zip(("E", "A", "B"), user, strict=True))
    idata = from_dict(
        {"posterior": posterior},
        dims={k: ["group"] for k in posterior if k != "sigma"},
        coords={"group": list(data.groups)},
    )
    return NDFit(
        data=data,
        idata=idata,
        log_pivot=(ln_n0, ln_d0),
        priors=NDPriors(),
        **fake_fit_fields(CHAINS, DRAWS, diagnostics),
    )


OPTIONS = NDOptions(
    runs=((1e9, 4e11), (3e9, 1e12)),
    targets=(1e21,),
    requirement="a.loss<=2.6",
    interval=0.8,
)


def test_nd_is_the_third_registry_entry():
    law = get_law("nd")
    assert law.data_group == ND_GROUP == "bayescale_nd"
    fit = fake_fit()
    assert law_of(fit) is law and law_of(OPTIONS) is law and law_of(fit.data) is law


def test_a_saved_fit_loads_whole_and_answers_the_same(tmp_path):
    fit = fake_fit()
    result = nd_result_from_fit(fit, OPTIONS)
    path = save_fit(fit, tmp_path / "fit.nc", OPTIONS.forecast_options())
    saved = load_fit(path)
    assert saved.kind == "nd" and saved.options.runs == OPTIONS.runs
    assert saved.options.budgets == (1e21,) and saved.options.interval == 0.8
    assert saved.fit.log_pivot == pytest.approx(fit.log_pivot)
    assert saved.fit.data.columns == fit.data.columns
    np.testing.assert_array_equal(saved.fit.data.held_out, fit.data.held_out)
    assert saved.result().document() == result.document()
    assert "1e+09:4e+11" in repr(saved)
    assert repr(fit).startswith("NDFit\n") and "<table>" in fit._repr_html_()
    # new questions through the shared SavedFit.result
    other = saved.result(runs=[(7e9, 4e12)], targets=())
    assert [t["params"] for t in other.document()["targets"]] == [7e9]
    assert other.document()["optimal"] == []
    with pytest.raises(InputError, match=r"is a \(params, tokens\) pair"):
        saved.result(runs=[7e9])
    # the shared targets are the budgets (FLOPs), as in a spec's [forecast] targets
    assert [o["budget"] for o in saved.result(targets=3e21).document()["optimal"]] == [3e21] * 2


def test_the_folder_holds_both_figures_and_a_fit_that_loads(tmp_path):
    result = nd_result_from_fit(fake_fit(), OPTIONS)
    names = sorted(p.name for p in write_outputs(result, tmp_path / "out"))
    assert names == ["fit.nc", "forecast.json", "nd_contours.png", "nd_path.png", "report.md"]
    assert load_fit(tmp_path / "out" / "fit.nc").kind == "nd"


def test_an_edited_saved_fit_is_refused(tmp_path):
    path = save_fit(fake_fit(), tmp_path / "fit.nc", OPTIONS.forecast_options())

    def lower_a_loss(tree):
        ds = tree[ND_GROUP].to_dataset(inherit=False)
        tree[ND_GROUP] = xr.DataTree(ds.assign(loss=ds["loss"] * 0.99))

    edited = edited_fit(path, tmp_path / "edited.nc", lower_a_loss)
    with pytest.raises(InputError, match=f"group '{ND_GROUP}' changed"):
        load_fit(edited)
    assert main(["forecast", str(edited), "--budget", "1e21", "--quiet"]) == 2


def test_a_pivot_that_does_not_match_the_runs_is_refused(tmp_path):
    moved = replace(fake_fit(), log_pivot=(20.0, 24.0))
    path = save_fit(moved, tmp_path / "fit.nc")
    with pytest.raises(InputError, match="stored pivot does not match"):
        load_fit(path)


def test_forecast_from_a_saved_nd_fit_takes_pairs_and_budgets(tmp_path, capsys):
    path = save_fit(fake_fit(), tmp_path / "fit.nc", OPTIONS.forecast_options())
    doc = tmp_path / "f.json"
    assert main(["forecast", str(path), "--target", "7e9:4e12", "--json", str(doc)]) == 0
    result = json.loads(doc.read_text())
    assert result["kind"] == "nd" and result["targets"][0]["tokens"] == 4e12
    assert result["optimal"] == []
    assert result["targets"][0]["decision"]["requirement"] == "a.loss<=2.6"
    assert "from the saved fit" not in capsys.readouterr().err
    for bad in (["--target-compute", "1e23"], ["--budget", "1e21", "--value", "5"]):
        assert main(["forecast", str(path), *bad, "--quiet"]) == 2
        assert "L(N, D) fit: give --target N:D" in capsys.readouterr().err
    assert main(["forecast", str(path), "--target", "7e9x4e12", "--quiet"]) == 2


def test_forecast_shows_the_target_warnings(tmp_path, capsys):
    # they were kept in the JSON and the report only: the terminal said nothing of a budget
    # 1e-30 FLOPs, or 1e30
    path = save_fit(fake_fit(), tmp_path / "fit.nc", OPTIONS.forecast_options())
    assert main(["forecast", str(path), "--budget", "1e-30", "--budget", "1e40"]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 target(s) or budget(s) lie below the smallest fitted run" in err
    assert "warning: 1 target(s) or budget(s) lie more than 1000x beyond" in err


def test_forecast_without_targets_reuses_the_saved_runs_for_every_law(tmp_path):
    # an nd fit reused its saved targets while loss, pass and accuracy fits exited 2
    # ("give --target-compute"): one rule now, as --require and --interval already had
    for name in ("loss_fit_v0.1.0", "pass_fit_v0.1.0", "nd_fit_v0.2.0.dev0"):
        doc = tmp_path / f"{name}.json"
        args = ["forecast", str(DATA / f"{name}.nc"), "--json", str(doc)]
        assert main([*args, "--allow-unconverged", "--quiet"]) == 0
        saved = load_fit(DATA / f"{name}.nc").options
        planned = saved.runs if name.startswith("nd") else saved.targets
        assert len(json.loads(doc.read_text())["targets"]) == len(planned) > 0


def test_an_nd_fit_saved_before_the_shared_options_answers_the_same(tmp_path):
    # written by 0.2.0.dev0 before NDOptions was an Options: budgets under "budgets", an
    # empty "targets", the decision at the top of the document
    saved = load_fit(DATA / "nd_fit_v0.2.0.dev0.nc")
    assert saved.options.runs == OPTIONS.runs and saved.options.budgets == (1e21,)
    assert saved.options.requirement == "a.loss<=2.6" and saved.options.interval == 0.8
    shown = repr(saved)  # both kinds of target (the budgets were hidden behind the runs)
    assert "budgets       1e+21 FLOPs" in shown
    assert "planned runs  1e+09:4e+11, 3e+09:1e+12" in shown
    old = json.loads((DATA / "nd_fit_v0.2.0.dev0.answers.json").read_text())
    doc = saved.result().document()
    for key in ("parameters", "optimal"):
        strip = [{k: v for k, v in o.items() if k != "decision"} for o in doc[key]]
        assert strip == old[key]
    old_decisions = old["decision"]["targets"]
    for new, was, go in zip(doc["targets"], old["targets"], old_decisions, strict=True):
        assert new["target_compute"] == new["compute"]  # every law's key, beside nd's own
        assert {k: v for k, v in new.items() if k not in ("decision", "target_compute")} == was
        decision = new["decision"]
        assert (decision["probability"], decision["go"]) == (go["probability"], go["go"])
        assert (decision["params"], decision["tokens"]) == (go["params"], go["tokens"])
    needed = [t["decision"]["params_needed"] for t in doc["targets"]]
    needed += [o["decision"]["params_needed"] for o in doc["optimal"] if "decision" in o]
    assert [{"median": n["median"], "at_confidence": n["at_confidence"]} for n in needed] == [
        r["params_needed"] for r in old["decision"]["params_needed"]
    ]
    assert [n["probability"] for n in needed] == [
        r["probability"] for r in old["decision"]["params_needed"]
    ]


def test_the_document_is_the_shared_one_with_held_out_runs_scored():
    # the nd document lacked timing_s, sampler, held_out and compute_choice, and its
    # decision sat at the top level; --fit-max-compute runs were never scored
    fit = fake_fit()
    doc = nd_result_from_fit(fit, OPTIONS).document()
    assert {"timing_s", "sampler", "held_out", "compute_choice", "diagnostics"} <= set(doc)
    assert "decision" not in doc and "forecast_seed" not in doc
    held = doc["held_out"]
    assert len(held) == int(fit.data.held_out.sum()) > 0
    assert {"name", "group", "params", "tokens", "observed", "median", "covered"} <= set(held[0])
    assert all(r["lower"] <= r["median"] <= r["upper"] for r in held)
    decision = doc["targets"][0]["decision"]
    assert {"requirement", "probability", "go", "compute_needed", "params_needed"} <= set(decision)
    seeded = nd_result_from_fit(replace(fit, forecast_seed=5), OPTIONS).document()
    assert seeded["forecast_seed"] == 5
    # budgets alone: no planned runs, no decisions, the N needed within the budget
    alone = nd_result_from_fit(fit, replace(OPTIONS, runs=()))
    assert alone.decisions == () and alone.document()["targets"] == []
    optimal = alone.document()["optimal"]  # the rule's group a has it, b not
    assert [o.get("decision", {}).get("requirement") for o in optimal] == ["a.loss<=2.6", None]
    text = repr(alone)
    assert text.startswith("NDResult") and "budget 1e+21 [a]" in text


def test_path_figure_draws_one_path_per_target_ratio():
    from bayescale.nd_plots import nd_path_figure, nd_paths

    fit = fake_fit()
    assert nd_paths(fit, ([1e9, 2e9, 3e9], [2e10, 4e10, 3e12])) == [20.0, 1000.0]
    data = fit.data
    ladder = np.exp(np.mean(np.log(data.tokens[data.fitted] / data.params[data.fitted])))
    assert nd_paths(fit) == [pytest.approx(ladder)]
    fig = nd_path_figure(fit, ([1e9, 3e9], [4e11, 1e12]), interval=0.9)
    lines = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert [t for t in lines if t.startswith("D/N")] == ["D/N = 400: median", "D/N = 333: median"]
    assert len(fig.axes) == 2  # one panel per group


# ------------------------------------------------------------------------ the ladder


def test_fit_nd_climbs_the_shared_convergence_ladder(monkeypatch):
    scripted_sampler(monkeypatch, [{"divergences": 3}, {"divergences": 2}, {}])
    models: list[bool] = []
    real = bayescale.nd_model.build_nd_model

    def build(data, priors, noncentred=False, pad_runs=None, **options):
        models.append(noncentred)
        assert pad_runs == run_class(int(load_nd_runs(_runs()).fitted.sum()))  # the class
        return real(data, priors, noncentred=noncentred, pad_runs=pad_runs, **options)

    monkeypatch.setattr(bayescale.nd_model, "build_nd_model", build)
    fit = fit_nd(load_nd_runs(_runs()), settings=SamplerSettings(seed=1))
    whats = [a.what for a in fit.diagnostics.attempts]
    assert len(whats) == 3 and whats[1].startswith("a smaller step: target_accept 0.995")
    assert whats[2] == "the alternative parameterisation: group slopes non-centred"
    assert models == [False, True] and fit.settings.target_accept == 0.995


def test_the_non_centred_model_has_the_same_log_density_at_the_same_slopes():
    data = load_nd_runs(_runs())
    centred = bayescale.nd_model.build_nd_model(data, NDPriors())
    other = bayescale.nd_model.build_nd_model(data, NDPriors(), noncentred=True)
    names = {v.name for v in other.free_RVs}
    assert {"z_slope_n", "z_slope_d"} <= names and "slope_n_group" not in names
    assert "slope_n_group" in {v.name for v in centred.free_RVs}


# ------------------------------------------------------------------------ backtest


@pytest.mark.slow
def test_backtest_nd_scores_the_held_out_runs_at_their_n_and_d(tmp_path, mock_pymc_sample, capsys):
    runs = simulate_nd_runs(0, budgets=[1e18, 1e19, 1e20])
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    doc = tmp_path / "bt.json"
    args = ["backtest", "nd", str(path), "--ratio", "50", "--json", str(doc)]
    fast = ["--draws", "20", "--tune", "20", "--chains", "2", "--quiet"]
    assert main([*args, *fast, "--allow-unconverged"]) == 0
    bt = json.loads(doc.read_text())
    held = int((6 * runs.params * runs.tokens > 1e20 / 50).sum())
    assert bt["kind"] == "nd" and len(bt["cases"]) == held > 0

"""Issue 17, a new user's first contact: every point of it, without sampling (tiers 1-2).

Warnings and refusals about targets, the API's shapes (scalars, paths, defaults, one loaded
object, public figures, short reprs), data options in one spelling, the pass output, compute
needed with an interval, messages, plots, and the missing pieces (per-run noise, ArviZ, the
bootstrap). Fits come from the saved files of ``tests/data`` or from the mocked sampler.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bayescale as bs
from bayescale.cli import main
from bayescale.data import load_loss_runs
from bayescale.errors import InputError, did_you_mean
from bayescale.forecast import repeated_run_warnings
from bayescale.pass_data import load_pass_aggregate
from bayescale.pass_forecast import pass_target_warnings
from bayescale.saved import read_fit
from bayescale.targets import log_units_warning, target_warnings, trend_against_law

DATA = Path(__file__).parent / "data"
LOSS_FIT = DATA / "loss_fit_v0.1.0.nc"
PASS_FIT = DATA / "pass_fit_v0.1.0.nc"
MOCK = ["--draws", "20", "--tune", "20", "--chains", "2", "--quiet", "--allow-unconverged"]


@pytest.fixture
def loss_fit():
    return read_fit(LOSS_FIT)[0]


@pytest.fixture
def pass_fit():
    return read_fit(PASS_FIT)[0]


@pytest.fixture
def three_sizes(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("compute,loss\n2.2e19,3.0\n2.2e20,2.7\n2.2e21,2.5\n")
    return path


def _no_fit(monkeypatch):
    """Make any fit fail the test: the check must come before sampling."""

    def refuse(*args, **kwargs):
        raise AssertionError("sampled although the input was refusable")

    monkeypatch.setattr("bayescale.pipeline.fit_loss", refuse)
    monkeypatch.setattr("bayescale.pass_pipeline.fit_pass", refuse)


# --- 1. nonsense is not accepted silently ------------------------------------------------


def test_target_below_the_data_exits_2_before_sampling(demo_csv, capsys, monkeypatch):
    _no_fit(monkeypatch)
    assert main(["loss", str(demo_csv), "--target-compute", "1e15"]) == 2
    err = capsys.readouterr().err
    assert "below the smallest fitted run (1e+17 FLOPs" in err
    assert "--allow-backcast" in err and "Traceback" not in err


def test_pass_target_below_the_models_exits_2(tmp_path, capsys, monkeypatch):
    _no_fit(monkeypatch)
    path = tmp_path / "agg.csv"
    path.write_text("model,compute,pass_rate\na,1e20,0.1\nb,1e21,0.2\nc,1e22,0.3\n")
    assert main(["pass", str(path), "--target-compute", "1e18"]) == 2
    assert "below the smallest fitted model" in capsys.readouterr().err


def test_allow_backcast_accepts_with_a_warning(demo_csv, tmp_path, mock_pymc_sample, capsys):
    doc = tmp_path / "f.json"
    args = ["loss", str(demo_csv), "--target-compute", "1e16", "--json", str(doc), *MOCK]
    assert main([*args, "--allow-backcast"]) == 0
    warnings = json.loads(doc.read_text())["warnings"]
    # prior draws stand in for the posterior: the fit's own checks have nothing to go on
    targets = [w for w in warnings if "stray from their curves" not in w]
    assert len(targets) == 1 and "backcast" in targets[0]


def test_far_target_from_three_sizes_warns_on_stderr_and_in_json(
    three_sizes, tmp_path, mock_pymc_sample, capsys
):
    doc = tmp_path / "f.json"
    args = ["loss", str(three_sizes), "--target-compute", "1.3e23", "--json", str(doc)]
    assert main([*args, *MOCK]) == 0
    err = capsys.readouterr().err
    assert "1.8 decades (59.1x) beyond the largest fitted run" in err
    assert "law-discrepancy prior" in err and "3 sizes" in err
    warnings = json.loads(doc.read_text())["warnings"]
    assert len(warnings) == 1 and "59.1x" in warnings[0]


def test_far_target_warning_comes_before_sampling(three_sizes, monkeypatch, caplog):
    _no_fit(monkeypatch)
    options = bs.LossOptions(targets=(1.3e23,))
    with caplog.at_level(logging.WARNING, logger="bayescale"), pytest.raises(AssertionError):
        bs.run_loss(three_sizes, options)
    assert "beyond the largest fitted run" in caplog.text


def test_target_rules():
    fitted = {"": np.array([1e19, 1e20, 1e21])}
    (inside,) = target_warnings(np.array([3e20]), fitted, rests_on="x")
    assert "inside the fitted range" in inside
    assert target_warnings(np.array([1e22]), fitted, rests_on="x") == []  # 10x from 3 sizes
    assert target_warnings(np.array([2e22]), fitted, rests_on="the prior")[0].endswith(
        "there the interval rests on the prior, not on the data; read it as a scenario."
    )
    many = {"": np.logspace(17, 20, 12)}  # 12 sizes over 3 decades: 3 decades beyond is fine
    assert target_warnings(np.array([1e23]), many, rests_on="x") == []
    assert target_warnings(np.array([1e24]), many, rests_on="x") != []
    with pytest.raises(InputError, match="backcast"):
        target_warnings(np.array([1e18]), fitted, rests_on="x")


def test_a_loss_column_of_one_value_is_warned(tmp_path, capsys):
    # four runs at loss 3.0 each gave an "ok" forecast of 2.965 [2.881, 2.995] at 100x with no
    # word: the law only falls, so the interval left out the one value the table shows
    from bayescale.forecast import rising_loss_warnings

    runs = pd.DataFrame({"compute": [1e18, 1e19, 1e20, 1e21], "loss": [3.0] * 4})
    (warning,) = rising_loss_warnings(load_loss_runs(runs))
    assert warning.startswith("every fitted run has the same loss (3)")
    runs["group"] = ["a", "a", "b", "b"]
    runs = pd.concat([runs, runs.assign(loss=[3.1, 2.9, 2.8, 2.7], group="c")])
    runs.loc[runs["group"] == "b", "group"] = "a"
    warnings = rising_loss_warnings(load_loss_runs(runs))
    assert [w.split(":")[0] for w in warnings] == ["group 'a'"]
    runs.to_csv(tmp_path / "runs.csv", index=False)
    spec = tmp_path / "s.toml"
    spec.write_text(
        "schema_version = 1\nlaw = 'loss'\n[data]\npath = 'runs.csv'\n"
        "[forecast]\ntargets = [1e22]\n"
    )
    assert main(["check", str(spec)]) == 0
    assert "group 'a': every fitted run has the same loss (3)" in capsys.readouterr().out


def test_data_against_the_law_is_warned(tmp_path, capsys):
    # A loss rising with compute (an accuracy in the loss column) or pass rates falling with it
    # used to give an "ok" forecast with no warning: 2.60 at 1e21 after runs rising to 3.05.
    compute = np.array([1e17, 3e17, 1e18, 3e18, 1e19, 3e19])
    rising = np.array([2.42, 2.60, 2.75, 2.88, 2.98, 3.05])
    assert trend_against_law(compute, rising, rising=True) == pytest.approx(0.254, abs=1e-3)
    assert trend_against_law(compute, rising[::-1], rising=True) is None
    flat = 2.0 + np.array([0.01, -0.02, 0.015, -0.01, 0.02, -0.01])  # noise, no trend
    assert trend_against_law(compute, flat, rising=True) is None
    assert trend_against_law(compute[:2], rising[:2], rising=True) is None
    pd.DataFrame({"compute": compute, "loss": rising}).to_csv(tmp_path / "runs.csv", index=False)
    spec = tmp_path / "s.toml"
    spec.write_text(
        "schema_version = 1\nlaw = 'loss'\n[data]\npath = 'runs.csv'\n"
        "[forecast]\ntargets = [1e20]\n"
    )
    assert main(["check", str(spec)]) == 0
    assert "the loss rises with compute over the fitted runs (+0.254 per decade)" in (
        capsys.readouterr().out
    )
    falling = pd.DataFrame(
        {"model": ["a", "b", "c", "d"], "compute": compute[:4], "pass_rate": [0.3, 0.2, 0.15, 0.1]}
    )
    data = load_pass_aggregate(falling)
    (warning,) = pass_target_warnings(data, np.array([1e19]))
    assert warning.startswith("the pass rate falls with compute over the fitted models")
    rising_rates = falling.assign(pass_rate=[0.1, 0.15, 0.2, 0.3])
    assert pass_target_warnings(load_pass_aggregate(rising_rates), np.array([1e19])) == []


def test_log10_compute_is_warned(tmp_path, capsys):
    # log10(FLOPs) in the compute column (17.0 to 19.5) gave a confident fit with b = -6.7 and
    # only a target warning; FLOPs, PF-days (0.001 to 0.35) and tiny units are not warned.
    runs = pd.DataFrame(
        {"compute": [17.0, 17.5, 18.0, 18.5, 19.0, 19.5], "loss": [3.6, 3.4, 3.25, 3.1, 3.0, 2.95]}
    )
    runs.to_csv(tmp_path / "runs.csv", index=False)
    spec = tmp_path / "s.toml"
    spec.write_text(
        "schema_version = 1\nlaw = 'loss'\n[data]\npath = 'runs.csv'\n[forecast]\ntargets = [25]\n"
    )
    assert main(["check", str(spec)]) == 0
    assert "column 'compute' holds 17 to 19.5: these look like log10(FLOPs)" in (
        capsys.readouterr().out
    )
    for compute in ([1e17, 1e18, 3e19], [1.2e-3, 1e-2, 0.35], [1e-25, 1e-24, 1e-23]):
        assert log_units_warning(np.array(compute), "compute") == []
    # ln(FLOPs) of 1e17 to 1e21 (39.1 to 48.4) was fitted as FLOPs without a word
    (warned,) = log_units_warning(np.log(np.array([1e17, 1e18, 1e19, 1e20, 1e21])), "compute")
    assert "these look like ln(FLOPs)" in warned and "give exp(value)" in warned


def test_forecast_api_refuses_and_warns(loss_fit, caplog):
    with pytest.raises(InputError, match="allow_backcast=True"):
        bs.forecast_loss(loss_fit, 1e15)
    with caplog.at_level(logging.WARNING, logger="bayescale"):
        forecast = bs.forecast_loss(loss_fit, 1e15, allow_backcast=True)
    assert "backcast" in caplog.text and "backcast" in forecast.warnings[0]


# --- 2. the API ----------------------------------------------------------------------------


def test_decide_loss_takes_a_scalar_and_defaults_confidence(loss_fit):
    (decision,) = bs.decide_loss(loss_fit, "web.loss<=2.6", 5.7e21)
    assert decision.confidence == 0.9 and decision.target_compute == 5.7e21
    two = bs.decide_loss(loss_fit, "web.loss<=2.6", [1e21, 1e22])
    assert [d.target_compute for d in two] == [1e21, 1e22]


def test_decide_pass_is_public(pass_fit):
    (decision,) = bs.decide_pass(pass_fit, "pass_rate>=0.3", 1e23)
    assert 0 <= decision.probability <= 1


def test_writers_take_str_paths(loss_fit, pass_fit, tmp_path):
    loss = bs.result_from_fit(loss_fit, bs.LossOptions(targets=(1e21,)))
    written = bs.write_loss_outputs(loss, str(tmp_path / "loss"))
    assert (tmp_path / "loss" / "fit.nc") in written
    result = bs.result_from_pass_fit(pass_fit, bs.PassOptions(targets=(1e23,)))
    written = bs.write_pass_outputs(result, str(tmp_path / "pass"))
    assert (tmp_path / "pass" / "report.md") in written


def test_load_fit_returns_one_object(tmp_path):
    saved = bs.load_fit(str(LOSS_FIT))
    assert isinstance(saved, bs.SavedFit) and saved.kind == "loss"
    assert isinstance(saved.options, bs.LossOptions)
    assert saved.options.requirement == "web.loss<=2.6"
    assert saved.data is saved.fit.data and saved.data.groups == ("web", "code")
    again = saved.result(5e22, requirement="code.loss<=2.0")
    assert again.decisions[0].requirement.text == "code.loss<=2.0"
    assert isinstance(bs.load_fit(PASS_FIT).options, bs.PassOptions)
    assert saved.spec is None  # fitted by `bayescale loss`, not from a spec


def test_load_fit_keeps_the_spec(tmp_path, mock_pymc_sample):
    spec = Path(__file__).resolve().parents[1] / "models" / "demo-loss.toml"
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), *MOCK]) == 0
    saved = bs.load_fit(out / "fit.nc")
    assert saved.spec == spec.read_text() and saved.options.requirement == "web.loss<=2.6"


def test_public_figures_return_figures(loss_fit, pass_fit):
    result = bs.result_from_fit(
        loss_fit, bs.LossOptions(targets=(1e21,), requirement="web.loss<=2.6")
    )
    for fig in (
        bs.plot_forecast(result),
        bs.plot_decision(result),
        bs.plot_ppc(result),
        bs.plot_forecast(loss_fit, targets=1e22),
        bs.plot_buckets(pass_fit, targets=1e23),
        bs.plot_forecast(pass_fit, targets=1e23),
    ):
        assert isinstance(fig, Figure)
    with pytest.raises(InputError, match="no decision"):
        bs.plot_decision(bs.result_from_fit(loss_fit, bs.LossOptions(targets=(1e21,))))


def test_no_pyplot_state_and_no_backend_change():
    import matplotlib

    before = matplotlib.get_backend()
    fig = bs.plot_forecast(read_fit(LOSS_FIT)[0], targets=1e21)
    assert fig.canvas.manager is None  # not registered with pyplot: shown once in a notebook
    assert matplotlib.get_backend() == before


def test_reprs_are_short_summaries(loss_fit, pass_fit):
    result = bs.result_from_fit(
        loss_fit, bs.LossOptions(targets=(1e21,), requirement="web.loss<=2.6")
    )
    presult = bs.result_from_pass_fit(pass_fit, bs.PassOptions(targets=(1e23,)))
    objects = [
        loss_fit,
        loss_fit.data,
        result,
        result.forecast,
        result.decisions[0],
        pass_fit,
        presult,
        presult.forecast,
        bs.load_fit(LOSS_FIT),
        pass_fit.data,
        bs.load_pass_table(_llama_rows()),
    ]
    for obj in objects:
        text, html = repr(obj), obj._repr_html_()
        assert len(text.splitlines()) <= 30 and "array(" not in text and "\n       " not in text
        assert html.startswith("<div>") and "<table>" in html
    assert repr(loss_fit).startswith("LossFit\n") and "R-hat" in repr(loss_fit)
    assert repr(result.decisions[0]).startswith("Decision: ")


def test_arviz_works_on_the_fit_and_prior_predictive_on_request(loss_fit):
    import arviz as az

    az.plot_trace(loss_fit.idata, var_names=["sigma"])
    az.plot_rank(loss_fit.idata, var_names=["sigma"])
    fit = bs.add_prior_predictive(loss_fit, draws=50)
    assert {"prior", "prior_predictive"} <= set(fit.idata.children)
    assert fit.idata["prior_predictive"]["log_loss"].sizes["draw"] == 50
    np.testing.assert_array_equal(fit.draws("a"), loss_fit.draws("a"))


# --- 3. data preparation without pandas -------------------------------------------------


def _gadre_like(tmp_path) -> Path:
    rows = []
    for ds in ("c4", "rpj"):
        for mult in (1, 10):
            for i, c in enumerate((1e17, 1e18, 1e19, 1e20)):
                loss = 2.0 + 2.0 * (c / 1e17) ** -0.1 + (0.01 if mult == 10 else 0)
                rows.append((f"{ds}-{mult}-{i}", ds, mult, c, loss, 0.01))
    frame = pd.DataFrame(rows, columns=["name", "dataset", "mult", "compute", "loss", "se"])
    frame.loc[3, "loss"] = np.nan  # a missing value
    path = tmp_path / "ladder.csv"
    frame.to_csv(path, index=False)
    return path


def test_missing_value_refused_unless_drop_missing(tmp_path):
    path = _gadre_like(tmp_path)
    with pytest.raises(InputError, match=r"row 4 .*value is missing"):
        bs.load_loss_runs(path)
    data = bs.load_loss_runs(path, drop_missing=True)
    assert data.compute.size == 15 and "c4-1-3" not in set(data.name)


def test_where_selects_rows_and_names_the_file_row_after_it(tmp_path):
    path = _gadre_like(tmp_path)
    data = bs.load_loss_runs(path, where="mult == 10 and dataset in ['c4']")
    assert data.compute.size == 4 and set(data.name) == {f"c4-10-{i}" for i in range(4)}
    with pytest.raises(InputError, match=r"row 4 \(line 5\)"):
        bs.load_loss_runs(path, where="mult == 1")  # the file's row, not the selection's


def test_group_of_several_columns(tmp_path):
    path = _gadre_like(tmp_path)
    columns = bs.LossColumns(group="dataset, mult")
    data = bs.load_loss_runs(path, columns, drop_missing=True, where="compute > 0")
    assert data.groups == ("c4/1", "c4/10", "rpj/1", "rpj/10")


def test_one_spelling_in_cli_spec_and_api(tmp_path, monkeypatch):
    from bayescale.spec import load_spec, spec_options

    path = _gadre_like(tmp_path)
    spec = tmp_path / "s.toml"
    spec.write_text(
        "schema_version = 1\nlaw = 'loss'\n[data]\npath = 'ladder.csv'\nwhere = 'mult == 1'\n"
        "drop_missing = true\n[data.columns]\ngroup = 'dataset,mult'\nloss_sd = 'se'\n"
        "[forecast]\ntargets = [1e21]\n"
    )
    from_spec = spec_options(load_spec(spec))
    assert isinstance(from_spec, bs.LossOptions)
    assert from_spec.where == "mult == 1" and from_spec.drop_missing
    assert from_spec.columns == bs.LossColumns(group="dataset,mult", loss_sd="se")
    captured = {}
    # the command line runs the options' law through its registry entry
    import bayescale.registry

    stub = replace(
        bayescale.registry.get_law("loss"),
        run=lambda source, options: captured.setdefault("options", options) and None,
    )
    monkeypatch.setitem(bayescale.registry._LAWS, "loss", stub)
    args = ["loss", str(path), "--target-compute", "1e21", "--where", "mult == 1"]
    args += ["--drop-missing", "--group-col", "dataset,mult", "--loss-sd-col", "se"]
    with pytest.raises(TypeError):  # the stub returns no result, of no law
        main(args)
    opts = captured["options"]
    assert (opts.where, opts.drop_missing, opts.columns) == (
        from_spec.where,
        from_spec.drop_missing,
        from_spec.columns,
    )


def _with_gaps(frame: pd.DataFrame, value_column: str) -> pd.DataFrame:
    """A leaderboard's table: a ``keep`` column, and one empty cell in ``value_column``."""
    frame = frame.astype(object).assign(keep=[0] + [1] * (len(frame) - 1))
    frame.loc[frame.index[2], value_column] = ""
    return frame


@pytest.mark.parametrize(
    ("command", "target", "fit", "value_column"),
    [
        ("nd", ["--target", "7e9:1.4e11"], "bayescale.nd_pipeline.fit_nd", "loss"),
        (
            "accuracy",
            ["--target-compute", "1e24"],
            "bayescale.accuracy_pipeline.fit_accuracy",
            "accuracy",
        ),
    ],
)
def test_nd_and_accuracy_select_rows_like_loss_and_pass(
    tmp_path, monkeypatch, capsys, command, target, fit, value_column
):
    from bayescale.accuracy import simulate_accuracy_table
    from bayescale.nd import simulate_nd_runs

    table = simulate_nd_runs(seed=0) if command == "nd" else simulate_accuracy_table(seed=0)
    path = tmp_path / "table.csv"
    _with_gaps(table, value_column).to_csv(path, index=False)
    assert main([command, str(path), *target, "--quiet"]) == 2  # the empty cell is refused
    assert "row 3 (line 4)" in capsys.readouterr().err
    fitted = {}

    def stop(data, *args, **kwargs):
        fitted["rows"] = len(data.compute)
        raise InputError("stopped before sampling")

    monkeypatch.setattr(fit, stop)
    args = [command, str(path), *target, "--where", "keep == 1", "--drop-missing", "--quiet"]
    assert main(args) == 2
    assert "stopped before sampling" in capsys.readouterr().err
    assert fitted["rows"] == len(table) - 2  # row 1 not kept, row 3 missing its value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "mult.real == 1",
        "mult + 1 == 2",
        "loss[0] == 1",
        "(lambda: 1)() == 1",
        "mult in other",
        "mult",
        "mult ==",
    ],
)
def test_where_refuses_anything_but_comparisons(tmp_path, expression):
    with pytest.raises(InputError, match="--where"):
        bs.load_loss_runs(_gadre_like(tmp_path), where=expression, drop_missing=True)


def test_where_unknown_column_suggests(tmp_path):
    with pytest.raises(InputError, match=r"no column 'mutl'. Did you mean 'mult'"):
        bs.load_loss_runs(_gadre_like(tmp_path), where="mutl == 1")


def test_loss_sd_enters_the_likelihood(tmp_path):
    pytest.importorskip("pymc")
    from bayescale.loss_model import build_loss_model

    path = _gadre_like(tmp_path)
    plain = bs.load_loss_runs(path, drop_missing=True, where="dataset == 'c4'")
    noisy = bs.load_loss_runs(
        path, bs.LossColumns(loss_sd="se"), drop_missing=True, where="dataset == 'c4'"
    )
    np.testing.assert_allclose(noisy.loss_sd, 0.01)
    priors = bs.LossPriors(scatter_prior="halfnormal")  # sigma sampled in both models
    m0, m1 = build_loss_model(plain, priors), build_loss_model(noisy, priors)
    assert "log_loss_sd" in m1.named_vars and "log_loss_sd" not in m0.named_vars
    sigma = 0.005
    point = m0.initial_point() | {"sigma_log__": np.log(sigma)}
    lp0 = m0.compile_logp(vars=[m0["log_loss"]], sum=False)(point)[0]
    lp1 = m1.compile_logp(vars=[m1["log_loss"]], sum=False)(point)[0]
    c = 0.5 * np.log(2 * np.pi)
    resid2 = -2 * sigma**2 * (lp0 + np.log(sigma) + c)  # squared residuals, from the plain model
    sd = np.sqrt(sigma**2 + (0.01 / noisy.loss[noisy.fitted]) ** 2)
    np.testing.assert_allclose(lp1, -0.5 * resid2 / sd**2 - np.log(sd) - c, rtol=1e-9)
    # with the default prior, per-run errors keep sigma sampled (not integrated out)
    assert "sigma" in build_loss_model(noisy).named_vars
    assert "sigma" not in build_loss_model(plain).named_vars


# --- 4. the pass output --------------------------------------------------------------------


def _llama_rows() -> pd.DataFrame:
    rows = [
        (model, compute, bucket, rate)
        for model, compute, he, mbpp in [
            ("7B", 4.2e22, 0.105, 0.177),
            ("13B", 7.8e22, 0.158, 0.22),
            ("33B", 2.7e23, 0.217, 0.302),
        ]
        for bucket, rate in (("humaneval", he), ("mbpp", mbpp))
    ]
    return pd.DataFrame(rows, columns=["model", "compute", "bucket", "pass_rate"])


def _llama(tmp_path) -> Path:
    path = tmp_path / "llama.csv"
    rows = ["model,compute,bucket,pass_rate"]
    for model, compute, he, mbpp in [
        ("7B", 4.2e22, 0.105, 0.177),
        ("13B", 7.8e22, 0.158, 0.22),
        ("33B", 2.7e23, 0.217, 0.302),
        ("65B", 5.5e23, 0.237, 0.377),
    ]:
        rows += [f"{model},{compute},humaneval,{he}", f"{model},{compute},mbpp,{mbpp}"]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_pass_output_leads_with_pass_rate_and_no_overall_for_two_benchmarks(
    tmp_path, mock_pymc_sample, capsys
):
    doc, out = tmp_path / "f.json", tmp_path / "out"
    args = ["pass", str(_llama(tmp_path)), "--target-compute", "5.5e23", "--fit-max-compute"]
    args += ["3e23", "--json", str(doc), "--out", str(out), *MOCK]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("Pass@1 of a new model per bucket")
    assert "humaneval" in text and "(-ln p" in text and "overall: not defined" in text
    assert "pass@1 errors of the median: 65B pass_rate[humaneval]" in text
    document = json.loads(doc.read_text())
    assert document["pooled"] is None and document["targets"][0]["pass_rate"] is None
    assert {"pass_rate", "mean_neg_log_pass"} <= set(document["targets"][0]["buckets"][0])
    assert "pass_rate" not in {row["quantity"] for row in document["held_out"]}
    report = (out / "report.md").read_text()
    assert "None" not in report and "Overall: not defined" in report
    assert "Pass@1 (errors of the median in pass-rate units)" in report


def test_one_benchmark_scores_each_held_out_rate_once(tmp_path, mock_pymc_sample, capsys):
    # Codex pass@1 by size (Chen et al. 2021, Table 1): one bucket, so the overall pass@1 is the
    # bucket's; each held-out model was scored twice on it ("3/6 statistics", errors listed twice)
    path = tmp_path / "codex.csv"
    rates = [0.02, 0.0321, 0.0506, 0.0822, 0.1317, 0.1622, 0.2136, 0.2881]
    sizes = [12e6, 25e6, 42e6, 85e6, 300e6, 679e6, 2.5e9, 12e9]
    rows = [f"m{i},{6 * n * 1e11:g},{r}" for i, (n, r) in enumerate(zip(sizes, rates, strict=True))]
    path.write_text("model,compute,pass_rate\n" + "\n".join(rows) + "\n")
    doc = tmp_path / "f.json"
    args = ["pass", str(path), "--target-compute", "7.2e21", "--fit-max-compute", "4.1e20"]
    assert main([*args, "--json", str(doc), *MOCK]) == 0
    quantities = [row["quantity"] for row in json.loads(doc.read_text())["held_out"]]
    assert sorted(quantities) == sorted(["pass_rate", "neg_log_pass[all]"] * 2)
    text = capsys.readouterr().out
    assert "/4 statistics inside" in text and "pass_rate[all]" not in text


def test_unscoped_pass_rule_on_two_benchmarks_is_refused(tmp_path, capsys, monkeypatch):
    _no_fit(monkeypatch)
    args = ["pass", str(_llama(tmp_path)), "--target-compute", "5.5e23"]
    assert main([*args, "--require", "pass_rate>=0.3"]) == 2
    err = capsys.readouterr().err
    assert "different benchmarks" in err and "'humaneval.pass_rate>=0.3'" in err


def test_pooled_rate_is_named_for_difficulty_buckets(pass_fit):
    result = bs.result_from_pass_fit(pass_fit, bs.PassOptions(targets=(1e23,)))
    assert result.forecast.pooled.startswith("mean pass@1 over all")
    assert "difficulty buckets of one benchmark" in result.document()["pooled"]
    quantities = list(result.held_out["quantity"])
    assert quantities[0] == "pass_rate" and "pass_rate[1]" in quantities
    assert quantities.index("pass_rate[2]") < quantities.index("neg_log_pass[1]")


# --- 5. compute needed with its interval ------------------------------------------------


def test_compute_needed_has_an_interval(loss_fit):
    (d,) = bs.decide_loss(loss_fit, "web.loss<=2.6", 1e23)
    block = d.to_dict()["compute_needed"]
    assert block["lower"] is not None and block["lower"] < block["upper"]
    # the curve's crossing is inside the new run's: the median lies between its bounds
    assert block["lower"] <= block["median"] <= block["upper"]


# --- 6. messages ---------------------------------------------------------------------------


def test_unknown_option_did_you_mean(demo_csv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["loss", str(demo_csv), "--target-compue", "1e23"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown option '--target-compue'. Did you mean '--target-compute'?" in err
    assert "required" not in err


def test_option_hints_ignore_the_shared_dashes(demo_csv, capsys):
    # difflib scored "--budget" against "--quiet" on the shared "--": 0.67, over the cutoff
    with pytest.raises(SystemExit) as exc:
        main(["loss", str(demo_csv), "--target-compute", "1e23", "--budget", "1e22"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown option '--budget'" in err and "Did you mean" not in err
    assert did_you_mean("--bugdet", ["--quiet", "--budget"]) == " Did you mean '--budget'?"
    assert did_you_mean("-Seed", ["--quiet", "--seed"]) == " Did you mean '--seed'?"
    assert did_you_mean("lost", ["loss", "compute"]) == " Did you mean 'loss'?"


def test_an_option_of_another_command_names_that_command(demo_csv, capsys):
    # 'check SPEC --require ...' said "Did you mean '--quiet'?"
    spec = Path(__file__).resolve().parents[1] / "models" / "demo-loss.toml"
    with pytest.raises(SystemExit) as exc:
        main(["check", str(spec), "--require", "web.loss<=2.5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown option '--require'" in err and "Did you mean" not in err
    assert "'bayescale check' does not take it; it is an option of 'bayescale accuracy'" in err
    assert err.rstrip().endswith("'bayescale run'. See 'bayescale check --help'.")
    with pytest.raises(SystemExit):
        main(["forecast", str(demo_csv), "--draws", "100"])
    assert "option of 'bayescale accuracy', 'bayescale backtest'" in capsys.readouterr().err


def test_abbreviations_are_not_guessed(demo_csv, capsys):
    with pytest.raises(SystemExit):
        main(["loss", str(demo_csv), "--target-comp", "1e23"])
    assert "unknown option '--target-comp'" in capsys.readouterr().err


def test_pass_table_given_to_loss_points_to_pass(tmp_path, capsys):
    assert main(["loss", str(_llama(tmp_path)), "--target-compute", "1e24"]) == 2
    assert "bayescale pass" in capsys.readouterr().err


def test_loss_table_given_to_pass_points_to_loss(demo_csv, capsys):
    assert main(["pass", str(demo_csv), "--target-compute", "1e24"]) == 2
    assert "bayescale loss" in capsys.readouterr().err


def test_pass_help_shows_a_pass_rule(capsys):
    with pytest.raises(SystemExit):
        main(["pass", "--help"])
    out = capsys.readouterr().out
    assert "pass_rate>=0.3" in out and "loss<=2.1" not in out


def test_backtest_help_has_no_double_percent(capsys):
    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    out = capsys.readouterr().out
    assert "50/80/90% intervals" in out and "%%" not in out


def test_bucket_typo_suggests_the_label_without_garbage():
    from bayescale.pass_pipeline import pass_requirement

    with pytest.raises(InputError) as err:
        pass_requirement("humaneavl.pass_rate>=0.2", ("humaneval", "mbpp"))
    message = str(err.value)
    assert "Did you mean 'humaneval'?" in message and "buckethumaneval" not in message
    assert "'humaneval.pass_rate>=0.2'" in message
    with pytest.raises(InputError, match=r"Did you mean '2'.*'bucket1.pass_rate"):
        pass_requirement("bucket22.pass_rate>=0.2", ("1", "2"))


def test_forecast_from_a_saved_fit_says_nothing_was_sampled(capsys):
    args = ["forecast", str(LOSS_FIT), "--target-compute", "1e21", "--allow-unconverged"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "nothing sampled" in out and "sampling" not in out.replace("nothing sampled", "")


def test_backtest_summary_names_a_failed_baseline_gate():
    from bayescale.backtest_report import Backtest, backtest_markdown

    empty = pd.DataFrame(
        columns=["case", "truth", "median", "lower", "upper", "covered", "rel_error"]
    )
    diag = {"ok": True, "r_hat_max": 1.0, "divergences": 0}
    bad = {"ok": False, "r_hat_max": 1.08, "divergences": 3}
    bt = Backtest(
        kind="loss",
        ratio=10.0,
        source="runs.csv",
        interval=0.9,
        cases=empty,
        baselines={},
        fit_max_compute={"all": 1e20},
        skipped=(),
        diagnostics={"bayescale": diag, "separate_bayes": bad},
    )
    text = backtest_markdown([bt])
    assert "baseline separate_bayes's fit FAILED its gate (R-hat 1.080, 3 divergences)" in text


# --- 7. plots ------------------------------------------------------------------------------


def test_ppc_bars_of_groups_do_not_overlap():
    from bayescale.drawing import dodge

    compute = np.repeat([1e17, 1e18, 1e19], 3)
    offsets = dodge(compute, 3)
    assert offsets.size == 3 and len(set(offsets)) == 3
    spread = np.log10(offsets.max() / offsets.min())
    assert 0 < spread < 1  # side by side, still nearer their own compute than the next one


def test_ppc_figure_draws_each_group_at_its_own_x(loss_fit):
    fig = bs.plot_ppc(loss_fit)
    xs = [c.get_offsets()[:, 0] for c in fig.axes[0].collections if c.get_offsets().size]
    firsts = {float(x[0]) for x in xs}
    assert len(firsts) >= 2  # the groups' first runs, same compute, are dodged apart


def test_long_loss_forecast_zooms_and_keeps_held_out_points_on_top(loss_fit):
    fig = bs.plot_forecast(loss_fit, targets=loss_fit.data.compute.max())
    assert not fig.axes[0].child_axes  # 3.8 decades in all: no inset needed
    fig = bs.plot_forecast(loss_fit, targets=1e25)
    ax = fig.axes[0]
    (inset,) = ax.child_axes
    lo, hi = inset.get_xlim()
    assert lo >= loss_fit.data.compute[loss_fit.data.fitted].max() / 3.01 and hi >= 1e25
    held = [c for c in ax.collections if c.get_label() == "held-out runs"]
    (target,) = [c for c in ax.containers if c.get_label() == "target (median, interval)"]
    marker = target.lines[0]
    assert held and held[0].get_zorder() > marker.get_zorder()
    assert marker.get_markerfacecolor() == "none"  # open: a run behind it shows through


def test_log_ticks_are_plain_numbers(pass_fit):
    fig = bs.plot_buckets(pass_fit, targets=1e23)
    fig.canvas.draw()
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels(which="both")]
    assert labels and not any("times" in t or "^" in t for t in labels)


# --- 8. missing things people expect: the bootstrap as a method -------------------------


def test_bootstrap_method_is_labelled_and_samples_nothing(demo_csv, tmp_path, capsys, monkeypatch):
    _no_fit(monkeypatch)
    doc = tmp_path / "b.json"
    args = ["loss", str(demo_csv), "--target-compute", "1e21", "--method", "bootstrap"]
    assert main([*args, "--json", str(doc), "--quiet"]) == 0
    assert "point-fit bootstrap" in capsys.readouterr().out
    document = json.loads(doc.read_text())
    assert document["method"] == "point-fit bootstrap"
    (target,) = document["targets"]
    assert {row["group"] for row in target["loss"]} == {"web", "code", "books"}
    assert all(r["lower"] <= r["median"] <= r["upper"] for r in target["loss"])
    table = bs.bootstrap_forecast(bs.load_loss_runs(demo_csv), 1e21, n_boot=20)
    assert set(table["method"]) == {"point-fit bootstrap"}


def test_loss_sd_from_a_95_interval_pair(tmp_path):
    path = tmp_path / "ci.csv"
    path.write_text(
        "compute,loss,lo,hi\n1e18,3.0,2.9804,3.0196\n1e19,2.8,2.8,2.8\n1e20,2.6,2.5,2.7\n"
    )
    data = bs.load_loss_runs(path, bs.LossColumns(loss_sd="lo,hi"))
    np.testing.assert_allclose(data.loss_sd, [0.01, 0.0, 0.1 / 1.959963984540054], rtol=1e-4)
    path.write_text("compute,loss,lo,hi\n1e18,3.0,3.1,2.9\n1e19,2.8,2.8,2.8\n1e20,2.6,2.5,2.7\n")
    with pytest.raises(InputError, match=r"row 1 \(line 2\), column 'hi'"):
        bs.load_loss_runs(path, bs.LossColumns(loss_sd="lo,hi"))


def test_check_reports_target_warnings_and_refuses_a_backcast(tmp_path, capsys):
    data = _llama(tmp_path)
    spec = tmp_path / "s.toml"
    body = (
        "schema_version = 1\nlaw = 'pass_rate'\n[data]\npath = '{}'\n[forecast]\ntargets = [{}]\n"
    )
    spec.write_text(body.format(data.name, "1e26"))
    assert main(["check", str(spec)]) == 0
    assert "warning: target 1e+26 FLOPs is 2.3 decades" in capsys.readouterr().out
    spec.write_text(body.format(data.name, "1e20"))
    assert main(["check", str(spec)]) == 2
    assert "a backcast" in capsys.readouterr().err
    assert main(["check", str(spec), "--allow-backcast"]) == 0


@pytest.mark.parametrize(
    ("limits", "wanted"),
    [
        ((1e18, 1e24), {"10¹⁸", "10²⁰", "10²²", "10²⁴"}),
        ((3e20, 4e21), {"10²¹", "5×10²⁰", "2×10²¹"}),
        ((2.5e20, 4.5e20), {"3×10²⁰", "4×10²⁰"}),
    ],
)
def test_log_compute_axes_are_labelled_in_plain_text(limits, wanted):
    """Powers of ten in Unicode superscripts, never mathtext, and labels on a narrow axis."""
    from bayescale.ticks import power_ticks

    fig = Figure()
    ax = fig.subplots()
    ax.plot(limits, [1, 2])
    ax.set_xscale("log")
    ax.set_xlim(*limits)
    power_ticks(ax.xaxis)
    fig.canvas.draw()
    ticks = ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
    labels = {t.get_text() for t in ticks}
    labels.discard("")
    assert wanted <= labels and not any("$" in text for text in labels)


def test_every_summarised_class_keeps_the_shared_repr():
    # a dataclass subclass without repr=False would bring back the dataclass's own repr
    import importlib

    from bayescale.display import Summarised

    for module in (
        "accuracy",
        "draws",
        "loss_fit",
        "pass_fit",
        "forecast",
        "nd",
        "pass_data",
        "pass_forecast",
    ):
        importlib.import_module(f"bayescale.{module}")
    importlib.import_module("bayescale.saved")
    found, todo = [], list(Summarised.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls.__name__)
        todo += cls.__subclasses__()
        assert cls.__repr__ is Summarised.__repr__, cls
        assert cls._repr_html_ is Summarised._repr_html_, cls
    assert {"LossFit", "PassFit", "NDFit", "AccuracyFit", "SavedFit", "LossForecast"} <= set(found)


def test_a_run_pasted_twice_is_warned():
    # an exact copy of a row was fitted as a second run, with no word (it doubles its weight)
    compute = np.array([1e18, 3e18, 1e19, 3e19, 1e19])
    loss = np.array([3.1, 2.9, 2.75, 2.62, 2.75])
    seeds = pd.DataFrame({"compute": compute, "loss": loss + np.array([0, 0, 0, 0, 0.004])})
    pasted = pd.DataFrame({"compute": compute, "loss": loss})
    (warning,) = repeated_run_warnings(load_loss_runs(pasted))
    assert warning.startswith("row 5 repeats row 3 exactly (compute 1e+19, loss 2.75)")
    assert repeated_run_warnings(load_loss_runs(seeds)) == []  # reruns differ in their losses


def test_group_and_family_labels_typed_two_ways_are_warned():
    from bayescale.accuracy import simulate_accuracy_table
    from bayescale.accuracy_data import load_accuracy_table
    from bayescale.accuracy_forecast import accuracy_target_warnings
    from bayescale.forecast import loss_target_warnings
    from bayescale.priors import LossPriors

    compute = np.array([1e18, 3e18, 1e19, 3e19])
    runs = pd.DataFrame(
        {
            "compute": np.tile(compute, 3),
            "loss": np.tile([3.1, 2.9, 2.75, 2.62], 3),
            "group": ["web"] * 4 + ["Web"] * 4 + ["code"] * 4,
        }
    )
    twins = [
        w
        for w in loss_target_warnings(load_loss_runs(runs), np.array([1e21]), LossPriors())
        if "differ only in case" in w
    ]
    assert twins == [
        "group labels 'web' and 'Web' differ only in case, spaces, dashes or underscores: "
        "they are fitted as two. If they name one, spell it one way."
    ]
    table = simulate_accuracy_table(seed=3)
    first = table["family"].iloc[0]
    copy = table[table["family"] == first].assign(
        family=first.upper() + " ", model=lambda t: t["model"] + "-b"
    )
    table = pd.concat([table, copy], ignore_index=True)
    data = load_accuracy_table(table)
    warnings = accuracy_target_warnings(data, np.array([1e24]))
    assert sum(f"family labels '{first.upper()}' and '{first}'" in w for w in warnings) == 1
    one_way = load_accuracy_table(simulate_accuracy_table(seed=3))
    assert not any("differ only" in w for w in accuracy_target_warnings(one_way, np.array([1e24])))


def test_a_target_in_another_unit_than_the_table_is_asked_about():
    # a table in PF-days (0.01 to 3.5) and a target in FLOPs (1e23): "22 decades beyond ...
    # read it as a scenario", and not a word about units
    fitted = {"": np.array([0.0116, 0.0347, 0.116, 0.347, 1.16, 3.47])}
    (warned,) = target_warnings(np.array([1e23]), fitted, rests_on="the law")
    assert "22 decades beyond every fitted run is most often in another unit" in warned
    (plain,) = target_warnings(np.array([1e4]), fitted, rests_on="the law")
    assert "another unit" not in plain


def test_parameter_table_answers_every_law_and_results(loss_fit, pass_fit):
    # bs.parameter_table(pass or nd fit) used to fail in xarray: "Could not find node at a"
    nd_fit = read_fit(DATA / "nd_fit_v0.2.0.dev0.nc")[0]
    assert set(bs.parameter_table(loss_fit)["parameter"]) == {"a", "b", "c"}
    assert set(bs.parameter_table(pass_fit)["parameter"]) == {"log10_alpha", "k"}
    assert set(bs.parameter_table(nd_fit)["parameter"]) == {"E", "A", "alpha", "B", "beta"}
    result = bs.result_from_fit(loss_fit, bs.LossOptions(targets=(1e21,)))
    assert bs.parameter_table(result).equals(bs.parameter_table(loss_fit))
    with pytest.raises(InputError, match="got DataFrame"):
        bs.parameter_table(pd.DataFrame())


def test_plot_forecast_names_what_draws_an_nd_result():
    # bs.plot_forecast(nd result) used to fail with AttributeError 'NDFit' has no 'buckets'
    saved = bs.load_fit(DATA / "nd_fit_v0.2.0.dev0.nc")
    result = saved.result()
    for given in (result, saved.fit):
        with pytest.raises(InputError, match=r"got a NDFit\. Its figures: bayescale\.plots\.nd_"):
            bs.plot_forecast(given)
    from bayescale.plots import nd_figure

    assert isinstance(nd_figure(saved.fit, result.options.targets), Figure)  # as named
    with pytest.raises(InputError, match="got NDFit"):
        bs.plot_ppc(result)
    with pytest.raises(InputError, match="got dict"):
        bs.plot_forecast({})


def test_every_public_function_says_what_it_returns():
    # 21 of the 45 functions exported by bayescale had no Returns section
    missing = [
        name
        for name in bs.__all__
        if inspect.isfunction(getattr(bs, name))
        and "Returns\n-------" not in (inspect.getdoc(getattr(bs, name)) or "")
    ]
    assert missing == []


def test_every_loaded_table_shows_a_summary_not_its_arrays():
    # NDData and AccuracyData printed their arrays in a notebook (LossData and PassCounts did not)
    models = Path(__file__).resolve().parents[1] / "models" / "data"
    for data in (
        bs.load_loss_runs(models / "demo_loss.csv"),
        bs.load_pass_table(models / "demo_pass_counts.csv"),
        bs.load_nd_runs(models / "demo_nd.csv"),
        bs.load_accuracy_table(models / "demo_accuracy.csv"),
    ):
        text, html = repr(data), data._repr_html_()
        assert "array(" not in text and len(text.splitlines()) < 12
        assert html.startswith("<div><strong>") and "demo_" in text


@pytest.mark.parametrize("targets", [1e21, [1e21, 1e22], np.array([1e21, 1e22]), "1e21"])
def test_options_keep_targets_as_a_tuple_of_floats(targets):
    # LossOptions(targets=[...]) kept the list (or array) inside the frozen options: it could
    # change after the run and made the options unhashable
    for options_type in (bs.LossOptions, bs.PassOptions, bs.AccuracyOptions):
        options = options_type(targets=targets)
        assert isinstance(options.targets, tuple)
        assert all(type(t) is float for t in options.targets)
    assert hash(bs.LossOptions(targets=targets))
    with pytest.raises(InputError, match="targets must be target computes in FLOPs"):
        bs.LossOptions(targets="lots")


def test_a_target_given_twice_is_forecast_once(loss_fit, capsys):
    # --target-compute 3e22,3e22 forecast 3e22 twice: two equal columns, two decisions and
    # every warning twice
    from bayescale.nd_pipeline import NDOptions

    for options_type in (bs.LossOptions, bs.PassOptions, bs.AccuracyOptions, NDOptions):
        assert options_type(targets=[3e22, 1e22, 3e22]).targets == (3e22, 1e22)
    for options_type in (bs.AccuracyOptions, NDOptions):  # planned (N, D) runs too
        options = options_type(targets=(), runs=((7e9, 2e12), (7e9, 2e12), (1e9, 2e12)))
        assert options.runs == ((7e9, 2e12), (1e9, 2e12))
    result = bs.result_from_fit(
        loss_fit, bs.LossOptions(targets=(1e22, 1e22), requirement="web.loss<=2.6")
    )
    assert [t["target_compute"] for t in result.document()["targets"]] == [1e22]
    assert len(result.decisions) == 1


def test_every_law_forecast_has_a_table(pass_fit):
    # result.forecast.table() failed on pass-rate and L(N, D) forecasts (AttributeError)
    passed = bs.forecast_pass(pass_fit, [1e23, 1e24], warn=False).table()
    assert {"target_compute", "bucket", "pass_rate_median"} <= set(passed.columns)
    nd = bs.load_fit(DATA / "nd_fit_v0.2.0.dev0.nc").result()
    table = nd.forecast.table()
    assert len(table) == nd.forecast.draws.sizes["target"] * len(nd.fit.data.groups)
    assert {"params", "tokens", "group", "median", "lower", "upper"} <= set(table.columns)


@pytest.mark.parametrize("expression", ["compute >= '1e19'", "'1e19' <= compute", "mult < '10'"])
def test_where_refuses_ordering_numbers_against_quoted_text(tmp_path, expression):
    # a file's cells are read as text: '1e20' < '2e17' as strings, so the selection was wrong
    with pytest.raises(InputError, match=r"holds numbers.*without quotes"):
        bs.load_loss_runs(_gadre_like(tmp_path), where=expression, drop_missing=True)


def test_where_compares_labels_with_quoted_text(tmp_path):
    data = bs.load_loss_runs(_gadre_like(tmp_path), where="dataset >= 'rpj'", drop_missing=True)
    assert set(data.name) == {n for n in data.name if n.startswith("rpj")}
    assert data.compute.size == 8


def test_where_that_selects_no_row_names_the_label_no_row_holds(tmp_path):
    # "--where 'dataset == 'c44'' selects no row." left the typo to be found by hand
    with pytest.raises(InputError, match=r"holds no 'c44'\. Did you mean 'c4'\?"):
        bs.load_loss_runs(_gadre_like(tmp_path), where="dataset == 'c44'", drop_missing=True)
    with pytest.raises(InputError, match=r"selects no row\.$"):
        bs.load_loss_runs(_gadre_like(tmp_path), where="compute > 1e30", drop_missing=True)


@pytest.mark.parametrize(
    "expression",
    [
        "compute != '1e17'",
        "compute in ['1e17', '1e+20']",
        "compute not in ['1e17']",
        "compute == '1e17' or group == 'code'",
        "compute == '1e17'",
        "'1e17' == compute",
    ],
)
def test_where_refuses_matching_numbers_against_quoted_numbers(expression):
    # the demo's cells read '1e+17', so '1e17' matched nothing and '!=' kept every row
    demo = Path(__file__).resolve().parents[1] / "models" / "data" / "demo_loss.csv"
    with pytest.raises(InputError, match=r"holds numbers.*without quotes: 1e17 instead"):
        bs.load_loss_runs(demo, where=expression)


def test_where_matches_number_like_labels_with_quoted_text(tmp_path):
    path = _gadre_like(tmp_path)
    frame = pd.read_csv(path)
    frame["size"] = np.where(frame["mult"] == 1, "1b", "7b")
    frame.to_csv(path, index=False)
    kept = bs.load_loss_runs(path, where="size == '1b' and mult in [1]", drop_missing=True)
    assert kept.compute.size == 7
    assert bs.load_loss_runs(path, where="size in ['7b']", drop_missing=True).compute.size == 8

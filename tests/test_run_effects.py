"""The shared run effect (``LossPriors(shared_runs=True)``): runs, model, forecasts, options.

Tier 1 (runs, refusals, the log density at a known point, forecast draws of a fake posterior)
and tier 2 (the command, spec and saved fit on the mocked sampler).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from bayescale.cli import main
from bayescale.data import load_loss_runs
from bayescale.errors import InputError
from bayescale.forecast import loss_draws
from bayescale.loss_model import build_loss_model
from bayescale.priors import LossPriors, scatter_scale
from bayescale.run_effects import fitted_runs, shared_runs
from tests.helpers import fake_loss_fit

SHARED = LossPriors(shared_runs=True)
FAST = ["--draws", "50", "--tune", "50", "--chains", "2", "--quiet"]


def _frame(groups: int = 3, runs: int = 6, *, names: bool = True, seed: int = 0) -> pd.DataFrame:
    """Eval sets of ``runs`` runs (1e17-1e19), a shared 0.8% run effect; names ``r<i>``."""
    rng = np.random.default_rng(seed)
    compute = np.geomspace(1e17, 1e19, runs)
    luck = rng.normal(0, 0.008, runs)
    rows = []
    for g in range(groups):
        loss = (2.0 + 0.2 * g + (compute / 1e18) ** -0.1) * np.exp(
            luck + rng.normal(0, 0.002, runs)
        )
        rows += [
            {"name": f"r{i}" if names else f"r{i}-g{g}", "group": f"g{g}", "compute": c, "loss": v}
            for i, (c, v) in enumerate(zip(compute, loss, strict=True))
        ]
    return pd.DataFrame(rows)


def test_runs_are_their_names_when_a_name_repeats_across_groups():
    frame = _frame()
    rerun = frame[frame["name"] == "r2"].assign(name="r2-rerun", loss=lambda f: f["loss"] * 1.001)
    runs = fitted_runs(load_loss_runs(pd.concat([frame, rerun], ignore_index=True)))
    assert runs.by == "name"
    assert len(runs.labels) == 7 and runs.shared == 7  # the rerun at r2's compute is its own run
    assert runs.labels[:2] == ("r0", "r1") and "r2-rerun" in runs.labels


def test_runs_are_their_computes_when_no_name_repeats():
    frame = _frame(names=False)
    runs = fitted_runs(load_loss_runs(frame))
    assert runs.by == "compute" and len(runs.labels) == 6 and runs.shared == 6
    # no name column at all: rows are "row N", computes again
    assert fitted_runs(load_loss_runs(frame.drop(columns="name"))).by == "compute"
    assert np.array_equal(runs.index, np.tile(np.arange(6), 3))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda f: f[f["group"] == "g0"], "the table has one group"),
        (
            lambda f: f.assign(compute=f["compute"] * (1 + 0.1 * f["group"].str[1:].astype(int))),
            "no run name appears in two groups and no compute is shared",
        ),
    ],
    ids=["one-group", "nothing-shared"],
)
def test_a_table_without_shared_runs_is_refused(change, fragment):
    data = load_loss_runs(change(_frame(names=False)))
    with pytest.raises(InputError, match="--shared-runs") as error:
        shared_runs(data)
    assert fragment in str(error.value)
    with pytest.raises(InputError, match=fragment):
        build_loss_model(data, SHARED)
    build_loss_model(data)  # the default model takes it


def test_the_log_density_at_a_known_point():
    """The shared model's logp is the default one's with residuals less tau * z[run], plus
    the priors of tau (half-normal, on ln tau with its Jacobian) and z (standard normal)."""
    data = load_loss_runs(_frame())
    plain, shared = build_loss_model(data), build_loss_model(data, SHARED)
    assert [v.name for v in shared.value_vars] == [
        *[v.name for v in plain.value_vars],
        "tau_run_log__",
        "z_run",
    ]
    point = plain.initial_point()
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(0, 0.2, np.shape(v)) for k, v in point.items()}
    tau, z = 0.006, rng.normal(size=6)
    full = point | {"tau_run_log__": np.log(tau), "z_run": z}
    names = ("level", "reducible", "exponent")
    terms = plain.replace_rvs_by_values([plain[n] for n in names])
    values = plain.compile_fn(
        terms, inputs=plain.value_vars, on_unused_input="ignore", mode="FAST_COMPILE"
    )(point)
    level, reducible, exponent = (v[data.group_index] for v in values)
    x = np.log(data.compute) - np.mean(np.log(data.compute))
    mean = np.log(level * (1 - reducible + reducible * np.exp(-exponent * x)))

    def integrated(residual: np.ndarray) -> float:
        alpha, beta, n = SHARED.scatter_shape, scatter_scale(SHARED), residual.size
        rss = float((residual**2).sum())
        return float(
            math.lgamma(alpha + n / 2)
            - math.lgamma(alpha)
            + alpha * np.log(beta)
            - n / 2 * np.log(2 * np.pi)
            - (alpha + n / 2) * np.log(beta + rss / 2)
        )

    y = np.log(data.loss)
    delta = tau * z[np.tile(np.arange(6), 3)]
    expected = (
        plain.compile_logp(mode="FAST_COMPILE")(point)
        - integrated(y - mean)
        + integrated(y - mean - delta)
        + stats.halfnorm(scale=SHARED.run_effect_sd).logpdf(tau)
        + np.log(tau)  # the log transform's Jacobian
        + stats.norm.logpdf(z).sum()
    )
    np.testing.assert_allclose(shared.compile_logp(mode="FAST_COMPILE")(full), expected, rtol=1e-10)


def _point_fit(priors: LossPriors, sigma: float, tau: float, draws: int = 4000):
    """Flat curves at level 2 for 2 groups, sigma and tau fixed: a point posterior."""
    data = load_loss_runs(_frame(groups=2, names=False))
    shape = (2, draws // 2, 2)
    posterior = {
        "level": np.full(shape, 2.0),
        "reducible": np.full(shape, 0.5),
        "exponent": np.full(shape, 0.2),
        "sigma": np.full(shape[:2], sigma),
        "tau_run": np.full(shape[:2], tau),
        "run_effect": np.zeros((*shape[:2], 6)),
    }
    return fake_loss_fit(data, posterior, priors)


@pytest.mark.parametrize("shared", [False, True], ids=["independent", "shared-runs"])
def test_a_new_run_adds_a_run_effect_shared_by_its_groups(shared):
    """ln(new / curve): variance sigma^2 + tau^2, correlation tau^2 / (sigma^2 + tau^2) across
    groups (one new run scored in both), and the same draw at every compute of a group."""
    sigma, tau = 0.004, 0.006
    fit = _point_fit(replace(LossPriors(), shared_runs=shared), sigma, tau)
    draws = loss_draws(fit, np.array([1e20, 1e21]))
    noise = np.log(draws["loss"].values / draws["curve"].values)  # (sample, group, compute)
    n = noise.shape[0]
    variance = sigma**2 + (tau**2 if shared else 0.0)
    # the sample variance's sd is variance * sqrt(2 / n); 4 of those
    assert abs(noise[:, 0, 0].var() - variance) < 4 * variance * np.sqrt(2 / n)
    r = np.corrcoef(noise[:, 0, 0], noise[:, 1, 0])[0, 1]
    rho = tau**2 / variance if shared else 0.0
    assert abs(r - rho) < 4 * (1 - rho**2) / np.sqrt(n)
    np.testing.assert_allclose(noise[:, :, 0], noise[:, :, 1], atol=1e-12)


def test_the_default_forecast_draws_no_run_effect():
    """The same fit without the option ignores tau: its draws are those of sigma alone."""
    fit = _point_fit(LossPriors(), 0.004, 0.006, draws=200)
    without = _point_fit(LossPriors(), 0.004, 0.0, draws=200)
    a = loss_draws(fit, np.array([1e20]))["loss"].values
    b = loss_draws(without, np.array([1e20]))["loss"].values
    np.testing.assert_array_equal(a, b)


def test_the_command_spec_and_saved_fit_keep_the_option(tmp_path, mock_pymc_sample, capsys):
    from bayescale.saved import read_fit
    from bayescale.spec import load_spec, spec_options

    table = tmp_path / "runs.csv"
    _frame().to_csv(table, index=False)
    out, doc = tmp_path / "out", tmp_path / "f.json"
    args = ["loss", str(table), "--target-compute", "1e20", "--allow-unconverged", *FAST]
    assert main([*args, "--shared-runs", "--out", str(out), "--json", str(doc)]) == 0
    result = json.loads(doc.read_text())
    entry = result["shared_runs"]
    assert entry["by"] == "name" and entry["runs"] == 6 and entry["shared"] == 6
    assert entry["why"] == "'r0' appears in g0, g1 and g2"
    assert 0 < entry["tau"]["lower"] <= entry["tau"]["median"] <= entry["tau"]["upper"]
    fit, _ = read_fit(out / "fit.nc")
    assert fit.priors.shared_runs
    effect = fit.idata["posterior"]["run_effect"]
    assert list(effect["shared_run"].values) == [f"r{i}" for i in range(6)]  # padding cut
    again = tmp_path / "again.json"
    saved = ["forecast", str(out / "fit.nc"), "--target-compute", "1e20", "--allow-unconverged"]
    assert main([*saved, "--json", str(again)]) == 0
    assert json.loads(again.read_text())["targets"] == result["targets"]
    # without the option: no entry, and the saved priors say so
    plain = tmp_path / "plain.json"
    assert main([*args, "--json", str(plain), "--out", str(tmp_path / "plain")]) == 0
    assert "shared_runs" not in json.loads(plain.read_text())
    # a fit without the run effect writes the priors it wrote before the option existed
    tree = xr.open_datatree(tmp_path / "plain" / "fit.nc", engine="h5netcdf")
    assert not {"shared_runs", "run_effect_sd"} & set(json.loads(tree.attrs["priors"]))
    tree.close()
    assert not read_fit(tmp_path / "plain" / "fit.nc")[0].priors.shared_runs
    # a spec's [priors]
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'schema_version = 1\nlaw = "loss"\n[data]\npath = "runs.csv"\n'
        "[forecast]\ntargets = [1e20]\n[priors]\nshared_runs = true\n"
    )
    assert spec_options(load_spec(spec)).priors.shared_runs
    assert main(["check", str(spec)]) == 0


def test_the_option_is_refused_for_other_backtests_and_tables_without_shared_runs(tmp_path, capsys):
    table = tmp_path / "one.csv"
    _frame(groups=1).to_csv(table, index=False)
    code = main(["loss", str(table), "--target-compute", "1e20", "--shared-runs", *FAST])
    assert code == 2
    assert "the table has one group" in capsys.readouterr().err
    assert main(["backtest", "pass", str(table), "--ratio", "4", "--shared-runs"]) == 2
    assert "--shared-runs" in capsys.readouterr().err


def test_a_run_effect_edited_alone_is_refused():
    """The load's identity checks: ``run_effect = tau_run * z_run``."""

    from bayescale.loss_saved import loss_relations
    from bayescale.saved_format import check_relations

    rng = np.random.default_rng(5)
    z, tau = rng.normal(size=(2, 10, 6)), rng.uniform(0.001, 0.01, (2, 10))
    dims = ("chain", "draw", "shared_run")
    posterior = xr.Dataset(
        {
            "z_run": (dims, z),
            "tau_run": (dims[:2], tau),
            "run_effect": (dims, tau[..., None] * z),
        }
    )
    relations = loss_relations(0.0)
    check_relations(xr.DataTree.from_dict({"posterior": posterior}), Path("fit.nc"), relations)
    edited = posterior.assign(run_effect=posterior["run_effect"] * 2)
    with pytest.raises(InputError, match="run_effect"):
        check_relations(xr.DataTree.from_dict({"posterior": edited}), Path("fit.nc"), relations)


def test_a_batch_of_tables_with_different_runs_cuts_each_its_own(mock_pymc_sample):
    """One padded template for tables of 6 and 4 runs (names) and 5 (computes): each fit's
    posterior keeps its own runs' effects, and the sigma draws see them."""
    from bayescale.loss_fit import fit_loss_batch
    from bayescale.sampling import SamplerSettings

    frames = [_frame(3, 6), _frame(3, 4, seed=1), _frame(2, 5, names=False, seed=2)]
    datas = [load_loss_runs(f) for f in frames]
    settings = SamplerSettings(draws=20, tune=20, chains=2, progress=False)
    fits = fit_loss_batch(datas, SHARED, settings, allow_unconverged=True)
    for data, fit in zip(datas, fits, strict=True):
        posterior = fit.idata["posterior"]
        assert list(posterior["run_effect"]["shared_run"].values) == list(fitted_runs(data).labels)
        np.testing.assert_allclose(
            posterior["run_effect"].values,
            posterior["tau_run"].values[..., None] * posterior["z_run"].values,
        )
        assert "sigma" in posterior


def test_sigma_is_drawn_from_the_residuals_less_the_run_effects():
    """``add_scatter``: padded ``z_run`` entries cut, and sigma^2 | theta, delta, y drawn from
    InvGamma(alpha + n/2, beta + RSS/2) with the residuals less each row's run effect."""
    import xarray as xr

    from bayescale.loss_model import add_scatter, loss_pivot
    from bayescale.seeds import stream

    data = load_loss_runs(_frame())
    rng = np.random.default_rng(6)
    chains, draws, groups = 2, 5, 3
    level = rng.uniform(2.5, 3.5, (chains, draws, groups))
    reducible = rng.uniform(0.3, 0.7, (chains, draws, groups))
    exponent = rng.uniform(0.1, 0.3, (chains, draws, groups))
    tau, z = rng.uniform(0.002, 0.01, (chains, draws)), rng.normal(size=(chains, draws, 8))
    g = ("chain", "draw", "group")
    posterior = xr.Dataset(
        {
            "level": (g, level),
            "reducible": (g, reducible),
            "exponent": (g, exponent),
            "tau_run": (g[:2], tau),
            "z_run": (("chain", "draw", "z_run_dim_0"), z),  # padded: 8 entries, 6 runs
        }
    )
    tree = add_scatter(xr.DataTree.from_dict({"posterior": posterior}), data, SHARED, seed=3)
    out = tree["posterior"]
    assert out.sizes["shared_run"] == 6 and "z_run_dim_0" not in out.dims
    run = np.tile(np.arange(6), 3)
    i = data.group_index
    x = np.log(data.compute) - loss_pivot(data)
    mean = np.log(
        level[..., i] * (1 - reducible[..., i] + reducible[..., i] * np.exp(-exponent[..., i] * x))
    )
    residual = np.log(data.loss) - mean - tau[..., None] * z[..., run]
    rss = (residual**2).sum(axis=-1)
    alpha, beta = SHARED.scatter_shape, scatter_scale(SHARED)
    gamma = stream(3, "loss.sigma").gamma(alpha + 18 / 2, 1.0, size=rss.shape)
    np.testing.assert_allclose(out["sigma"].values, np.sqrt((beta + rss / 2) / gamma), rtol=1e-10)


def test_an_exact_loo_refit_that_would_leave_no_shared_run_is_skipped(monkeypatch):
    """Two groups sharing one compute: without that row no run is shared, so no refit."""
    import bayescale.forecast
    from bayescale.forecast import with_exact_loo

    frame = _frame(2, 5, names=False)
    frame.loc[frame["group"] == "g1", "compute"] *= [1.0, 1.1, 1.2, 1.3, 1.4]  # share r0 only
    data = load_loss_runs(frame)
    assert fitted_runs(data).shared == 1
    shape = (2, 10, 2)
    posterior = {
        "level": np.full(shape, 2.0),
        "reducible": np.full(shape, 0.5),
        "exponent": np.full(shape, 0.2),
        "sigma": np.full(shape[:2], 0.004),
        "tau_run": np.full(shape[:2], 0.004),
        "run_effect": np.zeros((*shape[:2], 9)),
    }
    fit = fake_loss_fit(data, posterior, SHARED)
    refits = []

    def refit(data, priors, settings):
        refits.append(data)
        return fit

    monkeypatch.setattr(bayescale.forecast, "loo_suspects", lambda fit, limit: [0])
    assert with_exact_loo(fit, refit=refit).exact_loo == {} and refits == []
    monkeypatch.setattr(bayescale.forecast, "loo_suspects", lambda fit, limit: [1])
    with_exact_loo(fit, refit=refit)
    assert len(refits) == 1


def test_runs_are_matched_on_the_fitted_rows_not_the_held_out_ones():
    # a held-out 'final-run' in every group chose 'name', then no fitted run was shared and
    # the refusal said no compute was shared, which was false
    frame = _frame(groups=2, names=False)
    final = pd.DataFrame(
        {"name": "final-run", "group": ["g0", "g1"], "compute": 1e20, "loss": [2.9, 3.1]}
    )
    data = load_loss_runs(pd.concat([frame, final], ignore_index=True), fit_max_compute=1e19)
    runs = shared_runs(data)
    assert runs.by == "compute" and runs.shared == 6
    assert runs.why == (
        "no run name appears in two groups among the fitted rows; compute 1e+17 is in g0 and g1"
    )
    named = fitted_runs(load_loss_runs(_frame(groups=4)))
    assert named.by == "name" and named.why == "'r0' appears in g0, g1 and 2 more groups"


def test_one_group_is_refused_without_suggesting_names_or_computes():
    with pytest.raises(InputError, match="a run effect needs two or more groups") as error:
        shared_runs(load_loss_runs(_frame(groups=1)))
    assert "same name" not in str(error.value)


def test_a_report_without_the_run_effect_lists_the_priors_it_listed_before(
    tmp_path, mock_pymc_sample
):
    # a default report.md printed ", shared_runs=False, run_effect_sd=0.01" in its priors line
    table = tmp_path / "runs.csv"
    _frame().to_csv(table, index=False)
    args = ["loss", str(table), "--target-compute", "1e20", "--allow-unconverged", *FAST]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    plain = (tmp_path / "plain" / "report.md").read_text()
    assert "- Likelihood: normal; priors: " in plain
    assert "shared_runs" not in plain and "run_effect_sd" not in plain
    assert main([*args, "--shared-runs", "--out", str(tmp_path / "shared")]) == 0
    shared = (tmp_path / "shared" / "report.md").read_text()
    assert "shared_runs=True, run_effect_sd=0.01" in shared


def test_the_summary_and_report_show_the_run_effect(tmp_path, mock_pymc_sample, capsys):
    # tau and the matching rule were only in the JSON
    table = tmp_path / "runs.csv"
    _frame().to_csv(table, index=False)
    args = ["loss", str(table), "--target-compute", "1e20", "--allow-unconverged"]
    out = tmp_path / "out"
    capsys.readouterr()
    assert main([*args, "--draws", "50", "--tune", "50", "--chains", "2", "--shared-runs"]) == 0
    printed = capsys.readouterr().out
    line = "Shared runs: matched by name ('r0' appears in g0, g1 and g2); 6 of 6 fitted runs"
    assert line in printed and "run effect sd tau " in printed
    assert main([*args, *FAST, "--shared-runs", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "- Shared runs: matched by name" in report and "own scatter sigma" in report
    assert main([*args, *FAST, "--out", str(tmp_path / "plain")]) == 0
    assert "Shared runs" not in (tmp_path / "plain" / "report.md").read_text()


def test_the_backtest_says_its_separate_fits_have_no_run_effect(mock_pymc_sample):
    from bayescale.backtest_report import backtest_document, backtest_markdown
    from bayescale.loss_backtest import backtest_loss_ratios
    from bayescale.sampling import SamplerSettings

    data = load_loss_runs(_frame(runs=8))
    settings = SamplerSettings(draws=20, tune=20, chains=2, progress=False)
    shared = backtest_loss_ratios(data, [4.0], priors=SHARED, settings=settings, n_boot=20)[0]
    note = backtest_document(shared)["baselines"]["separate_bayes"]["description"]
    assert "without the run effect of --shared-runs" in note
    assert "without the run effect" in backtest_markdown([shared])
    plain = backtest_loss_ratios(data, [4.0], priors=LossPriors(), settings=settings, n_boot=20)[0]
    assert (
        "run effect" not in backtest_document(plain)["baselines"]["separate_bayes"]["description"]
    )


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        # names reused by accident: g1's "r0" is the run g0 calls "r5"
        (
            lambda f: f.assign(
                name=np.where(
                    f["group"] == "g1",
                    "r" + (5 - f["name"].str[1:].astype(int)).astype(str),
                    f["name"],
                )
            ),
            "the rows named 'r0' lie at",
        ),
        # a name column left blank: every row one "run" across the ladder
        (lambda f: f.assign(name=""), "the rows without a run name lie at"),
    ],
    ids=["names-collide", "blank-names"],
)
def test_a_run_name_at_two_computes_is_refused(tmp_path, change, fragment):
    path = tmp_path / "runs.csv"
    change(_frame()).to_csv(path, index=False)
    with pytest.raises(InputError, match="one compute") as error:
        fitted_runs(load_loss_runs(path))
    assert fragment in str(error.value)


def test_check_refuses_a_shared_runs_spec_that_run_would_refuse(tmp_path, capsys):
    # 'bayescale check' said OK for [priors] shared_runs = true on a one-group table, which
    # 'bayescale run' refuses with exit 2 once the model is built
    _frame(groups=1).to_csv(tmp_path / "one.csv", index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'schema_version = 1\nlaw = "loss"\n[data]\npath = "one.csv"\n'
        "[forecast]\ntargets = [1e22]\n[priors]\nshared_runs = true\n"
    )
    assert main(["check", str(spec)]) == 2
    assert "the table has one group" in capsys.readouterr().err

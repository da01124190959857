"""L(N, D): reading, the law and its allocation against closed forms, forecasts on fake
posteriors, a mocked-sampler fit, the ``bayescale nd`` command end to end, and (slow) a real
fit that recovers the simulated optimum."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

import bayescale as bs
import bayescale.nd_pipeline
from bayescale.cli import main
from bayescale.decision import parse_requirement
from bayescale.errors import InputError
from bayescale.laws import nd_law, nd_law_pivot, nd_pivot_to_user
from bayescale.nd import (
    EPOCH_LAW,
    NDColumns,
    NDDraws,
    NDPriors,
    load_nd_runs,
    nd_split,
    optimal_allocation,
    optimal_draws,
    required_params,
    simulate_nd_runs,
)
from bayescale.nd_pipeline import far_warnings

FAST = ["--draws", "30", "--tune", "30", "--chains", "2", "--quiet"]


@pytest.fixture
def nd_runs() -> pd.DataFrame:
    return simulate_nd_runs(0, budgets=[1e18, 1e19, 1e20])


@pytest.fixture
def nd_csv(tmp_path, nd_runs):
    path = tmp_path / "runs.csv"
    nd_runs.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------- reading


def test_compute_defaults_to_6nd(nd_runs):
    data = load_nd_runs(nd_runs)
    assert np.allclose(data.compute, 6 * data.params * data.tokens)
    assert data.flops_per_param_token == pytest.approx(6.0)


def test_group_of_several_columns_reads_as_in_a_loss_table(nd_runs):
    """``--group-col a,b`` joins the columns' labels as the loss table does (it was refused)."""
    half = np.arange(len(nd_runs)) % 2
    runs = nd_runs.assign(corpus=np.where(half, "c4", "pile"), seed=1.0)
    data = load_nd_runs(runs, NDColumns(group="corpus,seed"))
    assert data.groups == ("pile/1", "c4/1")
    flops = runs.assign(compute=6 * runs["params"] * runs["tokens"])
    loss = bs.load_loss_runs(flops, bs.LossColumns(group="corpus,seed"))
    assert data.group.tolist() == loss.group.tolist()


def test_compute_column_sets_flops_per_param_token(nd_runs):
    runs = nd_runs.assign(flops=8.0 * nd_runs["params"] * nd_runs["tokens"])
    data = load_nd_runs(runs, NDColumns(compute="flops"))
    assert data.flops_per_param_token == pytest.approx(8.0)


def test_an_unread_compute_column_far_from_6nd_is_named(nd_runs):
    # a 'compute' column (MoE FLOPs, PF-days) was ignored without a word: budgets and
    # --fit-max-compute read 6*N*D while the user read the column
    none = np.array([])
    close = load_nd_runs(nd_runs.assign(compute=1.1 * 6 * nd_runs["params"] * nd_runs["tokens"]))
    assert far_warnings(close, none, none, none) == []  # 6*N*D give or take: not worth a word
    data = load_nd_runs(nd_runs.assign(compute=nd_runs["params"] * nd_runs["tokens"] / 1e3))
    (warning,) = far_warnings(data, none, none, none)
    assert "column 'compute' is not read" in warning
    assert "6e+03x" in warning and "--compute-col compute" in warning
    assert data.flops_per_param_token == pytest.approx(6.0)


def test_an_unread_compute_column_travels_with_the_result(nd_runs, tmp_path, mock_pymc_sample):
    # the warning was only logged while reading: the JSON document, report.md and a saved
    # fit's forecast said nothing of a compute column in PF-days (8.64e19x off 6*N*D)
    table = tmp_path / "runs.csv"
    pf_days = 6 * nd_runs["params"] * nd_runs["tokens"] / 8.64e19
    nd_runs.assign(compute=pf_days).to_csv(table, index=False)
    out, doc, again = tmp_path / "out", tmp_path / "nd.json", tmp_path / "again.json"
    args = ["nd", str(table), "--budget", "1e21", "--json", str(doc), "--out", str(out)]
    assert main([*args, "--allow-unconverged", "--seed", "1", *FAST]) == 0
    fragment = "column 'compute' is not read: compute is 6*N*D, which differs from it by up to "
    (warning,) = [w for w in json.loads(doc.read_text())["warnings"] if fragment in w]
    assert "8.64e+19x" in warning
    assert "column 'compute' is not read" in (out / "report.md").read_text()
    args = ["forecast", str(out / "fit.nc"), "--json", str(again), "--allow-unconverged"]
    assert main([*args, "--quiet"]) == 0
    assert warning in json.loads(again.read_text())["warnings"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda f: f.rename(columns={"tokens": "tokenz"}), "missing column 'tokens'"),
        (
            lambda f: f.assign(params=f["params"].astype(object).where(f.index != 2, "big")),
            "row 3 (line 4), column 'params': 'big' is not a number",
        ),
        (lambda f: f.assign(loss=f["loss"].where(f.index != 0, -1.0)), "must be > 0"),
        (lambda f: f.head(4), "has 4 distinct (params, tokens) pair(s)"),
        # a second group of one run says how to fit the first alone
        (
            lambda f: pd.concat([f.assign(group="a"), f.head(1).assign(group="b")]),
            "leave it out with --where \"group != 'b'\"",
        ),
        (lambda f: f.assign(params=1e8), "one value of 'params'"),
        # a Pythia-like ladder (every size on the same tokens) is pointed to `bayescale loss`
        (lambda f: f.assign(tokens=3e11), "varies only 'params' is a loss-against-compute"),
    ],
)
def test_bad_tables_name_file_row_and_column(tmp_path, nd_runs, change, fragment):
    path = tmp_path / "bad.csv"
    change(nd_runs).to_csv(path, index=False)
    with pytest.raises(InputError, match=None) as err:
        load_nd_runs(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_split_holds_out_above_the_cut(nd_runs):
    data = nd_split(load_nd_runs(nd_runs), 2e19)
    assert np.array_equal(data.held_out, data.compute > 2e19) and data.held_out.sum() == 7


# ---------------------------------------------------------------------------- the law


def test_pivot_form_is_the_user_form():
    rng = np.random.default_rng(0)
    log_pivot = (np.log(3e8), np.log(6e9))
    level, f, w, alpha, beta = 3.1, 0.4, 0.6, 0.33, 0.29
    E, A, B = nd_pivot_to_user(level, f, w, alpha, beta, log_pivot)
    ln_n, ln_d = rng.uniform(15, 25, 50), rng.uniform(18, 30, 50)
    pivot = nd_law_pivot(ln_n - log_pivot[0], ln_d - log_pivot[1], level, f, w, alpha, beta)
    assert np.allclose(pivot, nd_law(ln_n, ln_d, E, A, alpha, B, beta), rtol=1e-12)


@pytest.mark.parametrize("budget", [1e19, 1e22, 1e25])
def test_closed_form_optimum_minimises_the_law_along_the_budget(budget):
    law = EPOCH_LAW
    n_opt, d_opt = optimal_allocation(budget, law["A"], law["alpha"], law["B"], law["beta"])
    assert 6 * n_opt * d_opt == pytest.approx(budget)

    def along(u):
        return nd_law(u, np.log(budget / 6) - u, **law)

    best = minimize_scalar(along, bounds=(5, 40), method="bounded", options={"xatol": 1e-9})
    assert np.log(n_opt) == pytest.approx(best.x, abs=1e-4)
    # Hoffmann et al.'s published exponent: N* grows as C^(beta/(alpha+beta))
    n_10 = optimal_allocation(10 * budget, law["A"], law["alpha"], law["B"], law["beta"])[0]
    assert np.log10(n_10 / n_opt) == pytest.approx(law["beta"] / (law["alpha"] + law["beta"]))


def fake_draws(stretch: float = 0.0, samples: int = 3, sigma: float = 0.0) -> NDDraws:
    """Draws of Epoch's law written in pivot form (every sample the same law)."""
    law = EPOCH_LAW
    log_pivot = (np.log(1e8), np.log(2e9))
    n_term = law["A"] * np.exp(-law["alpha"] * log_pivot[0])
    d_term = law["B"] * np.exp(-law["beta"] * log_pivot[1])
    level = law["E"] + n_term + d_term
    full = np.ones((samples, 1))
    return NDDraws(
        level=level * full,
        reducible=(n_term + d_term) / level * full,
        share=n_term / (n_term + d_term) * full,
        alpha=law["alpha"] * full,
        beta=law["beta"] * full,
        sigma=np.full(samples, sigma),
        eps=np.zeros((samples, 1)),
        stretch_n=np.full(samples, stretch),
        stretch_d=np.full(samples, stretch),
        log_pivot=log_pivot,
        log_max_params=np.array([np.log(4e8)]),
        log_max_tokens=np.array([np.log(1e10)]),
        groups=("all",),
        kappa=6.0,
    )


def test_curve_is_the_law_without_discrepancy_and_stays_above_e_with_it():
    ln_n, ln_d = np.log([1e8, 1e10, 1e12]), np.log([1e9, 1e11, 1e13])
    law = nd_law(ln_n, ln_d, **EPOCH_LAW)
    assert np.allclose(fake_draws().curve(ln_n, ln_d)[0, 0], law)
    faster, slower = (
        fake_draws(0.5).curve(ln_n, ln_d)[0, 0],
        fake_draws(-0.4).curve(ln_n, ln_d)[0, 0],
    )
    assert faster[0] == pytest.approx(law[0])  # inside the data: no discrepancy
    assert np.all(faster[1:] < law[1:]) and np.all(slower[1:] > law[1:])
    assert np.all(faster > EPOCH_LAW["E"])


def test_optimal_draws_match_the_closed_form():
    budgets = np.array([1e20, 1e23])
    opt = optimal_draws(fake_draws(), budgets)
    law = EPOCH_LAW
    n_opt, d_opt = optimal_allocation(budgets, law["A"], law["alpha"], law["B"], law["beta"])
    assert np.allclose(opt["params"].values[0, 0], n_opt, rtol=1e-6)
    assert np.allclose(opt["tokens"].values[0, 0], d_opt, rtol=1e-6)
    assert np.allclose(opt["curve"].values[0, 0], nd_law(np.log(n_opt), np.log(d_opt), **law))


def test_optimal_draws_find_the_global_minimum_of_curves_with_two_minima():
    """Positive stretches make the loss along a budget non-convex, with two local minima on
    some curves; the grid and golden-section search still find the lowest (a dense search)."""
    rng = np.random.default_rng(0)
    samples = 300
    draws = fake_draws(0.0, samples=samples)
    draws = replace(
        draws,
        alpha=draws.alpha * np.exp(0.3 * rng.standard_normal((samples, 1))),
        beta=draws.beta * np.exp(0.3 * rng.standard_normal((samples, 1))),
        share=np.clip(draws.share + 0.2 * rng.standard_normal((samples, 1)), 0.05, 0.95),
        stretch_n=np.expm1(0.5 * rng.standard_normal(samples)),
        stretch_d=np.expm1(0.5 * rng.standard_normal(samples)),
    )
    budgets = np.logspace(18, 27, 4)
    opt = optimal_draws(draws, budgets)
    lo, hi = np.log(bayescale.nd.TOKENS_PER_PARAM_RANGE)
    two_minima = 0
    for j, budget in enumerate(budgets):
        ln_prod = np.log(budget / draws.kappa)
        u = np.linspace((ln_prod - hi) / 2, (ln_prod - lo) / 2, 20001)
        values = draws.curve(u, ln_prod - u)[:, 0, :]
        inner = (values[:, 1:-1] < values[:, :-2]) & (values[:, 1:-1] < values[:, 2:])
        two_minima += int((inner.sum(axis=1) > 1).sum())
        best = values.min(axis=1)
        assert np.all(opt["curve"].values[:, 0, j] <= best * (1 + 1e-9))
    assert two_minima > 0


def test_optimal_draws_minimise_the_law_with_its_discrepancy():
    draws = fake_draws(0.3)
    opt = optimal_draws(draws, [1e23])
    n = float(opt["params"].values[0, 0, 0])
    for factor in (0.97, 1.03):
        m = n * factor
        assert (
            draws.curve(np.log([m]), np.log([1e23 / 6 / m]))[0, 0, 0] > opt["curve"].values[0, 0, 0]
        )


def test_required_params_at_fixed_tokens_matches_the_closed_form():
    law, tokens, bar = EPOCH_LAW, 1e12, 2.3
    rule = parse_requirement("loss<=2.3")
    need = required_params(fake_draws(), rule, 0, tokens=tokens, search=(1e7, 1e13))
    exact = (law["A"] / (bar - law["E"] - law["B"] * tokens ** -law["beta"])) ** (1 / law["alpha"])
    assert need.params_at_confidence == pytest.approx(exact, rel=0.06)  # 40 points a decade
    assert need.params_at_confidence >= exact


def test_required_params_is_none_when_the_floor_is_above_the_bar():
    need = required_params(fake_draws(), parse_requirement("loss<=1.9"), 0, tokens=1e10)
    assert need.params_at_confidence is None and need.params_median is None


def test_priors_refuse_bad_scales():
    with pytest.raises(InputError, match="exponent_log_sd"):
        NDPriors(exponent_log_sd=0)
    with pytest.raises(InputError, match="discrepancy_exponent_sd"):
        NDPriors(discrepancy_exponent_sd=-1)


# ---------------------------------------------------------------------------- fits


def test_mocked_fit_has_the_law_parameters(nd_runs, mock_pymc_sample):
    from bayescale.nd import fit_nd, nd_loss_draws
    from bayescale.sampling import SamplerSettings

    runs = pd.concat(
        [nd_runs.assign(group="a"), nd_runs.assign(group="b", loss=nd_runs["loss"] + 0.1)]
    )
    data = load_nd_runs(runs)
    fit = fit_nd(
        data, settings=SamplerSettings(draws=20, tune=20, chains=2), allow_unconverged=True
    )
    for name in ("E", "A", "B", "alpha", "beta", "level"):
        assert fit.draws(name).shape == (40, 2)
    # prior draws (the mock) reach exponents whose A overflows: compare where it does not
    ok = (fit.draws("alpha") * fit.log_pivot[0] < 500) & (
        fit.draws("beta") * fit.log_pivot[1] < 500
    )
    names = ("level", "reducible", "share", "alpha", "beta")
    E, A, B = nd_pivot_to_user(*(fit.draws(n)[ok] for n in names), fit.log_pivot)
    assert ok.sum() > 10
    assert np.allclose(E, fit.draws("E")[ok]) and np.allclose(A, fit.draws("A")[ok])
    assert np.allclose(B, fit.draws("B")[ok])
    forecast = nd_loss_draws(fit, [1e9], [1e11])
    assert forecast["loss"].shape == (40, 2, 1)
    assert np.all(np.isfinite(forecast["loss"].values))
    # a forecast root other than the sampler's seed gives other predictive draws
    other = nd_loss_draws(replace(fit, forecast_seed=fit.settings.seed + 1), [1e9], [1e11])
    assert not np.array_equal(other["loss"], forecast["loss"])


def test_nd_command_end_to_end(nd_csv, tmp_path, mock_pymc_sample, capsys):
    out, doc = tmp_path / "out", tmp_path / "nd.json"
    code = main(
        [
            "nd",
            str(nd_csv),
            "--target",
            "1e9:4e11",
            "--target",
            "3e9:1e12",
            "--budget",
            "1e21",
            "--require",
            "loss<=2.4",
            "--json",
            str(doc),
            "--out",
            str(out),
            "--allow-unconverged",
            # the mock's prior draws can put alpha above 35, where A = ... exp(alpha ln N0)
            # overflows and the saved fit is refused as damaged (2 of seed 0's 60 draws); no
            # posterior comes near that
            "--seed",
            "1",
            *FAST,
        ]
    )
    assert code == 0
    result = json.loads(doc.read_text())
    assert result["kind"] == "nd" and len(result["targets"]) == 2
    target = result["targets"][0]
    assert target["compute"] == pytest.approx(6 * 1e9 * 4e11)
    assert set(target["loss"][0]) == {"group", "median", "lower", "upper", "mean"}
    optimum = result["optimal"][0]
    assert optimum["budget"] == 1e21 and set(optimum["params"]) == {"median", "lower", "upper"}
    assert all(t["decision"]["requirement"] == "loss<=2.4" for t in result["targets"])
    assert "decision" not in result and "diagnostics" in result
    # the §4 diagnostics block, the convergence ladder's steps with it
    assert [set(a) for a in result["diagnostics"]["attempts"]] == [{"what", "why", "seconds"}]
    names = {p.name for p in out.iterdir()}
    assert {"forecast.json", "report.md", "nd_contours.png", "nd_path.png", "fit.nc"} <= names
    assert "nd_path.png" in (out / "report.md").read_text()
    printed = capsys.readouterr().out
    assert "N*" in printed and "Diagnostics:" in printed  # as every law's command prints

    # bayescale forecast from the saved fit answers the same questions with the same numbers
    again = tmp_path / "again.json"
    args = ["forecast", str(out / "fit.nc"), "--target", "1e9:4e11", "--target", "3e9:1e12"]
    args += ["--budget", "1e21", "--require", "loss<=2.4", "--json", str(again)]
    assert main([*args, "--allow-unconverged", "--quiet"]) == 0
    repeated = json.loads(again.read_text())
    for key in ("targets", "optimal", "parameters", "held_out"):
        assert repeated[key] == result[key]
    # the saved run's own questions, when none are given; another seed, other draws
    assert (
        main(
            [
                "forecast",
                str(out / "fit.nc"),
                "--json",
                str(again),
                "--allow-unconverged",
                "--seed",
                "7",
                "--quiet",
            ]
        )
        == 0
    )
    other = json.loads(again.read_text())
    assert len(other["targets"]) == 2 and other["optimal"][0]["budget"] == 1e21
    assert other["targets"] != result["targets"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--target", "1e9x4e11"], "is not N:D"),
        (["--target", "1e9:-4"], "must be a positive number"),
        ([], "nothing to forecast"),
        (["--budget", "1e21", "--tokens-col", "toks"], "missing column 'toks'"),
        (
            ["--budget", ",".join(f"{1e21 + i * 1e17!r}" for i in range(1001))],
            "at most 1,000 together",
        ),
        (["--budget", "1e70"], "target compute 1e+70 is outside the range"),  # was answered
        (["--target", "1e40:1e40"], "target compute 6e+80 is outside the range"),
        # fitted N = D on every run, or a loss of N (the loss range let params through)
        (["--budget", "1e21", "--params-col", "tokens"], "named by both --params-col and --tok"),
        (["--budget", "1e21", "--loss-col", "params"], "named by both --params-col and --loss"),
    ],
)
def test_nd_command_refuses_bad_options(nd_csv, args, fragment, capsys, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("sampled")

    monkeypatch.setattr(bayescale.nd_pipeline, "fit_nd", no_fit)
    assert main(["nd", str(nd_csv), *args, *FAST]) == 2
    assert fragment in capsys.readouterr().err


def test_targets_and_budgets_below_the_data_are_warned(nd_runs):
    # --budget 1e-30 answered N* = 1.8e-17 parameters, and --target 1e5:1e5 a loss of 51,
    # without a word (only targets far beyond the data were warned)
    data = load_nd_runs(nd_runs)
    low = float(data.compute[data.fitted].min())
    none = np.array([])
    assert far_warnings(data, np.array([1e9]), np.array([2e10]), np.array([low])) == []
    (below,) = far_warnings(data, np.array([1e5]), np.array([1e5]), np.array([1e-30]))
    assert "2 target(s) or budget(s) lie below the smallest fitted run" in below
    assert "the lowest at 1e-30" in below and "backcast" in below
    assert len(far_warnings(data, none, none, np.array([1e-30, 1e6 * low * 1e6]))) == 2


@pytest.mark.slow
def test_real_fit_covers_the_simulated_optimum(nd_runs):
    from bayescale.nd import fit_nd
    from bayescale.sampling import SamplerSettings

    data = load_nd_runs(simulate_nd_runs(3))
    fit = fit_nd(data, settings=SamplerSettings(draws=500, tune=500, chains=2, seed=3))
    law = EPOCH_LAW
    truth = optimal_allocation(1e21, law["A"], law["alpha"], law["B"], law["beta"])[0]
    lower, upper = np.quantile(optimal_draws(fit, [1e21])["params"].values[:, 0, 0], [0.05, 0.95])
    assert lower <= truth <= upper
    assert replace(fit.priors) == NDPriors()


def test_requirement_names_its_group_when_there_are_several():
    from bayescale.nd_pipeline import nd_requirement

    with pytest.raises(InputError, match="name one"):
        nd_requirement("loss<=2.4", ("c4", "pile"))
    rule, group = nd_requirement("pile.loss<=2.4", ("c4", "pile"))
    assert group == 1 and rule.threshold == 2.4


def test_a_ladder_of_one_tokens_per_parameter_ratio_is_warned(nd_runs):
    # six sizes at 20 tokens a parameter: the N:D fit answered with N* spanning 1e10-8.6e11
    # at 1e24 FLOPs and no word that the split between the exponents was the prior's
    from bayescale.nd_pipeline import one_ratio_warnings

    size = np.logspace(8, 10, 6)
    runs = pd.DataFrame({"params": size, "tokens": 20 * size, "loss": 2 + 10 * size**-0.2})
    (warned,) = one_ratio_warnings(load_nd_runs(runs))
    assert "one tokens-per-parameter ratio (D/N = 20)" in warned
    assert one_ratio_warnings(load_nd_runs(nd_runs)) == []


def test_a_run_pasted_twice_is_warned(nd_runs):
    # an L(N, D) table pasted twice was fitted with every run counted twice, without a word
    # (loss tables were warned)
    data = load_nd_runs(pd.concat([nd_runs, nd_runs.iloc[[2]]], ignore_index=True))
    none = np.array([])
    repeats = [w for w in far_warnings(data, none, none, none) if "repeats" in w]
    assert len(repeats) == 1
    assert repeats[0].startswith(f"row {len(nd_runs) + 1} repeats row 3 exactly (N ")
    assert not any("repeats" in w for w in far_warnings(load_nd_runs(nd_runs), none, none, none))


def test_params_and_tokens_swapped_are_warned(nd_runs):
    # the columns the wrong way round (D < N on every run) were fitted without a word, N* and
    # D* swapped
    none = np.array([])
    swapped = nd_runs.rename(columns={"params": "tokens", "tokens": "params"})
    warned = [w for w in far_warnings(load_nd_runs(swapped), none, none, none) if "fewer" in w]
    assert len(warned) == 1 and "Check that the two columns are not swapped" in warned[0]
    assert not any(
        "fewer tokens" in w for w in far_warnings(load_nd_runs(nd_runs), none, none, none)
    )


def test_a_group_column_in_another_case_is_refused(nd_runs):
    runs = nd_runs.assign(Group="a")
    with pytest.raises(InputError, match="no column 'group', but a column 'Group'"):
        load_nd_runs(runs.drop(columns="group", errors="ignore"))


def test_targets_are_checked_against_each_groups_own_runs():
    # a budget inside 'small''s runs is 2 decades below every run of 'large'
    n = np.array([1e7, 2e7, 4e7, 8e7, 1.6e8, 1e10, 2e10, 4e10, 8e10, 1.6e11])
    table = pd.DataFrame(
        {
            "group": ["small"] * 5 + ["large"] * 5,
            "params": n,
            "tokens": np.array([20, 10, 20, 10, 20] * 2) * n,
            "loss": [4.0, 3.8, 3.6, 3.45, 3.3, 2.6, 2.5, 2.42, 2.36, 2.3],
        }
    )
    data = load_nd_runs(table)
    none = np.array([])
    (below,) = far_warnings(data, none, none, np.array([6 * 4e7 * 8e8]))
    assert "lie below the smallest fitted run of group 'large'" in below
    (far,) = far_warnings(data, none, none, np.array([6 * 1e10 * 2e11]))
    assert "beyond the largest fitted run of group 'small'" in far


@pytest.mark.parametrize("as_frame", [False, True])
def test_run_nd_takes_a_path_or_a_frame_as_run_loss_does(as_frame):
    # bs.run_nd(path_or_frame, ...) used to fail with AttributeError on .fit_max_compute
    import bayescale as bs

    path = str(Path(__file__).resolve().parents[1] / "models" / "data" / "demo_nd.csv")
    source = pd.read_csv(path) if as_frame else path
    with pytest.raises(InputError, match="cannot be parsed"):  # refused before sampling
        bs.run_nd(source, params=[1e9], tokens=[2e10], requirement="loss=2.5")


def test_a_planned_run_with_fewer_tokens_than_parameters_is_warned(nd_runs):
    # --target 2e12:7e9 (7e9:2e12 typed the wrong way round) was answered without a word
    data = load_nd_runs(nd_runs)
    low = float(data.compute[data.fitted].min())
    swapped = far_warnings(data, np.array([2e12, 1e9]), np.array([7e9, 2e10]), np.array([low]))
    assert any("1 planned run(s) have fewer tokens than parameters (N=2e+12" in w for w in swapped)
    assert not any(
        "fewer tokens" in w
        for w in far_warnings(data, np.array([7e9]), np.array([2e12]), np.array([low]))
    )

"""Backtests (issue 5): scoring, splits, least-squares baselines, the mocked pipeline and CLI.

Tiers 1-2 of STYLE.md: no real sampler here. Real backtests run in
``benchmarks/calibration_real.py`` and in the slow simulation study.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale.backtest_report import (
    BASELINES,
    backtest_from_document,
    backtests_document,
    calibration_markdown,
    calibration_rows,
)
from bayescale.backtest_scoring import (
    LEVELS,
    observed_coverage,
    sample_crps,
    score_draws,
    score_point,
    summarise_cases,
)
from bayescale.baselines import report_point_fit
from bayescale.cli import main
from bayescale.data import load_loss_runs
from bayescale.errors import InputError
from bayescale.loss_backtest import backtest_loss, loss_split
from bayescale.pass_backtest import backtest_pass, pass_split
from bayescale.pass_data import load_pass_aggregate, load_pass_counts
from bayescale.point_fits import (
    bootstrap_loss,
    bootstrap_pass_problems,
    fit_loss_lsq,
)
from bayescale.sampling import SamplerSettings
from bayescale.simulate import DEMO_TRUTH, simulate_pass_counts

ROOT = Path(__file__).resolve().parents[1]
MOCK = SamplerSettings(draws=50, tune=50, seed=0, progress=False)

# ----------------------------------------------------------------------------- scoring


def test_sample_crps_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(40, 3))
    truth = np.array([0.0, 1.5, -3.0])
    brute = np.abs(draws - truth).mean(axis=0) - 0.5 * np.abs(
        draws[:, None, :] - draws[None, :, :]
    ).mean(axis=(0, 1))
    np.testing.assert_allclose(sample_crps(draws, truth), brute, rtol=1e-12)


def test_score_draws_coverage_pit_and_errors():
    draws = np.tile(np.linspace(0.0, 2.0, 2001)[:, None], (1, 3))  # uniform on [0, 2]
    truth = np.array([1.0, 1.85, 1.99])
    s = score_draws(truth, draws, interval=0.9)
    np.testing.assert_allclose(s["pit"], [0.5, 0.925, 0.995], atol=1e-3)
    # central intervals: 50% = [0.5, 1.5], 80% = [0.2, 1.8], 90% = [0.1, 1.9]
    assert s["covered_0.5"].tolist() == [True, False, False]
    assert s["covered_0.8"].tolist() == [True, False, False]
    assert s["covered_0.9"].tolist() == [True, True, False]
    assert s["covered"].tolist() == s["covered_0.9"].tolist()
    np.testing.assert_allclose(s["rel_error"], 1.0 / truth - 1)
    np.testing.assert_allclose(s["rel_width"], 1.8, atol=1e-3)
    # the coverage read from pit agrees with the quantile intervals
    np.testing.assert_allclose(observed_coverage(s, np.array(LEVELS)), [1 / 3, 1 / 3, 2 / 3])


def test_point_scores_have_no_interval_and_crps_is_abs_error():
    s = score_point(np.array([2.0, 4.0]), np.array([2.2, 3.0]))
    np.testing.assert_allclose(s["crps"], [0.2, 1.0])
    summary = summarise_cases(s)
    assert summary["coverage"] == {"0.5": None, "0.8": None, "0.9": None}
    assert summary["median_rel_width"] is None
    assert summary["median_abs_rel_error"] == pytest.approx(0.175)
    json.dumps(summary, allow_nan=False)


# ----------------------------------------------------------------------------- point fits


def test_lsq_loss_fit_recovers_a_noiseless_curve_and_extrapolates():
    truth = DEMO_TRUTH["web"]
    c = np.logspace(17, 20, 10)
    fit = fit_loss_lsq(c, truth(c))
    _, b, floor = fit.abc
    assert b == pytest.approx(truth.b, rel=1e-4) and floor == pytest.approx(truth.c, rel=1e-4)
    np.testing.assert_allclose(fit.predict([1e23]), truth(1e23), rtol=1e-5)


def test_bootstrap_intervals_cover_a_slightly_noisy_truth():
    truth = DEMO_TRUTH["code"]
    rng = np.random.default_rng(1)
    c = np.logspace(17, 20, 12)
    loss = truth(c) * np.exp(0.003 * rng.standard_normal(c.size))
    preds = bootstrap_loss(c, loss, np.array([1e21]), n_boot=100, seed=0)
    assert preds.shape == (100, 1)
    lo, hi = np.quantile(preds[:, 0], [0.01, 0.99])
    assert lo < hi  # resampling moves the curve
    assert abs(np.median(preds) / truth(1e21) - 1) < 0.02


def test_bootstrap_redraws_resamples_that_cannot_identify_the_law():
    # three distinct computes: every usable resample is a permutation of the data
    c = np.array([1e18, 1e19, 1e20])
    loss = DEMO_TRUTH["web"](c)
    preds = bootstrap_loss(c, loss, np.array([1e21]), n_boot=20, seed=0)
    np.testing.assert_allclose(preds, preds[0, 0], rtol=1e-6)


def test_pass_point_fit_baseline_agrees_with_the_report_method():
    table, _ = simulate_pass_counts(n_models=5, n_problems=60, samples=100, seed=3)
    counts = load_pass_counts(table)
    split, fit_max, _ = pass_split(counts, 3.0)
    assert split.models.held_out.sum() >= 1
    from bayescale.pass_backtest import _pass_lsq_counts

    scored = _pass_lsq_counts(split, 3, 0, fit_max, 0.9, 20, seed=0)
    point = scored["report_point_fit"]
    report = report_point_fit(split, split.models.compute[split.models.held_out], n_buckets=3)
    np.testing.assert_allclose(np.sort(point["median"]), np.sort(report["neg_log_pass"]))
    assert scored["lsq_bootstrap"]["pit"].notna().all()


def test_problem_bootstrap_shape():
    rng = np.random.default_rng(0)
    neg_log = rng.gamma(2.0, 1.0, size=(4, 30))
    preds = bootstrap_pass_problems(np.logspace(20, 23, 4), neg_log, np.array([1e24, 1e25]), 50)
    assert preds.shape == (50, 2) and np.all(preds > 0)


# ----------------------------------------------------------------------------- splits


def _runs() -> pd.DataFrame:
    rows = []
    for g, top in (("a", 1e21), ("b", 1e21), ("short", 1e19)):
        for c in np.logspace(17, np.log10(top), 9):
            rows.append({"group": g, "compute": c, "loss": float(DEMO_TRUTH["web"](c))})
    return pd.DataFrame(rows)


def test_loss_split_cuts_each_group_and_skips_groups_without_three_computes():
    data = load_loss_runs(_runs())
    split, fit_max, skipped = loss_split(data, 100.0)
    assert skipped == ("short",) and split.groups == ("a", "b")
    for g in ("a", "b"):
        sel = split.group == g
        assert fit_max[g] <= 1e21 / 100
        assert split.compute[sel & ~split.held_out].max() == fit_max[g]
        assert split.held_out[sel].sum() == 4  # 1e19.5 ... 1e21
    with pytest.raises(InputError, match="no group has runs at 3 distinct computes"):
        loss_split(data, 1e4)
    with pytest.raises(InputError, match="--ratio must be > 1"):
        loss_split(data, 1.0)


def test_aggregate_split_is_per_bucket_for_families():
    rows = []
    for fam, base in (("small", 1e20), ("big", 1e23)):
        for i in range(5):
            c = base * 3.0**i
            rows.append(
                {"model": f"{fam}{i}", "compute": c, "bucket": fam, "pass_rate": 0.1 + i / 20}
            )
    data = load_pass_aggregate(pd.DataFrame(rows))
    split, fit_max, skipped = pass_split(data, 4.0)
    assert skipped == () and set(fit_max) == {"small", "big"}
    held = dict(zip(split.models.names, split.models.held_out, strict=True))
    # each family keeps its three smallest sizes (max / 4 = 81/4 > 9 base) and holds out two
    assert [held[f"small{i}"] for i in range(5)] == [False] * 3 + [True] * 2
    assert [held[f"big{i}"] for i in range(5)] == [False] * 3 + [True] * 2


# ----------------------------------------------------------------------------- mocked fits


def test_mocked_loss_backtest_document(demo_runs, mock_pymc_sample):
    data = load_loss_runs(demo_runs)
    bt = backtest_loss(data, 30.0, settings=MOCK, n_boot=20)
    assert set(bt.baselines) == set(BASELINES)
    n_held = int((demo_runs["compute"] > demo_runs["compute"].max() / 30).sum())
    assert len(bt.cases) == n_held
    for cases in bt.baselines.values():
        assert sorted(cases["case"]) == sorted(bt.cases["case"])
    doc = backtests_document([bt])
    json.dumps(doc, allow_nan=False)
    assert doc["kind"] == "loss" and doc["ratio"] == 30.0
    assert set(doc["coverage"]) == {"0.5", "0.8", "0.9"}
    case = doc["cases"][0]
    assert {"case", "target_compute", "truth", "median", "lower", "upper", "covered"} <= set(case)
    assert case["extrapolation"] > 1
    point = doc["baselines"]["report_point_fit"]
    assert point["coverage"]["0.9"] is None and point["median_abs_rel_error"] > 0
    assert doc["diagnostics"]["separate_bayes"]["fits"] == 3
    again = backtest_from_document(json.loads(json.dumps(doc)))
    pd.testing.assert_frame_equal(again.summary(), bt.summary())
    rows = calibration_rows({"demo": [bt]})
    table = calibration_markdown(rows)
    assert table.count("\n") == 3 and "| demo " in table and "pooled" in table


def test_mocked_pass_backtest_scores_buckets_and_baselines(mock_pymc_sample):
    table, _ = simulate_pass_counts(n_models=5, n_problems=60, samples=100, seed=3)
    bt = backtest_pass(load_pass_counts(table), 3.0, n_buckets=3, settings=MOCK, n_boot=20)
    quantities = {c.split(":", 1)[1] for c in bt.cases["case"]}
    assert quantities == {"pass_rate", "neg_log_pass[1]", "neg_log_pass[2]", "neg_log_pass[3]"}
    separate = {c.split(":", 1)[1] for c in bt.baselines["separate_bayes"]["case"]}
    assert separate == quantities - {"pass_rate"}
    assert bt.diagnostics["separate_bayes"]["fits"] == 3
    json.dumps(backtests_document([bt]), allow_nan=False)


def test_cli_backtest_several_ratios(demo_csv, tmp_path, mock_pymc_sample, capsys):
    doc, out = tmp_path / "bt.json", tmp_path / "bt"
    # a ratio given twice is backtested once (10,100,10 fitted and listed 10 twice)
    args = ["backtest", "loss", str(demo_csv), "--ratio", "10,100", "--ratio", "10"]
    args += ["--json", str(doc)]
    args += ["--out", str(out), "--no-baselines", "--draws", "50", "--tune", "50"]
    code = main([*args, "--quiet", "--allow-unconverged"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(doc.read_text())
    assert result["ratios"] == [10.0, 100.0]
    assert [d["ratio"] for d in result["backtests"]] == [10.0, 100.0]
    assert result["backtests"][0]["baselines"] == {}
    assert {p.name for p in out.iterdir()} == {"backtest.json", "backtest.md", "calibration.png"}
    assert "| 100 | bayescale |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--ratio", "1"], "--ratio must be > 1"), (["--ratio", "1e9"], "Use a smaller ratio")],
)
def test_cli_backtest_bad_ratio_exits_2(demo_csv, capsys, args, fragment):
    assert main(["backtest", "loss", str(demo_csv), *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("kind", "args", "named"),
    [
        ("loss", ["--buckets", "3", "--exclude-hardest", "5"], "--buckets (pass only), "),
        ("loss", ["--exclude-hardest", "5"], "--exclude-hardest (pass only): leave it out"),
        ("pass", ["--likelihood", "student_t"], "--likelihood (loss, nd only)"),
        ("accuracy", ["--likelihood", "student_t"], "--likelihood (loss, nd only)"),
        ("nd", ["--no-baselines", "--bootstrap", "50"], "--bootstrap (loss, pass only)"),
        ("pass", ["--chance", "a=0.2", "--axis", "compute"], "--chance (accuracy only), --axis"),
        ("pass", ["--loss-col", "val"], "--loss-col (loss, nd only)"),
    ],
)
def test_cli_backtest_refuses_options_of_other_kinds(demo_csv, capsys, kind, args, named):
    # --buckets and --exclude-hardest were ignored by a loss backtest, --likelihood by every
    # kind but loss (nd takes it too); --chance, --floor and --axis alone were refused
    assert main(["backtest", kind, str(demo_csv), "--ratio", "10", *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"'bayescale backtest {kind}' does not take" in err and named in err


def test_backtest_kind_options_name_each_kinds_columns():
    from dataclasses import fields

    from bayescale.accuracy_data import AccuracyColumns
    from bayescale.cli import BACKTEST_KIND_OPTIONS
    from bayescale.data import LossColumns
    from bayescale.nd_data import NDColumns
    from bayescale.pass_data import PassColumns

    classes = {"loss": LossColumns, "pass": PassColumns, "nd": NDColumns}
    classes["accuracy"] = AccuracyColumns
    taken = {"compute"} | {d.removesuffix("_col") for d in BACKTEST_KIND_OPTIONS}
    for kind, cls in classes.items():
        allowed = {"compute"} | {
            d.removesuffix("_col")
            for d, kinds in BACKTEST_KIND_OPTIONS.items()
            if d.endswith("_col") and kind in kinds
        }
        assert allowed == {f.name for f in fields(cls)} & taken, kind


def test_each_commands_column_options_are_its_laws_columns():
    # the --*-col options were written per command; a column added to a law's dataclass
    # could be missing from its command (or from backtest) and not be renamable
    from dataclasses import fields

    from bayescale.accuracy_data import AccuracyColumns
    from bayescale.cli import COLUMN_OPTIONS, build_parser
    from bayescale.data import LossColumns
    from bayescale.nd_data import NDColumns
    from bayescale.pass_data import PassColumns

    classes = {"loss": LossColumns, "pass": PassColumns, "nd": NDColumns}
    classes["accuracy"] = AccuracyColumns
    assert COLUMN_OPTIONS.keys() == classes.keys()
    parser = build_parser()
    for kind, cls in classes.items():
        names = {f.name for f in fields(cls)} - {"loss_sd"}  # bayescale loss only
        assert set(COLUMN_OPTIONS[kind]) == names, kind
        args = parser.parse_args(
            [kind, "t.csv"] + ([] if kind == "nd" else ["--target-compute", "1e22"])
        )
        assert {d.removesuffix("_col") for d in vars(args) if d.endswith("_col")} >= names
        args = parser.parse_args(["backtest", kind, "t.csv", "--ratio", "10"])
        assert {d.removesuffix("_col") for d in vars(args) if d.endswith("_col")} >= names


@pytest.mark.parametrize(
    ("kind", "given", "read"),
    [("nd", [], None), ("nd", ["--compute-col", "compute"], "compute"), ("loss", [], "compute")],
)
def test_backtest_nd_reads_a_compute_column_when_named(monkeypatch, kind, given, read):
    # load_nd_runs advises "--compute-col compute" for a compute column far from 6*N*D, but
    # bayescale backtest nd took "compute" for its default and read 6*N*D
    import bayescale.backtest
    from bayescale.errors import InputError

    seen = []

    def load(kind, file, columns, **options):
        seen.append(columns)
        raise InputError("read no table")

    monkeypatch.setattr(bayescale.backtest, "load_for_backtest", load)
    assert main(["backtest", kind, "t.csv", "--ratio", "10", *given, "--quiet"]) == 2
    assert seen[0].compute == read


def test_backtest_report_names_only_the_baselines_that_ran():
    from bayescale.backtest_report import Backtest, backtest_markdown

    cases = pd.DataFrame(columns=["case", "truth", "median", "lower", "upper", "covered"])

    def report(baselines: dict[str, pd.DataFrame], kind: str = "loss") -> str:
        bt = Backtest(kind, 10.0, "runs.csv", 0.9, cases, baselines, {"all": 1e20})
        return backtest_markdown([bt])

    assert "Baselines:" not in report({}, "nd")  # nd has none; --no-baselines runs none
    text = report({"lsq_bootstrap": cases})
    assert "Baselines: `lsq_bootstrap`:" in text and "report_point_fit" not in text


# ----------------------------------------------------------------------------- README


def test_readme_table_matches_calibration_json():
    path = ROOT / "benchmarks" / "results" / "calibration.json"
    if not path.is_file():
        pytest.skip("benchmarks/results/calibration.json not written yet (make bench)")
    document = json.loads(path.read_text())
    readme = (ROOT / "README.md").read_text()
    assert calibration_markdown(document["summary"]) in readme


@pytest.mark.parametrize("kind", ["nd", "accuracy"])
def test_laws_without_baselines_refuse_baseline_keywords(kind):
    """A typo or a baseline keyword was silently ignored by the nd and accuracy backtests."""
    from bayescale.registry import get_law

    with pytest.raises(TypeError, match="n_boot"):
        get_law(kind).backtest(None, [10.0], n_boot=100)

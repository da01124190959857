"""The accuracy law with a chance floor: table validation, the law, the model, the command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayescale.accuracy import (
    accuracy_draws,
    fit_accuracy,
    leave_largest_out,
    simulate_accuracy_table,
)
from bayescale.accuracy_data import (
    DEFAULT_CHANCE,
    AccuracyColumns,
    AccuracyPriors,
    accuracy_from_transformed,
    accuracy_law,
    benchmark_key,
    load_accuracy_table,
    parse_chance,
    transformed_accuracy,
)
from bayescale.accuracy_forecast import accuracy_target_warnings, target_ladders
from bayescale.accuracy_pipeline import (
    AccuracyOptions,
    accuracy_requirement,
    result_from_accuracy_fit,
)
from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.sampling import SamplerSettings

FAST = ["--draws", "50", "--tune", "50", "--chains", "2", "--quiet"]
OBSSCALING = Path(__file__).resolve().parents[2] / "shared/data/obsscaling_base_llm"


@pytest.fixture
def table() -> pd.DataFrame:
    return simulate_accuracy_table(seed=3)


def _csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "acc.csv"
    frame.to_csv(path, index=False)
    return path


# --- the table ---------------------------------------------------------------------------------


def test_load_reads_labels_chance_defaults_and_ladders(table):
    data = load_accuracy_table(table)
    assert data.families == ("alpha", "beta", "gamma")
    assert data.benchmarks == ("mmlu", "gsm8k", "winogrande")
    assert data.chance.tolist() == [0.25, 0.0, 0.5]
    assert data.chance_source == ("default",) * 3
    assert len(data.ladders()) == 9 and data.sizes("beta", "mmlu") == 4
    assert not data.held_out.any()


def test_a_chance_column_in_another_case_or_renamed_away_is_refused(table):
    # 'Chance' beside the default 'chance', or --chance-col naming no column, were ignored:
    # gsm8k's floor silently 0 instead of the table's 0.1.
    table = table.assign(Chance=np.where(table["benchmark"] == "gsm8k", 0.1, np.nan))
    with pytest.raises(InputError, match="no column 'chance', but a column 'Chance'"):
        load_accuracy_table(table)
    assert (
        load_accuracy_table(table, columns=AccuracyColumns(chance="Chance")).chance.tolist()[1]
        == 0.1
    )
    with pytest.raises(InputError, match=r"missing column 'floor'.*--chance-col"):
        load_accuracy_table(table, columns=AccuracyColumns(chance="floor"))


def test_leaderboard_names_with_shot_counts_know_their_chance_rates(table):
    # The Open LLM Leaderboard's 'MMLU (5-shot)' and 'ARC' had their floors learned.
    names = {"mmlu": "MMLU (5-shot)", "winogrande": "Winogrande (5-shot)", "gsm8k": "ARC"}
    data = load_accuracy_table(table.assign(benchmark=table["benchmark"].replace(names)))
    assert data.benchmarks == ("MMLU (5-shot)", "ARC", "Winogrande (5-shot)")
    assert data.chance.tolist() == [0.25, 0.25, 0.5]
    assert data.chance_source == ("default",) * 3


def test_chance_option_overrides_column_and_default(table):
    table = table.assign(chance=np.where(table["benchmark"] == "gsm8k", 0.1, np.nan))
    data = load_accuracy_table(table, chance={"mmlu": 0.2})
    assert data.chance.tolist() == [0.2, 0.1, 0.5]
    assert data.chance_source == ("option", "column", "default")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="family"), "missing column 'family'"),
        (
            lambda t: t.assign(accuracy=t["accuracy"].where(t.index != 4, 1.2)),
            r"row 5 \(line 6\), column .accuracy.",
        ),
        (lambda t: t.assign(compute=t["compute"].where(t.index != 2, -1)), "must be > 0"),
        (lambda t: t.assign(family=t["family"].where(t.index != 1, "")), "label is missing"),
        (lambda t: pd.concat([t, t.iloc[[0]]]), "appears twice"),
        (lambda t: t.assign(n_questions=2.5), "not a number of questions"),
        (
            lambda t: t.assign(chance=np.where(t.index == 3, 0.3, 0.25)).query(
                "benchmark == 'mmlu'"
            ),
            "differs from",
        ),
    ],
)
def test_bad_tables_name_file_row_and_column(tmp_path, table, change, message):
    path = _csv(tmp_path, change(table))
    with pytest.raises(InputError, match=message) as err:
        load_accuracy_table(path)
    assert str(path) in str(err.value)


def test_a_wide_table_of_one_column_per_benchmark_says_how_to_melt_it(tmp_path, table):
    # a leaderboard export (model, family, compute, mmlu, gsm8k, ...) was met with a bare
    # "missing column 'benchmark'"
    wide = table.pivot_table(
        index=["model", "family", "compute"], columns="benchmark", values="accuracy"
    ).reset_index()
    wide.loc[0, "gsm8k"] = np.nan  # a benchmark one model was not run on: an empty cell
    with pytest.raises(InputError) as err:
        load_accuracy_table(_csv(tmp_path, wide))
    message = str(err.value)
    assert "the table looks wide" in message and "(gsm8k, mmlu, winogrande)" in message
    advice = "id_vars=['model', 'family', 'compute'], var_name='benchmark', value_name='accuracy'"
    assert f"table.melt({advice})" in message
    long = wide.melt(id_vars=["model", "family", "compute"], var_name="benchmark").dropna()
    assert len(load_accuracy_table(long.rename(columns={"value": "accuracy"})).benchmarks) == 3
    with pytest.raises(InputError, match="missing column 'benchmark'"):  # no scores: no hint
        load_accuracy_table(table.drop(columns=["benchmark", "accuracy"]))
    # the Observational Scaling Laws table: sizes and FLOPs beside the scores, other names
    leaderboard = wide.rename(columns={"model": "Model", "family": "Model Family"}).assign(
        **{"Model Size (B)": 7.0, "FLOPs (1E21)": 84.0}
    )
    with pytest.raises(InputError, match=r"per benchmark \(gsm8k, mmlu, winogrande\)"):
        load_accuracy_table(leaderboard)
    counts = pd.DataFrame(  # a per-problem pass table: its n and k are not benchmarks
        {"model": ["a"], "family": ["f"], "compute": [1e20], "problem": ["p"], "n": [5], "k": [1]}
    )
    with pytest.raises(InputError, match="missing column 'benchmark'"):
        load_accuracy_table(counts)


def test_a_model_has_one_compute(tmp_path, table):
    table.loc[1, "compute"] = table.loc[1, "compute"] * 2  # alpha-2 on mmlu only
    table.loc[1, "model"] = table.loc[0, "model"]
    table.loc[0, "benchmark"] = "other"
    with pytest.raises(InputError, match="has compute"):
        load_accuracy_table(_csv(tmp_path, table), chance={"other": 0.0})


def test_a_table_of_sizes_and_tokens_without_compute_takes_compute_as_6nd(table, caplog):
    # Llama-2's published MMLU table (params, tokens, accuracy) was refused for its missing
    # compute column, though bayescale nd takes compute = 6·N·D from the same two columns
    n = table["compute"].to_numpy() / 6 / 2e10
    sized = table.drop(columns="compute").assign(params=n, tokens=2e10)
    with caplog.at_level("INFO", logger="bayescale"):
        data = load_accuracy_table(sized)
    np.testing.assert_allclose(data.compute, table["compute"].to_numpy(), rtol=1e-12)
    assert "training compute is 6 * params * tokens" in caplog.text
    # a size missing on a row names it and why it is needed
    gap = sized.astype({"params": object})
    gap.loc[4, "params"] = ""
    with pytest.raises(InputError, match=r"row 5.*column 'params'.*no 'compute' column"):
        load_accuracy_table(gap)
    # a renamed compute column that is not there is still refused, with the 6·N·D hint
    with pytest.raises(InputError, match=r"missing column 'flops'.*6 \* params \* tokens"):
        load_accuracy_table(sized, columns=AccuracyColumns(compute="flops"))


def test_a_model_has_one_family(tmp_path, table):
    # a model listed under two families was fitted as a size of both, without a word
    table.loc[1, "family"] = "beta" if table.loc[1, "family"] != "beta" else "alpha"
    path = _csv(tmp_path, table)
    with pytest.raises(InputError, match="is in family") as err:
        load_accuracy_table(path)
    message = str(err.value)
    assert "row 7 (line 8), column 'family': model 'alpha-2' is in family 'alpha'" in message
    assert "'beta' in " in message and "row 2 (line 3)." in message
    assert "A model belongs to one family" in message


def test_parse_chance_and_unknown_benchmark(table):
    assert parse_chance(["mmlu=0.25", " arc = 0 "]) == {"mmlu": 0.25, "arc": 0.0}
    for bad in ("mmlu", "mmlu=1", "=0.2", "mmlu=x"):
        with pytest.raises(InputError, match="BENCHMARK=RATE"):
            parse_chance([bad])
    with pytest.raises(InputError, match="Did you mean 'mmlu'"):
        load_accuracy_table(table, chance={"mmmlu": 0.25})


def test_accuracy_falling_with_compute_is_warned(table):
    # Error rates in the accuracy column gave a forecast with no warning.
    targets = np.array([table["compute"].max() * 2])
    family = table["family"].iloc[0]
    data = load_accuracy_table(table, chance={"mmlu": 0.25})
    assert not any("falls" in w for w in accuracy_target_warnings(data, targets, family))
    flipped = load_accuracy_table(
        table.assign(accuracy=1 - table["accuracy"]), chance={"mmlu": 0.25}
    )
    falling = [w for w in accuracy_target_warnings(flipped, targets, family) if "falls" in w]
    assert falling and falling[0].startswith(f"{family} on ")
    assert "not error rates" in falling[0]


def test_a_row_at_zero_well_under_chance_is_a_failed_evaluation(table):
    # alpha-4 at 0.0 on MMLU (chance 0.25) was fitted without a word: the fit passed and the
    # alpha/mmlu 90% interval at 1e24 widened from [0.51, 0.66] to [0.28, 0.83]
    targets = np.array([1e24])
    zero = (table["model"] == "alpha-4") & (table["benchmark"] == "mmlu")
    data = load_accuracy_table(table.assign(accuracy=table["accuracy"].mask(zero, 0.0)))
    (failed,) = [w for w in accuracy_target_warnings(data, targets) if "failed" in w]
    assert failed.startswith("alpha-4 on mmlu: accuracy 0, where guessing scores 0.25")
    assert "a failed evaluation?" in failed and "--where" in failed
    # every family's rows are checked, also with --family naming another
    assert any("failed" in w for w in accuracy_target_warnings(data, targets, "beta"))
    # 0 on a benchmark whose chance is 0 (gsm8k), or within noise of 0.25 (4 questions), is not
    gsm8k = (table["model"] == "alpha-1") & (table["benchmark"] == "gsm8k")
    for frame in (
        table.assign(accuracy=table["accuracy"].mask(gsm8k, 0.0)),
        table.assign(accuracy=table["accuracy"].mask(zero, 0.0), n_questions=4),
    ):
        warned = accuracy_target_warnings(load_accuracy_table(frame), targets)
        assert not any("failed" in w for w in warned)


def test_a_ladder_at_the_ceiling_is_warned(table):
    # winogrande at 1.0 for every model forecast 0.999 [0.992, 1.000] at 1e24 without a word
    targets = np.array([1e24])
    wino = table["benchmark"] == "winogrande"
    data = load_accuracy_table(table.assign(accuracy=table["accuracy"].mask(wino, 1.0)))
    saturated = [w for w in accuracy_target_warnings(data, targets, "alpha") if "ceiling" in w]
    (warning,) = saturated
    assert warning.startswith("alpha on winogrande: every fitted model scores >= 0.99")
    assert "saturated" in warning and "cannot rise" in warning
    assert len([w for w in accuracy_target_warnings(data, targets) if "ceiling" in w]) == 3
    # one model below 0.99 is a ladder still rising
    below = wino & (table["model"] == "alpha-1")
    rising = table.assign(accuracy=table["accuracy"].mask(wino, 1.0).mask(below, 0.98))
    warned = accuracy_target_warnings(load_accuracy_table(rising), targets, "alpha")
    assert not any("ceiling" in w for w in warned)


def test_parse_chance_refuses_two_floors_for_one_benchmark():
    # The last of "--chance mmlu=0.25 --chance mmlu=0.3" used to win silently.
    assert parse_chance(["mmlu=0.25", "mmlu=0.25"]) == {"mmlu": 0.25}
    for pair in (["mmlu=0.25", "mmlu=0.3"], ["mmlu=learn", "mmlu=0.25"]):
        with pytest.raises(InputError, match="benchmark 'mmlu' two floors"):
            parse_chance(pair)


@pytest.mark.parametrize("twin", ["MMLU", "Mmlu", "m-mlu"])
def test_benchmark_labels_differing_only_in_case_are_refused(tmp_path, table, twin, capsys):
    # 'mmlu' and 'MMLU' rows were fitted as two benchmarks, while the default chance rates
    # and --require 'mmlu.accuracy>=…' read both as one
    if twin == "m-mlu":  # benchmark_key reads '-' and spaces as '_': 'm_mlu' is its own name
        table.loc[table["benchmark"] == "mmlu", "benchmark"] = "m_mlu"
        first = "m_mlu"
    else:
        first = "mmlu"
    rows = table.index[table["benchmark"] == first]
    table.loc[rows[len(rows) // 2 :], "benchmark"] = twin
    path = _csv(tmp_path, table)
    with pytest.raises(InputError, match=f"benchmark '{twin}' and '{first}'") as err:
        load_accuracy_table(path)
    assert "differ only in case, spaces or dashes" in str(err.value) and str(path) in str(err.value)
    assert main(["accuracy", str(path), "--target-compute", "1e24", "--quiet"]) == 2
    assert "Spell each benchmark one way" in capsys.readouterr().err


def test_chance_names_match_benchmarks_as_rules_do(table):
    # --chance MMLU=0.2 was refused as an unknown benchmark while --require MMLU.accuracy and
    # the defaults read it as 'mmlu'
    data = load_accuracy_table(table, chance={"MMLU": 0.2})
    assert data.benchmarks[0] == "mmlu" and data.chance[0] == 0.2
    assert data.chance_source[0] == "option"
    assert parse_chance(["mmlu=0.25", "MMLU=0.25"]) == {"mmlu": 0.25}
    with pytest.raises(InputError, match=r"'MMLU' two floors, 0.25 \(as 'mmlu'\) and 0.3"):
        parse_chance(["mmlu=0.25", "MMLU=0.3"])
    with pytest.raises(InputError, match="two floors"):
        load_accuracy_table(table, chance={"mmlu": 0.25, "MMLU": 0.3})


def test_default_chance_keys_match_their_names():
    assert benchmark_key("ARC-C") == "arc_c" and DEFAULT_CHANCE["arc_c"] == 0.25
    assert DEFAULT_CHANCE[benchmark_key("HellaSwag")] == 0.25
    assert DEFAULT_CHANCE[benchmark_key("Winograd")] == 0.5
    assert DEFAULT_CHANCE[benchmark_key("HumanEval")] == 0.0


def test_fit_max_compute_holds_rows_out_and_split(table):
    data = load_accuracy_table(table, fit_max_compute=5e22)
    assert data.held_out.any() and (data.compute[data.held_out] > 5e22).all()
    split = leave_largest_out(load_accuracy_table(table), "beta")
    held = split.held_out
    assert set(split.family[held]) == {"beta"} and held.sum() == 3
    assert (split.compute[held] == split.compute[split.family == "beta"].max()).all()
    with pytest.raises(InputError, match="nothing is left"):
        load_accuracy_table(table, fit_max_compute=1.0)


# --- the law -----------------------------------------------------------------------------------


@given(
    level=st.floats(-3, 3),
    exponent=st.floats(0.01, 2),
    chance=st.sampled_from([0.0, 0.25, 0.5]),
    x=st.lists(st.floats(-10, 10), min_size=2, max_size=5, unique=True),
)
def test_law_is_above_chance_rising_and_inverts(level, exponent, chance, x):
    x = np.sort(np.array(x))
    p = accuracy_law(x, level, exponent, chance)
    assert np.all(p >= chance) and np.all(p <= 1)
    assert np.all(np.diff(p) >= 0)
    inside = (p > chance + 1e-9) & (p < 1 - 1e-9)
    y = transformed_accuracy(p[inside], chance)
    np.testing.assert_allclose(y, level - exponent * x[inside], atol=1e-5)
    np.testing.assert_allclose(accuracy_from_transformed(y, chance), p[inside], rtol=1e-9)


def test_law_matches_the_report_form_and_floor():
    # -ln((p - g)/(1 - g)) = alpha C^-k with alpha = e^level C0^k
    compute, c0, level, k, g = 1e23, 1e21, 0.4, 0.3, 0.25
    p = accuracy_law(np.log(compute) - np.log(c0), level, k, g)
    alpha = np.exp(level) * c0**k
    assert -np.log((p - g) / (1 - g)) == pytest.approx(alpha * compute**-k)
    assert np.isnan(transformed_accuracy(np.array([0.2, 0.25, 1.0]), 0.25)).all()


def test_priors_refuse_bad_values():
    with pytest.raises(InputError, match="scatter_median"):
        AccuracyPriors(scatter_median=0)
    with pytest.raises(InputError, match="discrepancy_exponent_sd"):
        AccuracyPriors(discrepancy_exponent_sd=-0.1)
    assert AccuracyPriors(discrepancy_exponent_sd=0).discrepancy_exponent_sd == 0
    with pytest.raises(InputError, match="discrepancy_exponent_shift"):
        AccuracyPriors(discrepancy_exponent_shift=float("nan"))
    assert AccuracyPriors(discrepancy_exponent_shift=-0.3).discrepancy_exponent_shift == -0.3
    # each axis has its own shift (chosen by leave one family out, docs/accuracy.md)
    priors = AccuracyPriors(
        discrepancy_exponent_shift=-0.6, discrepancy_exponent_shift_chinchilla=0
    )
    assert priors.discrepancy_shift_on("compute") == -0.6
    assert priors.discrepancy_shift_on("chinchilla") == 0


# --- the model ---------------------------------------------------------------------------------


def test_model_structure_pooling_and_binomial_rows(table):
    from bayescale.accuracy_model import accuracy_inputs, build_accuracy_model

    data = load_accuracy_table(table)
    inputs = accuracy_inputs(data, AccuracyPriors())
    assert not inputs["counted"].any()
    model = build_accuracy_model(data)
    assert model.coords["family"] == ("alpha", "beta", "gamma")
    names = {v.name for v in model.free_RVs}
    assert {"log_exponent_bench", "z_exponent_family", "z_exponent"} <= names
    assert {"noise", "sigma", "z_scatter_family"} <= names
    assert "level_bench" not in names  # levels are not pooled by default
    assert model["accuracy"].eval().size == len(table)
    assert "level_bench" in {v.name for v in build_accuracy_model(data, pool_levels=True).free_RVs}
    unpooled = build_accuracy_model(data, pooled=False)
    assert not {"z_exponent_family", "z_scatter_family"} & {v.name for v in unpooled.free_RVs}
    assert "scatter_family" not in unpooled.named_vars  # a constant would break R-hat
    counted = load_accuracy_table(simulate_accuracy_table(seed=1, n_questions=200))
    binomial = build_accuracy_model(counted)
    assert binomial["correct"].eval().size == len(counted.accuracy)
    assert "accuracy" not in binomial.named_vars and "noise" not in binomial.named_vars


def test_rows_at_or_under_chance_give_finite_density_and_gradient(table):
    """A ladder at chance (y unbounded there) enters on the accuracy scale without NaN."""
    from bayescale.accuracy_model import build_accuracy_model

    mmlu = table["benchmark"] == "mmlu"
    table.loc[mmlu & (table["family"] == "gamma"), "accuracy"] = [0.24, 0.25, 0.26]
    model = build_accuracy_model(load_accuracy_table(table))
    point = model.initial_point()
    far = {k: v + 3.0 if k == "level_raw" else v for k, v in point.items()}
    for values in (point, far):
        assert np.isfinite(model.compile_logp()(values))
        assert np.isfinite(model.compile_dlogp()(values)).all()


def test_mocked_fit_forecast_and_requirement(table, mock_pymc_sample):
    data = load_accuracy_table(table)
    fit = fit_accuracy(
        data, settings=SamplerSettings(draws=20, tune=10, chains=2), allow_unconverged=True
    )
    draws = accuracy_draws(fit, [1e23, 1e24])
    assert draws.dims == ("sample", "family", "benchmark", "compute")
    assert draws.sizes["sample"] == 40
    assert ((draws.values >= 0) & (draws.values <= 1)).all()  # with a new score's noise
    curve = accuracy_draws(fit, [1e23, 1e24], new_model=False)
    for bi, g in enumerate(data.chance):
        assert (curve.values[:, :, bi] >= g).all()
    np.testing.assert_array_equal(draws.values, accuracy_draws(fit, [1e23, 1e24]).values)
    options = AccuracyOptions(targets=(1e23,), family="beta", requirement="mmlu.accuracy>=0.5")
    result = result_from_accuracy_fit(fit, options)
    assert {f for f, _ in result.ladders} == {"beta"}
    doc = result.document()
    assert doc["kind"] == "accuracy"
    entry = doc["targets"][0]
    assert {a["benchmark"] for a in entry["accuracy"]} == {"mmlu", "gsm8k", "winogrande"}
    assert set(entry["accuracy"][0]) == {"family", "benchmark", "median", "lower", "upper", "mean"}
    assert entry["decision"]["requirement"] == "mmlu.accuracy>=0.5"


def test_discrepancy_widens_beyond_the_data_only(table, mock_pymc_sample):
    import xarray as xr

    data = load_accuracy_table(table)
    settings = SamplerSettings(draws=50, tune=10, chains=2)
    fit = fit_accuracy(data, settings=settings, allow_unconverged=True)
    # one law in every draw: any spread of the curve comes from the discrepancy alone
    post = fit.idata["posterior"].to_dataset()
    post["level"] = post["level"] * 0.0
    post["exponent"] = post["exponent"] * 0.0 + 0.2
    fixed = replace(fit, idata=xr.DataTree.from_dict({"posterior": post}))
    inside, beyond = 1e22, 1e26  # every family's data ends at or above 1e23
    spread = {}
    for sd in (0.0, 0.5):
        curve = accuracy_draws(
            replace(fixed, priors=AccuracyPriors(discrepancy_exponent_sd=sd)),
            [inside, beyond],
            new_model=False,
        ).values
        spread[sd] = np.std(curve, axis=0)  # (family, benchmark, compute)
    np.testing.assert_allclose(spread[0.0], 0.0, atol=1e-12)
    np.testing.assert_allclose(spread[0.5][..., 0], 0.0, atol=1e-12)
    assert np.all(spread[0.5][..., 1] > 1e-3)
    # a negative shift slows the rise beyond the data (exponent k e^m there), not within it
    curves = {
        m: accuracy_draws(
            replace(fixed, priors=AccuracyPriors(discrepancy_exponent_shift=m)),
            [inside, beyond],
            new_model=False,
        ).values
        for m in (0.0, -0.5)
    }
    np.testing.assert_allclose(curves[-0.5][..., 0], curves[0.0][..., 0], atol=1e-12)
    assert np.all(curves[-0.5][..., 1] < curves[0.0][..., 1])


def test_new_scores_are_binomial_on_the_benchmarks_question_count(mock_pymc_sample):
    data = load_accuracy_table(simulate_accuracy_table(seed=2, n_questions=40))
    fit = fit_accuracy(
        data, settings=SamplerSettings(draws=20, tune=10, chains=2), allow_unconverged=True
    )
    values = accuracy_draws(fit, [1e23]).values
    np.testing.assert_allclose(values * 40, np.round(values * 40), atol=1e-9)


def test_requirement_scope_names_one_ladder(table):
    data = load_accuracy_table(table)
    _, ladder = accuracy_requirement("beta.mmlu.accuracy>=0.5", data)
    assert ladder == ("beta", "mmlu")
    assert accuracy_requirement("MMLU.accuracy>=0.5", data, "gamma")[1] == ("gamma", "mmlu")
    with pytest.raises(InputError, match="measured for 3 families"):
        accuracy_requirement("mmlu.accuracy>=0.5", data)
    with pytest.raises(InputError, match="names no benchmark"):
        accuracy_requirement("arc.accuracy>=0.5", data, "beta")
    with pytest.raises(InputError, match="name the benchmark"):
        accuracy_requirement("accuracy>=0.5", data, "beta")
    with pytest.raises(InputError, match="unknown quantity"):
        accuracy_requirement("mmlu.loss<=0.5", data, "beta")


def test_family_matches_in_any_case_unless_two_families_do(table):
    # "--family ALPHA" was refused with "Did you mean 'alpha'?" though benchmark names in
    # --require matched in any case
    data = load_accuracy_table(table)
    assert {f for f, _ in target_ladders(data, "ALPHA")} == {"alpha"}
    assert {f for f, _ in target_ladders(data, " Beta ")} == {"beta"}
    assert accuracy_requirement("MMLU.accuracy>=0.5", data, "Gamma")[1] == ("gamma", "mmlu")
    twins = table.copy()
    renamed = twins["family"] == "gamma"
    twins.loc[renamed, "family"] = "Alpha"
    twins.loc[renamed, "model"] = "A" + twins.loc[renamed, "model"]
    data = load_accuracy_table(twins)
    with pytest.raises(InputError, match="matches 2 families") as err:
        target_ladders(data, "ALPHA")
    assert "'Alpha', 'alpha'" in str(err.value) or "'alpha', 'Alpha'" in str(err.value)
    with pytest.raises(InputError, match="matches 2 families"):
        accuracy_requirement("mmlu.accuracy>=0.5", data, "ALPHA")
    # the table's own spelling names one of the twins
    assert {f for f, _ in target_ladders(data, "Alpha")} == {"Alpha"}
    assert {f for f, _ in target_ladders(data, "alpha")} == {"alpha"}


# --- the command -------------------------------------------------------------------------------


def test_cli_end_to_end_mocked(tmp_path, table, mock_pymc_sample, capsys):
    path, out, doc = _csv(tmp_path, table), tmp_path / "out", tmp_path / "acc.json"
    code = main(
        [
            "accuracy",
            str(path),
            "--target-compute",
            "1e23,1e24",
            "--family",
            "alpha",
            "--chance",
            "mmlu=0.25",
            "--require",
            "mmlu.accuracy>=0.6",
            "--json",
            str(doc),
            "--out",
            str(out),
            "--allow-unconverged",
            *FAST,
        ]
    )
    assert code == 0
    result = json.loads(doc.read_text())
    assert result["kind"] == "accuracy" and len(result["targets"]) == 2
    assert {a["family"] for a in result["targets"][0]["accuracy"]} == {"alpha"}
    assert result["chance"]["mmlu"] == {"rate": 0.25, "source": "option"}
    assert "decision" in result["targets"][1] and "diagnostics" in result
    assert isinstance(result["warnings"], list)
    names = {p.name for p in out.iterdir()}
    assert names == {"forecast.json", "report.md", "accuracy.png", "decision.png", "fit.nc"}
    assert "alpha" in capsys.readouterr().out


def test_a_failed_evaluation_travels_with_the_result_and_where_drops_it(
    tmp_path, table, mock_pymc_sample
):
    zero = (table["model"] == "alpha-4") & (table["benchmark"] == "mmlu")
    path = _csv(tmp_path, table.assign(accuracy=table["accuracy"].mask(zero, 0.0)))
    doc = tmp_path / "acc.json"
    args = ["accuracy", str(path), "--target-compute", "1e24", "--json", str(doc)]
    assert main([*args, "--allow-unconverged", *FAST]) == 0
    (failed,) = [w for w in json.loads(doc.read_text())["warnings"] if "failed" in w]
    where = failed.split("--where ")[1].rstrip(".").strip('"')
    assert where == "not (model == 'alpha-4' and benchmark == 'mmlu')"
    assert main([*args, "--where", where, "--allow-unconverged", *FAST]) == 0
    assert not any("failed" in w for w in json.loads(doc.read_text())["warnings"])


def test_cli_input_errors_exit_2(tmp_path, table, capsys):
    path = _csv(tmp_path, table)
    args = ["accuracy", str(path), "--target-compute", "1e23", *FAST]
    assert main([*args, "--family", "delta"]) == 2
    assert "Families: alpha, beta, gamma" in capsys.readouterr().err
    assert main([*args, "--chance", "mmlu"]) == 2
    assert "BENCHMARK=RATE" in capsys.readouterr().err
    assert main([*args, "--require", "mmlu.accuracy>=0.5"]) == 2
    assert "measured for 3 families" in capsys.readouterr().err
    assert main([*args, "--value", "1", "--cost-per-flop", "1"]) == 2


# --- real sampling -----------------------------------------------------------------------------


@pytest.mark.sampling
@pytest.mark.slow
def test_real_fit_recovers_exponent_and_pools(tmp_path):
    """A 3-size family's exponent is pulled to the benchmark's by the pooled fit."""
    table = simulate_accuracy_table(
        seed=5, families={"a": 6, "b": 6, "c": 6, "d": 3}, exponent=0.3, scatter=0.05
    )
    data = load_accuracy_table(table)
    settings = SamplerSettings(draws=1000, tune=500, chains=4, seed=1, progress=False)
    pooled = fit_accuracy(data, settings=settings)
    assert pooled.diagnostics.ok
    k = pooled.draws("exponent")
    true_k = 0.3  # times a family factor e^N(0, 0.1)
    median = np.median(k[:, :3], axis=0)
    assert np.all(np.abs(np.log(median / true_k)) < 0.35)
    alone = fit_accuracy(data.subset(data.family == "d"), settings=settings, pooled=False)
    width = np.diff(np.quantile(k[:, 3], [0.05, 0.95], axis=0), axis=0)
    width_alone = np.diff(np.quantile(alone.draws("exponent")[:, 0], [0.05, 0.95], axis=0), axis=0)
    assert np.all(width < width_alone)


@pytest.mark.slow
def test_obsscaling_table_loads_with_default_chance_rates():
    if not OBSSCALING.is_dir():
        pytest.skip(f"{OBSSCALING} is absent (real data, not in the repository)")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from accuracy_backtest import cases, obsscaling_table

    data = load_accuracy_table(obsscaling_table(OBSSCALING))
    assert set(data.chance_source) == {"default"}
    assert len(cases(data)) >= 80

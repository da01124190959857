"""Spec files (docs/specs.md): validation with file/line/key messages (tier 1), every shipped
``models/*.toml`` through ``bayescale check`` and a mocked ``bayescale run`` (tier 2), and real
runs of the shipped specs (slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale.accuracy import simulate_accuracy_table
from bayescale.accuracy_pipeline import AccuracyOptions
from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.nd import NDPriors, simulate_nd_runs
from bayescale.nd_pipeline import NDOptions
from bayescale.pass_pipeline import PassOptions
from bayescale.pipeline import LossOptions
from bayescale.priors import LossPriors, PassPriors
from bayescale.sampling import SamplerSettings
from bayescale.saved import read_fit, saved_spec
from bayescale.simulate import demo_loss_runs, demo_pass_counts
from bayescale.spec import load_spec, spec_laws, spec_options

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
SPECS = sorted(MODELS.glob("*.toml"))
FAST = ["--draws", "50", "--tune", "50", "--chains", "2", "--quiet"]

MINIMAL = """\
schema_version = 1
law = "loss"

[data]
path = "runs.csv"

[forecast]
targets = [1e23]
"""


@pytest.fixture
def spec_dir(tmp_path: Path, demo_runs: pd.DataFrame) -> Path:
    demo_runs.to_csv(tmp_path / "runs.csv", index=False)
    return tmp_path


def _write(folder: Path, text: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------ tier 1: validation


def test_misspelled_key_exits_2_with_suggestion_and_location(spec_dir, capsys):
    path = _write(spec_dir, MINIMAL + "\n[sampler]\ndrwas = 500\n")
    for command in ("check", "run"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}, line 11: unknown key 'sampler.drwas'" in err
        assert "Did you mean 'draws'?" in err
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("\n[sampeler]\ndraws = 5\n", "unknown key 'sampeler'. Did you mean 'sampler'?"),
        ("\n[priors]\nslope_medain = 0.1\n", "Did you mean 'slope_median'?"),
        ("\n[data.columns]\nlos = 'x'\n", "unknown key 'data.columns.los'. Did you mean 'loss'?"),
        ("\n[decison]\nrequire = 'web.loss<=2'\n", "Did you mean 'decision'?"),
        ("\n[sampler]\ndraws = 'many'\n", "line 11: key 'sampler.draws': Input should be"),
        ("\n[sampler]\ndraws = 1.5\n", "key 'sampler.draws'"),
        ("\n[priors]\nlikelihood = 'cauchy'\n", "key 'priors.likelihood'"),
        ("\n[priors]\nscatter_sd = -1.0\n", "prior 'scatter_sd' must be a positive number"),
        ("\n[sampler]\nchains = 1\n", "R-hat compares chains"),
        ("\n[decision]\nrequire = 'wbe.loss<=2.6'\n", "Did you mean 'web'?"),
        ("\n[buckets]\ncount = 6\n", "unknown key 'buckets'"),  # buckets are for pass specs
        ("\n[data.columns]\ngroup = ''\n", "names no column"),  # was an IndexError
        # keys in the wrong table, a scalar for a list, a quoted number: the fix is named
        ("\n[sampler]\nslope_median = 0.1\n", "'slope_median' belongs in [priors]."),
        ("\n[columns]\ngroup = 'g'\n", "'columns' belongs in [data.columns]."),
        ("\n[data.columns]\ntargets = [1e23]\n", "'targets' belongs in [forecast]."),
    ],
)
def test_bad_specs_are_refused_with_exit_2(spec_dir, capsys, extra, fragment):
    path = _write(spec_dir, MINIMAL + extra)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert str(path) in err


def test_a_group_column_in_another_case_points_to_data_columns(spec_dir, capsys):
    runs = pd.read_csv(spec_dir / "runs.csv").rename(columns={"group": "Group"})
    runs.to_csv(spec_dir / "runs.csv", index=False)
    assert main(["check", str(_write(spec_dir, MINIMAL))]) == 2
    assert "but a column 'Group'" in (err := capsys.readouterr().err)
    assert "In a spec, column names are set in [data.columns]" in err


@pytest.mark.parametrize(
    ("extra", "line", "key"),
    [
        ("\n[sampler]\nchains = 1\n", 11, "sampler.chains"),
        ("\n[priors]\nscatter_sd = -1.0\n", 11, "priors.scatter_sd"),
        ("\n[priors]\ndiscrepancy_exponent_sd = -0.1\n", 11, "priors.discrepancy_exponent_sd"),
    ],
)
def test_refused_values_name_their_line_and_key(spec_dir, capsys, extra, line, key):
    path = _write(spec_dir, MINIMAL + extra)
    assert main(["check", str(path)]) == 2
    assert f"{path}, line {line}: key '{key}'" in capsys.readouterr().err


def test_several_problems_are_reported_together(spec_dir):
    text = MINIMAL.replace("targets = [1e23]", "targets = [1e23]\ninterval = 2.0") + (
        "\n[sampler]\nseeed = 1\n"
    )
    with pytest.raises(InputError, match="2 problems") as err:
        load_spec(_write(spec_dir, text))
    assert "forecast.interval" in str(err.value) and "Did you mean 'seed'?" in str(err.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (MINIMAL.replace('law = "loss"', 'law = "los"'), "unknown law 'los'. Did you mean 'loss'?"),
        (MINIMAL.replace("schema_version = 1\n", ""), "add 'schema_version = 1'"),
        (MINIMAL.replace("schema_version = 1", "schema_version = 2"), "not supported"),
        (MINIMAL.replace("[forecast]\ntargets = [1e23]\n", ""), "missing required key 'forecast'"),
        (MINIMAL + "\n[data]\n", "not valid TOML"),
        (MINIMAL.replace("[1e23]", "[]"), "key 'forecast.targets'"),
        (MINIMAL.replace("[1e23]", "[1e23, -5.0]"), "key 'forecast.targets.1': Input should be"),
        (MINIMAL.replace("[1e23]", "[inf]"), "key 'forecast.targets.0'"),
        (MINIMAL.replace("[1e23]", "1e23"), "Write a list: targets = [1e+23]."),
        (MINIMAL.replace("[1e23]", "[[1e23]]"), "forecast.targets.0': Input should be a valid num"),
        (MINIMAL.replace("[1e23]", "['1e23']"), "Write the number without quotes: 1e+23."),
        (
            MINIMAL.replace('"loss"', '"nd"').replace("targets = [1e23]", "runs = [7e9, 1.4e11]"),
            "forecast.runs.0': Input should be a valid list (got 7000000000.0). Its items are "
            "lists: runs = [[a, b], ...].",
        ),
        (MINIMAL.replace("[forecast]", "draws = 5\n[forecast]"), "'draws' belongs in [sampler]."),
    ],
)
def test_schema_errors(spec_dir, text, fragment):
    with pytest.raises(InputError, match=None) as err:
        load_spec(_write(spec_dir, text))
    assert fragment in str(err.value)


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_table_given_as_the_spec_says_which_command_reads_it(tmp_path, capsys, command):
    # 'bayescale check runs.csv' said "not valid TOML: Expected '=' after a key", a Parquet
    # table "is not UTF-8 text"
    for name in ("runs.csv", "runs.parquet"):
        path = tmp_path / name
        path.write_bytes(b"compute,loss\n1e18,3.2\n" if name.endswith("csv") else b"PAR1\x00\xff")
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert "is a table, not a spec" in err and f"bayescale loss|pass|nd|accuracy {path}" in err


def test_a_spec_saved_with_a_byte_order_mark_reads(spec_dir):
    # Notepad's "UTF-8 with BOM": "not valid TOML: Invalid statement (at line 1, column 1)"
    path = spec_dir / "spec.toml"
    path.write_text(MINIMAL, encoding="utf-8-sig")
    assert load_spec(path).text == MINIMAL


def test_missing_spec_and_missing_data_file(spec_dir, capsys):
    assert main(["check", str(spec_dir / "nope.toml")]) == 2
    assert "spec file not found" in capsys.readouterr().err
    assert main(["check", str(spec_dir)]) == 2  # a folder was "spec file not found" too
    assert f"{spec_dir}: is a folder, not a spec" in capsys.readouterr().err
    path = _write(spec_dir, MINIMAL.replace("runs.csv", "missing.csv"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 5: key 'data.path' = 'missing.csv': file not found" in err
    assert str(spec_dir / "missing.csv") in err


def test_data_path_is_relative_to_the_spec_not_the_cwd(spec_dir, tmp_path_factory, monkeypatch):
    (spec_dir / "specs").mkdir()
    path = _write(spec_dir / "specs", MINIMAL.replace("runs.csv", "../runs.csv"))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    # '..' leaves the spec's folder: only with --allow-outside-data (docs/reliability.md)
    assert main(["check", str(path)]) == 2
    assert main(["check", str(path), "--allow-outside-data"]) == 0
    # --data is a path from the current folder, as on any command line
    assert main(["check", str(path), "--data", str(spec_dir / "runs.csv")]) == 0
    assert main(["check", str(path), "--data", "runs.csv"]) == 2


def test_data_option_missing_here_but_beside_the_spec_says_so(spec_dir, monkeypatch, capsys):
    # was only "--data runs.csv: file not found"
    (spec_dir / "specs").mkdir()
    path = _write(spec_dir / "specs", MINIMAL)
    (spec_dir / "runs.csv").rename(spec_dir / "specs" / "runs.csv")
    monkeypatch.chdir(spec_dir)
    assert main(["check", str(path), "--data", "runs.csv"]) == 2
    err = capsys.readouterr().err
    assert "read from the current folder, not the spec's: give" in err
    assert str(Path(path).parent / "runs.csv") in err


def test_options_come_from_the_dataclass_defaults_and_overrides_win(spec_dir):
    spec = load_spec(_write(spec_dir, MINIMAL + "\n[priors]\nslope_median = 0.08\n"))
    options = spec_options(spec)
    assert isinstance(options, LossOptions)
    # keys the spec does not set keep the pipeline's own defaults
    assert options.sampler == SamplerSettings()
    assert options.priors == LossPriors(slope_median=0.08)
    assert options.interval == LossOptions(targets=(1.0,)).interval
    over = spec_options(
        spec,
        {
            "targets": [1e22, 1e24],
            "seed": 7,
            "draws": 300,
            "quiet": True,
            "requirement": "web.loss<=2.5",
            "interval": 0.8,
        },
    )
    assert over.targets == (1e22, 1e24) and over.interval == 0.8
    assert over.sampler == SamplerSettings(seed=7, draws=300, progress=False)
    assert over.requirement == "web.loss<=2.5" and over.priors == options.priors


def test_a_typo_is_suggested_before_a_key_of_another_table(tmp_path):
    # [bucket] in a pass spec said only "'bucket' belongs in [data.columns]"
    text = 'schema_version = 1\nlaw = "pass_rate"\n[data]\npath = "r.csv"\n[bucket]\ncount = 4\n'
    with pytest.raises(InputError) as err:
        load_spec(_write(tmp_path, text))
    assert "Did you mean 'buckets'? 'bucket' is a key of [data.columns]." in str(err.value)


def test_pass_spec_options(tmp_path):
    text = """\
schema_version = 1
law = "pass_rate"
[data]
path = "r.csv"
fit_max_compute = 5e21
[data.columns]
k = "passes"
[buckets]
count = 4
exclude_hardest = 3
order_by = ["m3", "m4"]
eligibility = "solved-by-all"
[forecast]
targets = [1e23]
k = 10
[priors]
problem_slopes = true
[sampler]
target_accept = 0.9
"""
    options = spec_options(load_spec(_write(tmp_path, text)))
    assert isinstance(options, PassOptions)
    assert (options.n_buckets, options.exclude_hardest, options.bucket_by) == (4, 3, ("m3", "m4"))
    assert options.eligibility == "solved-by-all" and options.k == 10
    assert options.columns.k == "passes" and options.columns.n == "n"
    assert options.priors == PassPriors(problem_slopes=True)
    assert options.sampler == SamplerSettings(target_accept=0.9)
    assert options.fit_max_compute == 5e21


ND_SPEC = """\
schema_version = 1
law = "nd"
[data]
path = "runs.csv"
fit_max_compute = 5e19
[data.columns]
loss = "final_loss"
[forecast]
runs = [[7e9, 1.4e11], [1e9, 2e10]]
targets = [1e22]
[priors]
exponent_median = 0.3
"""


def test_nd_spec_options(tmp_path):
    options = spec_options(load_spec(_write(tmp_path, ND_SPEC)))
    assert isinstance(options, NDOptions)
    assert options.runs == ((7e9, 1.4e11), (1e9, 2e10))
    assert options.targets == options.budgets == (1e22,)  # [forecast] targets: budgets
    assert options.columns.loss == "final_loss" and options.columns.params == "params"
    assert options.priors == NDPriors(exponent_median=0.3)
    assert options.fit_max_compute == 5e19
    # --target-compute or --budget overrides the budgets; the planned runs stay
    spec = load_spec(tmp_path / "spec.toml")
    for key in ("targets", "budgets"):
        over = spec_options(spec, {key: [3e22, 1e23]})
        assert over.budgets == (3e22, 1e23) and over.runs == options.runs
    # --target N:D overrides the planned runs; the budgets stay
    over = spec_options(spec, {"runs": [(1e10, 2e11)]})
    assert over.runs == ((1e10, 2e11),) and over.budgets == (1e22,)
    with pytest.raises(InputError, match="give one"):
        spec_options(spec, {"targets": [1e22], "budgets": [1e23]})


def test_run_takes_nd_targets_and_budgets(tmp_path, mock_pymc_sample, capsys):
    # `bayescale run models/demo-nd.toml --budget 1e23` was an unknown option (exit 2)
    shutil.copytree(MODELS / "data", tmp_path / "data")
    copy = tmp_path / "demo-nd.toml"
    shutil.copy(MODELS / "demo-nd.toml", copy)
    doc = tmp_path / "r.json"
    args = ["run", str(copy), "--budget", "1e23", "--target", "1e9:2e10,2e9:4e10"]
    assert main([*args, "--json", str(doc), "--allow-unconverged", *FAST]) == 0
    result = json.loads(doc.read_text())
    assert [o["budget"] for o in result["optimal"]] == [1e23]
    assert [t["params"] for t in result["targets"]] == [1e9, 2e9]
    # held-out runs (the spec's fit_max_compute) are scored, as for every law
    assert len(result["held_out"]) > 0 and "Diagnostics:" in capsys.readouterr().out
    loss = MODELS / "demo-loss.toml"
    assert main(["check", str(loss)]) == 0
    capsys.readouterr()
    assert main(["run", str(loss), "--budget", "1e23", *FAST]) == 2
    assert "--budget is for L(N, D) specs" in capsys.readouterr().err
    assert main(["run", str(loss), "--target", "1e9:2e10", *FAST]) == 2
    assert "--target N:D is for L(N, D) and accuracy specs" in capsys.readouterr().err


def test_target_replaces_an_accuracy_specs_computes_with_planned_models():
    # `run models/demo-accuracy.toml --target 7e9:1.4e11` said --target was for L(N, D) specs
    spec = load_spec(MODELS / "demo-accuracy.toml")
    assert spec_options(spec).targets == (1e24,)
    planned = spec_options(spec, {"runs": [(7e9, 1.4e11)]})
    assert planned.runs == ((7e9, 1.4e11),) and planned.targets == ()
    with pytest.raises(InputError, match="--budget is for L\\(N, D\\) specs"):
        spec_options(spec, {"budgets": [1e23]})


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ("runs = [[7e9, 1.4e11, 3.0]]", "forecast.runs"),  # not a pair
        ("runs = [[7e9, -1.0]]", "forecast.runs"),  # not positive
        ("runs = []\ntargets = []", "in a spec: [forecast] runs = [[N, D], ...]"),
    ],
)
def test_bad_nd_forecasts_are_refused(tmp_path, capsys, change, fragment):
    text = ND_SPEC.replace("runs = [[7e9, 1.4e11], [1e9, 2e10]]\ntargets = [1e22]", change)
    simulate_nd_runs(seed=0).rename(columns={"loss": "final_loss"}).to_csv(
        tmp_path / "runs.csv", index=False
    )
    assert main(["check", str(_write(tmp_path, text))]) == 2
    assert fragment in capsys.readouterr().err


def test_nd_spec_selects_rows(tmp_path, capsys):
    runs = simulate_nd_runs(seed=0).rename(columns={"loss": "final_loss"})
    large = runs["params"] > 1e8
    runs = runs.astype(object)
    runs.loc[large.idxmax(), "final_loss"] = ""  # a selected run without its loss
    runs.to_csv(tmp_path / "runs.csv", index=False)
    text = ND_SPEC.replace("fit_max_compute = 5e19", 'where = "params > 1e8"\ndrop_missing = true')
    options = spec_options(load_spec(_write(tmp_path, text)))
    assert (options.where, options.drop_missing) == ("params > 1e8", True)
    kept = int(large.sum()) - 1
    assert main(["check", str(tmp_path / "spec.toml")]) == 0, capsys.readouterr().err
    assert f"{kept} runs" in capsys.readouterr().out


ACCURACY_SPEC = """\
schema_version = 1
law = "accuracy"
[data]
path = "acc.csv"
[forecast]
targets = [1e24]
family = "beta"
[chance]
mmlu = 0.2
[decision]
require = "mmlu.accuracy>=0.6"
"""


def test_accuracy_spec_options_and_check(tmp_path, capsys):
    simulate_accuracy_table(seed=0).to_csv(tmp_path / "acc.csv", index=False)
    path = _write(tmp_path, ACCURACY_SPEC)
    options = spec_options(load_spec(path))
    assert isinstance(options, AccuracyOptions)
    assert options.family == "beta" and dict(options.chance) == {"mmlu": 0.2}
    assert options.targets == (1e24,) and options.requirement == "mmlu.accuracy>=0.6"
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "3 families x 3 benchmarks" in out and "target_accept 0.95" in out
    # a learned floor, and floors learned below chance
    learned = ACCURACY_SPEC.replace("mmlu = 0.2", 'mmlu = "learn"').replace(
        'family = "beta"', 'family = "beta"\nfloor = "below_chance"'
    )
    options = spec_options(load_spec(_write(tmp_path, learned)))
    assert dict(options.chance) == {"mmlu": None} and options.floor == "below_chance"


def test_accuracy_spec_selects_rows(tmp_path, capsys):
    table = simulate_accuracy_table(seed=0)
    table.to_csv(tmp_path / "acc.csv", index=False)
    text = ACCURACY_SPEC.replace(
        'path = "acc.csv"', 'path = "acc.csv"\nwhere = "family != \'alpha\'"'
    )
    path = _write(tmp_path, text)
    assert spec_options(load_spec(path)).where == "family != 'alpha'"
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    kept = int((table["family"] != "alpha").sum())
    assert f"{kept} rows" in capsys.readouterr().out and kept < len(table)


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("mmlu = 0.2", "mmlu = 1.5", "chance.mmlu"),  # a rate must be in [0, 1)
        ("mmlu = 0.2", 'mmlu = "guess"', "chance.mmlu"),  # or "learn"
        ('family = "beta"', 'family = "beta"\nfloor = "free"', "forecast.floor"),
        ('family = "beta"', 'family = "delta"', "delta"),  # no such family
        ("mmlu.accuracy>=0.6", "arc.accuracy>=0.6", "line 11"),  # the rule's line is named
    ],
)
def test_bad_accuracy_specs_are_refused(tmp_path, capsys, old, new, fragment):
    simulate_accuracy_table(seed=0).to_csv(tmp_path / "acc.csv", index=False)
    assert main(["check", str(_write(tmp_path, ACCURACY_SPEC.replace(old, new)))]) == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1.5", '"guess"'])
def test_a_bad_chance_rate_is_one_problem_in_toml_words(tmp_path, capsys, value):
    # was "2 problems: key 'chance.mmlu.constrained-float': ...; key
    # 'chance.mmlu.literal['learn']': ..." (pydantic's names for the union's two branches)
    simulate_accuracy_table(seed=0).to_csv(tmp_path / "acc.csv", index=False)
    path = _write(tmp_path, ACCURACY_SPEC.replace("mmlu = 0.2", f"mmlu = {value}"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "problems" not in err and "constrained" not in err and "literal[" not in err
    assert "key 'chance.mmlu':" in err and "'learn'" in err and "line " in err


def test_cli_overrides_reach_the_run(spec_dir, mock_pymc_sample, capsys):
    path = _write(spec_dir, MINIMAL + '\n[decision]\nrequire = "web.loss<=2.6"\n')
    doc = spec_dir / "r.json"
    code = main(
        [
            "run",
            str(path),
            "--target-compute",
            "1e22,3e22",
            "--require",
            "code.loss<=1.5",
            "--interval",
            "0.8",
            "--json",
            str(doc),
            "--allow-unconverged",
            *FAST,
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(doc.read_text())
    assert [t["target_compute"] for t in result["targets"]] == [1e22, 3e22]
    assert result["interval"] == 0.8
    assert result["targets"][0]["decision"]["requirement"] == "code.loss<=1.5"


# ------------------------------------------------------------------ the shipped specs


def test_every_law_has_a_shipped_spec():
    laws = {load_spec(p).model.law for p in SPECS}
    assert laws == set(spec_laws())


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_passes_check(spec, capsys):
    assert main(["check", str(spec)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "OK:" in out
    # the shipped specs leave target_accept and the warm-up tree depth to the model, and the
    # dry run says which they are
    loss = spec_laws()[load_spec(spec).model.law].sampler_model == "loss"  # L(N, D) too
    assert f"target_accept {0.99 if loss else 0.95}, warm-up tree depth {7 if loss else 10}," in out


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_runs_mocked(spec, tmp_path, mock_pymc_sample, capsys):
    # a copy elsewhere with its data folder: the spec's paths are relative to the spec
    shutil.copytree(MODELS / "data", tmp_path / "data")
    copy = tmp_path / spec.name
    shutil.copy(spec, copy)
    doc = tmp_path / "r.json"
    code = main(["run", str(copy), "--json", str(doc), "--allow-unconverged", *FAST])
    assert code == 0, capsys.readouterr().err
    result = json.loads(doc.read_text())
    model = load_spec(spec).model
    assert result["kind"] == spec_laws()[model.law].name
    # L(N, D)'s targets are its planned runs; its [forecast] targets are budgets
    planned = model.forecast.runs if model.law == "nd" else model.forecast.targets
    assert len(result["targets"]) == len(planned)


@pytest.mark.parametrize("name", ["demo-loss", "llama1-code"])  # a loss and a pass fit
def test_saved_fit_keeps_the_spec_text(name, tmp_path, mock_pymc_sample, capsys):
    spec = MODELS / f"{name}.toml"
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--allow-unconverged", *FAST]) == 0
    assert saved_spec(out / "fit.nc") == spec.read_text()
    fit, _ = read_fit(out / "fit.nc")  # the extra attribute does not disturb loading
    assert fit.settings.draws == 50
    # bayescale forecast answers from it without the spec
    assert (
        main(
            [
                "forecast",
                str(out / "fit.nc"),
                "--target-compute",
                "1e24",
                "--quiet",
                "--allow-unconverged",
            ]
        )
        == 0
    )


def test_fits_without_a_spec_have_none():
    assert saved_spec(ROOT / "tests" / "data" / "loss_fit_v0.1.0.nc") is None


def test_demo_data_files_match_the_seeded_simulations():
    """models/data/make_demo_data.py wrote them; they must not drift from the simulation."""
    for name, frame in [
        ("demo_loss.csv", demo_loss_runs()),
        ("demo_pass_counts.csv", demo_pass_counts()),
        ("demo_nd.csv", simulate_nd_runs(seed=0)),
        ("demo_accuracy.csv", simulate_accuracy_table(seed=0)),
    ]:
        shipped = pd.read_csv(MODELS / "data" / name)
        assert list(shipped.columns) == list(frame.columns)
        for col in frame.columns:
            if frame[col].dtype.kind == "f":
                np.testing.assert_allclose(shipped[col], frame[col], rtol=1e-9)
            else:
                assert shipped[col].astype(str).tolist() == frame[col].astype(str).tolist()


def test_transcribed_table_is_as_published():
    """LLaMA-1 (arXiv:2302.13971) Table 8 pass@1 and Table 2 sizes, as in docs/specs.md."""
    table = pd.read_csv(MODELS / "data" / "llama1_code.csv")
    sizes = ["LLaMA-7B", "LLaMA-13B", "LLaMA-33B", "LLaMA-65B"]
    published = {
        "humaneval": [0.105, 0.158, 0.217, 0.237],
        "mbpp": [0.177, 0.220, 0.302, 0.377],
    }
    for bucket, rates in published.items():
        rows = table[table["bucket"] == bucket]
        assert rows["model"].tolist() == sizes
        assert rows["pass_rate"].tolist() == rates
    assert table["params"].tolist()[:4] == [6.7e9, 13.0e9, 32.5e9, 65.2e9]
    assert table["tokens"].tolist()[:4] == [1.0e12, 1.0e12, 1.4e12, 1.4e12]
    np.testing.assert_allclose(table["compute"], 6 * table["params"] * table["tokens"], rtol=1e-12)
    assert table["source"].str.contains("arXiv:2302.13971, Table 8").all()


# ------------------------------------------------------------------ slow: real runs


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_runs_and_converges(spec, tmp_path, capsys):
    doc = tmp_path / "r.json"
    assert main(["run", str(spec), "--json", str(doc), "--quiet"]) == 0, capsys.readouterr().err
    diagnostics = json.loads(doc.read_text())["diagnostics"]
    assert diagnostics["ok"] and diagnostics["divergences"] == 0


def _keys(model, prefix=()):
    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        yield (*prefix, name)
        nested = [
            c
            for c in (field.annotation, *getattr(field.annotation, "__args__", ()))
            if isinstance(c, type) and issubclass(c, BaseModel)
        ]
        if nested:
            yield from _keys(nested[0], (*prefix, name))


def test_models_readme_documents_every_key():
    from bayescale.spec import spec_laws, spec_model

    readme = (MODELS / "README.md").read_text()
    missing = {
        key[-1]
        for model in map(spec_model, spec_laws().values())
        for key in _keys(model)
        if f"`{key[-1]}`" not in readme and f"[{'.'.join(key)}]" not in readme
    }
    assert not missing, f"models/README.md does not document {sorted(missing)}"


def test_quiet_run_writes_only_the_summary(spec_dir, mock_pymc_sample, capsys):
    path = _write(spec_dir, MINIMAL)
    assert main(["run", str(path), "--allow-unconverged", *FAST]) == 0
    captured = capsys.readouterr()
    # warnings alone reach stderr; prior draws stand in for the posterior here, and misfit
    # every group alike, which the shared-runs check (rightly) names
    assert [e for e in captured.err.splitlines() if "stray from their curves" not in e] == []
    lines = captured.out.splitlines()
    assert lines[0] == f"spec ({path})"
    assert lines[1].startswith("Final loss of a new run")
    assert lines[2].split() == ["group", "1e+23", "FLOPs"]
    assert len(lines) <= 24  # one screen


def test_buckets_table_is_refused_for_aggregate_data(tmp_path, capsys):
    shutil.copytree(MODELS / "data", tmp_path / "data")
    text = (MODELS / "llama1-code.toml").read_text() + "\n[buckets]\ncount = 3\n"
    path = _write(tmp_path, text)
    assert main(["check", str(path)]) == 2
    assert "[buckets] applies to per-problem counts" in capsys.readouterr().err


def test_version_and_help_with_examples(capsys):
    from bayescale import __version__
    from bayescale.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"bayescale {__version__}"
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # every subcommand
    assert {"run", "check"} <= set(commands)
    for name, sub in commands.items():
        assert "example" in (sub.epilog or ""), f"'bayescale {name} --help' has no example"
    assert "bayescale run models/" in parser.format_help()


def test_unconverged_run_exits_3(spec_dir, mock_pymc_sample, capsys):
    # prior draws from the mocked sampler cannot pass the diagnostics gate
    assert main(["run", str(_write(spec_dir, MINIMAL)), *FAST]) == 3
    assert "did not converge" in capsys.readouterr().err


def test_the_version_literal_is_the_installed_packages():
    """``bayescale.version`` is the one source hatchling builds the package's version from."""
    from importlib.metadata import version

    from bayescale import __version__

    assert version("bayescale") == __version__

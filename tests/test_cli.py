"""The command line end to end: errors with exit 2 (no sampling), the mocked pipeline, and
one real run of ``bayescale loss`` and ``bayescale demo``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bayescale.cli import main

FAST = ["--draws", "500", "--tune", "500", "--chains", "4", "--quiet"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--target-compute", "0"], "target compute must be a positive"),
        (["--target-compute", "1e23", "--require", "loss<2.1 please"], "cannot be parsed"),
        (["--target-compute", "1e23", "--require", "loss<=2.1"], "name one, e.g. 'web.loss"),
        (["--target-compute", "1e23", "--require", "wbe.loss<=2.1"], "Did you mean 'web'"),
        (["--target-compute", "1e23", "--loss-col", "los"], "missing column 'los'"),
        (["--target-compute", "1e23", "--fit-max-compute", "1e17"], "distinct compute value"),
        (["--target-compute", "1e23", "--chains", "1"], "R-hat compares chains"),
        (
            [
                "--target-compute",
                "1e23",
                "--require",
                "web.loss<=2.6",
                "--value",
                "-5",
                "--cost-per-flop",
                "1e-17",
            ],
            "--value must be a positive number",
        ),
    ],
)
def test_bad_options_exit_2_before_sampling(demo_csv, capsys, args, fragment):
    try:  # an option's own check exits through argparse, the rest return the code
        code = main(["loss", str(demo_csv), *args])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--interval", "90", "write 90% as 0.9"),
        ("--confidence", "95", "write 95% as 0.95"),
        ("--interval", "1.0", "must be between 0 and 1, exclusive"),
    ],
)
def test_a_probability_given_as_a_percentage_is_named(demo_csv, capsys, option, value, fragment):
    # '--interval 90' was told only "90.0 must be between 0 and 1"
    with pytest.raises(SystemExit) as exc:
        main(["loss", str(demo_csv), "--target-compute", "1e23", option, value, *FAST])
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err


def test_a_target_with_thousands_separators_is_named(demo_csv, capsys):
    # '--target-compute 1,000' was split at the comma and refused as "got 0"
    with pytest.raises(SystemExit) as exc:
        main(["loss", str(demo_csv), "--target-compute", "2,100,000", *FAST])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'2,100,000' reads as one number with thousands separators" in err
    assert "(2100000 or in e-notation)" in err
    from bayescale.cli import _compute

    assert _compute("100,300") == [100.0, 300.0]  # two targets (in another unit)


def test_every_command_has_its_function_and_no_other_runs_loss(monkeypatch):
    import argparse

    from bayescale import cli

    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == set(cli.COMMANDS)
    # an unknown command used to fall through to the loss command
    monkeypatch.setitem(cli.COMMANDS, "loss", lambda args: pytest.fail("loss ran"))
    with pytest.raises(RuntimeError, match="no function for the command 'lost'"):
        cli._dispatch(argparse.Namespace(command="lost"))


def test_bad_number_exits_2(demo_csv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["loss", str(demo_csv), "--target-compute", "lots"])
    assert exc.value.code == 2
    assert "not a number of FLOPs" in capsys.readouterr().err


def test_negative_values_are_refused_for_their_sign(demo_csv, capsys):
    # argparse took "-1e21" for an unknown option: "argument --target-compute: expected one
    # argument". The value is now read, and refused with the reason.
    assert main(["loss", str(demo_csv), "--target-compute", "-1e21"]) == 2
    assert "target compute must be a positive number of FLOPs, got -1e+21" in (
        capsys.readouterr().err
    )
    assert main(["nd", str(demo_csv), "--target", "-1:2e10"]) == 2
    assert "expected one argument" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [["loss", "runs.csv"], ["nd", "runs.csv"], ["forecast", "fit.nc"], ["run", "spec.toml"]],
)
def test_require_given_twice_exits_2(capsys, command):
    # "--require A --require B" used to check only B, silently.
    with pytest.raises(SystemExit) as exc:
        main([*command, "--require", "loss<=3", "--require", "loss<=2"])
    assert exc.value.code == 2
    assert "--require given twice ('loss<=3' and 'loss<=2')" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["accuracy", "table.csv"], ["forecast", "fit.nc"]])
def test_family_given_twice_exits_2(capsys, command):
    # "--family alpha --family beta" reported beta's ladders only, silently
    with pytest.raises(SystemExit) as exc:
        main([*command, "--family", "alpha", "--family", "beta"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--family given twice ('alpha' and 'beta')" in err and "every family" in err


def test_bad_row_names_file_row_and_column(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text("compute,loss\n1e18,3.1\n1e19,-2\n1e20,2.5\n")
    assert main(["loss", str(path), "--target-compute", "1e23"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "row 2 (line 3)" in err and "'loss'" in err


@pytest.mark.parametrize("method", ["bayes", "bootstrap"])
def test_json_dash_keeps_stdout_for_the_document(
    demo_csv, tmp_path, monkeypatch, mock_pymc_sample, capsys, method
):
    # '--json -' wrote a file named '-' next to the summary on stdout
    monkeypatch.chdir(tmp_path)
    args = ["--target-compute", "1e23", "--method", method, "--allow-unconverged", *FAST]
    assert main(["loss", str(demo_csv), *args, "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["targets"]) == 1
    assert "Final loss" in captured.err
    assert not (tmp_path / "-").exists()
    if method == "bootstrap":  # a file named '-' is still written when asked for as ./-
        assert main(["loss", str(demo_csv), *args, "--json", "./-"]) == 0
        assert json.loads((tmp_path / "-").read_text())["targets"]
        assert "Final loss" in capsys.readouterr().out


def test_mocked_pipeline_writes_every_output(demo_csv, tmp_path, mock_pymc_sample, capsys):
    out, doc = tmp_path / "out", tmp_path / "f.json"
    code = main(
        [
            "loss",
            str(demo_csv),
            "--target-compute",
            "1e22,1e23",
            "--require",
            "web.loss<=2.6",
            "--out",
            str(out),
            "--json",
            str(doc),
            "--allow-unconverged",
            *FAST,
        ]
    )
    assert code == 0
    result = json.loads(doc.read_text())
    assert result["kind"] == "loss" and len(result["targets"]) == 2
    assert {e["group"] for e in result["targets"][0]["loss"]} == {"web", "code", "books"}
    assert {"report.md", "forecast.json", "loss_forecast.png"} <= {p.name for p in out.iterdir()}
    assert "decision" in result["targets"][1]


def _finite_numbers(value):
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@pytest.mark.sampling
def test_loss_command_real_fit(demo_csv, tmp_path, capsys):
    doc = tmp_path / "f.json"
    code = main(
        [
            "loss",
            str(demo_csv),
            "--target-compute",
            "1e23",
            "--fit-max-compute",
            "2e19",
            "--require",
            "web.loss<=2.6",
            "--json",
            str(doc),
            *FAST,
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(doc.read_text())
    assert _finite_numbers(result)
    assert result["diagnostics"]["ok"] and result["diagnostics"]["divergences"] == 0
    first, *_ = result["diagnostics"]["attempts"]  # the convergence ladder's steps
    assert first["why"] == "first fit" and first["what"].startswith("NUTS, 4 chains x 500 draws")
    assert first["seconds"] > 0
    (target,) = result["targets"]
    for entry in target["loss"]:
        assert entry["lower"] < entry["median"] < entry["upper"]
        # a new run scatters around the curve: its interval is at least as wide as the
        # curve's (up to the Monte Carlo error of the quantiles of 2,000 draws)
        curve = entry["curve"]
        assert entry["upper"] - entry["lower"] >= 0.98 * (curve["upper"] - curve["lower"])
    decision = target["decision"]
    assert decision["go"] == (decision["probability"] >= decision["confidence"])
    assert len(result["held_out"]) == 9
    out = capsys.readouterr().out
    assert "Final loss of a new run" in out and ("GO:" in out or "NO-GO:" in out)


@pytest.fixture
def pass_csv(tmp_path):
    from bayescale.simulate import simulate_pass_counts

    table, _ = simulate_pass_counts(n_models=5, n_problems=60, samples=100, seed=3)
    path = tmp_path / "pass.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--buckets", "100"], "empty"),
        (["--require", "pass_rte>=0.3"], "Did you mean 'pass_rate'"),
        (["--require", "bucket9.pass_rate>=0.3"], "no bucket 'bucket9'"),
        (["--bucket-by", "m9"], "no model 'm9'"),
        (["--fit-max-compute", "1e20"], "needs at least 3 models"),
        (["--k-col", "passes"], "missing column 'passes'"),
    ],
)
def test_pass_bad_options_exit_2(pass_csv, capsys, args, fragment):
    assert main(["pass", str(pass_csv), "--target-compute", "1e23", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_pass_bad_counts_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("model,compute,problem,n,k\na,1e20,p1,10,11\n")
    assert main(["pass", str(path), "--target-compute", "1e23"]) == 2
    err = capsys.readouterr().err
    assert "row 1 (line 2), column 'k'" in err and "k must be <= n" in err


def test_pass_mocked_pipeline_writes_outputs(pass_csv, tmp_path, mock_pymc_sample, capsys):
    out, doc = tmp_path / "out", tmp_path / "p.json"
    code = main(
        [
            "pass",
            str(pass_csv),
            "--target-compute",
            "1e22,1e23",
            "--buckets",
            "3",
            "--exclude-hardest",
            "6",
            "--require",
            "pass_rate>=0.3",
            "--k",
            "10",
            "--out",
            str(out),
            "--json",
            str(doc),
            "--allow-unconverged",
            *FAST,
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(doc.read_text())
    assert result["kind"] == "pass" and len(result["targets"]) == 2
    target = result["targets"][0]
    assert [b["bucket"] for b in target["buckets"]] == ["1", "2", "3"]
    assert sum(b["n_problems"] for b in target["buckets"]) == 54
    assert {"median", "lower", "upper", "mean"} <= set(target["pass_rate"])
    assert "pass_at_10" in target and "decision" in target
    # the printed answer shows what --k asked for (it was only in the JSON)
    printed = capsys.readouterr().out
    assert "pass@10" in printed and "1e+23 FLOPs" in printed.split("pass@10")[0]
    assert {"report.md", "forecast.json", "pass_buckets.png", "pass_rate.png", "decision.png"} <= {
        p.name for p in out.iterdir()
    }


def test_pass_bucket_by_a_held_out_model_is_warned_everywhere(
    pass_csv, tmp_path, mock_pymc_sample, capsys
):
    out, doc = tmp_path / "out", tmp_path / "p.json"
    args = ["pass", str(pass_csv), "--target-compute", "1e23", "--fit-max-compute", "5e21"]
    args += ["--buckets", "3", "--bucket-by", "m4,m5", "--out", str(out), "--json", str(doc)]
    assert main([*args, "--allow-unconverged", *FAST[:-1]]) == 0, capsys.readouterr().err
    warned = [w for w in json.loads(doc.read_text())["warnings"] if "m5" in w]
    assert len(warned) == 1 and "held-out model 'm5'" in warned[0] and "m4" not in warned[0]
    printed = capsys.readouterr()
    assert "held-out model 'm5'" in printed.out
    assert "held-out model 'm5'" in (out / "report.md").read_text()


@pytest.mark.sampling
def test_pass_command_real_fit(pass_csv, tmp_path, capsys):
    doc = tmp_path / "p.json"
    code = main(
        [
            "pass",
            str(pass_csv),
            "--target-compute",
            "1e23",
            "--buckets",
            "3",
            "--fit-max-compute",
            "5e21",
            "--require",
            "bucket1.pass_rate>=0.5",
            "--json",
            str(doc),
            "--draws",
            "1000",
            "--tune",
            "500",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(doc.read_text())
    assert result["diagnostics"]["ok"]
    decision = result["targets"][0]["decision"]
    assert decision["go"] == (decision["probability"] >= decision["confidence"])
    needed = decision["compute_needed"]
    if needed["at_confidence"] is not None:
        assert needed["at_confidence"] >= needed["median"]
    assert {row["model"] for row in result["held_out"]} == {"m5"}
    out = capsys.readouterr().out
    assert "Pass@1 of a new model per bucket" in out and "overall = mean pass@1" in out


def test_a_reader_that_leaves_early_is_not_an_error():
    """`bayescale check SPEC | head -0`: the closed pipe ends the command quietly, exit 0."""
    import subprocess
    import sys
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "models" / "demo-loss.toml"
    with subprocess.Popen(
        [sys.executable, "-m", "bayescale.cli", "check", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the command has printed anything (it is still importing)
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("where", ["json", "out"])
def test_outputs_never_replace_the_input(tmp_path, demo_runs, capsys, where):
    """--json naming the table, or an --out folder holding it, is refused before any work."""
    folder = tmp_path / "prev"
    folder.mkdir()
    table = folder / "runs.csv"
    demo_runs.to_csv(table, index=False)
    (folder / "report.md").write_text("_bayescale 0.2.0_\n")  # so --out may replace the folder
    before = table.read_bytes()
    option = ["--json", str(table)] if where == "json" else ["--out", str(folder)]
    assert main(["loss", str(table), "--target-compute", "1e23", *option]) == 2
    assert "this command's input" in capsys.readouterr().err
    assert table.read_bytes() == before


def test_python_dash_m_bayescale_runs_the_command():
    """`python -m bayescale` is the command where the console script is not on PATH."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "bayescale", "--version"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert __import__("bayescale").__version__ in out.stdout + out.stderr


def test_labels_the_font_lacks_are_one_logged_line(tmp_path, mock_pymc_sample, capsys):
    """Chinese or emoji group labels: matplotlib warned per figure (with source paths); now
    one line says the PNGs show boxes, and the labels stay as written in the JSON."""
    import pandas as pd

    rows = [
        {"compute": c, "loss": 2.0 + 30 * c**-0.07 + 0.1 * i, "group": g}
        for i, g in enumerate(["数学", "🚀 web"])
        for c in (1e18, 3e18, 1e19, 3e19, 1e20)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    out, doc = tmp_path / "out", tmp_path / "f.json"
    args = ["loss", str(tmp_path / "runs.csv"), "--target-compute", "1e21", "--out", str(out)]
    code = main([*args, "--json", str(doc), "--allow-unconverged", *FAST])
    assert code == 0
    err = capsys.readouterr().err
    assert "UserWarning" not in err and "Glyph" not in err
    (note,) = [line for line in err.splitlines() if "font lacks" in line]
    assert "数" in note and "🚀" in note
    groups = {e["group"] for e in json.loads(doc.read_text())["targets"][0]["loss"]}
    assert groups == {"数学", "🚀 web"}


def test_exit_3_after_short_sampler_settings_says_so(demo_csv, mock_pymc_sample, capsys):
    # --draws 50 failed the gate and the advice spoke only of the data ("add larger runs")
    args = ["loss", str(demo_csv), "--target-compute", "1e23", "--chains", "2", "--quiet"]
    assert main([*args, "--draws", "50", "--tune", "50"]) == 3
    err = capsys.readouterr().err
    assert "This run asked for --draws 50 (default 1000) and --tune 50 (default 500)" in err
    from bayescale.cli import _few_draws_note
    from bayescale.sampling import SamplerSettings

    assert _few_draws_note(SamplerSettings()) == ""
    assert _few_draws_note(SamplerSettings(draws=4000, tune=200)).startswith(
        " This run asked for --tune 200 (default 500):"
    )


@pytest.mark.parametrize("where", ["input", "json", "out"])
def test_a_path_the_system_refuses_exits_2(demo_csv, tmp_path, capsys, where):
    # a file name of 300 characters: Path.is_file() raised OSError (Errno 36), a traceback
    long = str(tmp_path / ("a" * 300))
    table = long + ".csv" if where == "input" else str(demo_csv)
    extra = {"input": [], "json": ["--json", long + ".json"], "out": ["--out", long]}[where]
    assert main(["loss", table, "--target-compute", "1e23", *extra, *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bayescale: error: {long}") and "File name too long" in err


@pytest.mark.parametrize(
    ("flag", "value", "minimum"), [("--draws", "0", 4), ("--chains", "0", 2), ("--chains", "1", 2)]
)
def test_sampler_minimums_are_said_once_and_right(demo_csv, capsys, flag, value, minimum):
    # '--draws 0' said "must be >= 1", and '--draws 1' then "must be an integer >= 4"
    with pytest.raises(SystemExit) as exc:
        main(["loss", str(demo_csv), "--target-compute", "1e23", flag, value])
    assert exc.value.code == 2
    assert f"{value} must be >= {minimum} (" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["loss", "check"])
def test_where_given_twice_is_refused_not_cut_to_the_last(demo_csv, capsys, command):
    # '--where "compute > 1e18" --where "compute < 1e21"' kept only the second selection
    target = [str(demo_csv), "--target-compute", "1e23"]
    if command == "check":
        target = [str(Path(__file__).resolve().parents[1] / "models" / "demo-loss.toml")]
    with pytest.raises(SystemExit) as exc:
        main([command, *target, "--where", "compute > 1e18", "--where", "compute < 1e21"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--where given twice" in err
    assert '--where "(compute > 1e18) and (compute < 1e21)"' in err


def test_a_bootstrap_replaces_an_earlier_out_folder_as_a_whole(
    demo_csv, tmp_path, mock_pymc_sample, capsys
):
    # --method bootstrap --out wrote forecast.json into an earlier Bayes result, whose fit.nc,
    # report.md and plots stayed beside it: one folder, two runs' answers
    out = tmp_path / "out"
    args = ["loss", str(demo_csv), "--target-compute", "1e23", "--out", str(out)]
    assert main([*args, "--allow-unconverged", *FAST]) == 0
    assert (out / "fit.nc").exists() and (out / "report.md").exists()
    assert main([*args, "--method", "bootstrap"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["forecast.json"]
    assert json.loads((out / "forecast.json").read_text())["method"] == "point-fit bootstrap"


@pytest.mark.parametrize(
    "option",
    [["--likelihood", "student_t"], ["--draws", "10"], ["--allow-unconverged"], ["--shared-runs"]],
)
def test_a_bootstrap_warns_of_the_sampler_options_it_does_not_use(demo_csv, capsys, option):
    # --method bootstrap --likelihood student_t answered least squares without a word
    args = ["loss", str(demo_csv), "--target-compute", "1e23", "--method", "bootstrap"]
    assert main([*args, *option]) == 0
    assert f"{option[0]}: not used by --method bootstrap" in capsys.readouterr().err
    assert main(args) == 0
    assert "not used by" not in capsys.readouterr().err

"""The command line end to end: errors with exit 2 (no sampling), the mocked pipeline, and
one real run of ``bayescale loss`` and ``bayescale demo``."""

from __future__ import annotations

import json
import math

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
    ],
)
def test_bad_options_exit_2_before_sampling(demo_csv, capsys, args, fragment):
    assert main(["loss", str(demo_csv), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err


def test_bad_number_exits_2(demo_csv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["loss", str(demo_csv), "--target-compute", "lots"])
    assert exc.value.code == 2
    assert "not a number of FLOPs" in capsys.readouterr().err


def test_bad_row_names_file_row_and_column(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text("compute,loss\n1e18,3.1\n1e19,-2\n1e20,2.5\n")
    assert main(["loss", str(path), "--target-compute", "1e23"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "row 2 (line 3)" in err and "'loss'" in err


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

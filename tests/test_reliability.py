"""The adversarial cases of issue 18, each one a test: strict reading, output paths checked
before any work, limits, interrupts, specs confined to their folder, the importer's append,
and Markdown escaping. None of these samples (the sampler is stubbed or mocked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale.pipeline
import bayescale.sampling
from bayescale.cli import main
from bayescale.data import LossColumns, load_loss_runs, read_table
from bayescale.decision import parse_requirement
from bayescale.errors import InputError
from bayescale.pass_data import load_pass_aggregate, load_pass_counts
from bayescale.report import markdown_table, markdown_text
from bayescale.targets import MAX_TARGETS, check_targets

ROOT = Path(__file__).resolve().parents[1]
V010 = ROOT / "tests" / "data" / "loss_fit_v0.1.0.nc"


def _csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _loss_rows(groups: list[str]) -> str:
    rows = ["compute,loss,group"]
    for g in groups:
        rows += [f"{c:g},{3.0 - 0.1 * i:.2f},{g}" for i, c in enumerate([1e18, 1e19, 1e20])]
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------- reading


def test_numeric_looking_group_labels_stay_distinct_and_verbatim(tmp_path):
    data = load_loss_runs(_csv(tmp_path, _loss_rows(["1.1", "1.10", "NA", "007", "nan"])))
    assert data.groups == ("1.1", "1.10", "NA", "007", "nan")


def test_numeric_looking_model_and_bucket_labels_stay_verbatim(tmp_path):
    rows = ["model,compute,problem,n,k"]
    for m, c in [("007", 1e20), ("NA", 1e21), ("1.10", 1e22), ("1.1", 1e23)]:
        rows += [f"{m},{c:g},{p},10,{k}" for p, k in [("01", 3), ("1", 5), ("None", 0)]]
    counts = load_pass_counts(_csv(tmp_path, "\n".join(rows) + "\n"))
    assert counts.models.names == ("007", "NA", "1.10", "1.1")
    assert counts.problems == ("01", "1", "None")
    agg = ["model,compute,pass_rate,bucket"]
    agg += [f"m{i},{10.0 ** (20 + i):g},0.{i + 1},{b}" for i in range(3) for b in ("1.0", "1")]
    assert load_pass_aggregate(_csv(tmp_path, "\n".join(agg) + "\n", "a.csv")).buckets == (
        "1.0",
        "1",
    )


def test_one_extra_field_on_every_row_is_refused_not_shifted(tmp_path):
    text = "compute,loss\n" + "".join(
        f"x{i},{c:g},{2.5 + i / 10}\n" for i, c in enumerate([1e18, 1e19, 1e20])
    )
    with pytest.raises(
        InputError, match=r"t\.csv, line 2: 3 fields, but the header \(line 1\) has 2"
    ):
        load_loss_runs(_csv(tmp_path, text))


def test_a_row_with_a_missing_field_is_refused_with_its_line(tmp_path):
    text = "compute,loss,group\n1e18,3,a\n\n1e19,2.9\n1e20,2.8,a\n"
    with pytest.raises(InputError, match=r"line 4: 2 fields, but the header \(line 1\) has 3"):
        load_loss_runs(_csv(tmp_path, text))


def test_duplicate_header_is_refused(tmp_path):
    with pytest.raises(InputError, match="column 'loss' appears twice"):
        load_loss_runs(_csv(tmp_path, "compute,loss,loss\n1e18,3,2\n1e19,2.9,2\n1e20,2.8,2\n"))
    frame = pd.DataFrame([[1e18, 3.0, 2.0]], columns=["compute", "loss", "loss"])
    with pytest.raises(InputError, match="appears twice"):
        read_table(frame)


def test_quoted_fields_and_blank_lines_keep_line_numbers(tmp_path):
    text = 'compute,loss,group\n\n1e18,3,"a, b"\n1e19,2.9,"a, b"\n1e20,x,"a, b"\n'
    with pytest.raises(InputError, match=r"row 4 \(line 5\), column 'loss': 'x' is not a number"):
        load_loss_runs(_csv(tmp_path, text))


def test_folder_and_fifo_given_as_a_table(tmp_path):
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_table(tmp_path)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):  # and does not block on it
        read_table(fifo)


def test_row_limit_is_checked_while_reading(tmp_path):
    path = _csv(tmp_path, "compute,loss\n" + "1e18,3\n" * 11)
    assert len(read_table(path, max_rows=11)[0]) == 11
    with pytest.raises(InputError, match="more than 10 rows"):
        read_table(path, max_rows=10)
    with pytest.raises(InputError, match="11 rows; at most 10"):
        read_table(pd.read_csv(path), max_rows=10)


def test_na_texts_in_numeric_columns_are_missing_values(tmp_path):
    with pytest.raises(InputError, match="column 'loss': value is missing"):
        load_loss_runs(_csv(tmp_path, "compute,loss\n1e18,NA\n1e19,2\n1e20,1\n"))


def test_loss_and_compute_at_the_edges_of_float_are_refused(tmp_path):
    c = [1e18, 1e19, 1e20]
    huge = "compute,loss\n" + "".join(f"{x:g},{3e305 - i * 1e304!r}\n" for i, x in enumerate(c))
    with pytest.raises(InputError, match="outside the range bayescale accepts for a loss"):
        load_loss_runs(_csv(tmp_path, huge))
    tiny = "compute,loss\n1e-300,3\n1e19,2\n1e20,1\n"
    with pytest.raises(InputError, match="outside the range bayescale accepts for compute"):
        load_loss_runs(_csv(tmp_path, tiny, "tiny.csv"))
    with pytest.raises(InputError, match="outside the range"):
        check_targets([1e300])


def test_losses_near_1e305_exit_2_before_fitting(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bayescale.pipeline, "fit_loss", _no_fit)
    c = [1e18, 1e19, 1e20, 1e21]
    path = _csv(
        tmp_path,
        "compute,loss\n" + "".join(f"{x:g},{1e305 * (4 - i)!r}\n" for i, x in enumerate(c)),
    )
    assert main(["loss", str(path), "--target-compute", "1e23", "--out", str(tmp_path / "o")]) == 2
    assert "outside the range" in capsys.readouterr().err


def test_counts_of_2_to_the_63_are_refused(tmp_path):
    rows = ["model,compute,problem,n,k"]
    rows += [f"m{i},1e2{i},p,{2**63},1" for i in range(3)]
    with pytest.raises(InputError, match=r"column 'n'.*below 2\^53"):
        load_pass_counts(_csv(tmp_path, "\n".join(rows) + "\n"))


# ------------------------------------------------------------ output paths, before work


def _no_fit(*args, **kwargs):
    raise AssertionError("sampling started before the output paths were checked")


@pytest.mark.parametrize(
    ("flag", "make", "message"),
    [
        ("--out", lambda d: (d / "file").write_text("x") and d / "file", "is a file, not a folder"),
        ("--json", lambda d: d, "is a folder"),
        ("--json", lambda d: Path("/dev/full"), "not a regular file"),
        ("--out", lambda d: Path("/proc/bayescale-x/out"), "--out /proc/bayescale-x/out"),
        ("--json", lambda d: Path("/proc/self/x.json"), "cannot write"),
    ],
    ids=["out-is-a-file", "json-is-a-folder", "dev-full", "out-unwritable", "json-unwritable"],
)
def test_bad_output_paths_exit_2_before_any_fit(
    demo_csv, tmp_path, monkeypatch, capsys, flag, make, message
):
    monkeypatch.setattr(bayescale.pipeline, "fit_loss", _no_fit)
    target = make(tmp_path)
    code = main(["loss", str(demo_csv), "--target-compute", "1e23", flag, str(target)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_json_inside_out_is_refused(demo_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bayescale.pipeline, "fit_loss", _no_fit)
    out = tmp_path / "out"
    args = ["--out", str(out), "--json", str(out / "x.json")]
    assert main(["loss", str(demo_csv), "--target-compute", "1e23", *args]) == 2
    assert "lies inside --out" in capsys.readouterr().err


def test_output_paths_are_checked_for_forecast_import_and_spec_runs(tmp_path, capsys):
    afile = _csv(tmp_path, "x")
    assert main(["forecast", str(V010), "--target-compute", "1e23", "--out", str(afile)]) == 2
    spec = ROOT / "models" / "demo-loss.toml"
    assert main(["run", str(spec), "--json", str(tmp_path)]) == 2
    files = ["import", "evalplus", "x.json", "--compute", "1e20", "-o", "/dev/full"]
    assert main(files) == 2
    err = capsys.readouterr().err
    assert err.count("bayescale: error:") == 3 and "Traceback" not in err


def test_json_dash_is_stdout_with_the_summary_on_stderr(tmp_path, monkeypatch, capsys):
    # '--json -' wrote a file named '-'; now the document alone goes to stdout
    monkeypatch.chdir(tmp_path)
    args = ["forecast", str(V010), "--target-compute", "1e23", "--allow-unconverged", "--quiet"]
    assert main([*args, "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["kind"] == "loss"
    assert "Diagnostics:" in captured.err
    assert not (tmp_path / "-").exists()


def test_json_dash_pipes_into_a_json_reader(tmp_path):
    args = ["forecast", str(V010), "--target-compute", "1e23", "--allow-unconverged"]
    done = subprocess.run(
        [sys.executable, "-m", "bayescale.cli", *args, "--json", "-", "--out", "out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["targets"][0]["target_compute"] == 1e23
    assert "Report:" in done.stderr and (tmp_path / "out" / "forecast.json").is_file()
    assert not (tmp_path / "-").exists()


def test_a_second_run_on_the_same_out_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom bayescale.outputs import folder_lock\n"
            f"with folder_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["forecast", str(V010), "--target-compute", "1e23", "--out", str(out)]
        assert main([*args, "--allow-unconverged", "--quiet"]) == 2
        assert "another bayescale run is writing this folder" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


@pytest.fixture
def small_plots(monkeypatch):
    """Draw every figure as a blank thumbnail: these tests are about files, not pictures."""
    import matplotlib.pyplot as plt

    import bayescale.drawing
    import bayescale.loss_plots

    for module, name in (
        (bayescale.loss_plots, "loss_figure"),
        (bayescale.loss_plots, "ppc_figure"),
        (bayescale.drawing, "decision_figure"),
    ):
        monkeypatch.setattr(module, name, lambda *a, **k: plt.figure(figsize=(0.5, 0.5)))


def test_forecast_out_replaces_stale_files_and_keeps_the_old_result_on_failure(
    tmp_path, monkeypatch, capsys, small_plots
):
    out = tmp_path / "out"
    base = ["forecast", str(V010), "--out", str(out), "--allow-unconverged", "--quiet"]
    assert main([*base, "--target-compute", "1e23", "--require", "web.loss<=2.6"]) == 0
    assert (out / "decision.png").exists()
    (out / "notes-from-last-week.txt").write_text("stale")
    assert main([*base, "--target-compute", "2e23", "--require", ""]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fit.nc", "forecast.json", "loss_forecast.png", "ppc.png", "report.md"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import bayescale.saved

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bayescale.saved, "write_tree", disk_full)
    assert main([*base, "--target-compute", "3e23"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nor a lock


# -------------------------------------------------------------------- limits, interrupts


@pytest.mark.parametrize("seed", ["-1", str(2**32), "1.5"])
def test_bad_seed_exits_2(demo_csv, seed, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["loss", str(demo_csv), "--target-compute", "1e23", "--seed", seed])
    assert exit_.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_draws_that_cannot_fit_in_memory_exit_2_before_sampling(demo_csv, monkeypatch, capsys):
    # --draws 100000000 started sampling and died (or swapped) on the draws it had to keep
    import bayescale.sampling

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(bayescale.sampling, "run_numpyro", no_sampling)
    monkeypatch.setattr(bayescale.sampling, "available_memory", lambda: 8 * 2**30)
    args = ["loss", str(demo_csv), "--target-compute", "1e23", "--quiet"]
    assert main([*args, "--draws", "100000000"]) == 2
    err = capsys.readouterr().err
    assert "4 chains x 100000000 draws would keep at least 160.9 GiB of draws" in err
    assert "more than half the 8.0 GiB of memory available. Lower --draws or --chains" in err


def test_a_backtest_batch_too_large_for_memory_exits_2_before_sampling(
    demo_csv, monkeypatch, capsys
):
    import bayescale.batch

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(bayescale.batch, "sample_batched", no_sampling)
    monkeypatch.setattr(bayescale.sampling, "available_memory", lambda: 8 * 2**30)
    args = ["backtest", "loss", str(demo_csv), "--ratio", "10", "--no-baselines", "--quiet"]
    assert main([*args, "--draws", "10000000"]) == 2
    err = capsys.readouterr().err
    assert "1 dataset x 4 chains x 10000000 draws would keep" in err
    assert "GiB of memory available. Lower --draws" in err


@pytest.mark.parametrize(
    ("spec", "draws", "scalars"),
    [("demo-loss.toml", 10_000_000, 7), ("demo-pass-rate.toml", 200_000, 127)],
)
def test_check_refuses_draws_that_cannot_fit_in_memory(
    tmp_path, monkeypatch, capsys, spec, draws, scalars
):
    # bayescale check said OK to draws that run refused at once (exit 2) for memory. check
    # builds no model: it counts the sample statistics and a pass table's problems (120)
    monkeypatch.setattr(bayescale.sampling, "available_memory", lambda: 2**30)
    shipped = ROOT / "models" / spec
    name = "demo_loss.csv" if "loss" in spec else "demo_pass_counts.csv"
    args = ["check", str(tmp_path / spec), "--data", str(shipped.parent / "data" / name)]
    text = shipped.read_text()
    if "[sampler]" not in text:
        text += "\n[sampler]\ndraws = 1000\n"
    for given, code in ((1000, 0), (draws, 2)):
        (tmp_path / spec).write_text(text.replace("draws = 1000\n", f"draws = {given}\n"))
        assert main([*args, "--quiet"]) == code
    needed = 4 * draws * 8 * scalars / 2**30
    err = capsys.readouterr().err
    assert f"4 chains x {draws} draws would keep at least {needed:.1f} GiB of draws" in err
    assert "more than half the 1.0 GiB of memory available" in err


def test_ordinary_draws_pass_the_memory_check(demo_runs, monkeypatch):
    from bayescale.loss_model import build_loss_model, run_class
    from bayescale.sampling import SamplerSettings, available_memory, check_memory, stored_bytes

    assert available_memory() > 0
    data = load_loss_runs(demo_runs)
    model = build_loss_model(data, pad_runs=run_class(int(data.fitted.sum())))
    # 13 free scalars, 34 in the posterior (3 groups), 7 statistics: 54 per draw
    assert stored_bytes(model, SamplerSettings()) == 4 * 1000 * 8 * 54
    monkeypatch.setattr(bayescale.sampling, "available_memory", lambda: 2**30)
    check_memory(model, SamplerSettings())
    check_memory(model, SamplerSettings(chains=8, draws=20000))  # 66 MiB
    with pytest.raises(InputError, match="8 chains x 2000000 draws"):
        check_memory(model, SamplerSettings(chains=8, draws=2_000_000))


def test_target_count_is_capped():
    check_targets(np.logspace(20, 25, MAX_TARGETS))
    with pytest.raises(InputError, match="1,001 target computes; at most 1,000"):
        check_targets(np.logspace(20, 25, MAX_TARGETS + 1))


@pytest.mark.parametrize(
    "rule", ["pass_rate>=2", "pass_rate>=1", "pass_rate>0", "loss<=-1", "loss<=0", "web.loss<1e400"]
)
def test_requirements_that_cannot_be_meaningful_are_refused(rule):
    with pytest.raises(InputError, match="not a meaningful bar"):
        parse_requirement(rule)


@pytest.mark.parametrize(
    "rule", ["mmlu.accuracy>=1.5", "mmlu.accuracy>=1", "mmlu.accuracy>=0", "accuracy<=0"]
)
def test_accuracy_bars_that_cannot_be_meaningful_are_refused(rule):
    # 'mmlu.accuracy>=1.5' was fitted and answered NO-GO with probability 0
    with pytest.raises(InputError, match="not a meaningful bar for accuracy"):
        parse_requirement(rule, ("accuracy",))


def test_meaningful_requirements_still_parse():
    assert parse_requirement("pass_rate>=0.99").threshold == 0.99
    assert parse_requirement("web.loss<=2.1").scope == "web"
    assert parse_requirement("mmlu.accuracy>=0.7", ("accuracy",)).threshold == 0.7


def test_ctrl_c_exits_130_with_one_line_and_no_partial_output(
    tmp_path, monkeypatch, capsys, small_plots
):
    out = tmp_path / "out"
    base = ["forecast", str(V010), "--out", str(out), "--allow-unconverged", "--quiet"]
    assert main([*base, "--target-compute", "1e23"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    from dataclasses import replace

    import bayescale.registry

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    loss = replace(bayescale.registry.get_law("loss"), markdown=interrupted)  # mid-write
    monkeypatch.setitem(bayescale.registry._LAWS, "loss", loss)
    assert main([*base, "--target-compute", "2e23", "--json", str(tmp_path / "r.json")]) == 130
    err = capsys.readouterr().err
    assert err.count("interrupted") == 1 and "Traceback" not in err
    assert (
        err.strip().splitlines()[-1]
        == "bayescale: interrupted (Ctrl-C); no file was left half-written."
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nor a lock


def test_ctrl_c_during_sampling_exits_130(demo_csv, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bayescale.pipeline, "fit_loss", interrupted)
    out = tmp_path / "out"
    assert main(["loss", str(demo_csv), "--target-compute", "1e23", "--out", str(out)]) == 130
    assert not out.exists()
    err = capsys.readouterr().err
    assert (
        err.strip().splitlines()[-1].startswith("bayescale: interrupted") and "Traceback" not in err
    )


def test_ctrl_c_while_the_options_are_parsed_exits_130(monkeypatch, capsys):
    # a Ctrl-C before main's own handler (building the parser) gave a traceback
    import bayescale.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bayescale.cli, "build_parser", interrupted)
    assert bayescale.cli.run() == 130
    err = capsys.readouterr().err
    assert err.strip() == bayescale.cli.INTERRUPTED


def test_ctrl_c_while_the_command_starts_exits_130(monkeypatch, capsys):
    # `python -m bayescale` interrupted while importing the command (0.5 s after start on a
    # busy machine) printed a KeyboardInterrupt traceback
    import runpy
    import types

    starting = types.ModuleType("bayescale.cli")

    def interrupted(name):
        raise KeyboardInterrupt

    starting.__getattr__ = interrupted  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "bayescale.cli", starting)
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("bayescale.__main__", run_name="__main__")
    assert exit_.value.code == 130
    err = capsys.readouterr().err
    assert err.strip() == "bayescale: interrupted (Ctrl-C); no file was left half-written."


def test_ctrl_c_after_the_work_ends_the_process_without_a_traceback(tmp_path):
    # once main returns, Python's exit runs atexit handlers and clears modules; a Ctrl-C then
    # printed a traceback. The command now flushes its output and lets SIGINT end it.
    code = (
        "import signal, bayescale.cli as c\n"
        "c.main = lambda: print('done') or 0\n"
        "code = c.run()\n"
        "assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL\n"
        "raise SystemExit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "done\n", "")


def test_read_only_jax_cache_is_turned_off_quietly(monkeypatch):
    from bayescale.cli import _quiet_jax_cache
    from bayescale.config import CACHE_ENV, compilation_cache_dir

    monkeypatch.setenv(CACHE_ENV, "/proc/self")  # exists, and no one can write there
    _quiet_jax_cache()
    assert os.environ[CACHE_ENV] == "off" and compilation_cache_dir() is None
    monkeypatch.setenv(CACHE_ENV, "/tmp")
    _quiet_jax_cache()
    assert compilation_cache_dir() == "/tmp"


# ------------------------------------------------------------------------------ specs


SPEC = """\
schema_version = 1
law = "loss"

[data]
path = "{path}"

[forecast]
targets = [1e23]
"""


def _spec(folder: Path, data_path: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.toml"
    path.write_text(SPEC.format(path=data_path))
    return path


def test_a_spec_reads_data_only_under_its_folder(tmp_path, demo_runs, capsys):
    outside = tmp_path / "secret.csv"
    demo_runs.to_csv(outside, index=False)
    for data_path in ("../secret.csv", str(outside)):
        spec = _spec(tmp_path / "specs", data_path)
        assert main(["check", str(spec)]) == 2
        err = capsys.readouterr().err
        assert "outside the spec's folder" in err and "--allow-outside-data" in err
        assert "compute" not in err.split("outside")[1]  # nothing of the file is shown
        assert main(["check", str(spec), "--allow-outside-data"]) == 0
        assert main(["check", str(_spec(tmp_path / "other", "x.csv")), "--data", str(outside)]) == 0
    capsys.readouterr()


def test_a_symlink_out_of_the_spec_folder_is_refused(tmp_path, demo_runs, capsys):
    demo_runs.to_csv(tmp_path / "secret.csv", index=False)
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "runs.csv").symlink_to(tmp_path / "secret.csv")
    assert main(["check", str(_spec(folder, "runs.csv"))]) == 2
    assert "outside the spec's folder" in capsys.readouterr().err


def test_non_utf8_huge_and_deeply_nested_specs_exit_2(tmp_path, capsys):
    bad = tmp_path / "latin.toml"
    bad.write_bytes(SPEC.format(path="caf\xe9.csv").encode("latin-1"))
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    nested = tmp_path / "nested.toml"
    nested.write_text("x = " + "[" * 12 + "1" + "]" * 12 + "\n")
    for path, message in [(bad, "not UTF-8"), (deep, "nested"), (nested, "a spec nests at most 8")]:
        assert main(["check", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


# ---------------------------------------------------------------------------- importer


def test_append_writes_a_new_file_and_keeps_labels_verbatim(tmp_path, monkeypatch):
    from bayescale.importers import write_table

    table_path = tmp_path / "table.csv"
    old = "model,compute,problem,n,k\nNA,1e+20,007,10,3\n1.10,2e+20,007,10,4\n"
    table_path.write_text(old)
    new = pd.DataFrame(
        {"model": ["1.1"], "compute": [3e20], "problem": ["007"], "n": [10], "k": [5]}
    )
    written = write_table(new, table_path, append=True)
    assert written["model"].tolist() == ["NA", "1.10", "1.1"]
    frame, _ = read_table(table_path)
    assert frame["model"].tolist() == ["NA", "1.10", "1.1"]
    assert frame["problem"].tolist() == ["007"] * 3
    # an append killed before its rename leaves the old table whole
    before = table_path.read_bytes()

    import bayescale.outputs

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bayescale.outputs.os, "replace", killed)
    newer = new.assign(model=["2"], compute=[4e20])
    with pytest.raises(KeyboardInterrupt):
        write_table(newer, table_path, append=True)
    assert table_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_append_still_finds_duplicates_among_verbatim_labels(tmp_path):
    from bayescale.importers import write_table

    table_path = tmp_path / "table.csv"
    table_path.write_text("model,compute,problem,n,k\n007,1e+20,1,10,3\n")
    again = pd.DataFrame(
        {"model": ["007"], "compute": [1e20], "problem": ["1"], "n": [10], "k": [3]}
    )
    with pytest.raises(InputError, match="appear twice"):
        write_table(again, table_path, append=True)
    seven = again.assign(model=["7"])  # a different label, not a duplicate
    assert write_table(seven, table_path, append=True)["model"].tolist() == ["007", "7"]


# ----------------------------------------------------------------------------- report


def test_markdown_cells_are_escaped():
    assert markdown_text("a|b") == "a\\|b"
    assert markdown_text("line\nbreak") == "line break"
    assert markdown_text("<img src=x>") == "\\<img src=x\\>"
    table = markdown_table(pd.DataFrame({"group": ["web|code\n**x**"], "median": [2.0]}))
    row = table.splitlines()[2]
    assert row == "| web\\|code \\*\\*x\\*\\* | 2 |"
    assert row.count(" | ") == 1  # still two cells


def test_report_escapes_group_names(mock_pymc_sample, tmp_path):
    from bayescale.loss_report import loss_markdown
    from bayescale.pipeline import LossOptions, run_loss
    from bayescale.sampling import SamplerSettings

    rows = _loss_rows(["web|code", "x\ny"]).replace("x\ny", '"x\ny"')
    options = LossOptions(
        targets=(1e23,),
        sampler=SamplerSettings(draws=20, tune=20, chains=2, progress=False),
        allow_unconverged=True,
        columns=LossColumns(),
    )
    result = run_loss(_csv(tmp_path, rows), options)
    text = loss_markdown(result, "test", [])
    assert "web\\|code" in text and "web|code" not in text
    assert "x y" in text


@pytest.mark.slow
def test_ctrl_c_during_real_sampling_exits_130(demo_csv, tmp_path):
    """A real `bayescale loss` process, SIGINT while NUTS samples: exit 130, one line, no
    traceback, no output folder."""
    import signal

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bayescale.cli",
            "loss",
            str(demo_csv),
            "--target-compute",
            "1e23",
            "--out",
            str(out),
            "--draws",
            "20000",
        ],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a shell's & ignores it
    )
    first = proc.stderr.readline()
    assert "fitting" in first
    import time

    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait() == 130
    # the progress lines logged before the signal, then the one line, and no traceback
    assert rest.strip().splitlines()[-1] == (
        "bayescale: interrupted (Ctrl-C); no file was left half-written."
    )
    assert "Traceback" not in rest
    assert not out.exists()


@pytest.mark.parametrize("seed", [-1, 2**32, 2**63])
def test_bad_seed_in_a_spec_or_the_api_exits_2(tmp_path, demo_runs, capsys, seed):
    from bayescale.sampling import SamplerSettings

    with pytest.raises(InputError, match="sampler setting 'seed' must be between"):
        SamplerSettings(seed=seed)
    demo_runs.to_csv(tmp_path / "runs.csv", index=False)
    spec = _spec(tmp_path, "runs.csv")
    spec.write_text(spec.read_text() + f"\n[sampler]\nseed = {seed}\n")
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "seed" in err and "Traceback" not in err


def test_long_and_wide_labels_keep_the_summary_table_readable():
    # a 5,000-character group name pushed every number of the command's table 5,000 columns
    # right; CJK and emoji labels (two cells each) put their numbers out of line
    from bayescale.report import display_width, summary_grid

    rows = {
        "网页 🌐": {1e22: "2.017 [1.916, 2.091]"},
        "código": {1e22: "2.017 [1.914, 2.092]"},
        "x" * 5000: {1e22: "2.017 [1.914, 2.092]"},
    }
    lines = summary_grid("group", rows, [1e22])
    assert max(display_width(line) for line in lines) < 80
    starts = {display_width(line[: line.index(" FLOPs") - 5]) for line in lines[:1]}
    starts |= {display_width(line[: line.index("2.017")]) for line in lines[1:]}
    assert len(starts) == 1  # every number starts in the same terminal column
    assert "…" in lines[3]
    # two long labels that would shorten alike are shown whole
    twins = {
        "a" * 30 + "b" * 10 + "c" * 30: {1e22: "1"},
        "a" * 30 + "d" * 10 + "c" * 30: {1e22: "2"},
    }
    assert all("…" not in line for line in summary_grid("group", twins, [1e22]))


def test_a_dangling_link_given_as_a_table_is_named(tmp_path):
    # 'file not found' for a path that is there (a link to a moved table)
    link = tmp_path / "runs.csv"
    link.symlink_to(tmp_path / "moved" / "runs.csv")
    with pytest.raises(
        InputError, match=r"runs.csv: is a symbolic link to .*moved/runs.csv, which"
    ):
        read_table(link)

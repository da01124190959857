"""bayescale suite: reading suites, reuse by content hash, contained failures, same numbers.

Worker processes are started with ``spawn``: they import this module to run the setup hooks
below (the mocked sampler, or a job that kills its worker), so the hooks are module-level.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from bayescale import cli
from bayescale.errors import InputError
from bayescale.suite import (
    WORKER_DIED,
    Job,
    Outcome,
    Progress,
    WorkerConfig,
    format_progress,
    job_hash,
    read_suite,
    run_suite,
)

REPO = Path(__file__).resolve().parents[1]
_KEEP: list[object] = []


# ------------------------------------------------------------------ worker setup hooks


def _fake_run_job(job: Job, entry: object = None) -> Outcome:
    """A job that fits nothing: its document is its arguments (and the worker's JAX devices)."""
    doc: dict[str, object] = {"argv": list(job.argv)}
    if "jax" in sys.modules:  # the worker set its device count, in JAX or for it
        doc["devices"] = sys.modules["jax"].config.jax_num_cpu_devices
    elif "JAX_NUM_CPU_DEVICES" in os.environ:
        doc["devices"] = int(os.environ["JAX_NUM_CPU_DEVICES"])
    return Outcome(job.name, 0, 0.01, json.dumps(doc), "fake\n", "", "ok")


def setup_fake(crash: str | None = None, flag: str | None = None) -> None:
    """Run jobs without fitting; job ``crash`` kills its worker (only once when ``flag``)."""
    import bayescale.suite

    def run(job: Job, entry: object = None) -> Outcome:
        if job.name == crash and (flag is None or not os.path.exists(flag)):
            if flag is not None:
                Path(flag).write_text(str(os.getpid()))
            os._exit(9)
        return _fake_run_job(job)

    bayescale.suite.run_job = run  # type: ignore[assignment]


def setup_mocked_sampler() -> None:
    """The mocked sampler of tests/conftest.py, for the whole worker process."""
    from pymc.testing import mock_sample_setup_and_teardown

    import bayescale.batch
    import bayescale.ladder
    import bayescale.sampling

    bayescale.ladder.LADDER_MAX_STEPS = 0  # as the fixture: prior draws never pass the gate
    bayescale.sampling.run_numpyro = bayescale.sampling.run_pm_sample  # type: ignore[assignment]
    bayescale.sampling.laplace_inverse_mass = lambda model, dense: None  # type: ignore[assignment]
    bayescale.batch.sample_batched = bayescale.sampling.sample_sequential  # type: ignore[assignment]
    mock = mock_sample_setup_and_teardown()
    next(mock)
    _KEEP.append(mock)


# ------------------------------------------------------------------ fixtures


def _suite(folder: Path, body: str) -> Path:
    path = folder / "suite.toml"
    path.write_text(body)
    return path


@pytest.fixture
def tables(tmp_path: Path, demo_runs: pd.DataFrame) -> Path:
    """Two good loss tables and a bad one (one compute value), with a suite naming them."""
    demo_runs.to_csv(tmp_path / "a.csv", index=False)
    demo_runs[demo_runs["group"] != "code"].to_csv(tmp_path / "b.csv", index=False)
    (tmp_path / "bad.csv").write_text("compute,loss\n1e20,2.5\n1e20,2.6\n")
    return _suite(
        tmp_path,
        """
[defaults]
draws = 10
chains = 2
allow_unconverged = true

[[fit]]
name = "a"
law = "loss"
table = "a.csv"
target_compute = 1e23
seed = 1

[[fit]]
name = "b"
law = "loss"
table = "b.csv"
target_compute = [1e23, 3e23]
seed = 2

[[fit]]
name = "bad"
law = "loss"
table = "bad.csv"
target_compute = 1e23
""",
    )


def _runs(out: Path) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads((out / "summary.json").read_text())["runs"]}


def _numbers(run: dict) -> dict:
    """The result document without its wall times (and each sampling attempt's seconds)."""
    doc = dict(run["result"])
    doc.pop("timing_s", None)
    if "diagnostics" in doc:
        attempts = [
            {k: v for k, v in a.items() if k != "seconds"}
            for a in doc["diagnostics"].get("attempts", [])
        ]
        doc["diagnostics"] = doc["diagnostics"] | {"attempts": attempts}
    return doc


# ------------------------------------------------------------------ reading


def test_read_suite_expands_seeds_defaults_and_paths(tmp_path, demo_csv):
    suite = _suite(
        tmp_path,
        """
[defaults]
draws = 100
seeds = [5]

[[fit]]
law = "loss"
table = "runs.csv"
target_compute = [1e23, 2e23]
seeds = [0, 1]
columns = {group = "group"}

[[backtest]]
law = "loss"
table = "runs.csv"
ratios = [10, 100]
baselines = false
""",
    )
    jobs = read_suite([suite])
    assert [j.name for j in jobs] == [
        "loss-runs-seed0",
        "loss-runs-seed1",
        "backtest-loss-runs-seed5",
    ]
    first = jobs[0]
    assert first.argv[:2] == ("loss", str(demo_csv))
    assert first.argv[-2:] == ("--seed", "0")
    assert first.argv[first.argv.index("--draws") :][:2] == ("--draws", "100")
    assert first.argv.count("--target-compute") == 2
    assert "--group-col" in first.argv
    assert first.inputs == (str(demo_csv),)
    backtest = jobs[2].argv
    assert backtest[:3] == ("backtest", "loss", str(demo_csv))
    assert {"--ratio=10", "--ratio=100", "--no-baselines"} <= set(backtest)
    assert backtest[-2:] == ("--seed", "5")


def test_a_table_given_to_suite_says_how_to_name_it(tmp_path, demo_csv):
    # "runs.csv: not valid TOML: Expected '=' after a key"
    with pytest.raises(InputError, match="is a table, not a spec or suite file") as err:
        read_suite([demo_csv])
    assert f"table = '{demo_csv.name}'" in str(err.value)


def test_a_suite_file_saved_with_a_byte_order_mark_reads(tmp_path):
    # "not valid TOML: Invalid statement (at line 1, column 1)"
    shutil.copytree(REPO / "models", tmp_path / "models")
    suite = tmp_path / "suite.toml"
    suite.write_text("[[fit]]\nspec = 'models/demo-loss.toml'\n", encoding="utf-8-sig")
    (job,) = read_suite([suite])
    assert job.argv[0] == "run"


def test_a_spec_is_one_run_job_hashing_its_data(tmp_path):
    shutil.copytree(REPO / "models", tmp_path / "models")
    spec = tmp_path / "models" / "demo-loss.toml"
    (job,) = read_suite([spec])
    assert job.name == "demo-loss"
    assert job.argv == ("run", str(spec.absolute()))
    assert len(job.inputs) == 2  # the spec and its data file
    before = job_hash(job)
    assert job_hash(job) == before
    data = Path(job.inputs[1])
    data.write_text(data.read_text() + "\n")
    assert job_hash(job) != before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[[fit]]\nlaw='loss'\ntable='runs.csv'\ntarget_compute=1e23\nsedes=[1]\n", "'seeds'"),
        ("[defaults]\ndraw=10\n[[fit]]\nspec='x.toml'\n", "'draws'"),
        ("[[fits]]\nspec='x.toml'\n[[fit]]\nspec='x.toml'\n", "'fit'"),
        ("[[fit]]\nlaw='los'\ntable='runs.csv'\ntarget_compute=1e23\n", "'loss'"),
        (
            "[[fit]]\nlaw='loss'\ntable='runs.csv'\ntarget_compute=1e23\ncolumns={grup='g'}\n",
            "'group'",
        ),
    ],
)
def test_unknown_keys_are_refused_with_did_you_mean(tmp_path, demo_csv, body, expected):
    suite = _suite(tmp_path, body)
    with pytest.raises(InputError, match=rf"suite\.toml.*Did you mean {expected}"):
        read_suite([suite])


def test_missing_files_exit_2_naming_the_file(tmp_path, capsys):
    suite = _suite(tmp_path, "[[fit]]\nlaw='loss'\ntable='nowhere.csv'\ntarget_compute=1e23\n")
    assert cli.main(["suite", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "[[fit]] #1" in err and "nowhere.csv" in err and "file not found" in err
    assert cli.main(["suite", str(tmp_path / "absent.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "absent.toml: file not found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_default_names_of_files_with_spaces_or_accents_are_folder_names(tmp_path, demo_csv):
    # were refused blaming a name the suite never gave ("name 'loss-lo ss'")
    shutil.copy(demo_csv, tmp_path / "lo ss ü.csv")
    spec = tmp_path / "my spec.toml"
    shutil.copy(REPO / "models" / "demo-loss.toml", spec)
    body = "[[fit]]\nlaw='loss'\ntable='lo ss ü.csv'\ntarget_compute=1e23\n"
    jobs = read_suite([_suite(tmp_path, body + "[[fit]]\nspec='my spec.toml'\n")])
    assert [j.name for j in jobs] == ["loss-lo-ss", "my-spec"]
    assert jobs[0].argv[1] == str(tmp_path / "lo ss ü.csv")
    with pytest.raises(InputError, match="name 'lo ss'"):  # a name given is kept as given
        read_suite([_suite(tmp_path, body + "name='lo ss'\n")])


def test_duplicate_job_names_are_refused(tmp_path, demo_csv):
    table = "[[fit]]\nname='x'\nlaw='loss'\ntable='runs.csv'\ntarget_compute=1e23\n"
    with pytest.raises(InputError, match="two jobs are named 'x'"):
        read_suite([_suite(tmp_path, table * 2)])


def test_table_fit_needs_target_and_spec_fit_refuses_table_keys(tmp_path, demo_csv):
    with pytest.raises(InputError, match="needs 'target_compute'"):
        read_suite([_suite(tmp_path, "[[fit]]\nlaw='loss'\ntable='runs.csv'\n")])
    spec = REPO / "models" / "demo-loss.toml"
    with pytest.raises(InputError, match="key 'buckets' goes with 'table'"):
        read_suite([_suite(tmp_path, f"[[fit]]\nspec='{spec}'\nbuckets=3\n")])


# ------------------------------------------------------------------ running in-process


def test_suite_reuses_unchanged_jobs_and_contains_a_bad_table(
    tables, tmp_path, mock_pymc_sample, capsys
):
    out = tmp_path / "out"
    argv = ["suite", str(tables), "--out", str(out), "--workers", "0"]
    assert cli.main(argv) == 2  # the bad table's exit code
    err = capsys.readouterr().err
    assert "bad failed (bad_input, exit code 2)" in err and "1 distinct compute" in err
    assert "3/3 done, 1 failed" in err
    runs = _runs(out)
    assert list(runs) == ["a", "b", "bad"]
    for name in ("a", "b"):
        assert runs[name]["status"] == "ok" and runs[name]["exit_code"] == 0
        assert not runs[name]["skipped"]
        saved = json.loads((out / "runs" / name / "result.json").read_text())
        assert runs[name]["result"] == saved  # the run's own document, unchanged
        assert saved["kind"] == "loss"
    assert runs["bad"]["exit_code"] == 2 and runs["bad"]["result"] is None
    assert "1 distinct compute" in runs["bad"]["message"]
    assert "| bad | bad_input | 2 |" in (out / "summary.md").read_text()
    # each job's writer lock (runs/.NAME.lock) and the suite's (.out.lock) were left behind
    assert not list(tmp_path.rglob("*.lock"))
    first = {n: r["result"] for n, r in runs.items()}
    hashes = {n: json.loads((out / "runs" / n / "job.json").read_text())["hash"] for n in "ab"}

    assert cli.main(argv) == 2  # a rerun reuses both fits; the failed job runs again
    assert not list(tmp_path.rglob("*.lock"))
    runs = _runs(out)
    assert runs["a"]["skipped"] and runs["b"]["skipped"] and not runs["bad"]["skipped"]
    assert {n: r["result"] for n, r in runs.items()} == first

    table = tables.parent / "b.csv"
    frame = pd.read_csv(table)
    frame.iloc[:-1].to_csv(table, index=False)  # b gains or loses a rung: only b runs again
    assert cli.main(argv) == 2
    runs = _runs(out)
    assert runs["a"]["skipped"] and not runs["b"]["skipped"]
    assert json.loads((out / "runs" / "b" / "job.json").read_text())["hash"] != hashes["b"]
    assert json.loads((out / "runs" / "a" / "job.json").read_text())["hash"] == hashes["a"]


def test_a_crashed_suite_resumes_with_only_what_is_missing(tables, tmp_path, mock_pymc_sample):
    out = tmp_path / "out"
    jobs = read_suite([tables])[:2]
    run_suite(jobs, out, entry=cli.main, executor="inline")
    shutil.rmtree(out / "runs" / "b")  # as if the suite died while b was running
    (out / "summary.json").unlink()
    result = run_suite(jobs, out, entry=cli.main, executor="inline")
    assert [r["skipped"] for r in result.runs] == [True, False]
    assert result.exit_code == 0
    assert _runs(out)["b"]["status"] == "ok"


# ------------------------------------------------------------------ worker processes


def test_a_worker_that_dies_is_reported_and_its_job_retried_once(tmp_path, demo_csv):
    jobs = [
        Job(n, ("loss", str(demo_csv), "--seed", str(i)), (str(demo_csv),), "t")
        for i, n in enumerate(["j0", "j1", "j2", "j3"])
    ]
    flag = tmp_path / "died-once"
    config = WorkerConfig(devices=3, setup=partial(setup_fake, crash="j1", flag=str(flag)))
    result = run_suite(
        jobs, tmp_path / "out", entry=cli.main, executor="local", workers=2, config=config
    )
    assert flag.exists()  # j1 killed its worker once ...
    assert [r["status"] for r in result.runs] == ["ok"] * 4  # ... and succeeded on its retry
    assert result.runs[1]["result"] == {"argv": list(jobs[1].argv), "devices": 3}
    assert all((tmp_path / "out" / "runs" / j.name / "result.json").exists() for j in jobs)
    assert not (tmp_path / "out" / ".running").exists()
    assert not list(tmp_path.rglob("*.lock"))


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_progress_counts_a_finished_job_as_no_longer_running(
    tmp_path, demo_csv, monkeypatch, executor
):
    # the local executor reported a job's end before taking it off the running count: the
    # last line read "2/2 done, 0 failed, 1 running"
    import bayescale.suite

    monkeypatch.setattr(bayescale.suite, "run_job", _fake_run_job)
    jobs = [Job(n, ("loss", str(demo_csv)), (str(demo_csv),), "t") for n in ("j0", "j1")]
    seen: list[Progress] = []
    run_suite(
        jobs,
        tmp_path / "out",
        entry=cli.main,
        executor=executor,
        workers=2,
        config=WorkerConfig(devices=1, setup=partial(setup_fake)),
        progress=seen.append,
    )
    ends = [p for p in seen if p.last is not None]
    assert [p.done for p in ends] == [1, 2]
    assert all(p.done + p.running <= p.total for p in seen)
    assert format_progress(ends[-1]).startswith("2/2 done, 0 failed, 0 running")


def test_ctrl_c_keeps_every_finished_job_in_the_summary(tmp_path, monkeypatch):
    import bayescale.suite

    def run(job: Job, entry: object = None) -> Outcome:
        if job.name == "j1":
            raise KeyboardInterrupt
        return _fake_run_job(job)

    monkeypatch.setattr(bayescale.suite, "run_job", run)
    jobs = [Job(n, ("loss", "x.csv"), (), "t") for n in ("j0", "j1", "j2")]
    with pytest.raises(KeyboardInterrupt):
        run_suite(jobs, tmp_path / "out", entry=cli.main, executor="inline")
    assert list(_runs(tmp_path / "out")) == ["j0"]
    assert not list(tmp_path.rglob("*.lock"))


def test_a_job_that_kills_every_worker_fails_alone(tmp_path, demo_csv, caplog):
    jobs = [Job(n, ("loss", str(demo_csv)), (str(demo_csv),), "t") for n in ("j0", "j1", "j2")]
    config = WorkerConfig(setup=partial(setup_fake, crash="j1"))
    result = run_suite(
        jobs, tmp_path / "out", entry=cli.main, executor="local", workers=1, config=config
    )
    runs = {r["name"]: r for r in result.runs}
    assert runs["j1"]["status"] == WORKER_DIED and runs["j1"]["exit_code"] == 1
    assert "died twice" in runs["j1"]["message"]
    assert runs["j0"]["status"] == runs["j2"]["status"] == "ok"
    assert result.exit_code == 1
    assert "a worker process died while running j1" in caplog.text
    rerun = run_suite(
        jobs, tmp_path / "out", entry=cli.main, executor="local", workers=1, config=config
    )
    assert [r["skipped"] for r in rerun.runs] == [True, False, True]


@pytest.mark.slow
def test_same_numbers_in_process_and_in_worker_processes(tables, tmp_path, mock_pymc_sample):
    jobs = read_suite([tables])[:2]
    inline = run_suite(jobs, tmp_path / "inline", entry=cli.main, executor="inline")
    config = WorkerConfig(setup=setup_mocked_sampler)
    local = run_suite(
        jobs, tmp_path / "local", entry=cli.main, executor="local", workers=2, config=config
    )
    assert [r["status"] for r in local.runs] == ["ok", "ok"]
    for a, b in zip(inline.runs, local.runs, strict=True):
        assert _numbers(a) == _numbers(b)


def test_ray_retries_a_job_whose_worker_died(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'bayescale[ray]'")
    flag = tmp_path / "died-once"
    jobs = [Job(n, ("loss", "x.csv"), (), "t") for n in ("j0", "j1", "j2")]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        config = WorkerConfig(setup=partial(setup_fake, crash="j1", flag=str(flag)))
        result = run_suite(
            jobs, tmp_path / "out", entry=cli.main, executor="ray", workers=2, config=config
        )
        always = WorkerConfig(setup=partial(setup_fake, crash="j2"))
        dead = run_suite(
            jobs, tmp_path / "dead", entry=cli.main, executor="ray", workers=2, config=always
        )
    finally:
        ray.shutdown()
    assert flag.exists()  # j1 killed its Ray worker once and succeeded on the retry
    assert [r["status"] for r in result.runs] == ["ok"] * 3
    assert result.runs[1]["result"]["argv"] == list(jobs[1].argv)
    assert [r["status"] for r in dead.runs] == ["ok", "ok", WORKER_DIED]
    assert dead.exit_code == 1


@pytest.mark.slow
def test_ray_gives_the_same_numbers_as_in_process(tables, tmp_path, mock_pymc_sample):
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'bayescale[ray]'")
    jobs = read_suite([tables])[:2]
    inline = run_suite(jobs, tmp_path / "inline", entry=cli.main, executor="inline")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        config = WorkerConfig(setup=setup_mocked_sampler)
        on_ray = run_suite(
            jobs, tmp_path / "ray", entry=cli.main, executor="ray", workers=2, config=config
        )
    finally:
        ray.shutdown()
    for a, b in zip(inline.runs, on_ray.runs, strict=True):
        assert _numbers(a) == _numbers(b)


@pytest.mark.slow
def test_real_fits_give_the_same_numbers_inline_in_workers_and_on_ray(tmp_path, demo_csv):
    suite = _suite(
        tmp_path,
        "[defaults]\ndraws=50\ntune=50\nchains=2\nallow_unconverged=true\n"
        "[[fit]]\nlaw='loss'\ntable='runs.csv'\ntarget_compute=1e23\nseeds=[3]\n",
    )
    jobs = read_suite([suite])
    inline = run_suite(jobs, tmp_path / "inline", entry=cli.main, executor="inline")
    local = run_suite(jobs, tmp_path / "local", entry=cli.main, executor="local", workers=1)
    assert _numbers(inline.runs[0]) == _numbers(local.runs[0])
    if importlib.util.find_spec("ray") is not None:  # Ray is optional
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            on_ray = run_suite(jobs, tmp_path / "ray", entry=cli.main, executor="ray", workers=1)
        finally:
            ray.shutdown()
        assert _numbers(inline.runs[0]) == _numbers(on_ray.runs[0])


def test_a_bad_spec_fails_its_own_job_with_exit_2(tmp_path, demo_csv):
    bad = tmp_path / "bad-spec.toml"
    bad.write_text((REPO / "models" / "demo-loss.toml").read_text() + "\nsurprise = 1\n")
    suite = _suite(tmp_path, "[[fit]]\nlaw='loss'\ntable='runs.csv'\ntarget_compute=1e23\n")
    jobs = read_suite([bad, suite])
    assert [j.name for j in jobs] == ["bad-spec", "loss-runs"]
    result = run_suite(jobs[:1], tmp_path / "out", entry=cli.main, executor="inline")
    (run,) = result.runs
    assert run["status"] == "bad_input" and run["exit_code"] == 2
    assert "surprise" in run["message"] and result.exit_code == 2


def test_a_suite_named_as_a_spec_is_called_a_suite(tmp_path, demo_csv, capsys):
    # a suite listing itself (or another suite) as a spec failed with "missing 'schema_version'"
    suite = _suite(tmp_path, "[[fit]]\nspec='suite.toml'\n")
    result = run_suite(read_suite([suite]), tmp_path / "out", entry=cli.main, executor="inline")
    (run,) = result.runs
    assert run["status"] == "bad_input" and "a suite file" in run["message"]
    assert "bayescale suite" in run["message"]
    assert cli.main(["check", str(suite)]) == 2
    assert "not a forecast spec" in capsys.readouterr().err


def test_suite_options_are_checked(tmp_path, demo_csv, monkeypatch, capsys):
    suite = _suite(tmp_path, "[[fit]]\nlaw='loss'\ntable='runs.csv'\ntarget_compute=1e23\n")
    out = str(tmp_path / "out")
    assert cli.main(["suite", str(suite), "--out", out, "--workers", "-1"]) == 2
    assert "--workers -1" in capsys.readouterr().err
    assert cli.main(["suite", str(suite), "--out", out, "--address", "auto"]) == 2
    assert "--address is for --executor ray" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert cli.main(["suite", str(suite), "--out", out, "--executor", "ray"]) == 2
    assert "pip install 'bayescale[ray]'" in capsys.readouterr().err


def test_unreachable_ray_address_is_refused_at_once(tmp_path, demo_csv, capsys):
    # ray.init retried a closed port for minutes, printing GCS warnings.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    suite = _suite(tmp_path, "[[fit]]\nlaw='loss'\ntable='runs.csv'\ntarget_compute=1e23\n")
    out = tmp_path / "out"
    argv = ["suite", str(suite), "--out", str(out), "--executor", "ray"]
    assert cli.main([*argv, "--address", f"127.0.0.1:{port}"]) == 2
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in capsys.readouterr().err
    assert not out.exists()


def test_a_spec_in_a_suite_runs_like_bayescale_run(tmp_path, mock_pymc_sample):
    shutil.copytree(REPO / "models", tmp_path / "models")
    suite = _suite(
        tmp_path,
        "[[fit]]\nspec='models/demo-loss.toml'\nseeds=[4]\ndraws=10\nchains=2\n"
        "allow_unconverged=true\n",
    )
    (job,) = read_suite([suite])
    assert job.name == "demo-loss-seed4"
    (run,) = run_suite([job], tmp_path / "out", entry=cli.main, executor="inline").runs
    assert run["status"] == "ok", run["message"]
    assert run["result"]["kind"] == "loss"
    assert run["result"]["sampler"]["seed"] == 4


def test_workers_are_replaced_after_max_fits_per_worker(tmp_path, demo_csv):
    # with every job queued inside the pool at once, the first worker to leave at its limit
    # was never replaced and the suite hung (CPython gh-115634); signal.alarm turns a hang
    # into a failure
    import signal

    jobs = [Job(f"j{i}", ("loss", str(demo_csv)), (str(demo_csv),), "t") for i in range(5)]
    config = WorkerConfig(devices=1, setup=partial(setup_fake))

    def hung(*_: object) -> None:
        raise TimeoutError("the suite hung after a worker reached max_fits_per_worker")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        result = run_suite(
            jobs,
            tmp_path / "out",
            entry=cli.main,
            executor="local",
            workers=1,
            max_fits_per_worker=2,
            config=config,
        )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [r["status"] for r in result.runs] == ["ok"] * 5


def test_a_spec_reading_data_beside_its_folder_runs_when_the_suite_allows_it(
    tmp_path, demo_csv, mock_pymc_sample
):
    # specs/ and data/ side by side: the job failed asking for --allow-outside-data, which
    # `bayescale suite` has no way to pass.
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "web.toml"
    spec.write_text(
        f'schema_version = 1\nlaw = "loss"\n[data]\npath = "../{demo_csv.name}"\n'
        "[forecast]\ntargets = [1e23]\n"
    )
    fit = "[[fit]]\nspec = 'specs/web.toml'\ndraws = 10\nchains = 2\nallow_unconverged = true\n"
    (refused,) = read_suite([_suite(tmp_path, fit)])
    (run,) = run_suite([refused], tmp_path / "out", entry=cli.main, executor="inline").runs
    assert run["status"] == "bad_input" and "allow_outside_data = true" in run["message"]
    (job,) = read_suite([_suite(tmp_path, fit + "allow_outside_data = true\n")])
    assert "--allow-outside-data" in job.argv
    (direct,) = read_suite([spec], allow_outside_data=True)  # bayescale suite specs/*.toml
    assert direct.argv[-1] == "--allow-outside-data"
    assert demo_csv.resolve() in [Path(i).resolve() for i in job.inputs]  # hashed with the job
    (run,) = run_suite([job], tmp_path / "out2", entry=cli.main, executor="inline").runs
    assert run["status"] == "ok", run["message"]
    table = "[[fit]]\nlaw = 'loss'\ntable = 'x.csv'\ntarget_compute = 1e23\n"
    with pytest.raises(InputError, match="'allow_outside_data' goes with 'spec'"):
        read_suite(
            [
                _suite(
                    tmp_path, table.replace("x.csv", demo_csv.name) + "allow_outside_data = true\n"
                )
            ]
        )


@pytest.mark.parametrize(
    ("law", "fragment"),
    [("accuracy", "write a spec with law = 'accuracy'"), ("pass_rate", "law = 'pass'")],
)
def test_a_table_fit_of_another_law_says_how(tmp_path, demo_csv, law, fragment):
    # was only "expected one of ('loss', 'pass')"
    body = f"[[fit]]\nlaw = '{law}'\ntable = '{demo_csv.name}'\ntarget_compute = 1e23\n"
    with pytest.raises(InputError, match=re.escape(fragment)):
        read_suite([_suite(tmp_path, body)])


@pytest.mark.parametrize(
    ("law", "columns"),
    [("nd", "{ group = 'mix', params = 'N' }"), ("accuracy", "{ family = 'org' }")],
)
def test_a_backtest_of_nd_or_accuracy_runs_that_backtest(tmp_path, demo_csv, law, columns):
    # [[backtest]] law = 'nd' was refused, with a hint to write a spec for a [[fit]], which
    # forecasts and does not backtest; `bayescale backtest nd|accuracy` is the command
    body = (
        "[defaults]\nbaselines = false\nbootstrap = 50\nseed = 1\n"
        f"[[backtest]]\nlaw = '{law}'\ntable = '{demo_csv.name}'\nratios = [10, 100]\n"
        f"columns = {columns}\n"
    )
    (job,) = read_suite([_suite(tmp_path, body)])
    assert job.name == f"backtest-{law}-{demo_csv.stem}"
    assert job.argv[:3] == ("backtest", law, str(demo_csv.absolute()))
    # loss and pass options of [defaults] are not passed to a kind that refuses them
    assert "--no-baselines" not in job.argv and "--bootstrap" not in job.argv
    assert "--seed" in job.argv
    flag = "--params-col" if law == "nd" else "--family-col"
    assert flag in job.argv
    with pytest.raises(InputError, match="key 'baselines' is for loss and pass backtests"):
        read_suite([_suite(tmp_path, body + "baselines = true\n")])
    with pytest.raises(InputError, match="unknown column 'grupo'"):
        read_suite([_suite(tmp_path, body.replace(columns, "{ grupo = 'x' }"))])

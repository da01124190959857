"""Atomic outputs: files through a temporary name, whole result folders, one writer at a time,
and fault injection: a write killed at any point leaves the old result or the new one."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import bayescale.outputs as outputs
from bayescale.errors import InputError
from bayescale.outputs import (
    atomic_file,
    check_output_file,
    check_output_folder,
    folder_lock,
    recover_folder,
    result_folder,
    write_text,
)

ROOT = Path(__file__).resolve().parents[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") and "lock" not in p.name
    )


def test_atomic_file_keeps_the_old_file_when_writing_fails(tmp_path):
    path = write_text(tmp_path / "a.json", "old")
    with pytest.raises(RuntimeError), atomic_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk gone")
    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []
    write_text(path, "new")
    assert path.read_text() == "new" and _leftovers(tmp_path) == []
    assert (path.stat().st_mode & 0o777) == 0o644


def test_oserror_while_writing_is_an_input_error_naming_the_path(tmp_path):
    with pytest.raises(InputError, match=r"cannot write.*No space left"):  # noqa: SIM117
        with atomic_file(tmp_path / "x.nc"):
            raise OSError(28, "No space left on device")
    assert _leftovers(tmp_path) == []


def _write_run(folder: Path, names: dict[str, str]) -> None:
    with result_folder(folder) as stage:
        for name, text in names.items():
            write_text(stage / name, text)


def test_result_folder_replaces_the_whole_folder(tmp_path):
    out = tmp_path / "out"
    _write_run(out, {"forecast.json": "1", "report.md": "1", "decision.png": "1"})
    _write_run(out, {"forecast.json": "2", "report.md": "2"})
    assert sorted(p.name for p in out.iterdir()) == ["forecast.json", "report.md"]  # no stale
    assert (out / "forecast.json").read_text() == "2"
    assert _leftovers(tmp_path) == []


def test_result_folder_failure_leaves_the_old_result(tmp_path):
    out = tmp_path / "out"
    _write_run(out, {"forecast.json": "1"})
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), result_folder(out) as stage:
            write_text(stage / "forecast.json", "2")
            raise error()
        assert (out / "forecast.json").read_text() == "1"
        assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("exchange", [True, False])
def test_both_swaps_give_the_new_result(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    _write_run(out, {"forecast.json": "1"})
    _write_run(out, {"report.md": "2"})
    assert [p.name for p in out.iterdir()] == ["report.md"]
    assert _leftovers(tmp_path) == []


def test_a_crash_between_the_two_renames_is_recovered(tmp_path, monkeypatch):
    """Fallback swap: killed after 'old aside' and before 'new in'. The folder is absent, the
    complete old result waits in .out.old; a read names it, the next write restores it."""
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    _write_run(out, {"forecast.json": "old"})
    real_rename = os.rename
    calls = []

    def crash_on_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise SystemExit("killed")  # stands in for the process dying
        real_rename(src, dst)

    monkeypatch.setattr(outputs.os, "rename", crash_on_second)
    monkeypatch.setattr(
        outputs.shutil, "rmtree", lambda *a, **k: None
    )  # a dead process cleans nothing
    with pytest.raises(SystemExit):
        _write_run(out, {"forecast.json": "new"})
    monkeypatch.undo()
    assert not out.exists()
    assert (tmp_path / ".out.old" / "forecast.json").read_text() == "old"
    assert any(p.name.startswith(".out.new-") for p in tmp_path.iterdir())
    # a reader is told where the result is and how it comes back
    from bayescale.saved import load_fit

    with pytest.raises(
        InputError, match=r"interrupted write left the previous result in .*\.out\.old"
    ):
        load_fit(out / "fit.nc")
    assert "restored" in recover_folder(out)
    assert (out / "forecast.json").read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_leftovers_of_a_dead_run_are_cleaned_by_the_next(tmp_path):
    out = tmp_path / "out"
    _write_run(out, {"forecast.json": "1"})
    (tmp_path / ".out.new-dead").mkdir()
    (tmp_path / ".out.old").mkdir()  # killed while removing the old result
    _write_run(out, {"forecast.json": "2"})
    assert _leftovers(tmp_path) == [] and (out / "forecast.json").read_text() == "2"


def test_lock_refuses_a_second_writer(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom bayescale.outputs import folder_lock\n"
            f"with folder_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match="another bayescale run is writing"):
            _write_run(out, {"forecast.json": "1"})
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    _write_run(out, {"forecast.json": "1"})  # released with the process
    with folder_lock(out), folder_lock(out):  # re-entrant within one process
        _write_run(out, {"forecast.json": "2"})
    assert (out / "forecast.json").read_text() == "2"
    # the killed holder left its lock file; the next writer took it and removed it
    assert not outputs.lock_path(out).exists()


def test_the_lock_file_is_removed_on_release_and_a_stale_one_is_not_held(tmp_path, monkeypatch):
    # suite runs left one .NAME.lock per job in runs/; now a holder removes its lock file.
    # A writer that opened the file just before its holder removed it would lock a file no
    # longer at the path, beside a third writer locking the new one: it opens the path again.
    out, lock = tmp_path / "out", outputs.lock_path(tmp_path / "out")
    real_open, opened = os.open, []

    def holder_leaves_between_open_and_flock(path, *args):
        fd = real_open(path, *args)
        opened.append(path)
        if len(opened) == 1:
            os.unlink(path)
        return fd

    monkeypatch.setattr(outputs.os, "open", holder_leaves_between_open_and_flock)
    with folder_lock(out):
        assert opened == [lock, lock] and lock.exists()
    assert not lock.exists()
    with pytest.raises(KeyboardInterrupt), folder_lock(out):  # Ctrl-C
        raise KeyboardInterrupt
    assert not lock.exists()


def test_output_checks(tmp_path):
    afile = write_text(tmp_path / "f.txt", "x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_folder(afile)
    with pytest.raises(InputError, match=r"is a folder\. --json names a file, e\.g\. out\.json"):
        check_output_file(tmp_path, "--json")
    # bayescale import -o writes CSV: its example was out.json too
    with pytest.raises(InputError, match=r"is a folder\. -o names a file, e\.g\. out\.csv"):
        check_output_file(tmp_path, "-o")
    with pytest.raises(InputError, match="not a regular file"):
        check_output_file(Path("/dev/full"), "--json")
    with pytest.raises(InputError, match=r"cannot write|not a folder"):
        check_output_folder(Path("/proc/bayescale-nowhere/out"))
    with pytest.raises(InputError, match=r"cannot write|not a folder"):
        check_output_file(Path("/proc/self/bayescale.json"))
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused(tmp_path):  # pragma: no cover - CI runs as a user
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match=r"read-only|cannot write"):
            check_output_folder(ro)
        with pytest.raises(InputError, match="cannot write"):
            check_output_file(ro / "x.json")
    finally:
        ro.chmod(0o755)


# --------------------------------------------------------------------- fault injection

#: Points where a write can be cut: each flush to disk, rename, swap and removal.
_HOOKED = ("fsync", "replace", "rename")


def _install_kill_switch(kill_at: int, counter: list[int]) -> None:
    """In a forked child: die (os._exit, no clean-up) at the ``kill_at``-th write event."""

    def tick() -> None:
        counter[0] += 1
        if counter[0] == kill_at:
            os._exit(77)

    for name in _HOOKED:
        real = getattr(os, name)

        def hooked(*args, _real=real, **kwargs):
            tick()
            return _real(*args, **kwargs)

        setattr(os, name, hooked)
    real_exchange, real_rmtree = outputs._exchange, shutil.rmtree

    def exchange(a, b):
        tick()
        return real_exchange(a, b)

    def rmtree(*args, **kwargs):
        tick()
        return real_rmtree(*args, **kwargs)

    outputs._exchange = exchange
    shutil.rmtree = rmtree


def _run_killed(write, kill_at: int) -> int:
    """Run ``write()`` in a forked child that dies at its ``kill_at``-th write event."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            _install_kill_switch(kill_at, [0])
            write()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _count_events(write) -> int:
    """How many write events a complete ``write()`` makes (run in a forked child)."""
    read, send = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        counter = [0]
        _install_kill_switch(-1, counter)
        write()
        os.write(send, str(counter[0]).encode())
        os._exit(0)
    os.close(send)
    os.waitpid(pid, 0)
    count = int(os.read(read, 64))
    os.close(read)
    return count


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.is_dir():
        return None
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _fault_injection(tmp_path, write_old, write_new, trials, rng, read=_snapshot):
    """Kill ``write_new`` at random events over an old result; return the outcomes seen."""
    out = tmp_path / "out"
    refs = tmp_path / "refs"
    ref_old, ref_new = refs / "old", refs / "new"
    write_old(ref_old)
    write_new(ref_new)
    old, new = read(ref_old), read(ref_new)
    assert old != new
    shutil.copytree(ref_old, out)
    events = _count_events(lambda: write_new(out))  # over an old result, as in the trials
    assert events >= 5
    seen = {"old": 0, "new": 0}
    for trial in range(trials):
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(ref_old, out)  # the previous result
        if trials <= events:  # evenly spread, first and last event included
            kill_at = 1 + round(trial * (events - 1) / max(trials - 1, 1))
        else:  # every event once, then random ones
            kill_at = 1 + trial if trial < events else rng.randint(1, events)
        code = _run_killed(lambda: write_new(out), kill_at)
        assert code in (0, 77), f"writer failed (exit {code}) at event {kill_at}"
        state = read(out)
        if state is None:  # fallback swap killed between its renames: recoverable, detectable
            assert (tmp_path / ".out.old").is_dir(), f"event {kill_at}: result lost"
            recover_folder(out)
            state = read(out)
        assert state in (old, new), f"event {kill_at}/{events}: a mixed or partial folder"
        seen["old" if state == old else "new"] += 1
        recover_folder(out)  # what the next run does first
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == [".out.lock"]
    return seen, events


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_fault_injection_50_kills_leave_old_or_new(tmp_path, monkeypatch, exchange):
    """50 writes of a 4-file result over an old one, each killed at another point."""
    if not exchange:
        monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)

    def writer(tag: str):
        def write(folder: Path) -> None:
            with result_folder(folder) as stage:
                for name in ("forecast.json", "report.md", "loss_forecast.png", "fit.nc"):
                    write_text(stage / name, f"{tag} {name} " + "x" * 1000)
                if tag == "old":
                    write_text(stage / "decision.png", "old only")  # stale after the new run

        return write

    seen, _events = _fault_injection(tmp_path, writer("old"), writer("new"), 50, random.Random(18))
    assert seen["old"] > 0 and seen["new"] > 0, seen


@pytest.mark.parametrize("trials", [pytest.param(10), pytest.param(50, marks=pytest.mark.slow)])
def test_fault_injection_on_the_real_loss_writer(tmp_path, monkeypatch, trials):
    """The real write_loss_outputs (JSON, report, fit.nc; plots drawn small), killed over the
    result of an earlier forecast: the folder holds one of the two, complete. The default
    suite kills 10 writes (spread over its write events); the slow tier 50."""
    import matplotlib.pyplot as plt

    import bayescale.drawing
    import bayescale.loss_plots
    from bayescale.pipeline import LossOptions, result_from_fit
    from bayescale.result_files import write_loss_outputs
    from bayescale.saved import load_loss_fit

    def tiny(*args, **kwargs):
        return plt.figure(figsize=(0.5, 0.5))

    for module, name in (
        (bayescale.loss_plots, "loss_figure"),
        (bayescale.loss_plots, "ppc_figure"),
        (bayescale.drawing, "decision_figure"),
    ):
        monkeypatch.setattr(module, name, tiny)
    fit, _ = load_loss_fit(ROOT / "tests" / "data" / "loss_fit_v0.1.0.nc")
    old = result_from_fit(fit, LossOptions(targets=(1e23,), requirement="web.loss<=2.6"))
    new = result_from_fit(fit, LossOptions(targets=(2e23,)))  # no decision.png

    def read(folder: Path):
        if not folder.is_dir():
            return None
        files = sorted(p.name for p in folder.iterdir())
        doc = json.loads((folder / "forecast.json").read_text())
        import h5py

        with h5py.File(folder / "fit.nc") as h5:
            digests = str(h5.attrs["bayescale_sha256"])
            options = str(h5.attrs["options"])
        targets = [t["target_compute"] for t in doc["targets"]]
        return files, targets, digests, options, (folder / "report.md").read_text()

    start = time.perf_counter()
    seen, events = _fault_injection(
        tmp_path,
        lambda f: write_loss_outputs(old, f),
        lambda f: write_loss_outputs(new, f),
        trials,
        random.Random(7),
        read=read,
    )
    assert seen["old"] > 0 and seen["new"] > 0, (seen, events, time.perf_counter() - start)


@pytest.mark.slow
def test_sigkill_of_cli_runs_at_random_times(tmp_path):
    """Real processes: `bayescale forecast --out` over an earlier result, SIGKILLed at random
    times (20 runs); the folder holds the old result or the new one, complete."""
    fit = ROOT / "tests" / "data" / "loss_fit_v0.1.0.nc"
    out = tmp_path / "out"
    env = os.environ | {"PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}

    def cli(target: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bayescale.cli",
                "forecast",
                str(fit),
                "--target-compute",
                target,
                "--out",
                str(out),
                "--quiet",
                "--allow-unconverged",
            ],
            env=env,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )

    names: list[str] = []

    def targets() -> list[float] | None:
        if not out.is_dir():
            return None
        assert sorted(p.name for p in out.iterdir()) == names  # complete, nothing stale
        doc = json.loads((out / "forecast.json").read_text())
        found = [t["target_compute"] for t in doc["targets"]]
        assert f"| {found[0]:.3g} |" in (out / "report.md").read_text()  # same run's report
        return found

    assert cli("1e23").wait() == 0
    reference = tmp_path / "reference"
    shutil.copytree(out, reference)
    started = time.perf_counter()
    assert cli("2e23").wait() == 0
    full = time.perf_counter() - started
    names.extend(sorted(p.name for p in out.iterdir()))
    assert "fit.nc" in names and "forecast.json" in names
    rng = random.Random(18)
    seen = set()
    for _ in range(20):
        shutil.rmtree(out)
        shutil.copytree(reference, out)  # the previous result
        proc = cli("2e23")
        time.sleep(rng.uniform(0.5, 1.3) * full)  # imports take the first part
        proc.kill()
        proc.wait()
        state = targets()
        if state is None:
            recover_folder(out)
            state = targets()
        assert state in ([1e23], [2e23])
        seen.add(state[0])
    assert 1e23 in seen  # some kills landed before the swap (under load most do)
    assert cli("2e23").wait() == 0 and targets() == [2e23]  # and the folder is still usable


def test_write_text_lines_are_whole(tmp_path):
    """A reader polling a file being replaced sees one version or the other, never a mix."""
    path = tmp_path / "doc.json"
    write_text(path, json.dumps({"v": 0, "pad": "x" * 100_000}))
    script = textwrap.dedent(
        f"""
        import json
        from bayescale.outputs import write_text
        for i in range(1, 40):
            write_text({str(path)!r}, json.dumps({{"v": i, "pad": "x" * 100_000}}))
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script], env=os.environ | {"PYTHONPATH": str(ROOT)}
    )
    seen = set()
    while writer.poll() is None:
        seen.add(json.loads(path.read_text())["v"])  # never a JSONDecodeError
    assert writer.wait() == 0
    assert json.loads(path.read_text())["v"] == 39


def test_a_symlinked_out_folder_is_written_through_the_link(tmp_path):
    real = tmp_path / "real"
    _write_run(real, {"forecast.json": "1"})
    link = tmp_path / "link"
    link.symlink_to(real)
    _write_run(link, {"report.md": "2"})
    assert link.is_symlink() and [p.name for p in link.iterdir()] == ["report.md"]
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "marker",
    [
        ("report.md", "# My paper\n\nDraft.\n"),
        ("forecast.json", '{"weather": "rain"}'),
        ("summary.json", "[1, 2]"),
        ("fit.nc", "not HDF5"),
        ("backtest.md", "notes"),
        ("report.md", "# Figures\n"),  # beside a figure of its own, below
    ],
)
def test_a_project_holding_a_file_named_like_a_result_is_never_replaced(tmp_path, marker):
    # a project with its own report.md, src/ and data was replaced whole by --out: report.md
    # alone marked it an earlier result
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "train.py").write_text("precious")
    (project / marker[0]).write_text(marker[1])
    if marker[1] == "# Figures\n":  # a folder of a report and its plots, no subfolder
        (project / "src" / "train.py").unlink()
        (project / "src").rmdir()
        (project / "figure1.png").write_bytes(b"PNG")
    with pytest.raises(InputError, match=r"not a bayescale result \(e\.g\. '(src|figure1.png)'\)"):
        _write_run(project, {"forecast.json": "1"})
    assert len(list(project.iterdir())) == 2  # untouched


@pytest.mark.parametrize(
    "marker",
    [
        ("report.md", "# Forecast\n\n_bayescale 0.2.0_\n"),
        ("forecast.json", '{"bayescale_version": "0.2.0", "kind": "loss"}'),
        ("summary.json", '{"runs": []}'),
        ("backtest.md", "# Backtest (loss): runs.csv\n"),
    ],
)
def test_an_earlier_result_with_notes_beside_it_is_still_replaced(tmp_path, marker):
    out = tmp_path / "out"
    out.mkdir()
    (out / marker[0]).write_text(marker[1])
    (out / "notes.txt").write_text("mine")  # documented: not kept
    _write_run(out, {"forecast.json": "2"})
    assert [p.name for p in out.iterdir()] == ["forecast.json"]


def test_a_folder_that_is_not_an_earlier_result_is_never_replaced(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("precious")
    with pytest.raises(InputError, match=r"not a bayescale result \(e\.g\. 'train\.py'\)"):
        _write_run(project, {"forecast.json": "1"})
    assert sorted(p.name for p in project.iterdir()) == ["train.py"]
    monkeypatch.chdir(project)
    (project / "forecast.json").write_text("an earlier result")
    for here in (Path("."), project, tmp_path):
        with pytest.raises(InputError, match="is the current folder, one of its parents"):
            check_output_folder(here)
    empty = tmp_path / "empty"
    empty.mkdir()
    _write_run(empty, {"forecast.json": "1"})  # an empty folder is fine
    assert (empty / "forecast.json").read_text() == "1"


def test_result_names_alone_or_any_hdf5_fit_nc_do_not_make_an_earlier_result(tmp_path):
    # a user's report.md, TensorBoard's runs/ and a log.txt: every name is one a result
    # folder holds, none is bayescale's by its content
    logs = tmp_path / "logs"
    (logs / "runs" / "exp1").mkdir(parents=True)
    (logs / "runs" / "exp1" / "events").write_text("precious")
    (logs / "report.md").write_text("# My notes\n")
    (logs / "log.txt").write_text("step 1\n")
    with pytest.raises(InputError, match="not a bayescale result"):
        _write_run(logs, {"forecast.json": "1"})
    assert (logs / "runs" / "exp1" / "events").read_text() == "precious"
    # an ArviZ idata.to_netcdf("fit.nc") is HDF5 without bayescale's format tag
    import h5py

    project = tmp_path / "project"
    project.mkdir()
    with h5py.File(project / "fit.nc", "w") as f:
        f.attrs["created_by"] = "arviz"
    (project / "analysis.ipynb").write_text("{}")
    with pytest.raises(InputError, match="not a bayescale result"):
        _write_run(project, {"forecast.json": "1"})
    assert sorted(p.name for p in project.iterdir()) == ["analysis.ipynb", "fit.nc"]
    # a saved fit of bayescale's marks its folder, notes beside it or not
    out = tmp_path / "out"
    out.mkdir()
    (out / "fit.nc").write_bytes(
        (Path(__file__).parent / "data" / "loss_fit_v0.1.0.nc").read_bytes()
    )
    (out / "notes.txt").write_text("mine")
    _write_run(out, {"forecast.json": "2"})
    assert [p.name for p in out.iterdir()] == ["forecast.json"]

"""Many fits: read a suite into named jobs, run them in-process, in worker processes or on Ray.

A *job* is a plain description of one ``bayescale`` command (``run SPEC``, ``loss TABLE``,
``pass TABLE`` or ``backtest KIND TABLE``) with its inputs and seed. Running a job calls the
same entry point as the command line (:func:`bayescale.cli.main`), so its result document is the
command's own §4 (or backtest) JSON, unchanged, and its exit code is the command's (0, 2 bad
input, 3 not converged). A job's *content hash* (its arguments, its input files' bytes and the
package version) decides whether a rerun can reuse its earlier result.

Executors:

- ``inline``: one job after the other in this process (tests, debugging).
- ``local``: worker processes started with ``spawn`` (never ``fork`` with JAX), recycled after
  ``max_fits_per_worker`` jobs so memory stays bounded; each worker sets its own JAX device
  count and compilation cache when it starts. A worker that dies is reported and the jobs it
  was running are retried once in a new pool.
- ``ray``: one ``ray.remote`` task per job (``max_retries=1``), on a cluster at ``address`` or
  on a local one started here.

Every result is written by the process that called :func:`run_suite`, atomically
(:mod:`bayescale.outputs`): ``OUT/runs/NAME/`` (``result.json``, ``report.md``, ``log.txt``,
``job.json``) as soon as a job ends, and ``OUT/summary.json`` / ``OUT/summary.md`` after every
job, so a crash or Ctrl-C loses only the jobs still running. Nothing here imports PyMC or JAX
(the workers do, when they fit).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bayescale.config import usable_cores
from bayescale.errors import InputError, did_you_mean
from bayescale.outputs import json_text, result_folder, write_text

#: Exit codes of a job (docs/formats.md), and the two the suite adds for a job that did not end.
EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_UNCONVERGED = 0, 1, 2, 3
STATUS = {
    EXIT_OK: "ok",
    EXIT_ERROR: "error",
    EXIT_INPUT: "bad_input",
    EXIT_UNCONVERGED: "not_converged",
}
#: Status of a job whose worker process died twice (killed, out of memory).
WORKER_DIED = "worker_died"
#: Exit code of a command stopped by Ctrl-C.
EXIT_INTERRUPTED = 130

EXECUTORS = ("inline", "local", "ray")
#: Seconds between rewrites of ``summary.json`` while a suite runs (each job's own folder is
#: written as soon as it ends; a large suite's summary is not rewritten after every job).
SUMMARY_EVERY_S = 2.0

#: Keys of a suite file's tables (``[defaults]``, ``[[fit]]``, ``[[backtest]]``).
SAMPLER_KEYS = ("seed", "seeds", "draws", "tune", "chains", "allow_unconverged")
FIT_KEYS = (
    "name",
    "spec",
    "law",
    "table",
    "target_compute",
    "fit_max_compute",
    "require",
    "confidence",
    "interval",
    "buckets",
    "exclude_hardest",
    "columns",
    "allow_outside_data",
    *SAMPLER_KEYS,
)
BACKTEST_KEYS = (
    "name",
    "law",
    "table",
    "ratios",
    "interval",
    "bootstrap",
    "baselines",
    "buckets",
    "exclude_hardest",
    "columns",
    *SAMPLER_KEYS,
)
DEFAULT_KEYS = (*SAMPLER_KEYS, "interval", "bootstrap", "baselines")
SUITE_KEYS = ("defaults", "fit", "backtest")
LAWS = ("loss", "pass")
#: ``bayescale backtest`` takes every law; table fits take these two (others through a spec).
BACKTEST_LAWS = (*LAWS, "nd", "accuracy")
#: Keys of the loss and pass backtests only (``backtest nd|accuracy`` refuses their options).
BASELINE_KEYS = ("bootstrap", "baselines", "buckets", "exclude_hardest")
COLUMNS = {
    "loss": ("compute", "loss", "group", "name"),
    "pass": ("model", "compute", "problem", "n", "k", "pass_rate", "bucket", "n_problems"),
    "nd": ("params", "tokens", "loss", "group", "name", "compute"),
    "accuracy": (
        "model",
        "family",
        "compute",
        "benchmark",
        "accuracy",
        "n_questions",
        "chance",
        "params",
        "tokens",
    ),
}
#: Flags taking a value, by suite key (the rest of the keys are handled one by one).
_FLAGS = {
    "target_compute": "--target-compute",
    "fit_max_compute": "--fit-max-compute",
    "require": "--require",
    "confidence": "--confidence",
    "interval": "--interval",
    "buckets": "--buckets",
    "exclude_hardest": "--exclude-hardest",
    "draws": "--draws",
    "tune": "--tune",
    "chains": "--chains",
    "bootstrap": "--bootstrap",
}
log = logging.getLogger("bayescale")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Job:
    """One command of a suite.

    Attributes
    ----------
    name
        Unique name; its outputs go to ``OUT/runs/NAME/``.
    argv
        ``bayescale`` arguments (without ``--json`` and ``--quiet``), file paths absolute.
    inputs
        Files whose bytes decide whether an earlier result can be reused.
    source
        Where the job was defined (for messages).
    """

    name: str
    argv: tuple[str, ...]
    inputs: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Outcome:
    """What running a job gave: the command's exit code, result document and messages."""

    name: str
    exit_code: int
    seconds: float
    result: str | None  # the JSON document's text, as the command wrote it
    stdout: str
    stderr: str
    status: str = ""
    message: str | None = None


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker process sets up when it starts.

    Attributes
    ----------
    devices
        JAX CPU devices of the worker (``None``: one per chain, as a single fit asks).
    jax_cache
        Persistent JAX compilation cache folder (shared by workers: JAX writes it
        atomically); ``None`` keeps ``$BAYESCALE_JAX_CACHE`` or the default.
    setup
        A picklable callable run once in every worker before its first job (tests use it to
        install the mocked sampler or inject a crash).
    entry
        The command line's entry point, ``argv -> exit code`` (:func:`bayescale.cli.main`,
        given by :func:`run_suite`'s caller, so that this module does not import the CLI).
    """

    devices: int | None = None
    jax_cache: str | None = None
    setup: Callable[[], None] | None = None
    entry: Callable[[list[str]], int] | None = None


# ---------------------------------------------------------------------------- reading


def _suite_error(where: str, message: str) -> InputError:
    return InputError(f"{where}: {message}")


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise _suite_error(
                where,
                f"unknown key '{key}'.{did_you_mean(key, allowed)} Valid keys: "
                + ", ".join(allowed)
                + ".",
            )


def _file(value: Any, base: Path, where: str, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise _suite_error(where, f"key '{key}' must be a file path (a string).")
    path = Path(value)
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "file not found"
        raise _suite_error(where, f"key '{key}' = '{value}': {what} at {path}.")
    return path.absolute()


def _seeds(table: Mapping[str, Any], where: str) -> tuple[list[int | None], bool]:
    """The seeds a table asks for, and whether its job names get a ``-seedN`` suffix."""
    if "seed" in table and "seeds" in table:
        raise _suite_error(where, "give 'seed' (one) or 'seeds' (a list), not both.")
    if "seeds" in table:
        seeds = table["seeds"]
        if not isinstance(seeds, list) or not seeds:
            raise _suite_error(where, "key 'seeds' must be a non-empty list of integers.")
        for s in seeds:
            if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s < 2**32:
                raise _suite_error(where, f"seed {s!r} is not an integer in 0..2^32-1.")
        if len(set(seeds)) != len(seeds):
            raise _suite_error(where, "key 'seeds' repeats a seed.")
        return list(seeds), True
    seed = table.get("seed")
    if seed is not None and (
        not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32
    ):
        raise _suite_error(where, f"seed {seed!r} is not an integer in 0..2^32-1.")
    return [seed], False


def _values(key: str, value: Any, where: str) -> list[str]:
    """Command-line values of one scalar-or-list key."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _suite_error(where, f"key '{key}' is an empty list.")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise _suite_error(where, f"key '{key}' = {item!r}: expected a number or a string.")
    return [repr(float(v)) if isinstance(v, float) else str(v) for v in items]


def _options(table: Mapping[str, Any], law: str | None, where: str) -> list[str]:
    """The command-line options of a table's keys (the keys argparse validates again)."""
    argv: list[str] = []
    for key, value in table.items():
        if key in _FLAGS:
            for v in _values(key, value, where):
                argv += [_FLAGS[key], v]
        elif key == "allow_unconverged":
            if not isinstance(value, bool):
                raise _suite_error(where, "key 'allow_unconverged' must be true or false.")
            if value:
                argv.append("--allow-unconverged")
        elif key == "allow_outside_data":
            if law is not None:
                raise _suite_error(where, "key 'allow_outside_data' goes with 'spec'.")
            if not isinstance(value, bool):
                raise _suite_error(where, "key 'allow_outside_data' must be true or false.")
            if value:
                argv.append("--allow-outside-data")
        elif key == "baselines":
            if not isinstance(value, bool):
                raise _suite_error(where, "key 'baselines' must be true or false.")
            if not value:
                argv.append("--no-baselines")
        elif key == "columns":
            if law is None:
                raise _suite_error(where, "key 'columns' goes with 'table', not 'spec'.")
            if not isinstance(value, dict):
                raise _suite_error(where, "key 'columns' must be a table, e.g. {group = 'task'}.")
            for col, name in value.items():
                if col not in COLUMNS[law]:
                    raise _suite_error(
                        where,
                        f"columns: unknown column '{col}' for law '{law}'."
                        f"{did_you_mean(col, COLUMNS[law])} Valid: {', '.join(COLUMNS[law])}.",
                    )
                if not isinstance(name, str):
                    raise _suite_error(where, f"columns.{col} must be a column name (a string).")
                argv += [f"--{col.replace('_', '-')}-col", name]
    return argv


def _law(table: Mapping[str, Any], where: str, laws: tuple[str, ...] = LAWS) -> str:
    law = table.get("law")
    if law not in laws:
        hint = did_you_mean(str(law), laws) if law is not None else ""
        if law == "pass_rate":
            hint = " A table fit names the command: law = 'pass' ('pass_rate' is a spec's law)."
        elif law in ("nd", "accuracy"):
            hint = (
                f" For {law}, write a spec with law = '{law}' (docs/specs.md) and name it in a "
                "[[fit]] with spec = 'PATH.toml'."
            )
        raise _suite_error(where, f"key 'law' = {law!r}: expected one of {laws}.{hint}")
    return str(law)


def _expand(
    base_name: str,
    command: list[str],
    options: list[str],
    table: Mapping[str, Any],
    inputs: tuple[str, ...],
    where: str,
) -> list[Job]:
    seeds, suffix = _seeds(table, where)
    # a default name from a file name: what a folder name under runs/ may not carry becomes '-'
    default = re.sub(r"[^A-Za-z0-9._-]+", "-", base_name).strip("._-")[:128] or "job"
    name = table.get("name", default)
    if not isinstance(name, str) or not _NAME.match(name):
        raise _suite_error(
            where,
            f"name {name!r}: use letters, digits, '.', '_' and '-' (at most 128, starting "
            "with a letter or digit); it names the job's folder under runs/.",
        )
    jobs = []
    for seed in seeds:
        argv = [*command, *options] + ([] if seed is None else ["--seed", str(seed)])
        jobs.append(
            Job(f"{name}-seed{seed}" if suffix else name, tuple(argv), inputs, source=where)
        )
    return jobs


def spec_inputs(spec_path: Path) -> tuple[str, ...]:
    """The files a spec job reads: the spec and, when the spec names one, its data."""
    from bayescale.spec import load_spec

    inputs = [str(spec_path)]
    with contextlib.suppress(InputError, OSError):
        data = load_spec(spec_path).data_path
        if data.is_file():
            inputs.append(str(data.absolute()))
    return tuple(inputs)


def _fit_job(table: Mapping[str, Any], defaults: Mapping[str, Any], base: Path, where: str):  # type: ignore[no-untyped-def]
    _check_keys(table, FIT_KEYS, where)
    merged = {**{k: v for k, v in defaults.items() if k in FIT_KEYS}, **table}
    if ("seed" in table or "seeds" in table) and ("seed" in defaults or "seeds" in defaults):
        merged = {k: v for k, v in merged.items() if k not in ("seed", "seeds") or k in table}
    if "spec" in table:
        for key in ("law", "table", "columns", "buckets", "exclude_hardest"):
            if key in table:
                raise _suite_error(where, f"key '{key}' goes with 'table'; a spec sets it itself.")
        spec = _file(table["spec"], base, where, "spec")
        options = _options({k: v for k, v in merged.items() if k not in ("name",)}, None, where)
        return _expand(spec.stem, ["run", str(spec)], options, merged, spec_inputs(spec), where)
    if "table" not in table:
        raise _suite_error(where, "a [[fit]] needs 'spec' (a models/*.toml) or 'law' and 'table'.")
    law = _law(table, where)
    path = _file(table["table"], base, where, "table")
    if "target_compute" not in table:
        raise _suite_error(where, "a table fit needs 'target_compute' (FLOPs, a number or list).")
    rest = {k: v for k, v in merged.items() if k not in ("name", "law", "table")}
    options = _options(rest, law, where)
    return _expand(f"{law}-{path.stem}", [law, str(path)], options, merged, (str(path),), where)


def _backtest_job(table: Mapping[str, Any], defaults: Mapping[str, Any], base: Path, where: str):  # type: ignore[no-untyped-def]
    _check_keys(table, BACKTEST_KEYS, where)
    merged = {**{k: v for k, v in defaults.items() if k in BACKTEST_KEYS}, **table}
    if ("seed" in table or "seeds" in table) and ("seed" in defaults or "seeds" in defaults):
        merged = {k: v for k, v in merged.items() if k not in ("seed", "seeds") or k in table}
    law = _law(table, where, BACKTEST_LAWS)
    if law not in LAWS:  # no baselines: [defaults]' baseline keys do not apply
        for key in BASELINE_KEYS:
            if key in table:
                raise _suite_error(
                    where, f"key '{key}' is for loss and pass backtests; '{law}' has none."
                )
        merged = {k: v for k, v in merged.items() if k not in BASELINE_KEYS}
    if "table" not in table:
        raise _suite_error(where, "a [[backtest]] needs 'table' (a CSV or Parquet file).")
    path = _file(table["table"], base, where, "table")
    if "ratios" not in table:
        raise _suite_error(where, "a [[backtest]] needs 'ratios' (e.g. [10, 100]).")
    ratios = ["--ratio" + "=" + v for v in _values("ratios", table["ratios"], where)]
    rest = {k: v for k, v in merged.items() if k not in ("name", "law", "table", "ratios")}
    options = [*ratios, *_options(rest, law, where)]
    command = ["backtest", law, str(path)]
    return _expand(f"backtest-{law}-{path.stem}", command, options, merged, (str(path),), where)


def _is_suite(raw: Mapping[str, Any]) -> bool:
    return any(key in raw for key in ("fit", "backtest"))


def read_suite_file(path: Path, raw: Mapping[str, Any]) -> list[Job]:
    """The jobs of one suite file (already parsed TOML)."""
    _check_keys(raw, SUITE_KEYS, str(path))
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _suite_error(f"{path}: [defaults]", "must be a table.")
    _check_keys(defaults, DEFAULT_KEYS, f"{path}: [defaults]")
    base = path.parent.absolute()
    jobs: list[Job] = []
    for kind, make in (("fit", _fit_job), ("backtest", _backtest_job)):
        tables = raw.get(kind, [])
        if not isinstance(tables, list):
            raise _suite_error(str(path), f"'{kind}' must be an array of tables: [[{kind}]].")
        for i, table in enumerate(tables, start=1):
            where = f"{path}: [[{kind}]] #{i}"
            if not isinstance(table, dict):
                raise _suite_error(where, "must be a table.")
            jobs.extend(make(table, defaults, base, where))
    return jobs


def read_suite(paths: Iterable[str | Path], *, allow_outside_data: bool = False) -> list[Job]:
    """Read forecast specs and suite files into a list of uniquely named jobs.

    A file with ``[[fit]]`` or ``[[backtest]]`` tables is a suite file; any other TOML file
    is a forecast spec, run as ``bayescale run SPEC`` (with ``--allow-outside-data`` when
    ``allow_outside_data``; a suite file's specs say it in their ``[[fit]]``). The spec's own
    contents are checked when its job runs, so a bad spec fails its job alone.

    Raises
    ------
    InputError
        When a file is missing or not TOML, a suite key is unknown or ill-typed, a file a
        suite names is missing, or two jobs have the same name.
    """
    jobs: list[Job] = []
    for given in paths:
        path = Path(given)
        if not path.is_file():
            what = "is not a regular file" if path.exists() else "file not found"
            raise InputError(f"{path}: {what}. Give forecast specs or suite files (TOML).")
        from bayescale.data import TABLE_SUFFIXES

        if path.name.lower().endswith(TABLE_SUFFIXES):
            raise InputError(
                f"{path}: is a table, not a spec or suite file. 'bayescale suite' reads TOML "
                "specs (models/NAME.toml) and suite files whose [[fit]] entries name tables "
                f"(table = '{path.name}', law = 'loss')."
            )
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: not valid TOML: {err}.") from None
        if _is_suite(raw):
            jobs.extend(read_suite_file(path, raw))
        else:
            spec = path.absolute()
            argv = ("run", str(spec)) + ("--allow-outside-data",) * allow_outside_data
            jobs.append(Job(spec.stem, argv, spec_inputs(spec), source=str(path)))
    seen: dict[str, str] = {}
    for job in jobs:
        if job.name in seen:
            raise InputError(
                f"two jobs are named '{job.name}' ({seen[job.name]} and {job.source}); give "
                "one of them another 'name' (for specs: rename the file or list it in a suite)."
            )
        seen[job.name] = job.source
    if not jobs:
        raise InputError("the suite has no jobs: give specs or a suite file with [[fit]] tables.")
    return jobs


def job_hash(job: Job) -> str:
    """SHA-256 of the job's arguments, its input files' bytes and the package version."""
    from bayescale.version import __version__

    digest = hashlib.sha256()
    header = {"argv": job.argv, "inputs": job.inputs, "version": __version__}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name in job.inputs:
        try:
            digest.update(hashlib.sha256(Path(name).read_bytes()).digest())
        except OSError:
            digest.update(b"missing")
    return digest.hexdigest()


# ---------------------------------------------------------------------------- running


def _last_error(stderr: str) -> str | None:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("bayescale: ").removeprefix("error: ") if lines else None


def run_job(job: Job, entry: Callable[[list[str]], int] | None) -> Outcome:
    """Run one job in this process through ``entry`` (the CLI's ``main``), capturing its output.

    The result document is read back from the ``--json`` file the command wrote (absent when
    it failed). An unexpected exception becomes exit code 1 with its traceback in ``stderr``.
    """
    import traceback

    if entry is None:
        raise ValueError("run_job needs the command line's entry point (bayescale.cli.main)")
    start = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    folder = Path(tempfile.mkdtemp(prefix="bayescale-job-"))
    target = folder / "result.json"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = entry([*job.argv, "--json", str(target), "--quiet"])
            except SystemExit as exc:  # argparse: bad options
                code = exc.code if isinstance(exc.code, int) else EXIT_INPUT
            except Exception:
                traceback.print_exc()
                code = EXIT_ERROR
        result = target.read_text(encoding="utf-8") if target.is_file() else None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if code == EXIT_INTERRUPTED:  # the command caught Ctrl-C: stop the suite too
        raise KeyboardInterrupt
    stderr = err.getvalue()
    return Outcome(
        job.name,
        int(code),
        time.perf_counter() - start,
        result,
        out.getvalue(),
        stderr,
        status=STATUS.get(int(code), "error"),
        message=None if code == EXIT_OK else _last_error(stderr),
    )


_WORKER: dict[str, Any] = {}


def _init_worker(config: WorkerConfig, running: str | None = None) -> None:
    """Start a worker process: its own JAX device count and compilation cache, then setup."""
    if config.jax_cache is not None:
        os.environ["BAYESCALE_JAX_CACHE"] = config.jax_cache
    if config.devices is not None:
        from bayescale.config import configure

        configure(devices=config.devices)
    _WORKER["running"] = running
    _WORKER["entry"] = config.entry
    if config.setup is not None:
        config.setup()
    _WORKER["ready"] = True


def _worker_run(job: Job) -> Outcome:
    """Run a job in a local worker, leaving a marker while it runs (for crash accounting)."""
    running = _WORKER.get("running")
    marker = Path(running) / job.name if running else None
    if marker is not None:
        write_text(marker, str(os.getpid()))
    try:
        return run_job(job, _WORKER.get("entry"))
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def _ray_run(job: Job, config: WorkerConfig) -> Outcome:
    """Run a job in a Ray worker (set up once per worker process)."""
    import pickle

    key = pickle.dumps(config)
    if _WORKER.get("config") != key:  # Ray reuses worker processes across suites
        _init_worker(config)
        _WORKER["config"] = key
    return run_job(job, config.entry)


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SuiteResult:
    """The runs of a suite, in job order, and its exit code."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The runs that did not succeed."""
        return [r for r in self.runs if r["exit_code"] != EXIT_OK]

    @property
    def exit_code(self) -> int:
        """0 when every run succeeded; the failures' common exit code, else 1."""
        codes = {r["exit_code"] for r in self.failed}
        if not codes:
            return EXIT_OK
        return codes.pop() if len(codes) == 1 and codes <= {2, 3} else EXIT_ERROR


def _record(outcome: Outcome, *, skipped: bool) -> dict[str, Any]:
    result = json.loads(outcome.result) if outcome.result is not None else None
    return {
        "name": outcome.name,
        "status": outcome.status or STATUS.get(outcome.exit_code, "error"),
        "exit_code": outcome.exit_code,
        "seconds": round(outcome.seconds, 3),
        "skipped": skipped,
        "result": result,
        "message": outcome.message,
    }


def _write_run(runs: Path, job: Job, digest: str, outcome: Outcome) -> None:
    """Write ``runs/NAME/`` as a whole: result, report, log, and the job with its hash."""
    with result_folder(runs / job.name, "--out", owned=True) as staging:
        if outcome.result is not None:
            write_text(staging / "result.json", outcome.result)
        write_text(staging / "report.md", outcome.stdout)
        write_text(staging / "log.txt", outcome.stderr)
        meta = {
            "name": job.name,
            "hash": digest,
            "argv": list(job.argv),
            "inputs": list(job.inputs),
            "exit_code": outcome.exit_code,
            "status": outcome.status,
            "seconds": outcome.seconds,
            "message": outcome.message,
        }
        write_text(staging / "job.json", json.dumps(meta, indent=2) + "\n")


def _reusable(runs: Path, job: Job, digest: str) -> Outcome | None:
    """The earlier successful outcome of an unchanged job, if its files are all there."""
    folder = runs / job.name
    try:
        meta = json.loads((folder / "job.json").read_text(encoding="utf-8"))
        if meta.get("hash") != digest or meta.get("exit_code") != EXIT_OK:
            return None
        result = (folder / "result.json").read_text(encoding="utf-8")
        json.loads(result)
        stdout = (folder / "report.md").read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return Outcome(job.name, EXIT_OK, float(meta.get("seconds", 0.0)), result, stdout, "", "ok")


def summary_markdown(runs: list[dict[str, Any]]) -> str:
    """The suite's Markdown table: one row per run."""
    lines = [
        "# Suite summary",
        "",
        "| run | status | exit code | seconds | reused | message |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        message = (r.get("message") or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {r['name']} | {r['status']} | {r['exit_code']} | {r['seconds']:.1f} | "
            f"{'yes' if r['skipped'] else 'no'} | {message} |"
        )
    failed = [r for r in runs if r["exit_code"] != EXIT_OK]
    lines += ["", f"{len(runs) - len(failed)} of {len(runs)} runs succeeded."]
    return "\n".join(lines) + "\n"


def _write_summary(out: Path, jobs: list[Job], records: Mapping[str, dict[str, Any]]) -> None:
    runs = [records[j.name] for j in jobs if j.name in records]
    write_text(out / "summary.json", json_text({"runs": runs}))
    write_text(out / "summary.md", summary_markdown(runs))


# ---------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    """A snapshot of the suite's progress, passed to the ``progress`` callback."""

    total: int
    done: int
    failed: int
    running: int
    seconds_left: float | None
    last: dict[str, Any] | None = None


def format_progress(p: Progress) -> str:
    """One line: ``7/20 done, 1 failed, 2 running, about 3m10s left``."""
    text = f"{p.done}/{p.total} done, {p.failed} failed, {p.running} running"
    if p.seconds_left is not None and p.done < p.total:
        minutes, seconds = divmod(math.ceil(p.seconds_left), 60)
        text += f", about {minutes}m{seconds:02d}s left" if minutes else f", about {seconds}s left"
    if p.last is not None:
        text += f" (last: {p.last['name']} {p.last['status']})"
    return text


class _Tracker:
    """Counts for :class:`Progress`; the estimate is the mean job time over the parallelism."""

    def __init__(self, total: int, parallel: int, callback: Callable[[Progress], None] | None):
        self.total, self.parallel, self.callback = total, max(1, parallel), callback
        self.done = self.failed = self.running = 0
        self.times: list[float] = []

    def update(self, record: dict[str, Any] | None = None, running: int | None = None) -> None:
        if record is not None:
            self.done += 1
            self.failed += record["exit_code"] != EXIT_OK
            if not record["skipped"]:
                self.times.append(record["seconds"])
        if running is not None:
            self.running = running
        left = None
        if self.times:
            mean = sum(self.times) / len(self.times)
            left = mean * (self.total - self.done) / self.parallel
        if self.callback is not None:
            self.callback(Progress(self.total, self.done, self.failed, self.running, left, record))


# ---------------------------------------------------------------------------- executors


def _run_inline(
    jobs: list[Job],
    finish: Callable[[Job, Outcome], None],
    tracker: _Tracker,
    entry: Callable[[list[str]], int],
) -> None:
    for job in jobs:
        tracker.update(running=1)
        outcome = run_job(job, entry)
        tracker.running = 0
        finish(job, outcome)


def _top_up(
    pool: Any, backlog: Iterator[Job], pending: dict[Any, Job], workers: int, broken: list[Job]
) -> None:
    """Hand the pool the next jobs of ``backlog`` until ``workers`` are pending.

    A pool that broke (a worker died) takes no more: the job goes to ``broken``, to be run
    in a new pool.
    """
    from concurrent.futures.process import BrokenProcessPool

    for job in itertools.islice(backlog, workers - len(pending)):
        try:
            pending[pool.submit(_worker_run, job)] = job
        except BrokenProcessPool:
            broken.append(job)
            return


def _run_local(
    jobs: list[Job],
    finish: Callable[[Job, Outcome], None],
    tracker: _Tracker,
    out: Path,
    workers: int,
    max_fits_per_worker: int,
    config: WorkerConfig,
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    running_dir = out / ".running"
    running_dir.mkdir(parents=True, exist_ok=True)
    deaths: dict[str, int] = {}
    queue = list(jobs)
    while queue:
        for stale in running_dir.iterdir():
            stale.unlink(missing_ok=True)
        broken: list[Job] = []
        with ProcessPoolExecutor(
            max_workers=min(workers, len(queue)),
            mp_context=multiprocessing.get_context("spawn"),
            max_tasks_per_child=max_fits_per_worker,
            initializer=_init_worker,
            initargs=(config, str(running_dir)),
        ) as pool:
            # at most one job per worker is handed to the pool: with a backlog queued inside
            # it, a worker leaving at max_tasks_per_child is not replaced (CPython gh-115634)
            backlog = iter(queue)
            pending: dict[Any, Job] = {}
            _top_up(pool, backlog, pending, workers, broken)
            tracker.update(running=len(pending))
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = pending.pop(future)
                        tracker.running = len(pending)  # reported by finish: this one ended
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:
                            broken.append(job)
                            continue
                        finish(job, outcome)
                    if not broken:
                        _top_up(pool, backlog, pending, workers, broken)
                    if broken:  # the pool is broken: what is left goes to a new pool
                        broken.extend(pending.values())
                        pending.clear()
                    tracker.update(running=len(pending))
                broken.extend(backlog)  # empty unless the pool broke
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        in_flight = {p.name for p in running_dir.iterdir()}
        queue = []
        for job in broken:
            if job.name in in_flight or not in_flight:
                deaths[job.name] = deaths.get(job.name, 0) + 1
            if deaths.get(job.name, 0) >= 2:
                message = (
                    "its worker process died twice (killed, or out of memory); "
                    "see the system log, or run it alone with --executor local --workers 1"
                )
                finish(
                    job, Outcome(job.name, EXIT_ERROR, 0.0, None, "", message, WORKER_DIED, message)
                )
            else:
                queue.append(job)
        if queue:
            log.warning(
                "a worker process died while running %s; retrying %d unfinished job(s) in a "
                "new pool",
                ", ".join(sorted(in_flight)) or "a job",
                len(queue),
            )
    shutil.rmtree(running_dir, ignore_errors=True)


#: Seconds to wait for a Ray cluster's port to answer before refusing ``--address``.
RAY_CONNECT_TIMEOUT_S = 5.0


def check_ray_address(address: str) -> None:
    """Refuse a ``host:port`` (or ``ray://host:port``) address whose port does not answer.

    ``ray.init`` retries an unreachable cluster for many minutes, printing one warning after
    another; a closed port or unknown host is better named at once. ``auto``, ``local`` and
    addresses without a port are left to Ray.

    Raises
    ------
    InputError
        When nothing accepts a connection at the address within :data:`RAY_CONNECT_TIMEOUT_S`.
    """
    import socket
    from urllib.parse import urlsplit

    text = address.strip()
    parts = urlsplit(text if "://" in text else f"ray://{text}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number: Ray's own message says more
        return
    if not host or port is None or host in ("auto", "local"):
        return
    try:
        with socket.create_connection((host, port), timeout=RAY_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise InputError(
            f"--address {address}: no Ray cluster answers at {host}:{port} "
            f"({exc.strerror or exc}). Start one there ('ray start --head'), check the "
            "address, or leave --address out to start a local cluster."
        ) from None


def _run_ray(
    jobs: list[Job],
    finish: Callable[[Job, Outcome], None],
    tracker: _Tracker,
    address: str | None,
    workers: int,
    max_fits_per_worker: int,
    config: WorkerConfig,
    cpus_per_job: float,
) -> None:
    try:
        import ray
    except ImportError:
        raise InputError(
            "--executor ray needs Ray: pip install 'bayescale[ray]' (or 'ray>=2.40')."
        ) from None
    started = False
    if not ray.is_initialized():
        if address is not None:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        task = ray.remote(num_cpus=cpus_per_job, max_retries=1, max_calls=max_fits_per_worker)(
            _ray_run
        )
        pending = {task.remote(job, config): job for job in jobs}
        tracker.update(running=min(workers, len(pending)))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                tracker.running = min(workers, len(pending))
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as err:
                    deaths = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError")
                    died = any(
                        isinstance(err, getattr(ray.exceptions, kind, ())) for kind in deaths
                    )
                    message = (
                        "its Ray worker died twice (killed, or out of memory)"
                        if died
                        else f"the Ray task failed: {str(err).splitlines()[0]}"
                    )
                    status = WORKER_DIED if died else "error"
                    outcome = Outcome(
                        job.name, EXIT_ERROR, 0.0, None, "", str(err), status, message
                    )
                finish(job, outcome)
            tracker.update(running=min(workers, len(pending)))
    finally:
        if started:
            ray.shutdown()


def run_suite(
    jobs: Sequence[Job],
    out: str | Path,
    *,
    entry: Callable[[list[str]], int],
    executor: str = "local",
    workers: int | None = None,
    max_fits_per_worker: int = 20,
    address: str | None = None,
    config: WorkerConfig | None = None,
    progress: Callable[[Progress], None] | None = None,
    cpus_per_job: float = 1.0,
) -> SuiteResult:
    """Run ``jobs``, reusing unchanged earlier results under ``out``, and write the summary.

    Parameters
    ----------
    jobs
        From :func:`read_suite`.
    out
        The suite folder: ``summary.json``, ``summary.md`` and ``runs/NAME/``.
    entry
        What runs a job's argv: :func:`bayescale.cli.main` (picklable, for worker processes).
    executor
        ``"inline"``, ``"local"`` (spawned worker processes) or ``"ray"``.
    workers
        Parallel jobs (default: one per two CPU cores, at least 1).
    max_fits_per_worker
        Jobs a worker process runs before it is replaced (bounds its memory).
    address
        Ray cluster address (``ray``); without it a local cluster starts.
    config
        What each worker sets up at start (:class:`WorkerConfig`).
    progress
        Called with a :class:`Progress` when a job starts or ends.
    cpus_per_job
        CPUs Ray reserves per job.

    Returns
    -------
    SuiteResult
        The runs in job order (``summary.json``'s ``runs``).
    """
    if executor not in EXECUTORS:
        raise InputError(
            f"unknown executor '{executor}'.{did_you_mean(executor, EXECUTORS)} "
            f"Choose one of {', '.join(EXECUTORS)}."
        )
    if executor == "ray" and address is not None:
        check_ray_address(address)
    jobs = list(jobs)
    out = Path(out)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    workers = workers or max(1, usable_cores() // 2)
    config = replace(config or WorkerConfig(), entry=entry)
    digests = {job.name: job_hash(job) for job in jobs}
    records: dict[str, dict[str, Any]] = {}
    tracker = _Tracker(len(jobs), 1 if executor == "inline" else workers, progress)

    last_write = [0.0]

    def finish(job: Job, outcome: Outcome, *, skipped: bool = False) -> None:
        if not skipped:
            _write_run(runs, job, digests[job.name], outcome)
        records[job.name] = _record(outcome, skipped=skipped)
        if time.monotonic() - last_write[0] >= SUMMARY_EVERY_S:  # runs/NAME/ is already safe
            _write_summary(out, jobs, records)
            last_write[0] = time.monotonic()
        tracker.update(records[job.name])

    todo = []
    for job in jobs:
        earlier = _reusable(runs, job, digests[job.name])
        if earlier is None:
            todo.append(job)
        else:
            finish(job, earlier, skipped=True)
    try:
        if todo and executor == "inline":
            _run_inline(todo, finish, tracker, entry)
        elif todo and executor == "local":
            _run_local(todo, finish, tracker, out, workers, max_fits_per_worker, config)
        elif todo:
            _run_ray(
                todo, finish, tracker, address, workers, max_fits_per_worker, config, cpus_per_job
            )
    finally:  # also after Ctrl-C: the summary lists every job that ended
        _write_summary(out, jobs, records)
    return SuiteResult([records[j.name] for j in jobs])


__all__ = [
    "Job",
    "Outcome",
    "Progress",
    "SuiteResult",
    "WorkerConfig",
    "format_progress",
    "job_hash",
    "read_suite",
    "run_job",
    "run_suite",
]

"""Speed of a converged fit: bayescale's default path against the textbook PyMC baseline.

For each standard case, in one process and back to back (the machine's cores are shared, so
only ratios measured together mean much):

1. ``bayescale``: :func:`bayescale.fit_loss` / :func:`bayescale.fit_pass` with default
   settings (numpyro NUTS through ``pm.sample``, 4 chains x 1000 draws, its automatic retry),
   with an empty persistent JAX compilation cache (a first run on a new machine);
2. ``bayescale_warm``: the same fit again, the compiled programs now on disk (what a second
   ``bayescale`` command on a model of the same shape pays);
3. ``baseline``: the same law written the obvious way (``benchmarks/textbook.py``) and
   sampled with plain ``pm.sample()`` defaults (PyMC's own NUTS; 1000 tuning steps, 1000
   draws, as many chains as cores). If it misses R-hat <= 1.01 or bulk ESS >= 400 it is run
   again with twice the draws (up to ``--max-baseline-draws``; once only with ``--quick``), and
   the wall time reported is that of the last attempt alone, which favours the baseline.

Per fit: ``wall_s`` (model building, compilation, sampling, retries, diagnostics), ``compile_s``
(bayescale: JAX tracing, lowering and XLA compilation time reported by JAX's own monitoring
events, cache loads included; baseline: wall time outside PyMC's sampling loop, which is
mostly Numba compilation of the log density), ``ess_bulk_min``, ``r_hat_max``,
``divergences`` (over every posterior quantity, as the diagnostics gate counts them),
``ess_per_s`` (= ess_bulk_min / wall_s) and ``steps_per_draw`` (mean leapfrog steps).
``peak_rss_mib`` is the process's peak resident memory after the case (an upper bound for the
case: the peak never falls).

    python benchmarks/bench_fit.py --quick --json benchmarks/results/bench_fit.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# A fresh persistent-cache folder, so that the first fit of each case compiles from scratch
# (a child process of the bench gets its parent's).
_CHILD_CACHE = "BAYESCALE_BENCH_CACHE"
_CACHE = os.environ.get(_CHILD_CACHE) or tempfile.mkdtemp(prefix="bayescale-bench-jax-")
os.environ["BAYESCALE_JAX_CACHE"] = _CACHE  # also for the bayescale commands it starts

# set up as the bayescale command sets itself up, before JAX or PyMC start
from bayescale.config import configure, float32_requested  # noqa: E402

configure(
    devices=max(4, os.cpu_count() or 1), compilation_cache=_CACHE, float32=float32_requested()
)

from processes import timed_command  # noqa: E402

from bayescale.backtest_report import fit_diagnostics, merge_diagnostics  # noqa: E402
from bayescale.buckets import Buckets, make_buckets  # noqa: E402
from bayescale.data import LossData, load_loss_runs  # noqa: E402
from bayescale.diagnostics import RHAT_MAX, diagnose  # noqa: E402
from bayescale.ladder import model_target_accept  # noqa: E402
from bayescale.loss_backtest import backtest_loss_ratios, loss_split  # noqa: E402
from bayescale.loss_fit import fit_loss  # noqa: E402
from bayescale.pass_data import PassColumns, PassCounts, load_pass_counts  # noqa: E402
from bayescale.pass_fit import fit_pass  # noqa: E402
from bayescale.sampling import SamplerSettings  # noqa: E402
from bayescale.simulate import (  # noqa: E402
    DEMO_TRUTH,
    LossTruth,
    simulate_loss_runs,
    simulate_pass_counts,
)

PYTHIA = ROOT.parent / "shared" / "data" / "pythia_math_monkeys" / "pythia_math_counts.csv"
PYTHIA_COLUMNS = PassColumns(
    compute="train_flops", problem="problem_idx", n="n_samples", k="n_correct"
)
ESS_MIN = 400  # docs/formats.md: per parameter (the gate asks 100 per chain)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "loss", "pass", or "batch" (a backtest's fits, batched)
    describe: str
    load: Callable[[], LossData | tuple[PassCounts, Buckets] | None]


def _loss_case() -> LossData:
    return load_loss_runs(simulate_loss_runs(DEMO_TRUTH, runs_per_group=10, seed=2026))


def _pythia_case() -> tuple[PassCounts, Buckets]:
    counts = load_pass_counts(pd.read_csv(PYTHIA), PYTHIA_COLUMNS)
    return counts, make_buckets(counts)


def _simulated_pass_case(models: int, problems: int, samples: int, seed: int):
    def load() -> tuple[PassCounts, Buckets]:
        table, _ = simulate_pass_counts(
            n_models=models, n_problems=problems, samples=samples, seed=seed
        )
        counts = load_pass_counts(table)
        return counts, make_buckets(counts)

    return load


def _no_data() -> None:
    """Cases that make their own tables."""


#: Cases run only when named in ``--cases`` or without ``--quick``.
NOT_QUICK = ("pass-sim-12x500", "new-tables-10", "saved-forecast-loss-3x10", "nutpie-loss-3x10")


def standard_cases() -> list[Case]:
    pythia = (
        Case(
            "pass-pythia-math-7x128",
            "pass",
            "Pythia x MATH (real): 7 models x 128 problems x 10,000 samples, 6 buckets",
            _pythia_case,
        )
        if PYTHIA.exists()
        else Case(
            "pass-sim-7x128",
            "pass",
            "simulated, Pythia x MATH size: 7 models x 128 problems x 10,000 samples, 6 buckets",
            _simulated_pass_case(7, 128, 10_000, 7),
        )
    )
    return [
        Case(
            "backtest-loss-10-splits",
            "batch",
            "demo curves, 3 groups x 16 runs; the Bayesian fits of a backtest at 10 ratios "
            f"({', '.join(f'{r:g}' for r in BATCH_RATIOS)})",
            _batch_data,
        ),
        Case(
            "loss-3x10",
            "loss",
            "demo curves (bayescale.simulate.DEMO_TRUTH), 3 groups x 10 runs, 1e17-1e20 FLOPs",
            _loss_case,
        ),
        pythia,
        Case(
            "new-tables-10",
            "tables",
            "10 simulated loss tables never fitted before, 1-4 groups x 3-16 runs: the CLI in "
            "a new process (--out, warm cache) against the same fits warm through the API",
            _no_data,
        ),
        Case(
            "saved-forecast-loss-3x10",
            "forecast",
            "bayescale forecast fit.nc in a new process against the same fit warm in one",
            _no_data,
        ),
        Case(
            "nutpie-loss-3x10",
            "nutpie",
            "nutpie (Numba backend, its defaults) on bayescale's own loss model of loss-3x10",
            _no_data,
        ),
        Case(
            "pass-sim-12x500",
            "pass",
            "simulated: 12 models x 500 problems x 100 samples, 6 buckets",
            _simulated_pass_case(12, 500, 100, 12),
        ),
    ]


class CompileClock:
    """Sum of JAX's compile-time events (tracing, lowering, XLA compile) while active."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self) -> None:
        self.seconds = 0.0
        self.active = False
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **_: object) -> None:
        if self.active and event in self.EVENTS:
            self.seconds += duration

    def __enter__(self) -> CompileClock:
        self.seconds, self.active = 0.0, True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False


def _stats(idata, wall: float) -> dict[str, float | int]:
    diag = diagnose(idata)
    stats = idata["sample_stats"].to_dataset()
    steps = stats["n_steps"] if "n_steps" in stats else stats["tree_size"]
    return {
        "wall_s": round(wall, 2),
        "ess_bulk_min": round(float(diag.ess_bulk_min), 1),
        "ess_tail_min": round(float(diag.ess_tail_min), 1),
        "r_hat_max": round(float(diag.r_hat_max), 4),
        "divergences": int(diag.divergences),
        "ess_per_s": round(float(diag.ess_bulk_min) / wall, 1),
        "steps_per_draw": round(float(np.mean(steps.values)), 1),
        "chains": int(diag.chains),
        "draws": int(diag.draws),
    }


def _converged(stats: dict) -> bool:
    return (
        stats["r_hat_max"] <= RHAT_MAX
        and stats["ess_bulk_min"] >= ESS_MIN
        and stats["divergences"] == 0
    )


def run_bayescale(case: Case, data, clock: CompileClock, seed: int) -> dict:
    settings = SamplerSettings(seed=seed, progress=False)
    with clock:
        start = time.perf_counter()
        if case.kind == "loss":
            fit = fit_loss(data, settings=settings, allow_unconverged=True)
        else:
            counts, buckets = data
            fit = fit_pass(counts, buckets, settings=settings, allow_unconverged=True)
        wall = time.perf_counter() - start
    out = _stats(fit.idata, wall)
    out["compile_s"] = round(clock.seconds, 2)
    out["sampling_s"] = round(fit.timing_s["sampling"], 2)
    kind = "loss" if case.kind == "loss" else "pass"
    started = settings.target_accept or model_target_accept(kind)
    out["retried"] = fit.settings.target_accept != started
    return out


def run_baseline(case: Case, data, seed: int, max_draws: int) -> dict:
    import pymc as pm
    from textbook import textbook_loss_model, textbook_pass_model

    draws, attempts, total = 1000, [], 0.0
    while True:
        start = time.perf_counter()
        model = textbook_loss_model(data) if case.kind == "loss" else textbook_pass_model(*data)
        # plain defaults; nuts_sampler is pinned because with nutpie installed the default
        # would switch to it, and the baseline is PyMC's own NUTS
        idata = pm.sample(
            draws=draws, model=model, random_seed=seed, progressbar=False, nuts_sampler="pymc"
        )
        wall = time.perf_counter() - start
        total += wall
        out = _stats(idata, wall)
        out["compile_s"] = round(wall - float(idata["posterior"].attrs["sampling_time"]), 2)
        attempts.append(
            {"draws": draws, "wall_s": out["wall_s"], "ess_bulk_min": out["ess_bulk_min"]}
        )
        quality = out["r_hat_max"] <= RHAT_MAX and out["ess_bulk_min"] >= ESS_MIN
        if quality or draws * 2 > max_draws:
            break
        draws *= 2
    out["attempts"] = attempts
    out["total_wall_s"] = round(total, 2)
    return out


#: Ratios of the batched-backtest case: 10 distinct leave-largest-out splits of 16 runs a group.
BATCH_RATIOS = (1.3, 2.0, 3.2, 5.0, 8.0, 13.0, 20.0, 32.0, 50.0, 80.0)


def _batch_data() -> LossData:
    """The demo curves again, 16 runs a group (seeded apart from ``loss-3x10``: compiles anew)."""
    return load_loss_runs(simulate_loss_runs(DEMO_TRUTH, runs_per_group=16, seed=7))


def _summary(diags: list[dict]) -> dict:
    """Worst R-hat and ESS and all divergences of several fits' backtest diagnostics."""
    merged = merge_diagnostics(diags)
    return {
        "ess_bulk_min": round(float(merged["ess_bulk_min"]), 1),
        "r_hat_max": round(float(merged["r_hat_max"]), 4),
        "divergences": int(merged["divergences"]),
        "fits": int(merged["fits"]),
    }


def _batch_summary(backtests: list) -> dict:
    """The pooled fits of a batched backtest: worst diagnostics, and how many were retried."""
    parts = [bt.diagnostics["bayescale"] for bt in backtests]
    retried = sum(p["target_accept"] > model_target_accept("loss") for p in parts)
    return {**_summary(parts), "retried": retried}


def _fits_summary(fits: list, wall: float, compile_s: float, target_accept: float) -> dict:
    summary = _summary([fit_diagnostics(f) for f in fits])
    return {
        "wall_s": round(wall, 2),
        "compile_s": round(compile_s, 2),
        **summary,
        "ess_per_s": round(summary["ess_bulk_min"] / wall, 1),
        "retried": sum(f.settings.target_accept != target_accept for f in fits),
    }


def _timed_fit(clock: CompileClock, data: LossData, settings: SamplerSettings) -> dict:
    """One ``fit_loss`` of ``data``: its diagnostics, wall and compile time."""
    with clock:
        start = time.perf_counter()
        fit = fit_loss(data, settings=settings, allow_unconverged=True)
        wall = time.perf_counter() - start
    return {**_stats(fit.idata, wall), "compile_s": round(clock.seconds, 2)}


def _timed_batch(clock: CompileClock, data: LossData, settings: SamplerSettings) -> dict:
    """The batched fits of a backtest at :data:`BATCH_RATIOS`: wall, compile and diagnostics."""
    with clock:
        start = time.perf_counter()
        backtests = backtest_loss_ratios(
            data, list(BATCH_RATIOS), settings=settings, baselines=False
        )
        wall = time.perf_counter() - start
    return {
        **_batch_summary(backtests),
        "wall_s": round(wall, 2),
        "compile_s": round(clock.seconds, 2),
        "held_out_cases_per_split": [int(bt.cases.shape[0]) for bt in backtests],
    }


def run_batch_case(clock: CompileClock, seed: int, quick: bool) -> dict:
    """A 10-split loss backtest: its Bayesian fits batched, against one fit and 10 fits.

    ``one_fit`` is ``fit_loss`` on the whole table; ``bayescale`` the 10 split fits of
    ``backtest_loss_ratios(..., baselines=False)`` (one batch); ``baseline`` the same 10 fits
    one ``fit_loss`` at a time, as backtests ran before batching. Each first on programs never
    compiled in this process or the fresh cache ("cold"), then again ("warm"; not the baseline
    with ``--quick``), and both once more each in a new process with the compiled programs
    on disk (``one_fit_new_process``, ``bayescale_new_process``: a later ``bayescale`` run,
    JAX's start-up included in both). ``cost_in_fits`` is the batch's wall over one fit's.
    """
    data = _batch_data()
    settings = SamplerSettings(seed=seed, progress=False)
    # start JAX, PyMC and numpyro first (a short fit of other data), so that "cold" means the
    # same for the one fit and the batch: programs never compiled, in a running process
    fit_loss(
        _loss_case(),
        settings=SamplerSettings(draws=20, tune=20, progress=False),
        allow_unconverged=True,
    )
    row: dict[str, object] = {}
    for label in ("cold", "warm"):
        row[f"one_fit_{label}"] = _timed_fit(clock, data, settings)
        key = "bayescale" if label == "cold" else "bayescale_warm"
        row[key] = _timed_batch(clock, data, settings)
    row["one_fit_new_process"] = _in_new_process("one", seed)
    row["bayescale_new_process"] = _in_new_process("batch", seed)
    for label in () if quick else ("cold", "warm"):
        splits = [loss_split(data, r)[0] for r in BATCH_RATIOS]
        with clock:
            start = time.perf_counter()
            fits = [fit_loss(s, settings=settings, allow_unconverged=True) for s in splits]
            wall = time.perf_counter() - start
        row["baseline" if label == "cold" else "baseline_warm"] = _fits_summary(
            fits, wall, clock.seconds, settings.target_accept or model_target_accept("loss")
        )
    row["cost_in_fits"] = {
        label: round(row[batch]["wall_s"] / row[one]["wall_s"], 2)  # type: ignore[index]
        for label, batch, one in (
            ("cold", "bayescale", "one_fit_cold"),
            ("warm", "bayescale_warm", "one_fit_warm"),
            ("new_process", "bayescale_new_process", "one_fit_new_process"),
        )
    }
    cold, warm = row["bayescale"], row["bayescale_warm"]
    if "baseline" in row:
        row["speedup"] = round(row["baseline"]["wall_s"] / cold["wall_s"], 2)  # type: ignore[index]
    if "baseline_warm" in row:
        row["speedup_warm"] = round(row["baseline_warm"]["wall_s"] / warm["wall_s"], 2)  # type: ignore[index]
    return row


#: ``--quick``: the textbook fit is stopped once it has taken this many times bayescale's
#: cold wall time, the speedup issue 6 asks for (its time is then a lower bound).
QUICK_CAP = 3.0
#: The line a baseline child prints once it has imported PyMC and loaded the data.
READY = "ready"


def _in_new_process(what: str, seed: int) -> dict:
    """One fit (``"one"``) or the batch (``"batch"``) of the batch case in a child process.

    The child shares this run's compilation cache; its clock starts after its imports, so it
    includes JAX's start-up, as a ``bayescale`` command's run does.
    """
    import subprocess

    command = [sys.executable, __file__, "--batch-child", what, "--seed", str(seed)]
    child = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, _CHILD_CACHE: _CACHE},
        timeout=900,
    )
    if child.returncode:
        raise RuntimeError(f"batch child failed: {child.stderr[-2000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def run_batch_child(what: str, seed: int) -> dict:
    """:func:`_in_new_process`'s child: the timed fit or batch."""
    data = _batch_data()
    settings = SamplerSettings(seed=seed, progress=False)
    timed = _timed_batch if what == "batch" else _timed_fit
    return timed(CompileClock(), data, settings)


def run_baseline_capped(case: Case, seed: int, cap_s: float) -> dict:
    """One textbook attempt of 1000 draws in a child process, stopped after ``cap_s`` seconds.

    The clock starts when the child says it is ready (PyMC imported, data loaded), which is
    where :func:`run_baseline`'s own wall time starts. Returns its row when it finishes in
    time, else ``wall_s = cap_s`` with ``stopped: true`` (it took longer than that; nothing
    else is known of it). The child runs in its own session, so stopping it also stops
    PyMC's sampling processes.
    """
    import signal
    import subprocess

    command = [sys.executable, __file__, "--baseline-child", case.name, "--seed", str(seed)]
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True
        )
        assert child.stdout is not None
        if child.stdout.readline().strip() != READY:
            child.wait()
            errors.seek(0)
            raise RuntimeError(f"baseline child failed: {errors.read().decode()[-2000:]}")
        try:
            child.wait(timeout=cap_s)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return {"wall_s": round(cap_s, 2), "stopped": True}
        out = child.stdout.read()
    return dict(json.loads(out.strip().splitlines()[-1]), stopped=False)


def _key_quantities(case: Case, fit) -> dict[str, np.ndarray]:
    """Draws of the quantities a forecast rests on: a, b, c per group; level, exponent."""
    names = ("a", "b", "c") if case.kind == "loss" else ("level", "exponent", "sigma_model")
    return {name: fit.draws(name).reshape(fit.draws(name).shape[0], -1) for name in names}


def float_summary(case: Case, seed: int) -> dict:
    """Fit ``case`` once and summarise it (used in a child process for the float32 check)."""
    data = case.load()
    settings = SamplerSettings(seed=seed, progress=False)
    start = time.perf_counter()
    if case.kind == "loss":
        fit = fit_loss(data, settings=settings, allow_unconverged=True)
    else:
        fit = fit_pass(*data, settings=settings, allow_unconverged=True)
    wall = time.perf_counter() - start
    from bayescale.config import float_width

    return {
        "float": float_width(),
        "wall_s": round(wall, 2),
        "diagnostics": fit.diagnostics.to_dict(),
        "median": {k: np.median(v, axis=0).tolist() for k, v in _key_quantities(case, fit).items()},
        "sd": {k: v.std(axis=0).tolist() for k, v in _key_quantities(case, fit).items()},
    }


def float32_check(case: Case, seed: int) -> dict:
    """Fit in float64 here and in float32 in a child process; compare posterior medians.

    The check passes when the float32 fit passes the diagnostics gate and every median of
    ``a, b, c`` (loss) or ``level, exponent, sigma_model`` (pass) is within 0.2 posterior sd
    of the float64 median: the Monte Carlo error of a median from ~2,000 effective draws is
    ~0.03 sd, so a larger gap means the float width changed the answer.
    """
    import subprocess

    here = float_summary(case, seed)
    env = dict(os.environ, BAYESCALE_FLOAT32="1")
    child = subprocess.run(
        [sys.executable, __file__, "--float-summary", case.name, "--seed", str(seed)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    there = json.loads(child.stdout.strip().splitlines()[-1])
    gaps = [
        abs(m32 - m64) / sd
        for k in here["median"]
        for m32, m64, sd in zip(
            np.ravel(there["median"][k]),
            np.ravel(here["median"][k]),
            np.ravel(here["sd"][k]),
            strict=True,
        )
    ]
    worst = float(max(gaps))
    return {
        "case": case.name,
        "float64": {k: here[k] for k in ("float", "wall_s", "diagnostics")},
        "float32": {k: there[k] for k in ("float", "wall_s", "diagnostics")},
        "max_median_gap_in_sd": round(worst, 3),
        "passed": bool(there["diagnostics"]["ok"] and worst <= 0.2),
    }


def _write(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def markdown_table(document: dict) -> str:
    """The docs/speed.md table of a results document (``--table PATH``)."""
    lines = [
        "| case | fit | wall | compile | bulk ESS | R-hat | divergences | ESS/s | steps/draw |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = (
        ("bayescale", "bayescale, cold"),
        ("bayescale_warm", "bayescale, warm"),
        ("baseline", "textbook"),
    )
    batches = [row for row in document["cases"] if "cost_in_fits" in row]
    for row in document["cases"]:
        if row in batches:
            continue
        for key, label in labels:
            if key not in row:
                continue
            r = row[key]
            if r.get("stopped"):
                lines.append(
                    f"| {row['case']} | {label} | > {r['wall_s']:.0f} s (stopped) | | | | | | |"
                )
                continue
            lines.append(
                f"| {row['case']} | {label} | {r['wall_s']:.1f} s | {r['compile_s']:.1f} s | "
                f"{r['ess_bulk_min']:.0f} | {r['r_hat_max']:.3f} | {r['divergences']} | "
                f"{r['ess_per_s']:.1f} | {r['steps_per_draw']:.0f} |"
            )
        if "speedup" in row:
            at_least = ">= " if row.get("baseline", {}).get("stopped") else ""
            warm = f", warm {at_least}{row['speedup_warm']}x" if "speedup_warm" in row else ""
            lines.append(
                f"| {row['case']} | **speedup** | **{at_least}{row['speedup']}x** cold{warm} "
                "| | | | | | |"
            )
    if batches:
        lines += ["", *batch_table(batches)]
    return "\n".join(lines)


def batch_table(rows: list[dict]) -> list[str]:
    """docs/speed.md rows of the batched-backtest case: the batch against one fit and 10 fits."""
    lines = [
        "| case | fits | cold wall | warm wall | new process | bulk ESS (min) | R-hat (max) "
        "| divergences |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = (
            ("one fit of the whole table", "one_fit_cold", "one_fit_warm"),
            ("10 split fits, one batch", "bayescale", "bayescale_warm"),
            ("10 split fits, one at a time", "baseline", "baseline_warm"),
        )
        for label, cold_key, warm_key in cells:
            if cold_key not in row:
                continue
            cold, warm = row[cold_key], row.get(warm_key)
            new = row.get(warm_key.replace("_warm", "_new_process"), {})
            warm_wall = f"{warm['wall_s']:.1f} s" if warm else "(not run)"
            new_wall = f"{new['wall_s']:.1f} s" if new else "–"
            lines.append(
                f"| {row['case']} | {label} | {cold['wall_s']:.1f} s | {warm_wall} | "
                f"{new_wall} | {cold['ess_bulk_min']:.0f} | {cold['r_hat_max']:.3f} | "
                f"{cold['divergences']} |"
            )
        cost = row["cost_in_fits"]
        new_cost = f"**{cost['new_process']}x**" if "new_process" in cost else "(not run)"
        lines.append(
            f"| {row['case']} | **batch / one fit** | **{cost['cold']}x** | "
            f"**{cost['warm']}x** | {new_cost} | | | |"
        )
    return lines


#: The "new tables" case: (groups, runs per group) of its ten tables, 1-4 groups, 3-16 runs.
NEW_TABLES = ((1, 3), (1, 8), (2, 4), (2, 16), (3, 5), (3, 10), (4, 3), (4, 6), (1, 16), (2, 7))
#: A fourth curve next to DEMO_TRUTH's three, for the tables with 4 groups.
FOURTH_GROUP = {"math": LossTruth(a=60.0, b=-0.105, c=1.6)}


def warmup_tables() -> dict[tuple[int, int], tuple[int, int]]:
    """One other table per shape class of :data:`NEW_TABLES`: (groups, runs per group) by class.

    A loss fit compiles one program per shape class (groups, fitted runs rounded up by
    :func:`bayescale.loss_model.run_class`), so a cache warmed by any table of a class serves
    the new tables of that class. Each warm-up table has a run per group fewer than the first
    new table of its class when that stays in the class (else as many runs), and other values.
    """
    from bayescale.loss_model import run_class

    tables: dict[tuple[int, int], tuple[int, int]] = {}
    for groups, runs in NEW_TABLES:
        key = (groups, run_class(groups * runs))
        fewer = runs - 1 if runs > 3 and run_class(groups * (runs - 1)) == key[1] else runs
        tables.setdefault(key, (groups, fewer))
    return tables


def new_table(index: int, seed: int) -> pd.DataFrame:
    """The ``index``-th table of the new-tables case: its own groups, run count and scatter."""
    groups, runs = NEW_TABLES[index]
    truth = dict(list({**DEMO_TRUTH, **FOURTH_GROUP}.items())[:groups])
    return simulate_loss_runs(truth, runs_per_group=runs, seed=seed * 1000 + index)


def _cli(*args: str) -> dict:
    """Run ``bayescale ARGS`` in a new process: its wall and CPU seconds, and exit code."""
    return timed_command(args, ROOT)


def _median(rows: list[dict], key: str = "wall_s") -> float:
    return round(float(np.median([r[key] for r in rows])), 2)


def run_new_tables_case(seed: int, settings: SamplerSettings, folder: Path) -> dict:
    """Ten tables never seen before, each fitted by the CLI in a new process, warm cache.

    Each table (:data:`NEW_TABLES`) is fitted by ``bayescale loss TABLE --out DIR`` in a new
    process (its wall includes the interpreter, the imports, model building, tracing, XLA
    compilation of programs the cache has not seen, sampling and the outputs), with the
    persistent compilation cache warmed first by a fit of another table of each shape class
    (:func:`warmup_tables`): the state of a cache that has seen tables of these sizes before.
    The same fits are then made in this process through the API, twice each; the second
    (``api_warm``, ``run_loss`` alone, and ``api_warm_outputs`` with ``write_loss_outputs`` too)
    is a fit made warm in one process. ``ratio`` is the median CLI wall over the median warm
    ``run_loss`` wall (issue 15's measure), ``ratio_same_work`` over the warm fit with its
    outputs written.
    """
    from bayescale.pipeline import LossOptions, run_loss
    from bayescale.result_files import write_loss_outputs

    folder.mkdir(parents=True, exist_ok=True)
    sampler = ["--draws", str(settings.draws), "--tune", str(settings.tune), "--quiet"]
    sampler += ["--seed", str(seed), "--allow-unconverged"]
    paths, targets = [], []
    for i in range(len(NEW_TABLES)):
        table = new_table(i, seed)
        paths.append(folder / f"table{i}.csv")
        table.to_csv(paths[-1], index=False)
        targets.append(float(table["compute"].max()) * 10)
    warmed = []
    for key, (groups, runs) in warmup_tables().items():
        warmup = folder / f"warmup-{groups}x{runs}.csv"
        truth = dict(list({**DEMO_TRUTH, **FOURTH_GROUP}.items())[:groups])
        simulate_loss_runs(truth, runs_per_group=runs, seed=seed * 1000 + 999).to_csv(
            warmup, index=False
        )
        out = folder / f"w-{groups}x{runs}"
        _cli("loss", str(warmup), "--target-compute", "1e21", "--out", str(out), *sampler)
        warmed.append(f"{groups} groups x {runs} runs (class: {key[0]} groups, {key[1]} runs)")
    cli = [
        _cli(
            "loss", str(p), "--target-compute", f"{t:g}", "--out", str(folder / f"cli{i}"), *sampler
        )
        for i, (p, t) in enumerate(zip(paths, targets, strict=True))
    ]
    api: list[dict] = []
    for i, (p, t) in enumerate(zip(paths, targets, strict=True)):
        options = LossOptions(targets=(t,), sampler=settings, allow_unconverged=True)
        run_loss(p, options)  # cold in this process: traced and compiled (or loaded) here
        start = time.perf_counter()
        result = run_loss(p, options)
        fitted = time.perf_counter() - start
        write_loss_outputs(result, folder / f"api{i}")
        api.append(
            {
                "wall_s": round(fitted, 2),
                "with_outputs_s": round(time.perf_counter() - start, 2),
                "r_hat_max": result.fit.diagnostics.r_hat_max,
                "divergences": result.fit.diagnostics.divergences,
            }
        )
    row: dict[str, object] = {
        "tables": [f"{g} groups x {r} runs" for g, r in NEW_TABLES],
        "warmup_tables": warmed,
        "cli_new_process": cli,
        "api_warm": api,
        "cli_median_wall_s": _median(cli),
        "cli_median_cpu_s": _median(cli, "cpu_s"),
        "api_warm_median_wall_s": _median(api),
        "api_warm_outputs_median_wall_s": _median(api, "with_outputs_s"),
    }
    row["ratio"] = round(row["cli_median_wall_s"] / row["api_warm_median_wall_s"], 2)  # type: ignore[operator]
    row["ratio_same_work"] = round(
        row["cli_median_wall_s"] / row["api_warm_outputs_median_wall_s"],  # type: ignore[operator]
        2,
    )
    row["speedup"] = None  # no baseline: the ratio is the figure
    return row


def run_saved_forecast_case(seed: int, settings: SamplerSettings, folder: Path) -> dict:
    """``bayescale forecast fit.nc`` in a new process, against the same fit made warm.

    A loss table (3 groups x 10 runs) is fitted once by ``bayescale loss --out``; then
    ``bayescale forecast DIR/fit.nc`` runs five times in new processes, with ``--json`` and
    with ``--out`` (report and plots). ``ratio`` is the median forecast wall (``--json``)
    over the wall of the same fit made warm in this process through ``run_loss``; issue 15
    asks for at most 0.3.
    """
    from bayescale.pipeline import LossOptions, run_loss

    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "runs.csv"
    simulate_loss_runs(DEMO_TRUTH, runs_per_group=10, seed=seed).to_csv(table, index=False)
    sampler = ["--draws", str(settings.draws), "--tune", str(settings.tune), "--quiet"]
    sampler += ["--seed", str(seed), "--allow-unconverged"]
    fitted = _cli(
        "loss", str(table), "--target-compute", "1e22", "--out", str(folder / "fit"), *sampler
    )
    saved = str(folder / "fit" / "fit.nc")
    common = ["forecast", saved, "--target-compute", "1e23", "--allow-unconverged", "--quiet"]
    as_json = [_cli(*common, "--json", str(folder / f"f{i}.json")) for i in range(5)]
    with_out = [_cli(*common, "--out", str(folder / f"out{i}")) for i in range(5)]
    options = LossOptions(targets=(1e22,), sampler=settings, allow_unconverged=True)
    run_loss(table, options)
    start = time.perf_counter()
    run_loss(table, options)
    warm = time.perf_counter() - start
    row: dict[str, object] = {
        "fit_new_process": fitted,
        "forecast_json": as_json,
        "forecast_out": with_out,
        "forecast_json_median_wall_s": _median(as_json),
        "forecast_json_median_cpu_s": _median(as_json, "cpu_s"),
        "forecast_out_median_wall_s": _median(with_out),
        "api_warm_fit_wall_s": round(warm, 2),
    }
    row["ratio"] = round(row["forecast_json_median_wall_s"] / warm, 2)  # type: ignore[operator]
    row["speedup"] = None
    return row


def run_nutpie_case(seed: int, settings: SamplerSettings) -> dict:
    """nutpie, the strongest peer sampler, on bayescale's own loss model, against bayescale.

    The model is :func:`bayescale.loss_model.build_loss_model` of the loss-3x10 table, the
    one ``fit_loss`` samples; nutpie compiles it (its default Numba backend) and samples it
    with its defaults (its own warm-up and mass-matrix adaptation) at the same chains,
    warm-up and draws. Twice each, in this process: ``*_cold`` first, then warm. ``speedup``
    is nutpie's warm wall over bayescale's warm wall; ``ess_per_s`` side by side.
    """
    try:
        import nutpie
    except ImportError:
        return {"skipped": "nutpie is not installed (pip install 'bayescale[bench]')"}
    from bayescale.loss_model import build_loss_model

    data = _loss_case()
    clock = CompileClock()
    row: dict[str, object] = {}
    for label in ("cold", "warm"):
        row[f"bayescale_{label}"] = _timed_fit(clock, data, settings)
        start = time.perf_counter()
        model = build_loss_model(data)
        compiled = nutpie.compile_pymc_model(model)
        compile_s = time.perf_counter() - start
        trace = nutpie.sample(
            compiled,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            seed=seed,
            progress_bar=False,
        )
        wall = time.perf_counter() - start
        row[f"nutpie_{label}"] = {**_stats(_as_tree(trace), wall), "compile_s": round(compile_s, 2)}
    row["bayescale"], row["baseline"] = row.pop("bayescale_warm"), row.pop("nutpie_warm")
    row["speedup"] = round(row["baseline"]["wall_s"] / row["bayescale"]["wall_s"], 2)  # type: ignore[index]
    return row


def _as_tree(trace):
    """nutpie's trace as a ``DataTree`` with ``posterior`` and ``sample_stats``."""
    import xarray as xr

    if isinstance(trace, xr.DataTree):
        return trace
    groups = {g: getattr(trace, g) for g in ("posterior", "sample_stats") if hasattr(trace, g)}
    return xr.DataTree.from_dict(groups)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, object]:
    import jax
    import numpyro
    import pymc

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "pymc": pymc.__version__,
        "numpyro": numpyro.__version__,
        "jax": jax.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        "note": "compare the ratios measured back to back in this one process, not absolute "
        "seconds across runs; the load averages say how busy the machine was",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about 5 minutes: the batch, loss and Pythia-size cases; textbook fits stopped at "
        f"{QUICK_CAP:g}x bayescale's cold wall time; no sequential re-run of the batch case",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/bench_fit.json")
    parser.add_argument("--cases", default=None, help="comma list of case names to run")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-baseline-draws", type=int, default=4000)
    defaults = SamplerSettings()
    parser.add_argument(
        "--draws",
        type=int,
        default=defaults.draws,
        help="draws per chain of the new-tables, saved-forecast and nutpie cases",
    )
    parser.add_argument("--tune", type=int, default=defaults.tune, help="their warm-up steps")
    parser.add_argument(
        "--float32-check",
        action="store_true",
        help="compare float32 with float64 fits of the loss and Pythia-size cases instead",
    )
    parser.add_argument("--float-summary", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-child", help=argparse.SUPPRESS)
    parser.add_argument("--batch-child", choices=("one", "batch"), help=argparse.SUPPRESS)
    parser.add_argument("--table", type=Path, help="print the docs/speed.md table of a result")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(args.table.read_text())))
        return 0
    if args.baseline_child:
        import pymc  # noqa: F401  (imported before the ready line: not part of the fit's time)
        import textbook  # noqa: F401

        (case,) = [c for c in standard_cases() if c.name == args.baseline_child]
        data = case.load()
        print(READY, flush=True)
        print(json.dumps(run_baseline(case, data, args.seed, 1000)))
        return 0
    if args.batch_child:
        print(json.dumps(run_batch_child(args.batch_child, args.seed)))
        return 0
    if args.float_summary:
        (case,) = [c for c in standard_cases() if c.name == args.float_summary]
        print(json.dumps(float_summary(case, args.seed)))
        return 0
    if args.float32_check:
        cases = [c for c in standard_cases() if c.kind != "batch"][:2]  # loss and Pythia size
        checks = [float32_check(c, args.seed) for c in cases]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(), "checks": checks}, indent=2) + "\n")
        print(json.dumps(checks, indent=2))
        return 0

    clock = CompileClock()
    cases = standard_cases()
    if args.cases:
        wanted = args.cases.split(",")
        cases = [c for c in cases if c.name in wanted]
    elif args.quick:
        cases = [c for c in cases if c.name not in NOT_QUICK]
    small = SamplerSettings(
        draws=args.draws, tune=args.tune, seed=args.seed, progress=False
    )  # the new-tables, saved-forecast and nutpie cases
    started = time.perf_counter()
    results = []
    for case in cases:
        row: dict[str, object] = {"case": case.name, "data": case.describe}
        if case.kind == "batch":
            row.update(run_batch_case(clock, args.seed, args.quick))
            print(case.name, {k: row.get(k) for k in ("cost_in_fits", "speedup")}, flush=True)
            row["converged"] = _converged(row["bayescale"])  # type: ignore[arg-type]
            row["peak_rss_mib"] = round(_rss_mib(), 1)
            row.setdefault(
                "speedup", None
            )  # docs/formats.md (speed benchmark): null without a baseline
            results.append(row)
            continue
        if case.kind in ("tables", "forecast", "nutpie"):
            work = Path(tempfile.mkdtemp(prefix=f"bayescale-bench-{case.kind}-"))
            row["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
            if case.kind == "tables":
                row.update(run_new_tables_case(args.seed, small, work))
            elif case.kind == "forecast":
                row.update(run_saved_forecast_case(args.seed, small, work))
            else:
                row.update(run_nutpie_case(args.seed, small))
            row["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
            print(case.name, {k: row.get(k) for k in ("ratio", "speedup")}, flush=True)
            row["peak_rss_mib"] = round(_rss_mib(), 1)
            row.setdefault(
                "speedup", None
            )  # docs/formats.md (speed benchmark): null without a baseline
            results.append(row)
            _write(args.json, {"machine": machine(), "quick": args.quick, "cases": results})
            continue
        data = case.load()
        row["bayescale"] = run_bayescale(case, data, clock, args.seed)
        print(case.name, "bayescale", row["bayescale"], flush=True)
        if not (args.quick and case.name.endswith("12x500")):
            row["bayescale_warm"] = run_bayescale(case, data, clock, args.seed)
            print(case.name, "bayescale_warm", row["bayescale_warm"], flush=True)
        if not args.no_baseline:
            if args.quick:
                cap = QUICK_CAP * row["bayescale"]["wall_s"]  # type: ignore[index]
                row["baseline"] = run_baseline_capped(case, args.seed, cap)
            else:
                row["baseline"] = run_baseline(case, data, args.seed, args.max_baseline_draws)
            print(case.name, "baseline", row["baseline"], flush=True)
            base = row["baseline"]["wall_s"]  # type: ignore[index]
            row["speedup"] = round(base / row["bayescale"]["wall_s"], 2)  # type: ignore[index]
            if "bayescale_warm" in row:
                row["speedup_warm"] = round(base / row["bayescale_warm"]["wall_s"], 2)  # type: ignore[index]
        row["converged"] = _converged(row["bayescale"])  # type: ignore[arg-type]
        if "baseline" in row and not row["baseline"].get("stopped"):  # type: ignore[attr-defined]
            # when the baseline misses the quality bar, its time to a converged posterior is
            # longer than its wall time here, so the speedup is a lower bound
            row["baseline_converged"] = _converged(row["baseline"])  # type: ignore[arg-type]
        row["peak_rss_mib"] = round(_rss_mib(), 1)
        row.setdefault("speedup", None)
        results.append(row)
        # written after every case, so a long run that is stopped keeps what it measured
        _write(args.json, {"machine": machine(), "quick": args.quick, "cases": results})
    document = {
        "machine": machine(),
        "quick": args.quick,
        "thresholds": {"r_hat_max": RHAT_MAX, "ess_bulk_min": ESS_MIN, "divergences": 0},
        "total_s": round(time.perf_counter() - started, 1),
        "cases": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps([{k: r.get(k) for k in ("case", "speedup", "converged")} for r in results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Small ladders: does every ordinary small table get a forecast, and is it calibrated?

Draws ``--cases`` seeded loss tables of the size users usually bring (1-3 groups, 3-6 runs
per group over 1-3 decades of compute, run-to-run scatter 0.3-1.5% on log loss) from curves
drawn more broadly than the model's prior (:func:`draw_case`), fits each one through the
single-fit path users hit (:func:`bayescale.fit_loss`, default settings, the gate on), and
scores the predictive interval of a new run (true curve times fresh scatter) at a larger
compute, 3-100x beyond the group's largest run. It writes the gate pass count, the exit-3
count (a :class:`~bayescale.errors.ConvergenceError` after the whole convergence ladder) with
their messages, coverage of the 50/80/90% intervals, the ladder steps used, and seconds.

    python benchmarks/small_ladders.py --cases 100 --json benchmarks/results/small_ladders.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale.ladder
import bayescale.loss_fit
from bayescale import SamplerSettings, fit_loss, fit_loss_batch, load_loss_runs
from bayescale.errors import ConvergenceError
from bayescale.forecast import loss_draws
from bayescale.simulate import LossTruth

LEVELS = (0.5, 0.8, 0.9)
SEED = 20261203


def draw_case(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, LossTruth], float]:
    """One small ladder: its table, its true curves, and its scatter.

    Exponents ``-b`` uniform on [0.03, 0.5] for the family, each group within 0.8-1.25x of
    it; irreducible loss uniform on [0.5, 3.5]; reducible loss at the smallest run uniform on
    [0.2, 3.0] nats; the smallest run at 1e17-1e20 FLOPs, the ladder 1-3 decades long with
    each run's log compute jittered by up to a quarter of a step.
    """
    groups = int(rng.integers(1, 4))
    scatter = float(rng.uniform(0.003, 0.015))
    family_k = rng.uniform(0.03, 0.5)
    low = 10 ** rng.uniform(17, 20)
    decades = rng.uniform(1, 3)
    truth, rows = {}, []
    for g in range(groups):
        k = float(family_k * rng.uniform(0.8, 1.25))
        c = float(rng.uniform(0.5, 3.5))
        reducible = float(rng.uniform(0.2, 3.0))
        name = f"g{g + 1}"
        truth[name] = LossTruth(a=reducible / low ** (-k), b=-k, c=c)
        runs = int(rng.integers(3, 7))
        step = decades / (runs - 1)
        log_c = np.log10(low) + np.linspace(0, decades, runs)
        log_c[1:-1] += rng.uniform(-step / 4, step / 4, runs - 2)
        compute = 10**log_c
        loss = truth[name](compute) * np.exp(scatter * rng.standard_normal(runs))
        rows += [
            {"name": f"{name}-{i}", "group": name, "compute": float(x), "loss": float(y)}
            for i, (x, y) in enumerate(zip(compute, loss, strict=True))
        ]
    return pd.DataFrame(rows), truth, scatter


def run(
    cases: int,
    seed: int,
    draws: int | None = None,
    first: int = 0,
    partial: Path | None = None,
    batch: bool = False,
) -> dict:
    """Fit and score small ladders ``first`` to ``first + cases - 1``; the JSON of ``main``.

    With ``partial``, the fits and scored runs so far are written there after every case.
    With ``batch``, the first fits run through :func:`bayescale.fit_loss_batch` (one program
    per number of groups; a dataset that fails the gate climbs the rest of the ladder alone),
    and seconds are each fit's share.
    """
    rows, fits = [], []
    batched = _batched(range(first, first + cases), seed, draws) if batch else {}
    for case in range(first, first + cases):
        rng = np.random.default_rng([seed, case])
        table, truth, scatter = draw_case(rng)
        data = load_loss_runs(table)
        settings = SamplerSettings(seed=case, progress=False)
        if draws is not None:
            settings = SamplerSettings(seed=case, progress=False, draws=draws)
        start = time.perf_counter()
        message = None
        if batch:
            fit = batched[case]
            if not fit.diagnostics.ok:
                message = bayescale.ladder.advice_message(
                    fit.diagnostics, bayescale.loss_fit.ADVICE
                )
        else:
            try:
                fit = fit_loss(data, settings=settings)
            except ConvergenceError as error:
                fit, message = error.result, str(error)
        wall = time.perf_counter() - start if not batch else fit.timing_s["total"]
        attempts = [dict(a) for a in fit.diagnostics.to_dict().get("attempts", [])]
        fits.append(
            {
                "case": case,
                "groups": len(truth),
                "runs": int(data.fitted.sum()),
                "scatter": scatter,
                "ok": fit.diagnostics.ok,
                "exit": 0 if message is None else 3,
                "message": message,
                "r_hat_max": float(fit.diagnostics.r_hat_max),
                "ess_bulk_min": float(fit.diagnostics.ess_bulk_min),
                "divergences": int(fit.diagnostics.divergences),
                "attempts": attempts,
                "seconds": wall,
                "load_average_1min": os.getloadavg()[0],
            }
        )
        for gi, group in enumerate(fit.data.groups):
            largest = float(data.compute[data.group == group].max())
            target = largest * 10 ** rng.uniform(0.5, 2.0)
            d = loss_draws(fit, np.array([target]))["loss"].values[:, gi, 0]
            new_run = float(truth[group](target) * np.exp(scatter * rng.standard_normal()))
            row = {"case": case, "group": group, "target_compute": target, "truth": new_run}
            for level in LEVELS:
                lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
                row[f"covered_{level}"] = bool(lo <= new_run <= hi)
            row["rel_error"] = float(np.median(d) / new_run - 1)
            rows.append(row)
        if partial is not None:
            partial.write_text(json.dumps({"fits": fits, "new_run_rows": rows}) + "\n")
        print(
            f"case {case + 1}/{first + cases}: {len(truth)} groups, {fits[-1]['runs']} runs, "
            f"{wall:.1f} s, exit {fits[-1]['exit']}, steps "
            f"{[a['what'] for a in attempts]}",
            flush=True,
        )
    return summarise(fits, rows, seed)


def _batched(cases: range, seed: int, draws: int | None) -> dict:
    """Every case fitted through :func:`bayescale.fit_loss_batch`, by case number."""
    datasets = [load_loss_runs(draw_case(np.random.default_rng([seed, case]))[0]) for case in cases]
    settings = SamplerSettings(progress=False, **({} if draws is None else {"draws": draws}))
    fits = fit_loss_batch(datasets, settings=settings, seeds=list(cases), allow_unconverged=True)
    return dict(zip(cases, fits, strict=True))


def summarise(fits: list[dict], rows: list[dict], seed: int) -> dict:
    """The study's summary over ``fits`` and their scored new runs ``rows``."""
    ok = {f["case"]: f["ok"] for f in fits}
    steps = Counter(
        "first fit" if a["why"] == "first fit" else a["what"].split(":")[0].split(" per")[0]
        for f in fits
        for a in f["attempts"]
    )
    return {
        "machine": platform.platform(),
        "load_average": list(os.getloadavg()),
        "cases": len(fits),
        "seed": seed,
        "gate_passed": sum(f["ok"] for f in fits),
        "exit_3": sum(f["exit"] == 3 for f in fits),
        "exit_3_messages": [f["message"] for f in fits if f["message"]],
        "coverage": {str(lv): float(np.mean([r[f"covered_{lv}"] for r in rows])) for lv in LEVELS},
        "coverage_gate_passed": {
            str(lv): float(np.mean([r[f"covered_{lv}"] for r in rows if ok[r["case"]]]))
            for lv in LEVELS
        },
        "new_runs": len(rows),
        "median_abs_rel_error": float(np.median([abs(r["rel_error"]) for r in rows])),
        "ladder_steps": dict(steps),
        "fits_with_more_than_one_step": sum(len(f["attempts"]) > 1 for f in fits),
        "seconds": {
            "median": float(np.median([f["seconds"] for f in fits])),
            "max": float(np.max([f["seconds"] for f in fits])),
            "total": float(np.sum([f["seconds"] for f in fits])),
        },
        "fits": fits,
        "new_run_rows": rows,
    }


def main() -> None:
    """Run the study and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/small_ladders.json"))
    parser.add_argument("--first", type=int, default=0, help="first case (to split a run)")
    parser.add_argument("--partial", type=Path, help="write fits so far here after each case")
    parser.add_argument("--merge", type=Path, nargs="+", help="summarise these --partial files")
    parser.add_argument("--batch", action="store_true", help="first fits in batches")
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(path.read_text()) for path in args.merge]
        fits = sorted((f for p in parts for f in p["fits"]), key=lambda f: f["case"])
        rows = [r for p in parts for r in p["new_run_rows"]]
        result = summarise(fits, rows, args.seed)
    else:
        result = run(
            args.cases, args.seed, first=args.first, partial=args.partial, batch=args.batch
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k not in ("fits", "new_run_rows")}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""Calibration of loss forecasts on seeded simulations with known truth.

Draws ``--cases`` datasets from :func:`bayescale.simulate.random_loss_truth` (3 groups x 12
runs over 1e17-1e20 FLOPs, 0.5% log scatter), fits each with bayescale's defaults, and
scores the predictive interval of a *new run* (true curve times fresh scatter) at 1e22 and
1e23 FLOPs (100x and 1000x beyond the largest run): coverage of the 50/80/90% intervals and
the median absolute relative error of the median.

    python benchmarks/calibration_sim.py --cases 20 --json benchmarks/results/calibration_sim.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from bayescale import SamplerSettings, fit_loss, load_loss_runs
from bayescale.config import configure
from bayescale.forecast import loss_draws
from bayescale.simulate import random_loss_truth, simulate_loss_runs

# set up as the bayescale command does: a JAX CPU device per chain or core, the cache
configure(devices=max(4, os.cpu_count() or 1), compilation_cache=True)

TARGETS = np.array([1e22, 1e23])
LEVELS = (0.5, 0.8, 0.9)
SCATTER = 0.005


def run(cases: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = []
    for case in range(cases):
        truth = random_loss_truth(rng)
        runs = simulate_loss_runs(truth, runs_per_group=12, scatter=SCATTER, seed=seed + case)
        start = time.perf_counter()
        fit = fit_loss(
            load_loss_runs(runs),
            settings=SamplerSettings(seed=case, progress=False),
            allow_unconverged=True,
        )
        wall = time.perf_counter() - start
        draws = loss_draws(fit, TARGETS)["loss"].values
        for gi, group in enumerate(fit.data.groups):
            for ti, target in enumerate(TARGETS):
                new_run = float(truth[group](target) * np.exp(SCATTER * rng.standard_normal()))
                d = draws[:, gi, ti]
                row = {
                    "case": case,
                    "group": group,
                    "target_compute": float(target),
                    "truth": new_run,
                    "median": float(np.median(d)),
                    "rel_error": float(np.median(d) / new_run - 1),
                    "converged": fit.diagnostics.ok,
                    "wall_s": wall,
                }
                for level in LEVELS:
                    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
                    row[f"covered_{level}"] = bool(lo <= new_run <= hi)
                    row[f"width_{level}"] = float((hi - lo) / np.median(d))
                rows.append(row)
        print(f"case {case + 1}/{cases}: {wall:.1f} s, converged={fit.diagnostics.ok}", flush=True)
    summary = {}
    for target in TARGETS:
        sel = [r for r in rows if r["target_compute"] == target]
        summary[f"{target:.0e}"] = {
            "n": len(sel),
            "coverage": {
                str(lv): float(np.mean([r[f"covered_{lv}"] for r in sel])) for lv in LEVELS
            },
            "median_abs_rel_error": float(np.median([abs(r["rel_error"]) for r in sel])),
            "median_rel_width_90": float(np.median([r["width_0.9"] for r in sel])),
        }
    return {
        "machine": platform.platform(),
        "cases": cases,
        "converged_cases": len({r["case"] for r in rows if r["converged"]}),
        "median_fit_wall_s": float(np.median([r["wall_s"] for r in rows])),
        "summary": summary,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/calibration_sim.json")
    )
    args = parser.parse_args()
    result = run(args.cases, args.seed)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()

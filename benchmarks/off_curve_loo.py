"""Off-curve runs: importance-sampled leave-one-out against a refit without the run.

``forecast.off_curve_warnings`` names a fitted loss run whose leave-one-out predictive puts a
loss as far out as its own below 1 in 10,000. Importance sampling estimates that predictive
from the fit with the run in; for an influential run (the largest of a short ladder) its
weights collapse and the tail is pulled toward the middle. ``fit_loss`` therefore refits
without such suspects (``forecast.with_exact_loo``, which ``run_loss`` calls). Three studies:

- ``spikes``: one-group ladders of 5 and 7 runs on the demo's web curve, the largest run
  made 0, 3, 6 or 12% high; per case the importance-sampled tail of that run and its weights'
  ESS, the tail from a refit without it (always made here),
  and whether the default path (with its refits) names it;
- ``clean``: ``--clean`` small ladders drawn as ``benchmarks/small_ladders.py`` draws them
  (every run on its curve): runs named with and without refits, refits made, their seconds;
- ``real``: the real loss tables of ``benchmarks/calibration_real.py`` (skipped without
  ``../shared/data``): the same counts.

    python benchmarks/off_curve_loo.py --json benchmarks/results/off_curve_loo.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from calibration_real import (
    datablations_single_epoch,
    gadre_20tpp,
    olmo_1xc,
    porian_optimal,
)
from small_ladders import SEED, draw_case

from bayescale import SamplerSettings, fit_loss, load_loss_runs
from bayescale.forecast import (
    OFF_CURVE_TAIL,
    held_out_below,
    importance_loo,
    off_curve_warnings,
    with_exact_loo,
)
from bayescale.simulate import DEMO_TRUTH, simulate_loss_runs

SPIKES = (0.0, 0.03, 0.06, 0.12)


def refit_tail(fit, row: int) -> float:
    """The tail of ``row`` from a refit without it (whatever the importance weights say)."""
    data = fit.data
    held = data.held_out.copy()
    held[row] = True
    without = fit_loss(
        replace(data, held_out=held), fit.priors, fit.settings, allow_unconverged=True
    )
    p = held_out_below(without, row)
    return min(p, 1.0 - p)


def named(fit) -> int:
    return sum("far off the curve" in w for w in off_curve_warnings(fit))


def checked(data, settings: SamplerSettings) -> dict:
    """The default fit (with its refits) and the same without refits: what each names."""
    start = time.perf_counter()
    fit = with_exact_loo(fit_loss(data, settings=settings, allow_unconverged=True))
    seconds = time.perf_counter() - start
    plain = replace(fit, exact_loo={})
    return {
        "runs": int(data.fitted.sum()),
        "refits": len(fit.exact_loo),
        "refit_s": round(fit.timing_s.get("loo", 0.0), 2),
        "fit_s": round(seconds, 2),
        "named_with_refits": named(fit),
        "named_importance_only": named(plain),
    }


def spikes(seeds: int, settings: SamplerSettings) -> list[dict]:
    rows = []
    for seed in range(seeds):
        for runs in (5, 7):
            base = simulate_loss_runs({"web": DEMO_TRUTH["web"]}, runs_per_group=runs, seed=seed)
            for spike in SPIKES:
                table = base.copy()
                last = int(table["compute"].idxmax())
                table.loc[last, "loss"] *= 1 + spike
                data = load_loss_runs(table)
                fit = fit_loss(data, settings=settings, allow_unconverged=True)
                fitted, below, ess = importance_loo(fit)
                i = int(np.flatnonzero(fitted == last)[0])
                row = {
                    "seed": seed,
                    "runs": runs,
                    "spike": spike,
                    "importance_tail": float(min(below[i], 1 - below[i])),
                    "weights_ess": round(float(ess[i]), 1),
                    "refit_tail": refit_tail(fit, last),
                } | checked(data, settings)
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def clean(cases: int, settings: SamplerSettings) -> list[dict]:
    rng = np.random.default_rng(SEED)
    rows = []
    for case in range(cases):
        table, _, scatter = draw_case(rng)
        row = {"case": case, "scatter": round(scatter, 4)} | checked(
            load_loss_runs(table), settings
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def real(settings: SamplerSettings) -> list[dict]:
    rows = []
    for make in (olmo_1xc, gadre_20tpp, porian_optimal, datablations_single_epoch):
        try:
            table = make()
        except FileNotFoundError as err:
            rows.append({"dataset": make.__name__, "skipped": str(err)})
            continue
        row = {"dataset": make.__name__} | checked(load_loss_runs(table), settings)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def summary(spike_rows: list[dict], clean_rows: list[dict]) -> dict:
    out: dict = {}
    for spike in SPIKES:
        cases = [r for r in spike_rows if r["spike"] == spike]
        out[f"spike_{spike:.2f}"] = {
            "cases": len(cases),
            "named_importance_only": sum(r["named_importance_only"] > 0 for r in cases),
            "named_with_refits": sum(r["named_with_refits"] > 0 for r in cases),
            "refit_tail_below_threshold": sum(r["refit_tail"] < OFF_CURVE_TAIL for r in cases),
            "importance_tail_range": [
                min(r["importance_tail"] for r in cases),
                max(r["importance_tail"] for r in cases),
            ],
            "refit_tail_range": [
                min(r["refit_tail"] for r in cases),
                max(r["refit_tail"] for r in cases),
            ],
        }
    out["clean"] = {
        "tables": len(clean_rows),
        "runs": sum(r["runs"] for r in clean_rows),
        "tables_with_refits": sum(r["refits"] > 0 for r in clean_rows),
        "refits": sum(r["refits"] for r in clean_rows),
        "refit_s_total": round(sum(r["refit_s"] for r in clean_rows), 1),
        "fit_s_total": round(sum(r["fit_s"] for r in clean_rows), 1),
        "runs_named_with_refits": sum(r["named_with_refits"] for r in clean_rows),
        "runs_named_importance_only": sum(r["named_importance_only"] for r in clean_rows),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="spike ladders per size")
    parser.add_argument("--clean", type=int, default=40, help="clean small ladders")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    settings = SamplerSettings(seed=0, progress=False)
    start = time.perf_counter()
    load = os.getloadavg()
    spike_rows = spikes(args.seeds, settings)
    clean_rows = clean(args.clean, settings)
    real_rows = real(settings)
    document = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_start": [round(v, 2) for v in load],
            "load_average_end": [round(v, 2) for v in os.getloadavg()],
        },
        "off_curve_tail": OFF_CURVE_TAIL,
        "summary": summary(spike_rows, clean_rows),
        "spikes": spike_rows,
        "clean": clean_rows,
        "real": real_rows,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    args.json.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["summary"], indent=1))


if __name__ == "__main__":
    main()

"""Groups scored on the same runs: how often does ``shared_run_warnings`` name them?

Seeded loss tables of G groups x R runs at shared computes, each group its own curve. In the
*independent* arm each (run, group) has its own scatter; in the *shared* arms a run's
scatter is mostly common to every group (eval sets of one ladder): a shared part of sd
``--shared-sd`` plus an own part. Each table is fitted (:func:`bayescale.fit_loss_batch`,
one batch per shape) and :func:`bayescale.forecast.shared_run_correlation` gives the mean
correlation of the groups' residuals and its z score; the warning fires when both pass
:data:`~bayescale.forecast.SHARED_RUN_CORRELATION` and :data:`~bayescale.forecast.SHARED_RUN_Z`.
It reports the false-warning rate (independent arm) and the share warned (shared arms),
then the 90% coverage of two held-out computes (10x and 100x beyond) in each arm.

    python benchmarks/shared_runs.py --json benchmarks/results/shared_runs.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale import LossColumns, SamplerSettings, fit_loss_batch, load_loss_runs
from bayescale.forecast import (
    SHARED_RUN_CORRELATION,
    SHARED_RUN_Z,
    loss_draws,
    shared_run_correlation,
)

SEED = 20261205
ARMS = {  # name: (shared sd, own sd) of the run-to-run scatter on log loss
    "independent": (0.0, 0.008),
    "shared 0.8% + own 0.2%": (0.008, 0.002),
    "shared 0.5% + own 0.5%": (0.005, 0.005),
}


def make_table(rng: np.random.Generator, groups: int, runs: int, shared: float, own: float):
    """One table: ``groups`` curves at ``runs`` shared computes (1e17-1e19), 2 held out."""
    fitted = np.geomspace(1e17, 1e19, runs)
    computes = np.concatenate([fitted, [1e20, 1e21]])
    common = rng.normal(0, shared, computes.size)
    rows = []
    for g in range(groups):
        floor, reducible, k = rng.uniform(1.5, 2.5), rng.uniform(0.8, 1.5), rng.uniform(0.08, 0.2)
        loss = (floor + reducible * (computes / 1e18) ** -k) * np.exp(
            common + rng.normal(0, own, computes.size)
        )
        rows += [
            {"name": f"r{i}-g{g}", "group": f"g{g}", "compute": c, "loss": v}
            for i, (c, v) in enumerate(zip(computes, loss, strict=True))
        ]
    return load_loss_runs(pd.DataFrame(rows), LossColumns(group="group"), fit_max_compute=2e19)


def run_arm(shared: float, own: float, groups: int, runs: int, cases: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    datas = [make_table(rng, groups, runs, shared, own) for _ in range(cases)]
    settings = SamplerSettings(draws=500, tune=500, chains=2, progress=False)
    fits = fit_loss_batch(
        datas, settings=settings, seeds=list(range(cases)), allow_unconverged=True
    )
    found = [shared_run_correlation(f) for f in fits]
    warned = [bool(x) and x[0] >= SHARED_RUN_CORRELATION and x[1] >= SHARED_RUN_Z for x in found]
    covered = []
    for d, f in zip(datas, fits, strict=True):
        rows = np.flatnonzero(d.held_out)
        draws = loss_draws(f, d.compute[rows])["loss"].values
        for j, r in enumerate(rows):
            lo, hi = np.quantile(draws[:, d.group_index[r], j], [0.05, 0.95])
            covered.append(bool(lo <= d.loss[r] <= hi))
    return {
        "groups": groups,
        "runs": runs,
        "cases": cases,
        "warned": int(sum(warned)),
        "correlation": [None if x is None else round(x[0], 3) for x in found],
        "z": [None if x is None else round(x[1], 2) for x in found],
        "coverage_90": round(float(np.mean(covered)), 3),
        "gate_ok": int(sum(f.diagnostics.ok for f in fits)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20, help="tables per arm and shape")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    out: dict = {
        "machine": {"platform": platform.platform(), "load_average": os.getloadavg()},
        "thresholds": {"correlation": SHARED_RUN_CORRELATION, "z": SHARED_RUN_Z},
        "arms": [],
    }
    for n, (name, (shared, own)) in enumerate(ARMS.items()):
        for groups, runs in ((2, 5), (3, 6), (4, 8)):
            seed = SEED + 100 * n + 10 * groups + runs
            row = {"arm": name} | run_arm(shared, own, groups, runs, args.cases, seed)
            out["arms"].append(row)
            print(
                f"{name:24s} {groups}x{runs}: warned {row['warned']}/{args.cases}, "
                f"90% coverage {row['coverage_90']:.0%}, gate {row['gate_ok']}/{args.cases}",
                flush=True,
            )
    out["total_s"] = round(time.perf_counter() - start, 1)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

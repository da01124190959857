"""Groups scored on the same runs: the warning that names them, and the run effect that fits them.

Seeded loss tables of G groups x R runs at shared computes, each group its own curve. In the
*independent* arm each (run, group) has its own scatter; in the *shared* arms a run's
scatter is mostly common to every group (eval sets of one ladder): a shared part of sd
``--shared-sd`` plus an own part. Each table is fitted (:func:`bayescale.fit_loss_batch`,
one batch per shape) and :func:`bayescale.forecast.shared_run_correlation` gives the mean
correlation of the groups' residuals and its z score; the warning fires when both pass
:data:`~bayescale.forecast.SHARED_RUN_CORRELATION` and :data:`~bayescale.forecast.SHARED_RUN_Z`.
It reports the false-warning rate (independent arm) and the share warned (shared arms),
then the 90% coverage of two held-out computes (10x and 100x beyond) in each arm.

Each table is fitted twice: as independent groups, and with the shared run effect
(``LossPriors(shared_runs=True)``; runs identified by compute, as the names differ by group).
Both report the 90% coverage, the median relative width of the 90% intervals, and a go/no-go
per table: P(group 0's new run at 1e20 <= its true curve x 1.01) >= 0.9, and the flips
between the two fits; ``tau`` is the median over tables of the run effect's sd.

The five-copies experiment: one 6-run group of a shared-scatter table fitted alone, its five
copies (the same runs under five group names) fitted as independent groups, and the copies
with the run effect (runs by name), each asked the same requirement (a loss the group alone
meets with probability 0.87 at 1e20: a NO-GO) and the compute needed at 90% confidence.

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

from bayescale import LossColumns, LossPriors, SamplerSettings, fit_loss_batch, load_loss_runs
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
SETTINGS = SamplerSettings(draws=500, tune=500, chains=2, progress=False)
#: The go/no-go of each table: group 0's new run at this compute ...
DECISION_COMPUTE = 1e20
#: ... at or below its true curve times this, with probability >= :data:`CONFIDENCE`.
DECISION_MARGIN = 1.01
CONFIDENCE = 0.9
#: The five copies' requirement: what one group alone meets with this probability.
ALONE_PROBABILITY = 0.87


def make_table(rng: np.random.Generator, groups: int, runs: int, shared: float, own: float):
    """One table: ``groups`` curves at ``runs`` shared computes (1e17-1e19), 2 held out.

    Returns the data, its frame and group 0's true curve at :data:`DECISION_COMPUTE`.
    """
    fitted = np.geomspace(1e17, 1e19, runs)
    computes = np.concatenate([fitted, [1e20, 1e21]])
    common = rng.normal(0, shared, computes.size)
    rows, truth = [], float("nan")
    for g in range(groups):
        floor, reducible, k = rng.uniform(1.5, 2.5), rng.uniform(0.8, 1.5), rng.uniform(0.08, 0.2)
        if g == 0:
            truth = floor + reducible * (DECISION_COMPUTE / 1e18) ** -k
        loss = (floor + reducible * (computes / 1e18) ** -k) * np.exp(
            common + rng.normal(0, own, computes.size)
        )
        rows += [
            {"name": f"r{i}-g{g}", "group": f"g{g}", "compute": c, "loss": v}
            for i, (c, v) in enumerate(zip(computes, loss, strict=True))
        ]
    frame = pd.DataFrame(rows)
    data = load_loss_runs(frame, LossColumns(group="group"), fit_max_compute=2e19)
    return data, frame, truth


def scores(datas, fits, truths) -> dict:
    """Coverage, interval width, decisions and tau of ``fits`` of ``datas``."""
    covered, width, probability, tau = [], [], [], []
    for d, f, truth in zip(datas, fits, truths, strict=True):
        rows = np.flatnonzero(d.held_out)
        draws = loss_draws(f, d.compute[rows])["loss"].values
        for j, r in enumerate(rows):
            lo, mid, hi = np.quantile(draws[:, d.group_index[r], j], [0.05, 0.5, 0.95])
            covered.append(bool(lo <= d.loss[r] <= hi))
            width.append((hi - lo) / mid)
        new = loss_draws(f, np.array([DECISION_COMPUTE]), groups=["g0"])["loss"].values[:, 0, 0]
        probability.append(float(np.mean(new <= truth * DECISION_MARGIN)))
        if f.priors.shared_runs:
            tau.append(float(np.median(f.draws("tau_run"))))
    return {
        "coverage_90": round(float(np.mean(covered)), 3),
        "rel_width_90": round(float(np.median(width)), 4),
        "go": int(sum(p >= CONFIDENCE for p in probability)),
        "probability": [round(p, 3) for p in probability],
        "tau_median": round(float(np.median(tau)), 4) if tau else None,
        "gate_ok": int(sum(f.diagnostics.ok for f in fits)),
    }


def run_arm(shared: float, own: float, groups: int, runs: int, cases: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    tables = [make_table(rng, groups, runs, shared, own) for _ in range(cases)]
    datas = [t[0] for t in tables]
    truths = [t[2] for t in tables]
    seeds = list(range(cases))
    start = time.perf_counter()
    fits = fit_loss_batch(datas, settings=SETTINGS, seeds=seeds, allow_unconverged=True)
    off_s = time.perf_counter() - start
    start = time.perf_counter()
    on = fit_loss_batch(
        datas, LossPriors(shared_runs=True), SETTINGS, seeds=seeds, allow_unconverged=True
    )
    on_s = time.perf_counter() - start
    found = [shared_run_correlation(f) for f in fits]
    warned = [bool(x) and x[0] >= SHARED_RUN_CORRELATION and x[1] >= SHARED_RUN_Z for x in found]
    off, with_effect = scores(datas, fits, truths), scores(datas, on, truths)
    flips = sum(
        (a >= CONFIDENCE) != (b >= CONFIDENCE)
        for a, b in zip(off["probability"], with_effect["probability"], strict=True)
    )
    return {
        "groups": groups,
        "runs": runs,
        "cases": cases,
        "warned": int(sum(warned)),
        "correlation": [None if x is None else round(x[0], 3) for x in found],
        "z": [None if x is None else round(x[1], 2) for x in found],
        "coverage_90": off["coverage_90"],
        "gate_ok": off["gate_ok"],
        "independent_fit": off | {"seconds": round(off_s, 1)},
        "shared_runs_fit": with_effect | {"seconds": round(on_s, 1)},
        "go_flips": int(flips),
    }


def needed(fit, group: str, threshold: float) -> float | None:
    """The smallest compute (on a grid) where P(new run <= threshold) >= :data:`CONFIDENCE`."""
    grid = np.geomspace(1e19, 1e24, 101)
    draws = loss_draws(fit, grid, groups=[group])["loss"].values[:, 0, :]
    met = np.flatnonzero((draws <= threshold).mean(axis=0) >= CONFIDENCE)
    return float(grid[met[0]]) if met.size else None


def five_copies(seed: int) -> dict:
    """One 6-run group of a shared-scatter table alone, as five copies, and with the run effect."""
    rng = np.random.default_rng(seed)
    _, frame, truth = make_table(rng, 1, 6, *ARMS["shared 0.8% + own 0.2%"])
    one = frame.assign(name=frame["name"].str.replace("-g0", "", regex=False))
    copies = pd.concat([one.assign(group=f"copy{i}") for i in range(5)], ignore_index=True)
    load = lambda f: load_loss_runs(f, LossColumns(group="group"), fit_max_compute=2e19)  # noqa: E731
    alone, copied = load(one), load(copies)
    del truth
    (fit,) = fit_loss_batch([alone], None, SETTINGS, seeds=[seed], allow_unconverged=True)
    new = loss_draws(fit, np.array([DECISION_COMPUTE]))["loss"].values[:, 0, 0]
    threshold = float(np.quantile(new, ALONE_PROBABILITY))
    out = {"requirement": f"loss <= {threshold:.4f} at {DECISION_COMPUTE:g}", "fits": {}}
    for name, data, priors in (
        ("one group", alone, LossPriors()),
        ("five copies, independent", copied, LossPriors()),
        ("five copies, shared runs", copied, LossPriors(shared_runs=True)),
    ):
        start = time.perf_counter()
        (fit,) = fit_loss_batch([data], priors, SETTINGS, seeds=[seed], allow_unconverged=True)
        group = data.groups[0]
        new = loss_draws(fit, np.array([DECISION_COMPUTE]), groups=[group])["loss"].values
        p = float(np.mean(new[:, 0, 0] <= threshold))
        out["fits"][name] = {
            "probability": round(p, 3),
            "go": p >= CONFIDENCE,
            "compute_needed_90": needed(fit, group, threshold),
            "tau_median": (
                round(float(np.median(fit.draws("tau_run"))), 4) if priors.shared_runs else None
            ),
            "sigma_median": round(float(np.median(fit.draws("sigma"))), 4),
            "gate_ok": fit.diagnostics.ok,
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(f"five copies: {name}: {out['fits'][name]}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10, help="tables per arm and shape")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    out: dict = {
        "machine": {"platform": platform.platform(), "load_average": os.getloadavg()},
        "thresholds": {"correlation": SHARED_RUN_CORRELATION, "z": SHARED_RUN_Z},
        "decision": {
            "compute": DECISION_COMPUTE,
            "margin": DECISION_MARGIN,
            "confidence": CONFIDENCE,
        },
        "five_copies": [five_copies(SEED + s) for s in range(3)],
        "arms": [],
    }
    for n, (name, (shared, own)) in enumerate(ARMS.items()):
        for groups, runs in ((2, 5), (3, 6), (4, 8)):
            seed = SEED + 100 * n + 10 * groups + runs
            row = {"arm": name} | run_arm(shared, own, groups, runs, args.cases, seed)
            out["arms"].append(row)
            off, on = row["independent_fit"], row["shared_runs_fit"]
            print(
                f"{name:24s} {groups}x{runs}: warned {row['warned']}/{args.cases}; "
                f"independent: 90% coverage {off['coverage_90']:.0%}, width "
                f"{off['rel_width_90']:.2%}, GO {off['go']}; shared runs: coverage "
                f"{on['coverage_90']:.0%}, width {on['rel_width_90']:.2%}, GO {on['go']}, tau "
                f"{on['tau_median']}; flips {row['go_flips']}; gate {off['gate_ok']}/"
                f"{on['gate_ok']}; {off['seconds']}/{on['seconds']} s",
                flush=True,
            )
    out["total_s"] = round(time.perf_counter() - start, 1)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Small L(N, D) tables: 5 and 6 runs (the law has 5 parameters), fitted as a new user would.

Seven tables: three from the OLMo-2 ladder (C4-en loss, ``/work/shared/data/olmo_ladder``, read
by path; 5 sizes at assorted tokens-per-parameter multipliers, and one with a sixth run), and
four seeded draws of 5 or 6 runs from Epoch's Chinchilla law (3 budgets x 7 sizes, 1% scatter,
:func:`bayescale.nd.simulate_nd_runs`). Each is fitted twice in this process with
:func:`bayescale.nd.fit_nd` at the default sampler settings (4 chains x 1000 draws, seed 1,
the gate and the convergence ladder on): with the normal likelihood's integrated
inverse-gamma scatter and with ``NDPriors(scatter_prior="halfnormal")``, the sampled
HalfNormal(0.05) scatter of fits saved before; ``--variants student_t``: the Student-t
likelihood (sigma sampled under the inverse-gamma prior). It records the gate, R-hat, bulk
ESS, divergences, the ladder's steps, the seconds, and the 90% interval of a new run at the
target (OLMo-2 7B after 3.95T tokens, observed 2.483; the simulated law at N = 1e10,
D = 2e11) against the truth.

    python benchmarks/nd_small_tables.py --json benchmarks/results/nd_small_tables.json
    python benchmarks/nd_small_tables.py --variants student_t \
        --json benchmarks/results/nd_small_tables_student_t.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(os.environ.get("BAYESCALE_DATA", "/work/shared/data"))
OLMO_TARGET = (6887575552.0, 3945065873408.0, 2.4829182624816895)  # peteish7_eval_anneal
SIM_TARGET = (1e10, 2e11)
OLMO_PICKS = {
    "olmo 5 sizes, 0.5-10xC": [
        ("190M", "10"),
        ("370M", "5"),
        ("760M", "1"),
        ("1B", "2"),
        ("3B", "0.5"),
    ],
    "olmo 5 sizes, 1-10xC": [
        ("190M", "1"),
        ("370M", "2"),
        ("760M", "5"),
        ("1B", "10"),
        ("3B", "1"),
    ],
    "olmo 6 runs": [
        ("190M", "10"),
        ("370M", "5"),
        ("760M", "1"),
        ("1B", "2"),
        ("3B", "0.5"),
        ("190M", "1"),
    ],
}


def tables() -> dict[str, tuple[pd.DataFrame, tuple[float, float, float]]]:
    """Every table with its target (N, D, true loss)."""
    from bayescale.laws import nd_law
    from bayescale.nd import EPOCH_LAW, simulate_nd_runs

    raw = pd.read_csv(DATA / "olmo_ladder" / "olmo_ladder_final.csv", dtype={"multiplier_xC": str})
    ladder = raw[(raw["role"] == "ladder") & (raw["is_rerun"] == 0)]
    out = {}
    for name, picks in OLMO_PICKS.items():
        rows = [
            ladder[(ladder["size"] == size) & (ladder["multiplier_xC"] == mult)].iloc[0]
            for size, mult in picks
        ]
        frame = pd.DataFrame(
            {
                "name": [r["run"] for r in rows],
                "params": [float(r["params_nonembed"]) for r in rows],
                "tokens": [float(r["tokens"]) for r in rows],
                "loss": [float(r["loss_c4_en"]) for r in rows],
            }
        )
        out[name] = frame, OLMO_TARGET
    truth = float(nd_law(np.log(SIM_TARGET[0]), np.log(SIM_TARGET[1]), **EPOCH_LAW))
    for seed in (0, 1):
        runs = simulate_nd_runs(seed, budgets=(1e18, 1e19, 1e20), sizes_per_budget=7)
        rng = np.random.default_rng(seed)
        for k in (5, 6):
            pick = np.sort(rng.choice(len(runs), k, replace=False))
            out[f"simulated {k} runs, seed {seed}"] = runs.iloc[pick], (*SIM_TARGET, truth)
    return out


#: The fits compared: the scatter prior's name, or ``student_t`` (the Student-t likelihood,
#: sigma sampled under the inverse-gamma prior).
VARIANTS = ("inverse_gamma", "halfnormal", "student_t")


def fit_one(frame: pd.DataFrame, target, scatter_prior: str, seed: int) -> dict:
    from bayescale.nd import NDPriors, fit_nd, load_nd_runs, nd_loss_draws
    from bayescale.sampling import SamplerSettings

    start = time.perf_counter()
    priors = (
        NDPriors(likelihood="student_t")
        if scatter_prior == "student_t"
        else NDPriors(scatter_prior=scatter_prior, likelihood="normal")  # type: ignore[arg-type]
    )
    fit = fit_nd(
        load_nd_runs(frame),
        priors,
        SamplerSettings(seed=seed, progress=False),
        allow_unconverged=True,
    )
    seconds = time.perf_counter() - start
    d = fit.diagnostics
    loss = nd_loss_draws(fit, [target[0]], [target[1]])["loss"].values[:, 0, 0]
    lower, median, upper = np.quantile(loss, [0.05, 0.5, 0.95])
    return {
        "gate": bool(d.ok),
        "r_hat_max": float(d.r_hat_max),
        "ess_bulk_min": float(d.ess_bulk_min),
        "divergences": int(d.divergences),
        "steps": len(d.attempts),
        "seconds": seconds,
        "sigma_median": float(np.median(fit.draws("sigma"))),
        "target": {
            "truth": target[2],
            "median": float(median),
            "lower": float(lower),
            "upper": float(upper),
            "covered": bool(lower <= target[2] <= upper),
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", default="inverse_gamma,halfnormal", help=str(VARIANTS))
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    import bayescale
    from bayescale.config import usable_cores

    bayescale.configure(devices=max(4, usable_cores()), compilation_cache=True)
    results = []
    for name, (frame, target) in tables().items():
        for prior in variants:
            row = {"table": name, "runs": len(frame), "scatter_prior": prior}
            row.update(fit_one(frame, target, prior, args.seed))
            results.append(row)
            print(json.dumps(row), flush=True)
    summary = {
        prior: {
            "gate_passed": sum(r["gate"] for r in results if r["scatter_prior"] == prior),
            "tables": sum(r["scatter_prior"] == prior for r in results),
            "covered": sum(r["target"]["covered"] for r in results if r["scatter_prior"] == prior),
            "steps": sum(r["steps"] for r in results if r["scatter_prior"] == prior),
            "seconds": sum(r["seconds"] for r in results if r["scatter_prior"] == prior),
        }
        for prior in variants
    }
    out = {"summary": summary, "fits": results, "load_average": os.getloadavg()}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

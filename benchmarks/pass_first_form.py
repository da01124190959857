"""First fits of few-model per-problem pass tables with the model effects centred and non-centred.

What ``pass_model.starts_noncentred`` rests on (docs/pass-rates.md): for each simulated table
(``bayescale.simulate.simulate_pass_counts``, seed 3; models x problems x samples), one fit of
the padded pass model in each form through the sampling seam (4 chains x 1000 draws after 500
warm-up steps, seed 1, the seam's default target_accept), no convergence ladder. Reported:
wall, divergences, mean leapfrog steps, the 5/50/95% quantiles of every scalar over all draws
and their 10/50/90% over the divergent ones, the effect standard error the rule reads, and the
sampled intercepts sampled non-centred (``pass_model.weak_intercepts``) of how many.

    python benchmarks/pass_first_form.py 4x164x1 3x30x1 4x8x10 4x164x10 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bayescale.buckets import make_buckets
from bayescale.pass_data import load_pass_counts
from bayescale.pass_model import (
    build_pass_model,
    effect_standard_error,
    pass_shape,
    weak_intercept_count,
)
from bayescale.priors import PassPriors
from bayescale.sampling import SamplerSettings, sample
from bayescale.simulate import simulate_pass_counts


def _quantiles(values: np.ndarray, qs: list[float]) -> list[float] | None:
    return np.round(np.quantile(values, qs), 3).tolist() if values.size else None


def first_fit(models: int, problems: int, samples: int, noncentred: bool) -> dict:
    """One fit of the padded model in one form: its divergences and where they sit."""
    table, _ = simulate_pass_counts(n_models=models, n_problems=problems, samples=samples, seed=3)
    counts = load_pass_counts(table)
    buckets = make_buckets(counts)
    model = build_pass_model(
        counts, buckets, PassPriors(), noncentred=noncentred, shape=pass_shape(counts, buckets)
    )
    start = time.perf_counter()
    idata, _ = sample(model, SamplerSettings(draws=1000, tune=500, chains=4, seed=1))
    wall = time.perf_counter() - start
    stats, posterior = idata["sample_stats"], idata["posterior"]
    diverging = stats["diverging"].values.ravel()
    scalars = {
        name: {
            "all": _quantiles(var.values.ravel(), [0.05, 0.5, 0.95]),
            "divergent": _quantiles(var.values.ravel()[diverging], [0.1, 0.5, 0.9]),
        }
        for name, var in posterior.data_vars.items()
        if var.ndim == 2
    }
    return {
        "table": f"{models} models x {problems} problems x {samples} samples",
        "form": "non-centred" if noncentred else "centred",
        "effect_standard_error": round(effect_standard_error(counts, buckets), 4),
        # sampled intercepts non-centred (pass_model.weak_intercepts), of how many sampled
        "weak_intercepts": weak_intercept_count(counts, buckets),
        "buckets": buckets.n_internal,
        "wall_s": round(wall, 1),
        "divergences": int(diverging.sum()),
        "mean_leapfrog_steps": round(float(stats["n_steps"].values.mean()), 1),
        "scalars": scalars,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", help="MODELSxPROBLEMSxSAMPLES")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for text in args.tables:
        models, problems, samples = (int(v) for v in text.split("x"))
        for noncentred in (False, True):
            row = first_fit(models, problems, samples, noncentred)
            print(json.dumps({k: v for k, v in row.items() if k != "scalars"}), flush=True)
            rows.append(row)
    if args.json:
        args.json.write_text(json.dumps({"cases": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

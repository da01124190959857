"""The gate's tail ESS (11%/89% quantiles, ArviZ's default) against Vehtari et al.'s 5%/95%.

Fits the seeded small ladders of ``benchmarks/small_ladders.py`` (cases ``--first`` to
``--first + --cases - 1``) through :func:`bayescale.fit_loss` with default settings and
records, per fit, the smallest tail ESS over the posterior's columns at both quantile pairs,
as the gate computes it (:func:`bayescale.diagnostics.tail_ess`).

    python benchmarks/tail_quantiles.py --cases 40 --json benchmarks/results/tail_quantiles.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from bayescale import SamplerSettings, fit_loss, load_loss_runs
from bayescale.diagnostics import COPY_ATTR, TAIL_QUANTILES, _columns, tail_ess
from bayescale.errors import ConvergenceError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_ladders import SEED, draw_case

VEHTARI = (0.05, 0.95)


def case_row(case: int, seed: int = SEED) -> dict:
    """Fit small ladder ``case`` and return its gate result and both tail ESS minima."""
    rng = np.random.default_rng([seed, case])
    table, _, _ = draw_case(rng)
    try:
        fit = fit_loss(load_loss_runs(table), settings=SamplerSettings(seed=case, progress=False))
    except ConvergenceError as error:
        fit = error.result
    post = fit.idata["posterior"].to_dataset()
    post = post[[v for v in post.data_vars if COPY_ATTR not in post[v].attrs]]
    x = np.concatenate(list(_columns(post).values()), axis=-1)
    return {
        "case": case,
        "ok": bool(fit.diagnostics.ok),
        "chains": int(x.shape[0]),
        "required": 100 * int(x.shape[0]),
        "tail_ess_11_89": float(np.nanmin(tail_ess(x, TAIL_QUANTILES))),
        "tail_ess_5_95": float(np.nanmin(tail_ess(x, VEHTARI))),
        "load_average_1min": os.getloadavg()[0],
    }


def summarise(rows: list[dict]) -> dict:
    """Counts and the ratio of the 5/95 minimum to the 11/89 one."""
    ratio = np.array([r["tail_ess_5_95"] / r["tail_ess_11_89"] for r in rows])
    passed = [r for r in rows if r["ok"]]
    return {
        "fits": len(rows),
        "passed_gate": len(passed),
        "passed_but_5_95_below_required": sum(r["tail_ess_5_95"] < r["required"] for r in passed),
        "ratio_5_95_over_11_89": {
            "median": float(np.median(ratio)),
            "min": float(ratio.min()),
            "max": float(ratio.max()),
        },
    }


def main() -> None:
    """Run the cases and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/tail_quantiles.json"))
    args = parser.parse_args()
    rows = []
    for case in range(args.first, args.first + args.cases):
        rows.append(case_row(case))
        print(json.dumps(rows[-1]), flush=True)
    doc = {"seed": SEED, "summary": summarise(rows), "fits": rows}
    args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Why bayescale's N*(C) misses Porian et al.'s compute-optimal sizes: an in-sample check.

The backtest (benchmarks/nd_backtest.py) fits L(N, D) to Porian's isoFLOP points at budgets
<= 8e17 and finds the authors' N* at 1.6e18-2.56e19 inside the 90% interval once in ten. This
script asks whether the miss is an extrapolation failure: it compares the posterior N* with the
authors' N* at every budget, fitted ones included, and records where the fitted points sit on
each isoFLOP curve (x = ln(N / N*_authors)) and the law's residuals by side of the optimum, for
bayescale's posterior medians and the Approach-3 point fit (benchmarks/nd_backtest.py).

Usage: ``python benchmarks/nd_porian_optimum.py [--draws 500 --chains 2 --seed 1]
[--likelihood normal]``; writes
``benchmarks/results/nd_porian_optimum.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from nd_backtest import DATA, approach3

OUT = Path(__file__).parent / "results" / "nd_porian_optimum.json"
KEEP = {"hparams": "base", "decay": "chinchilla", "param_count": "standard", "warmup": "short"}
CUT = 8e17


def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    pts = pd.read_csv(DATA / "porian_isoflop" / "porian_isoflop_points.csv")
    opt = pd.read_csv(DATA / "porian_isoflop" / "porian_optimal.csv")
    for k, v in KEEP.items():
        pts, opt = pts[pts[k] == v], opt[opt[k] == v]
    return pts, opt


def closed_form_nstar(p: dict[str, float], budget: float) -> float:
    a, b = p["alpha"], p["beta"]
    g = (a * p["A"] / (b * p["B"])) ** (1 / (a + b))
    return float(g * (budget / 6) ** (b / (a + b)))


def law(p: dict[str, float], n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]


def main(argv: list[str] | None = None) -> int:
    from bayescale import nd
    from bayescale.sampling import SamplerSettings

    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--likelihood", choices=("normal", "student_t"), help="default: NDPriors'")
    args = ap.parse_args(argv)
    pts, opt = tables()
    small = pts[pts.flops <= CUT]
    frame = pd.DataFrame(
        {
            "group": small.dataset.values,
            "params": small.params.values,
            "tokens": small.tokens.values,
            "loss": small.loss.values,
        }
    )
    data = nd.load_nd_runs(frame)
    settings = SamplerSettings(draws=args.draws, tune=500, chains=args.chains, seed=args.seed)
    priors = nd.NDPriors(**({"likelihood": args.likelihood} if args.likelihood else {}))
    fit = nd.fit_nd(data, priors, settings=settings, allow_unconverged=True)
    budgets = sorted(opt.flops.unique())
    optimum = nd.optimal_draws(fit, budgets)
    result: dict = {
        "settings": vars(args),
        "likelihood": priors.likelihood,
        "load_average": os.getloadavg(),
        "diagnostics": fit.diagnostics.to_dict(),
        "groups": {},
    }
    for gi, g in enumerate(data.groups):
        o = opt[opt.dataset == g].set_index("flops")
        alpha, beta = fit.draws("alpha")[:, gi], fit.draws("beta")[:, gi]
        q = [0.05, 0.5, 0.95]
        rows = []
        for j, c in enumerate(budgets):
            lo, mid, hi = np.quantile(optimum["params"].values[:, gi, j], q)
            truth = float(o.loc[c, "n_opt"])
            rows.append(
                {
                    "budget": c,
                    "fitted": c <= CUT,
                    "authors": truth,
                    "median": mid,
                    "lower": lo,
                    "upper": hi,
                    "covered": bool(lo <= truth <= hi),
                }
            )
        fitted_budgets = o.index[o.index <= CUT]
        slope = np.polyfit(np.log(fitted_budgets), np.log(o.loc[fitted_budgets, "n_opt"]), 1)[0]
        mine = small[small.dataset == g]
        x = np.log(mine.params.values / mine.flops.map(o["n_opt"]).values)
        medians = {
            k: float(np.median(fit.draws(k)[:, gi])) for k in ("E", "A", "alpha", "B", "beta")
        }
        a3 = approach3(mine.params.values, mine.tokens.values, mine.loss.values)
        a3 = {k: float(v) for k, v in a3.items() if k != "theta"}
        sides = {}
        for name, p in (("bayescale_median", medians), ("approach3", a3)):
            r = np.log(mine.loss.values) - np.log(law(p, mine.params.values, mine.tokens.values))
            sides[name] = {
                "below_optimum (x < -0.2)": float(r[x < -0.2].mean()),
                "near (|x| <= 0.2)": float(r[np.abs(x) <= 0.2].mean()),
                "above (x > 0.2)": float(r[x > 0.2].mean()),
                "sd": float(r.std()),
                "n_star_exponent": p["beta"] / (p["alpha"] + p["beta"]),
            }
        result["groups"][g] = {
            "optimum": rows,
            "n_star_exponent_posterior": np.quantile(beta / (alpha + beta), q).tolist(),
            "n_star_exponent_authors_fitted_budgets": float(slope),
            "points_below_authors_optimum_per_budget": [
                int((x[mine.flops.values == c] < 0).sum()) for c in fitted_budgets
            ],
            "points_per_budget": [int((mine.flops.values == c).sum()) for c in fitted_budgets],
            "residuals_by_side": sides,
            "approach3": a3,
            "bayescale_median": medians,
        }
    OUT.write_text(json.dumps(result, indent=1, default=float))
    for g, r in result["groups"].items():
        cov = [row["covered"] for row in r["optimum"]]
        print(g, "covered fitted", sum(cov[:7]), "/ 7, held out", sum(cov[7:]), "/", len(cov) - 7)
        print(
            " exponent posterior",
            np.round(r["n_star_exponent_posterior"], 3),
            "authors",
            round(r["n_star_exponent_authors_fitted_budgets"], 3),
        )
        print(" residuals", json.dumps(r["residuals_by_side"], indent=None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

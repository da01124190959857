"""Choosing the additive law discrepancy of L(N, D) by leave-one-table-out, per likelihood.

The real tables of the L(N, D) backtest (benchmarks/nd_backtest.py): OLMo-2 (four eval sets;
C4-en alone reported too), Gadre, Porian and Epoch's Chinchilla (fitted up to 1e20). Each is
fitted once per likelihood (normal, Student-t; 2 chains x 500 draws, seed 1, as the backtest);
the discrepancy acts after sampling, so every held-out run is then scored at each scale
``discrepancy_log_loss_sd`` of :data:`GRID`, with one xi for the excursions beyond N and D
(``shared``) or one each (``separate``). Per table: 90% coverage, mean absolute error, median
relative width and the mean relative interval score (Gneiting & Raftery 2007: width plus
2/0.1 times the miss, over the observed loss). Leave-one-table-out: for each table, the scale
that minimises the mean of the other three tables' interval scores, and the left-out table's
scores at it; and the alternative rule, the smallest scale at which each of the other three
covers at least 90%. N*: Porian's ten held-out optima and Chinchilla's 70B at 5.76e23, from the fit
up to 1e20 and from the whole table (``epoch_all``) (the additive term does not move N*; the
exponent stretch does, so N* is given with it at 0.25 and at 0).

Usage: ``python benchmarks/nd_discrepancy.py [--fit-cache DIR]``; writes
``benchmarks/results/nd_discrepancy.json`` and prints the tables of docs/nd.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import nd_backtest as bt

OUT = Path(__file__).parent / "results" / "nd_discrepancy.json"
GRID = (0.0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05)
TABLES = ("olmo", "gadre", "porian", "epoch")  # olmo: the four eval sets
ALPHA = 0.1


def cases() -> dict[str, dict[str, Any]]:
    """Each case's frame, fitted rows, held-out targets and N* truths (as nd_backtest)."""
    out: dict[str, dict[str, Any]] = {}
    for label, sets in (("olmo_c4_en", bt.OLMO_SETS["c4_en"]), ("olmo", bt.OLMO_SETS["four_sets"])):
        frame, fitted = bt.olmo_frame(sets)
        out[label] = {"frame": frame, "fitted": fitted}
    g = pd.read_csv(bt.DATA / "gadre_overtrain" / "gadre_losses.csv")
    frame = pd.DataFrame(
        {
            "name": g["name"],
            "group": g["dataset"],
            "params": g["params"],
            "tokens": g["tokens"],
            "loss": g["loss_c4_val"],
        }
    )
    out["gadre"] = {
        "frame": frame,
        "fitted": ~g["model"].isin(["open_lm_1b", "open_lm_7b"]).values,
    }
    pts = pd.read_csv(bt.DATA / "porian_isoflop" / "porian_isoflop_points.csv")
    opt = pd.read_csv(bt.DATA / "porian_isoflop" / "porian_optimal.csv")
    keep = {"hparams": "base", "decay": "chinchilla", "param_count": "standard", "warmup": "short"}
    for k, v in keep.items():
        pts, opt = pts[pts[k] == v], opt[opt[k] == v]
    frame = pd.DataFrame(
        {
            "name": [
                f"{d}-{f:.3g}-{n:.3g}"
                for d, f, n in zip(pts.dataset, pts.flops, pts.params, strict=True)
            ],
            "group": pts["dataset"].values,
            "params": pts["params"].values,
            "tokens": pts["tokens"].values,
            "loss": pts["loss"].values,
        }
    )
    held = opt[opt["flops"] > 8e17]
    out["porian"] = {
        "frame": frame,
        "fitted": (pts["flops"] <= 8e17).values,
        "optima": [
            (g, float(f), float(n))
            for g, f, n in zip(held["dataset"], held["flops"], held["n_opt"], strict=True)
        ],
    }
    frame, fitted = bt.epoch_table()
    out["epoch"] = {
        "frame": frame,
        "fitted": fitted,
        "optima": [("all", bt.CHINCHILLA[0], bt.CHINCHILLA[1]), ("all", 1e22, float("nan"))],
    }
    out["epoch_all"] = {  # the whole table: N* only (nothing held out)
        "frame": frame,
        "fitted": np.ones(len(frame), bool),
        "optima": out["epoch"]["optima"],
    }
    return out


def scores(fit: Any, case: dict[str, Any], s_add: float) -> dict[str, Any]:
    """Held-out scores of ``fit`` with the additive discrepancy at ``s_add``."""
    from bayescale import nd

    fit = dataclasses.replace(
        fit, priors=dataclasses.replace(fit.priors, discrepancy_log_loss_sd=s_add)
    )
    targets = case["frame"][~case["fitted"]].reset_index(drop=True)
    draws = nd.nd_loss_draws(fit, targets["params"].values, targets["tokens"].values)
    gi = np.array([list(fit.data.groups).index(g) for g in targets["group"]])
    loss = draws["loss"].values[:, gi, np.arange(len(targets))]
    lo, med, hi = np.quantile(loss, [ALPHA / 2, 0.5, 1 - ALPHA / 2], axis=0)
    obs = targets["loss"].values
    miss = np.maximum(lo - obs, 0) + np.maximum(obs - hi, 0)
    data = fit.data
    beyond = np.zeros(len(targets), bool)
    for j, g in enumerate(targets["group"]):
        own = data.fitted & (data.group == g)
        beyond[j] = (
            targets["params"][j] > data.params[own].max()
            or targets["tokens"][j] > data.tokens[own].max()
        )
    covered = (lo <= obs) & (obs <= hi)
    return {
        "n": len(obs),
        "coverage": float(covered.mean()),
        "coverage_beyond": float(covered[beyond].mean()) if beyond.any() else None,
        "n_beyond": int(beyond.sum()),
        "mean_abs_error_pct": float(100 * np.mean(np.abs(med / obs - 1))),
        "mean_error_pct": float(100 * np.mean(med / obs - 1)),
        "median_width_pct": float(100 * np.median((hi - lo) / obs)),
        "interval_score_pct": float(100 * np.mean(((hi - lo) + 2 / ALPHA * miss) / obs)),
    }


def optimum(fit: Any, optima: list[tuple[str, float, float]], stretch: float) -> list[dict]:
    """N* at each (group, budget) with the exponent stretch at ``stretch``."""
    from bayescale import nd

    fit = dataclasses.replace(
        fit, priors=dataclasses.replace(fit.priors, discrepancy_exponent_sd=stretch)
    )
    rows = []
    for g, budget, truth in optima:
        gi = list(fit.data.groups).index(g)
        n = nd.optimal_draws(fit, [budget])["params"].values[:, gi, 0]
        lo, med, hi = np.quantile(n, [ALPHA / 2, 0.5, 1 - ALPHA / 2])
        row = {"group": g, "budget": budget, "median": med, "lower": lo, "upper": hi}
        if np.isfinite(truth):
            row |= {"truth": truth, "covered": bool(lo <= truth <= hi), "error": med / truth - 1}
        rows.append(row)
    return rows


def choose(per_table: dict[str, dict[str, dict[str, Any]]], tables: list[str]) -> float:
    """The scale of GRID that minimises the mean interval score over ``tables``."""
    mean = [np.mean([per_table[t][str(s)]["interval_score_pct"] for t in tables]) for s in GRID]
    return GRID[int(np.argmin(mean))]


def choose_coverage(per_table: dict[str, dict[str, dict[str, Any]]], tables: list[str]) -> float:
    """The alternative rule: the smallest scale at which every table covers >= 90%."""
    for s in GRID:
        if all(per_table[t][str(s)]["coverage"] >= 1 - ALPHA for t in tables):
            return s
    return GRID[-1]


def summarise(result: dict[str, Any]) -> list[str]:
    """Leave-one-table-out under both rules, per likelihood and variant; the Markdown rows."""
    lines = [
        "| likelihood | xi | rule | left out | scale chosen on the others | coverage before "
        "-> after | median width before -> after | interval score before -> after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for likelihood in ("normal", "student_t"):
        block = result.get(likelihood)
        if block is None:
            continue
        for variant in ("shared", "separate"):
            per = block[variant]
            if not all(t in per for t in TABLES):
                continue
            for rule, pick in (("interval score", choose), ("coverage >= 90%", choose_coverage)):
                key = "interval_score" if pick is choose else "coverage"
                lodo = {}
                for left in TABLES:
                    s = pick(per, [t for t in TABLES if t != left])
                    before, after = per[left]["0.0"], per[left][str(s)]
                    lodo[left] = {"chosen": s, "before": before, "after": after}
                    lines.append(
                        f"| {likelihood} | {variant} | {rule} | {left} | {s:g} | "
                        f"{before['coverage']:.0%} -> {after['coverage']:.0%} | "
                        f"{before['median_width_pct']:.1f}% -> {after['median_width_pct']:.1f}% | "
                        f"{before['interval_score_pct']:.1f} -> {after['interval_score_pct']:.1f} |"
                    )
                block[f"lodo_{variant}_{key}"] = lodo
                chosen = pick(per, list(TABLES))
                block[f"chosen_all_{variant}_{key}"] = chosen
                lines.append(
                    f"| {likelihood} | {variant} | {rule} | (all four) | {chosen:g} | | | |"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    from bayescale import configure, nd
    from bayescale.sampling import SamplerSettings

    ap = argparse.ArgumentParser()
    ap.add_argument("--fit-cache", type=Path)
    ap.add_argument("--likelihoods", default="normal,student_t")
    ap.add_argument("--cases", default="olmo_c4_en,olmo,gadre,porian,epoch,epoch_all")
    ap.add_argument("--summary", action="store_true", help="the tables from the JSON, no fits")
    args = ap.parse_args(argv)
    result: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    if args.summary:
        print("\n".join(summarise(result)))
        OUT.write_text(json.dumps(result, indent=1, default=float))
        return 0
    configure(devices=2, compilation_cache=True)
    bt.FIT_CACHE = args.fit_cache
    settings = SamplerSettings(draws=500, tune=500, chains=2, seed=1)
    all_cases = cases()
    result["grid"] = list(GRID)
    for likelihood in args.likelihoods.split(","):
        bt.PRIORS.clear()
        bt.PRIORS["likelihood"] = likelihood
        block = result.setdefault(likelihood, {"fits": {}, "shared": {}, "separate": {}})
        for name in args.cases.split(","):
            case = all_cases[name]
            fit, seconds = bt.bayes_nd(case["frame"][case["fitted"]], settings, "group")
            diag = fit.diagnostics
            block["fits"][name] = {
                "seconds": seconds,
                "sampling_s": fit.timing_s.get("sampling"),
                "ok": diag.ok,
                "r_hat_max": diag.r_hat_max,
                "divergences": diag.divergences,
                "load_average": os.getloadavg(),
                "optimum": {
                    str(st): optimum(fit, case.get("optima", []), st) for st in (0.25, 0.0)
                },
            }
            if not case["fitted"].all():
                for variant, shared in (("shared", True), ("separate", False)):
                    nd.ADDITIVE_SHARED = shared
                    block[variant][name] = {str(s): scores(fit, case, s) for s in GRID}
                nd.ADDITIVE_SHARED = True
            print(likelihood, name, f"{seconds:.0f}s", flush=True)
            OUT.write_text(json.dumps(result, indent=1, default=float))
    print("\n".join(summarise(result)))
    OUT.write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

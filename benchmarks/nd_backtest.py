"""Backtests of L(N, D) against Chinchilla's Approach 3 and Epoch's bootstrap of it.

Cases (real data read from ``/work/shared/data``, never copied):

- ``olmo``: the OLMo-2 ladder (190M-3B x 0.5-10xC, reruns included) forecasting the 7B-4T and
  13B-5T targets, C4-en alone and four eval sets as groups;
- ``gadre``: Gadre et al., fitted on 11M-411M at every multiplier, forecasting the 1.4B and
  6.9B runs (groups: the three corpora); bayescale's L(C) on the same runs along each
  held-out run's own multiplier path;
- ``porian``: Porian et al.'s isoFLOP points (RefinedWeb and OpenWebText2, base settings with
  Chinchilla decay, standard N), fitted on budgets <= 8e17, forecasting the points at
  3.2e18-2.56e19 and the authors' own N*(C) estimates there;
- ``sim``: 20 seeded isoFLOP designs (4-6 budgets, 7 sizes each) drawn from Epoch's
  Chinchilla law; new runs at 100x the largest budget (at its true optimum) and at 20x and
  50x over-trained sizes (N*(C_max), D = 20·M·N), and the true N*(100 C_max).

Usage: ``python benchmarks/nd_backtest.py [olmo gadre porian sim] [--draws 500 --chains 2]
[--likelihood student_t --key-suffix _student_t]``;
results merge into ``benchmarks/results/nd_backtest.json`` (``--results PATH``: another file,
e.g. a copy to compare before replacing the stored numbers).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

DATA = Path(os.environ.get("BAYESCALE_DATA", "/work/shared/data"))
RESULTS = Path(__file__).parent / "results" / "nd_backtest.json"
INTERVAL = 0.9
HUBER_DELTA = 1e-3
BOOTSTRAPS = 100


# ---------------------------------------------------------------------------------------------
# Chinchilla Approach 3 (Hoffmann et al. 2022; Besiroglu et al. 2024's corrections)


def _objective(theta: np.ndarray, ln_n: np.ndarray, ln_d: np.ndarray, ln_l: np.ndarray):
    """Summed Huber loss (delta 1e-3) of log-loss residuals, and its gradient."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * ln_n, b - beta * ln_d, np.full_like(ln_n, e)])
    pred = logsumexp(terms, axis=0)
    r = pred - ln_l
    small = np.abs(r) <= HUBER_DELTA
    value = np.where(small, 0.5 * r**2, HUBER_DELTA * (np.abs(r) - 0.5 * HUBER_DELTA)).sum()
    dr = np.where(small, r, HUBER_DELTA * np.sign(r))
    w = softmax(terms, axis=0)
    grad = np.array(
        [
            (dr * w[0]).sum(),
            (dr * w[1]).sum(),
            (dr * w[2]).sum(),
            -(dr * w[0] * ln_n).sum(),
            -(dr * w[1] * ln_d).sum(),
        ]
    )
    return value, grad


#: Starts: a coarse version of Hoffmann et al.'s grid (theirs has 5 x 5 x 6 x 6 x 6 points;
#: 3 x 3 x 2 x 2 x 2 here, to fit the time of this run on a loaded machine).
GRID = list(
    itertools.product([0.0, 10.0, 20.0], [0.0, 10.0, 20.0], [0.0, 1.0], [0.3, 0.8], [0.3, 0.8])
)


def approach3(n: np.ndarray, d: np.ndarray, loss: np.ndarray, starts=None) -> dict[str, float]:
    """Approach 3 point fit: L-BFGS from every start, the best summed Huber loss kept."""
    ln_n, ln_d, ln_l = np.log(n), np.log(d), np.log(loss)
    best = None
    for start in starts if starts is not None else GRID:
        res = minimize(
            _objective,
            np.asarray(start, float),
            args=(ln_n, ln_d, ln_l),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 500},
        )
        if best is None or res.fun < best.fun:
            best = res
    a, b, e, alpha, beta = best.x
    return {
        "E": float(np.exp(e)),
        "A": float(np.exp(a)),
        "B": float(np.exp(b)),
        "alpha": float(alpha),
        "beta": float(beta),
        "theta": best.x.tolist(),
    }


def law(p: dict[str, float], n, d):
    return (
        p["E"]
        + p["A"] * np.asarray(n, float) ** -p["alpha"]
        + p["B"] * np.asarray(d, float) ** -p["beta"]
    )


def law_opt(p: dict[str, float], budget: float, kappa: float = 6.0) -> float:
    from bayescale.nd import optimal_allocation

    return float(optimal_allocation(budget, p["A"], p["alpha"], p["B"], p["beta"], kappa)[0])


def bootstrap(n, d, loss, point: dict[str, Any], seed: int, reps: int = BOOTSTRAPS):
    """Epoch's bootstrap: refit on resampled rows (from the point fit and one grid start)."""
    rng = np.random.default_rng(seed)
    starts = [point["theta"], GRID[int(rng.integers(len(GRID)))]]
    fits = []
    for _ in range(reps):
        i = rng.integers(0, len(n), len(n))
        fits.append(approach3(n[i], d[i], loss[i], starts))
    return fits


# ---------------------------------------------------------------------------------------------
# Scoring


def score(truth: float, draws_or_interval, point: float | None = None) -> dict[str, Any]:
    """Median (or point), 90% interval, coverage, relative error and relative width."""
    if isinstance(draws_or_interval, tuple):
        lower, upper = draws_or_interval
        median = point
    else:
        v = np.asarray(draws_or_interval)
        lower, median, upper = np.quantile(v, [(1 - INTERVAL) / 2, 0.5, (1 + INTERVAL) / 2])
    out = {"truth": float(truth), "median": float(median)}
    out["error_pct"] = 100 * (out["median"] - truth) / truth
    if lower is not None:
        out.update(
            lower=float(lower),
            upper=float(upper),
            covered=bool(lower <= truth <= upper),
            width_pct=100 * (upper - lower) / out["median"],
        )
    return out


#: Whether to run Approach 3 and its bootstrap beside bayescale (``--no-baselines``: not).
BASELINES = True

#: Priors of the bayescale fits (``--exponent-log-sd`` overrides the exponent prior's sd,
#: ``--likelihood`` the likelihood).
PRIORS: dict[str, Any] = {}


#: A folder of pickled fits (``--fit-cache``), keyed by the runs, the priors that shape the
#: posterior and the sampler settings; ``None``: fit every time.
FIT_CACHE: Path | None = None
#: Priors used after sampling only (the predictive discrepancy): not part of the cache key.
PREDICTIVE_PRIORS = ("discrepancy_exponent_sd", "discrepancy_log_loss_sd")


def bayes_nd(frame: pd.DataFrame, settings, group_col: str | None, fit_max_compute=None):
    """bayescale's L(N, D) fit of ``frame`` (from ``FIT_CACHE`` when it holds it)."""
    import dataclasses
    import hashlib
    import pickle

    from bayescale import nd

    cols = nd.NDColumns(group=group_col or "group")
    data = nd.load_nd_runs(frame, cols, fit_max_compute=fit_max_compute)
    priors = nd.NDPriors(**PRIORS)
    shaping = {k: v for k, v in dataclasses.asdict(priors).items() if k not in PREDICTIVE_PRIORS}
    key = hashlib.sha256(
        pd.util.hash_pandas_object(data.to_frame(), index=False).values.tobytes()
        + json.dumps([shaping, dataclasses.asdict(settings)], default=str, sort_keys=True).encode()
    ).hexdigest()[:16]
    cached = FIT_CACHE / f"{key}.pkl" if FIT_CACHE is not None else None
    if cached is not None and cached.exists():
        fit, seconds = pickle.loads(cached.read_bytes())
        return dataclasses.replace(fit, priors=priors), seconds
    start = time.perf_counter()
    fit = nd.fit_nd(data, priors, settings=settings, allow_unconverged=True)
    seconds = time.perf_counter() - start
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(pickle.dumps((fit, seconds)))
    return fit, seconds


def methods_on_targets(
    frame, group_col, fitted, targets, settings, seed, budgets=None, n_opt_truth=None
):
    """Run bayescale L(N, D), Approach 3 and its bootstrap; score every target.

    ``targets``: rows with params, tokens, loss (truth) and group. ``budgets``/``n_opt_truth``:
    optional (group, budget) -> true N* for the allocation check.
    """
    from bayescale import nd, nd_report

    fit, seconds = bayes_nd(frame[fitted], settings, group_col)
    groups = list(fit.data.groups)
    forecast = nd.nd_loss_draws(fit, targets["params"].values, targets["tokens"].values)
    rows = []
    per_group_a3 = {}
    for g in groups if BASELINES else ():
        sel = (frame[group_col] == g).values if group_col else np.ones(len(frame), bool)
        f = frame[fitted & sel]
        point = approach3(f["params"].values, f["tokens"].values, f["loss"].values)
        boots = bootstrap(f["params"].values, f["tokens"].values, f["loss"].values, point, seed)
        per_group_a3[g] = (point, boots)
    for t, row in enumerate(targets.itertuples()):
        g = getattr(row, group_col) if group_col else groups[0]
        gi = groups.index(g)
        rows.append(
            {
                "name": str(getattr(row, "name", t)),
                "group": str(g),
                "params": row.params,
                "tokens": row.tokens,
                "bayescale_nd": score(row.loss, forecast["loss"].values[:, gi, t]),
            }
        )
        if g in per_group_a3:
            point, boots = per_group_a3[g]
            pred = [law(b, row.params, row.tokens) for b in boots]
            lo, hi = np.quantile(pred, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
            at = float(law(point, row.params, row.tokens))
            rows[-1] |= {
                "approach3": score(row.loss, (None, None), at),
                "bootstrap": score(row.loss, (lo, hi), at),
            }
    optimal = []
    if budgets:
        for (g, budget), truth in zip(budgets, n_opt_truth, strict=True):
            gi = groups.index(g)
            opt = nd.optimal_draws(fit, [budget])["params"].values[:, gi, 0]
            optimal.append({"group": g, "budget": budget, "bayescale_nd": score(truth, opt)})
            if g in per_group_a3:
                point, boots = per_group_a3[g]
                boot_n = [law_opt(b, budget) for b in boots]
                lo, hi = np.quantile(boot_n, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
                optimal[-1] |= {
                    "approach3": score(truth, (None, None), law_opt(point, budget)),
                    "bootstrap": score(truth, (lo, hi), law_opt(point, budget)),
                }
    diag = fit.diagnostics
    return {
        "targets": rows,
        "optimal": optimal,
        "diagnostics": {
            "ok": diag.ok,
            "r_hat_max": diag.r_hat_max,
            "ess_bulk_min": diag.ess_bulk_min,
            "divergences": diag.divergences,
            "seconds": seconds,
        },
        "parameters": nd_report.parameter_table(fit).to_dict(orient="records"),
        "approach3_parameters": {
            g: {k: v for k, v in p.items() if k != "theta"} for g, (p, _) in per_group_a3.items()
        },
    }


# ---------------------------------------------------------------------------------------------
# Cases


#: Epoch's digitised Chinchilla table: fitted up to this compute, the larger runs held out.
EPOCH_CUT = 1e20
#: Chinchilla itself: 70B parameters on 1.4T tokens, the authors' compute-optimal model at
#: 5.76e23 FLOPs (Hoffmann et al. 2022).
CHINCHILLA = (5.76e23, 7e10)


def epoch_table() -> tuple[pd.DataFrame, np.ndarray]:
    """Epoch's table (tokens = FLOPs / 6N) and the fitted rows (compute <= EPOCH_CUT)."""
    raw = pd.read_csv(DATA / "chinchilla_epoch" / "svg_extracted_data.csv")
    params = raw["Model Size"].astype(float).values
    flops = raw["Training FLOP"].astype(float).values
    frame = pd.DataFrame(
        {
            "name": [f"run{i}" for i in range(len(raw))],
            "group": "all",
            "params": params,
            "tokens": flops / (6.0 * params),
            "loss": raw["loss"].astype(float).values,
        }
    )
    return frame, flops <= EPOCH_CUT


def case_epoch(settings, seed):
    """Epoch's Chinchilla table fitted up to 1e20, the larger runs and Chinchilla's N* held out."""
    frame, fitted = epoch_table()
    targets = frame[~fitted].reset_index(drop=True)
    return methods_on_targets(
        frame,
        "group",
        fitted,
        targets,
        settings,
        seed,
        budgets=[("all", CHINCHILLA[0])],
        n_opt_truth=[CHINCHILLA[1]],
    )


#: The OLMo-2 ladder's cases: one eval set, and four eval sets of the same runs.
OLMO_SETS = {
    "c4_en": ["c4_en"],
    "four_sets": ["c4_en", "pile", "wikitext_103", "dolma_common-crawl"],
}


def olmo_frame(sets):
    """The OLMo-2 ladder over eval ``sets``, long form, and the mask of its fitted (ladder) runs."""
    raw = pd.read_csv(DATA / "olmo_ladder" / "olmo_ladder_final.csv")
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "name": raw["run"],
                    "group": s,
                    "params": raw["params_nonembed"],
                    "tokens": raw["tokens"],
                    "loss": raw[f"loss_{s}"],
                    "role": raw["role"],
                }
            )
            for s in sets
        ],
        ignore_index=True,
    )
    fitted = (frame["role"] == "ladder").values
    return frame.drop(columns="role"), fitted


def case_olmo(settings, seed):
    out = {}
    for label, sets in OLMO_SETS.items():
        frame, fitted = olmo_frame(sets)
        targets = frame[~fitted].reset_index(drop=True)
        out[label] = methods_on_targets(frame, "group", fitted, targets, settings, seed)
    return out


def case_gadre(settings, seed):
    from bayescale import fit_loss, load_loss_runs
    from bayescale.forecast import loss_draws

    raw = pd.read_csv(DATA / "gadre_overtrain" / "gadre_losses.csv")
    frame = pd.DataFrame(
        {
            "name": raw["name"],
            "group": raw["dataset"],
            "params": raw["params"],
            "tokens": raw["tokens"],
            "loss": raw["loss_c4_val"],
            "multiplier": raw["chinchilla_multiplier"].astype(float),
        }
    )
    large = raw["model"].isin(["open_lm_1b", "open_lm_7b"]).values
    targets = frame[large].reset_index(drop=True)
    result = methods_on_targets(
        frame.drop(columns="multiplier"), "group", ~large, targets, settings, seed
    )
    # bayescale L(C) along each held-out run's multiplier path (6ND compute), a baseline
    lc = []
    for m in sorted(targets["multiplier"].unique()) if BASELINES else ():
        path = frame[(frame["multiplier"] == m)].copy()
        path["compute"] = 6.0 * path["params"].astype(float) * path["tokens"].astype(float)
        small = ~path["name"].isin(targets["name"])
        data = load_loss_runs(path[small][["compute", "loss", "group", "name"]])
        fit = fit_loss(data, settings=settings, allow_unconverged=True)
        for row in path[~small].itertuples():
            d = loss_draws(fit, np.array([row.compute]))["loss"].values[
                :, list(data.groups).index(row.group), 0
            ]
            lc.append(
                {
                    "name": row.name,
                    "multiplier": m,
                    "ok": fit.diagnostics.ok,
                    "bayescale_lc": score(row.loss, d),
                }
            )
    result["lc_on_path"] = lc
    return result


def case_porian(settings, seed):
    pts = pd.read_csv(DATA / "porian_isoflop" / "porian_isoflop_points.csv")
    opt = pd.read_csv(DATA / "porian_isoflop" / "porian_optimal.csv")
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
            "flops": pts["flops"].values,
        }
    ).reset_index(drop=True)
    fitted = (frame["flops"] <= 8e17).values
    targets = frame[~fitted].reset_index(drop=True)
    held = opt[opt["flops"] > 8e17]
    budgets = [(g, float(f)) for g, f in zip(held["dataset"], held["flops"], strict=True)]
    return methods_on_targets(
        frame.drop(columns="flops"),
        "group",
        fitted,
        targets,
        settings,
        seed,
        budgets=budgets,
        n_opt_truth=held["n_opt"].tolist(),
    )


def case_sim(settings, seed, n_sims=20):
    from bayescale import nd

    truth = nd.EPOCH_LAW
    out = []
    for s in range(n_sims):
        k = 4 + s % 3
        budgets = np.geomspace(1e18, 1e18 * 3 ** (k - 1), k)
        frame = nd.simulate_nd_runs(s, budgets=budgets)
        frame["group"] = "all"
        c_max = budgets[-1]
        n_star, d_star = nd.optimal_allocation(
            100 * c_max, truth["A"], truth["alpha"], truth["B"], truth["beta"]
        )
        n_over, _ = nd.optimal_allocation(
            c_max, truth["A"], truth["alpha"], truth["B"], truth["beta"]
        )
        rng = np.random.default_rng(10_000 + s)
        tgt = pd.DataFrame(
            {
                "name": ["100x_optimal", "20x_over", "50x_over"],
                "params": [n_star, n_over, n_over],
                "tokens": [d_star, 400 * n_over, 1000 * n_over],
            }
        )
        tgt["loss"] = nd.nd_law(np.log(tgt["params"]), np.log(tgt["tokens"]), **truth) * np.exp(
            0.01 * rng.standard_normal(3)
        )
        tgt["group"] = "all"
        res = methods_on_targets(
            frame,
            "group",
            np.ones(len(frame), bool),
            tgt,
            settings,
            seed + s,
            budgets=[("all", 100 * c_max)],
            n_opt_truth=[float(n_star)],
        )
        res["seed"], res["budgets"] = s, budgets.tolist()
        out.append(res)
        covered = [r["bayescale_nd"].get("covered") for r in res["targets"]]
        print(
            f"sim {s}: {covered} N* {res['optimal'][0]['bayescale_nd']['covered']}",
            flush=True,
        )
    return out


def summary(rows: list[dict[str, Any]], method: str) -> dict[str, float]:
    scored = [r[method] for r in rows if method in r]
    cov = [s["covered"] for s in scored if "covered" in s]
    return {
        "n": len(scored),
        "coverage_90": float(np.mean(cov)) if cov else None,
        "mean_abs_error_pct": float(np.mean([abs(s["error_pct"]) for s in scored])),
        "median_width_pct": float(np.median([s["width_pct"] for s in scored if "width_pct" in s]))
        if cov
        else None,
    }


METHODS = {
    "bayescale_nd": "bayescale L(N, D)",
    "approach3": "Approach 3 (point)",
    "bootstrap": "Epoch bootstrap",
    "bayescale_lc": "bayescale L(C), on path",
}


def _row(label: str, rows: list[dict[str, Any]], method: str) -> str | None:
    s = summary(rows, method)
    if s["n"] == 0:  # a run without baselines (--no-baselines)
        return None
    cov = "-" if s["coverage_90"] is None else f"{s['coverage_90']:.0%} ({s['n']})"
    width = "-" if s["median_width_pct"] is None else f"{s['median_width_pct']:.1f}%"
    return f"| {label} | {METHODS[method]} | {cov} | {s['mean_abs_error_pct']:.2f}% | {width} |"


def markdown(results: dict[str, Any]) -> str:
    """The side-by-side tables of docs/nd.md from the results JSON."""
    head = [
        "| case | method | 90% coverage (n) | mean abs. error of median | median 90% width |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines = ["Held-out runs:", "", *head]
    cases: list[tuple[str, dict[str, Any]]] = []
    if "olmo" in results:
        for k, v in results["olmo"]["result"].items():
            cases.append((f"OLMo-2 7B-4T, 13B-5T ({k})", v))
    for key, label in (
        ("gadre", "Gadre 1.4B and 6.9B"),
        ("porian", "Porian 2x-32x budgets"),
        ("porian_wide_exponent_prior", "Porian, exponent prior log sd 1.5"),
        ("epoch", "Epoch's Chinchilla > 1e20"),
    ):
        if key in results:
            cases.append((label, results[key]["result"]))
    for label, v in cases:
        for m in ("bayescale_nd", "approach3", "bootstrap"):
            lines.append(_row(label, v["targets"], m))
        if v.get("lc_on_path"):
            lines.append(_row(label, v["lc_on_path"], "bayescale_lc"))
    if "sim" in results:
        sims = results["sim"]["result"]
        for name in ("100x_optimal", "20x_over", "50x_over"):
            rows = [t for r in sims for t in r["targets"] if t["name"] == name]
            for m in ("bayescale_nd", "approach3", "bootstrap"):
                lines.append(_row(f"simulated, {name}", rows, m))
    lines += ["", "Compute-optimal N*(C):", "", *head]
    for label, v in cases:
        if v.get("optimal"):
            for m in ("bayescale_nd", "approach3", "bootstrap"):
                lines.append(_row(label, v["optimal"], m))
    if "sim" in results:
        rows = [o for r in results["sim"]["result"] for o in r["optimal"]]
        for m in ("bayescale_nd", "approach3", "bootstrap"):
            lines.append(_row("simulated, N*(100 C_max)", rows, m))
    lines += _likelihood_table(results)
    return "\n".join(line for line in lines if line is not None)


def _cases_of(key: str, res: Any) -> list[tuple[str, list[Any], list[Any]]]:
    """(label, held-out rows, N* rows) of one stored case, whatever its layout."""
    if key.startswith("olmo"):
        return [(f"OLMo-2 ({k})", v["targets"], v["optimal"]) for k, v in res.items()]
    if key.startswith("sim"):
        label = f"simulated ({len(res)} designs)"
        return [
            (label, [t for r in res for t in r["targets"]], [o for r in res for o in r["optimal"]])
        ]
    return [(key.split("_")[0].capitalize(), res["targets"], res["optimal"])]


def likelihood_of(entry: dict[str, Any]) -> str:
    """The likelihood a stored case ran with (entries before the key: their priors, else normal)."""
    return entry.get("likelihood") or entry.get("priors", {}).get("likelihood", "normal")


def _likelihood_table(results: dict[str, Any]) -> list[str]:
    """bayescale's two likelihoods side by side, for the cases run with both."""
    lines = [
        "",
        "Student-t against normal likelihood (bayescale L(N, D); `--likelihood`):",
        "",
        "| case | likelihood | held-out 90% coverage (n) | mean abs. error | median width "
        "| N* 90% coverage (n) | N* mean abs. error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    bases = dict.fromkeys(
        k.removesuffix("_normal").removesuffix("_student_t")
        for k in results
        if not k.startswith("porian_wide")
    )
    for base in bases:
        keys = [k for k in (base, base + "_student_t", base + "_normal") if k in results]
        if len({likelihood_of(results[k]) for k in keys}) < 2:
            continue
        for likelihood in ("student_t", "normal"):  # the suffixed run first: run side by side
            own = [k for k in (base + "_" + likelihood, base) if k in results]
            own = [k for k in own if likelihood_of(results[k]) == likelihood]
            if not own:
                continue
            k = own[0]
            for label, targets, optimal in _cases_of(k, results[k]["result"]):
                t = summary(targets, "bayescale_nd")
                o = summary(optimal, "bayescale_nd") if optimal else None
                star = (
                    "- | -"
                    if o is None
                    else f"{o['coverage_90']:.0%} ({o['n']}) | {o['mean_abs_error_pct']:.1f}%"
                )
                lines.append(
                    f"| {label} | {likelihood} | {t['coverage_90']:.0%} ({t['n']}) | "
                    f"{t['mean_abs_error_pct']:.2f}% | {t['median_width_pct']:.1f}% | {star} |"
                )
    return lines if len(lines) > 5 else []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("cases", nargs="*", default=["olmo", "gadre", "porian", "epoch", "sim"])
    parser.add_argument("--fit-cache", type=Path, help="reuse pickled fits from this folder")
    parser.add_argument("--discrepancy-log-loss-sd", type=float, help="NDPriors field")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sims", type=int, default=20)
    parser.add_argument("--markdown", action="store_true", help="print the tables and stop")
    parser.add_argument("--exponent-log-sd", type=float, help="NDPriors.exponent_log_sd")
    parser.add_argument("--likelihood", choices=("normal", "student_t"), help="NDPriors.likelihood")
    parser.add_argument(
        "--no-baselines", action="store_true", help="bayescale alone (no Approach 3, bootstrap)"
    )
    parser.add_argument("--key-suffix", default="", help="store the cases under CASE+SUFFIX")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results JSON")
    args = parser.parse_args(argv)
    results_path: Path = args.results
    if args.markdown:
        print(markdown(json.loads(results_path.read_text())))
        return 0
    import bayescale
    from bayescale.sampling import SamplerSettings

    bayescale.configure(devices=args.chains, compilation_cache=True)
    if args.exponent_log_sd is not None:
        PRIORS["exponent_log_sd"] = args.exponent_log_sd
    if args.likelihood is not None:
        PRIORS["likelihood"] = args.likelihood
    if args.discrepancy_log_loss_sd is not None:
        PRIORS["discrepancy_log_loss_sd"] = args.discrepancy_log_loss_sd
    global BASELINES, FIT_CACHE
    FIT_CACHE = args.fit_cache
    BASELINES = not args.no_baselines
    settings = SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for case in args.cases:
        start = time.perf_counter()
        if case == "sim":
            res: Any = case_sim(settings, args.seed, args.sims)
        else:
            cases = {
                "olmo": case_olmo,
                "gadre": case_gadre,
                "porian": case_porian,
                "epoch": case_epoch,
            }
            res = cases[case](settings, args.seed)
        key = case + args.key_suffix
        from bayescale.nd_data import NDPriors

        results[key] = {
            "result": res,
            "priors": dict(PRIORS),
            "likelihood": NDPriors(**PRIORS).likelihood,
            "seconds": time.perf_counter() - start,
            "settings": {
                "draws": args.draws,
                "tune": args.tune,
                "chains": args.chains,
                "seed": args.seed,
            },
            "load_average": os.getloadavg(),
        }
        results_path.parent.mkdir(exist_ok=True)
        if results_path.exists():  # another case may have finished meanwhile (run in parallel)
            results = {**json.loads(results_path.read_text()), key: results[key]}
        results_path.write_text(json.dumps(results, indent=1, default=float))
        print(case, "done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

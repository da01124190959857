"""Run-to-run scatter of real loss ladders: the evidence behind the loss model's sigma prior.

For every real ladder beside the repository (``../shared/data``) with at least 5 runs per
group, the loss law is fitted to each group by least squares on log loss
(:func:`bayescale.point_fits.fit_loss_lsq`) and the residual sd is taken with the law's three
parameters counted, ``rms * sqrt(n / (n - 3))``: what the model's ``sigma`` stands for (the
seed-to-seed noise plus the law's small misfit over the fitted range). The OLMo-2 ladder's
reruns (the same configuration trained twice) give the seed-to-seed part alone:
``|ln L1 - ln L2| / sqrt 2``. Writes ``benchmarks/results/scatter_real.json`` and prints the
quantiles that :data:`bayescale.priors.SCATTER_PRIOR_MEDIAN` and ``scatter_log_sd`` rest on.

With ``--nd`` the same for L(N, D) = E + A/N^alpha + B/D^beta, the evidence behind
:data:`bayescale.nd_data.ND_SCATTER_PRIOR_MEDIAN`: every real table with N and D per run (the
OLMo-2 ladder per eval set, Gadre et al. per corpus, Porian et al.'s isoFLOP points per
configuration, Chinchilla's runs as extracted by Epoch) is fitted per group by least squares on
log loss (from a grid of starts, :func:`fit_nd_lsq`) and the residual sd taken with the law's
five parameters counted, ``rms * sqrt(n / (n - 5))``. Writes
``benchmarks/results/scatter_real_nd.json``.

    python benchmarks/scatter_real.py [--nd]
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.point_fits import fit_loss_lsq

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MIN_RUNS = 5


def ladders() -> dict[str, pd.DataFrame]:
    """Every real ladder as ``compute, loss, group`` (one curve per group)."""
    out = {}
    olmo = pd.read_csv(DATA / "olmo_ladder" / "olmo_ladder_final.csv")
    olmo = olmo[(olmo["role"] == "ladder") & (olmo["is_rerun"] == 0)]
    for mult, part in olmo.groupby("multiplier_xC"):
        long = part.melt(
            id_vars=["train_flops"],
            value_vars=[c for c in olmo.columns if c.startswith("loss_")],
            var_name="group",
            value_name="loss",
        )
        out[f"olmo {mult}xC"] = long.rename(columns={"train_flops": "compute"})
    gadre = pd.read_csv(DATA / "gadre_overtrain" / "gadre_losses.csv")
    for mult, part in gadre.groupby("chinchilla_multiplier"):
        out[f"gadre {mult}x"] = pd.DataFrame(
            {"compute": part["compute_6ND"], "loss": part["loss_c4_val"], "group": part["dataset"]}
        )
    porian = pd.read_csv(DATA / "porian_isoflop" / "porian_optimal.csv")
    porian = porian[porian["loss_opt"].notna()]
    out["porian optimal"] = pd.DataFrame(
        {"compute": porian["flops"], "loss": porian["loss_opt"], "group": porian["paper_label"]}
    )
    blations = pd.read_csv(DATA / "datablations" / "datablations_contour_losses.csv")
    blations = blations[blations["epochs"] == 1]
    out["datablations 1 epoch"] = pd.DataFrame(
        {"compute": blations["flops"], "loss": blations["openLM_loss"], "group": "c4"}
    )
    return out


def group_scatter(table: pd.DataFrame) -> list[dict[str, float | str | int]]:
    """Residual sd of the law per group with at least :data:`MIN_RUNS` runs."""
    rows = []
    for group, runs in table.groupby("group"):
        runs = runs.groupby("compute", as_index=False)["loss"].mean()
        n = len(runs)
        if n < MIN_RUNS:
            continue
        fit = fit_loss_lsq(runs["compute"].to_numpy(float), runs["loss"].to_numpy(float))
        sd = fit.rms_log_residual * np.sqrt(n / (n - 3))
        rows.append({"group": str(group), "runs": n, "sd": float(sd)})
    return rows


def rerun_scatter() -> list[float]:
    """Seed-to-seed sd from the OLMo-2 ladder's reruns, one per (rerun, eval set)."""
    olmo = pd.read_csv(DATA / "olmo_ladder" / "olmo_ladder_final.csv")
    loss_cols = [c for c in olmo.columns if c.startswith("loss_")]
    out = []
    for run in olmo.loc[olmo["is_rerun"] == 1, "run"]:
        original = olmo[olmo["run"] == run.removesuffix("-rerun")]
        again = olmo[olmo["run"] == run]
        if len(original) == 1:
            diff = np.log(original[loss_cols].to_numpy(float)) - np.log(
                again[loss_cols].to_numpy(float)
            )
            out += list(np.abs(diff.ravel()) / np.sqrt(2))
    return out


def fit_nd_lsq(params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Log-loss residuals of the least-squares L(N, D) fit (the best of a grid of starts)."""
    from scipy.optimize import least_squares
    from scipy.special import logsumexp

    ln_n, ln_d, ln_l = np.log(params), np.log(tokens), np.log(loss)

    def residuals(theta: np.ndarray) -> np.ndarray:
        a, b, e, alpha, beta = theta
        terms = np.stack([a - alpha * ln_n, b - beta * ln_d, np.full_like(ln_n, e)])
        return logsumexp(terms, axis=0) - ln_l

    grid = itertools.product(
        [0.0, 10.0, 20.0], [0.0, 10.0, 20.0], [0.0, 1.0], [0.3, 0.8], [0.3, 0.8]
    )
    fits = [least_squares(residuals, np.array(start), max_nfev=2000) for start in grid]
    return min(fits, key=lambda fit: fit.cost).fun


def nd_tables() -> dict[str, pd.DataFrame]:
    """Every real table with N and D per run, as ``params, tokens, loss, group``."""
    out = {}
    olmo = pd.read_csv(DATA / "olmo_ladder" / "olmo_ladder_final.csv")
    olmo = olmo[(olmo["role"] == "ladder") & (olmo["is_rerun"] == 0)]
    out["olmo"] = olmo.melt(
        id_vars=["params_nonembed", "tokens"],
        value_vars=[c for c in olmo.columns if c.startswith("loss_")],
        var_name="group",
        value_name="loss",
    ).rename(columns={"params_nonembed": "params"})
    gadre = pd.read_csv(DATA / "gadre_overtrain" / "gadre_losses.csv")
    out["gadre"] = pd.DataFrame(
        {
            "params": gadre["params"],
            "tokens": gadre["tokens"],
            "loss": gadre["loss_c4_val"],
            "group": gadre["dataset"],
        }
    )
    porian = pd.read_csv(DATA / "porian_isoflop" / "porian_isoflop_points.csv")
    keys = ["dataset", "hparams", "warmup", "decay", "param_count", "loss_split"]
    out["porian"] = pd.DataFrame(
        {
            "params": porian["params"],
            "tokens": porian["tokens"],
            "loss": porian["loss"],
            "group": porian[keys].astype(str).agg("/".join, axis=1),
        }
    )
    chinchilla = pd.read_csv(DATA / "chinchilla_epoch" / "svg_extracted_data.csv")
    n = chinchilla["Model Size"].to_numpy(float)
    out["chinchilla"] = pd.DataFrame(
        {
            "params": n,
            "tokens": chinchilla["Training FLOP"].to_numpy(float) / (6.0 * n),
            "loss": chinchilla["loss"],
            "group": "all",
        }
    )
    return out


def nd_main() -> None:
    """Measure L(N, D)'s residual sd per group and write ``scatter_real_nd.json``."""
    per_table = {}
    for name, table in nd_tables().items():
        rows = []
        for group, runs in table.dropna().groupby("group"):
            n = len(runs)
            if n < 2 * 5:
                continue
            r = fit_nd_lsq(*(runs[c].to_numpy(float) for c in ("params", "tokens", "loss")))
            sd = float(np.sqrt(np.mean(r**2) * n / (n - 5)))
            rows.append({"group": str(group), "runs": n, "sd": sd})
        per_table[name] = rows
    sds = np.array([r["sd"] for rows in per_table.values() for r in rows])
    weights = np.concatenate([np.full(len(rows), 1 / len(rows)) for rows in per_table.values()])
    logs = np.log(sds)
    mean = float(np.average(logs, weights=weights))
    result = {
        "tables": per_table,
        "groups": int(sds.size),
        "quantiles": {q: float(np.quantile(sds, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
        "table_medians": {
            name: float(np.median([r["sd"] for r in rows])) for name, rows in per_table.items()
        },
        "table_weighted_geometric_mean": float(np.exp(mean)),
        "table_weighted_log_sd": float(np.sqrt(np.average((logs - mean) ** 2, weights=weights))),
    }
    path = ROOT / "benchmarks" / "results" / "scatter_real_nd.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "tables"}, indent=2))
    for name, rows in per_table.items():
        print(f"{name}: {[(r['group'], r['runs'], round(r['sd'], 4)) for r in rows]}")


def main() -> None:
    """Measure and write the JSON."""
    per_ladder = {name: group_scatter(table) for name, table in ladders().items()}
    sds = np.array([r["sd"] for rows in per_ladder.values() for r in rows])
    # one weight per ladder, so OLMo's 11 eval sets per multiplier do not outvote the rest
    weights = np.concatenate(
        [np.full(len(rows), 1 / len(rows)) for rows in per_ladder.values() if rows]
    )
    logs = np.log(sds)
    mean = float(np.average(logs, weights=weights))
    sd = float(np.sqrt(np.average((logs - mean) ** 2, weights=weights)))
    reruns = rerun_scatter()
    result = {
        "ladders": per_ladder,
        "groups": int(sds.size),
        "quantiles": {q: float(np.quantile(sds, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
        "min": float(sds.min()),
        "max": float(sds.max()),
        "ladder_weighted_log_mean": mean,
        "ladder_weighted_median": float(np.exp(mean)),
        "ladder_weighted_log_sd": sd,
        "olmo_reruns": {
            "pairs": len(reruns),
            "median": float(np.median(reruns)) if reruns else None,
            "max": float(np.max(reruns)) if reruns else None,
        },
    }
    path = ROOT / "benchmarks" / "results" / "scatter_real.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "ladders"}, indent=2))
    for name, rows in per_ladder.items():
        if rows:
            print(f"{name}: {len(rows)} groups, sd {[round(r['sd'], 4) for r in rows]}")


if __name__ == "__main__":
    nd_main() if "--nd" in sys.argv[1:] else main()

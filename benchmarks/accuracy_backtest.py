"""Leave-largest-out backtest of the floor-aware accuracy law on ObsScaling's base models.

For every model family with at least four sizes, its largest model is held out and forecast
from the rest, on every benchmark whose ladder has four or more sizes with a score. Methods:

- ``line``: the GPT-4 report's line without a floor, ``ln(-ln p)`` linear in ``ln C``, fitted
  per ladder by least squares (rows with ``0 < p < 1``), a point forecast;
- ``floor_point``: the floor-aware law fitted per ladder by least squares on the accuracy
  scale (SciPy), a point forecast;
- ``unpooled``: bayescale's model on the family alone, every ladder on its own priors;
- ``pooled``: the library's default model on the whole table (every other family in full),
  so the family borrows each benchmark's exponent; ``pooled_levels`` pools the ladder
  levels too (``fit_accuracy(pool_levels=True)``); ``below_chance`` learns each
  multiple-choice benchmark's floor between 0 and its chance rate
  (``fit_accuracy(floor="below_chance")``, the floor's prior from ``--floor-prior A B``).

Writes ``benchmarks/results/accuracy_backtest.json`` and prints the Markdown table of
docs/accuracy.md. Usage::

    python benchmarks/accuracy_backtest.py [--draws 2000 --tune 500 --chains 2]
        [--families F ...] [--methods pooled unpooled pooled_levels below_chance]
        [--floor-prior A B] [--axis {compute,chinchilla}] [--exponent-median K]

``--axis chinchilla`` fits bayescale's models on Chinchilla's effective compute
(:func:`bayescale.accuracy_data.chinchilla_effective_compute` of each model's parameters and
tokens) in place of training compute, with the same held-out models (each family's largest
by training compute) and the same baselines (on training compute); its exponent prior's
median defaults to 1.0, the median of per-ladder fits on that axis (fitted rows only).
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.stats import binomtest

import bayescale
from bayescale.accuracy import (
    AccuracyFit,
    accuracy_draws,
    fit_accuracy,
    leave_largest_out,
)
from bayescale.accuracy_data import (
    AccuracyData,
    AccuracyPriors,
    accuracy_law,
    accuracy_pivots,
    chinchilla_effective_compute,
    load_accuracy_table,
    transformed_accuracy,
)
from bayescale.accuracy_model import accuracy_inputs, ladders_at_chance
from bayescale.sampling import SamplerSettings

DATA = Path(__file__).resolve().parents[2] / "shared/data/obsscaling_base_llm"
TABLE = "base_llm_benchmark_eval.csv"
#: Benchmarks with a known chance rate (TruthfulQA's MC2 has none, and falls with scale).
BENCHMARKS = ("MMLU", "ARC-C", "HellaSwag", "Winograd", "XWinograd", "GSM8K", "HumanEval")
MULTIPLE_CHOICE = ("MMLU", "ARC-C", "HellaSwag", "Winograd", "XWinograd")
MIN_SIZES = 4
INTERVAL = 0.9
#: A held-out score this close to chance (on the normalised scale) counts as covered in the
#: "floor band" column when the interval reaches into the band.
FLOOR_BAND = 0.02
RESULTS = Path(__file__).resolve().parent / "results"
#: Median of the exponent prior per axis: docs/accuracy.md's 0.2 on training compute; on
#: Chinchilla's effective compute the median per-ladder floor-law fit (fitted rows of every
#: ladder with >= 4 sizes not at chance, 76 ladders: 1.05, 0.44-1.61 between the 10th and
#: 90th percentiles; 1.31 with ``--constants hoffmann``; ``benchmarks/accuracy_law_study.py``).
EXPONENT_MEDIAN = {"compute": 0.2, "chinchilla": 1.0}


#: Hoffmann et al. 2022's first constants (A, alpha, B, beta; their eq. 10), for
#: ``--constants hoffmann``: a robustness check of the library's (Besiroglu et al. 2024).
HOFFMANN = (406.4, 0.34, 410.7, 0.28)


def effective_compute(
    data: AccuracyData, folder: Path = DATA, constants: str = "besiroglu"
) -> np.ndarray:
    """Chinchilla's effective compute of every row of ``data`` (by its model's N and D)."""
    wide = pd.read_csv(folder / TABLE).set_index("Model")
    n = wide.loc[data.model, "Model Size (B)"].to_numpy(dtype=float) * 1e9
    d = wide.loc[data.model, "Pretraining Data Size (T)"].to_numpy(dtype=float) * 1e12
    if constants == "hoffmann":
        a, alpha, b, beta = HOFFMANN
        return 1.0 / (a / n**alpha + b / d**beta)
    return chinchilla_effective_compute(n, d)


def obsscaling_table(folder: Path = DATA) -> pd.DataFrame:
    """ObsScaling's wide table as the long ``model, family, compute, benchmark, accuracy``."""
    wide = pd.read_csv(folder / TABLE)
    wide = wide[wide["FLOPs (1E21)"].notna()]
    long = wide.melt(
        id_vars=["Model", "Model Family", "FLOPs (1E21)"],
        value_vars=list(BENCHMARKS),
        var_name="benchmark",
        value_name="accuracy",
    ).dropna(subset=["accuracy"])
    return pd.DataFrame(
        {
            "model": long["Model"],
            "family": long["Model Family"],
            "compute": long["FLOPs (1E21)"] * 1e21,
            "benchmark": long["benchmark"],
            "accuracy": long["accuracy"],
        }
    ).reset_index(drop=True)


def cases(data: AccuracyData) -> list[tuple[str, str, int]]:
    """(family, benchmark, row of the held-out model) of every ladder with >= 4 sizes."""
    out = []
    for family in data.families:
        rows = data.family == family
        if np.unique(data.compute[rows]).size < MIN_SIZES:
            continue
        largest = data.compute[rows].max()
        for bench in data.benchmarks:
            ladder = rows & (data.benchmark == bench)
            top = np.flatnonzero(ladder & (data.compute == largest))
            if top.size and np.unique(data.compute[ladder]).size >= MIN_SIZES:
                out.append((family, bench, int(top[0])))
    return out


def line_forecast(x: np.ndarray, p: np.ndarray, x_new: float) -> float:
    """The report's line without a floor: least squares of ln(-ln p) on ln C."""
    ok = (p > 0) & (p < 1)
    if np.unique(x[ok]).size < 2:
        return float("nan")
    slope, intercept = np.polyfit(x[ok], np.log(-np.log(p[ok])), 1)
    return float(np.exp(-np.exp(intercept + slope * x_new)))


def floor_point_forecast(x: np.ndarray, p: np.ndarray, g: float, x_new: float) -> float:
    """The floor-aware law fitted by least squares on the accuracy scale (level, ln k)."""
    centre = float(np.mean(x))
    y = transformed_accuracy(np.clip(p, g + 0.01 * (1 - g), 0.999), g)
    slope, intercept = np.polyfit(x - centre, y, 1)
    start = np.array([intercept, np.log(max(-slope, 0.02))])

    def residual(theta: np.ndarray) -> np.ndarray:
        return accuracy_law(x - centre, theta[0], np.exp(theta[1]), g) - p

    fit = least_squares(residual, start, bounds=([-10, np.log(1e-3)], [10, np.log(5.0)]))
    return float(accuracy_law(x_new - centre, fit.x[0], np.exp(fit.x[1]), g))


def _point_fit(
    law: Callable[[np.ndarray, np.ndarray, float], np.ndarray],
    x: np.ndarray,
    p: np.ndarray,
    g: float,
    x_new: float,
    start: list[float],
    bounds: tuple[list[float], list[float]],
) -> float:
    """Least squares of ``law(x - mean x, theta, g)`` on the accuracy scale; its forecast."""
    centre = float(np.mean(x))
    fit = least_squares(lambda t: law(x - centre, t, g) - p, start, bounds=bounds)
    return float(law(np.asarray(x_new - centre), fit.x, g))


def _gompertz(x: np.ndarray, t: np.ndarray, floor: float) -> np.ndarray:
    return floor + (1 - floor) * np.exp(-np.exp(t[0] - np.exp(t[1]) * x))


def _free_floor(x: np.ndarray, t: np.ndarray, g: float) -> np.ndarray:
    return _gompertz(x, t[:2], g / (1 + np.exp(-t[2])))


def _logistic(x: np.ndarray, t: np.ndarray, g: float) -> np.ndarray:
    return g + (1 - g) / (1 + np.exp(t[0] - np.exp(t[1]) * x))


def _hinge(x: np.ndarray, t: np.ndarray, g: float) -> np.ndarray:
    return np.maximum(g, t[0] + t[1] * x)


#: Point laws fitted per ladder by ``--point-laws``: name -> (law, start, bounds); the
#: floor is the chance rate g unless the name says otherwise.
POINT_LAWS: dict[str, tuple[Callable[..., np.ndarray], list[float], tuple[list[float], ...]]] = {
    "floor_g": (_gompertz, [0.0, np.log(0.2)], ([-10, np.log(1e-3)], [10, np.log(5.0)])),
    "floor_g/2": (
        lambda x, t, g: _gompertz(x, t, g / 2),
        [0.0, np.log(0.2)],
        ([-10, np.log(1e-3)], [10, np.log(5.0)]),
    ),
    "floor_free_0_to_g": (
        _free_floor,
        [0.0, np.log(0.2), 0.0],
        ([-10, np.log(1e-3), -8], [10, np.log(5.0), 8]),
    ),
    "logistic_floor_g": (_logistic, [0.0, np.log(0.2)], ([-10, np.log(1e-3)], [10, np.log(5.0)])),
    "linear_floor_g": (_hinge, [0.5, 0.03], ([-1, 0], [2, 1])),
}


def point_laws(data: AccuracyData) -> pd.DataFrame:
    """Signed errors (points) of the line and the point laws of :data:`POINT_LAWS` per case.

    With ``height``, the largest normalised accuracy of the ladder's fitted rows.
    """
    rows = []
    for family, bench, row in cases(data):
        ladder = (
            (data.family == family) & (data.benchmark == bench) & (data.compute < data.compute[row])
        )
        x, p = np.log(data.compute[ladder]), data.accuracy[ladder]
        g = float(data.chance[data.benchmarks.index(bench)])
        x_new, truth = float(np.log(data.compute[row])), float(data.accuracy[row])
        out = {
            "family": family,
            "benchmark": bench,
            "height": float(np.max((p - g) / (1 - g))),
            "line": 100 * (line_forecast(x, p, x_new) - truth),
        }
        for name, (law, start, bounds) in POINT_LAWS.items():
            out[name] = 100 * (_point_fit(law, x, p, g, x_new, start, bounds) - truth)
        rows.append(out)
    return pd.DataFrame(rows)


def point_laws_markdown(frame: pd.DataFrame) -> str:
    """Median absolute (signed) errors per benchmark and by the ladder's height above chance."""
    laws = ["line", *POINT_LAWS]
    mc = frame["benchmark"].isin(MULTIPLE_CHOICE)
    groups = [(b, frame[frame["benchmark"] == b]) for b in BENCHMARKS]
    groups += [("multiple_choice", frame[mc]), ("all", frame)]
    bins = [-np.inf, 0.05, 0.2, 0.4, 0.6, 1.0]
    heights = pd.cut(frame["height"], bins)
    for interval in heights.cat.categories:
        label = f"MC, height {max(interval.left, 0):.2f}-{interval.right:.2f}"
        groups.append((label, frame[mc & (heights == interval)]))
    lines = [
        "| ladders | n | " + " | ".join(laws) + " |",
        "| --- | --- | " + " | ".join("---" for _ in laws) + " |",
    ]
    for label, group in groups:
        cells = [f"{group[law].abs().median():.1f} ({group[law].median():+.1f})" for law in laws]
        lines.append(f"| {label} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def score(truth: float, draws: np.ndarray | None, point: float, floor_top: float) -> dict:
    """Error, width and coverage of one forecast (interval columns only with draws)."""
    out: dict = {"truth": truth, "median": point, "abs_error": abs(point - truth)}
    out["rel_error"] = abs(point - truth) / truth if truth > 0 else None
    out["signed_error"] = point - truth
    if draws is not None:
        tail = (1 - INTERVAL) / 2
        lower, upper = np.quantile(draws, [tail, 1 - tail])
        out.update(lower=float(lower), upper=float(upper), width=float(upper - lower))
        out["covered"] = bool(lower <= truth <= upper)
        # within the floor band the law does not resolve accuracy: a truth there is
        # covered when the interval reaches into the band
        out["covered_floor_band"] = out["covered"] or bool(
            truth <= floor_top and lower <= floor_top
        )
    return out


def run(args: argparse.Namespace) -> dict:
    """Fit every split and score every method; the JSON document."""
    data = load_accuracy_table(obsscaling_table(args.data), label="obsscaling")
    settings = SamplerSettings(
        draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, progress=False
    )
    median = args.exponent_median or EXPONENT_MEDIAN[args.axis]
    priors = AccuracyPriors(
        floor_a=args.floor_prior[0], floor_b=args.floor_prior[1], exponent_median=median
    )
    if args.axis == "chinchilla":
        # the fits run on compute replaced by effective compute (fit.axis "compute"), so
        # they take the effective-compute axis's discrepancy shift as the compute one
        priors = replace(
            priors, discrepancy_exponent_shift=priors.discrepancy_exponent_shift_chinchilla
        )
    axis = (
        effective_compute(data, args.data, args.constants)
        if args.axis == "chinchilla"
        else data.compute
    )
    all_cases = cases(data)
    families = list(dict.fromkeys(f for f, _, _ in all_cases))
    if args.families:
        families = [f for f in families if f in args.families]
    rows, fits = [], []
    for family in families:
        split = leave_largest_out(data, family)
        fit_split = replace(split, compute=axis)
        held = split.held_out
        fam_rows = split.family == family
        started = time.perf_counter()
        models = {}
        for method in args.methods:
            if args.rescore:
                models[method] = saved_fit(args.rescore, family, method, priors)
            elif method == "unpooled":
                models[method] = fit_accuracy(
                    fit_split.subset(fam_rows),
                    priors,
                    settings,
                    pooled=False,
                    allow_unconverged=True,
                )
            else:
                models[method] = fit_accuracy(
                    fit_split,
                    priors,
                    settings,
                    pool_levels=method == "pooled_levels",
                    floor="below_chance" if method == "below_chance" else "chance",
                    allow_unconverged=True,
                )
        for method, fit in models.items():
            entry = {
                "family": family,
                "method": method,
                "diagnostics": fit.diagnostics.to_dict(),
                "seconds": fit.timing_s.get("total"),
            }
            if "chance" in fit.idata["posterior"].data_vars:
                floors = fit.floor_draws()
                entry["floors"] = {
                    b: [float(v) for v in np.quantile(floors[:, i], [0.05, 0.5, 0.95])]
                    for i, b in enumerate(fit.data.benchmarks)
                }
            fits.append(entry)
        print(f"{family}: {time.perf_counter() - started:.0f} s", flush=True)
        if args.save_fits and not args.rescore:
            args.save_fits.mkdir(parents=True, exist_ok=True)
            for method, fit in models.items():
                with (args.save_fits / f"{family.replace('/', '_')}.{method}.pkl").open(
                    "wb"
                ) as handle:
                    pickle.dump(fit, handle)
        at_chance = ladders_at_chance(split, accuracy_inputs(split, priors), priors)
        top = int(
            np.flatnonzero(
                held & fam_rows & (split.compute == split.compute[held & fam_rows].max())
            )[0]
        )
        grid = {
            method: discrepancy_grid(fit, family, axis[top])
            for method, fit in models.items()
            if method == "pooled"
        }
        for fam, bench, row in all_cases:
            if fam != family:
                continue
            ladder = fam_rows & (split.benchmark == bench) & ~held
            x = np.log(split.compute[ladder])
            p = split.accuracy[ladder]
            g = float(split.chance[split.benchmarks.index(bench)])
            x_new = float(np.log(split.compute[row]))
            truth = float(split.accuracy[row])
            floor_top = g + FLOOR_BAND * (1 - g)
            base = {
                "family": family,
                "benchmark": bench,
                "sizes": int(np.unique(split.compute[fam_rows & (split.benchmark == bench)]).size),
                "family_sizes": int(np.unique(split.compute[fam_rows]).size),
                "target_compute": float(split.compute[row]),
                "chance": g,
                # how far the ladder's fitted rows rose from chance toward 1
                "height": float(np.max((p - g) / (1 - g))),
                "at_chance": bool(
                    at_chance[split.families.index(family), split.benchmarks.index(bench)]
                ),
            }
            rows.append(
                {**base, "method": "line", **score(truth, None, line_forecast(x, p, x_new), 0)}
            )
            rows.append(
                {
                    **base,
                    "method": "floor_point",
                    **score(truth, None, floor_point_forecast(x, p, g, x_new), 0),
                }
            )
            for method, fit in models.items():
                draws = (
                    accuracy_draws(fit, [axis[row]])
                    .sel(family=family, benchmark=bench)
                    .values[:, 0]
                )
                rows.append(
                    {
                        **base,
                        "method": method,
                        **score(truth, draws, float(np.median(draws)), floor_top),
                        "grid": grid[method][bench] if method in grid else None,
                    }
                )
        if args.partial:  # what is done so far, for runs that may be cut short
            partial = {"families": families, "fits": fits, "cases": rows}
            args.partial.write_text(json.dumps(partial, indent=1) + "\n")
    frame = pd.DataFrame(rows)
    pooled = frame[frame["method"] == "pooled"]
    return {
        "discrepancy": discrepancy_study(pooled) if len(pooled) else None,
        "data": str(args.data / TABLE),
        "interval": INTERVAL,
        "settings": settings.as_attrs(),
        "axis": args.axis,
        "constants": args.constants,
        "priors": vars(priors),
        "families": families,
        "pivots": {
            f: float(v) for f, v in zip(data.families, accuracy_pivots(data, "family"), strict=True)
        },
        "summary": summary(frame),
        "four_size": four_size(frame),
        "fits": fits,
        "cases": frame.replace({np.nan: None}).to_dict("records"),
    }


def saved_fit(folder: Path, family: str, method: str, priors: AccuracyPriors) -> AccuracyFit:
    """A fit pickled by ``--save-fits``, forecasting with ``priors``' law discrepancy.

    The discrepancy is a predictive term only (the sampled model does not read it), so a
    saved fit rescored with other discrepancy priors is the fit a new run would make.
    """
    with (folder / f"{family.replace('/', '_')}.{method}.pkl").open("rb") as handle:
        fit = pickle.load(handle)  # our own files, written by --save-fits
    own = replace(
        fit.priors,
        discrepancy_exponent_sd=priors.discrepancy_exponent_sd,
        discrepancy_exponent_shift=priors.discrepancy_exponent_shift,
        discrepancy_exponent_shift_chinchilla=priors.discrepancy_exponent_shift_chinchilla,
    )
    return replace(fit, priors=own)


#: Law-discrepancy scales s (log sd of the exponent beyond the data) and shifts m (log of
#: its median factor) scored on every pooled fit, for the leave-one-family-out choice.
SCALES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
SHIFTS = (0.0, -0.1, -0.2, -0.3, -0.4, -0.6, -0.8, -1.0, -1.5)


def _key(shift: float, scale: float) -> str:
    return f"{shift:+.2f}/{scale:.2f}"


def discrepancy_grid(fit: AccuracyFit, family: str, compute: float) -> dict[str, dict]:
    """Per benchmark, the 90% interval and median of a new model at ``compute`` per (m, s)."""
    tail = (1 - INTERVAL) / 2
    out: dict[str, dict] = {b: {} for b in fit.data.benchmarks}
    for shift in SHIFTS:
        for scale in SCALES:
            priors = replace(
                fit.priors,
                discrepancy_exponent_sd=scale,
                discrepancy_exponent_shift=shift,
                discrepancy_exponent_shift_chinchilla=shift,
            )
            draws = accuracy_draws(replace(fit, priors=priors), [compute]).sel(family=family)
            q = np.quantile(draws.values[:, :, 0], [tail, 0.5, 1 - tail], axis=0)
            for i, b in enumerate(fit.data.benchmarks):
                out[b][_key(shift, scale)] = [float(v) for v in q[:, i]]
    return out


def _grid_scores(cases: pd.DataFrame, key: str) -> pd.DataFrame:
    """Covered, signed error and width of every case at grid point ``key``."""
    q = np.array([g[key] for g in cases["grid"]])
    truth = cases["truth"].to_numpy()
    return pd.DataFrame(
        {
            "family": cases["family"].to_numpy(),
            "benchmark": cases["benchmark"].to_numpy(),
            "height": cases["height"].to_numpy(),
            "covered": (q[:, 0] <= truth) & (truth <= q[:, 2]),
            "signed_error": q[:, 1] - truth,
            "width": q[:, 2] - q[:, 0],
        }
    )


def _grid_summary(scored: pd.DataFrame) -> dict:
    """Coverage and over-predicted share with their exact binomial tests (90%, 50%)."""
    n, covered = len(scored), int(scored["covered"].sum())
    over = int((scored["signed_error"] > 0).sum())
    return {
        "n": n,
        "coverage_90": covered / n if n else float("nan"),
        "coverage_p": float(binomtest(covered, n, INTERVAL).pvalue) if n else float("nan"),
        "over_predicted": over / n if n else float("nan"),
        "over_predicted_p": float(binomtest(over, n, 0.5).pvalue) if n else float("nan"),
        "median_signed_error": float(scored["signed_error"].median()),
        "median_abs_error": float(scored["signed_error"].abs().median()),
        "median_width": float(scored["width"].median()),
    }


def _by_benchmark(scored: pd.DataFrame) -> dict:
    out = {b: _grid_summary(g) for b, g in scored.groupby("benchmark", sort=False)}
    out["multiple_choice"] = _grid_summary(scored[scored["benchmark"].isin(MULTIPLE_CHOICE)])
    out["all"] = _grid_summary(scored)
    heights = pd.cut(scored["height"], [-np.inf, 0.2, 0.4, 0.6, np.inf])
    mc = scored["benchmark"].isin(MULTIPLE_CHOICE)
    for interval in heights.cat.categories:
        label = f"MC, height {max(interval.left, 0):.1f}-{min(interval.right, 1):.1f}"
        out[label] = _grid_summary(scored[mc & (heights == interval)])
    return out


#: The smallest scale a rule may choose: the loss law's, measured on 4x-100x
#: extrapolations; a one-step backtest cannot see how uncertainty grows further out.
MIN_SCALE = 0.25


def _closest_scale(scored: dict[float, pd.DataFrame]) -> float:
    """The scale >= :data:`MIN_SCALE` whose coverage is closest to 90% (ties: smallest)."""
    allowed = [s for s in scored if s >= MIN_SCALE]
    return min(allowed, key=lambda s: (abs(scored[s]["covered"].mean() - INTERVAL), s))


def discrepancy_study(pooled: pd.DataFrame) -> dict:
    """The law discrepancy chosen by leave-one-family-out on the pooled cases.

    For each family, its (m, s) is chosen on the other families' cases alone and its own
    cases are scored with it, so no case helps choose its own interval. Two rules: ``scale``
    (m = 0; s whose coverage on the other families is closest to 90%) and
    ``shift_then_scale`` (m whose median signed error on them is closest to 0, then s as
    before at that m). ``grid``: every (m, s) scored in-sample on all cases, and the
    choice each rule makes on all families (what a default would be).
    """
    families = list(dict.fromkeys(pooled["family"]))
    scores = {(m, s): _grid_scores(pooled, _key(m, s)) for m in SHIFTS for s in SCALES}

    def choose(keep: np.ndarray, rule: str) -> tuple[float, float]:
        shift = 0.0
        if rule == "shift_then_scale":
            shift = min(
                SHIFTS,
                key=lambda m: (abs(scores[m, 0.25][keep]["signed_error"].median()), -m),
            )
        return shift, _closest_scale({s: scores[shift, s][keep] for s in SCALES})

    out: dict = {
        "scales": list(SCALES),
        "shifts": list(SHIFTS),
        "grid": {_key(m, s): _grid_summary(scored) for (m, s), scored in scores.items()},
    }
    for rule in ("scale", "shift_then_scale"):
        chosen, parts = {}, []
        for family in families:
            keep = (pooled["family"] != family).to_numpy()
            m, s = choose(keep, rule)
            chosen[family] = {"shift": m, "scale": s}
            parts.append(scores[m, s][~keep])
        m_all, s_all = choose(np.ones(len(pooled), dtype=bool), rule)
        out[rule] = {
            "chosen_per_family": chosen,
            "leave_one_family_out": _by_benchmark(pd.concat(parts)),
            "chosen_on_all": {"shift": m_all, "scale": s_all},
            "in_sample_at_chosen": _by_benchmark(scores[m_all, s_all]),
        }
    return out


def discrepancy_markdown(study: dict) -> str:
    """The leave-one-family-out table of docs/accuracy.md."""
    lines = [
        "| rule | chosen on all (m, s) | per family s (m) | LOFO coverage | LOFO MC coverage "
        "| over-predicted | median signed error | median abs error | median width |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rule in ("scale", "shift_then_scale"):
        e = study[rule]
        a, mc = e["leave_one_family_out"]["all"], e["leave_one_family_out"]["multiple_choice"]
        per = sorted({(v["scale"], v["shift"]) for v in e["chosen_per_family"].values()})
        c = e["chosen_on_all"]
        lines.append(
            f"| {rule} | ({c['shift']:+.2f}, {c['scale']:.2f}) | "
            + ", ".join(f"{s:.2f} ({m:+.2f})" for s, m in per)
            + f" | {a['coverage_90']:.0%} | {mc['coverage_90']:.0%} | {a['over_predicted']:.0%} | "
            f"{100 * a['median_signed_error']:+.1f} | {100 * a['median_abs_error']:.1f} | "
            f"{100 * a['median_width']:.1f} |"
        )
    lines += [
        "",
        "| m | s | coverage | over-predicted | signed | abs | width |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, e in study["grid"].items():
        m, s = key.split("/")
        lines.append(
            f"| {m} | {s} | {e['coverage_90']:.0%} | {e['over_predicted']:.0%} | "
            f"{100 * e['median_signed_error']:+.1f} | {100 * e['median_abs_error']:.1f} | "
            f"{100 * e['median_width']:.1f} |"
        )
    return "\n".join(lines)


def _summarise(group: pd.DataFrame) -> dict:
    out = {
        "n": len(group),
        "median_abs_error": float(group["abs_error"].median()),
        "median_rel_error": float(group["rel_error"].dropna().median()),
        "over_predicted": float((group["signed_error"] > 0).mean()),
    }
    if "covered" in group and group["covered"].notna().any():
        out["coverage_90"] = float(group["covered"].astype(float).mean())
        out["coverage_90_floor_band"] = float(group["covered_floor_band"].astype(float).mean())
        out["median_width"] = float(group["width"].median())
    return out


def summary(frame: pd.DataFrame) -> dict:
    """Per method: per benchmark, multiple-choice and all ladders."""
    out: dict = {}
    for method, by_method in frame.groupby("method", sort=False):
        entry = {bench: _summarise(g) for bench, g in by_method.groupby("benchmark", sort=False)}
        entry["multiple_choice"] = _summarise(
            by_method[by_method["benchmark"].isin(MULTIPLE_CHOICE)]
        )
        entry["all"] = _summarise(by_method)
        out[str(method)] = entry
    return out


def four_size(frame: pd.DataFrame) -> dict:
    """Pooled against per-family fits on the families with exactly four sizes."""
    four = frame[frame["family_sizes"] == MIN_SIZES]
    return {
        str(method): _summarise(g)
        for method, g in four.groupby("method", sort=False)
        if method in ("pooled", "unpooled", "pooled_levels", "below_chance")
    }


def markdown(document: dict) -> str:
    """The per-benchmark table of docs/accuracy.md."""
    s = document["summary"]
    methods = [
        m
        for m in ("line", "floor_point", "unpooled", "pooled_levels", "pooled", "below_chance")
        if m in s
    ]
    lines = [
        "| benchmark | ladders | method | 90% coverage (floor band) | median abs error "
        "(points) | median rel error | median 90% width (points) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    benches = [b for b in (*BENCHMARKS, "multiple_choice", "all") if b in s["line"]]
    for bench in benches:
        for m in methods:
            e = s[m].get(bench)
            if e is None:
                continue
            cov = (
                f"{e['coverage_90']:.0%} ({e['coverage_90_floor_band']:.0%})"
                if "coverage_90" in e
                else "-"
            )
            width = f"{100 * e['median_width']:.1f}" if "median_width" in e else "-"
            lines.append(
                f"| {bench} | {e['n']} | {m} | {cov} | {100 * e['median_abs_error']:.1f} | "
                f"{e['median_rel_error']:.1%} | {width} |"
            )
    lines += [
        "",
        "Families with four sizes (three fitted):",
        "",
        "| method | ladders | 90% coverage (floor band) | median abs error (points) | "
        "median 90% width (points) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m, e in document["four_size"].items():
        lines.append(
            f"| {m} | {e['n']} | {e['coverage_90']:.0%} ({e['coverage_90_floor_band']:.0%}) | "
            f"{100 * e['median_abs_error']:.1f} | {100 * e['median_width']:.1f} |"
        )
    return "\n".join(lines)


def _finite(value: object) -> object:
    """``value`` with every non-finite float (an R-hat of a short run) as None, for JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def main() -> None:
    """Run the backtest and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--families", nargs="*", help="only these families (default: all)")
    parser.add_argument(
        "--methods",
        nargs="*",
        default=["pooled", "unpooled"],
        choices=["pooled", "unpooled", "pooled_levels", "below_chance"],
        help="bayescale fits to run (the point baselines always run)",
    )
    parser.add_argument(
        "--floor-prior",
        nargs=2,
        type=float,
        default=[1.0, 1.0],
        metavar=("A", "B"),
        help="Beta(A, B) prior of a learned floor's fraction of the chance rate",
    )
    parser.add_argument(
        "--axis",
        choices=list(EXPONENT_MEDIAN),
        default="compute",
        help="the law's axis for bayescale's fits: training compute or Chinchilla's "
        "effective compute (baselines stay on training compute)",
    )
    parser.add_argument(
        "--constants",
        choices=["besiroglu", "hoffmann"],
        default="besiroglu",
        help="Chinchilla loss constants of the chinchilla axis (default: the library's)",
    )
    parser.add_argument(
        "--exponent-median",
        type=float,
        help="median of the exponent prior (default: 0.2 on compute, 1.0 on chinchilla)",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "accuracy_backtest.json")
    parser.add_argument(
        "--partial", type=Path, help="also write the cases done so far here after each family"
    )
    parser.add_argument(
        "--save-fits", type=Path, help="pickle every fit here (FAMILY.METHOD.pkl), to rescore"
    )
    parser.add_argument(
        "--rescore",
        type=Path,
        help="forecast from the fits pickled here by --save-fits instead of sampling",
    )
    parser.add_argument(
        "--point-laws",
        action="store_true",
        help="only fit the point laws per ladder (no sampling) and print their errors",
    )
    args = parser.parse_args()
    if args.point_laws:
        data = load_accuracy_table(obsscaling_table(args.data), label="obsscaling")
        print(point_laws_markdown(point_laws(data)))
        return
    bayescale.configure(devices=args.chains)
    document = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")
    print(markdown(document))
    if document["discrepancy"]:
        print()
        print(discrepancy_markdown(document["discrepancy"]))


if __name__ == "__main__":
    main()

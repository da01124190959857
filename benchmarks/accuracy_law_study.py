"""Which accuracy law beats the no-floor line on ObsScaling's leave-largest-out splits?

Point fits only (SciPy, seconds). On exactly the splits of ``benchmarks/accuracy_backtest.py``
(every family with >= 4 sizes: its largest model held out; every benchmark whose ladder has
>= 4 sizes), each candidate law forecasts the held-out score from the family's other models,
and, for the pooled variants, from every other family's ladder of the same benchmark in full
(what the Bayesian pooled model sees). Laws, each a straight line ``y = h(q)`` in
``x = ln C`` unless said otherwise, ``q = (p - g)/(1 - g)``:

- ``line``: the GPT-4 report's line, ``h = ln(-ln p)`` (g = 0), least squares on y (the
  backtest's baseline);
- ``line_p``: the same law, least squares on the accuracy scale;
- ``floor_y`` / ``floor_p``: the floor law ``h = ln(-ln q)`` with g at chance, on y or on
  the accuracy scale (``floor_p`` is the backtest's ``floor_point``);
- ``logistic_p``: ``p = g + (1 - g) sigmoid(a + b ln C)`` (Owen 2024), on the accuracy scale;
- ``floor_ceiling_p``: the floor law below a ceiling A: ``p = g + (A - g) exp(-e^(b - k x))``,
  A in [max p, 1] per ladder (3 parameters);
- ``*_pooled_k``: one exponent per benchmark shared by every ladder of the split (each its
  own level), fitted jointly on y (fixed-effects slope);
- ``*_shrunk_k``: each ladder's exponent shrunk toward the pooled one, penalised least
  squares on y with the Bayesian model's prior scales: residual sd ``scatter_median`` 0.15
  on y, ln k about the pooled value with sd ``exponent_ladder_median`` 0.2 (the priors of
  docs/accuracy.md, fixed before this study, not chosen on held-out errors);
- ``*_in_params``: the line and the floor law in ln N instead of ln C;
- ``*_in_loss``: in ``-ln(A/N^alpha + B/D^beta)``, Chinchilla's reducible loss with
  Besiroglu et al. 2024's constants (:data:`bayescale.accuracy_data.CHINCHILLA_LOSS`), i.e.
  the log of :func:`~bayescale.accuracy_data.chinchilla_effective_compute`;
- ``*_in_{compute,loss,loss_hoffmann}_shrunk``: each ladder's exponent on that axis shrunk
  (as above) toward the median per-ladder exponent of the other families' ladders that
  left chance; a ladder at chance (every fitted row at most 0.02 above it, the model's
  ``ladders_at_chance``) on the axis's exponent prior alone (median 0.2 on ln C, 1.0 on
  the loss axes; log sd 1), as in the Bayesian model; ``loss_hoffmann`` uses Hoffmann et
  al. 2022's first constants as a robustness check;
- ``floor_y_{0.25,0.5,0.75}g``: the floor law with the floor at that fraction of chance.

Also: the signed errors of the Bayesian pooled model (from
``benchmarks/results/accuracy_backtest.json``) against the line's, per benchmark, by the
ladder's height above chance. Writes ``benchmarks/results/accuracy_law_study.json`` and
prints the per-benchmark table. Usage::

    python benchmarks/accuracy_law_study.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy_backtest import (
    DATA,
    MULTIPLE_CHOICE,
    RESULTS,
    cases,
    line_forecast,
    obsscaling_table,
)

from bayescale.accuracy_data import (
    CHINCHILLA_LOSS,
    AccuracyPriors,
    load_accuracy_table,
)

PRIORS = AccuracyPriors()
#: y-scale residual sd and ln-k shrinkage sd of the shrunk fits: the model's prior medians.
SCATTER = PRIORS.scatter_median
SHRINK = PRIORS.exponent_ladder_median
#: A, alpha, B, beta of Chinchilla's loss L = E + A/N^alpha + B/D^beta as refitted by
#: Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt", eq. 2).
CHINCHILLA = CHINCHILLA_LOSS
#: The same constants as first published (Hoffmann et al. 2022, eq. 10): a robustness check.
HOFFMANN = (406.4, 0.34, 410.7, 0.28)
#: Fractions of the chance rate scanned as the floor (y fits).
FLOOR_FRACTIONS = (0.25, 0.5, 0.75)
#: A ladder whose fitted rows are all at most this much above chance is at chance
#: (the model's ``ladders_at_chance`` with its prior noise, 0.02).
AT_CHANCE = 0.02
#: q (or p) is clipped into [CLIP, 1 - CLIP / 10] before ln(-ln .).
CLIP = 0.01


def _y(p: np.ndarray, g: float) -> np.ndarray:
    q = np.clip((p - g) / (1 - g), CLIP, 1 - CLIP / 10)
    return np.log(-np.log(q))


def _p(y: np.ndarray | float, g: float) -> np.ndarray:
    return g + (1 - g) * np.exp(-np.exp(y))


def _line_y(x: np.ndarray, p: np.ndarray, g: float, x_new: float) -> float:
    slope, icpt = np.polyfit(x, _y(p, g), 1)
    return float(_p(icpt + slope * x_new, g))


def _fit_p(
    law: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    p: np.ndarray,
    x_new: float,
    start: list[float],
    bounds: tuple[list[float], list[float]],
) -> float:
    centre = float(np.mean(x))
    fit = least_squares(lambda t: law(x - centre, t) - p, start, bounds=bounds)
    return float(law(np.asarray([x_new - centre]), fit.x)[0])


def _gompertz_start(x: np.ndarray, p: np.ndarray, g: float) -> list[float]:
    slope, icpt = np.polyfit(x - x.mean(), _y(p, g), 1)
    return [float(np.clip(icpt, -9, 9)), float(np.log(np.clip(-slope, 2e-3, 4.0)))]


def per_ladder(x: np.ndarray, p: np.ndarray, g: float, x_new: float) -> dict[str, float]:
    """Per-ladder point forecasts of every law (its own exponent)."""
    out = {"line": line_forecast(x, p, x_new), "floor_y": _line_y(x, p, g, x_new)}
    clear = p > g + 2 * CLIP * (1 - g)
    out["line_above_chance"] = (
        max(g, line_forecast(x[clear], p[clear], x_new))
        if np.unique(x[clear]).size >= 2
        else float(p[np.argmax(x)])
    )
    gb = ([-10.0, np.log(1e-3)], [10.0, np.log(5.0)])

    def gomp(floor: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        return lambda xc, t: floor + (1 - floor) * np.exp(-np.exp(t[0] - np.exp(t[1]) * xc))

    out["line_p"] = _fit_p(gomp(0.0), x, p, x_new, _gompertz_start(x, p, 0.0), gb)
    out["floor_p"] = _fit_p(gomp(g), x, p, x_new, _gompertz_start(x, p, g), gb)
    out["logistic_p"] = _fit_p(
        lambda xc, t: g + (1 - g) / (1 + np.exp(t[0] - np.exp(t[1]) * xc)),
        x,
        p,
        x_new,
        [0.0, np.log(0.3)],
        gb,
    )
    top = float(p.max())

    def ceiling(xc: np.ndarray, t: np.ndarray) -> np.ndarray:
        a = top + (1 - top) / (1 + np.exp(-t[2]))
        return g + (a - g) * np.exp(-np.exp(t[0] - np.exp(t[1]) * xc))

    out["floor_ceiling_p"] = _fit_p(
        ceiling,
        x,
        p,
        x_new,
        [*_gompertz_start(x, p, g), 2.0],
        ([-10.0, np.log(1e-3), -8.0], [10.0, np.log(5.0), 8.0]),
    )
    return out


def pooled(ladders: list[tuple[np.ndarray, np.ndarray]], g: float) -> tuple[float, list[float]]:
    """The shared slope (fixed effects) on y of ``ladders`` [(x, p)]; each ladder's level."""
    xs = [x - x.mean() for x, _ in ladders]
    ys = [_y(p, g) for _, p in ladders]
    num = sum(float(np.sum(xc * (y - y.mean()))) for xc, y in zip(xs, ys, strict=True))
    den = sum(float(np.sum(xc**2)) for xc in xs)
    slope = num / den
    return slope, [float(y.mean()) for y in ys]


def shrunk(
    x: np.ndarray, p: np.ndarray, g: float, log_k0: float, x_new: float, sd: float = SHRINK
) -> float:
    """Penalised least squares on y: residual sd SCATTER, ln k ~ N(log_k0, sd)."""
    y = _y(p, g)
    centre = float(x.mean())

    def residual(t: np.ndarray) -> np.ndarray:
        fit = (t[0] - np.exp(t[1]) * (x - centre) - y) / SCATTER
        return np.append(fit, (t[1] - log_k0) / sd)

    fit = least_squares(residual, [float(y.mean()), log_k0])
    return float(_p(fit.x[0] - np.exp(fit.x[1]) * (x_new - centre), g))


def study(data_folder: Path = DATA) -> pd.DataFrame:
    """Signed errors (points) of every law on every case of the backtest."""
    data = load_accuracy_table(obsscaling_table(data_folder), label="obsscaling")
    wide = pd.read_csv(data_folder / "base_llm_benchmark_eval.csv")
    params = dict(zip(wide["Model"], wide["Model Size (B)"] * 1e9, strict=True))
    tokens = dict(zip(wide["Model"], wide["Pretraining Data Size (T)"] * 1e12, strict=True))
    log_n = np.log(np.array([params[m] for m in data.model], dtype=float))
    n_arr = np.exp(log_n)
    d_arr = np.array([tokens[m] for m in data.model], dtype=float)
    # Chinchilla's reducible loss (Besiroglu et al. 2024's refit of Hoffmann et al. 2022):
    # x = -ln(A/N^alpha + B/D^beta), which rises as ln C does at the optimum and saturates in
    # N at a fixed token budget
    a_, alpha, b_, beta = CHINCHILLA
    x_loss = -np.log(a_ / n_arr**alpha + b_ / d_arr**beta)
    a_, alpha, b_, beta = HOFFMANN
    x_hoffmann = -np.log(a_ / n_arr**alpha + b_ / d_arr**beta)
    rows = []
    for family, bench, row in cases(data):
        b = data.benchmarks.index(bench)
        g = float(data.chance[b])
        own = (
            (data.family == family) & (data.benchmark == bench) & (data.compute < data.compute[row])
        )
        x, p = np.log(data.compute[own]), data.accuracy[own]
        x_new, truth = float(np.log(data.compute[row])), float(data.accuracy[row])
        forecasts = per_ladder(x, p, g, x_new)
        # the same line and floor law in ln N (parameters) instead of ln C
        forecasts["line_in_params"] = line_forecast(log_n[own], p, float(log_n[row]))
        forecasts["floor_y_in_params"] = _line_y(log_n[own], p, g, float(log_n[row]))
        # the line and the floor law in Chinchilla's reducible loss
        forecasts["line_in_loss"] = line_forecast(x_loss[own], p, float(x_loss[row]))
        forecasts["floor_y_in_loss"] = _line_y(x_loss[own], p, g, float(x_loss[row]))
        at_chance = bool(np.all(p - g <= AT_CHANCE))
        axes = {
            "in_loss": x_loss,
            "in_loss_hoffmann": x_hoffmann,
            "in_compute": np.log(data.compute),
        }
        for axis_name, axis in axes.items():
            others_on_axis = []
            for fam in data.families:
                lad = (data.family == fam) & (data.benchmark == bench)
                rises = not np.all(data.accuracy[lad] - g <= AT_CHANCE)
                if fam != family and np.unique(data.compute[lad]).size >= 3 and rises:
                    others_on_axis.append((axis[lad], data.accuracy[lad]))
            prior = np.log(1.0 if axis_name != "in_compute" else PRIORS.exponent_median)
            for name, floor in (("line", 0.0), ("floor", g)):
                # each ladder's exponent shrunk toward the median of the other families'
                # ladders that left chance; as the Bayesian model, a ladder at chance is not
                # pooled (its exponent on the axis's prior, log sd 1)
                ks = [-np.polyfit(xo, _y(po, floor), 1)[0] for xo, po in others_on_axis]
                ks = [k for k in ks if k > 0]
                log_k1 = float(np.log(np.median(ks))) if ks else prior
                forecasts[f"{name}_{axis_name}_shrunk"] = (
                    shrunk(axis[own], p, floor, prior, float(axis[row]), PRIORS.exponent_log_sd)
                    if at_chance
                    else shrunk(axis[own], p, floor, log_k1, float(axis[row]))
                )
        # the floor at a fraction of chance (y fits): 0 is the line, 1 the floor law
        for frac in FLOOR_FRACTIONS:
            forecasts[f"floor_y_{frac:g}g"] = _line_y(x, p, frac * g, x_new)
        # the split: the family's fitted rows and every other family's ladder in full
        others = []
        for fam in data.families:
            if fam == family:
                continue
            lad = (data.family == fam) & (data.benchmark == bench)
            if np.unique(data.compute[lad]).size >= 3:
                others.append((np.log(data.compute[lad]), data.accuracy[lad]))
        for name, floor in (("line", 0.0), ("floor", g)):
            slope, levels = pooled([(x, p), *others], floor)
            forecasts[f"{name}_pooled_k"] = float(_p(levels[0] + slope * (x_new - x.mean()), floor))
            log_k0 = float(np.log(max(-slope, 1e-3)))
            forecasts[f"{name}_shrunk_k"] = shrunk(x, p, floor, log_k0, x_new)
        q_top = float(np.max((p - g) / (1 - g)))
        rows.append(
            {
                "family": family,
                "benchmark": bench,
                "sizes": int(x.size),
                "height": q_top,
                "top_fitted": float(p.max()),
                "truth": truth,
                **{k: 100 * (v - truth) for k, v in forecasts.items()},
            }
        )
    return pd.DataFrame(rows)


def axis_exponents(data_folder: Path = DATA) -> dict:
    """Per-ladder exponents of the floor law on each axis, fitted rows only: the prior's data.

    Least squares on y of every backtest ladder's fitted rows (its family's largest model
    left out) that is not at chance; median and 10th/90th percentiles per axis.
    """
    data = load_accuracy_table(obsscaling_table(data_folder), label="obsscaling")
    wide = pd.read_csv(data_folder / "base_llm_benchmark_eval.csv").set_index("Model")
    n = wide.loc[data.model, "Model Size (B)"].to_numpy(dtype=float) * 1e9
    d = wide.loc[data.model, "Pretraining Data Size (T)"].to_numpy(dtype=float) * 1e12
    axes = {"compute": np.log(data.compute)}
    for name, (a, alpha, b, beta) in (("chinchilla", CHINCHILLA), ("hoffmann", HOFFMANN)):
        axes[name] = -np.log(a / n**alpha + b / d**beta)
    out = {}
    for name, axis in axes.items():
        ks = []
        for family, bench, row in cases(data):
            g = float(data.chance[data.benchmarks.index(bench)])
            own = (
                (data.family == family)
                & (data.benchmark == bench)
                & (data.compute < data.compute[row])
            )
            if np.all(data.accuracy[own] - g <= AT_CHANCE):
                continue
            ks.append(-np.polyfit(axis[own], _y(data.accuracy[own], g), 1)[0])
        p10, p50, p90 = np.percentile(ks, [10, 50, 90])
        out[name] = {"ladders": len(ks), "median": p50, "p10": p10, "p90": p90}
    return out


LAWS = (
    "line",
    "line_p",
    "line_above_chance",
    "line_pooled_k",
    "line_shrunk_k",
    "floor_y",
    "floor_p",
    "floor_pooled_k",
    "floor_shrunk_k",
    "logistic_p",
    "floor_ceiling_p",
    "line_in_loss",
    "floor_y_in_loss",
    "line_in_compute_shrunk",
    "floor_in_compute_shrunk",
    "line_in_loss_shrunk",
    "floor_in_loss_shrunk",
    "line_in_loss_hoffmann_shrunk",
    "floor_in_loss_hoffmann_shrunk",
    "line_in_params",
    "floor_y_in_params",
    *(f"floor_y_{f:g}g" for f in FLOOR_FRACTIONS),
)


def summarise(frame: pd.DataFrame, laws: tuple[str, ...] = LAWS) -> dict:
    """Median absolute and signed error per benchmark, multiple-choice and all."""
    mc = frame["benchmark"].isin(MULTIPLE_CHOICE)
    groups = {b: frame[frame["benchmark"] == b] for b in frame["benchmark"].unique()}
    groups["multiple_choice"] = frame[mc]
    groups["all"] = frame
    return {
        label: {
            "n": len(group),
            **{
                law: {
                    "median_abs_error": float(group[law].abs().median()),
                    "median_signed_error": float(group[law].median()),
                    "beats_line_cases": int((group[law].abs() < group["line"].abs()).sum()),
                }
                for law in laws
                if law in group
            },
        }
        for label, group in groups.items()
    }


def bayes_vs_line(path: Path = RESULTS / "accuracy_backtest.json") -> dict:
    """Where the pooled model loses to the line: signed errors by benchmark and height."""
    doc = json.loads(path.read_text())
    frame = pd.DataFrame(doc["cases"])
    wide = frame.pivot_table(
        index=["family", "benchmark"], columns="method", values="signed_error"
    ).reset_index()
    wide[["line", "pooled", "floor_point"]] *= 100
    wide["pooled_minus_line_abs"] = wide["pooled"].abs() - wide["line"].abs()
    out = {}
    for bench, group in wide.groupby("benchmark"):
        out[str(bench)] = {
            "pooled_median_signed": float(group["pooled"].median()),
            "line_median_signed": float(group["line"].median()),
            "pooled_over_predicts": int((group["pooled"] > 0).sum()),
            "line_over_predicts": int((group["line"] > 0).sum()),
            "pooled_worse_than_line": int((group["pooled_minus_line_abs"] > 0).sum()),
            "n": len(group),
            "worst": group.nlargest(3, "pooled_minus_line_abs")[
                ["family", "line", "pooled", "floor_point"]
            ]
            .round(1)
            .to_dict("records"),
        }
    return out


def markdown(summary: dict, laws: tuple[str, ...] = LAWS) -> str:
    """Per benchmark: median absolute (signed) error in points."""
    lines = [
        "| benchmark | n | " + " | ".join(laws) + " |",
        "| --- | --- | " + " | ".join("---" for _ in laws) + " |",
    ]
    for label, entry in summary.items():
        cells = [
            f"{entry[law]['median_abs_error']:.1f} ({entry[law]['median_signed_error']:+.1f})"
            for law in laws
        ]
        lines.append(f"| {label} | {entry['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the study, write its JSON and print the table."""
    frame = study()
    summary = summarise(frame)
    document = {
        "data": str(DATA),
        "laws": list(LAWS),
        "scatter_sd_y": SCATTER,
        "shrink_sd_log_k": SHRINK,
        "summary": summary,
        "axis_exponents": axis_exponents(),
        "bayes_vs_line": bayes_vs_line(),
        "cases": frame.round(3).to_dict("records"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "accuracy_law_study.json").write_text(json.dumps(document, indent=1) + "\n")
    print(markdown(summary))


if __name__ == "__main__":
    main()

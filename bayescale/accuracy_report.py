"""Benchmark accuracy's report: tables, the JSON document, ``report.md`` and the command line.

The chance rates and learned floors (:func:`chance_entries`, :func:`chance_text`), the
level and exponent table (:func:`accuracy_parameter_table`), the result document of
``bayescale accuracy`` (:func:`accuracy_document`, an
:class:`~bayescale.accuracy_pipeline.AccuracyResult`'s ``document_builder``; its ``model``:
:func:`model_record`), its Markdown (:func:`accuracy_markdown`) and forecast lines
(:func:`accuracy_summary`). Results are typed as :class:`bayescale.results.Result`, as in
:mod:`bayescale.nd_report`, so that this module does not import the pipeline that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.accuracy import FORMULA, AccuracyFit
from bayescale.accuracy_data import CHINCHILLA_LOSS, floor_bounds
from bayescale.accuracy_forecast import AccuracyForecast
from bayescale.display import percent
from bayescale.draws import summarise
from bayescale.report import (
    clean_json,
    diagnostics_lines,
    document_tail,
    head_lines,
    markdown_table,
    summary_grid,
)
from bayescale.results import Result


def chance_entries(fit: AccuracyFit, interval: float = 0.9) -> dict[str, dict[str, Any]]:
    """Each benchmark's floor for the document: ``{rate, source[, learned]}``.

    ``rate`` is the known chance rate (None when unknown, source ``learned``); a learned
    floor adds ``learned``: the posterior median and ``interval`` of :math:`g_b`, its upper
    bound and its prior (:func:`~bayescale.accuracy_data.floor_bounds`).
    """
    data, priors = fit.data, fit.priors
    learned, bound = floor_bounds(data, fit.floor)
    s = summarise(fit.floor_draws(), interval)
    out: dict[str, dict[str, Any]] = {}
    for i, (b, g, source) in enumerate(
        zip(data.benchmarks, data.chance, data.chance_source, strict=True)
    ):
        entry: dict[str, Any] = {"rate": None if np.isnan(g) else float(g), "source": source}
        if learned[i]:
            entry["learned"] = {k: float(s[k][i]) for k in ("median", "lower", "upper")} | {
                "bound": float(bound[i]),
                "prior": f"{bound[i]:.4g} * Beta({priors.floor_a:g}, {priors.floor_b:g})",
            }
        out[b] = entry
    return out


def chance_text(fit: AccuracyFit, interval: float = 0.9) -> str:
    """The chance rates in one line: ``mmlu 0.25 (default), arc learned 0.21 [0.1, 0.24]``."""
    parts = []
    for b, e in chance_entries(fit, interval).items():
        rate = "" if e["rate"] is None else f"{e['rate']:g} "
        text = f"{b} {rate}({e['source']})"
        if "learned" in e:
            lw = e["learned"]
            text += (
                f", floor learned {lw['median']:.3f} [{lw['lower']:.3f}, {lw['upper']:.3f}] "
                f"below {lw['bound']:.3g}"
            )
        parts.append(text)
    return "; ".join(parts)


def accuracy_parameter_table(fit: AccuracyFit, interval: float = 0.9) -> pd.DataFrame:
    """Level (at the pivot) and exponent ``k`` of every ladder with data: median and interval."""
    rows = []
    data = fit.data
    for name in ("level", "exponent"):
        s = summarise(fit.draws(name), interval)
        for f, b in data.ladders():
            fi, bi = data.families.index(f), data.benchmarks.index(b)
            rows.append(
                {"family": f, "benchmark": b, "parameter": name}
                | {k: float(s[k][fi, bi]) for k in ("median", "lower", "upper")}
            )
    return pd.DataFrame(rows)


def accuracy_document(
    result: Result[AccuracyFit, AccuracyForecast, Any], version: str | None = None
) -> dict[str, Any]:
    """The result document: ``targets[].accuracy[]`` plus decision, diagnostics, warnings.

    ``accuracy[]`` entries are ``{family, benchmark, median, lower, upper, mean}`` (CONTRACT
    §7); besides it carries ``chance`` (rate and source per benchmark), ``parameters``
    (level and exponent per ladder) and ``held_out`` (scored held-out rows).
    """
    from bayescale.version import __version__

    table = result.forecast.table()
    keys = ("family", "benchmark", "median", "lower", "upper", "mean")
    targets = []
    if "params" in table.columns:  # planned models, in order of compute
        draws = result.forecast.draws
        runs = zip(draws["params"].values.tolist(), draws["tokens"].values.tolist(), strict=True)
        by_run = dict(zip(runs, result.decisions, strict=False))  # no decisions without a rule
        for n, d in table[["params", "tokens"]].drop_duplicates().itertuples(index=False):
            rows = table[(table["params"] == n) & (table["tokens"] == d)]
            compute = float(rows["target_compute"].iloc[0])
            entry: dict[str, Any] = {"target_compute": compute, "params": n, "tokens": d}
            entry |= {
                "compute": compute,
                "accuracy": [{k: r[k] for k in keys} for r in rows.to_dict("records")],
            }
            if (n, d) in by_run:
                entry["decision"] = by_run[n, d].to_dict()
            targets.append(entry)
    else:
        decisions = {d.target_compute: d for d in result.decisions}
        for target in np.unique(table["target_compute"].to_numpy(dtype=float)).tolist():
            rows = table[table["target_compute"] == target]
            entry = {
                "target_compute": target,
                "accuracy": [{k: r[k] for k in keys} for r in rows.to_dict("records")],
            }
            if target in decisions:
                entry["decision"] = decisions[target].to_dict()
            targets.append(entry)
    fit = result.fit
    return clean_json(
        {
            "bayescale_version": version or __version__,
            "kind": "accuracy",
            "ok": fit.diagnostics.ok,
            "interval": result.forecast.interval,
            "model": model_record(fit),
            "targets": targets,
            "chance": chance_entries(fit, result.forecast.interval),
        }
        | document_tail(result)
    )


def model_record(fit: AccuracyFit) -> dict[str, Any]:
    """How the law ran, for the documents: formula, axis and the model's build options.

    The ``axis`` is ``"compute"`` (training compute C) or ``"chinchilla"`` (Chinchilla's
    effective compute of each model's N and D, whose formula and constants are given).
    """
    record: dict[str, Any] = {
        "formula": law_formula(fit.axis),
        "axis": fit.axis,
        "pooled": fit.pooled,
        "pivot": fit.pivot,
        "pool_levels": fit.pool_levels,
        "floor": fit.floor,
    }
    if fit.axis == "chinchilla":
        a, alpha, b, beta = CHINCHILLA_LOSS
        record["effective_compute"] = {
            "formula": EFFECTIVE_COMPUTE,
            "A": a,
            "alpha": alpha,
            "B": b,
            "beta": beta,
        }
    return record


#: Chinchilla's effective compute of a model of N parameters and D tokens (docs/accuracy.md).
EFFECTIVE_COMPUTE = "C_eff = 1/(A/N^alpha + B/D^beta)"


def law_formula(axis: str = "compute") -> str:
    """The law in one line on its axis: :data:`FORMULA`, with C_eff on the chinchilla axis."""
    return FORMULA if axis == "compute" else FORMULA.replace("C^", "C_eff^")


def axis_text(axis: str) -> str:
    """The law's axis in words, for reports and figures."""
    if axis == "compute":
        return "training compute C (FLOPs)"
    return f"Chinchilla's effective compute of parameters N and tokens D, {EFFECTIVE_COMPUTE}"


def accuracy_markdown(
    result: Result[AccuracyFit, AccuracyForecast, Any], version: str, plots: Sequence[str] = ()
) -> str:
    """``report.md``: decisions, data and chance rates, forecast, parameters, diagnostics."""
    fit, data = result.fit, result.fit.data
    pct = f"{percent(result.forecast.interval)}"
    lines = head_lines(result, f"Benchmark accuracy forecast: {data.source}")
    lines += [
        f"- {int(data.fitted.sum())} fitted rows ({int(data.held_out.sum())} held out): "
        f"{len(data.families)} families, {len(data.benchmarks)} benchmarks.",
        f"- Law: {law_formula(fit.axis)} per family and benchmark, "
        f"{'partially pooled' if fit.pooled else 'each ladder alone'}.",
        f"- Axis: {axis_text(fit.axis)}"
        + (
            f", A = {CHINCHILLA_LOSS[0]:g}, alpha = {CHINCHILLA_LOSS[1]:g}, "
            f"B = {CHINCHILLA_LOSS[2]:g}, beta = {CHINCHILLA_LOSS[3]:g} (Besiroglu et al. 2024)."
            if fit.axis == "chinchilla"
            else "."
        ),
        f"- Chance rates: {chance_text(fit, result.forecast.interval)}.",
        "",
        f"## Forecast: a new model's accuracy (median, {pct} interval)",
        "",
    ]
    table = result.forecast.table()
    planned = "params" in table.columns
    lines += [
        ("| N | D | compute 6ND (FLOPs) " if planned else "| compute (FLOPs) ")
        + f"| family | benchmark | median | {pct} interval |",
        "| --- " * (7 if planned else 5) + "|",
    ]
    lines += [
        (f"| {r['params']:.3g} | {r['tokens']:.3g} " if planned else "")
        + f"| {r['target_compute']:.3g} | {r['family']} | {r['benchmark']} | {r['median']:.3f} | "
        f"{r['lower']:.3f} to {r['upper']:.3f} |"
        for r in table.to_dict("records")
    ]
    if planned and result.decisions:
        lines += [
            "",
            "Decisions at planned models: the compute needed is searched along each model's "
            "tokens per parameter (N and D scaled together).",
        ]
    lines += ["", "## Parameters", "", markdown_table(result.parameters), ""]
    if not result.held_out.empty:
        held = result.held_out[["case", "truth", "median", "lower", "upper", "covered"]]
        lines += ["## Held-out rows", "", markdown_table(held), ""]
    lines += [*diagnostics_lines(fit.diagnostics, fit.timing_s), ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += [f"_bayescale {version}_", ""]
    return "\n".join(lines)


def accuracy_summary(result: Result[AccuracyFit, AccuracyForecast, Any]) -> str:
    """The command line's forecast lines: one row per ladder, one column per target."""
    pct = f"{percent(result.forecast.interval)}"
    rows: dict[str, dict[float, str]] = {}
    table = result.forecast.table()
    planned = "params" in table.columns
    # planned models are columns by position (two may share a compute)
    column = (
        {
            (n, d): float(i)
            for i, (n, d) in enumerate(
                table[["params", "tokens"]].drop_duplicates().itertuples(index=False)
            )
        }
        if planned
        else {}
    )
    for r in table.to_dict("records"):
        key = column[r["params"], r["tokens"]] if planned else r["target_compute"]
        rows.setdefault(f"{r['family']} / {r['benchmark']}", {})[key] = (
            f"{r['median']:.3f} [{r['lower']:.3f}, {r['upper']:.3f}]"
        )
    if planned:
        lines = [
            f"Accuracy of a new model of N parameters and D tokens (median [{pct} interval]), "
            "the law on Chinchilla's effective compute:"
        ]
        heads = [f"N={n:.3g} D={d:.3g}" for n, d in column]
        lines += summary_grid("family / benchmark", rows, list(column.values()), heads)
    else:
        lines = [f"Accuracy of a new model (median [{pct} interval]):"]
        lines += summary_grid(
            "family / benchmark", rows, [float(t) for t in result.forecast.targets]
        )
    held = result.held_out
    if not held.empty:
        lines.append(
            f"Held-out rows: {int(held['covered'].sum())}/{len(held)} inside the {pct} interval."
        )
    return "\n".join(lines)

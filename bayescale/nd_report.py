"""L(N, D)'s report: tables, the JSON document, ``report.md`` and the command line's lines.

The ``targets[]``, ``optimal[]`` and parameter tables from the forecast draws, the result
document of ``bayescale nd`` (:func:`nd_document`, an :class:`~bayescale.nd_pipeline.NDResult`'s
``document_builder``), its Markdown (:func:`nd_markdown`) and forecast lines
(:func:`nd_summary`). Results are typed as :class:`bayescale.results.Result`, as in
:mod:`bayescale.report`, so that this module does not import the pipeline that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.display import percent
from bayescale.draws import summarise
from bayescale.nd import NDFit, RequiredParams
from bayescale.results import Result


def _summary(values: np.ndarray, interval: float) -> dict[str, float]:
    """:func:`bayescale.draws.summarise` of one-dimensional draws, as floats."""
    return {key: float(value) for key, value in summarise(values, interval).items()}


def targets_table(forecast: xr.Dataset, interval: float) -> list[dict[str, Any]]:
    """The ``targets[]`` block: per target, per group, the new run's loss summary.

    Each target is ``{target_compute, params, tokens, compute, loss[]}``: ``compute`` (κ·N·D)
    is L(N, D)'s key, ``target_compute`` the same number under the key of every law.
    """
    loss = forecast["loss"].values
    out = []
    for t in range(loss.shape[2]):
        rows = []
        for g, name in enumerate(forecast["group"].values.tolist()):
            rows.append({"group": str(name), **_summary(loss[:, g, t], interval)})
        compute = float(forecast["compute"].values[t])
        out.append(
            {
                "target_compute": compute,  # the key every law's targets[] has (§4)
                "params": float(forecast["params"].values[t]),
                "tokens": float(forecast["tokens"].values[t]),
                "compute": compute,
                "loss": rows,
            }
        )
    return out


def optimal_table(optimal: xr.Dataset, interval: float) -> list[dict[str, Any]]:
    """The ``optimal[]`` block: per budget and group, ``N*``, ``D*`` and the loss there."""
    out = []
    for b, budget in enumerate(optimal["budget"].values.tolist()):
        for g, name in enumerate(optimal["group"].values.tolist()):
            entry: dict[str, Any] = {"budget": float(budget), "group": str(name)}
            for key in ("params", "tokens", "loss"):
                summary = _summary(optimal[key].values[:, g, b], interval)
                entry[key] = {k: summary[k] for k in ("median", "lower", "upper")}
            out.append(entry)
    return out


def parameter_table(fit: NDFit, interval: float = 0.9) -> pd.DataFrame:
    """Posterior median and interval of E, A, alpha, B, beta per group (user units)."""
    rows = []
    for g, name in enumerate(fit.data.groups):
        for key in ("E", "A", "alpha", "B", "beta"):
            s = _summary(fit.draws(key)[:, g], interval)
            rows.append({"group": name, "parameter": key, **s})
    return pd.DataFrame(rows)


def _needed(required: RequiredParams) -> dict[str, float | None]:
    """A ``params_needed`` block: the smallest N at the median and at the confidence."""
    return {
        "median": required.params_median,
        "at_confidence": required.params_at_confidence,
        "probability": required.probability_at,
    }


def _required_split(result: Result) -> tuple[list[RequiredParams], list[RequiredParams]]:
    """The N needed at each planned run's tokens, and within each budget."""
    required = list(result.required)  # type: ignore[attr-defined]  # an NDResult's
    at_runs = len(result.decisions)  # one per planned run when there is a rule
    return required[:at_runs], required[at_runs:]


def nd_document(result: Result, version: str | None = None) -> dict[str, Any]:
    """The result document of ``bayescale nd`` (docs/formats.md): §4's, with L(N, D)'s keys.

    ``targets[]``: ``{params, tokens, compute, loss[]: {group, median, lower, upper, mean}}``,
    with the rule's ``decision`` at that planned run (its ``params_needed`` at the run's
    tokens besides the shared keys); ``optimal[]``: ``{budget, group, params{median, lower,
    upper}, tokens{...}, loss{...}}``, the rule's group with ``decision.params_needed``
    within the budget. Then what every law's document ends with
    (:func:`bayescale.report.document_tail`: ``parameters``, ``held_out``, ``diagnostics``,
    ``warnings``, ``sampler``, ``timing_s``).
    """
    from bayescale.report import clean_json, document_tail
    from bayescale.version import __version__

    fit, diag = result.fit, result.fit.diagnostics
    interval = result.forecast.interval
    at_runs, within = _required_split(result)
    targets = targets_table(result.forecast.draws, interval)
    for entry, decision, needed in zip(targets, result.decisions, at_runs, strict=False):
        entry["decision"] = decision.to_dict() | {"params_needed": _needed(needed)}
    optimal = (
        optimal_table(result.forecast.optimal, interval)
        if result.forecast.optimal is not None
        else []
    )
    by_budget = {(r.budget, r.group): r for r in within}
    for entry in optimal:
        need = by_budget.get((entry["budget"], entry["group"]))
        if need is not None:
            entry["decision"] = {
                "requirement": need.requirement,
                "confidence": need.confidence,
                "params_needed": _needed(need),
            }
    document: dict[str, Any] = {
        "bayescale_version": version or __version__,
        "kind": "nd",
        "ok": bool(diag.ok),
        "interval": interval,
        "law": "L(N, D) = E + A/N^alpha + B/D^beta",
        "data": {
            "source": fit.data.source,
            "runs": int(fit.data.fitted.sum()),
            "held_out": int(fit.data.held_out.sum()),
            "groups": list(fit.data.groups),
            "flops_per_param_token": fit.data.flops_per_param_token,
        },
        "targets": targets,
        "optimal": optimal,
        "compute_choice": None,
    } | document_tail(result)
    document["diagnostics"] |= {
        "chains": diag.chains,
        "draws": diag.draws,
        "problems": diag.problems(),
    }
    return clean_json(document)


def nd_markdown(result: Result, version: str | None = None, plots: Sequence[str] = ()) -> str:
    """``report.md``: decisions, figures, parameters, targets, optima, N needed, diagnostics."""
    from bayescale.report import diagnostics_lines, head_lines, markdown_text

    doc = nd_document(result, version)
    fit = result.fit
    lines = head_lines(result, f"L(N, D) forecast: {markdown_text(doc['data']['source'])}")
    data = doc["data"]
    lines += [
        f"- {data['runs']} fitted runs in {len(data['groups'])} group(s) "
        f"({', '.join(map(markdown_text, data['groups']))}); {data['held_out']} held out.",
        "",
    ]
    lines += [f"![{FIGURE_TITLES.get(p, p)}]({p})" for p in plots] + [""]
    lines += ["| group | parameter | median | lower | upper |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {markdown_text(r['group'])} | {r['parameter']} | {r['median']:.4g} | {r['lower']:.4g} "
        f"| {r['upper']:.4g} |"
        for r in doc["parameters"]
    ]
    if doc["targets"]:
        lines += [
            "",
            "| N | D | group | median | lower | upper |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for t in doc["targets"]:
            for g in t["loss"]:
                lines.append(
                    f"| {t['params']:.3g} | {t['tokens']:.3g} | {markdown_text(g['group'])} "
                    f"| {g['median']:.4f} | {g['lower']:.4f} | {g['upper']:.4f} |"
                )
    if doc["optimal"]:
        lines += ["", "| budget | group | N* | D* | loss |", "| --- | --- | --- | --- | --- |"]
        for o in doc["optimal"]:
            p, t, lo = o["params"], o["tokens"], o["loss"]
            lines.append(
                f"| {o['budget']:.3g} | {markdown_text(o['group'])} | {p['median']:.3g} "
                f"({p['lower']:.3g}-{p['upper']:.3g}) | {t['median']:.3g} ({t['lower']:.3g}-"
                f"{t['upper']:.3g}) | {lo['median']:.4f} ({lo['lower']:.4f}-{lo['upper']:.4f}) |"
            )
    needed = needed_lines(result)
    if needed:
        lines += ["", *(f"- {line}" for line in needed)]
    held = result.held_out
    if not held.empty:
        pct = f"{percent(result.forecast.interval)}"
        lines += [
            "",
            "## Held-out runs",
            "",
            f"{int(held['covered'].sum())} of {len(held)} held-out runs fall inside their "
            f"{pct} predictive interval at their own N and D; median absolute relative error "
            f"of the median {np.median(np.abs(held['rel_error'])):.2%}.",
            "",
            "| name | group | N | D | observed | median | lower | upper |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {markdown_text(r.name)} | {markdown_text(r.group)} | {r.params:.3g} "
            f"| {r.tokens:.3g} | {r.observed:.4f} | {r.median:.4f} | {r.lower:.4f} "
            f"| {r.upper:.4f} |"
            for r in held.itertuples()
        ]
    lines += ["", *diagnostics_lines(fit.diagnostics, fit.timing_s)]
    nu = f" (nu={fit.priors.student_t_nu:g})" if fit.priors.likelihood == "student_t" else ""
    lines += [f"- Likelihood: {fit.priors.likelihood}{nu}", ""]
    lines += [f"_bayescale {doc['bayescale_version']}_", ""]
    return "\n".join(lines)


#: The figures of ``--out`` and their titles in ``report.md``.
FIGURE_TITLES = {
    "nd_contours.png": "iso-loss contours and the compute-optimal allocation",
    "nd_path.png": "forecast along the planned path",
    "decision.png": "probability that the rule holds, along the planned runs' path",
}


def needed_lines(result: Result) -> list[str]:
    """The smallest N that meets the rule, at each planned run's tokens and in each budget."""

    def sentence(r: RequiredParams, where: str) -> str:
        at = r.params_at_confidence
        reach = (
            f"N >= {at:.3g} at {percent(r.confidence)} confidence"
            if at is not None
            else f"no N reaches {percent(r.confidence)} confidence"
        )
        median = r.params_median
        return f"N needed for {r.requirement} {where}: {reach}" + (
            f" (the median run: N >= {median:.3g})." if median is not None else "."
        )

    at_runs, within = _required_split(result)
    return [sentence(r, f"with D={r.tokens:.3g}") for r in at_runs] + [
        sentence(r, f"within {r.budget:.3g} FLOPs") for r in within
    ]


def nd_summary(result: Result) -> str:
    """The command line's forecast lines (the decisions and diagnostics follow, shared)."""
    doc = result.document()
    lines = []
    for t in doc["targets"]:
        for g in t["loss"]:
            lines.append(
                f"N={t['params']:.3g} D={t['tokens']:.3g} [{g['group']}]: loss {g['median']:.4f} "
                f"({percent(result.forecast.interval)}: {g['lower']:.4f}-{g['upper']:.4f})"
            )
    for o in doc["optimal"]:
        p, lo = o["params"], o["loss"]
        lines.append(
            f"budget {o['budget']:.3g} [{o['group']}]: N* {p['median']:.3g} "
            f"({p['lower']:.3g}-{p['upper']:.3g}), D* {o['tokens']['median']:.3g}, "
            f"loss {lo['median']:.4f}"
        )
    lines += needed_lines(result)
    held = result.held_out
    if not held.empty:
        lines.append(
            f"Held-out runs: {int(held['covered'].sum())}/{len(held)} inside the "
            f"{percent(result.forecast.interval)} interval."
        )
    return "\n".join(lines)

"""The loss law's report: its JSON document, ``report.md`` and the command line's lines.

The result document of ``bayescale loss`` (:func:`loss_document`, a
:class:`~bayescale.pipeline.LossResult`'s ``document_builder``), its Markdown
(:func:`loss_markdown`) and forecast lines (:func:`loss_summary_text`), from the helpers every
law's report shares (:mod:`bayescale.report`). Results are typed as
:class:`bayescale.results.Result` so that this module does not import the pipeline that uses
it; nothing here imports PyMC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayescale.display import percent, three_places
from bayescale.priors import RUN_EFFECT_PRIORS, LossPriors
from bayescale.report import (
    clean_json,
    diagnostics_lines,
    document_tail,
    head_lines,
    markdown_table,
    markdown_text,
    summary_grid,
)
from bayescale.results import Result
from bayescale.run_effects import shared_runs_document


def loss_document(result: Result, version: str) -> dict[str, Any]:
    """Build the result document (docs/formats.md) of a loss forecast.

    Besides the contract's keys it carries ``parameters`` (``a``, ``b``, ``c`` per group in
    FLOPs units) and ``held_out`` (scored held-out runs), and each loss entry has the
    curve's own interval under ``curve``.
    """
    table = result.forecast.table()
    decisions = {d.target_compute: d for d in result.decisions}
    targets = []
    for target_key, rows in table.groupby("target_compute", sort=True):
        target = float(target_key)
        entry: dict[str, Any] = {
            "target_compute": target,
            "loss": [
                {
                    "group": row.group,
                    "median": row.median,
                    "lower": row.lower,
                    "upper": row.upper,
                    "mean": row.mean,
                    "curve": {
                        "median": row.curve_median,
                        "lower": row.curve_lower,
                        "upper": row.curve_upper,
                    },
                }
                for row in rows.itertuples()
            ],
        }
        if target in decisions:
            entry["decision"] = decisions[target].to_dict()
        targets.append(entry)
    diag = result.fit.diagnostics
    return clean_json(
        {
            "bayescale_version": version,
            "kind": "loss",
            "ok": diag.ok,
            "interval": result.forecast.interval,
            "targets": targets,
            "compute_choice": result.choice.to_dict() if result.choice else None,
        }
        | shared_runs_document(result.fit, result.forecast.interval)
        | document_tail(result)
    )


def loss_markdown(result: Result, version: str, plots: list[str]) -> str:
    """A Markdown report: summary, forecast, decision, parameters, held-out runs, diagnostics."""
    fit, data = result.fit, result.fit.data
    pct = f"{percent(result.forecast.interval)}"
    table = result.forecast.table()
    lines = head_lines(result, f"bayescale loss forecast ({markdown_text(data.source)})")
    fitted = data.fitted
    lines += [
        f"- {int(fitted.sum())} fitted runs in {len(data.groups)} group(s) "
        f"({', '.join(map(markdown_text, data.groups))}), compute "
        f"{data.compute[fitted].min():.3g} to "
        f"{data.compute[fitted].max():.3g} FLOPs.",
        f"- {int(data.held_out.sum())} held-out run(s)"
        + (f" above {data.fit_max_compute:.3g} FLOPs." if data.fit_max_compute else "."),
        *([f"- {markdown_text(shared)}"] if (shared := shared_runs_line(result)) else []),
        "",
        f"## Forecast for a new run ({pct} central predictive interval)",
        "",
        "The interval covers the curve's uncertainty and run-to-run scatter; `curve` columns "
        "are the credible interval of the fitted curve alone.",
        "",
        markdown_table(
            table[
                [
                    "target_compute",
                    "group",
                    "median",
                    "lower",
                    "upper",
                    "mean",
                    "curve_lower",
                    "curve_upper",
                ]
            ]
        ),
        "",
    ]
    if not result.held_out.empty:
        held = result.held_out
        lines += [
            "## Held-out runs",
            "",
            f"{int(held['covered'].sum())} of {len(held)} held-out runs fall inside their "
            f"{pct} predictive interval; median absolute relative error of the median "
            f"{np.median(np.abs(held['rel_error'])):.2%}.",
            "",
            markdown_table(held),
            "",
        ]
    lines += [
        f"## Parameters: L(C) = a·C^b + c, C in FLOPs ({pct} credible interval)",
        "",
        markdown_table(result.parameters),
        "",
        *diagnostics_lines(fit.diagnostics, fit.timing_s),
        f"- Likelihood: {fit.priors.likelihood}; priors: "
        + ", ".join(f"{k}={v}" for k, v in _reported_priors(fit.priors).items()),
        "",
    ]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += [f"_bayescale {version}_", ""]
    return "\n".join(lines)


def _reported_priors(priors: LossPriors) -> dict[str, Any]:
    """The priors report.md lists: the run effect's only when the fit has it (``shared_runs``)."""
    shown = vars(priors)
    if priors.shared_runs:
        return dict(shown)
    return {k: v for k, v in shown.items() if k not in RUN_EFFECT_PRIORS}


def shared_runs_line(result: Result) -> str | None:
    """One line on the run effect of a ``--shared-runs`` fit, else ``None``.

    From the JSON's ``shared_runs`` entry: the matching rule and why, the runs shared, and
    the medians and intervals of tau and sigma.
    """
    fit = getattr(result, "fit", None)  # stand-ins of a result with a forecast only have none
    entry = shared_runs_document(fit, result.forecast.interval).get("shared_runs")
    if not entry:
        return None

    def spread(name: str) -> str:
        v = entry[name]
        return f"{v['median']:.2%} [{v['lower']:.2%}, {v['upper']:.2%}]"

    return (
        f"Shared runs: matched by {entry['by']} ({entry['why']}); {entry['shared']} of "
        f"{entry['runs']} fitted runs are in two or more groups; run effect sd tau "
        f"{spread('tau')}, own scatter sigma {spread('sigma')} (ln loss, median "
        f"[{percent(result.forecast.interval)} interval])."
    )


def loss_summary_text(result: Result) -> str:
    """The command line's forecast lines of a loss result."""
    pct = f"{percent(result.forecast.interval)}"
    groups: dict[str, dict[float, str]] = {}
    for r in result.forecast.table().to_dict("records"):
        groups.setdefault(str(r["group"]), {})[r["target_compute"]] = (
            f"{three_places(r['median'])} [{three_places(r['lower'])}, {three_places(r['upper'])}]"
        )
    lines = [f"Final loss of a new run (median [{pct} interval]):"]
    lines += summary_grid("group", groups, [float(t) for t in result.forecast.targets])
    shared = shared_runs_line(result)
    if shared:
        lines.append(shared)
    held = result.held_out
    if not held.empty:
        lines.append(
            f"Held-out runs: {int(held['covered'].sum())}/{len(held)} inside the {pct} interval."
        )
    return "\n".join(lines)

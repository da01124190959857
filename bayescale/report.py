"""Result documents: the JSON document of docs/formats.md and a Markdown report for a decision memo.

Pure functions over result objects; nothing here imports PyMC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decision import Decision
from bayescale.diagnostics import Diagnostics
from bayescale.pass_data import PassAggregate
from bayescale.pass_forecast import NO_OVERALL
from bayescale.results import Result
from bayescale.run_effects import shared_runs_document


def clean_json(value: Any) -> Any:
    """Turn NumPy scalars into plain Python and non-finite floats into ``None`` (no NaN)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean_json(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    return value


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


def document_tail(result: Result) -> dict[str, Any]:
    """What every law's result document ends with.

    ``parameters``, ``held_out``, ``diagnostics``, ``warnings``, ``sampler``, ``timing_s``,
    and ``forecast_seed`` when the forecast was seeded apart from its sampler.
    """
    fit = result.fit
    own = getattr(fit, "forecast_seed", None)
    return {
        "parameters": result.parameters.to_dict(orient="records"),
        "held_out": result.held_out.to_dict(orient="records"),
        "diagnostics": fit.diagnostics.to_dict(),
        "warnings": list(result.warnings),
        "sampler": fit.settings.as_attrs(),
        "timing_s": {k: round(v, 3) for k, v in fit.timing_s.items()},
    } | ({} if own is None else {"forecast_seed": int(own)})


def _fmt(number: float | np.floating) -> str:
    value = float(number)
    if not np.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def markdown_text(value: object) -> str:
    """User text (a group, model or file name) made inert in Markdown.

    Markdown and HTML characters are backslash-escaped, so ``a|b`` stays in its table cell
    and ``<img>`` or ``**x**`` stay literal; line breaks become spaces (a cell is one line).
    """
    text = " ".join(str(value).splitlines()) if str(value) else ""
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown_table(frame: pd.DataFrame) -> str:
    """Render a DataFrame as a GitHub Markdown table with compact numbers."""
    header = "| " + " | ".join(markdown_text(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [
            _fmt(v)
            if isinstance(v, float | np.floating)
            else ("–" if v is None else markdown_text(v))
            for v in row
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def diagnostics_lines(diag: Diagnostics, timing_s: dict[str, float]) -> list[str]:
    """The report's Diagnostics section."""
    status = "converged" if diag.ok else "NOT CONVERGED: " + "; ".join(diag.problems())
    return [
        "## Diagnostics",
        "",
        f"- {status}: R-hat max {diag.r_hat_max:.3f}, bulk ESS min {diag.ess_bulk_min:.0f}, "
        f"tail ESS min {diag.ess_tail_min:.0f}, {diag.divergences} divergences "
        f"({diag.chains} chains x {diag.draws} draws).",
        f"- Sampling took {timing_s.get('sampling', float('nan')):.1f} s "
        "(JAX NUTS via numpyro, compile included).",
    ]


def head_lines(result: Result, title: str) -> list[str]:
    """A report's head, every law: the title, warnings, decisions, best compute, Data heading."""
    lines = [f"# {title}", ""]
    lines += warning_lines(result.warnings)
    for d in result.decisions:
        lines += [f"**{markdown_text(d.sentence())}**", "", needed_line(d), ""]
    if result.choice is not None:
        lines += [result.choice.sentence(), ""]
    return [*lines, "## Data", ""]


def loss_markdown(result: Result, version: str, plots: list[str]) -> str:
    """A Markdown report: summary, forecast, decision, parameters, held-out runs, diagnostics."""
    fit, data = result.fit, result.fit.data
    pct = f"{result.forecast.interval:.0%}"
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
        + ", ".join(f"{k}={v}" for k, v in vars(fit.priors).items()),
        "",
    ]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += [f"_bayescale {version}_", ""]
    return "\n".join(lines)


def pass_document(result: Result, version: str) -> dict[str, Any]:
    """Build the result document (docs/formats.md) of a pass-rate forecast.

    ``pass_rate`` is the mean pass@1 of a new model over all kept problems; ``buckets`` carry
    the mean -ln pass rate (the report's Figure 2 axis) and the bucket's mean pass@1.
    """
    overall = result.forecast.overall()
    buckets = result.forecast.buckets()
    decisions = {d.target_compute: d for d in result.decisions}
    targets = []
    for record in overall.to_dict(orient="records"):
        row = {str(key): value for key, value in record.items()}
        target = float(row["target_compute"])
        entry: dict[str, Any] = {
            "target_compute": target,
            "pass_rate": (
                {k: row[k] for k in ("median", "lower", "upper", "mean")}
                | {"curve": {k: row[f"curve_{k}"] for k in ("median", "lower", "upper")}}
                if result.forecast.pooled is not None
                else None
            ),
        }
        at_k = [c for c in row if c.startswith("pass_at_")]
        if at_k:
            k = at_k[0].split("_")[2]
            entry[f"pass_at_{k}"] = {c.rsplit("_", 1)[1]: row[c] for c in at_k}
        entry["buckets"] = [
            {
                "bucket": b["bucket"],
                "n_problems": b["n_problems"],
                "mean_neg_log_pass": {
                    k: b[f"neg_log_pass_{k}"] for k in ("median", "lower", "upper", "mean")
                },
                "pass_rate": {k: b[f"pass_rate_{k}"] for k in ("median", "lower", "upper", "mean")},
            }
            for b in buckets[buckets["target_compute"] == target].to_dict(orient="records")
        ]
        if target in decisions:
            entry["decision"] = decisions[target].to_dict()
        targets.append(entry)
    fit = result.fit
    doc: dict[str, Any] = {
        "bayescale_version": version,
        "kind": "pass",
        "ok": fit.diagnostics.ok,
        "interval": result.forecast.interval,
        "input": "aggregate" if fit.aggregate else "per_problem",
        "pooled": result.forecast.pooled,
        "targets": targets,
        "compute_choice": result.choice.to_dict() if result.choice else None,
    } | document_tail(result)
    if fit.buckets is not None:
        doc["bucketing"] = {
            "eligibility": fit.buckets.eligibility,
            "reference_models": list(fit.buckets.reference_models),
            "mean_rank_correlation": fit.buckets.mean_rank_correlation(),
            "buckets": fit.buckets.summary().to_dict(orient="records"),
        }
    return clean_json(doc)


def pass_markdown(result: Result, version: str, plots: list[str]) -> str:
    """A Markdown report of a pass-rate forecast."""
    fit = result.fit
    models = fit.data.models
    pct = f"{result.forecast.interval:.0%}"
    names = np.array([markdown_text(name) for name in models.names])
    fitted = models.fitted
    lines = head_lines(result, f"bayescale pass-rate forecast ({markdown_text(fit.data.source)})")
    lines.append(
        f"- {int(fitted.sum())} fitted models ({', '.join(names[fitted])}), compute "
        f"{models.compute[fitted].min():.3g} to {models.compute[fitted].max():.3g} FLOPs; "
        f"held out: {', '.join(names[~fitted]) or 'none'}."
    )
    if fit.buckets is not None:
        b = fit.buckets
        lines += [
            f"- {len(b.kept)} problems ({b.eligibility}), ordered by pass rate on "
            f"{', '.join(map(markdown_text, b.reference_models))}; the order agrees between "
            "those models with mean "
            f"Spearman correlation {b.mean_rank_correlation():.2f}.",
            "",
            markdown_table(b.summary()),
        ]
    else:
        assert isinstance(fit.data, PassAggregate)
        per = " and bucket." if len(fit.data.buckets) > 1 else "."
        lines.append("- Aggregate pass rates per model" + per)
    forecast = result.forecast
    buckets = forecast.buckets()
    per_bucket = buckets[
        [
            "target_compute",
            "bucket",
            "n_problems",
            "pass_rate_median",
            "pass_rate_lower",
            "pass_rate_upper",
            "neg_log_pass_median",
            "neg_log_pass_lower",
            "neg_log_pass_upper",
        ]
    ]
    if all(n is None for n in forecast.n_problems):
        per_bucket = per_bucket.drop(columns="n_problems")
    lines += [
        "",
        f"## Forecast for a new model ({pct} central predictive interval)",
        "",
        "Pass@1 per bucket, with the mean of -ln(pass rate) over the bucket's problems (the "
        "GPT-4 report's Figure 2 axis) alongside:",
        "",
        markdown_table(per_bucket),
        "",
    ]
    if forecast.pooled is not None:
        lines += [
            f"Overall: {forecast.pooled} (the `curve` columns leave out the model-to-model "
            "scatter):",
            "",
            markdown_table(forecast.overall()),
            "",
        ]
    else:
        lines += [f"Overall: {NO_OVERALL}.", ""]
    if not result.held_out.empty:
        held = result.held_out
        rates = held[held["quantity"].str.startswith("pass_rate")]
        lines += [
            "## Held-out models",
            "",
            f"{int(held['covered'].sum())} of {len(held)} held-out statistics fall inside their "
            f"{pct} predictive interval. Pass@1 (errors of the median in pass-rate units):",
            "",
            markdown_table(rates),
            "",
            "Mean -ln(pass rate) per bucket:",
            "",
            markdown_table(held[~held.index.isin(rates.index)]),
            "",
        ]
    lines += [
        f"## Parameters: -E[ln p] = alpha·C^(-k) per bucket, C in FLOPs ({pct} credible interval)",
        "",
        markdown_table(result.parameters),
        "",
        *diagnostics_lines(fit.diagnostics, fit.timing_s),
        "",
    ]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += [f"_bayescale {version}_", ""]
    return "\n".join(lines)


def warning_lines(warnings: tuple[str, ...] | list[str]) -> list[str]:
    """The report's warnings about the targets, before anything else."""
    return [f"> **Warning:** {markdown_text(w)}" for w in warnings] + ([""] if warnings else [])


def needed_line(d: Decision) -> str:
    """Compute needed with its interval, for the report."""
    return (
        f"Compute needed: the fitted curve meets `{d.requirement.text}` {d.needed_span('.3g')} "
        f"({d.confidence:.0%} interval of the posterior)."
    )


def summary_grid(
    corner: str,
    rows: dict[str, dict[float, str]],
    targets: Sequence[float],
    heads: Sequence[str] | None = None,
) -> list[str]:
    """An aligned table: one row per label, one column per target compute.

    ``heads``: the columns' headings (default: each target in FLOPs).
    """
    head = [corner, *(heads if heads is not None else (f"{t:.3g} FLOPs" for t in targets))]
    labels = [shorten_label(label) for label in rows]
    if len(set(labels)) < len(labels):  # shortened alike: the full labels tell them apart
        labels = list(rows)
    body = [
        [label, *(cells[t] for t in targets)]
        for label, cells in zip(labels, rows.values(), strict=True)
    ]
    widths = [max(display_width(r[i]) for r in [head, *body]) for i in range(len(head))]
    return [
        "  "
        + "  ".join(
            c + " " * (w - display_width(c)) for c, w in zip(r, widths, strict=True)
        ).rstrip()
        for r in [head, *body]
    ]


#: Longest label, in terminal cells, that :func:`summary_grid` shows whole: a longer one would
#: push every number of the table that far right (a 5,000-character group name did).
LABEL_CELLS = 40


def display_width(text: str) -> int:
    """Terminal cells ``text`` takes: 2 for wide characters (CJK, emoji), 0 for combining marks.

    Examples
    --------
    >>> display_width("web"), display_width("网页"), display_width("e\u0301")
    (3, 4, 1)
    """
    import unicodedata

    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def shorten_label(label: str, cells: int = LABEL_CELLS) -> str:
    """``label`` whole when it fits in ``cells`` terminal cells, else its start and end around '…'.

    Examples
    --------
    >>> shorten_label("web")
    'web'
    >>> shorten_label("x" * 30 + "y" * 30)
    'xxxxxxxxxxxxxxxxxxx…yyyyyyyyyyyyyyyyyyyy'
    """
    if display_width(label) <= cells:
        return label
    head, tail = "", ""
    for c in label:  # the start: up to half the cells, less the ellipsis
        if display_width(head + c) > (cells - 1) // 2:
            break
        head += c
    for c in reversed(label):
        if display_width(head + tail + c) > cells - 1:
            break
        tail = c + tail
    return f"{head}…{tail}"


def pass_summary_text(result: Result) -> str:
    """The command line's forecast lines of a pass-rate result."""
    forecast = result.forecast
    pct = f"{forecast.interval:.0%}"
    targets = [float(t) for t in forecast.targets]
    rows: dict[str, dict[float, str]] = {}
    for r in forecast.buckets().to_dict("records"):
        rows.setdefault(str(r["bucket"]), {})[r["target_compute"]] = (
            f"{r['pass_rate_median']:.3g} [{r['pass_rate_lower']:.3g}, "
            f"{r['pass_rate_upper']:.3g}]  (-ln p {r['neg_log_pass_median']:.3g})"
        )
    if forecast.pooled is not None:
        for r in forecast.overall().to_dict("records"):
            rows.setdefault("overall", {})[r["target_compute"]] = (
                f"{r['median']:.3g} [{r['lower']:.3g}, {r['upper']:.3g}]"
            )
            for column in [c for c in r if c.startswith("pass_at_") and c.endswith("_median")]:
                at_k = column.removesuffix("_median")  # --k K: pass@K over all problems
                rows.setdefault("pass@" + at_k.removeprefix("pass_at_"), {})[
                    r["target_compute"]
                ] = f"{r[column]:.3g} [{r[at_k + '_lower']:.3g}, {r[at_k + '_upper']:.3g}]"
    lines = [f"Pass@1 of a new model per bucket (median [{pct} interval], -ln p alongside):"]
    lines += summary_grid("bucket", rows, targets)
    if forecast.pooled is not None:
        lines.append(f"overall = {forecast.pooled}.")
    else:
        lines.append(f"overall: {NO_OVERALL}.")
    held = result.held_out
    if not held.empty:
        rates = held[held["quantity"].str.startswith("pass_rate")]
        lines.append(
            f"Held-out models: {int(held['covered'].sum())}/{len(held)} statistics inside the "
            f"{pct} interval; pass@1 errors of the median: "
            + ", ".join(f"{r.model} {r.quantity} {r.rel_error:+.0%}" for r in rates.itertuples())
            + "."
        )
    return "\n".join(lines)


def loss_summary_text(result: Result) -> str:
    """The command line's forecast lines of a loss result."""
    pct = f"{result.forecast.interval:.0%}"
    groups: dict[str, dict[float, str]] = {}
    for r in result.forecast.table().to_dict("records"):
        groups.setdefault(str(r["group"]), {})[r["target_compute"]] = (
            f"{r['median']:.3f} [{r['lower']:.3f}, {r['upper']:.3f}]"
        )
    lines = [f"Final loss of a new run (median [{pct} interval]):"]
    lines += summary_grid("group", groups, [float(t) for t in result.forecast.targets])
    held = result.held_out
    if not held.empty:
        lines.append(
            f"Held-out runs: {int(held['covered'].sum())}/{len(held)} inside the {pct} interval."
        )
    return "\n".join(lines)

"""The pass-rate law's report: its JSON document, ``report.md`` and the command line's lines.

The result document of ``bayescale pass`` (:func:`pass_document`, a
:class:`~bayescale.pass_pipeline.PassResult`'s ``document_builder``), its Markdown
(:func:`pass_markdown`) and forecast lines (:func:`pass_summary_text`), from the helpers every
law's report shares (:mod:`bayescale.report`). Results are typed as
:class:`bayescale.results.Result` so that this module does not import the pipeline that uses
it; nothing here imports PyMC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayescale.display import percent, rate
from bayescale.pass_data import PassAggregate
from bayescale.pass_forecast import NO_OVERALL
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

#: Pass-rate columns of the bucket tables, shown by :func:`bayescale.display.rate`.
_RATES = (
    "pass_rate_min",
    "pass_rate_max",
    "pass_rate_median",
    "pass_rate_lower",
    "pass_rate_upper",
)


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
    pct = f"{percent(result.forecast.interval)}"
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
            markdown_table(b.summary(), rates=_RATES),
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
        markdown_table(per_bucket, rates=_RATES),
        "",
    ]
    if forecast.pooled is not None:
        overall = forecast.overall()
        lines += [
            f"Overall: {forecast.pooled} (the `curve` columns leave out the model-to-model "
            "scatter):",
            "",
            markdown_table(overall, rates=[c for c in overall.columns if c != "target_compute"]),
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
            markdown_table(rates, rates=("observed", "median", "lower", "upper")),
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


def pass_summary_text(result: Result) -> str:
    """The command line's forecast lines of a pass-rate result."""
    forecast = result.forecast
    pct = f"{percent(forecast.interval)}"
    targets = [float(t) for t in forecast.targets]
    rows: dict[str, dict[float, str]] = {}
    for r in forecast.buckets().to_dict("records"):
        rows.setdefault(str(r["bucket"]), {})[r["target_compute"]] = (
            f"{rate(r['pass_rate_median'])} [{rate(r['pass_rate_lower'])}, "
            f"{rate(r['pass_rate_upper'])}]  (-ln p {r['neg_log_pass_median']:.3g})"
        )
    if forecast.pooled is not None:
        for r in forecast.overall().to_dict("records"):
            rows.setdefault("overall", {})[r["target_compute"]] = (
                f"{rate(r['median'])} [{rate(r['lower'])}, {rate(r['upper'])}]"
            )
            for column in [c for c in r if c.startswith("pass_at_") and c.endswith("_median")]:
                at_k = column.removesuffix("_median")  # --k K: pass@K over all problems
                rows.setdefault("pass@" + at_k.removeprefix("pass_at_"), {})[
                    r["target_compute"]
                ] = f"{rate(r[column])} [{rate(r[at_k + '_lower'])}, {rate(r[at_k + '_upper'])}]"
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

"""The backtest record and what is written from it.

Its JSON document, Markdown, the calibration figure and the calibration benchmark's table.

Nothing here imports PyMC or JAX (matplotlib only when a figure is drawn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.backtest_scoring import LEVELS, observed_coverage, summarise_cases

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: Names and one-line descriptions of the baselines (the JSON ``baselines`` keys).
BASELINES = {
    "report_point_fit": "least-squares point fit of the same law per group/bucket (GPT-4 "
    "report; pass counts: problems solved by every fitted model); no interval",
    "lsq_bootstrap": "least squares on bootstrap resamples, percentile intervals of the curve "
    "(Epoch AI's Chinchilla replication)",
    "separate_bayes": "bayescale's model fitted to each group/bucket alone: same law and priors, "
    "no partial pooling",
}

#: ``separate_bayes`` of a loss backtest with ``--shared-runs``: a group alone shares no run,
#: so those fits run without the run effect.
SEPARATE_WITHOUT_RUN_EFFECT = (
    "bayescale's model fitted to each group alone: same law and priors but without the run "
    "effect of --shared-runs (a group alone shares no run with another), no partial pooling"
)


#: The law a backtest is of (a registry name: ``loss``, ``pass``, ...).
Kind = str


@dataclass(frozen=True)
class Backtest:
    """One leave-largest-out split, scored for bayescale and the baselines.

    Attributes
    ----------
    kind, ratio, source, interval
        What was backtested and how.
    cases
        bayescale's scored cases (one row per held-out run, or held-out model and quantity),
        columns of :func:`score_draws` plus ``case``, ``group``, ``target_compute``,
        ``fit_max_compute``, ``extrapolation``.
    baselines
        Scored cases of each baseline, keyed by the names of :data:`BASELINES`.
    fit_max_compute
        The largest fitted compute of each group or bucket that was backtested (at most its
        largest compute / ratio); ``extrapolation`` of a case is its compute over this.
    skipped
        Groups or buckets with fewer than three distinct fitted computes at this ratio.
    diagnostics
        Convergence of bayescale's fit and of the separate fits.
    model
        How the law was fitted, when a law says (accuracy: ``{"axis": ...}``); the
        document's ``model``.
    descriptions
        Baselines whose description differs from :data:`BASELINES` in this backtest.
    """

    kind: Kind
    ratio: float
    source: str
    interval: float
    cases: pd.DataFrame
    baselines: dict[str, pd.DataFrame]
    fit_max_compute: dict[str, float]
    skipped: tuple[str, ...] = ()
    diagnostics: dict[str, dict[str, Any]] = field(default_factory=dict)
    timing_s: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)

    def description(self, name: str) -> str:
        """The baseline ``name``'s one-line description in this backtest."""
        return self.descriptions.get(name, BASELINES[name])

    @property
    def ok(self) -> bool:
        """True when bayescale's fit passed the diagnostics gate."""
        return bool(self.diagnostics.get("bayescale", {}).get("ok", True))

    def summary(self) -> pd.DataFrame:
        """One row per method: cases, coverages, median |rel. error|, CRPS, width."""
        rows = []
        for method, cases in {"bayescale": self.cases, **self.baselines}.items():
            s = summarise_cases(cases)
            rows.append(
                {
                    "ratio": self.ratio,
                    "method": method,
                    "n_cases": s["n_cases"],
                    **{f"coverage_{k}": v for k, v in s["coverage"].items()},
                    "median_abs_rel_error": s["median_abs_rel_error"],
                    "mean_crps_rel": s["mean_crps_rel"],
                    "median_rel_width": s["median_rel_width"],
                }
            )
        return pd.DataFrame(rows)


CASE_FIELDS = (
    "case",
    "group",
    "target_compute",
    "fit_max_compute",
    "extrapolation",
    "truth",
    "median",
    "lower",
    "upper",
    "covered",
    "pit",
    "crps",
    "rel_error",
)


def _covered_at(row: dict[Any, Any]) -> dict[str, bool] | None:
    if row["covered"] is None:
        return None
    return {str(level): bool(row[f"covered_{level}"]) for level in LEVELS}


def backtest_document(bt: Backtest) -> dict[str, Any]:
    """The backtest document (docs/formats.md) of one ratio (plus diagnostics and per-case extras).

    Returns
    -------
    dict
        ``kind``, ``ratio``, ``cases``, ``coverage``, ``median_abs_rel_error`` and
        ``baselines`` as in the contract, and also ``interval`` (of ``lower``/``upper``),
        ``n_cases``, ``mean_crps_rel``, ``median_rel_width``, ``fit_max_compute`` per group,
        ``skipped``, ``diagnostics`` and ``timing_s``; baselines carry ``description`` and
        their own ``cases``.
    """
    from bayescale.report import clean_json
    from bayescale.version import __version__

    def records(cases: pd.DataFrame) -> list[dict[str, Any]]:
        out = []
        for row in cases.to_dict(orient="records"):
            record = {k: row[k] for k in CASE_FIELDS}
            record["covered_at"] = _covered_at(row)
            out.append(record)
        return out

    summary = summarise_cases(bt.cases)
    doc: dict[str, Any] = {
        "bayescale_version": __version__,
        "kind": bt.kind,
        "ratio": bt.ratio,
        "source": bt.source,
        "interval": bt.interval,
        "cases": records(bt.cases),
        **summary,
        "fit_max_compute": bt.fit_max_compute,
        "skipped": list(bt.skipped),
        "diagnostics": bt.diagnostics,
        "baselines": {
            name: {"description": bt.description(name), **summarise_cases(c), "cases": records(c)}
            for name, c in bt.baselines.items()
        },
        "timing_s": bt.timing_s,
    }
    if bt.model:
        doc["model"] = bt.model
    out: dict[str, Any] = clean_json(doc)
    return out


def _cases_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=[*CASE_FIELDS, "covered_at"])
    for level in LEVELS:
        frame[f"covered_{level}"] = [
            None if c is None else bool(c[str(level)]) for c in frame["covered_at"]
        ]
    frame = frame.drop(columns="covered_at")
    probabilistic = frame["lower"].notna()
    frame["rel_width"] = np.where(
        probabilistic,
        (frame["upper"].astype(float) - frame["lower"].astype(float)) / frame["median"],
        np.nan,
    )
    frame["rel_width"] = frame["rel_width"].astype(object).where(probabilistic, None)
    return frame


def backtest_from_document(doc: dict[str, Any]) -> Backtest:
    """Rebuild a :class:`Backtest` from :func:`backtest_document` (to resume a suite)."""
    return Backtest(
        kind=doc["kind"],
        ratio=float(doc["ratio"]),
        source=doc["source"],
        interval=float(doc["interval"]),
        cases=_cases_from_records(doc["cases"]),
        baselines={k: _cases_from_records(v["cases"]) for k, v in doc["baselines"].items()},
        fit_max_compute=dict(doc["fit_max_compute"]),
        skipped=tuple(doc["skipped"]),
        diagnostics=dict(doc["diagnostics"]),
        timing_s=dict(doc["timing_s"]),
        model=dict(doc.get("model", {})),
    )


def backtests_document(backtests: list[Backtest]) -> dict[str, Any]:
    """One ratio: the contract document. Several: ``{"kind", "ratios", "backtests": [...]}``.

    The several-ratio form keeps every per-ratio document exactly in the one-ratio form, so a
    reader of the contract document reads each element of ``backtests`` unchanged.
    """
    from bayescale.version import __version__

    docs = [backtest_document(bt) for bt in backtests]
    if len(docs) == 1:
        return docs[0]
    return {
        "bayescale_version": __version__,
        "kind": backtests[0].kind,
        "source": backtests[0].source,
        "ratios": [bt.ratio for bt in backtests],
        "backtests": docs,
    }


def _fmt_cov(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.0%}"


def _fmt_pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * value:.{digits}f}%"


def summary_markdown(summary: pd.DataFrame) -> str:
    """Markdown table of :meth:`Backtest.summary` rows (any number of ratios)."""
    lines = [
        "| ratio | method | cases | 50% cov. | 80% cov. | 90% cov. | median abs. rel. error "
        "| mean CRPS / truth | median 90% width |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in summary.to_dict(orient="records"):
        lines.append(
            f"| {row['ratio']:g} | {row['method']} | {row['n_cases']} "
            f"| {_fmt_cov(row['coverage_0.5'])} | {_fmt_cov(row['coverage_0.8'])} "
            f"| {_fmt_cov(row['coverage_0.9'])} | {_fmt_pct(row['median_abs_rel_error'])} "
            f"| {_fmt_pct(row['mean_crps_rel'])} | {_fmt_pct(row['median_rel_width'], 1)} |"
        )
    return "\n".join(lines)


def backtest_markdown(backtests: list[Backtest]) -> str:
    """A short Markdown report: what was cut, the side-by-side table, convergence."""
    bt0 = backtests[0]
    ran = [name for name in BASELINES if any(name in bt.baselines for bt in backtests)]
    lines = [
        f"# Backtest ({bt0.kind}): {bt0.source}",
        "",
        "Leave-largest-out: each group/bucket is fitted on its runs with compute <= max / R and "
        "every larger run is forecast. Coverage of the central intervals, error of the median, "
        "CRPS relative to the truth and the relative width of the 90% interval.",
        "",
        summary_markdown(pd.concat([bt.summary() for bt in backtests], ignore_index=True)),
        "",
        *(
            [f"The law's {', '.join(f'{k}: {v}' for k, v in bt0.model.items())}.", ""]
            if bt0.model
            else []
        ),
        *(
            ["Baselines: " + "; ".join(f"`{k}`: {bt0.description(k)}" for k in ran) + ".", ""]
            if ran
            else []
        ),
    ]
    for bt in backtests:
        diag = bt.diagnostics.get("bayescale", {})
        lines.append(
            f"- ratio {bt.ratio:g}: {len(bt.fit_max_compute)} group(s) backtested"
            + (
                f", skipped (too few fitted computes): {', '.join(bt.skipped)}"
                if bt.skipped
                else ""
            )
            + f"; bayescale fit {'converged' if diag.get('ok', True) else 'did NOT converge'}"
            + (
                f" (R-hat {diag['r_hat_max']:.3f}, {diag['divergences']} divergences)"
                if diag
                else ""
            )
            + "".join(
                f"; baseline {name}'s fit FAILED its gate (R-hat {d['r_hat_max']:.3f}, "
                f"{d['divergences']} divergences): read its scores with care"
                for name, d in bt.diagnostics.items()
                if name != "bayescale" and not d.get("ok", True)
            )
            + "."
        )
    return "\n".join(lines) + "\n"


def calibration_figure(
    panels: dict[str, dict[str, pd.DataFrame]], title: str = "Calibration of held-out forecasts"
) -> Figure:
    """Nominal against observed coverage of central intervals, one panel per entry.

    Parameters
    ----------
    panels
        Panel title -> {method -> scored cases}; point forecasts (no ``pit``) are left out.
    """
    from matplotlib.figure import Figure

    levels = np.linspace(0.05, 0.95, 19)
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.4 * cols, 3.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (name, methods) in zip(axes.flat, panels.items(), strict=False):
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        for method, cases in methods.items():
            if cases.empty or cases["pit"].isna().any():
                continue
            ax.plot(levels, observed_coverage(cases, levels), marker="o", ms=3, label=method)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=name, xlabel="nominal coverage")
        ax.set_ylabel("observed coverage")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


SUITE_METHODS = ("bayescale", "separate_bayes", "lsq_bootstrap", "report_point_fit")


def calibration_rows(results: dict[str, list[Backtest]]) -> list[dict[str, Any]]:
    """Summary rows of the calibration benchmark: one per (dataset, ratio), then all cases pooled.

    Parameters
    ----------
    results
        Dataset name -> its backtests.

    Returns
    -------
    list of dict
        ``dataset``, ``ratio`` (``None`` in the pooled row), ``kind`` and, per method,
        the :func:`summarise_cases` summary.
    """
    rows = []
    pooled: dict[str, list[pd.DataFrame]] = {m: [] for m in SUITE_METHODS}
    for name, backtests in results.items():
        for bt in backtests:
            methods = {"bayescale": bt.cases, **bt.baselines}
            rows.append(
                {
                    "dataset": name,
                    "ratio": bt.ratio,
                    "kind": bt.kind,
                    "groups": len(bt.fit_max_compute),
                    "bayescale_ok": bt.ok,
                    "methods": {m: summarise_cases(c) for m, c in methods.items()},
                }
            )
            for m, c in methods.items():
                pooled[m].append(c)
    rows.append(
        {
            "dataset": "all datasets, all ratios (pooled cases)",
            "ratio": None,
            "kind": None,
            "groups": None,
            "bayescale_ok": all(r["bayescale_ok"] for r in rows),
            "methods": {
                m: summarise_cases(pd.concat(parts, ignore_index=True))
                for m, parts in pooled.items()
                if parts
            },
        }
    )
    from bayescale.report import clean_json

    out: list[dict[str, Any]] = clean_json(rows)
    return out


def calibration_markdown(rows: list[dict[str, Any]]) -> str:
    """The README table of the calibration benchmark: coverage and median |error| side by side."""
    lines = [
        "| dataset | R | cases | bayescale cov. 50/80/90% | bayescale error "
        "| separate Bayes cov. 90% | separate error | bootstrap cov. 90% | bootstrap error "
        "| point fit error |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        m = row["methods"]

        def cov(method: str, level: str = "0.9", m: dict[str, Any] = m) -> str:
            return _fmt_cov(m[method]["coverage"][level]) if method in m else "–"

        def err(method: str, m: dict[str, Any] = m) -> str:
            return _fmt_pct(m[method]["median_abs_rel_error"]) if method in m else "–"

        b = "/".join(cov("bayescale", lv).rstrip("%") for lv in ("0.5", "0.8", "0.9")) + "%"
        ratio = "all" if row["ratio"] is None else f"{row['ratio']:g}"
        flag = "" if row["bayescale_ok"] else " (unconverged)"
        lines.append(
            f"| {row['dataset']}{flag} | {ratio} | {m['bayescale']['n_cases']} | {b} "
            f"| {err('bayescale')} | {cov('separate_bayes')} | {err('separate_bayes')} "
            f"| {cov('lsq_bootstrap')} | {err('lsq_bootstrap')} | {err('report_point_fit')} |"
        )
    return "\n".join(lines)


def write_backtest_outputs(backtests: list[Backtest], out_dir: Path) -> list[Path]:
    """Write ``backtest.json``, ``backtest.md`` and ``calibration.png`` into ``out_dir``.

    The folder is written as a whole (:func:`bayescale.outputs.result_folder`).
    """
    from bayescale.drawing import save_figure
    from bayescale.outputs import result_folder, write_json, write_text

    with result_folder(out_dir) as stage:
        write_json(backtests_document(backtests), stage / "backtest.json")
        write_text(stage / "backtest.md", backtest_markdown(backtests))
        panels = {
            f"ratio {bt.ratio:g}": {"bayescale": bt.cases, **bt.baselines} for bt in backtests
        }
        save_figure(calibration_figure(panels), stage / "calibration.png")
    return [Path(out_dir) / n for n in ("backtest.json", "backtest.md", "calibration.png")]


def split_backtest(
    kind: Kind,
    ratio: float,
    source: str,
    interval: float,
    split: tuple[dict[str, float], tuple[str, ...]],
    bayescale: tuple[Any, pd.DataFrame, float],
    scored: tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]], dict[str, float]],
) -> Backtest:
    """One split's record, every law.

    ``split`` is the cut and the skipped groups or buckets; ``bayescale`` its fit, cases and
    seconds; ``scored`` the baselines' cases, diagnostics and seconds (empty without them).
    """
    cuts, skipped = split
    fit, cases, seconds = bayescale
    baselines, diagnostics, timing = scored
    return Backtest(
        kind=kind,
        ratio=float(ratio),
        source=source,
        interval=interval,
        cases=cases,
        baselines=baselines,
        fit_max_compute=cuts,
        skipped=skipped,
        diagnostics={"bayescale": fit_diagnostics(fit)} | diagnostics,
        timing_s={"bayescale": seconds} | timing,
    )


def fit_diagnostics(fit: Any) -> dict[str, Any]:
    """A fit's convergence as a backtest records it (any law's fit)."""
    d = fit.diagnostics
    return {
        "ok": d.ok,
        "r_hat_max": d.r_hat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "divergences": d.divergences,
        "target_accept": fit.settings.target_accept,
        "sampling_s": fit.timing_s.get("sampling"),
    }


def merge_diagnostics(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The convergence of several fits (the separate fits) as one record."""
    return {
        "ok": all(p["ok"] for p in parts),
        "r_hat_max": max(p["r_hat_max"] for p in parts),
        "ess_bulk_min": min(p["ess_bulk_min"] for p in parts),
        "divergences": sum(p["divergences"] for p in parts),
        "target_accept": max(p["target_accept"] for p in parts),
        "sampling_s": sum(p["sampling_s"] or 0.0 for p in parts),
        "fits": len(parts),
    }

r"""Backtests: leave the largest runs out, forecast them, and score the forecasts.

For a ratio :math:`R`, every group (loss) or bucket (aggregate pass rates) is fitted on its runs
with compute :math:`\le \max_g C / R` and each held-out run is forecast; per-problem pass
counts are cut at :math:`\max C / R` over all models. A group or bucket left with fewer
than three distinct fitted computes is skipped at that ratio (and listed as skipped).

Every forecast is scored the same way, whatever method made it:

- coverage of the central 50%, 80% and 90% intervals (``covered_<level>``);
- the relative error of the median, ``median / truth - 1``;
- the continuous ranked probability score (CRPS) divided by the truth: for draws
  :math:`x_1..x_S`, :math:`\mathrm{CRPS} = \frac1S\sum|x_s - y| - \frac1{2S^2}\sum_{s,t}|x_s -
  x_t|`; for a point forecast it is the absolute error;
- the relative width of the central interval, ``(upper - lower) / median``;
- the probability integral transform ``pit`` (the share of draws below the truth), from which
  the calibration plot reads the coverage at any level: a central interval at level q covers
  the truth when :math:`|2\,\mathrm{pit} - 1| \le q`.

Baselines on the same splits:

- ``report_point_fit``: least-squares point fit of the same law, one curve per group or bucket
  (for per-problem pass counts, problems solved by every fitted model, as in the GPT-4
  report); no interval;
- ``lsq_bootstrap``: the same fit on bootstrap resamples (runs, models, or a bucket's
  problems), percentile intervals of the resampled curves (Epoch AI's method);
- ``separate_bayes``: bayescale's own model fitted to each group or bucket alone: the same law
  and priors without partial pooling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from bayescale.buckets import Buckets, make_buckets
from bayescale.data import LossColumns, LossData, load_loss_runs
from bayescale.errors import InputError
from bayescale.pass_data import (
    MIN_MODELS,
    ModelTable,
    PassAggregate,
    PassColumns,
    PassCounts,
    load_pass_table,
)
from bayescale.point_fits import (
    N_BOOT,
    bootstrap_loss,
    bootstrap_pass_problems,
    bootstrap_pass_rows,
    fit_loss_lsq,
    fit_pass_line,
    predict_pass_line,
)
from bayescale.priors import LossPriors, PassPriors
from bayescale.sampling import SamplerSettings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayescale.fit import LossFit, PassFit

log = logging.getLogger("bayescale")

#: Interval levels every backtest scores.
LEVELS = (0.5, 0.8, 0.9)
#: Names and one-line descriptions of the baselines (the JSON ``baselines`` keys).
BASELINES = {
    "report_point_fit": "least-squares point fit of the same law per group/bucket (GPT-4 "
    "report; pass counts: problems solved by every fitted model); no interval",
    "lsq_bootstrap": "least squares on bootstrap resamples, percentile intervals of the curve "
    "(Epoch AI's Chinchilla replication)",
    "separate_bayes": "bayescale's model fitted to each group/bucket alone: same law and priors, "
    "no partial pooling",
}
Kind = Literal["loss", "pass"]


# ----------------------------------------------------------------------------- scoring


def sample_crps(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    r"""CRPS of sample forecasts: ``draws`` ``(sample, case)`` against ``truth`` ``(case,)``.

    Uses :math:`E|X - X'| = \frac{2}{S^2}\sum_i (2i - S - 1) x_{(i)}` on the sorted draws.

    Examples
    --------
    >>> float(sample_crps(np.array([[1.0], [1.0]]), np.array([3.0]))[0])
    2.0
    """
    draws = np.sort(np.asarray(draws, dtype=float), axis=0)
    s = draws.shape[0]
    weights = (2 * np.arange(1, s + 1) - s - 1)[:, None]
    spread = 2.0 * (weights * draws).sum(axis=0) / s**2
    return np.asarray(np.abs(draws - truth[None, :]).mean(axis=0) - 0.5 * spread)


def score_draws(truth: np.ndarray, draws: np.ndarray, interval: float = 0.9) -> pd.DataFrame:
    """Score sample forecasts ``(sample, case)`` against the truths ``(case,)``.

    Returns
    -------
    pandas.DataFrame
        One row per case: ``truth``, ``median``, ``lower``/``upper`` (central ``interval``),
        ``covered``, ``covered_<level>`` for :data:`LEVELS`, ``pit``, ``crps``, ``rel_error``,
        ``rel_width``.
    """
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    tail = (1 - interval) / 2
    lower, median, upper = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
    frame = pd.DataFrame(
        {
            "truth": truth,
            "median": median,
            "lower": lower,
            "upper": upper,
            "covered": (lower <= truth) & (truth <= upper),
        }
    )
    for level in LEVELS:
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        frame[f"covered_{level}"] = (lo <= truth) & (truth <= hi)
    frame["pit"] = (draws < truth).mean(axis=0) + 0.5 * (draws == truth).mean(axis=0)
    frame["crps"] = sample_crps(draws, truth)
    frame["rel_error"] = median / truth - 1
    frame["rel_width"] = (upper - lower) / median
    return frame


def score_point(truth: np.ndarray, prediction: np.ndarray) -> pd.DataFrame:
    """Score point forecasts: no interval, CRPS is the absolute error."""
    truth = np.asarray(truth, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    frame = pd.DataFrame({"truth": truth, "median": prediction})
    for column in ("lower", "upper", "covered", "pit", "rel_width"):
        frame[column] = None
    for level in LEVELS:
        frame[f"covered_{level}"] = None
    frame["crps"] = np.abs(prediction - truth)
    frame["rel_error"] = prediction / truth - 1
    return frame


def summarise_cases(cases: pd.DataFrame) -> dict[str, Any]:
    """Coverage per level, median |relative error|, mean CRPS/truth and median width.

    Coverages and width are ``None`` for point forecasts (and with no cases).
    """
    n = len(cases)
    probabilistic = n > 0 and cases["covered"].notna().all()
    coverage = {
        str(level): float(cases[f"covered_{level}"].astype(bool).mean()) if probabilistic else None
        for level in LEVELS
    }
    return {
        "n_cases": n,
        "coverage": coverage,
        "median_abs_rel_error": float(np.median(np.abs(cases["rel_error"]))) if n else None,
        "mean_crps_rel": float(np.mean(cases["crps"] / np.abs(cases["truth"]))) if n else None,
        "median_rel_width": (
            float(np.median(cases["rel_width"].astype(float))) if probabilistic else None
        ),
    }


def observed_coverage(cases: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
    """Share of cases whose central interval at each level holds the truth (from ``pit``)."""
    pit = cases["pit"].astype(float).to_numpy()
    needed = np.abs(2 * pit - 1)
    return np.array([(needed <= q).mean() for q in levels])


# ----------------------------------------------------------------------------- results


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
    """The CONTRACT §4 backtest document of one ratio (plus diagnostics and per-case extras).

    Returns
    -------
    dict
        ``kind``, ``ratio``, ``cases``, ``coverage``, ``median_abs_rel_error`` and
        ``baselines`` as in the contract, and also ``interval`` (of ``lower``/``upper``),
        ``n_cases``, ``mean_crps_rel``, ``median_rel_width``, ``fit_max_compute`` per group,
        ``skipped``, ``diagnostics`` and ``timing_s``; baselines carry ``description`` and
        their own ``cases``.
    """
    from bayescale import __version__
    from bayescale.report import clean_json

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
            name: {"description": BASELINES[name], **summarise_cases(c), "cases": records(c)}
            for name, c in bt.baselines.items()
        },
        "timing_s": bt.timing_s,
    }
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
    )


def backtests_document(backtests: list[Backtest]) -> dict[str, Any]:
    """One ratio: the contract document. Several: ``{"kind", "ratios", "backtests": [...]}``.

    The several-ratio form keeps every per-ratio document exactly in the one-ratio form, so a
    reader of the contract document reads each element of ``backtests`` unchanged.
    """
    from bayescale import __version__

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
    lines = [
        f"# Backtest ({bt0.kind}): {bt0.source}",
        "",
        "Leave-largest-out: each group/bucket is fitted on its runs with compute <= max / R and "
        "every larger run is forecast. Coverage of the central intervals, error of the median, "
        "CRPS relative to the truth and the relative width of the 90% interval.",
        "",
        summary_markdown(pd.concat([bt.summary() for bt in backtests], ignore_index=True)),
        "",
        "Baselines: " + "; ".join(f"`{k}`: {v}" for k, v in BASELINES.items()) + ".",
        "",
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = np.linspace(0.05, 0.95, 19)
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.3 * rows), squeeze=False)
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


def suite_rows(results: dict[str, list[Backtest]]) -> list[dict[str, Any]]:
    """Summary rows of a benchmark suite: one per (dataset, ratio), then all cases pooled.

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


def suite_markdown(rows: list[dict[str, Any]]) -> str:
    """The README table of a benchmark suite: 90% coverage and median |error| side by side."""
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
    from bayescale.outputs import result_folder, write_text
    from bayescale.pipeline import write_json
    from bayescale.plots import save_figure

    with result_folder(out_dir) as stage:
        write_json(backtests_document(backtests), stage / "backtest.json")
        write_text(stage / "backtest.md", backtest_markdown(backtests))
        panels = {
            f"ratio {bt.ratio:g}": {"bayescale": bt.cases, **bt.baselines} for bt in backtests
        }
        save_figure(calibration_figure(panels), stage / "calibration.png")
    return [Path(out_dir) / n for n in ("backtest.json", "backtest.md", "calibration.png")]


# ----------------------------------------------------------------------------- helpers


def check_ratio(ratio: float) -> float:
    """Refuse a ratio that would hold nothing out."""
    if not (np.isfinite(ratio) and ratio > 1):
        raise InputError(
            f"--ratio must be > 1 (fit on compute <= max / R, forecast the rest), got {ratio}."
        )
    return float(ratio)


def _diag(fit: LossFit | PassFit) -> dict[str, Any]:
    d = fit.diagnostics
    return {
        "ok": d.ok,
        "r_hat_max": d.r_hat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "divergences": d.divergences,
        "target_accept": fit.settings.target_accept,
        "sampling_s": fit.timing_s.get("sampling"),
    }


def _merge_diag(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ok": all(p["ok"] for p in parts),
        "r_hat_max": max(p["r_hat_max"] for p in parts),
        "ess_bulk_min": min(p["ess_bulk_min"] for p in parts),
        "divergences": sum(p["divergences"] for p in parts),
        "target_accept": max(p["target_accept"] for p in parts),
        "sampling_s": sum(p["sampling_s"] or 0.0 for p in parts),
        "fits": len(parts),
    }


def _with_meta(
    scored: pd.DataFrame,
    case: list[str],
    group: list[str],
    target: np.ndarray,
    cut: np.ndarray,
) -> pd.DataFrame:
    meta = pd.DataFrame(
        {
            "case": case,
            "group": group,
            "target_compute": np.asarray(target, dtype=float),
            "fit_max_compute": np.asarray(cut, dtype=float),
        }
    )
    meta["extrapolation"] = meta["target_compute"] / meta["fit_max_compute"]
    return pd.concat([meta, scored.reset_index(drop=True)], axis=1)


# ----------------------------------------------------------------------------- loss


def loss_split(data: LossData, ratio: float) -> tuple[LossData, dict[str, float], tuple[str, ...]]:
    """Hold out, per group, the runs with compute > max / ``ratio``.

    Returns
    -------
    split, fit_max, skipped
        The runs of the groups that keep >= 3 distinct fitted computes, with ``held_out``
        set; each such group's largest fitted compute; the groups left out.

    Raises
    ------
    InputError
        When no group keeps three distinct computes at or below its cut.
    """
    ratio = check_ratio(ratio)
    keep = np.zeros(data.compute.size, dtype=bool)
    held = np.zeros(data.compute.size, dtype=bool)
    cuts: dict[str, float] = {}
    skipped = []
    for g in data.groups:
        sel = data.group == g
        cut = float(data.compute[sel].max() / ratio)
        fitted = sel & (data.compute <= cut)
        if np.unique(data.compute[fitted]).size >= 3:
            cuts[g] = float(data.compute[fitted].max())
            keep |= sel
            held |= sel & (data.compute > cut)
        else:
            skipped.append(g)
    if not cuts:
        raise InputError(
            f"{data.source}: with --ratio {ratio:g} no group has runs at 3 distinct computes at "
            "or below its largest compute / ratio; the loss law needs 3. Use a smaller ratio."
        )
    split = replace(
        data,
        compute=data.compute[keep],
        loss=data.loss[keep],
        group=data.group[keep],
        groups=tuple(g for g in data.groups if g in cuts),
        name=data.name[keep],
        held_out=held[keep],
        fit_max_compute=max(cuts.values()),
    )
    return split, cuts, tuple(skipped)


def _one_group(data: LossData, group: str) -> LossData:
    sel = data.group == group
    return replace(
        data,
        compute=data.compute[sel],
        loss=data.loss[sel],
        group=data.group[sel],
        groups=(group,),
        name=data.name[sel],
        held_out=data.held_out[sel],
    )


def _loss_case_meta(data: LossData, rows: np.ndarray, cuts: dict[str, float]) -> dict[str, Any]:
    return {
        "case": [f"{data.group[r]}:{data.name[r]}" for r in rows],
        "group": [str(data.group[r]) for r in rows],
        "target": data.compute[rows],
        "cut": np.array([cuts[data.group[r]] for r in rows]),
    }


def _loss_bayes_cases(fit: LossFit, cuts: dict[str, float], interval: float) -> pd.DataFrame:
    from bayescale.forecast import loss_draws

    data = fit.data
    rows = np.flatnonzero(data.held_out)
    computes, cidx = np.unique(data.compute[rows], return_inverse=True)
    draws = loss_draws(fit, computes)["loss"].values  # (sample, group, compute)
    per_case = draws[:, data.group_index[rows], cidx]
    meta = _loss_case_meta(data, rows, cuts)
    return _with_meta(
        score_draws(data.loss[rows], per_case, interval),
        meta["case"],
        meta["group"],
        meta["target"],
        meta["cut"],
    )


def _loss_lsq_cases(
    data: LossData, cuts: dict[str, float], interval: float, n_boot: int, seed: int
) -> dict[str, pd.DataFrame]:
    point, boot = [], []
    for gi, g in enumerate(data.groups):
        fitted = (data.group == g) & ~data.held_out
        rows = np.flatnonzero((data.group == g) & data.held_out)
        targets = data.compute[rows]
        meta = _loss_case_meta(data, rows, cuts)
        fit = fit_loss_lsq(data.compute[fitted], data.loss[fitted])
        args = (meta["case"], meta["group"], meta["target"], meta["cut"])
        point.append(_with_meta(score_point(data.loss[rows], fit.predict(targets)), *args))
        preds = bootstrap_loss(
            data.compute[fitted], data.loss[fitted], targets, n_boot, seed=seed + gi
        )
        boot.append(_with_meta(score_draws(data.loss[rows], preds, interval), *args))
    return {
        "report_point_fit": pd.concat(point, ignore_index=True),
        "lsq_bootstrap": pd.concat(boot, ignore_index=True),
    }


def backtest_loss(
    data: LossData,
    ratio: float,
    *,
    priors: LossPriors | None = None,
    settings: SamplerSettings | None = None,
    interval: float = 0.9,
    baselines: bool = True,
    n_boot: int = N_BOOT,
) -> Backtest:
    """Backtest the loss model at one ratio, with the baselines on the same split.

    Parameters
    ----------
    data
        All runs (:func:`bayescale.data.load_loss_runs`); the split is made here.
    ratio
        Fit on each group's runs with compute <= its largest compute / ``ratio``.
    priors, settings
        bayescale's priors and sampler settings (also used by ``separate_bayes``). The fits
        are batched (:func:`backtest_loss_ratios`), so they run at ``target_accept`` >= 0.99,
        those that diverge once more at 0.995.
    interval
        Probability of the ``lower``/``upper`` columns (coverage is scored at 50/80/90%).
    baselines
        Also run the three baselines.
    n_boot
        Bootstrap resamples of ``lsq_bootstrap``.

    Returns
    -------
    Backtest
    """
    (bt,) = backtest_loss_ratios(
        data,
        [ratio],
        priors=priors,
        settings=settings,
        interval=interval,
        baselines=baselines,
        n_boot=n_boot,
    )
    return bt


def backtest_loss_ratios(
    data: LossData,
    ratios: list[float] | tuple[float, ...],
    *,
    priors: LossPriors | None = None,
    settings: SamplerSettings | None = None,
    interval: float = 0.9,
    baselines: bool = True,
    n_boot: int = N_BOOT,
) -> list[Backtest]:
    """:func:`backtest_loss` at several ratios, the Bayesian fits made as batches.

    Every split's pooled fit is one dataset of one batch
    (:func:`bayescale.fit.fit_loss_batch`), and every group's no-pooling fit one of another,
    so the whole backtest compiles about twice instead of once per fit. Batched fits run at
    ``target_accept`` of at least 0.99 (the loss model's default), and those that diverge
    once more, together, at 0.995 (see :func:`~bayescale.fit.fit_loss_batch`); the target
    is recorded in each fit's diagnostics. Each fit is
    seeded from ``settings.seed``, its method, its ratio and its group, not from its place in
    a batch. The ``bayescale`` and ``separate_bayes`` times of each ratio are its share of its
    batches.
    """
    from bayescale.batch import dataset_seed
    from bayescale.fit import fit_loss_batch

    if not ratios:
        raise InputError("no --ratio given; e.g. --ratio 10 fits on compute <= max/10.")
    settings = settings or SamplerSettings(progress=False)
    splits = [loss_split(data, ratio) for ratio in ratios]
    start = time.perf_counter()
    fits = fit_loss_batch(
        [split for split, _, _ in splits],
        priors,
        settings,
        seeds=[dataset_seed(settings.seed, "pooled", f"{r:g}") for r in ratios],
        allow_unconverged=True,
    )
    pooled_s = (time.perf_counter() - start) / len(splits)
    separate: list[list[LossFit]] = [[] for _ in splits]
    separate_s = 0.0
    if baselines:
        # every group of every split with several groups, fitted on its own
        alone = [
            (i, _one_group(split, g), dataset_seed(settings.seed, "separate", f"{r:g}", g))
            for i, (r, (split, _, _)) in enumerate(zip(ratios, splits, strict=True))
            if len(split.groups) > 1
            for g in split.groups
        ]
        start = time.perf_counter()
        singles = fit_loss_batch(
            [d for _, d, _ in alone],
            priors,
            settings,
            seeds=[seed for _, _, seed in alone],
            allow_unconverged=True,
        )
        for (i, _, _), fit in zip(alone, singles, strict=True):
            separate[i].append(fit)
        separate_s = (time.perf_counter() - start) / max(1, sum(1 for s in separate if s))
    out = []
    for ratio, (split, cuts, skipped), fit, singles in zip(
        ratios, splits, fits, separate, strict=True
    ):
        cases = _loss_bayes_cases(fit, cuts, interval)
        timing = {"bayescale": pooled_s}
        diagnostics = {"bayescale": _diag(fit)}
        scored: dict[str, pd.DataFrame] = {}
        if baselines:
            start = time.perf_counter()
            scored = _loss_lsq_cases(split, cuts, interval, n_boot, settings.seed)
            timing["least_squares"] = time.perf_counter() - start
            if singles:
                parts = [_loss_bayes_cases(one, cuts, interval) for one in singles]
                scored["separate_bayes"] = pd.concat(parts, ignore_index=True)
                diagnostics["separate_bayes"] = _merge_diag([_diag(one) for one in singles])
                timing["separate_bayes"] = separate_s
            else:  # one group: nothing to pool, the separate fit is bayescale's own
                scored["separate_bayes"] = cases.copy()
                diagnostics["separate_bayes"] = _merge_diag([diagnostics["bayescale"]])
                timing["separate_bayes"] = 0.0
        out.append(
            Backtest(
                kind="loss",
                ratio=float(ratio),
                source=data.source,
                interval=interval,
                cases=cases,
                baselines=scored,
                fit_max_compute=cuts,
                skipped=skipped,
                diagnostics=diagnostics,
                timing_s=timing,
            )
        )
    return out


# ----------------------------------------------------------------------------- pass


def _model_table(models: ModelTable, keep: np.ndarray, held: np.ndarray) -> ModelTable:
    return ModelTable(
        names=tuple(n for n, k in zip(models.names, keep, strict=True) if k),
        compute=models.compute[keep],
        held_out=held[keep],
    )


def pass_split(
    data: PassCounts | PassAggregate, ratio: float
) -> tuple[PassCounts | PassAggregate, dict[str, float], tuple[str, ...]]:
    """Hold out the models above max / ``ratio``.

    Per-problem counts are cut once over all models. Aggregate rates are cut per bucket (a
    bucket may be a model family with its own sizes); a model is held out when its compute is
    above the cut of a bucket it has a rate in, and buckets keeping fewer than three fitted
    models are skipped.

    Raises
    ------
    InputError
        When fewer than three models (or, for aggregates, no bucket) remain to fit.
    """
    ratio = check_ratio(ratio)
    models = data.models
    if isinstance(data, PassCounts):
        cut = float(models.compute.max() / ratio)
        held = models.compute > cut
        if np.unique(models.compute[~held]).size < MIN_MODELS:
            raise InputError(
                f"{data.source}: with --ratio {ratio:g} only "
                f"{np.unique(models.compute[~held]).size} model size(s) have compute <= "
                f"{cut:.3g}; the pass law needs {MIN_MODELS}. Use a smaller ratio."
            )
        counts = replace(data, models=replace(models, held_out=held), fit_max_compute=cut)
        return counts, {"all": float(models.compute[~held].max())}, ()
    rates = data.pass_rate
    has = np.isfinite(rates)
    cuts: dict[str, float] = {}
    skipped = []
    held = np.zeros(len(models.names), dtype=bool)
    kept_buckets = []
    for b, label in enumerate(data.buckets):
        cut = float(models.compute[has[:, b]].max() / ratio)
        fitted = has[:, b] & (models.compute <= cut)
        if np.unique(models.compute[fitted]).size >= MIN_MODELS:
            cuts[label] = float(models.compute[fitted].max())
            kept_buckets.append(b)
            held |= has[:, b] & (models.compute > cut)
        else:
            skipped.append(label)
    if not cuts:
        raise InputError(
            f"{data.source}: with --ratio {ratio:g} no bucket keeps {MIN_MODELS} models of "
            "different compute at or below its largest compute / ratio. Use a smaller ratio."
        )
    cols = np.array(kept_buckets)
    keep_models = has[:, cols].any(axis=1)
    aggregate = replace(
        data,
        models=_model_table(models, keep_models, held),
        buckets=tuple(data.buckets[b] for b in cols),
        pass_rate=rates[np.ix_(keep_models, cols)],
        n_problems=tuple(data.n_problems[b] for b in cols),
        fit_max_compute=max(cuts.values()),
    )
    return aggregate, cuts, tuple(skipped)


def _relabel(old: str, new: str) -> Callable[[str], str | None]:
    """Keep only quantity ``old``, renamed to ``new``."""
    return lambda quantity: new if quantity == old else None


def _quantity_bucket(quantity: str) -> str:
    return quantity[len("neg_log_pass[") : -1] if quantity.startswith("neg_log_pass[") else "all"


def _pass_bayes_cases(
    fit: PassFit,
    cuts: dict[str, float],
    interval: float,
    relabel: Callable[[str], str | None] | None = None,
) -> pd.DataFrame:
    """Score the held-out statistics of a pass fit; ``relabel`` renames or drops quantities."""
    from bayescale.pass_forecast import held_out_model_draws

    entries = held_out_model_draws(fit)
    if isinstance(fit.data, PassAggregate):
        # a model with one bucket's rate: its "pass_rate" is that bucket's rate again
        n_rates = dict(
            zip(fit.data.models.names, np.isfinite(fit.data.pass_rate).sum(axis=1), strict=True)
        )
        entries = [
            e for e in entries if e["quantity"] != "pass_rate" or n_rates[str(e["model"])] > 1
        ]
    kept = []
    for e in entries:
        quantity = str(e["quantity"])
        new = relabel(quantity) if relabel else quantity
        if new is not None:
            kept.append((e, new))
    if not kept:
        empty = np.array([])
        return _with_meta(score_point(empty, empty), [], [], empty, empty)
    draws = np.stack([np.asarray(e["draws"]) for e, _ in kept], axis=1)
    truth = np.array([float(e["observed"]) for e, _ in kept])  # type: ignore[arg-type]
    groups = [_quantity_bucket(q) for _, q in kept]
    cut_all = max(cuts.values())
    return _with_meta(
        score_draws(truth, draws, interval),
        [f"{e['model']}:{q}" for e, q in kept],
        groups,
        np.array([float(e["compute"]) for e, _ in kept]),  # type: ignore[arg-type]
        np.array([cuts.get(g, cut_all) for g in groups]),
    )


def _single_bucket(counts: PassCounts, buckets: Buckets, b: int) -> tuple[PassCounts, Buckets]:
    """The counts of one bucket's problems, as a one-bucket problem set."""
    problems = buckets.kept[buckets.index == b]
    sub = replace(
        counts,
        problems=tuple(counts.problems[j] for j in problems),
        n=counts.n[:, problems],
        k=counts.k[:, problems],
    )
    one = Buckets(
        labels=("1",),
        index=np.zeros(problems.size, dtype=np.int64),
        kept=np.arange(problems.size),
        difficulty=buckets.difficulty[buckets.index == b],
        reference_models=buckets.reference_models,
        rank_correlation=buckets.rank_correlation,
        eligibility=buckets.eligibility,
    )
    return sub, one


def _truth_neg_log_pass(n: np.ndarray, k: np.ndarray) -> float:
    """Observed mean -ln p̂ with p̂ = (k + 1/2)/(n + 1), as bayescale scores it."""
    seen = n > 0
    return float(-np.log((k[seen] + 0.5) / (n[seen] + 1)).mean())


def _pass_lsq_counts(
    counts: PassCounts,
    n_buckets: int,
    exclude_hardest: int,
    cuts: dict[str, float],
    interval: float,
    n_boot: int,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """The report's method and its problem bootstrap on the solved-by-all buckets."""
    buckets = make_buckets(counts, n_buckets, exclude_hardest, eligibility="solved-by-all")
    models = counts.models
    fitted = np.flatnonzero(models.fitted)
    held = np.flatnonzero(models.held_out)
    kept = buckets.kept
    n_fit, k_fit = counts.n[np.ix_(fitted, kept)], counts.k[np.ix_(fitted, kept)]
    neg_log = -np.log(np.where(n_fit > 0, k_fit / np.maximum(n_fit, 1), np.nan))
    point, boot = [], []
    for b, label in enumerate(buckets.labels):
        sel = buckets.index == b
        log_alpha, k = fit_pass_line(models.compute[fitted], np.nanmean(neg_log[:, sel], axis=1))
        targets = models.compute[held]
        truth = np.array(
            [_truth_neg_log_pass(counts.n[m, kept[sel]], counts.k[m, kept[sel]]) for m in held]
        )
        args = (
            [f"{models.names[m]}:neg_log_pass[{label}]" for m in held],
            [label] * held.size,
            targets,
            np.full(held.size, cuts["all"]),
        )
        point.append(
            _with_meta(score_point(truth, predict_pass_line(log_alpha, k, targets)), *args)
        )
        preds = bootstrap_pass_problems(
            models.compute[fitted],
            np.nan_to_num(neg_log[:, sel], nan=0.0),
            targets,
            n_boot,
            seed=seed + b,
        )
        boot.append(_with_meta(score_draws(truth, preds, interval), *args))
    return {
        "report_point_fit": pd.concat(point, ignore_index=True),
        "lsq_bootstrap": pd.concat(boot, ignore_index=True),
    }


def _aggregate_neg_log(data: PassAggregate, b: int) -> np.ndarray:
    size = data.n_problems[b]
    cap = 1 - 0.5 / size if size else 1 - 1e-3
    return np.asarray(-np.log(np.minimum(data.pass_rate[:, b], cap)))


def _pass_lsq_aggregate(
    data: PassAggregate, cuts: dict[str, float], interval: float, n_boot: int, seed: int
) -> dict[str, pd.DataFrame]:
    """Least-squares lines per bucket on the aggregate rates, and a bootstrap over models."""
    models = data.models
    point, boot = [], []
    for b, label in enumerate(data.buckets):
        has = np.isfinite(data.pass_rate[:, b])
        fitted = np.flatnonzero(has & models.fitted)
        held = np.flatnonzero(has & models.held_out)
        if held.size == 0:
            continue
        y = _aggregate_neg_log(data, b)
        log_alpha, k = fit_pass_line(models.compute[fitted], y[fitted])
        targets = models.compute[held]
        truth = -np.log(data.pass_rate[held, b])
        args = (
            [f"{models.names[m]}:neg_log_pass[{label}]" for m in held],
            [label] * held.size,
            targets,
            np.full(held.size, cuts[label]),
        )
        point.append(
            _with_meta(score_point(truth, predict_pass_line(log_alpha, k, targets)), *args)
        )
        preds = bootstrap_pass_rows(
            models.compute[fitted], y[fitted], targets, n_boot, seed=seed + b
        )
        boot.append(_with_meta(score_draws(truth, preds, interval), *args))
    return {
        "report_point_fit": pd.concat(point, ignore_index=True),
        "lsq_bootstrap": pd.concat(boot, ignore_index=True),
    }


def _one_aggregate_bucket(data: PassAggregate, b: int) -> PassAggregate:
    has = np.isfinite(data.pass_rate[:, b])
    return replace(
        data,
        models=_model_table(data.models, has, data.models.held_out),
        buckets=(data.buckets[b],),
        pass_rate=data.pass_rate[has][:, [b]],
        n_problems=(data.n_problems[b],),
    )


def backtest_pass(
    data: PassCounts | PassAggregate,
    ratio: float,
    *,
    n_buckets: int = 6,
    exclude_hardest: int = 0,
    priors: PassPriors | None = None,
    settings: SamplerSettings | None = None,
    interval: float = 0.9,
    baselines: bool = True,
    n_boot: int = N_BOOT,
) -> Backtest:
    """Backtest the pass-rate model at one ratio, with the baselines on the same split.

    Cases are the held-out models' mean ``-ln p`` per bucket (``neg_log_pass[b]``) and, for
    per-problem counts, their mean pass@1 over all problems (``pass_rate``). The report's
    method and its bootstrap score their own solved-by-all buckets (they cannot use problems
    a fitted model never solved); ``separate_bayes`` fits each of bayescale's buckets alone.

    Parameters
    ----------
    data
        Per-problem counts or aggregate rates, loaded without a cut.
    ratio
        Fit on models with compute <= max / ``ratio`` (per bucket for aggregates).
    n_buckets, exclude_hardest
        Difficulty buckets of per-problem counts, made on the fitted models only.
    priors, settings, interval, baselines, n_boot
        As in :func:`backtest_loss`.

    Returns
    -------
    Backtest
    """
    from bayescale.fit import fit_pass

    settings = settings or SamplerSettings(progress=False)
    split, cuts, skipped = pass_split(data, ratio)
    buckets = None
    if isinstance(split, PassCounts):
        buckets = make_buckets(split, n_buckets, exclude_hardest)
    start = time.perf_counter()
    fit = fit_pass(split, buckets, priors, settings, allow_unconverged=True)
    cases = _pass_bayes_cases(fit, cuts, interval)
    timing = {"bayescale": time.perf_counter() - start}
    diagnostics = {"bayescale": _diag(fit)}
    scored: dict[str, pd.DataFrame] = {}
    if baselines:
        start = time.perf_counter()
        if isinstance(split, PassCounts):
            try:
                scored = _pass_lsq_counts(
                    split, n_buckets, exclude_hardest, cuts, interval, n_boot, settings.seed
                )
            except InputError as err:
                # the report's rule can leave too few problems for the buckets: say so, go on
                log.warning("report_point_fit and lsq_bootstrap left out: %s", err)
        else:
            scored = _pass_lsq_aggregate(split, cuts, interval, n_boot, settings.seed)
        timing["least_squares"] = time.perf_counter() - start
        start = time.perf_counter()
        parts, diags = [], []
        labels = buckets.labels if buckets is not None else getattr(split, "buckets", ())
        for b, label in enumerate(labels):
            if isinstance(split, PassCounts):
                assert buckets is not None
                sub, one = _single_bucket(split, buckets, b)
                sub_fit = fit_pass(sub, one, priors, settings, allow_unconverged=True)
                old = "neg_log_pass[1]"
            else:
                sub_fit = fit_pass(
                    _one_aggregate_bucket(split, b), None, priors, settings, allow_unconverged=True
                )
                old = f"neg_log_pass[{label}]"
            new = f"neg_log_pass[{label}]"
            parts.append(_pass_bayes_cases(sub_fit, cuts, interval, _relabel(old, new)))
            diags.append(_diag(sub_fit))
        scored["separate_bayes"] = pd.concat(parts, ignore_index=True)
        diagnostics["separate_bayes"] = _merge_diag(diags)
        timing["separate_bayes"] = time.perf_counter() - start
    return Backtest(
        kind="pass",
        ratio=float(ratio),
        source=data.source,
        interval=interval,
        cases=cases,
        baselines=scored,
        fit_max_compute=cuts,
        skipped=skipped,
        diagnostics=diagnostics,
        timing_s=timing,
    )


# ----------------------------------------------------------------------------- entry point


def load_for_backtest(
    kind: Kind,
    source: str | Path | pd.DataFrame,
    *,
    loss_columns: LossColumns | None = None,
    pass_columns: PassColumns | None = None,
) -> LossData | PassCounts | PassAggregate:
    """Read and validate a table for :func:`run_backtests` (no cut: every run is kept)."""
    if kind == "loss":
        return load_loss_runs(source, loss_columns)
    return load_pass_table(source, pass_columns)


def run_backtests(
    data: LossData | PassCounts | PassAggregate,
    ratios: list[float] | tuple[float, ...],
    **kwargs: Any,
) -> list[Backtest]:
    """Backtest ``data`` at each ratio; keyword arguments go to the loss or pass backtest."""
    if not ratios:
        raise InputError("no --ratio given; e.g. --ratio 10 fits on compute <= max/10.")
    if isinstance(data, LossData):
        log.info("loss backtest at ratios %s", ", ".join(f"{r:g}" for r in ratios))
        return backtest_loss_ratios(data, list(ratios), **kwargs)
    out = []
    for ratio in ratios:
        log.info("backtest at ratio %g", ratio)
        out.append(backtest_pass(data, ratio, **kwargs))
    return out

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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.backtest_report import Backtest, Kind
from bayescale.backtest_scoring import score_draws, score_point
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
    from bayescale.fit import LossFit, PassFit

log = logging.getLogger("bayescale")


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

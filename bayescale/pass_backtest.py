"""The pass-rate law's backtest: cut the models at max C / R, fit, score the held-out models.

The pass entry's ``backtest`` in :mod:`bayescale.registry`; the method and the scores are in
:mod:`bayescale.backtest`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.backtest_report import Backtest, fit_diagnostics, merge_diagnostics, split_backtest
from bayescale.backtest_scoring import check_ratio, score_draws, score_point, with_meta
from bayescale.buckets import Buckets, make_buckets
from bayescale.errors import InputError
from bayescale.pass_data import (
    MIN_MODELS,
    ModelTable,
    PassAggregate,
    PassCounts,
)
from bayescale.point_fits import (
    N_BOOT,
    bootstrap_pass_problems,
    bootstrap_pass_rows,
    fit_pass_line,
    predict_pass_line,
)
from bayescale.priors import PassPriors
from bayescale.sampling import SamplerSettings
from bayescale.seeds import key_seed

if TYPE_CHECKING:
    from bayescale.pass_fit import PassFit

log = logging.getLogger("bayescale")


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
        return with_meta(score_point(empty, empty), [], [], empty, empty)
    draws = np.stack([np.asarray(e["draws"]) for e, _ in kept], axis=1)
    truth = np.array([float(e["observed"]) for e, _ in kept])  # type: ignore[arg-type]
    groups = [_quantity_bucket(q) for _, q in kept]
    cut_all = max(cuts.values())
    return with_meta(
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


def _line_cases(
    models: ModelTable,
    held: np.ndarray,
    label: str,
    cut: float,
    truth: np.ndarray,
    line: np.ndarray,
    preds: np.ndarray,
    interval: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One bucket's held-out models scored for the report's line and its bootstrap."""
    meta = (
        [f"{models.names[m]}:neg_log_pass[{label}]" for m in held],
        [label] * held.size,
        models.compute[held],
        np.full(held.size, cut),
    )
    return (
        with_meta(score_point(truth, line), *meta),
        with_meta(score_draws(truth, preds, interval), *meta),
    )


def _line_baselines(scored: list[tuple[pd.DataFrame, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The report's point fit and its bootstrap, every bucket's cases together."""
    return {
        "report_point_fit": pd.concat([point for point, _ in scored], ignore_index=True),
        "lsq_bootstrap": pd.concat([boot for _, boot in scored], ignore_index=True),
    }


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
    scored: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    for b, label in enumerate(buckets.labels):
        sel = buckets.index == b
        log_alpha, k = fit_pass_line(models.compute[fitted], np.nanmean(neg_log[:, sel], axis=1))
        targets = models.compute[held]
        truth = np.array(
            [_truth_neg_log_pass(counts.n[m, kept[sel]], counts.k[m, kept[sel]]) for m in held]
        )
        preds = bootstrap_pass_problems(
            models.compute[fitted],
            np.nan_to_num(neg_log[:, sel], nan=0.0),
            targets,
            n_boot,
            seed=key_seed(seed, "lsq_bootstrap", label),
        )
        line = predict_pass_line(log_alpha, k, targets)
        scored.append(_line_cases(models, held, label, cuts["all"], truth, line, preds, interval))
    return _line_baselines(scored)


def _aggregate_neg_log(data: PassAggregate, b: int) -> np.ndarray:
    size = data.n_problems[b]
    cap = 1 - 0.5 / size if size else 1 - 1e-3
    return np.asarray(-np.log(np.minimum(data.pass_rate[:, b], cap)))


def _pass_lsq_aggregate(
    data: PassAggregate, cuts: dict[str, float], interval: float, n_boot: int, seed: int
) -> dict[str, pd.DataFrame]:
    """Least-squares lines per bucket on the aggregate rates, and a bootstrap over models."""
    models = data.models
    scored: list[tuple[pd.DataFrame, pd.DataFrame]] = []
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
        seed_b = key_seed(seed, "lsq_bootstrap", label)
        preds = bootstrap_pass_rows(models.compute[fitted], y[fitted], targets, n_boot, seed=seed_b)
        line = predict_pass_line(log_alpha, k, targets)
        scored.append(_line_cases(models, held, label, cuts[label], truth, line, preds, interval))
    return _line_baselines(scored)


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
    n_buckets: int | None = None,
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
    from bayescale.pass_fit import fit_pass

    settings = settings or SamplerSettings(progress=False)
    split, cuts, skipped = pass_split(data, ratio)
    buckets = None
    if isinstance(split, PassCounts):
        buckets = make_buckets(split, n_buckets, exclude_hardest)
    start = time.perf_counter()
    fit = fit_pass(split, buckets, priors, settings, allow_unconverged=True)
    cases = _pass_bayes_cases(fit, cuts, interval)
    bayescale = (fit, cases, time.perf_counter() - start)
    timing: dict[str, float] = {}
    diagnostics: dict[str, dict[str, Any]] = {}
    scored: dict[str, pd.DataFrame] = {}
    if baselines:
        start = time.perf_counter()
        if isinstance(split, PassCounts):
            assert buckets is not None
            try:  # as many buckets as bayescale's, on the problems the report's rule keeps
                scored = _pass_lsq_counts(
                    split,
                    len(buckets.labels),
                    exclude_hardest,
                    cuts,
                    interval,
                    n_boot,
                    settings.seed,
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
            diags.append(fit_diagnostics(sub_fit))
        scored["separate_bayes"] = pd.concat(parts, ignore_index=True)
        diagnostics["separate_bayes"] = merge_diagnostics(diags)
        timing["separate_bayes"] = time.perf_counter() - start
    split_scores = (scored, diagnostics, timing)
    return split_backtest(
        "pass", ratio, data.source, interval, (cuts, skipped), bayescale, split_scores
    )


def backtest_pass_ratios(
    data: PassCounts | PassAggregate, ratios: list[float] | tuple[float, ...], **kwargs: Any
) -> list[Backtest]:
    """:func:`backtest_pass` at each ratio."""
    out = []
    for ratio in ratios:
        log.info("backtest at ratio %g", ratio)
        out.append(backtest_pass(data, ratio, **kwargs))
    return out

"""The loss law's backtest: split each group at max / R, fit all splits in batches, score.

The loss entry's ``backtest`` in :mod:`bayescale.registry`; the method and the scores are in
:mod:`bayescale.backtest`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.backtest_report import (
    SEPARATE_WITHOUT_RUN_EFFECT,
    Backtest,
    fit_diagnostics,
    merge_diagnostics,
    split_backtest,
)
from bayescale.backtest_scoring import check_ratio, score_draws, score_point, with_meta
from bayescale.data import MIN_COMPUTES_PER_GROUP, LossData
from bayescale.errors import InputError
from bayescale.point_fits import (
    N_BOOT,
    bootstrap_loss,
    fit_loss_lsq,
)
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings
from bayescale.seeds import key_seed

if TYPE_CHECKING:
    from bayescale.loss_fit import LossFit

log = logging.getLogger("bayescale")


def loss_split(data: LossData, ratio: float) -> tuple[LossData, dict[str, float], tuple[str, ...]]:
    """Hold out, per group, the runs with compute > max / ``ratio``.

    Returns
    -------
    split, fit_max, skipped
        The runs of the groups that keep >= ``MIN_COMPUTES_PER_GROUP`` distinct fitted
        computes, with ``held_out`` set; each such group's largest fitted compute; the groups
        left out.

    Raises
    ------
    InputError
        When no group keeps ``MIN_COMPUTES_PER_GROUP`` distinct computes at or below its cut.
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
        if np.unique(data.compute[fitted]).size >= MIN_COMPUTES_PER_GROUP:
            cuts[g] = float(data.compute[fitted].max())
            keep |= sel
            held |= sel & (data.compute > cut)
        else:
            skipped.append(g)
    if not cuts:
        raise InputError(
            f"{data.source}: with --ratio {ratio:g} no group has runs at "
            f"{MIN_COMPUTES_PER_GROUP} distinct computes at or below its largest compute / ratio; "
            f"the loss law needs {MIN_COMPUTES_PER_GROUP}. Use a smaller ratio."
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
    return with_meta(
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
    for g in data.groups:
        fitted = (data.group == g) & ~data.held_out
        rows = np.flatnonzero((data.group == g) & data.held_out)
        targets = data.compute[rows]
        meta = _loss_case_meta(data, rows, cuts)
        fit = fit_loss_lsq(data.compute[fitted], data.loss[fitted])
        args = (meta["case"], meta["group"], meta["target"], meta["cut"])
        point.append(with_meta(score_point(data.loss[rows], fit.predict(targets)), *args))
        preds = bootstrap_loss(
            data.compute[fitted],
            data.loss[fitted],
            targets,
            n_boot,
            seed=key_seed(seed, "lsq_bootstrap", g),
        )
        boot.append(with_meta(score_draws(data.loss[rows], preds, interval), *args))
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
    (:func:`bayescale.loss_fit.fit_loss_batch`), and every group's no-pooling fit one of another,
    so the whole backtest compiles about twice instead of once per fit. Batched fits run at
    ``target_accept`` of at least 0.99 (the loss model's default), and those that diverge
    once more, together, at 0.995 (see :func:`~bayescale.loss_fit.fit_loss_batch`); the target
    is recorded in each fit's diagnostics. Each fit is
    seeded from ``settings.seed``, its method, its ratio and its group, not from its place in
    a batch. The ``bayescale`` and ``separate_bayes`` times of each ratio are its share of its
    batches.
    """
    from bayescale.batch import dataset_seed
    from bayescale.loss_fit import fit_loss_batch

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
            # one group alone has no run shared with another: no run effect
            replace(priors, shared_runs=False) if priors else None,
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
        timing: dict[str, float] = {}
        diagnostics: dict[str, dict[str, Any]] = {}
        scored: dict[str, pd.DataFrame] = {}
        if baselines:
            start = time.perf_counter()
            scored = _loss_lsq_cases(split, cuts, interval, n_boot, settings.seed)
            timing["least_squares"] = time.perf_counter() - start
            if singles:
                parts = [_loss_bayes_cases(one, cuts, interval) for one in singles]
                scored["separate_bayes"] = pd.concat(parts, ignore_index=True)
                diagnostics["separate_bayes"] = merge_diagnostics(
                    [fit_diagnostics(one) for one in singles]
                )
                timing["separate_bayes"] = separate_s
            else:  # one group: nothing to pool, the separate fit is bayescale's own
                scored["separate_bayes"] = cases.copy()
                diagnostics["separate_bayes"] = merge_diagnostics([fit_diagnostics(fit)])
                timing["separate_bayes"] = 0.0
        record = split_backtest(
            "loss",
            ratio,
            data.source,
            interval,
            (cuts, skipped),
            (fit, cases, pooled_s),
            (scored, diagnostics, timing),
        )
        if priors is not None and priors.shared_runs and "separate_bayes" in scored:
            record = replace(record, descriptions={"separate_bayes": SEPARATE_WITHOUT_RUN_EFFECT})
        out.append(record)
    return out

"""The L(N, D) entry's backtest: leave the largest runs out, forecast them at their (N, D).

For a ratio R the table is cut at its largest compute / R (:func:`bayescale.nd.nd_split`, one
cut for every group, so the groups keep one design); bayescale's fit on the rest forecasts
each held-out run at its own N and D, scored as every backtest is
(:mod:`bayescale.backtest_scoring`). No baseline is run here: the point fit of Chinchilla's
Approach 3 and its bootstrap are compared in ``benchmarks/nd_backtest.py`` (docs/nd.md).
"""

from __future__ import annotations

import time

import numpy as np

from bayescale.backtest_report import Backtest, fit_diagnostics
from bayescale.backtest_scoring import ratio_fits, score_draws, with_meta
from bayescale.errors import InputError
from bayescale.nd import NDData, NDPriors, fit_nd, nd_loss_draws, nd_split
from bayescale.nd_data import unread_compute_warnings
from bayescale.sampling import SamplerSettings
from bayescale.targets import logged


def backtest_nd_ratios(
    data: NDData,
    ratios: list[float],
    *,
    settings: SamplerSettings | None = None,
    priors: NDPriors | None = None,
    interval: float = 0.9,
) -> list[Backtest]:
    """One scored split per ratio (the registry's ``backtest``); nd has no baselines.

    Raises
    ------
    InputError
        On a ratio <= 1, or a split that leaves a group too few runs to fit.
    """
    logged(unread_compute_warnings(data))  # the cut is in 6*N*D, not the unread column
    out = []
    for ratio, fit_settings in ratio_fits(ratios, settings, "nd"):
        cut = float(data.compute.max()) / ratio
        split = nd_split(data, cut)
        held = np.flatnonzero(split.held_out)
        if held.size == 0:
            raise InputError(f"ratio {ratio:g} holds out no run (largest compute / {ratio:g}).")
        start = time.perf_counter()
        fit = fit_nd(split, priors, fit_settings, allow_unconverged=True)
        forecast = nd_loss_draws(fit, data.params[held], data.tokens[held])
        gi = split.group_index[held]
        draws = forecast["loss"].values[:, gi, np.arange(held.size)]
        scored = score_draws(data.loss[held], draws, interval)
        groups = [str(g) for g in data.group[held]]
        fitted_max = {
            g: float(split.compute[split.fitted & (split.group == g)].max()) for g in split.groups
        }
        cases = with_meta(
            scored,
            [str(n) for n in data.name[held]],
            groups,
            data.compute[held],
            np.array([fitted_max[g] for g in groups]),
        )
        out.append(
            Backtest(
                kind="nd",
                ratio=ratio,
                source=data.source,
                interval=interval,
                cases=cases,
                baselines={},
                fit_max_compute=fitted_max,
                diagnostics={"bayescale": fit_diagnostics(fit)},
                timing_s={"bayescale": time.perf_counter() - start},
            )
        )
    return out

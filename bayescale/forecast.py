r"""Forecasts: posterior predictive draws of a new run at target compute.

A forecast is a set of draws, not a number. For every posterior draw *s* and group *g* the
curve value at compute *C* is :func:`bayescale.laws.loss_law_pivot`; a *new run* adds the
run-to-run scatter of the likelihood, :math:`\ln L_{new} = \ln L_g(C) + \sigma\varepsilon`
(plus a new run effect :math:`\tau z`, shared by the groups, with ``shared_runs``).
Intervals are central at the requested probability; means are a column, never the answer.
The scatter draws come from the fit's forecast stream (:mod:`bayescale.seeds`), so the same fit
and seed give the same numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.data import MIN_COMPUTES_PER_GROUP, LossData
from bayescale.display import percent
from bayescale.draws import (
    SCORE_COLUMNS,
    Forecast,
    blocks,
    scatter_noise,
    shown_rows,
    summarise,
    target_rows,
)
from bayescale.errors import InputError, did_you_mean, expect
from bayescale.laws import loss_law_pivot
from bayescale.loss_fit import LossFit, fit_loss
from bayescale.priors import LossPriors
from bayescale.run_effects import fitted_runs, run_effects_of, run_keys
from bayescale.seeds import forecast_stream, key_seed
from bayescale.targets import (
    check_interval,
    check_targets,
    label_twin_warnings,
    log_units_warning,
    logged,
    repeated_row_warnings,
    target_warnings,
    trend_against_law,
)

if TYPE_CHECKING:
    from bayescale.sampling import SamplerSettings

log = logging.getLogger("bayescale")


def loss_target_warnings(
    data: LossData, targets: np.ndarray, priors: LossPriors, *, allow_backcast: bool = False
) -> list[str]:
    """:func:`target_warnings` of a loss table (per group, fitted runs only)."""
    fitted = {
        (g if len(data.groups) > 1 else ""): data.compute[data.fitted & (data.group == g)]
        for g in data.groups
    }
    rests_on = (
        "the law-discrepancy prior (LossPriors.discrepancy_exponent_sd = "
        f"{priors.discrepancy_exponent_sd:g}) and the law's form"
        if priors.discrepancy_exponent_sd > 0
        else "the law's form alone (this fit has no law-discrepancy term)"
    )
    units = log_units_warning(data.compute[data.fitted], data.columns.compute)
    return (
        units
        + label_twin_warnings(data.groups, "group")
        + rising_loss_warnings(data)
        + repeated_run_warnings(data)
        + target_warnings(targets, fitted, rests_on=rests_on, allow_backcast=allow_backcast)
        + _unused_run_effect_warnings(priors)
    )


def _unused_run_effect_warnings(priors: LossPriors) -> list[str]:
    """A warning when ``run_effect_sd`` is set away from its default without ``shared_runs``.

    The run effect exists only with ``shared_runs``: the prior's scale alone changes nothing,
    and a spec that sets it was most likely meant to turn the effect on.
    """
    if priors.shared_runs or priors.run_effect_sd == LossPriors().run_effect_sd:
        return []
    return [
        f"run_effect_sd = {priors.run_effect_sd:g} is not used: the run effect it scales exists "
        "only with shared runs (--shared-runs, a spec's [priors] shared_runs = true, "
        "LossPriors(shared_runs=True))."
    ]


def rising_loss_warnings(data: LossData) -> list[str]:
    """A warning for each group whose fitted losses rise with compute, or are all one value.

    The first is most often an accuracy or a score in the loss column, the second a column
    filled with a constant.
    """
    out = []
    for g in data.groups:
        rows = data.fitted & (data.group == g)
        where = f"group '{g}': " if len(data.groups) > 1 else ""
        if np.unique(data.compute[rows]).size >= 2 and np.unique(data.loss[rows]).size == 1:
            out.append(
                f"{where}every fitted run has the same loss ({data.loss[rows][0]:g}), so the "
                "table shows no change with compute, and the law L(C) = a*C^b + c only falls: "
                "the forecast falls below that value by the priors alone. Check that column "
                f"'{data.columns.loss}' holds each run's own final loss."
            )
            continue
        slope = trend_against_law(data.compute[rows], data.loss[rows], rising=True)
        if slope is not None:
            out.append(
                f"{where}the loss rises with compute over the fitted runs ({slope:+.3g} per "
                "decade), but the law L(C) = a*C^b + c only falls toward its floor c: the "
                "forecast cannot follow these data. Check that column "
                f"'{data.columns.loss}' holds a loss (lower is better), not an accuracy or a "
                "score."
            )
    return out


def repeated_run_warnings(data: LossData) -> list[str]:
    """A warning for each fitted run that repeats another's group, compute and loss exactly."""
    values = {"compute": data.compute, "loss": data.loss}
    return repeated_row_warnings(data.name, data.group, data.fitted, values)


#: A fitted run is named off its curve when the fit without it (leave-one-out) puts a loss as
#: far out as its own below this probability, on either side: with 50 runs that follow the
#: law, a false warning about 1 time in 100. Tables of more runs use a smaller one
#: (:func:`off_curve_tail`).
OFF_CURVE_TAIL = 1e-4

#: Up to this many fitted runs the off-curve tail is :data:`OFF_CURVE_TAIL`; beyond, it
#: shrinks in proportion, so a table on the law gets a false warning about 1 time in 100
#: whatever its size (1,000 runs at 1e-4 would get one 1 time in 5, 10,000 almost always).
OFF_CURVE_RUNS = 50


def off_curve_tail(n_fitted: int) -> float:
    """The tail below which one of ``n_fitted`` runs is named off its curve.

    :data:`OFF_CURVE_TAIL` up to :data:`OFF_CURVE_RUNS` runs, then
    ``OFF_CURVE_TAIL * OFF_CURVE_RUNS / n_fitted`` (a Bonferroni bound: the chance that any
    run on the law is named stays about 2 x 50 x 1e-4 = 1%).
    """
    return OFF_CURVE_TAIL * min(1.0, OFF_CURVE_RUNS / max(n_fitted, 1))


#: Refit without a group's largest run whose importance-weighted leave-one-out tail is below
#: this but not below :func:`off_curve_tail`, when its weights collapsed
#: (:data:`LOO_WEIGHTS_SHARE`). On 5- and 7-run ladders whose largest run ended 12% high,
#: importance sampling put that run's tail at 0.002-0.02 where refits put it at 1e-13 to
#: 6e-4; with every run on its curve, at 0.055-0.49 (benchmarks/results/off_curve_loo.json).
LOO_SUSPECT_TAIL = 0.05

#: Importance weights whose effective sample size is below this share of the draws are taken
#: as collapsed: the fit without the run differs too much from the fit with it for its draws
#: to stand in for the other's.
LOO_WEIGHTS_SHARE = 0.1

#: At most this many refits a fit (:func:`with_exact_loo`), the suspects farthest out first.
LOO_REFITS = 2


#: Per-run arrays over the posterior draws (leave-one-out weights, the predictive check's and
#: the held-out scores' draws) are made a block of runs at a time, at most this many values
#: (draws x runs) in one array: 4,000 draws x 10,000 runs would be 320 MB an array, several
#: at once. Every statistic is one run's own, so the blocks give the same numbers to the last
#: bit (:func:`run_blocks`).
BLOCK_VALUES = 2_000_000


def run_blocks(runs: int, draws: int, block_values: int | None = None) -> list[slice]:
    """Slices of ``range(runs)`` of about ``block_values // draws`` runs each, in order.

    ``block_values`` defaults to :data:`BLOCK_VALUES`; the blocks are
    :func:`bayescale.draws.blocks`, at least two runs each.
    """
    return blocks(runs, (BLOCK_VALUES if block_values is None else block_values) // max(draws, 1))


def _below(priors: LossPriors, z: np.ndarray) -> np.ndarray:
    """P(standardised scatter <= z) under the likelihood of ``priors``."""
    from scipy.special import ndtr, stdtr

    if priors.likelihood == "student_t":
        return np.asarray(stdtr(priors.student_t_nu, z))
    return np.asarray(ndtr(z))


def _run_z(
    fit: LossFit, rows: np.ndarray, curve: np.ndarray, sigma: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The runs' standardised distances from ``curve`` (draws x runs), and their scales."""
    data = fit.data
    scale = (fit.draws("sigma") if sigma is None else sigma)[:, None]
    if data.loss_sd is not None:  # a run's own standard error adds to the scatter (the model's)
        scale = np.sqrt(scale**2 + (data.loss_sd[rows] / data.loss[rows])[None, :] ** 2)
    return (np.log(data.loss[rows])[None, :] - np.log(curve)) / scale, scale


def row_run_effects(fit: LossFit, rows: np.ndarray) -> np.ndarray | float:
    """``exp`` of the run effects of ``rows`` per draw (``LossPriors.shared_runs``), else 1.

    A row of a fitted run takes its run's posterior effect (a run's other groups inform it: a
    row left out is judged against its run as the other eval sets saw it); a row of another
    run a new run's effect, from stream ``loss.run_effect``.
    """
    if not fit.priors.shared_runs:
        return 1.0
    keys, _ = run_keys(fit.data)
    effects = run_effects_of(
        fitted_runs(fit.data),
        keys[rows],
        fit.draws("run_effect"),
        fit.draws("tau_run"),
        forecast_stream(fit, "loss.run_effect"),
    )
    return np.exp(effects)


def importance_loo(fit: LossFit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each fitted run's leave-one-out P(a new run's loss <= its own), by importance sampling.

    The leave-one-out predictive is the posterior importance-weighted by 1 / p(run | draw),
    the weights truncated at mean x sqrt(draws) (Ionides 2008) so that one draw cannot carry
    it. Returns the fitted rows, the probabilities and the effective sample size of each
    run's (untruncated) weights: when it is small the fit without the run differs too much
    from the fit with it, and the probability is pulled toward the middle. Computed a block of
    runs at a time (:func:`run_blocks`).
    """
    data = fit.data
    rows = np.flatnonzero(data.fitted)
    params = (fit.draws("level"), fit.draws("reducible"), fit.draws("exponent"))
    sigma = fit.draws("sigma")
    below = np.empty(rows.size)
    ess = np.empty(rows.size)
    for block in run_blocks(rows.size, sigma.shape[0]):
        below[block], ess[block] = _importance_block(fit, rows[block], params, sigma)
    return rows, below, ess


def _importance_block(
    fit: LossFit,
    rows: np.ndarray,
    params: tuple[np.ndarray, np.ndarray, np.ndarray],
    sigma: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`importance_loo`'s probabilities and effective sample sizes of ``rows``."""
    data = fit.data
    g = data.group_index[rows]
    x = np.log(data.compute[rows]) - fit.log_pivot
    level, reducible, exponent = params
    curve = loss_law_pivot(x[None, :], level[:, g], reducible[:, g], exponent[:, g])
    z, scale = _run_z(fit, rows, curve * row_run_effects(fit, rows), sigma)
    if fit.priors.likelihood == "student_t":
        nu = fit.priors.student_t_nu
        log_density = -(nu + 1) / 2 * np.log1p(z**2 / nu) - np.log(scale)
    else:
        log_density = -(z**2) / 2 - np.log(scale)
    w = np.exp(log_density.min(axis=0) - log_density)  # 1 / p(run | draw), largest 1
    ess = w.sum(axis=0) ** 2 / (w**2).sum(axis=0)
    w = np.minimum(w, w.mean(axis=0) * np.sqrt(w.shape[0]))
    return (w * _below(fit.priors, z)).sum(axis=0) / w.sum(axis=0), ess


def loo_suspects(fit: LossFit, limit: int = LOO_REFITS) -> list[int]:
    """Runs whose leave-one-out tail importance sampling cannot tell: refit without them.

    The largest fitted run of a group (the one the forecast leans on most, and the one whose
    weights collapse first: a run that diverged or was stopped early is most often the
    last), with a tail below :data:`LOO_SUSPECT_TAIL` (and not already below
    :func:`off_curve_tail`), weights collapsed (:data:`LOO_WEIGHTS_SHARE`), and at least
    three other fitted computes in its group; the ``limit`` farthest out.
    """
    data = fit.data
    rows, below, ess = importance_loo(fit)
    tail = np.minimum(below, 1.0 - below)
    named = off_curve_tail(rows.size)
    draws = fit.draws("sigma").shape[0]
    suspects = []
    for g in range(len(data.groups)):
        mine = data.group_index[rows] == g
        if np.unique(data.compute[rows[mine]]).size <= MIN_COMPUTES_PER_GROUP:
            continue  # without the run, too few computes left for the law
        last = np.flatnonzero(mine)[np.argmax(data.compute[rows[mine]])]
        if named <= tail[last] < LOO_SUSPECT_TAIL and ess[last] < LOO_WEIGHTS_SHARE * draws:
            suspects.append(last)
    suspects.sort(key=lambda i: tail[i])
    return [int(rows[i]) for i in suspects[:limit]]


def held_out_below(fit: LossFit, row: int) -> float:
    """P(a new run's loss <= that of run ``row``) under ``fit``, a fit that held it out.

    The forecast at the run's compute (with the law discrepancy beyond the fit's largest
    fitted run of its group, as any forecast), averaged over the posterior draws.
    """
    data = fit.data
    group = data.groups[data.group_index[row]]
    drawn = loss_draws(fit, data.compute[row : row + 1], groups=[group])["curve"].values
    curve = drawn[:, 0, :] * row_run_effects(fit, np.array([row]))
    z, _ = _run_z(fit, np.array([row]), curve)
    return float(_below(fit.priors, z).mean())


def _one_run(data: LossData, priors: LossPriors, settings: SamplerSettings) -> LossFit:
    """A refit of :func:`with_exact_loo`: one sampling run, no convergence ladder, not gated."""
    return fit_loss(data, priors, settings, allow_unconverged=True, ladder_steps=0)


def with_exact_loo(
    fit: LossFit,
    limit: int = LOO_REFITS,
    refit: Callable[[LossData, LossPriors, SamplerSettings], LossFit] | None = None,
) -> LossFit:
    """``fit`` with :attr:`~bayescale.loss_fit.LossFit.exact_loo` of its :func:`loo_suspects`.

    Each suspect (at most ``limit``) is held out of a refit: by default one sampling run
    (:func:`~bayescale.loss_fit.fit_loss` with no convergence ladder) with the fit's priors and
    settings and the seed of stream ``loo/ROW``; :func:`held_out_below` of the refit gives its
    probability. A refit that fails the diagnostics gate is not used: the importance-sampled
    probability stands for that run. A fit that failed the gate is returned as it is. The
    refits' seconds are added to ``timing_s["total"]`` and kept as ``timing_s["loo"]``.
    :func:`bayescale.pipeline.run_loss` (the command, specs and suites) calls this.

    Returns
    -------
    LossFit
        A copy of ``fit`` with ``exact_loo`` for its suspects (``fit`` itself when it failed
        the gate).
    """
    suspects = loo_suspects(fit, limit) if limit > 0 and fit.diagnostics.ok else []
    if not suspects:
        return fit
    data = fit.data
    log.info(
        "fitting again without %s %s, to see how far off the curve of the others it lies",
        "run" if len(suspects) == 1 else "each of runs",
        ", ".join(str(data.name[row]) for row in suspects),
    )
    start = time.perf_counter()
    exact = dict(fit.exact_loo)
    for row in suspects:
        held = data.held_out.copy()
        held[row] = True
        if fit.priors.shared_runs and fitted_runs(replace(data, held_out=held)).shared == 0:
            continue  # without the row no run is shared: the importance-sampled tail stands
        settings = replace(fit.settings, seed=key_seed(fit.settings.seed, "loo", row))
        without = (refit or _one_run)(replace(data, held_out=held), fit.priors, settings)
        if without.diagnostics.ok:
            exact[row] = held_out_below(without, row)
    seconds = time.perf_counter() - start
    timing = fit.timing_s | {"total": fit.timing_s.get("total", 0.0) + seconds, "loo": seconds}
    return replace(fit, exact_loo=exact, loo_below=None, timing_s=timing)


def loo_below(fit: LossFit) -> dict[int, float]:
    """Each fitted run's leave-one-out P(a new run's loss <= its own), by row.

    The refit's where the fit has one (:attr:`~bayescale.loss_fit.LossFit.exact_loo`), else
    importance-sampled (:func:`importance_loo`); a saved fit's own
    (:attr:`~bayescale.loss_fit.LossFit.loo_below`) when it has them.
    """
    if fit.loo_below is not None:
        return fit.loo_below
    rows, below, _ = importance_loo(fit)
    return {int(r): fit.exact_loo.get(int(r), float(p)) for r, p in zip(rows, below, strict=True)}


def off_curve_warnings(fit: LossFit) -> list[str]:
    """A warning for each fitted run far off the curve that the fit without it draws.

    The run's leave-one-out probability (:func:`loo_below`) gives its odds. A run that
    diverged, a mislabelled row or a different setup pulls the curve and the scatter toward
    it, which the fit with it in cannot show.
    """
    data = fit.data
    below = loo_below(fit)
    named = off_curve_tail(len(below))
    out = []
    for i, p in below.items():
        tail = min(p, 1.0 - p)
        if tail >= named:
            continue
        run = data.group_index[i]
        where = f" of group '{data.groups[run]}'" if len(data.groups) > 1 else ""
        side = "high" if p > 0.5 else "low"
        remedy = (
            "" if fit.priors.likelihood == "student_t" else ", or fit with --likelihood student_t"
        )
        out.append(
            f"run {data.name[i]}{where} (compute {data.compute[i]:.3g}, loss {data.loss[i]:.4g}) "
            f"sits far off the curve of the other runs: the fit without it puts a loss this "
            f"{side} at {_odds(tail)}. A run that diverged, a "
            f"mislabelled row or a different setup pulls the forecast toward it; check it and "
            f"remove it{remedy}."
        )
    return out


#: Groups are named as scored on the same runs when their residuals from the fitted curves,
#: at the computes they share, correlate by at least this much (the mean over pairs of
#: groups, by Fisher's z) ...
SHARED_RUN_CORRELATION = 0.5

#: ... and that mean is this many standard errors above 0 (each pair's shared computes less
#: 3, counted once for the group with the most pairs, not once per pair: pairs overlap). A
#: scale, not a calibrated test: each group's curve takes up about 3 of its residuals'
#: freedoms, so with few shared computes r spreads wider than that (from -0.99 to 0.89 for
#: 2 groups at 4 computes); the false-warning rate is measured instead, with the correlation
#: floor: ``benchmarks/shared_runs.py`` (results/shared_runs.json), 0 of 30 tables.
SHARED_RUN_Z = 2.5

#: Draws the residuals are taken over (evenly thinned): medians need no more.
SHARED_RUN_DRAWS = 256


def shared_run_correlation(fit: LossFit) -> tuple[float, float, int] | None:
    """How much the groups' residuals correlate at the computes they share.

    A run's residual is the median over draws of its log loss less its group's curve; runs
    of one group at one compute are averaged. Returns the mean correlation over pairs of
    groups sharing at least 4 computes (by Fisher's z, weighted by shared computes less 3),
    its z score (:data:`SHARED_RUN_Z`) and the pairs, or ``None`` with no such pair.
    """
    data = fit.data
    if len(data.groups) < 2:
        return None
    rows = np.flatnonzero(data.fitted)
    g = data.group_index[rows]
    keep = np.linspace(0, fit.draws("level").shape[0] - 1, SHARED_RUN_DRAWS).astype(int)
    curve = loss_law_pivot(
        (np.log(data.compute[rows]) - fit.log_pivot)[None, :],
        *(fit.draws(name)[keep][:, g] for name in ("level", "reducible", "exponent")),
    )
    residual = np.median(np.log(data.loss[rows])[None, :] - np.log(curve), axis=0)
    key = np.round(np.log10(data.compute[rows]), 6)  # one run's compute, typed alike
    cells, cell = np.unique(np.column_stack([g, key]), axis=0, return_inverse=True)
    mean = np.bincount(cell, residual) / np.bincount(cell)  # a group's runs at one compute
    by_group = [
        dict(zip(cells[cells[:, 0] == i, 1].tolist(), mean[cells[:, 0] == i].tolist(), strict=True))
        for i in range(len(data.groups))
    ]
    pairs, weight, degree = [], [], np.zeros(len(by_group))
    for i in range(len(by_group)):
        for j in range(i + 1, len(by_group)):
            shared = sorted(by_group[i].keys() & by_group[j].keys())
            a = np.array([by_group[i][k] for k in shared])
            b = np.array([by_group[j][k] for k in shared])
            if len(shared) < 4 or a.std() == 0 or b.std() == 0:
                continue
            r = float(np.clip(np.corrcoef(a, b)[0, 1], -0.999, 0.999))
            pairs.append(np.arctanh(r))
            weight.append(len(shared) - 3)
            degree[[i, j]] += 1
    if not pairs:
        return None
    z = float(np.average(pairs, weights=weight))
    return float(np.tanh(z)), z * np.sqrt(sum(weight) / max(degree.max(), 1)), len(pairs)


def shared_run_warnings(fit: LossFit) -> list[str]:
    """A warning when the groups look scored on the same runs (eval sets of one ladder).

    A run that lands above the law then does so in every group at once, and the model, which
    takes each group's scatter as independent, counts it as several pieces of evidence: the
    pooled curve is too sure, and so are its intervals and decisions (five copies of one
    group turned a NO-GO at 87% into a GO at 95%). The warning points to ``--shared-runs``;
    a fit that has it is warned only when its runs, matched by name, share fewer runs than
    its computes do (:func:`_runs_by_name_warnings`).
    """
    if fit.priors.shared_runs:
        return _runs_by_name_warnings(fit)
    found = shared_run_correlation(fit)
    if found is None:
        return []
    r, z, pairs = found
    if r < SHARED_RUN_CORRELATION or z < SHARED_RUN_Z:
        return []
    return [
        f"the groups' runs stray from their curves together (correlation {r:.2f} at the "
        f"computes they share, over {pairs} pair{'s' if pairs > 1 else ''} of groups): they "
        "look like eval sets of the same runs, or share a bend the law lacks. The model takes "
        "each group's scatter as independent, so it counts one run's luck once per group: "
        "intervals and decisions are too sure. Fit with --shared-runs (LossPriors(shared_runs="
        "True)), which gives each run one effect shared by its groups, or fit the group a "
        "decision needs alone."
    ]


def _runs_by_name_warnings(fit: LossFit) -> list[str]:
    """A warning when runs matched by name share fewer runs than the computes would.

    One name repeated across groups switches the rule for the whole table: rows at one
    compute under different names are then different runs, so a table of per-group names
    with one common name (``baseline``) shares one run where its computes share six.
    """
    data = fit.data
    runs = fitted_runs(data)
    if runs.by != "name":
        return []
    keys = np.round(np.log10(data.compute[data.fitted]), 6)
    groups = data.group_index[data.fitted]
    by_compute = sum(len(set(groups[keys == k].tolist())) > 1 for k in np.unique(keys))
    if by_compute <= runs.shared:
        return []
    return [
        f"--shared-runs matched runs by name, since a name repeats across groups: "
        f"{runs.shared} of {len(runs.labels)} runs are scored in two or more groups, while "
        f"{by_compute} computes hold rows of two or more groups. Rows at one compute under "
        "different names are different runs here (reruns); if they are one run, give them "
        "one name (or names that repeat in no two groups, to match runs by compute)."
    ]


def _odds(p: float) -> str:
    """A small probability in words: "about 1 in 3,100", or "under 1 in a million"."""
    if p < 1e-6:
        return "under 1 in a million"
    return f"about 1 in {float(f'{1.0 / p:.2g}'):,.0f}"


def _log_largest_fitted(fit: LossFit) -> np.ndarray:
    """Log of each group's largest fitted compute, shape ``(group,)``."""
    data = fit.data
    return np.array(
        [
            np.log(data.compute[data.fitted & (data.group_index == g)].max())
            for g in range(len(data.groups))
        ]
    )


def _group_indices(names: list[str], groups: Sequence[str]) -> np.ndarray:
    """Positions of ``groups`` among the fit's group ``names``; an unknown name is an error."""
    for g in groups:
        if g not in names:
            raise InputError(
                f"no group '{g}' in the fit.{did_you_mean(str(g), tuple(names))} "
                f"Groups: {', '.join(names)}."
            )
    return np.array([names.index(g) for g in groups], dtype=int)


def loss_draws(
    fit: LossFit,
    compute: np.ndarray,
    seed: int | None = None,
    groups: Sequence[str] | None = None,
) -> xr.Dataset:
    """Posterior draws of the curve and of a new run at each compute, per group.

    Beyond a group's largest fitted run the curve includes the law discrepancy of
    :mod:`bayescale.priors` (``discrepancy_exponent_sd``), so both ``curve`` and ``loss`` widen
    with the distance of the extrapolation; a new run adds the run-to-run scatter, and with
    ``LossPriors(shared_runs=True)`` a new run effect ``tau * N(0, 1)``, one per draw shared by
    every group and compute (one new run scored on every eval set), so joint statements about
    several groups stay right and each group's marginal sd is ``sqrt(sigma^2 + tau^2)``.

    Parameters
    ----------
    fit
        A loss fit.
    compute
        Computes in FLOPs, shape ``(n,)``.
    seed
        Root of the scatter draws' stream; by default the fit's forecast seed, else its
        sampler seed (:func:`bayescale.seeds.forecast_root`).
    groups
        The groups to draw, by name (every group by default). A group's draws are the same
        whichever others are drawn with it; one group costs a share of the time and memory
        (a decision's compute search needs only its requirement's group).

    Returns
    -------
    xarray.Dataset
        ``curve`` and ``loss`` (a new run), dims ``(sample, group, compute)``.
    """
    compute = np.asarray(compute, dtype=float)
    names = list(fit.data.groups)
    # every group: a view (the layout, and so the last digits of sums, of the draws as saved)
    picked = slice(None) if groups is None else _group_indices(names, groups)
    x = np.log(compute) - fit.log_pivot
    level = fit.draws("level")[:, picked, None]
    reducible = fit.draws("reducible")[:, picked, None]
    exponent = fit.draws("exponent")[:, picked, None]
    curve = loss_law_pivot(x[None, None, :], level, reducible, exponent)
    rng = forecast_stream(fit, "loss.forecast", seed)
    sigma = fit.draws("sigma")[:, None, None]
    # one scatter draw per (posterior draw, group), shared by every compute: the marginals are
    # those of a new run at each compute, P(requirement) is monotone in compute, and the
    # numbers at one target do not depend on which other targets are asked for; drawn for
    # every group, so that a group's numbers do not depend on which groups are asked for
    shape = (curve.shape[0], len(names), 1)
    eps = scatter_noise(rng, fit.priors, shape)[:, picked]
    # law discrepancy beyond each group's largest fitted run (bayescale.priors): the reducible
    # loss falls there with exponent k * exp(s * zeta) instead of k, one zeta per posterior
    # draw shared by groups (one run) and computes, so every draw stays monotone and above the
    # irreducible loss; drawn after eps so fits saved without the term reproduce their numbers
    zeta = rng.standard_normal(size=(curve.shape[0], 1, 1))
    stretch = np.expm1(fit.priors.discrepancy_exponent_sd * zeta)
    irreducible = level * (1.0 - reducible)
    largest = _log_largest_fitted(fit)[picked]
    beyond = np.maximum(0.0, np.log(compute)[None, :] - largest[:, None])
    curve = np.where(
        beyond[None] > 0,
        irreducible + (curve - irreducible) * np.exp(-exponent * stretch * beyond[None]),
        curve,  # in range the law itself, to the last bit
    )
    if fit.priors.shared_runs:  # a new run's effect: one a draw, shared by groups and computes
        tau = fit.draws("tau_run")[:, None, None]
        delta = tau * rng.standard_normal(size=(curve.shape[0], 1, 1))
        new_run = curve * np.exp(sigma * eps + delta)
    else:
        new_run = curve * np.exp(sigma * eps)
    coords = {"group": names if groups is None else list(groups), "compute": compute}
    dims = ("sample", "group", "compute")
    return xr.Dataset({"curve": (dims, curve), "loss": (dims, new_run)}, coords=coords)


@dataclass(frozen=True, repr=False)
class LossForecast(Forecast):
    """Predictive draws and their summary at the target computes.

    Attributes
    ----------
    draws
        ``curve`` and ``loss`` (new run), dims ``(sample, group, compute)``.
    interval
        Central interval probability of :meth:`table`.
    warnings
        Warnings about the data and targets (a row pasted twice, losses rising with compute,
        targets far beyond the fitted range, ...) and about the fit (a run far off its curve).
    """

    draws: xr.Dataset
    interval: float
    warnings: tuple[str, ...] = ()

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        return _forecast_summary(self)

    def table(self) -> pd.DataFrame:
        """One row per (target, group): new-run median, lower, upper, mean and the curve's CI.

        By target, then the groups in the table's order (g2 before g10, as the user wrote them).
        """
        new = summarise(self.draws["loss"].values, self.interval)
        curve = summarise(self.draws["curve"].values, self.interval)
        groups = self.draws["group"].values
        rows = target_rows(self.targets, groups, "group", {"": new, "curve_": curve})
        return pd.DataFrame(rows).sort_values("target_compute", kind="stable", ignore_index=True)


def forecast_loss(
    fit: LossFit,
    targets: float | list[float] | np.ndarray,
    interval: float = 0.9,
    *,
    allow_backcast: bool = False,
    warn: bool = True,
    warn_fit: bool = True,
) -> LossForecast:
    """Forecast the final loss of a new run at each target compute, per group.

    Parameters
    ----------
    fit
        A loss fit (:func:`bayescale.loss_fit.fit_loss`).
    targets
        Target compute(s) in FLOPs: a number or a list/array.
    interval
        Central predictive interval probability.
    allow_backcast
        Accept targets below the smallest fitted run (refused otherwise).
    warn
        Log the target warnings (they are kept in :attr:`LossForecast.warnings` either way).
    warn_fit
        Log the warnings about the fit itself (:func:`off_curve_warnings`,
        :func:`shared_run_warnings`), which no check
        before sampling could give; kept either way.

    Returns
    -------
    LossForecast
    """
    expect(fit, LossFit, "forecast_loss takes a LossFit (fit_loss(data), or load_fit(path).fit)")
    targets = check_targets(targets)
    warnings = loss_target_warnings(fit.data, targets, fit.priors, allow_backcast=allow_backcast)
    return LossForecast(
        draws=loss_draws(fit, targets),
        interval=check_interval(interval),
        warnings=logged(warnings, warn)
        + logged(off_curve_warnings(fit) + shared_run_warnings(fit), warn_fit),
    )


def _forecast_summary(forecast: LossForecast) -> tuple[str, list[tuple[str, str]]]:
    rows = shown_rows(
        forecast.table(),
        lambda r: (
            f"{r.group} @ {r.target_compute:.3g}",
            f"{r.median:.4g} [{r.lower:.4g}, {r.upper:.4g}]",
        ),
    )
    rows += [("warning", w) for w in forecast.warnings]
    title = f"LossForecast: final loss of a new run, median [{percent(forecast.interval)} interval]"
    return title, rows


def run_quantiles(fit: LossFit, rows: np.ndarray, interval: float) -> dict[str, np.ndarray]:
    """Median and central ``interval`` of a new run's loss at each run's compute, in its group.

    The predictive draws (:func:`loss_draws`) of ``rows`` (positions in ``fit.data``) are made
    a group and a block of runs at a time (:func:`run_blocks`), never for the other groups:
    the same numbers as drawing every group at every run's compute, in a share of the memory.

    Returns
    -------
    dict
        ``median``, ``lower`` and ``upper``, each of shape ``(len(rows),)``.
    """
    data = fit.data
    rows = np.asarray(rows, dtype=int)
    out = {key: np.empty(rows.size) for key in ("median", "lower", "upper")}
    draws = fit.draws("sigma").shape[0]
    for gi, group in enumerate(data.groups):
        mine = np.flatnonzero(data.group_index[rows] == gi)
        for block in run_blocks(mine.size, draws):
            at = mine[block]
            values = loss_draws(fit, data.compute[rows[at]], groups=[group])["loss"].values
            stats = summarise(values[:, 0, :], interval)
            for key, column in out.items():
                column[at] = stats[key]
    return out


def _quantiles_with_own_error(fit: LossFit, rows: np.ndarray, interval: float) -> dict:
    """:func:`run_quantiles` of runs with their own error (``loss_sd``) added to the scatter.

    One scale, ``sqrt(sigma^2 + sd^2)``, in the likelihood's distribution, as the fit reads
    fitted runs; on the curve's draws at every group (tables with ``loss_sd`` are not the large
    ones: their model is not padded), from stream ``loss.held_out``.
    """
    data = fit.data
    curve = loss_draws(fit, data.compute[rows])["curve"].values
    curve = curve[:, data.group_index[rows], np.arange(rows.size)]
    scale = np.hypot(fit.draws("sigma")[:, None], (data.loss_sd / data.loss)[rows][None, :])
    rng = forecast_stream(fit, "loss.held_out")
    eps = scatter_noise(rng, fit.priors, scale.shape)
    if fit.priors.shared_runs:  # a new run's effect, one a draw (as loss_draws)
        eps = eps + fit.draws("tau_run")[:, None] * rng.standard_normal((scale.shape[0], 1)) / scale
    return summarise(curve * np.exp(scale * eps), interval)


def score_held_out(fit: LossFit, interval: float = 0.9) -> pd.DataFrame:
    """Score the held-out runs against their own predictive intervals.

    A run with its own standard error (``loss_sd``) is scored against the curve with the
    scatter and that error together (scale ``sqrt(sigma^2 + sd^2)``, the likelihood's
    distribution), the way the fit reads its fitted runs.

    Returns
    -------
    pandas.DataFrame
        One row per held-out run: name, group, compute, observed loss, predictive median,
        lower, upper, ``covered`` and the relative error of the median. Empty when nothing is
        held out.
    """
    data = fit.data
    rows = []
    held = np.flatnonzero(data.held_out)
    if held.size == 0:
        return pd.DataFrame(columns=["name", "group", "compute", *SCORE_COLUMNS])
    if data.loss_sd is None:
        stats = run_quantiles(fit, held, interval)
    else:
        stats = _quantiles_with_own_error(fit, held, interval)
    for j, row in enumerate(held):
        median, lower, upper = (stats[k][j] for k in ("median", "lower", "upper"))
        observed = data.loss[row]
        rows.append(
            {
                "name": data.name[row],
                "group": data.group[row],
                "compute": data.compute[row],
                "observed": observed,
                "median": median,
                "lower": lower,
                "upper": upper,
                "covered": bool(lower <= observed <= upper),
                "rel_error": float((median - observed) / observed),
            }
        )
    return pd.DataFrame(rows)


def parameter_table(fit: Any, interval: float = 0.9) -> pd.DataFrame:
    """Posterior of the law's parameters in the user's units (C in FLOPs), for a fit or result.

    Loss: ``a``, ``b``, ``c`` per group. A pass-rate, L(N, D) or accuracy fit (or a result
    holding one) gets its law's table: ``log10_alpha`` and ``k`` per bucket; ``E, A, alpha, B,
    beta`` per group; level and exponent per ladder.

    Returns
    -------
    pandas.DataFrame
        One row per (group, parameter) with median, lower, upper (and mean for loss).

    Raises
    ------
    InputError
        When ``fit`` is neither a fit nor a result of a bayescale law.
    """
    fit = fit.fit if hasattr(fit, "forecast") and hasattr(fit, "fit") else fit
    if not isinstance(fit, LossFit):
        return _law_parameter_table(fit, interval)
    rows = []
    for name in ("a", "b", "c"):
        stats = summarise(fit.draws(name), interval)
        for gi, group in enumerate(fit.data.groups):
            rows.append(
                {
                    "group": group,
                    "parameter": name,
                    **{k: float(v[gi]) for k, v in stats.items()},
                }
            )
    return pd.DataFrame(rows)


def _law_parameter_table(fit: Any, interval: float) -> pd.DataFrame:
    """The parameter table of a pass-rate, L(N, D) or accuracy fit."""
    from bayescale.accuracy import AccuracyFit
    from bayescale.accuracy_report import accuracy_parameter_table
    from bayescale.nd import NDFit
    from bayescale.nd_report import parameter_table as nd_parameter_table
    from bayescale.pass_fit import PassFit
    from bayescale.pass_forecast import pass_parameter_table

    if isinstance(fit, PassFit):
        return pass_parameter_table(fit, interval)
    if isinstance(fit, NDFit):
        return nd_parameter_table(fit, interval)
    if isinstance(fit, AccuracyFit):
        return accuracy_parameter_table(fit, interval)
    raise InputError(
        f"parameter_table takes a fit or a result of a bayescale law (LossFit, PassFit, NDFit, "
        f"AccuracyFit), got {type(fit).__name__}."
    )

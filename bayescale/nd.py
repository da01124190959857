r"""Loss in parameters and tokens: :math:`L(N, D) = E + A/N^\alpha + B/D^\beta`.

The law of Hoffmann et al. (2022, "Chinchilla") as plain functions, one per stage, wrapped by
the registry's ``nd`` entry: reading the runs (:func:`load_nd_runs`) and the priors
(:class:`NDPriors`), both in :mod:`bayescale.nd_data` and re-exported here, the law
(:func:`bayescale.laws.nd_law`), the fit
(:func:`fit_nd`; the PyMC model is :mod:`bayescale.nd_model`), predictive draws of a new run
at target ``(N, D)`` (:func:`nd_loss_draws`), the compute-optimal allocation per budget
(:func:`optimal_draws`), the smallest ``N`` that meets a requirement
(:func:`required_params`) and the seeded simulations. The options and result of
``bayescale nd`` are :mod:`bayescale.nd_pipeline`, the tables, JSON document, Markdown and
command-line lines :mod:`bayescale.nd_report`, the figures in :mod:`bayescale.nd_plots` (the
saved data group is :mod:`bayescale.nd_saved`, the backtest :mod:`bayescale.nd_backtest`).
Nothing here imports PyMC or JAX at module level.

Inputs follow the loss table of ``docs/formats.md``: one row per finished run with
``params`` (N), ``tokens`` (D), ``loss`` and optional ``group`` and ``compute`` columns;
compute is ``6·N·D`` unless a compute column is given.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.decision import Requirement
from bayescale.diagnostics import Diagnostics
from bayescale.display import Summarised
from bayescale.draws import scatter_noise
from bayescale.errors import InputError
from bayescale.laws import nd_law

# the law's data half (table, split, priors) lives in nd_data; re-exported here ("X as X")
from bayescale.nd_data import FLOPS_PER_PARAM_TOKEN as FLOPS_PER_PARAM_TOKEN
from bayescale.nd_data import MIN_DISTINCT as MIN_DISTINCT
from bayescale.nd_data import MIN_RUNS_PER_GROUP as MIN_RUNS_PER_GROUP
from bayescale.nd_data import NDColumns as NDColumns
from bayescale.nd_data import NDData as NDData
from bayescale.nd_data import NDPriors as NDPriors
from bayescale.nd_data import flops_per_param_token as flops_per_param_token
from bayescale.nd_data import load_nd_runs as load_nd_runs
from bayescale.nd_data import nd_split as nd_split
from bayescale.sampling import SamplerSettings

#: Points of the log-N grid searched for the compute-optimal size, before golden-section
#: refinement; and the tokens-per-parameter range the search covers.
OPTIMUM_GRID = 256
TOKENS_PER_PARAM_RANGE = (1e-2, 1e6)
#: Points per decade of the log-N grid searched by :func:`required_params`.
REQUIRED_GRID_PER_DECADE = 40
#: One :math:`\xi` for the additive discrepancy beyond N and beyond D (True), or one each
#: (False: narrower beyond both at the same coverage on the backtests; docs/nd.md).
ADDITIVE_SHARED = False


# --------------------------------------------------------------------------------------------
# The law


def optimal_allocation(
    budget: Any, A: Any, alpha: Any, B: Any, beta: Any, kappa: float = FLOPS_PER_PARAM_TOKEN
) -> tuple[Any, Any]:
    r"""Compute-optimal ``N*`` and ``D*`` of the pure law for budget ``C = κ·N·D``.

    .. math::

        N^* = G\,(C/\kappa)^{\beta/(\alpha+\beta)},\quad
        D^* = G^{-1}(C/\kappa)^{\alpha/(\alpha+\beta)},
        \quad G = \left(\frac{\alpha A}{\beta B}\right)^{1/(\alpha+\beta)}

    (Hoffmann et al. 2022, eq. 4).

    Returns
    -------
    tuple
        ``(N*, D*)``, each shaped as ``budget`` broadcast with the parameters.
    """
    product = np.asarray(budget) / kappa
    G = (np.asarray(alpha) * A / (np.asarray(beta) * B)) ** (1.0 / (np.asarray(alpha) + beta))
    n_opt = G * product ** (beta / (np.asarray(alpha) + beta))
    return n_opt, product / n_opt


# --------------------------------------------------------------------------------------------
# Fit


def nd_pivot(data: NDData) -> tuple[float, float]:
    r""":math:`(\ln N_0, \ln D_0)`: the mean log N and log D of the fitted runs."""
    fit = data.fitted
    return float(np.mean(np.log(data.params[fit]))), float(np.mean(np.log(data.tokens[fit])))


@dataclass(frozen=True, repr=False)
class NDFit(Summarised):
    r"""A sampled L(N, D) model.

    Attributes
    ----------
    data
        The runs.
    idata
        ``DataTree``: posterior ``level``, ``reducible``, ``share``, ``alpha``, ``beta``,
        ``E``, ``A``, ``B`` (dims ``chain, draw, group``) and ``sigma``.
    log_pivot
        :math:`(\ln N_0, \ln D_0)`.
    priors, settings, diagnostics, timing_s
        As in :class:`bayescale.loss_fit.LossFit`.
    forecast_seed
        Root of the predictive draws when it is not the sampler's seed (``bayescale forecast
        --seed``; :func:`bayescale.seeds.forecast_root`).
    """

    #: The function that answers this law's questions from such a fit (for messages).
    answered_by: ClassVar[str] = "bayescale.nd_pipeline.nd_result_from_fit"

    data: NDData
    idata: xr.DataTree
    log_pivot: tuple[float, float]
    priors: NDPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float] = field(default_factory=dict)
    forecast_seed: int | None = None

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape ``(sample, *dims)``."""
        da = self.idata["posterior"][name]
        return np.asarray(da.values).reshape(-1, *da.shape[2:])

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        d, diag = self.data, self.diagnostics
        rows = [
            ("law", "L(N, D) = E + A/N^alpha + B/D^beta"),
            ("runs", f"{int(d.fitted.sum())} fitted, {int(d.held_out.sum())} held out"),
            ("groups", ", ".join(d.groups)),
            ("diagnostics", f"{'ok' if diag.ok else 'FAILED'} (R-hat {diag.r_hat_max:.3f})"),
        ]
        return "NDFit", rows


def fit_nd(
    data: NDData,
    priors: NDPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    allow_unconverged: bool = False,
) -> NDFit:
    """Fit the hierarchical L(N, D) model with JAX NUTS and check convergence.

    Sampled at the loss model's settings (:func:`bayescale.ladder.model_settings`; a table of
    more than :data:`bayescale.loss_model.LARGE_TABLE_RUNS` fitted runs as a large loss table,
    at :data:`bayescale.ladder.LARGE_TABLE_TARGET_ACCEPT` with its non-centred group terms
    centred) through the
    shared convergence ladder (:func:`bayescale.ladder.run_ladder`, docs/convergence.md): against
    divergences :data:`bayescale.ladder.LOSS_RETRY_TARGET_ACCEPT`, then (several groups) the
    local slopes non-centred, then the smallest step; against R-hat or ESS more draws, then
    twice the chains. Each step is an attempt in ``diagnostics.attempts``.

    Raises
    ------
    ConvergenceError
        When the gate fails after the ladder and ``allow_unconverged`` is false (the fit is
        ``error.result``).

    Returns
    -------
    NDFit
        The data, the ``xarray.DataTree`` posterior, the diagnostics and the sampler
        settings.
    """
    from bayescale.ladder import (
        LARGE_TABLE_TARGET_ACCEPT,
        LOSS_RETRY_TARGET_ACCEPT,
        gate,
        model_settings,
        run_ladder,
    )
    from bayescale.loss_model import LARGE_TABLE_RUNS, run_class
    from bayescale.nd_model import add_nd_scatter, build_nd_model

    priors = priors or NDPriors()
    runs = int(data.fitted.sum())
    large = runs > LARGE_TABLE_RUNS  # as a large loss table (docs/performance.md)
    if large:
        settings = (settings or SamplerSettings()).with_target_accept(LARGE_TABLE_TARGET_ACCEPT)
    settings = model_settings(settings, "loss")
    start = time.perf_counter()
    idata, diagnostics, settings, sampling_s = run_ladder(
        lambda noncentred: build_nd_model(
            data,
            priors,
            noncentred=noncentred,
            pad_runs=run_class(runs),
            centred_shares=large,
        ),
        settings,
        lambda idata, settings: add_nd_scatter(idata, data, priors, settings.seed),
        retry_target=LOSS_RETRY_TARGET_ACCEPT,
        alternative="group slopes non-centred" if len(data.groups) > 1 else None,
    )
    result = NDFit(
        data=data,
        idata=idata,
        log_pivot=nd_pivot(data),
        priors=priors,
        settings=settings,
        diagnostics=diagnostics,
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
    )
    gate(result, allow_unconverged, ND_ADVICE)
    return result


#: What a variable of L(N, D) is, and what a user can do when it fails the gate
#: (:func:`bayescale.ladder.advice_message`).
ND_ADVICE = {
    "sigma": (
        "the run-to-run scatter: with few more runs a group than the law's 5 parameters "
        "(E, A, alpha, B, beta) the law nearly passes through every run and the scatter is "
        "not pinned",
        "add runs (more than the 5 parameters a group; vary the tokens at some sizes), fit "
        "several groups together (they share the scatter), or set a tighter scatter prior "
        "(priors.scatter_median, priors.scatter_shape in a spec)",
    ),
    "share": (
        "how the reducible loss divides between parameters and tokens",
        "add runs that vary tokens at a fixed size and size at fixed tokens",
    ),
    "slope": (
        "how steeply a group's loss falls with parameters or tokens",
        "add runs over a wider range of parameters and tokens",
    ),
    "reducible": (
        "how much of a group's loss size and tokens can still remove (the floor E)",
        "add larger runs: the floor shows only where the curve bends",
    ),
    "level": (
        "a group's loss at the middle of its runs",
        "check the group's runs for one off the surface (a broken or rerun run)",
    ),
    "": (
        "",
        "; usually a run off the surface. Check the plot for one and remove it (the default "
        "Student-t likelihood weighs such a run less than --likelihood normal).",
    ),
}


# --------------------------------------------------------------------------------------------
# Predictive draws


@dataclass(frozen=True)
class NDDraws:
    r"""Per-draw parameters of the law and of a new run, arrays ``(sample, group)``.

    ``stretch_n``/``stretch_d`` (``(sample,)``) are :math:`e^{s\zeta} - 1` of the exponent
    discrepancy; ``shift_n``/``shift_d`` (``(sample,)``, ``None`` for none) the additive
    discrepancy's :math:`s_{add}\xi` per e-fold of ``ln L`` beyond the largest fitted N and D
    (:func:`additive_discrepancy`); ``eps`` the run-to-run scatter of a new run (one per draw
    and group, shared by targets, as in :func:`bayescale.forecast.loss_draws`).
    """

    level: np.ndarray
    reducible: np.ndarray
    share: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    sigma: np.ndarray
    eps: np.ndarray
    stretch_n: np.ndarray
    stretch_d: np.ndarray
    log_pivot: tuple[float, float]
    log_max_params: np.ndarray
    log_max_tokens: np.ndarray
    groups: tuple[str, ...]
    kappa: float
    shift_n: np.ndarray | None = None
    shift_d: np.ndarray | None = None

    def curve(self, log_params: np.ndarray, log_tokens: np.ndarray) -> np.ndarray:
        """The law with both discrepancies at ``(ln N, ln D)``, shape ``(sample, group, *target)``.

        :meth:`law_curve` (the exponent stretch) times the additive discrepancy
        :func:`additive_discrepancy`. ``log_params``/``log_tokens`` broadcast against
        ``(sample, group, *target)`` once a trailing target axis is given: pass shape
        ``(target,)`` or ``(sample, group, target)``.
        """
        law = self.law_curve(log_params, log_tokens)
        if self.shift_n is None and self.shift_d is None:
            return law
        zero = np.zeros(self.level.shape[0])
        sn = (zero if self.shift_n is None else self.shift_n)[:, None, None]
        sd = (zero if self.shift_d is None else self.shift_d)[:, None, None]
        gx = self.log_max_params[None, :, None]
        gy = self.log_max_tokens[None, :, None]
        return law * np.exp(additive_discrepancy(log_params, log_tokens, gx, gy, sn, sd))

    def law_curve(self, log_params: np.ndarray, log_tokens: np.ndarray) -> np.ndarray:
        """The law with its exponent stretch only: what :func:`optimal_draws` minimises."""
        ln_n, ln_d = np.asarray(log_params, float), np.asarray(log_tokens, float)

        def per(a: np.ndarray) -> np.ndarray:
            return a[..., None]

        level, f, w = per(self.level), per(self.reducible), per(self.share)
        alpha, beta = per(self.alpha), per(self.beta)
        gx = self.log_max_params[None, :, None]
        gy = self.log_max_tokens[None, :, None]
        sn = self.stretch_n[:, None, None]
        sd = self.stretch_d[:, None, None]
        x = ln_n - self.log_pivot[0]
        y = ln_d - self.log_pivot[1]
        x_eff = x + sn * np.maximum(0.0, ln_n - gx)
        y_eff = y + sd * np.maximum(0.0, ln_d - gy)
        return level * (
            (1.0 - f) + f * (w * np.exp(-alpha * x_eff) + (1.0 - w) * np.exp(-beta * y_eff))
        )

    def new_run(self, log_params: np.ndarray, log_tokens: np.ndarray) -> np.ndarray:
        """A new run's loss: :meth:`curve` times the run-to-run scatter."""
        curve = self.curve(log_params, log_tokens)
        scale = np.exp(self.sigma[:, None] * self.eps)
        return curve * scale.reshape(scale.shape + (1,) * (curve.ndim - 2))


def additive_discrepancy(
    log_params: Any,
    log_tokens: Any,
    log_max_params: Any,
    log_max_tokens: Any,
    shift_n: Any,
    shift_d: Any,
) -> np.ndarray:
    r"""The additive law discrepancy in ``ln L`` beyond the largest fitted N and D.

    .. math::

        \delta = s_{add}\,\xi_N \max(0, \ln N/N_{max})
                + s_{add}\,\xi_D \max(0, \ln D/D_{max})

    with ``shift_n`` :math:`= s_{add}\xi_N`, ``shift_d`` :math:`= s_{add}\xi_D` per draw
    (:math:`\xi_N, \xi_D \sim N(0, 1)` independent; one for both when
    :data:`ADDITIVE_SHARED`). Zero inside the fitted ranges; its sd grows linearly with the
    e-folds beyond them. Arguments broadcast.
    """
    beyond_n = np.maximum(0.0, np.asarray(log_params, float) - log_max_params)
    beyond_d = np.maximum(0.0, np.asarray(log_tokens, float) - log_max_tokens)
    return np.asarray(shift_n * beyond_n + shift_d * beyond_d)


def nd_draws(fit: NDFit, seed: int | None = None) -> NDDraws:
    """The per-draw parameters of ``fit`` with the new run's and discrepancy's random draws.

    The stream ``nd.forecast`` of the root ``seed``, else of the fit's forecast root
    (:func:`bayescale.seeds.forecast_stream`: its ``forecast_seed``, else the sampler's seed),
    so a fit gives the same numbers every time; the additive discrepancy's xi from
    the stream ``nd.discrepancy`` (drawn only when ``discrepancy_log_loss_sd`` > 0, so fits
    without it draw as before).
    """
    from bayescale.seeds import forecast_stream

    data = fit.data
    rng = forecast_stream(fit, "nd.forecast", seed)
    level = fit.draws("level")
    eps = scatter_noise(rng, fit.priors, level.shape)  # the likelihood's: normal or Student-t
    zeta = rng.standard_normal(size=(2, level.shape[0]))
    s = fit.priors.discrepancy_exponent_sd
    s_add = fit.priors.discrepancy_log_loss_sd
    shift_n = shift_d = None
    if s_add > 0:
        xi = forecast_stream(fit, "nd.discrepancy", seed).standard_normal((2, level.shape[0]))
        shift_n = s_add * xi[0]
        shift_d = s_add * (xi[0] if ADDITIVE_SHARED else xi[1])
    idx = data.group_index
    return NDDraws(
        level=level,
        reducible=fit.draws("reducible"),
        share=fit.draws("share"),
        alpha=fit.draws("alpha"),
        beta=fit.draws("beta"),
        sigma=fit.draws("sigma"),
        eps=eps,
        stretch_n=np.expm1(s * zeta[0]),
        stretch_d=np.expm1(s * zeta[1]),
        log_pivot=fit.log_pivot,
        log_max_params=np.array(
            [np.log(data.params[data.fitted & (idx == g)].max()) for g in range(len(data.groups))]
        ),
        log_max_tokens=np.array(
            [np.log(data.tokens[data.fitted & (idx == g)].max()) for g in range(len(data.groups))]
        ),
        groups=data.groups,
        kappa=data.flops_per_param_token,
        shift_n=shift_n,
        shift_d=shift_d,
    )


def check_pairs(params: Any, tokens: Any) -> tuple[np.ndarray, np.ndarray]:
    """Targets as two equal-length positive float arrays, refusing anything else."""
    n = np.atleast_1d(np.asarray(params, dtype=float))
    d = np.atleast_1d(np.asarray(tokens, dtype=float))
    if n.size == 0 or n.shape != d.shape:
        raise InputError("targets need one token count per parameter count (--target N:D).")
    for what, arr in (("parameters", n), ("tokens", d)):
        bad = arr[~(np.isfinite(arr) & (arr > 0))]
        if bad.size:
            raise InputError(f"target {what} must be a positive number, got {bad[0]:g}.")
    return n, d


def _as_pairs(targets: Any) -> list[tuple[float, float]]:
    """Targets as ``(N, D)`` pairs, refusing anything else with the fix."""
    pairs = []
    for t in targets:
        if np.ndim(t) != 1 or np.size(t) != 2:
            raise InputError(
                f"an L(N, D) target is a (params, tokens) pair, got {t!r}; on the command line "
                "--target N:D, e.g. --target 7e9:4e12."
            )
        pairs.append((float(t[0]), float(t[1])))
    return pairs


def nd_loss_draws(fit: NDFit, params: Any, tokens: Any, seed: int | None = None) -> xr.Dataset:
    """Posterior draws of the law (``curve``) and of a new run (``loss``) at each target.

    Returns
    -------
    xarray.Dataset
        Dims ``(sample, group, target)``; coords ``params``, ``tokens``, ``compute`` on
        ``target``.
    """
    n, d = check_pairs(params, tokens)
    draws = nd_draws(fit, seed)
    curve = draws.curve(np.log(n), np.log(d))
    new = draws.new_run(np.log(n), np.log(d))
    dims = ("sample", "group", "target")
    coords = {
        "group": list(fit.data.groups),
        "params": ("target", n),
        "tokens": ("target", d),
        "compute": ("target", draws.kappa * n * d),
    }
    return xr.Dataset({"curve": (dims, curve), "loss": (dims, new)}, coords=coords)


def _golden(objective: Any, lo: np.ndarray, hi: np.ndarray, steps: int = 40) -> np.ndarray:
    """Vectorised golden-section minimum of a unimodal ``objective(u)`` on ``[lo, hi]``."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo.copy(), hi.copy()
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = objective(c), objective(d)
    for _ in range(steps):
        left = fc < fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        c_new, d_new = b - ratio * (b - a), a + ratio * (b - a)
        c, d = c_new, d_new
        fc, fd = objective(c), objective(d)
    return (a + b) / 2.0


def optimal_draws(fit: NDFit | NDDraws, budgets: Any, seed: int | None = None) -> xr.Dataset:
    r"""Compute-optimal ``N*``, ``D*`` and the loss there, per posterior draw and budget.

    For each draw the law *with its exponent stretch* (:meth:`NDDraws.law_curve`) is
    minimised along ``κ·N·D = C``; the loss there (``curve``, ``loss``) carries the additive
    discrepancy too. The additive term is a level error of the law beyond the data, and does
    not move ``N*``: minimised with it, a draw's ``N*`` would follow its random slope
    :math:`s_{add}(\xi_N - \xi_D)` per e-fold along a budget beyond both the largest fitted N
    and D, and a kink at the edge of a fitted range would hold the minimum there in every
    draw whose term rises beyond it, pulling ``N*`` toward the data by construction. Along a
    budget the loss is convex in ``ln N`` between the two kinks where N or D passes the
    group's largest fitted value; at a kink with a positive stretch its slope drops, so it is
    not convex there and can have more than one local minimum (none at a kink). A log grid of
    :data:`OPTIMUM_GRID` points over tokens per parameter in :data:`TOKENS_PER_PARAM_RANGE`
    (steps of 0.036 in ``ln N``) picks the lowest grid point, which lies in the global
    minimum's basin unless two minima are level to within the grid's resolution, and
    golden-section search refines it within one step either side. On Epoch's law with random
    exponents, shares and stretches (1,000 draws x 10 budgets at stretch scale 0.25 and 0.5:
    2% and 4% of the curves with two local minima) it matched a 20,001-point search on every
    curve (loss to 5e-12, ``ln N`` to 3e-4; ``tests/test_nd.py`` checks it). Without the
    discrepancy this is :func:`optimal_allocation`'s closed form.

    Returns
    -------
    xarray.Dataset
        ``params``, ``tokens``, ``curve`` (the law's loss at the optimum) and ``loss`` (a new
        run there), dims ``(sample, group, budget)``.
    """
    draws = fit if isinstance(fit, NDDraws) else nd_draws(fit, seed)
    budgets = np.atleast_1d(np.asarray(budgets, dtype=float))
    if budgets.size == 0 or not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise InputError("--budget must be a positive number of FLOPs.")
    ln_prod = np.log(budgets / draws.kappa)  # ln(N·D)
    lo_ratio, hi_ratio = np.log(TOKENS_PER_PARAM_RANGE)
    lo = (ln_prod - hi_ratio) / 2.0  # ln N when D/N is largest
    hi = (ln_prod - lo_ratio) / 2.0
    S, G = draws.level.shape
    out_n = np.empty((S, G, budgets.size))
    for j in range(budgets.size):
        grid = np.linspace(lo[j], hi[j], OPTIMUM_GRID)
        values = draws.law_curve(grid, ln_prod[j] - grid)  # (S, G, grid)
        k = np.clip(np.argmin(values, axis=-1), 1, OPTIMUM_GRID - 2)

        def along(u: np.ndarray, j: int = j) -> np.ndarray:
            return draws.law_curve(u[..., None], (ln_prod[j] - u)[..., None])[..., 0]

        out_n[:, :, j] = _golden(along, grid[k - 1], grid[k + 1])
    ln_n = out_n
    ln_d = ln_prod[None, None, :] - ln_n
    curve = draws.curve(ln_n, ln_d)
    new = draws.new_run(ln_n, ln_d)
    dims = ("sample", "group", "budget")
    return xr.Dataset(
        {
            "params": (dims, np.exp(ln_n)),
            "tokens": (dims, np.exp(ln_d)),
            "curve": (dims, curve),
            "loss": (dims, new),
        },
        coords={"group": list(draws.groups), "budget": budgets},
    )


@dataclass(frozen=True)
class RequiredParams:
    """The smallest N that meets a requirement at fixed tokens or a fixed budget.

    ``params_at_confidence``: the smallest grid N where P(requirement) >= confidence (``None``
    when not reached); ``params_median``: where the median new run meets it.
    """

    requirement: str
    group: str
    tokens: float | None
    budget: float | None
    confidence: float
    params_median: float | None
    params_at_confidence: float | None
    probability_at: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON block."""
        return {
            "requirement": self.requirement,
            "group": self.group,
            "tokens": self.tokens,
            "budget": self.budget,
            "confidence": self.confidence,
            "params_needed": {
                "median": self.params_median,
                "at_confidence": self.params_at_confidence,
            },
            "probability": self.probability_at,
        }


def required_params(
    fit: NDFit | NDDraws,
    requirement: Requirement,
    group: int,
    *,
    tokens: float | None = None,
    budget: float | None = None,
    confidence: float = 0.9,
    search: tuple[float, float] | None = None,
) -> RequiredParams:
    """The smallest N whose new run meets ``requirement``, with D tokens or within a budget.

    Searches a log-N grid (:data:`REQUIRED_GRID_PER_DECADE` points per decade, by default
    from a tenth of the smallest fitted N to 10^4 times the largest): with ``tokens`` the
    loss falls with N; with ``budget`` the run has ``D = C/(κN)`` tokens and the loss is
    U-shaped in N, so the smallest N that meets the bar is on the rising side of P.

    Returns
    -------
    RequiredParams
        The smallest N that meets the requirement with these tokens or within this budget:
        where the median new run meets it, and at the confidence (``None`` when not reached).
    """
    if (tokens is None) == (budget is None):
        raise InputError("give either tokens or a budget for the required parameter count.")
    draws = fit if isinstance(fit, NDDraws) else nd_draws(fit)
    if search is None:
        if isinstance(fit, NDFit):
            n_fit = fit.data.params[fit.data.fitted]
            search = (float(n_fit.min()) / 10, float(n_fit.max()) * 1e4)
        else:
            search = (
                float(np.exp(draws.log_pivot[0])) / 1e3,
                float(np.exp(draws.log_pivot[0])) * 1e6,
            )
    decades = math.log10(search[1] / search[0])
    grid = np.geomspace(search[0], search[1], max(2, int(decades * REQUIRED_GRID_PER_DECADE) + 1))
    ln_n = np.log(grid)
    if tokens is not None:
        ln_d = np.log(tokens) * np.ones_like(ln_n)
    else:
        assert budget is not None
        ln_d = np.log(budget / draws.kappa) - ln_n
    new = draws.new_run(ln_n, ln_d)[:, group, :]
    meets = requirement.holds(new)
    prob = meets.mean(axis=0)
    median_ok = requirement.holds(np.median(new, axis=0))

    def first(mask: np.ndarray) -> int | None:
        hits = np.flatnonzero(mask)
        return int(hits[0]) if hits.size else None

    i_conf, i_med = first(prob >= confidence), first(median_ok)
    return RequiredParams(
        requirement=requirement.text,
        group=draws.groups[group],
        tokens=tokens,
        budget=budget,
        confidence=confidence,
        params_median=None if i_med is None else float(grid[i_med]),
        params_at_confidence=None if i_conf is None else float(grid[i_conf]),
        probability_at=None if i_conf is None else float(prob[i_conf]),
    )


# --------------------------------------------------------------------------------------------
# Simulation

#: Epoch AI's replication of Chinchilla's Approach 3 (Besiroglu et al. 2024).
EPOCH_LAW = {"E": 1.82, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3658}


def simulate_nd_runs(
    seed: int,
    budgets: Any = (1e18, 3e18, 1e19, 3e19, 1e20),
    sizes_per_budget: int = 7,
    spread: float = 4.0,
    noise: float = 0.01,
    law: dict[str, float] | None = None,
) -> pd.DataFrame:
    """A seeded isoFLOP design drawn from a Chinchilla law (Epoch's parameters by default).

    Each budget ``C`` has ``sizes_per_budget`` runs with N log-spaced from ``N*/spread`` to
    ``N*·spread`` around the law's optimum, ``D = C/(6N)``; the loss is the law times
    ``exp(noise·ε)``.
    """
    law = law or EPOCH_LAW
    rng = np.random.default_rng(seed)
    rows = []
    for budget in np.asarray(budgets, dtype=float):
        n_opt, _ = optimal_allocation(budget, law["A"], law["alpha"], law["B"], law["beta"])
        for n in np.geomspace(n_opt / spread, n_opt * spread, sizes_per_budget):
            d = budget / (6.0 * n)
            mean = nd_law(np.log(n), np.log(d), **law)
            rows.append(
                {"params": n, "tokens": d, "loss": mean * np.exp(noise * rng.standard_normal())}
            )
    return pd.DataFrame(rows)

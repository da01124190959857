r"""Loss in parameters and tokens: :math:`L(N, D) = E + A/N^\alpha + B/D^\beta`.

The law of Hoffmann et al. (2022, "Chinchilla") as plain functions, one per stage, wrapped by
the registry's ``nd`` entry: reading the runs (:func:`load_nd_runs`) and the priors
(:class:`NDPriors`), both in :mod:`bayescale.nd_data` and re-exported here, the law
(:func:`bayescale.laws.nd_law`), the fit
(:func:`fit_nd`; the PyMC model is :mod:`bayescale.nd_model`), predictive draws of a new run
at target ``(N, D)`` (:func:`nd_loss_draws`), the compute-optimal allocation per budget
(:func:`optimal_draws`), the smallest ``N`` that meets a requirement
(:func:`required_params`), the options and result of ``bayescale nd``, tables, the JSON
document and the contour figure (the saved data group is :mod:`bayescale.nd_saved`, the
backtest :mod:`bayescale.nd_backtest`). Nothing here imports PyMC or JAX at module level.

Inputs follow the loss table of ``docs/formats.md``: one row per finished run with
``params`` (N), ``tokens`` (D), ``loss`` and optional ``group`` and ``compute`` columns;
compute is ``6·N·D`` unless a compute column is given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.decision import Decision, DecisionCurve, Requirement
from bayescale.diagnostics import Diagnostics
from bayescale.display import Summarised
from bayescale.draws import Forecast
from bayescale.errors import ConvergenceError, InputError
from bayescale.laws import nd_law

# the law's data half (table, split, priors) lives in nd_data; re-exported here ("X as X")
from bayescale.nd_data import FLOPS_PER_PARAM_TOKEN, NDColumns, NDData, NDPriors, load_nd_runs
from bayescale.nd_data import MIN_DISTINCT as MIN_DISTINCT
from bayescale.nd_data import MIN_RUNS_PER_GROUP as MIN_RUNS_PER_GROUP
from bayescale.nd_data import flops_per_param_token as flops_per_param_token
from bayescale.nd_data import nd_split as nd_split
from bayescale.options import Options, remembered_options
from bayescale.results import Result
from bayescale.sampling import SamplerSettings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Points of the log-N grid searched for the compute-optimal size, before golden-section
#: refinement; and the tokens-per-parameter range the search covers.
OPTIMUM_GRID = 256
TOKENS_PER_PARAM_RANGE = (1e-2, 1e6)
#: Points per decade of the log-N grid searched by :func:`required_params`.
REQUIRED_GRID_PER_DECADE = 40


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
        As in :class:`bayescale.fit.LossFit`.
    forecast_seed
        Root of the predictive draws when it is not the sampler's seed (``bayescale forecast
        --seed``; :func:`bayescale.seeds.forecast_root`).
    """

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

    Sampled at the loss model's settings (:func:`bayescale.fit.model_settings`) through the
    shared convergence ladder (:func:`bayescale.fit._ladder`, docs/convergence.md): against
    divergences :data:`bayescale.fit.LOSS_RETRY_TARGET_ACCEPT`, then (several groups) the
    local slopes non-centred, then the smallest step; against R-hat or ESS more draws, then
    twice the chains. Each step is an attempt in ``diagnostics.attempts``.

    Raises
    ------
    ConvergenceError
        When the gate fails after the ladder and ``allow_unconverged`` is false (the fit is
        ``error.result``).
    """
    from bayescale.fit import LOSS_RETRY_TARGET_ACCEPT, _advice, _ladder, model_settings
    from bayescale.loss_model import run_class
    from bayescale.nd_model import add_nd_scatter, build_nd_model

    priors = priors or NDPriors()
    settings = model_settings(settings, "loss")
    start = time.perf_counter()
    idata, diagnostics, settings, sampling_s = _ladder(
        lambda noncentred: build_nd_model(
            data, priors, noncentred=noncentred, pad_runs=run_class(int(data.fitted.sum()))
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
    if not diagnostics.ok and not allow_unconverged:
        raise ConvergenceError(_advice(diagnostics, ND_ADVICE), result=result)
    return result


#: What a variable of L(N, D) is, and what a user can do when it fails the gate
#: (:func:`bayescale.fit._advice`).
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
    "": ("", "; usually a run off the surface. Check the plot for one and remove it."),
}


# --------------------------------------------------------------------------------------------
# Predictive draws


@dataclass(frozen=True)
class NDDraws:
    r"""Per-draw parameters of the law and of a new run, arrays ``(sample, group)``.

    ``stretch_n``/``stretch_d`` (``(sample,)``) are :math:`e^{s\zeta} - 1` of the law
    discrepancy; ``eps`` the run-to-run scatter of a new run (one per draw and group, shared
    by targets, as in :func:`bayescale.forecast.loss_draws`).
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

    def curve(self, log_params: np.ndarray, log_tokens: np.ndarray) -> np.ndarray:
        """The law with its discrepancy at ``(ln N, ln D)``, shape ``(sample, group, *target)``.

        ``log_params``/``log_tokens`` broadcast against ``(sample, group, *target)`` once a
        trailing target axis is given: pass shape ``(target,)`` or ``(sample, group, target)``.
        """
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


def nd_draws(fit: NDFit, seed: int | None = None) -> NDDraws:
    """The per-draw parameters of ``fit`` with the new run's and discrepancy's random draws.

    The stream ``nd.forecast`` of the root ``seed``, else of the fit's forecast root
    (:func:`bayescale.seeds.forecast_stream`: its ``forecast_seed``, else the sampler's seed),
    so a fit gives the same numbers every time.
    """
    from bayescale.seeds import forecast_stream

    data = fit.data
    rng = forecast_stream(fit, "nd.forecast", seed)
    level = fit.draws("level")
    eps = rng.standard_normal(size=level.shape)
    zeta = rng.standard_normal(size=(2, level.shape[0]))
    s = fit.priors.discrepancy_exponent_sd
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

    For each draw the law *with its discrepancy* is minimised along ``κ·N·D = C``. Along a
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
        values = draws.curve(grid, ln_prod[j] - grid)  # (S, G, grid)
        k = np.clip(np.argmin(values, axis=-1), 1, OPTIMUM_GRID - 2)

        def along(u: np.ndarray, j: int = j) -> np.ndarray:
            return draws.curve(u[..., None], (ln_prod[j] - u)[..., None])[..., 0]

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
# Tables and the JSON document


def _summary(values: np.ndarray, interval: float) -> dict[str, float]:
    tail = (1 - interval) / 2
    lower, median, upper = np.quantile(values, [tail, 0.5, 1 - tail])
    return {
        "median": float(median),
        "lower": float(lower),
        "upper": float(upper),
        "mean": float(np.mean(values)),
    }


def targets_table(forecast: xr.Dataset, interval: float) -> list[dict[str, Any]]:
    """The ``targets[]`` block: per target, per group, the new run's loss summary.

    Each target is ``{target_compute, params, tokens, compute, loss[]}``: ``compute`` (κ·N·D)
    is L(N, D)'s key, ``target_compute`` the same number under the key of every law.
    """
    loss = forecast["loss"].values
    out = []
    for t in range(loss.shape[2]):
        rows = []
        for g, name in enumerate(forecast["group"].values.tolist()):
            rows.append({"group": str(name), **_summary(loss[:, g, t], interval)})
        compute = float(forecast["compute"].values[t])
        out.append(
            {
                "target_compute": compute,  # the key every law's targets[] has (§4)
                "params": float(forecast["params"].values[t]),
                "tokens": float(forecast["tokens"].values[t]),
                "compute": compute,
                "loss": rows,
            }
        )
    return out


def optimal_table(optimal: xr.Dataset, interval: float) -> list[dict[str, Any]]:
    """The ``optimal[]`` block: per budget and group, ``N*``, ``D*`` and the loss there."""
    out = []
    for b, budget in enumerate(optimal["budget"].values.tolist()):
        for g, name in enumerate(optimal["group"].values.tolist()):
            entry: dict[str, Any] = {"budget": float(budget), "group": str(name)}
            for key in ("params", "tokens", "loss"):
                summary = _summary(optimal[key].values[:, g, b], interval)
                entry[key] = {k: summary[k] for k in ("median", "lower", "upper")}
            out.append(entry)
    return out


def parameter_table(fit: NDFit, interval: float = 0.9) -> pd.DataFrame:
    """Posterior median and interval of E, A, alpha, B, beta per group (user units)."""
    rows = []
    for g, name in enumerate(fit.data.groups):
        for key in ("E", "A", "alpha", "B", "beta"):
            s = _summary(fit.draws(key)[:, g], interval)
            rows.append({"group": name, "parameter": key, **s})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Figure


def nd_figure(
    fit: NDFit,
    budgets: Any = (),
    targets: tuple[Any, Any] | None = None,
    interval: float = 0.9,
    group: int = 0,
) -> Figure:
    """Iso-loss contours in (N, D) with the runs and the optimal-allocation line and band.

    Contours are the posterior median law of ``group``; the line is the median ``N*(C)``
    over a range of budgets (the fitted runs' to the largest of ``budgets``), the band its
    central ``interval``; targets are marked with crosses.
    """
    from matplotlib.figure import Figure

    from bayescale.ticks import power_ticks

    data = fit.data
    draws = nd_draws(fit)
    n_all, d_all = data.params, data.tokens
    extra_n = [np.asarray(targets[0], float)] if targets is not None else []
    extra_d = [np.asarray(targets[1], float)] if targets is not None else []
    budgets = np.atleast_1d(np.asarray(budgets, dtype=float))
    c_lo = float(data.compute.min())
    c_hi = float(max([data.compute.max(), *budgets.tolist()]))
    line_budgets = np.geomspace(c_lo, c_hi, 24)
    opt = optimal_draws(draws, line_budgets)
    n_band = np.quantile(
        opt["params"].values[:, group, :], [(1 - interval) / 2, 0.5, (1 + interval) / 2], axis=0
    )
    d_mid = line_budgets / draws.kappa / n_band[1]
    n_lo = np.min(np.concatenate([n_all, *extra_n, n_band[0]])) / 2
    n_hi = np.max(np.concatenate([n_all, *extra_n, n_band[2]])) * 2
    d_lo = np.min(np.concatenate([d_all, *extra_d, d_mid])) / 2
    d_hi = np.max(np.concatenate([d_all, *extra_d, d_mid])) * 2
    gn, gd = np.meshgrid(np.geomspace(n_lo, n_hi, 120), np.geomspace(d_lo, d_hi, 120))
    sub = NDDraws(
        **{
            **draws.__dict__,
            "level": draws.level[::10],
            "reducible": draws.reducible[::10],
            "share": draws.share[::10],
            "alpha": draws.alpha[::10],
            "beta": draws.beta[::10],
            "sigma": draws.sigma[::10],
            "eps": draws.eps[::10],
            "stretch_n": np.zeros_like(draws.stretch_n[::10]),
            "stretch_d": np.zeros_like(draws.stretch_d[::10]),
        }
    )
    surface = np.median(sub.curve(np.log(gn).ravel(), np.log(gd).ravel())[:, group, :], axis=0)
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    cs = ax.contour(gn, gd, surface.reshape(gn.shape), levels=12, cmap="viridis", linewidths=0.8)
    ax.clabel(cs, fontsize=7, fmt="%.2f")
    own = data.group_index == group
    ax.scatter(n_all[own & data.fitted], d_all[own & data.fitted], s=14, c="k", label="fitted runs")
    if (own & data.held_out).any():
        ax.scatter(
            n_all[own & data.held_out],
            d_all[own & data.held_out],
            s=18,
            facecolors="none",
            edgecolors="k",
            label="held-out runs",
        )
    product = line_budgets / draws.kappa  # N·D along each budget: the band lies on it
    edge_lo, edge_hi = product / n_band[0], product / n_band[2]
    ax.fill(
        np.concatenate([n_band[0], n_band[2][::-1]]),
        np.concatenate([edge_lo, edge_hi[::-1]]),
        color="tab:red",
        alpha=0.2,
        label=f"N*(C), {interval:.0%} interval",
    )
    ax.plot(n_band[1], product / n_band[1], color="tab:red", lw=1.5, label="compute-optimal N*(C)")
    for budget in budgets:
        ns = np.geomspace(n_lo, n_hi, 50)
        ax.plot(ns, budget / draws.kappa / ns, ls=":", lw=0.8, color="grey")
    if budgets.size:
        ax.plot([], [], ls=":", lw=0.8, color="grey", label="budgets (iso-FLOP)")
    if targets is not None:
        ax.scatter(targets[0], targets[1], marker="x", s=50, c="tab:blue", label="targets")
    ax.set_xscale("log")
    ax.set_yscale("log")
    power_ticks(ax.xaxis)
    power_ticks(ax.yaxis)
    ax.set_xlim(n_lo, n_hi)
    ax.set_ylim(d_lo, d_hi)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("tokens D")
    ax.set_title(f"L(N, D), group {data.groups[group]}: median iso-loss contours")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


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


# --------------------------------------------------------------------------------------------
# The whole run: fit, answers, document, files

#: A target or budget farther than this factor beyond the largest fitted compute gets a
#: warning in the document: the law discrepancy is calibrated on 4x-100x extrapolations.
FAR_FACTOR = 1000.0


@dataclass(frozen=True)
class NDOptions(Options):
    """Everything an L(N, D) forecast is asked for, besides the table itself.

    The fields every law shares are :class:`~bayescale.options.Options`'s; here ``targets``
    are compute budgets in FLOPs (``--budget``; a spec's ``[forecast] targets``), for the
    compute-optimal allocation, and ``runs`` the planned runs as ``(N, D)`` pairs
    (``--target N:D``; a spec's ``[forecast] runs``), as the accuracy law names its planned
    models. ``where`` and ``drop_missing`` select the table's rows as for every law
    (:func:`bayescale.selection.select_rows`); ``value`` and ``cost_per_flop`` are refused;
    ``allow_backcast`` is not needed (a target below the data is warned of, not refused).
    """

    targets: tuple[float, ...] = ()
    runs: tuple[tuple[float, float], ...] = ()
    columns: NDColumns = field(default_factory=NDColumns)
    priors: NDPriors = field(default_factory=NDPriors)

    @property
    def budgets(self) -> tuple[float, ...]:
        """The compute budgets in FLOPs: :attr:`targets`."""
        return tuple(self.targets)

    def forecast_options(self) -> dict[str, object]:
        """What a saved fit remembers: the shared options (``targets``: the budgets), the runs.

        The planned runs are the ``params`` and ``tokens`` lists (as the accuracy law keeps
        its planned models). Fits saved before kept the budgets under ``budgets`` and an empty
        ``targets`` (:func:`nd_saved_options` reads both).
        """
        n, d = self.pairs()
        return remembered_options(self) | {"params": n.tolist(), "tokens": d.tolist()}

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The planned runs as two arrays ``(N, D)`` (empty without runs)."""
        if not self.runs:
            return np.array([]), np.array([])
        return check_pairs(*zip(*_as_pairs(self.runs), strict=True))


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


def check_nd_options(options: NDOptions, groups: tuple[str, ...] | None = None) -> None:
    """Refuse bad L(N, D) options before any sampling (the rule's group when ``groups``)."""
    from bayescale.targets import MAX_TARGETS, check_interval, check_targets

    check_interval(options.interval)
    if not 0 < options.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1, got {options.confidence}.")
    if options.value is not None or options.cost_per_flop is not None:
        raise InputError("--value and --cost-per-flop are not supported for L(N, D) forecasts.")
    if any(np.ndim(b) != 0 for b in options.targets):
        raise InputError(
            "L(N, D) options: targets are compute budgets in FLOPs (--budget C); planned runs "
            "(N, D) go in runs (--target N:D)."
        )
    n, d = options.pairs()
    budgets = np.asarray(options.budgets, dtype=float)
    if len(options.runs) + budgets.size > MAX_TARGETS:
        raise InputError(
            f"{len(options.runs):,} planned runs and {budgets.size:,} budgets; at most "
            f"{MAX_TARGETS:,} together per run (each keeps its own predictive draws). Split "
            "them over runs of 'bayescale forecast DIR/fit.nc'."
        )
    if budgets.size and not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise InputError("--budget must be a positive number of FLOPs.")
    for computes in (budgets, FLOPS_PER_PARAM_TOKEN * n * d):
        if computes.size:  # the range every law's targets keep (a unit mistake beyond it)
            check_targets(computes)
    if not options.runs and not budgets.size:
        raise InputError(
            "nothing to forecast: give --target N:D and/or --budget C (in a spec: [forecast] "
            "runs = [[N, D], ...] and/or targets = [C, ...])."
        )
    if options.requirement and groups is not None:
        nd_requirement(options.requirement, groups)


@dataclass(frozen=True, repr=False)
class NDForecast(Forecast):
    """A new run's loss at the planned runs, and the compute-optimal split per budget.

    Attributes
    ----------
    draws
        ``curve`` (the law) and ``loss`` (a new run), dims ``(sample, group, target)``, with
        coordinates ``params``, ``tokens`` and ``compute`` on ``target`` (no targets without
        planned runs) (:func:`nd_loss_draws`).
    optimal
        ``params``, ``tokens``, ``curve`` and ``loss`` at the optimum, dims ``(sample, group,
        budget)`` (:func:`optimal_draws`); ``None`` without budgets.
    interval
        Central interval probability of the tables.
    warnings
        About the targets, budgets and the data (the document's ``warnings[]``).
    """

    draws: xr.Dataset
    optimal: xr.Dataset | None
    interval: float
    warnings: tuple[str, ...] = ()

    @property
    def budgets(self) -> np.ndarray:
        """The budgets in FLOPs (empty without budgets)."""
        return np.array([]) if self.optimal is None else np.asarray(self.optimal["budget"].values)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        title = f"NDForecast: a new run's loss, median [{self.interval:.0%} interval]"
        rows = [
            (
                f"N={t['params']:.3g} D={t['tokens']:.3g} [{g['group']}]",
                f"{g['median']:.4f} [{g['lower']:.4f}, {g['upper']:.4f}]",
            )
            for t in targets_table(self.draws, self.interval)
            for g in t["loss"]
        ]
        if self.optimal is not None:
            rows += [
                (
                    f"budget {o['budget']:.3g} [{o['group']}]",
                    f"N* {o['params']['median']:.3g}, D* {o['tokens']['median']:.3g}",
                )
                for o in optimal_table(self.optimal, self.interval)
            ]
        return title, rows + [("warning", w) for w in self.warnings]


def nd_requirement(text: str, groups: tuple[str, ...]) -> tuple[Requirement, int]:
    """Parse ``loss<=x`` (``group.loss<=x`` with several groups) and find its group."""
    from bayescale.pipeline import loss_requirement

    return loss_requirement(text, groups)


def run_nd(
    data: NDData,
    params: Any = (),
    tokens: Any = (),
    budgets: Any = (),
    *,
    requirement: str | None = None,
    confidence: float = 0.9,
    interval: float = 0.9,
    priors: NDPriors | None = None,
    settings: SamplerSettings | None = None,
    allow_unconverged: bool = False,
) -> NDResult:
    """Fit, then answer: new runs at the targets, optima per budget, go/no-go, N needed.

    Options are checked before sampling. With a requirement, each target gets the
    probability that a new run meets it (GO at ``confidence``) and the smallest N that meets
    it with the target's tokens; each budget the smallest N that meets it within the budget.
    """
    n = np.atleast_1d(np.asarray(params, dtype=float))
    d = np.atleast_1d(np.asarray(tokens, dtype=float))
    if n.size or d.size:
        n, d = check_pairs(n, d)
    options = NDOptions(
        runs=tuple(zip(n.tolist(), d.tolist(), strict=True)),
        targets=tuple(np.atleast_1d(np.asarray(budgets, dtype=float)).tolist()),
        interval=interval,
        requirement=requirement,
        confidence=confidence,
        fit_max_compute=data.fit_max_compute,
        columns=data.columns,
        priors=priors or NDPriors(),
        sampler=settings or SamplerSettings(),
        allow_unconverged=allow_unconverged,
    )
    return run_nd_table(data, options)


def run_nd_table(source: str | Path | pd.DataFrame | NDData, options: NDOptions) -> NDResult:
    """Read the table, fit, answer: the registry's ``run`` (a path, a DataFrame or NDData).

    Every check that needs no sampling comes first: the options, the table, the rule's
    group; the warnings about the targets are logged before sampling.
    """
    from bayescale.targets import logged

    if isinstance(source, NDData):
        data = source
    else:
        check_nd_options(options)
        data = _load(source, options)
    check_nd_options(options, data.groups)
    n, d = options.pairs()
    logged(far_warnings(data, n, d, np.asarray(options.budgets, dtype=float)))
    fit = fit_nd(data, options.priors, options.sampler, allow_unconverged=options.allow_unconverged)
    return nd_result_from_fit(fit, options, warn=False)


def _load(source: str | Path | pd.DataFrame, options: NDOptions) -> NDData:
    """The table read with the options' columns, cut and row selection."""
    return load_nd_runs(
        source,
        options.columns,
        fit_max_compute=options.fit_max_compute,
        where=options.where,
        drop_missing=options.drop_missing,
    )


def far_warnings(data: NDData, n: np.ndarray, d: np.ndarray, budgets: np.ndarray) -> list[str]:
    """Warnings when planned runs or budgets lie below the data, or far beyond it.

    Below the smallest fitted run is a backcast; beyond :data:`FAR_FACTOR` x the largest, an
    extrapolation the law discrepancy was not calibrated on.
    """
    fitted = data.compute[data.fitted]
    c_min, c_max = float(fitted.min()), float(fitted.max())
    computes = [*(data.flops_per_param_token * n * d), *budgets]
    out = []
    below = [c for c in computes if c < c_min]
    if below:
        out.append(
            f"{len(below)} target(s) or budget(s) lie below the smallest fitted run "
            f"({c_min:.3g} FLOPs; the lowest at {min(below):.3g}): a backcast, not a "
            "forecast; the answer rests on the law's form below the data."
        )
    far = [c for c in computes if c > FAR_FACTOR * c_max]
    if far:
        out.append(
            f"{len(far)} target(s) or budget(s) lie more than {FAR_FACTOR:.0f}x beyond the "
            f"largest fitted run ({c_max:.3g} FLOPs); the law discrepancy is calibrated on "
            "4x-100x extrapolations."
        )
    return out + swapped_warnings(data) + one_ratio_warnings(data) + repeated_nd_warnings(data)


def swapped_warnings(data: NDData) -> list[str]:
    """A warning when every fitted run has fewer tokens than parameters (columns swapped?).

    Scaling ladders train on 1 to 1000+ tokens a parameter (Chinchilla's optimum is about
    20); a table where D < N on every run most often has the two columns the wrong way
    round, which swaps the exponents and the compute-optimal N* and D*.
    """
    fitted = data.fitted
    ratio = data.tokens[fitted] / data.params[fitted]
    if not (ratio < 1).all():
        return []
    columns = data.columns
    return [
        f"every fitted run has fewer tokens ('{columns.tokens}') than parameters "
        f"('{columns.params}'): D/N from {ratio.min():.3g} to {ratio.max():.3g}, where "
        "scaling ladders train on about 1 to 1000 tokens a parameter. Check that the two "
        "columns are not swapped (--params-col, --tokens-col): swapped, they swap the "
        "exponents and N*, D*."
    ]


def repeated_nd_warnings(data: NDData) -> list[str]:
    """A warning for each fitted run that repeats another's group, N, D and loss exactly."""
    from bayescale.targets import repeated_row_warnings

    values = {"N": data.params, "D": data.tokens, "loss": data.loss}
    return repeated_row_warnings(data.name, data.group, data.fitted, values)


def one_ratio_warnings(data: NDData) -> list[str]:
    """A warning per group whose fitted runs all have one tokens-per-parameter ratio D/N.

    Such a ladder (every run at 20 tokens a parameter, say) moves N and D together, so it
    cannot tell the parameter exponent from the token exponent: the loss of a run at that
    ratio is the data's, while other ratios and the compute-optimal split are the prior's.
    """
    out = []
    for g in data.groups:
        rows = data.fitted & (data.group == g)
        ratio = data.tokens[rows] / data.params[rows]
        if np.ptp(np.log(ratio)) < 0.01:  # within 1%
            where = f"group '{g}'" if len(data.groups) > 1 else "every fitted run"
            out.append(
                f"{where}: one tokens-per-parameter ratio (D/N = {np.median(ratio):.3g}): "
                "N and D move together, so the table cannot tell the parameter exponent from "
                "the token exponent. Runs at that ratio are forecast from the data; other "
                "ratios and the compute-optimal N*, D* rest on the prior. Add runs at another "
                "ratio (more or fewer tokens for a size) to pin the split."
            )
    return out


def nd_result_from_fit(fit: NDFit, options: NDOptions, *, warn: bool = True) -> NDResult:
    """Everything after sampling: forecasts at the targets, optima, decisions, N needed.

    Shared by ``bayescale nd`` and ``bayescale forecast`` from a saved fit (the registry's
    ``result_from_fit``); the same fit and options give the same numbers. ``warn=False``
    keeps the warnings out of the log (already logged before sampling).
    """
    from bayescale.targets import logged

    check_nd_options(options, fit.data.groups)
    data = fit.data
    n, d = options.pairs()
    budget_arr = np.asarray(options.budgets, dtype=float)
    runs = nd_loss_draws(fit, n, d) if n.size else _no_runs(fit)
    draws = nd_draws(fit)
    optimal = optimal_draws(draws, budget_arr) if budget_arr.size else None
    warnings = far_warnings(data, n, d, budget_arr)
    if not fit.diagnostics.ok:
        warnings.append("the sampler did not converge: " + "; ".join(fit.diagnostics.problems()))
    forecast = NDForecast(runs, optimal, options.interval, logged(warnings, warn))
    decisions: list[Decision] = []
    curve = None
    required: list[RequiredParams] = []
    confidence = options.confidence
    if options.requirement:
        rule, gi = nd_requirement(options.requirement, data.groups)
        if n.size:
            decisions, curve = decide_nd_runs(fit, options, draws, runs)
            required += [
                required_params(fit, rule, gi, tokens=float(t), confidence=confidence) for t in d
            ]
        required += [
            required_params(fit, rule, gi, budget=float(b), confidence=confidence)
            for b in budget_arr
        ]
    return NDResult(
        fit=fit,
        forecast=forecast,
        parameters=parameter_table(fit, options.interval),
        held_out=score_held_out_runs(fit, options.interval),
        decisions=tuple(decisions),
        options=options,
        curve=curve,
        required=tuple(required),
    )


def _no_runs(fit: NDFit) -> xr.Dataset:
    """:func:`nd_loss_draws`'s dataset without targets (a forecast of budgets only)."""
    empty = np.empty((fit.draws("level").shape[0], len(fit.data.groups), 0))
    dims = ("sample", "group", "target")
    none = ("target", np.array([]))
    return xr.Dataset(
        {"curve": (dims, empty), "loss": (dims, empty.copy())},
        coords={"group": list(fit.data.groups), "params": none, "tokens": none, "compute": none},
    )


def nd_requirement_draws(
    draws: NDDraws,
    groups: tuple[str, ...],
    requirement: str,
    *,
    tokens_per_param: float,
    curve: bool = False,
    cache: dict[str, Any] | None = None,
) -> tuple[Requirement, Any]:
    """The parsed requirement and a ``compute -> draws`` function of its group.

    A new run's loss (or with ``curve=True`` the law's) at compute C along the path of
    ``tokens_per_param`` tokens per parameter r: N = (C / κr)^(1/2), D = r·N
    (:data:`bayescale.results.RequirementDraws`; ``cache`` is not needed here).
    """
    rule, gi = nd_requirement(requirement, groups)

    def draws_at(compute: np.ndarray) -> np.ndarray:
        compute = np.atleast_1d(np.asarray(compute, dtype=float))
        params = np.sqrt(compute / (draws.kappa * tokens_per_param))
        at = draws.curve if curve else draws.new_run
        return np.asarray(at(np.log(params), np.log(tokens_per_param * params))[:, gi, :])

    return rule, draws_at


def decide_nd_runs(
    fit: NDFit, options: NDOptions, draws: NDDraws, runs: xr.Dataset
) -> tuple[list[Decision], DecisionCurve | None]:
    """Decisions at the planned runs (``options.runs``), in their order.

    Each run's probability is the share of a new run's draws at its own N and D that meet
    the rule; the compute needed is searched along its tokens per parameter (N and D scaled
    together), one search per distinct ratio, from the smallest fitted run of the rule's
    group. The probability curve (``decision.png``) is kept only when every planned run has
    the same ratio.
    """
    from dataclasses import replace
    from functools import partial

    from bayescale.results import decide_planned_runs

    assert options.requirement is not None
    rule, gi = nd_requirement(options.requirement, fit.data.groups)
    n, d = options.pairs()
    probability = rule.holds(runs["loss"].values[:, gi, :]).mean(axis=0)
    data = fit.data
    smallest = float(data.compute[data.fitted & (data.group_index == gi)].min())
    made, curve = decide_planned_runs(
        options,
        n,
        d,
        draws.kappa,
        lambda ratio: partial(nd_requirement_draws, draws, data.groups, tokens_per_param=ratio),
        smallest,
    )
    return [
        replace(dec, probability=float(p)) for dec, p in zip(made, probability, strict=True)
    ], curve


#: Columns of the held-out runs' table (``held_out`` of the document).
HELD_OUT_COLUMNS = (
    "name",
    "group",
    "params",
    "tokens",
    "compute",
    "observed",
    "median",
    "lower",
    "upper",
    "covered",
    "rel_error",
)


def score_held_out_runs(fit: NDFit, interval: float = 0.9) -> pd.DataFrame:
    """Score the held-out runs (``--fit-max-compute``) against a new run at their own (N, D).

    One row per held-out run (:data:`HELD_OUT_COLUMNS`): its predictive median and central
    ``interval``, whether it covers the observed loss, and the relative error of the median;
    drawn as :func:`nd_loss_draws` draws (as ``bayescale backtest nd`` scores). Empty when
    nothing is held out.
    """
    from bayescale.draws import summarise

    data = fit.data
    held = np.flatnonzero(data.held_out)
    if held.size == 0:
        return pd.DataFrame(columns=list(HELD_OUT_COLUMNS))
    loss = nd_loss_draws(fit, data.params[held], data.tokens[held])["loss"].values
    stats = summarise(loss[:, data.group_index[held], np.arange(held.size)], interval)
    observed = data.loss[held]
    return pd.DataFrame(
        {
            "name": [str(v) for v in data.name[held]],
            "group": [str(v) for v in data.group[held]],
            "params": data.params[held],
            "tokens": data.tokens[held],
            "compute": data.compute[held],
            "observed": observed,
            "median": stats["median"],
            "lower": stats["lower"],
            "upper": stats["upper"],
            "covered": (stats["lower"] <= observed) & (observed <= stats["upper"]),
            "rel_error": stats["median"] / observed - 1,
        }
    )


def nd_spec_sections() -> dict[str, tuple[type, Any]]:
    """An L(N, D) spec's own sections (docs/specs.md).

    ``[data.columns]``, ``[priors]`` and ``[forecast]`` with ``runs`` (planned runs as
    ``[N, D]`` pairs) besides ``targets``, which here are compute budgets in FLOPs for the
    compute-optimal split, as ``--budget`` is on the command line.
    """
    from typing import Annotated

    from pydantic import Field

    from bayescale.spec_schema import ForecastSpec, law_sections

    positive = Annotated[float, Field(gt=0)]

    class NDForecastSpec(ForecastSpec):
        """``[forecast]`` of an L(N, D) spec: planned runs and compute budgets."""

        targets: list[positive] = Field(default_factory=list)
        runs: list[Annotated[list[positive], Field(min_length=2, max_length=2)]] = Field(
            default_factory=list
        )

    return law_sections(NDColumns, NDPriors, NDForecastSpec)


def nd_spec_options(model: Any, common: dict[str, Any]) -> NDOptions:
    """An L(N, D) spec's options: planned runs, budgets (``targets``), columns and priors."""
    from bayescale.spec_schema import set_keys

    return NDOptions(
        **common,
        runs=tuple((float(n), float(d)) for n, d in model.forecast.runs),
        columns=NDColumns(**set_keys(model.data.columns)),
        priors=NDPriors(**set_keys(model.priors)),
    )


def check_nd_spec(spec: Any, options: NDOptions, path: Path, rule: Any) -> tuple[str, list[str]]:
    """What ``bayescale check`` does for an L(N, D) spec before sampling (``run_nd``'s checks).

    Returns the lines that describe the data and the targets, and the target warnings; an
    error about the requirement is raised inside ``rule()``.
    """
    from bayescale.spec_schema import data_line

    check_nd_options(options)
    data = _load(path, options)
    if options.requirement:
        with rule():
            nd_requirement(options.requirement, data.groups)
    n, d = options.pairs()
    budgets = np.asarray(options.budgets, dtype=float)
    warned = far_warnings(data, n, d, budgets)
    runs = ", ".join(f"(N={a:.3g}, D={b:.3g})" for a, b in zip(n, d, strict=True)) or "none"
    groups = f" in {len(data.groups)} group(s): " + ", ".join(data.groups)
    described = (
        data_line(path, "runs", data.fitted, groups)
        + f"\nplanned runs: {runs}; budgets (FLOPs): "
        + (", ".join(f"{b:.3g}" for b in budgets) or "none")
        + f"; {options.interval:.0%} intervals"
    )
    return described, warned


def nd_saved_options(fit: NDFit, values: dict[str, Any], kept: dict[str, Any]) -> NDOptions:
    """The :class:`NDOptions` of the run that saved ``fit`` (``values``: what every law keeps).

    The budgets are the shared ``targets``; fits saved before kept them under ``budgets``
    (with ``targets`` empty), read here too.
    """
    pairs = tuple(
        (float(n), float(d))
        for n, d in zip(kept.get("params", ()), kept.get("tokens", ()), strict=True)
    )
    budgets = kept["budgets"] if "budgets" in kept else values["targets"]
    return NDOptions(
        targets=tuple(float(b) for b in budgets),
        runs=pairs,
        interval=float(values["interval"]),
        requirement=values["requirement"],
        confidence=float(values["confidence"]),
        fit_max_compute=values["fit_max_compute"],
        columns=fit.data.columns,
        priors=fit.priors,
        sampler=values["sampler"],
    )


def _needed(required: RequiredParams) -> dict[str, float | None]:
    """A ``params_needed`` block: the smallest N at the median and at the confidence."""
    return {
        "median": required.params_median,
        "at_confidence": required.params_at_confidence,
        "probability": required.probability_at,
    }


def _required_split(result: NDResult) -> tuple[list[RequiredParams], list[RequiredParams]]:
    """The N needed at each planned run's tokens, and within each budget."""
    required = list(result.required)
    at_runs = len(result.decisions)  # one per planned run when there is a rule
    return required[:at_runs], required[at_runs:]


def nd_document(result: NDResult, version: str | None = None) -> dict[str, Any]:
    """The result document of ``bayescale nd`` (docs/formats.md): §4's, with L(N, D)'s keys.

    ``targets[]``: ``{params, tokens, compute, loss[]: {group, median, lower, upper, mean}}``,
    with the rule's ``decision`` at that planned run (its ``params_needed`` at the run's
    tokens besides the shared keys); ``optimal[]``: ``{budget, group, params{median, lower,
    upper}, tokens{...}, loss{...}}``, the rule's group with ``decision.params_needed``
    within the budget. Then what every law's document ends with
    (:func:`bayescale.report.document_tail`: ``parameters``, ``held_out``, ``diagnostics``,
    ``warnings``, ``sampler``, ``timing_s``).
    """
    from bayescale.report import clean_json, document_tail
    from bayescale.version import __version__

    fit, diag = result.fit, result.fit.diagnostics
    interval = result.forecast.interval
    at_runs, within = _required_split(result)
    targets = targets_table(result.forecast.draws, interval)
    for entry, decision, needed in zip(targets, result.decisions, at_runs, strict=False):
        entry["decision"] = decision.to_dict() | {"params_needed": _needed(needed)}
    optimal = (
        optimal_table(result.forecast.optimal, interval)
        if result.forecast.optimal is not None
        else []
    )
    by_budget = {(r.budget, r.group): r for r in within}
    for entry in optimal:
        need = by_budget.get((entry["budget"], entry["group"]))
        if need is not None:
            entry["decision"] = {
                "requirement": need.requirement,
                "confidence": need.confidence,
                "params_needed": _needed(need),
            }
    document: dict[str, Any] = {
        "bayescale_version": version or __version__,
        "kind": "nd",
        "ok": bool(diag.ok),
        "interval": interval,
        "law": "L(N, D) = E + A/N^alpha + B/D^beta",
        "data": {
            "source": fit.data.source,
            "runs": int(fit.data.fitted.sum()),
            "held_out": int(fit.data.held_out.sum()),
            "groups": list(fit.data.groups),
            "flops_per_param_token": fit.data.flops_per_param_token,
        },
        "targets": targets,
        "optimal": optimal,
        "compute_choice": None,
    } | document_tail(result)
    document["diagnostics"] |= {
        "chains": diag.chains,
        "draws": diag.draws,
        "problems": diag.problems(),
    }
    return clean_json(document)


@dataclass(frozen=True, repr=False)
class NDResult(Result[NDFit, NDForecast, NDOptions]):
    """Everything ``bayescale nd`` reports: the fit and its answers (a :class:`Result`).

    ``decisions`` are :class:`~bayescale.decision.Decision` objects at the planned runs
    (each with its ``planned`` (N, D); the compute needed along the run's tokens per
    parameter); ``required`` the smallest N that meets the rule with each planned run's
    tokens, then within each budget (:func:`required_params`). ``choice`` is ``None`` (no
    value-optimal compute).
    """

    required: tuple[RequiredParams, ...] = ()

    document_builder = staticmethod(nd_document)

    @property
    def interval(self) -> float:
        """Central interval probability of the tables."""
        return self.forecast.interval

    @property
    def optimal(self) -> xr.Dataset | None:
        """The compute-optimal draws per budget (:attr:`NDForecast.optimal`)."""
        return self.forecast.optimal


def nd_markdown(result: NDResult, version: str | None = None, plots: Sequence[str] = ()) -> str:
    """``report.md``: decisions, figures, parameters, targets, optima, N needed, diagnostics."""
    from bayescale.report import diagnostics_lines, head_lines, markdown_text

    doc = nd_document(result, version)
    fit = result.fit
    lines = head_lines(result, f"L(N, D) forecast: {markdown_text(doc['data']['source'])}")
    data = doc["data"]
    lines += [
        f"- {data['runs']} fitted runs in {len(data['groups'])} group(s) "
        f"({', '.join(map(markdown_text, data['groups']))}); {data['held_out']} held out.",
        "",
    ]
    lines += [f"![{FIGURE_TITLES.get(p, p)}]({p})" for p in plots] + [""]
    lines += ["| group | parameter | median | lower | upper |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {markdown_text(r['group'])} | {r['parameter']} | {r['median']:.4g} | {r['lower']:.4g} "
        f"| {r['upper']:.4g} |"
        for r in doc["parameters"]
    ]
    if doc["targets"]:
        lines += [
            "",
            "| N | D | group | median | lower | upper |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for t in doc["targets"]:
            for g in t["loss"]:
                lines.append(
                    f"| {t['params']:.3g} | {t['tokens']:.3g} | {markdown_text(g['group'])} "
                    f"| {g['median']:.4f} | {g['lower']:.4f} | {g['upper']:.4f} |"
                )
    if doc["optimal"]:
        lines += ["", "| budget | group | N* | D* | loss |", "| --- | --- | --- | --- | --- |"]
        for o in doc["optimal"]:
            p, t, lo = o["params"], o["tokens"], o["loss"]
            lines.append(
                f"| {o['budget']:.3g} | {markdown_text(o['group'])} | {p['median']:.3g} "
                f"({p['lower']:.3g}-{p['upper']:.3g}) | {t['median']:.3g} ({t['lower']:.3g}-"
                f"{t['upper']:.3g}) | {lo['median']:.4f} ({lo['lower']:.4f}-{lo['upper']:.4f}) |"
            )
    needed = needed_lines(result)
    if needed:
        lines += ["", *(f"- {line}" for line in needed)]
    held = result.held_out
    if not held.empty:
        pct = f"{result.interval:.0%}"
        lines += [
            "",
            "## Held-out runs",
            "",
            f"{int(held['covered'].sum())} of {len(held)} held-out runs fall inside their "
            f"{pct} predictive interval at their own N and D; median absolute relative error "
            f"of the median {np.median(np.abs(held['rel_error'])):.2%}.",
            "",
            "| name | group | N | D | observed | median | lower | upper |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {markdown_text(r.name)} | {markdown_text(r.group)} | {r.params:.3g} "
            f"| {r.tokens:.3g} | {r.observed:.4f} | {r.median:.4f} | {r.lower:.4f} "
            f"| {r.upper:.4f} |"
            for r in held.itertuples()
        ]
    lines += ["", *diagnostics_lines(fit.diagnostics, fit.timing_s), ""]
    lines += [f"_bayescale {doc['bayescale_version']}_", ""]
    return "\n".join(lines)


#: The figures of ``--out`` and their titles in ``report.md``.
FIGURE_TITLES = {
    "nd_contours.png": "iso-loss contours and the compute-optimal allocation",
    "nd_path.png": "forecast along the planned path",
    "decision.png": "probability that the rule holds, along the planned runs' path",
}


def needed_lines(result: NDResult) -> list[str]:
    """The smallest N that meets the rule, at each planned run's tokens and in each budget."""

    def sentence(r: RequiredParams, where: str) -> str:
        at = r.params_at_confidence
        reach = (
            f"N >= {at:.3g} at {r.confidence:.0%} confidence"
            if at is not None
            else f"no N reaches {r.confidence:.0%} confidence"
        )
        median = r.params_median
        return f"N needed for {r.requirement} {where}: {reach}" + (
            f" (the median run: N >= {median:.3g})." if median is not None else "."
        )

    at_runs, within = _required_split(result)
    return [sentence(r, f"with D={r.tokens:.3g}") for r in at_runs] + [
        sentence(r, f"within {r.budget:.3g} FLOPs") for r in within
    ]


def nd_summary(result: NDResult) -> str:
    """The command line's forecast lines (the decisions and diagnostics follow, shared)."""
    doc = result.document()
    lines = []
    for t in doc["targets"]:
        for g in t["loss"]:
            lines.append(
                f"N={t['params']:.3g} D={t['tokens']:.3g} [{g['group']}]: loss {g['median']:.4f} "
                f"({result.interval:.0%}: {g['lower']:.4f}-{g['upper']:.4f})"
            )
    for o in doc["optimal"]:
        p, lo = o["params"], o["loss"]
        lines.append(
            f"budget {o['budget']:.3g} [{o['group']}]: N* {p['median']:.3g} "
            f"({p['lower']:.3g}-{p['upper']:.3g}), D* {o['tokens']['median']:.3g}, "
            f"loss {lo['median']:.4f}"
        )
    lines += needed_lines(result)
    held = result.held_out
    if not held.empty:
        lines.append(
            f"Held-out runs: {int(held['covered'].sum())}/{len(held)} inside the "
            f"{result.interval:.0%} interval."
        )
    return "\n".join(lines)

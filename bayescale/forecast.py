r"""Forecasts: posterior predictive draws of a new run at target compute.

A forecast is a set of draws, not a number. For every posterior draw *s* and group *g* the
curve value at compute *C* is :func:`bayescale.laws.loss_law_pivot`; a *new run* adds the
run-to-run scatter of the likelihood, :math:`\ln L_{new} = \ln L_g(C) + \sigma\varepsilon`.
Intervals are central at the requested probability; means are a column, never the answer.
The scatter draws are seeded by the fit's seed, so the same fit and seed give the same numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.data import COMPUTE_RANGE, LossData
from bayescale.display import html_summary, text_summary
from bayescale.errors import InputError
from bayescale.fit import LossFit
from bayescale.laws import loss_law_pivot
from bayescale.priors import LossPriors

log = logging.getLogger("bayescale")

#: Most target computes one run forecasts.
MAX_TARGETS = 1_000


def check_targets(
    targets: float | list[float] | tuple[float, ...] | np.ndarray,
) -> np.ndarray:
    """Return target computes as a 1-d float array, refusing non-positive values.

    At most :data:`MAX_TARGETS` per run: each target holds a full set of predictive draws.
    """
    arr = np.atleast_1d(np.asarray(targets, dtype=float))
    if arr.size == 0:
        raise InputError("no target compute given; pass --target-compute C (FLOPs).")
    if arr.size > MAX_TARGETS:
        raise InputError(
            f"{arr.size:,} target computes; at most {MAX_TARGETS:,} per run (each keeps its own "
            "predictive draws). Forecast a coarser grid, or split the targets over runs of "
            "'bayescale forecast DIR/fit.nc'."
        )
    bad = arr[~(np.isfinite(arr) & (arr > 0))]
    if bad.size:
        raise InputError(f"target compute must be a positive number of FLOPs, got {bad[0]:g}.")
    low, high = COMPUTE_RANGE
    bad = arr[(arr < low) | (arr > high)]
    if bad.size:
        raise InputError(
            f"target compute {bad[0]:g} is outside the range bayescale accepts ({low:g} to "
            f"{high:g} FLOPs); check the unit."
        )
    return arr


def check_interval(interval: float) -> float:
    """Refuse an interval probability outside (0, 1)."""
    if not 0 < interval < 1:
        raise InputError(f"--interval must be between 0 and 1 (e.g. 0.9), got {interval}.")
    return float(interval)


#: With fewer distinct fitted computes than this, a target more than 10x beyond the largest
#: one is a far extrapolation (with more, only beyond the fitted range's own width).
FEW_SIZES = 5


def target_warnings(
    targets: np.ndarray,
    fitted: dict[str, np.ndarray],
    *,
    rests_on: str,
    allow_backcast: bool = False,
    unit: str = "run",
) -> list[str]:
    """Check target computes against the fitted computes before (or without) sampling.

    A target below the smallest fitted compute is refused unless ``allow_backcast``; one inside
    the fitted range, or far beyond it for the number of fitted sizes (more than the range's
    own width in decades, or more than one decade with fewer than :data:`FEW_SIZES` sizes),
    gets a warning that says how far and what the interval then rests on.

    Parameters
    ----------
    targets
        Target computes in FLOPs.
    fitted
        Fitted computes per group (one entry ``{"": computes}`` when there are no groups).
    rests_on
        What the interval rests on beyond the data, for the warning.
    allow_backcast
        Accept targets below the smallest fitted compute (with a warning).
    unit
        What a fitted point is (``run``, ``model``), for messages.

    Returns
    -------
    list of str
        One warning per target that needs one.

    Raises
    ------
    InputError
        On a target below every fitted compute, unless ``allow_backcast``.

    Examples
    --------
    >>> target_warnings(np.array([1e22]), {"": np.array([1e19, 1e20, 1e21])}, rests_on="x")
    []
    >>> target_warnings(np.array([1e23]), {"": np.array([1e19, 1e20, 1e21])},
    ...                 rests_on="the law")[0][:60]
    'target 1e+23 FLOPs is 2 decades (100x) beyond the largest fi'
    """
    out: list[str] = []
    smallest = min(float(c.min()) for c in fitted.values())
    for t in np.atleast_1d(np.asarray(targets, dtype=float)):
        if t < smallest:
            what = (
                f"target {t:.3g} FLOPs is below the smallest fitted {unit} ({smallest:.3g} FLOPs, "
                f"{np.log10(smallest / t):.1f} decades lower): a backcast, not a forecast"
            )
            if not allow_backcast:
                raise InputError(
                    f"{what}. Give a target at or above {smallest:.3g} FLOPs, or pass "
                    "--allow-backcast (Python: allow_backcast=True) if you mean it."
                )
            out.append(f"{what}; the interval rests on the law's form below the data.")
            continue
        inside = [g for g, c in fitted.items() if c.min() <= t <= c.max()]
        if inside:
            lo, hi = fitted[inside[0]].min(), fitted[inside[0]].max()
            where = f" of group '{inside[0]}'" if inside[0] else ""
            out.append(
                f"target {t:.3g} FLOPs lies inside the fitted range{where} ({lo:.3g} to "
                f"{hi:.3g} FLOPs): an interpolation, not a forecast; the interval is that of a "
                f"new {unit} at that compute."
            )
            continue
        worst: tuple[float, str] | None = None
        for g, c in fitted.items():
            sizes = np.unique(c).size
            span = np.log10(c.max() / c.min())
            beyond = np.log10(t / c.max())
            limit = min(span, 1.0) if sizes < FEW_SIZES else span
            if beyond > limit + 0.01 and (worst is None or beyond - limit > worst[0]):
                where = f" of group '{g}'" if g else ""
                worst = (
                    beyond - limit,
                    f"target {t:.3g} FLOPs is {beyond:.2g} decades ({10**beyond:.3g}x) beyond "
                    f"the largest fitted {unit}{where} ({c.max():.3g} FLOPs), fitted on "
                    f"{sizes} sizes spanning {span:.2g} decade(s): there the interval rests on "
                    f"{rests_on}, not on the data; read it as a scenario.",
                )
        if worst is not None:
            out.append(worst[1])
    return out


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
    return target_warnings(targets, fitted, rests_on=rests_on, allow_backcast=allow_backcast)


def _log_largest_fitted(fit: LossFit) -> np.ndarray:
    """Log of each group's largest fitted compute, shape ``(group,)``."""
    data = fit.data
    return np.array(
        [
            np.log(data.compute[data.fitted & (data.group_index == g)].max())
            for g in range(len(data.groups))
        ]
    )


def loss_draws(fit: LossFit, compute: np.ndarray, seed: int | None = None) -> xr.Dataset:
    """Posterior draws of the curve and of a new run at each compute, for every group.

    Beyond a group's largest fitted run the curve includes the law discrepancy of
    :mod:`bayescale.priors` (``discrepancy_exponent_sd``), so both ``curve`` and ``loss`` widen
    with the distance of the extrapolation; a new run adds the run-to-run scatter.

    Parameters
    ----------
    fit
        A loss fit.
    compute
        Computes in FLOPs, shape ``(n,)``.
    seed
        Seed of the scatter draws; the fit's sampler seed by default.

    Returns
    -------
    xarray.Dataset
        ``curve`` and ``loss`` (a new run), dims ``(sample, group, compute)``.
    """
    compute = np.asarray(compute, dtype=float)
    x = np.log(compute) - fit.log_pivot
    level = fit.draws("level")[:, :, None]
    reducible = fit.draws("reducible")[:, :, None]
    exponent = fit.draws("exponent")[:, :, None]
    curve = loss_law_pivot(x[None, None, :], level, reducible, exponent)
    rng = np.random.default_rng(fit.settings.seed if seed is None else seed)
    sigma = fit.draws("sigma")[:, None, None]
    # one scatter draw per (posterior draw, group), shared by every compute: the marginals are
    # those of a new run at each compute, P(requirement) is monotone in compute, and the
    # numbers at one target do not depend on which other targets are asked for
    shape = (curve.shape[0], curve.shape[1], 1)
    if fit.priors.likelihood == "student_t":
        eps = rng.standard_t(fit.priors.student_t_nu, size=shape)
    else:
        eps = rng.standard_normal(size=shape)
    # law discrepancy beyond each group's largest fitted run (bayescale.priors): the reducible
    # loss falls there with exponent k * exp(s * zeta) instead of k, one zeta per posterior
    # draw shared by groups (one run) and computes, so every draw stays monotone and above the
    # irreducible loss; drawn after eps so fits saved without the term reproduce their numbers
    zeta = rng.standard_normal(size=(curve.shape[0], 1, 1))
    stretch = np.expm1(fit.priors.discrepancy_exponent_sd * zeta)
    irreducible = level * (1.0 - reducible)
    beyond = np.maximum(0.0, np.log(compute)[None, :] - _log_largest_fitted(fit)[:, None])
    curve = np.where(
        beyond[None] > 0,
        irreducible + (curve - irreducible) * np.exp(-exponent * stretch * beyond[None]),
        curve,  # in range the law itself, to the last bit
    )
    new_run = curve * np.exp(sigma * eps)
    coords = {"group": list(fit.data.groups), "compute": compute}
    dims = ("sample", "group", "compute")
    return xr.Dataset({"curve": (dims, curve), "loss": (dims, new_run)}, coords=coords)


def summarise(values: np.ndarray, interval: float, axis: int = 0) -> dict[str, np.ndarray]:
    """Median, central interval bounds and mean of draws along ``axis``."""
    tail = (1 - interval) / 2
    lower, median, upper = np.quantile(values, [tail, 0.5, 1 - tail], axis=axis)
    return {
        "median": median,
        "lower": lower,
        "upper": upper,
        "mean": values.mean(axis=axis),
    }


@dataclass(frozen=True)
class LossForecast:
    """Predictive draws and their summary at the target computes.

    Attributes
    ----------
    draws
        ``curve`` and ``loss`` (new run), dims ``(sample, group, compute)``.
    interval
        Central interval probability of :meth:`table`.
    warnings
        Warnings about the targets (inside, below or far beyond the fitted range).
    """

    draws: xr.Dataset
    interval: float
    warnings: tuple[str, ...] = ()

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        return _forecast_summary(self)

    def __repr__(self) -> str:
        return text_summary(*self._summary())

    def _repr_html_(self) -> str:
        return html_summary(*self._summary())

    @property
    def targets(self) -> np.ndarray:
        """The target computes in FLOPs."""
        return np.asarray(self.draws["compute"].values)

    def table(self) -> pd.DataFrame:
        """One row per (target, group): new-run median, lower, upper, mean and the curve's CI."""
        new = summarise(self.draws["loss"].values, self.interval)
        curve = summarise(self.draws["curve"].values, self.interval)
        rows = []
        for gi, group in enumerate(self.draws["group"].values):
            for ti, target in enumerate(self.targets):
                rows.append(
                    {
                        "target_compute": float(target),
                        "group": str(group),
                        **{k: float(v[gi, ti]) for k, v in new.items()},
                        **{f"curve_{k}": float(v[gi, ti]) for k, v in curve.items()},
                    }
                )
        return pd.DataFrame(rows).sort_values(["target_compute", "group"], ignore_index=True)


def forecast_loss(
    fit: LossFit,
    targets: float | list[float] | np.ndarray,
    interval: float = 0.9,
    *,
    allow_backcast: bool = False,
    warn: bool = True,
) -> LossForecast:
    """Forecast the final loss of a new run at each target compute, per group.

    Parameters
    ----------
    fit
        A loss fit (:func:`bayescale.fit.fit_loss`).
    targets
        Target compute(s) in FLOPs: a number or a list/array.
    interval
        Central predictive interval probability.
    allow_backcast
        Accept targets below the smallest fitted run (refused otherwise).
    warn
        Log the target warnings (they are kept in :attr:`LossForecast.warnings` either way).

    Returns
    -------
    LossForecast
    """
    targets = check_targets(targets)
    warnings = loss_target_warnings(fit.data, targets, fit.priors, allow_backcast=allow_backcast)
    if warn:
        for message in warnings:
            log.warning("warning: %s", message)
    return LossForecast(
        draws=loss_draws(fit, targets),
        interval=check_interval(interval),
        warnings=tuple(warnings),
    )


def _forecast_summary(forecast: LossForecast) -> tuple[str, list[tuple[str, str]]]:
    table = forecast.table()
    rows = [
        (
            f"{r.group} @ {r.target_compute:.3g}",
            f"{r.median:.4g} [{r.lower:.4g}, {r.upper:.4g}]",
        )
        for r in table.head(12).itertuples()
    ]
    if len(table) > 12:
        rows.append(("…", f"{len(table) - 12} more rows: .table()"))
    rows += [("warning", w) for w in forecast.warnings]
    title = f"LossForecast: final loss of a new run, median [{forecast.interval:.0%} interval]"
    return title, rows


def score_held_out(fit: LossFit, interval: float = 0.9) -> pd.DataFrame:
    """Score the held-out runs against their own predictive intervals.

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
        return pd.DataFrame(
            columns=[
                "name",
                "group",
                "compute",
                "observed",
                "median",
                "lower",
                "upper",
                "covered",
                "rel_error",
            ]
        )
    draws = loss_draws(fit, data.compute[held])["loss"].values
    stats = summarise(draws, interval)
    gidx = data.group_index[held]
    for j, (row, g) in enumerate(zip(held, gidx, strict=True)):
        median, lower, upper = (stats[k][g, j] for k in ("median", "lower", "upper"))
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


def parameter_table(fit: LossFit, interval: float = 0.9) -> pd.DataFrame:
    """Posterior of ``a``, ``b``, ``c`` per group in the user's units (C in FLOPs).

    Returns
    -------
    pandas.DataFrame
        One row per (group, parameter) with median, lower, upper and mean.
    """
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

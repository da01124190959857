r"""Benchmark accuracy with a chance floor: the law's fit, its predictive draws and figure.

The GPT-4 report's law :math:`-\ln p = \alpha C^{-k}` assumes accuracy rises from 0. On a
multiple-choice benchmark a guess already scores the chance rate :math:`g`, so the law here
acts on the accuracy above chance, normalised to :math:`[0, 1]`:

.. math::

    -\ln\frac{p - g}{1 - g} = \alpha\, C^{-k}
    \quad\Longleftrightarrow\quad
    \ln\!\Big(-\ln\frac{p - g}{1 - g}\Big) = \beta - k\,(\ln C - \ln C_0),

a straight line in log compute on the doubly-logged scale, with level :math:`\beta` at the
pivot :math:`C_0` (the geometric centre of the fitted models) and exponent :math:`k`.
Each (family, benchmark) ladder has its own line; its log exponent is a benchmark effect
plus a family effect plus a ladder residual, partially pooled
(:mod:`bayescale.accuracy_model`), so a family with few sizes borrows the benchmark's
exponent. Rows with ``n_questions`` enter through a binomial likelihood; others through a
normal likelihood on the accuracy scale (measurement noise plus the law's scatter carried
by its slope), which stays finite at and under chance. Beyond a family's data the
exponent is shifted by :attr:`AccuracyPriors.discrepancy_exponent_shift` (a bias correction
chosen by leave one family out) and uncertain by
:attr:`AccuracyPriors.discrepancy_exponent_sd`.

The fit goes through the shared convergence ladder (:func:`bayescale.ladder.run_ladder`); the
predictive draws of a new model and of the law's curve (:func:`accuracy_draws`) are what the
later stages read. The forecast at the targets, its warnings and the held-out scores are
:mod:`bayescale.accuracy_forecast`; the options, the run, everything after sampling and the
decisions :mod:`bayescale.accuracy_pipeline` (which the registry's ``accuracy`` entry
wraps); the tables, JSON document, Markdown and command-line lines
:mod:`bayescale.accuracy_report`; the figure of ``--out`` is here (:func:`accuracy_figures`).
The saved data group is :mod:`bayescale.accuracy_saved`, the backtest
:mod:`bayescale.accuracy_backtest`. Nothing here imports PyMC or JAX at module level.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.accuracy_data import (
    AccuracyData,
    AccuracyPriors,
    accuracy_from_transformed,
    accuracy_pivots,
    chinchilla_effective_compute,
    law_compute,
)
from bayescale.accuracy_data import accuracy_split as accuracy_split
from bayescale.accuracy_data import leave_largest_out as leave_largest_out
from bayescale.diagnostics import Diagnostics
from bayescale.display import Summarised, common_rows
from bayescale.draws import stacked_draws, summarise
from bayescale.errors import InputError
from bayescale.results import Result
from bayescale.sampling import SamplerSettings
from bayescale.seeds import forecast_stream

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The law in one line (documents, reports, the registry entry).
FORMULA = "-ln((p - g)/(1 - g)) = alpha*C^(-k)"


# ---------------------------------------------------------------------------------------------
# Fit


@dataclass(frozen=True, repr=False)
class AccuracyFit(Summarised):
    r"""A sampled accuracy model.

    Attributes
    ----------
    data
        The table (fitted and held-out rows).
    idata
        ``DataTree``: ``level``, ``exponent`` with dims ``(chain, draw, family, benchmark)``,
        ``sigma`` with ``(chain, draw, benchmark)``.
    log_pivot
        :math:`\ln C_0` per family (:func:`accuracy_pivots`; the same for every family with
        the default global pivot).
    priors, settings, diagnostics, timing_s
        As in :class:`bayescale.loss_fit.LossFit` (the ladder's steps in ``diagnostics.attempts``).
    pooled
        False for the no-pooling model (each ladder on its own priors).
    pivot, pool_levels, floor, axis
        How the model was built (:func:`fit_accuracy`); a saved fit keeps them.
    forecast_seed
        Root of the predictive draws when it is not the sampler's seed (``bayescale forecast
        --seed``; :func:`bayescale.seeds.forecast_root`).
    """

    #: The function that answers this law's questions from such a fit (for messages).
    answered_by: ClassVar[str] = "bayescale.accuracy_pipeline.result_from_accuracy_fit"

    data: AccuracyData
    idata: xr.DataTree
    log_pivot: np.ndarray
    priors: AccuracyPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    pooled: bool = True
    timing_s: dict[str, float] = field(default_factory=dict)
    pivot: str = "global"
    pool_levels: bool = False
    forecast_seed: int | None = None
    floor: str = "chance"
    axis: str = "compute"

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape ``(sample, *dims)``."""
        return stacked_draws(self.idata, name)

    def floor_draws(self) -> np.ndarray:
        """Each benchmark's floor per draw, ``(sample, benchmark)``: learned or the known rate."""
        n_s = self.draws("sigma").shape[0]
        out = np.repeat(self.data.chance[None, :], n_s, axis=0)
        posterior = self.idata["posterior"]
        if "chance" in posterior.data_vars:
            learned = self.draws("chance")
            names = np.asarray(posterior["learned_benchmark"].to_numpy()).tolist()
            for i, b in enumerate(names):
                out[:, self.data.benchmarks.index(str(b))] = learned[:, i]
        return out

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        data, fitted = self.data, self.data.fitted
        rows = [
            (
                "data",
                f"{data.source}: {int(fitted.sum())} fitted rows ({int(data.held_out.sum())} "
                f"held out), {len(data.families)} families x {len(data.benchmarks)} "
                f"benchmarks, {data.compute[fitted].min():.3g} to "
                f"{data.compute[fitted].max():.3g} FLOPs",
            ),
            ("law", f"{FORMULA} per (family, benchmark), {'pooled' if self.pooled else 'alone'}"),
            *common_rows(self),
        ]
        return "AccuracyFit", rows


#: Where each family's line is pivoted: ``"global"``, the geometric centre of every fitted
#: model of the table (the loss model's choice, the default), or ``"family"``, that of the
#: family's own fitted models. Measured on the ObsScaling backtest (docs/accuracy.md) the
#: global pivot gave the lower median error (3.3 against 3.6 points over 90 ladders; 2.4
#: against 3.4 on four-size families) and the higher bulk ESS (102-254 against 70-146).


def fit_accuracy(
    data: AccuracyData,
    priors: AccuracyPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    pooled: bool = True,
    pivot: str = "global",
    pool_levels: bool = False,
    floor: str = "chance",
    axis: str = "compute",
    allow_unconverged: bool = False,
) -> AccuracyFit:
    """Fit the accuracy model with JAX NUTS and check convergence.

    Sampled at the pass-rate model's settings (:func:`bayescale.ladder.model_settings`:
    ``target_accept`` 0.95 when left open, uncapped warm-up trees) through the shared
    convergence ladder (:func:`bayescale.ladder.run_ladder`, docs/convergence.md): against
    divergences :data:`~bayescale.sampling.RETRY_TARGET_ACCEPT`, then the smallest step (the
    model has no alternative parameterisation); against R-hat or ESS more draws, then twice
    the chains. Each step is an attempt in ``diagnostics.attempts``.

    Parameters
    ----------
    data
        Validated table (:func:`load_accuracy_table`).
    priors, settings
        Priors and sampler settings.
    pooled
        False fits every ladder on its own priors (the no-pooling comparison).
    pivot
        ``"global"`` (default) or ``"family"`` (:func:`accuracy_pivots`).
    pool_levels
        Pool the ladder levels too (:func:`~bayescale.accuracy_model.build_accuracy_model`).
    floor
        ``"chance"`` (default) or ``"below_chance"``: learn every benchmark's floor between
        0 and its chance rate (:func:`~bayescale.accuracy_data.floor_bounds`). Benchmarks
        without a known rate learn theirs either way.
    axis
        The law's axis (:func:`~bayescale.accuracy_data.law_compute`): ``"compute"``
        (default) or ``"chinchilla"``, Chinchilla's effective compute of each row's
        ``params`` and ``tokens`` (forecasts then need a target's parameters and tokens:
        :func:`accuracy_draws`).
    allow_unconverged
        Return the fit when the gate fails instead of raising.

    Raises
    ------
    ConvergenceError
        When the gate fails after the ladder and ``allow_unconverged`` is false (the fit is
        ``error.result``).

    Returns
    -------
    AccuracyFit
        The data, the ``xarray.DataTree`` posterior, the diagnostics and the sampler
        settings.
    """
    from bayescale.accuracy_model import build_accuracy_model
    from bayescale.ladder import gate, model_settings, run_ladder

    priors = priors or AccuracyPriors()
    log_pivot = accuracy_pivots(data, pivot, axis)
    settings = model_settings(settings, "pass")
    start = time.perf_counter()
    idata, diagnostics, settings, sampling_s = run_ladder(
        lambda _: build_accuracy_model(
            data,
            priors,
            pooled=pooled,
            pivot=pivot,
            pool_levels=pool_levels,
            floor=floor,
            axis=axis,
        ),
        settings,
    )
    result = AccuracyFit(
        data=data,
        idata=idata,
        log_pivot=log_pivot,
        priors=priors,
        settings=settings,
        diagnostics=diagnostics,
        pooled=pooled,
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
        pivot=pivot,
        pool_levels=pool_levels,
        floor=floor,
        axis=axis,
    )
    gate(result, allow_unconverged, ACCURACY_ADVICE)
    return result


#: What a variable of the accuracy model is, and what a user can do when it fails the gate
#: (:func:`bayescale.ladder.advice_message`).
ACCURACY_ADVICE = {
    "sigma": (
        "how far a benchmark's models scatter around the law",
        "add models, or check the benchmark for a model off the law (another harness, "
        "prompt or shot count)",
    ),
    "exponent": (
        "how fast accuracy rises above the chance floor with compute",
        "add models over a wider range of compute; a benchmark whose models all sit near "
        "chance, or all at the ceiling (saturated: leave it out with --where), cannot show "
        "its rise",
    ),
    "level": (
        "how far a benchmark's accuracy sits above its chance floor",
        "add models, or give the benchmark's chance rate (--chance BENCH=G)",
    ),
    "fraction": (
        "where a learned floor sits below the chance rate",
        "give the chance rate (--chance BENCH=G) instead of learning it",
    ),
    "noise": (
        "the extra scatter of counted answers beyond the binomial",
        "add models, or drop the n_questions column (a normal likelihood on accuracies)",
    ),
    "": ("", "; usually a model off the law. Check the plot for one and remove it."),
}


# ---------------------------------------------------------------------------------------------
# Forecast draws


def _draw_arrays(
    fit: AccuracyFit,
    compute: np.ndarray,
    rng: np.random.Generator,
    on_axis: np.ndarray | None = None,
    ladder: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The law's curve and a new model's accuracy, ``(sample, family, benchmark, compute)``.

    One set of random draws for both, so the curve is the same whichever is asked for: the
    discrepancy ``zeta`` per (draw, family), then the new model's scatter per (draw, family,
    benchmark), then its score's measurement noise per (draw, family, benchmark)
    (:func:`measurement_variates`). Each is drawn once and reused at every compute, as the
    loss law's scatter is (:func:`bayescale.forecast.loss_draws`): a new model is one model
    at every compute, so every draw rises with compute, a ``>=`` rule's probability never
    falls along the compute search, and the numbers at one target do not depend on which
    other targets are asked for. The shapes drawn depend on neither the computes nor
    ``ladder``; with one compute the stream is consumed as it was when every compute drew
    its own. ``on_axis``: the targets on the fit's axis
    (:func:`~bayescale.accuracy_data.law_compute`), needed unless it is compute.
    ``ladder``: (family, benchmark) indices to compute only that ladder (a decision's), the
    family and benchmark axes then of length one, its values those of the whole.
    """
    data = fit.data
    if on_axis is None:
        if fit.axis != "compute":
            raise InputError(
                f"a fit on the {fit.axis} axis forecasts a model of given parameters and "
                "tokens, not a compute: accuracy_draws(fit, compute, params=..., tokens=...)."
            )
        on_axis = compute
    level = fit.draws("level")  # (s, f, b)
    exponent = fit.draws("exponent")
    n_s, n_f, n_b = level.shape
    zeta = rng.standard_normal((n_s, n_f, 1, 1))
    eps = rng.standard_normal((n_s, n_f, n_b, 1))
    variates = measurement_variates(fit, rng, (n_s, n_f, 1))
    fam, ben = (slice(None), slice(None))
    if ladder is not None:
        fam, ben = slice(ladder[0], ladder[0] + 1), slice(ladder[1], ladder[1] + 1)
    level, exponent = level[:, fam, ben], exponent[:, fam, ben]
    log_c = np.log(on_axis)[None, None, None, :]
    log_pivot = fit.log_pivot[fam]
    y = level[..., None] - exponent[..., None] * (log_c - log_pivot[None, :, None, None])
    # law discrepancy beyond each family's largest fitted compute: the exponent there is
    # uncertain by a factor exp(m + s * zeta), one zeta per draw and family
    largest = largest_fitted_log_compute(data, fit.axis)[fam]
    beyond = np.maximum(log_c - largest[None, :, None, None], 0.0)
    shift, scale = fit.priors.discrepancy_shift_on(fit.axis), fit.priors.discrepancy_exponent_sd
    factor = np.expm1(shift + scale * zeta[:, fam])
    y = y - exponent[..., None] * factor * beyond
    chance = fit.floor_draws()[:, None, ben, None]
    curve = accuracy_from_transformed(y, chance)
    sigma = np.repeat(fit.draws("sigma")[:, None, :], n_f, axis=1)
    if "scatter_family" in fit.idata["posterior"].data_vars:
        sigma = sigma * fit.draws("scatter_family")[:, :, None]
    y_new = y + sigma[:, fam, ben, None] * eps[:, fam, ben]
    benchmarks = range(n_b)[ben]
    new = with_measurement_noise(
        fit,
        accuracy_from_transformed(y_new, chance),
        [None if v is None else v[:, fam] for v in variates[ben]],
        benchmarks,
    )
    return curve, new


def accuracy_draws(
    fit: AccuracyFit,
    compute: np.ndarray | Sequence[float],
    *,
    params: np.ndarray | Sequence[float] | None = None,
    tokens: np.ndarray | Sequence[float] | None = None,
    new_model: bool = True,
    seed: int | None = None,
) -> xr.DataArray:
    """Predictive draws of accuracy per (family, benchmark) at each compute.

    Parameters
    ----------
    fit
        A sampled accuracy model.
    compute
        Computes in FLOPs.
    params, tokens
        Each target's parameters and training tokens: required by a fit on the
        ``chinchilla`` axis (the law runs in their effective compute), ignored otherwise.
    new_model
        Add the model-to-model scatter and a new score's measurement noise (a new model's
        accuracy); False gives the law's curve (with its discrepancy beyond the data).
    seed
        Root seed of the random draws (default: the fit's forecast root,
        :func:`bayescale.seeds.forecast_stream` ``accuracy.forecast``, so a fit gives the same
        numbers every time).

    Returns
    -------
    xarray.DataArray
        ``accuracy`` with dims ``(sample, family, benchmark, compute)``; cells without data
        carry the model's prior-and-pooling forecast (reports show ladders only).
    """
    compute = np.atleast_1d(np.asarray(compute, dtype=float))
    on_axis = None
    if fit.axis == "chinchilla" and params is not None and tokens is not None:
        on_axis = np.broadcast_to(chinchilla_effective_compute(params, tokens), compute.shape)
    curve, new = _draw_arrays(
        fit, compute, forecast_stream(fit, "accuracy.forecast", seed), on_axis
    )
    return _labelled(fit, new if new_model else curve, compute, "accuracy")


def _labelled(fit: AccuracyFit, values: np.ndarray, compute: np.ndarray, name: str) -> xr.DataArray:
    return xr.DataArray(
        values,
        dims=("sample", "family", "benchmark", "compute"),
        coords={
            "family": list(fit.data.families),
            "benchmark": list(fit.data.benchmarks),
            "compute": compute,
        },
        name=name,
    )


def largest_fitted_log_compute(data: AccuracyData, axis: str = "compute") -> np.ndarray:
    """Log of each family's largest fitted compute (the end of its data), on the law's axis."""
    out = np.full(len(data.families), -np.inf)
    fam = data.family_index
    compute = law_compute(data, axis)
    for f in range(len(data.families)):
        rows = data.fitted & (fam == f)
        if rows.any():
            out[f] = np.log(compute[rows].max())
    return out


def question_counts(data: AccuracyData) -> list[int | None]:
    """Each benchmark's median ``n_questions`` over its fitted rows (None where none gives it)."""
    out: list[int | None] = []
    for b in range(len(data.benchmarks)):
        counts = data.n_questions[data.fitted & (data.benchmark_index == b)]
        counts = counts[~np.isnan(counts)]
        out.append(int(np.median(counts)) if counts.size else None)
    return out


def measurement_variates(
    fit: AccuracyFit, rng: np.random.Generator, shape: tuple[int, ...]
) -> list[np.ndarray | None]:
    """The random numbers of a new score's measurement noise, one array of ``shape`` a benchmark.

    In benchmark order: a uniform on [0, 1) where the benchmark's rows give ``n_questions``
    (its binomial count is the quantile, :func:`binomial_quantile`), a standard normal where
    the fit has a noise sd instead, None where it has neither. ``shape`` is ``(sample,
    family, 1)``: one per posterior draw and family, reused at every compute.
    """
    noise = "noise" in fit.idata["posterior"].data_vars
    out: list[np.ndarray | None] = []
    for n in question_counts(fit.data):
        if n is not None:
            out.append(rng.random(shape))
        elif noise:
            out.append(rng.standard_normal(shape))
        else:
            out.append(None)
    return out


def binomial_quantile(u: np.ndarray, n: int, p: np.ndarray) -> np.ndarray:
    r"""The binomial ``(n, p)`` quantile of ``u``: the smallest k with :math:`F(k; n, p) \ge u`.

    What ``scipy.stats.binom.ppf`` gives (but 0 at ``u = 0``, where SciPy gives -1), from a
    Cornish-Fisher start, one evaluation of SciPy's binomial CDF
    (:func:`scipy.special.bdtr`) and steps of the probability mass from there. For a fixed
    ``u`` it never falls as ``p`` rises, since :math:`F(k; n, p)` falls with p; a uniform
    ``u`` gives a binomial count. ``u`` and ``p`` broadcast; the result is a float array of
    counts.
    """
    from scipy.special import bdtr, gammaln, ndtri, xlog1py, xlogy

    u = np.asarray(u, dtype=float)
    z = np.clip(ndtri(u), -40.0, 40.0)  # before broadcasting: one per draw, not per compute
    u, z, p = np.broadcast_arrays(u, z, np.clip(p, 0.0, 1.0))
    shape = u.shape
    sd = np.sqrt(n * p * (1.0 - p))
    skew = np.divide(1.0 - 2.0 * p, sd, out=np.zeros_like(sd), where=sd > 0)
    start = np.floor(n * p + sd * (z + skew * (z * z - 1.0) / 6.0) + 0.5)
    k = np.clip(np.nan_to_num(start), 0.0, n).ravel()
    u, p = u.ravel(), p.ravel()
    cdf = bdtr(k, n, p)

    def mass(i: np.ndarray) -> np.ndarray:
        j, q = k[i], p[i]
        log_choose = gammaln(n + 1.0) - gammaln(j + 1.0) - gammaln(n - j + 1.0)
        return np.asarray(np.exp(log_choose + xlogy(j, q) + xlog1py(n - j, -q)))

    todo = np.flatnonzero((cdf < u) & (k < n))
    while todo.size:  # up while F(k) < u
        k[todo] += 1.0
        cdf[todo] += mass(todo)
        todo = todo[(cdf[todo] < u[todo]) & (k[todo] < n)]
    todo = np.flatnonzero(k > 0)
    while todo.size:  # down while F(k - 1) = F(k) - P(k) >= u
        below = cdf[todo] - mass(todo)
        down = below >= u[todo]
        todo = todo[down]
        cdf[todo] = below[down]
        k[todo] -= 1.0
        todo = todo[k[todo] > 0]
    k[u <= 0.0] = 0.0  # the walk down can stop short by a rounding of F (P = 2^-53 a draw)
    return k.reshape(shape)


def with_measurement_noise(
    fit: AccuracyFit,
    values: np.ndarray,
    variates: Sequence[np.ndarray | None],
    benchmarks: Sequence[int] | None = None,
) -> np.ndarray:
    """Add a new score's measurement noise to accuracy draws ``(sample, family, benchmark, c)``.

    Binomial on the benchmark's median ``n_questions`` where its rows give it, the count the
    quantile of its uniform (:func:`binomial_quantile`); otherwise the fitted noise sd per
    benchmark times its normal. ``variates`` are :func:`measurement_variates`'s for the
    ``benchmarks`` of ``values``' benchmark axis (default: all), ``(sample, family, 1)``
    each, the same at every compute: a higher accuracy never gives a lower score. Clipped
    to [0, 1].
    """
    counts = question_counts(fit.data)
    noise = fit.draws("noise") if "noise" in fit.idata["posterior"].data_vars else None
    out = values.copy()
    chosen = range(len(counts)) if benchmarks is None else benchmarks
    for j, b in enumerate(chosen):
        draw, n = variates[j], counts[b]
        if draw is None:
            continue
        if n is not None:
            out[:, :, j] = binomial_quantile(draw, n, np.clip(values[:, :, j], 0.0, 1.0)) / n
        elif noise is not None:
            out[:, :, j] = values[:, :, j] + noise[:, b][:, None, None] * draw
    return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Figure


def accuracy_figure(
    fit: AccuracyFit,
    targets: np.ndarray,
    ladders: Sequence[tuple[str, str]] | None = None,
    interval: float = 0.9,
    runs: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """Draw the forecast: one panel per benchmark, chance as a dashed floor.

    Each family is a line (median of a new model) with its predictive band; observed models
    are dots, held-out ones open circles; dotted verticals mark the targets. The x axis is
    the law's: training compute, or on the ``chinchilla`` axis Chinchilla's effective compute
    (the models and the planned ``runs``, ``(N, D)``, placed at their own). A
    ``matplotlib.figure.Figure`` (no pyplot, no backend chosen).
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from bayescale.ticks import plain_ticks, power_ticks

    data = fit.data
    ladders = list(ladders if ladders is not None else data.ladders())
    benchmarks = [b for b in data.benchmarks if any(lb == b for _, lb in ladders)]
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    x = law_compute(data, fit.axis)
    if fit.axis != "compute":
        if runs is None:
            raise InputError(
                "a fit on Chinchilla's effective compute draws planned models: runs=(N, D)."
            )
        targets = chinchilla_effective_compute(*runs)
    grid = np.logspace(np.log10(x.min() / 2), np.log10(max(targets.max(), x.max()) * 2), 80)
    _, new = _draw_arrays(fit, grid, forecast_stream(fit, "accuracy.forecast"), grid)
    draws = _labelled(fit, new, grid, "accuracy")
    floors = fit.floor_draws()
    cols = min(len(benchmarks), 3)
    rows = int(np.ceil(len(benchmarks) / cols))
    fig = Figure(figsize=(4.8 * cols, 3.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    colours = colormaps["tab10"]
    families = list(dict.fromkeys(f for f, _ in ladders))
    for bi, b in enumerate(benchmarks):
        ax = axes[bi // cols][bi % cols]
        for f in (f for f, lb in ladders if lb == b):
            colour = colours(families.index(f) % 10)
            s = summarise(draws.sel(family=f, benchmark=b).values, interval)
            ax.plot(grid, s["median"], color=colour, label=f)
            ax.fill_between(grid, s["lower"], s["upper"], color=colour, alpha=0.12, lw=0)
            rows_fb = (data.family == f) & (data.benchmark == b)
            for held in (False, True):
                sel = rows_fb & (data.held_out == held)
                ax.scatter(
                    x[sel],
                    data.accuracy[sel],
                    s=18,
                    color="none" if held else colour,
                    edgecolors=colour,
                    zorder=3,
                )
        bi = data.benchmarks.index(b)
        g = float(np.median(floors[:, bi]))
        label = f"chance {g:g}" if np.isclose(g, data.chance[bi]) else f"floor {g:.3f} (learned)"
        ax.axhline(g, ls="--", color="grey", lw=1, label=label)
        for t in targets:
            ax.axvline(t, ls=":", color="black", lw=0.8)
        ax.set_xscale("log")
        (power_ticks if fit.axis == "compute" else plain_ticks)(ax.xaxis)
        ax.set_ylim(max(0.0, g - 0.05), 1.0)
        ax.set_title(b)
        ax.set_xlabel(
            "training compute (FLOPs)"
            if fit.axis == "compute"
            else "effective compute 1/(A/N^α + B/D^β) (Chinchilla)"
        )
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=6, loc="upper left")
    for k in range(len(benchmarks), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.tight_layout()
    return fig


def accuracy_figures(
    result: Result[AccuracyFit, Any, Any],
) -> list[tuple[str, Callable[[], Figure]]]:
    """The figures of ``--out`` (the registry's ``figures``): ``accuracy.png``."""
    fit, forecast = result.fit, result.forecast
    draws = forecast.draws
    runs = (
        (np.asarray(draws["params"].values), np.asarray(draws["tokens"].values))
        if "params" in draws.coords
        else None
    )
    return [
        (
            "accuracy.png",
            lambda: accuracy_figure(
                fit, forecast.targets, forecast.ladders, forecast.interval, runs=runs
            ),
        )
    ]


# ---------------------------------------------------------------------------------------------
# Simulation


def simulate_accuracy_table(
    seed: int = 0,
    families: Mapping[str, int] | None = None,
    benchmarks: Mapping[str, float] | None = None,
    *,
    exponent: float = 0.25,
    scatter: float = 0.08,
    n_questions: int | None = None,
) -> pd.DataFrame:
    """A seeded table that follows the law, for tests and examples.

    Parameters
    ----------
    seed
        Seed of every random draw.
    families
        Family name -> number of sizes (computes 1e21 to 1e23, log-spaced, shifted per family).
    benchmarks
        Benchmark name -> chance rate.
    exponent, scatter
        The true exponent of every ladder (times a family factor) and the scatter on
        ``ln(-ln q)``.
    n_questions
        Add this ``n_questions`` column and draw accuracies as binomial fractions.

    Returns
    -------
    pandas.DataFrame
        One row per model and benchmark: ``model, family, compute, benchmark, accuracy``
        (and ``n_questions`` when given).
    """
    rng = np.random.default_rng(seed)
    families = dict(families or {"alpha": 5, "beta": 4, "gamma": 3})
    benchmarks = dict(benchmarks or {"mmlu": 0.25, "gsm8k": 0.0, "winogrande": 0.5})
    rows = []
    for fi, (family, sizes) in enumerate(families.items()):
        compute = np.logspace(21 + 0.2 * fi, 23 + 0.2 * fi, sizes)
        level = rng.normal(0.3, 0.2)
        factor = np.exp(rng.normal(0.0, 0.1))
        for bench, g in benchmarks.items():
            offset = rng.normal(0.0, 0.2)
            x = np.log(compute) - np.log(1e22)
            y = level + offset - exponent * factor * x + scatter * rng.standard_normal(sizes)
            p = accuracy_from_transformed(y, g)
            for i, c in enumerate(compute):
                row = {
                    "model": f"{family}-{i + 1}",
                    "family": family,
                    "compute": float(c),
                    "benchmark": bench,
                    "accuracy": float(p[i]),
                }
                if n_questions is not None:
                    row["accuracy"] = float(rng.binomial(n_questions, p[i]) / n_questions)
                    row["n_questions"] = n_questions
                rows.append(row)
    return pd.DataFrame(rows)

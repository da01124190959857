r"""Benchmark accuracy with a chance floor: fit, forecast, decision and the registry's pieces.

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
exponent is uncertain by :attr:`AccuracyPriors.discrepancy_exponent_sd`.

The registry's ``accuracy`` entry (:mod:`bayescale.registry`) wraps the functions here: the
run (:func:`run_accuracy`), everything after sampling (:func:`result_from_accuracy_fit`), the
JSON document, Markdown, figure and command-line lines; its saved data group is
:mod:`bayescale.accuracy_saved`, its backtest :mod:`bayescale.accuracy_backtest`. The fit goes
through the shared convergence ladder (:func:`bayescale.fit._ladder`), the decision through
:func:`bayescale.results.decide_options`. Nothing here imports PyMC or JAX at module level.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.accuracy_data import (
    CHINCHILLA_LOSS,
    FLOORS,
    LEARN,
    MIN_SIZES,
    QUANTITY,
    AccuracyColumns,
    AccuracyData,
    AccuracyPriors,
    accuracy_from_transformed,
    accuracy_pivots,
    benchmark_key,
    chinchilla_effective_compute,
    floor_bounds,
    law_compute,
    load_accuracy_table,
    optimal_equivalent_compute,
    within_noise_of_chance,
)
from bayescale.accuracy_data import accuracy_split as accuracy_split
from bayescale.accuracy_data import leave_largest_out as leave_largest_out
from bayescale.backtest_scoring import score_draws, with_meta
from bayescale.decision import Decision, DecisionCurve, Requirement, parse_requirement
from bayescale.diagnostics import Diagnostics
from bayescale.display import Summarised
from bayescale.draws import Forecast, shown_rows, stacked_draws, summarise, target_rows
from bayescale.errors import ConvergenceError, InputError, did_you_mean
from bayescale.fit import _common_rows
from bayescale.nd_data import FLOPS_PER_PARAM_TOKEN
from bayescale.options import Options, check_options, remembered_options
from bayescale.report import (
    clean_json,
    diagnostics_lines,
    document_tail,
    head_lines,
    markdown_table,
    summary_grid,
)
from bayescale.results import Result, decide_options, decide_requirement
from bayescale.sampling import SamplerSettings
from bayescale.seeds import forecast_stream
from bayescale.targets import (
    Targets,
    check_targets,
    label_twin_warnings,
    log_units_warning,
    logged,
    target_warnings,
    trend_against_law,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger("bayescale")

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
        As in :class:`bayescale.fit.LossFit` (the ladder's steps in ``diagnostics.attempts``).
    pooled
        False for the no-pooling model (each ladder on its own priors).
    pivot, pool_levels, floor, axis
        How the model was built (:func:`fit_accuracy`); a saved fit keeps them.
    forecast_seed
        Root of the predictive draws when it is not the sampler's seed (``bayescale forecast
        --seed``; :func:`bayescale.seeds.forecast_root`).
    """

    #: The function that answers this law's questions from such a fit (for messages).
    answered_by: ClassVar[str] = "bayescale.accuracy.result_from_accuracy_fit"

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
            *_common_rows(self),
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

    Sampled at the pass-rate model's settings (:func:`bayescale.fit.model_settings`:
    ``target_accept`` 0.95 when left open, uncapped warm-up trees) through the shared
    convergence ladder (:func:`bayescale.fit._ladder`, docs/convergence.md): against
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
    from bayescale.fit import _advice, _ladder, model_settings

    priors = priors or AccuracyPriors()
    log_pivot = accuracy_pivots(data, pivot, axis)
    settings = model_settings(settings, "pass")
    start = time.perf_counter()
    idata, diagnostics, settings, sampling_s = _ladder(
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
    if not diagnostics.ok and not allow_unconverged:
        raise ConvergenceError(_advice(diagnostics, ACCURACY_ADVICE), result=result)
    return result


#: What a variable of the accuracy model is, and what a user can do when it fails the gate
#: (:func:`bayescale.fit._advice`).
ACCURACY_ADVICE = {
    "sigma": (
        "how far a benchmark's models scatter around the law",
        "add models, or check the benchmark for a model off the law (another harness, "
        "prompt or shot count)",
    ),
    "exponent": (
        "how fast accuracy rises above the chance floor with compute",
        "add models over a wider range of compute; a benchmark whose models all sit near "
        "chance cannot show its rise",
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
    # uncertain by a factor exp(s * zeta), one zeta per draw and family
    largest = largest_fitted_log_compute(data, fit.axis)[fam]
    beyond = np.maximum(log_c - largest[None, :, None, None], 0.0)
    factor = np.expm1(fit.priors.discrepancy_exponent_sd * zeta[:, fam])
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


def table_family(data: AccuracyData, family: str | None) -> str | None:
    """The table's spelling of ``--family``: its own, or the one family of the same key.

    A family matches as ``--require``'s benchmark names do: case, spaces and dashes set
    aside (:func:`~bayescale.data.label_key`), so ``llama-2`` names ``Llama 2``. A name the
    table spells exactly is that family, even beside a twin spelled another way.

    Raises
    ------
    InputError
        When ``family`` is not in the table, or matches two families that differ only in
        case, spaces or dashes (naming both).
    """
    if family is None or family in data.families:
        return family
    same = [f for f in data.families if benchmark_key(f) == benchmark_key(family)]
    if len(same) == 1:
        return same[0]
    if same:
        raise InputError(
            f"--family '{family}' matches {len(same)} families of {data.source} that differ "
            f"only in case, spaces or dashes: {', '.join(repr(f) for f in same)}. Give one "
            "as the table spells it, or spell them one way in the table if they are one."
        )
    raise InputError(
        f"--family '{family}' is not in {data.source}.{did_you_mean(family, data.families)} "
        f"Families: {', '.join(data.families)}."
    )


def target_ladders(data: AccuracyData, family: str | None = None) -> list[tuple[str, str]]:
    """The ladders a forecast reports: every family's, or only ``family``'s.

    ``family`` matches as :func:`table_family` says (case, spaces and dashes aside).

    Raises
    ------
    InputError
        When ``family`` names no family of the table, or two.
    """
    family = table_family(data, family)
    return [(f, b) for f, b in data.ladders() if family is None or f == family]


def accuracy_table(
    draws: xr.Dataset, ladders: Sequence[tuple[str, str]], interval: float = 0.9
) -> pd.DataFrame:
    """One row per (target, family, benchmark): a new model's median, interval, mean.

    ``draws`` holds ``accuracy`` (a new model) and ``curve_accuracy`` (the law), dims
    ``(sample, family, benchmark, compute)``; the curve's statistics are the ``curve_``
    columns. Targets given as planned models (coordinates ``params`` and ``tokens``) add
    those columns; ``target_compute`` is then 6·N·D.
    """
    families = [f for f, _ in ladders]
    benchmarks = [b for _, b in ladders]

    def per_ladder(name: str) -> np.ndarray:
        da = draws[name]
        return np.stack(
            [da.sel(family=f, benchmark=b).values for f, b in ladders], axis=1
        )  # (sample, ladder, compute)

    summaries = {
        "": summarise(per_ladder("accuracy"), interval),
        "curve_": summarise(per_ladder("curve_accuracy"), interval),
    }
    rows = target_rows(
        np.asarray(draws["compute"].values),
        [f"{f}/{b}" for f, b in ladders],
        "ladder",
        summaries,
        {"family": families, "benchmark": benchmarks},
    )
    frame = pd.DataFrame(rows).drop(columns="ladder")
    if "params" in draws.coords:  # planned models: rows are ladder-major, targets within
        for name in ("tokens", "params"):
            frame.insert(1, name, np.tile(np.asarray(draws[name].values), len(ladders)))
    return frame.sort_values("target_compute", kind="stable", ignore_index=True)


@dataclass(frozen=True, repr=False)
class AccuracyForecast(Forecast):
    """A new model's accuracy (``accuracy``) and the law's (``curve_accuracy``) at the targets.

    Attributes
    ----------
    draws
        ``xarray.Dataset``, dims ``(sample, family, benchmark, compute)``.
    ladders
        The (family, benchmark) pairs reported (every family's, or ``--family``'s).
    interval
        Central interval probability of the tables.
    warnings
        About the targets and the ladders (the document's ``warnings[]``).
    """

    draws: xr.Dataset
    ladders: tuple[tuple[str, str], ...]
    interval: float
    warnings: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        """One row per (target, family, benchmark) (:func:`accuracy_table`)."""
        return accuracy_table(self.draws, self.ladders, self.interval)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        title = f"AccuracyForecast: a new model's accuracy, median [{self.interval:.0%} interval]"
        rows = shown_rows(self.table(), _ladder_row) + [("warning", w) for w in self.warnings]
        return title, rows


def _ladder_row(r: Any) -> tuple[str, str]:
    """A summary row of a forecast table row: ladder and target, median and interval."""
    at = f"N={r.params:.3g} D={r.tokens:.3g}" if hasattr(r, "params") else f"{r.target_compute:.3g}"
    return (
        f"{r.family} {r.benchmark} @ {at}",
        f"{r.median:.3f} [{r.lower:.3f}, {r.upper:.3f}]",
    )


def forecast_accuracy(
    fit: AccuracyFit,
    targets: Targets,
    interval: float = 0.9,
    family: str | None = None,
    *,
    allow_backcast: bool = False,
    warn: bool = True,
    runs: tuple[np.ndarray, np.ndarray] | None = None,
) -> AccuracyForecast:
    """A new model's accuracy at the targets, for every family's ladders or ``family``'s.

    ``runs``: the targets' parameters and tokens ``(N, D)``, needed by a fit on the
    ``chinchilla`` axis (``targets`` are then their computes, 6·N·D); the draws carry them
    as the coordinates ``params`` and ``tokens`` of ``compute``. Warnings (logged when
    ``warn``): ladders with fewer than :data:`MIN_SIZES` fitted sizes, where the targets lie
    against each family's fitted models (:func:`accuracy_target_warnings`, in compute), and a
    fit that failed the gate.
    """
    targets = check_targets(targets)
    ladders = tuple(target_ladders(fit.data, family))
    on_axis = None if runs is None else chinchilla_effective_compute(*runs)
    curve, new = _draw_arrays(fit, targets, forecast_stream(fit, "accuracy.forecast"), on_axis)
    draws = xr.Dataset(
        {
            "accuracy": _labelled(fit, new, targets, "accuracy"),
            "curve_accuracy": _labelled(fit, curve, targets, "curve_accuracy"),
        }
    )
    if runs is not None:
        draws = draws.assign_coords(params=("compute", runs[0]), tokens=("compute", runs[1]))
    warnings = accuracy_target_warnings(
        fit.data, targets, family, allow_backcast=allow_backcast, runs=runs
    )
    if not fit.diagnostics.ok:
        warnings.append("the sampler did not converge: " + "; ".join(fit.diagnostics.problems()))
    return AccuracyForecast(draws, ladders, interval, logged(warnings, warn))


def _distinct(targets: np.ndarray) -> np.ndarray:
    """The targets without repeats, in order (planned models of one compute warn once)."""
    return np.asarray(list(dict.fromkeys(np.asarray(targets, dtype=float).tolist())))


def placed_compute(data: AccuracyData, planned: bool) -> np.ndarray:
    """Each row's compute where a decision's search starts: ``compute``, or 6·N·D when planned.

    A decision on planned models searches along 6·N·D (:func:`run_path`), so the fitted
    models are read at theirs too: their compute column may count FLOPs otherwise or be in
    another unit, and the law on effective compute does not read it.
    """
    if not planned or data.params is None or data.tokens is None:
        return data.compute
    return np.asarray(FLOPS_PER_PARAM_TOKEN * data.params * data.tokens, dtype=float)


def accuracy_target_warnings(
    data: AccuracyData,
    targets: np.ndarray,
    family: str | None = None,
    *,
    allow_backcast: bool = False,
    runs: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[str]:
    """Warnings about the reported ladders and the targets, before (or without) sampling.

    A ladder with fewer than :data:`MIN_SIZES` fitted sizes takes its exponent mostly from
    the other families; the targets are checked against each reported family's fitted
    computes (:func:`bayescale.targets.target_warnings`: a backcast refused unless
    ``allow_backcast``, an interpolation or a far extrapolation warned). Planned models
    (``runs``, their N and D) are checked where the law on effective compute places them,
    as are the fitted models then: at the compute of their compute-optimal equal
    (:func:`~bayescale.accuracy_data.optimal_equivalent_compute`), so that a model starved of
    tokens is not taken for one inside the data.
    """
    ladders = target_ladders(data, family)
    units = log_units_warning(data.compute[data.fitted], "compute")
    out = (
        units
        + label_twin_warnings(np.unique(data.family), "family")
        + [
            f"{f} on {b} has {n} fitted size{'s' if n != 1 else ''}: its exponent comes mostly "
            "from the other families' (pooling)."
            for f, b in ladders
            if (n := data.sizes(f, b)) < MIN_SIZES
        ]
    )
    for f, b in ladders:
        rows = data.fitted & (data.family == f) & (data.benchmark == b)
        slope = trend_against_law(data.compute[rows], data.accuracy[rows], rising=False)
        if slope is not None:
            out.append(
                f"{f} on {b}: the accuracy falls with compute over the fitted models "
                f"({slope:+.3g} per decade), but the law only rises from the chance floor "
                "toward 1: the forecast cannot follow these data. Check that the accuracy "
                "column holds accuracies (higher is better), not error rates."
            )
    out += [
        f"{f} on {b}: every fitted model scores within noise of chance ({g:.3g}): the rise "
        "above chance has not begun in these data, so the forecast's exponent comes from the "
        "prior, not the ladder, and where the rise starts is not predicted. Add a larger "
        "model that clears chance, or read the interval as the prior's."
        for f, b in ladders
        if (g := _ladder_at_chance(data, f, b)) is not None
    ]
    placed, describe = data.compute, None
    if runs is not None and data.params is not None and data.tokens is not None:
        placed = optimal_equivalent_compute(data.params, data.tokens)
        equals = optimal_equivalent_compute(*runs)
        names = {
            float(c): f"the planned model N={n:.3g}, D={d:.3g} (placed as a compute-optimal "
            f"model of {c:.3g} FLOPs; fitted models are placed the same way)"
            for n, d, c in zip(*runs, equals, strict=True)
        }
        targets, describe = equals, names.__getitem__
    fitted = {
        f: np.unique(placed[data.fitted & (data.family == f)])
        for f in dict.fromkeys(f for f, _ in ladders)
    }
    return out + target_warnings(
        _distinct(targets),
        fitted,
        rests_on="the law's form and the exponents the families share",
        allow_backcast=allow_backcast,
        unit="model",
        label="family",
        describe=describe,
    )


def _ladder_at_chance(data: AccuracyData, family: str, benchmark: str) -> float | None:
    """The chance rate of a ladder whose every fitted row is within noise of it, else None.

    Only for a known chance rate (a learned floor sits wherever the lowest scores are).
    """
    rows = data.fitted & (data.family == family) & (data.benchmark == benchmark)
    g = float(data.chance[data.benchmarks.index(benchmark)])
    if np.isnan(g) or not rows.any():
        return None
    noise = AccuracyPriors().noise_median
    near = within_noise_of_chance(data.accuracy[rows], g, data.n_questions[rows], noise)
    return g if bool(near.all()) else None


def chance_entries(fit: AccuracyFit, interval: float = 0.9) -> dict[str, dict[str, Any]]:
    """Each benchmark's floor for the document: ``{rate, source[, learned]}``.

    ``rate`` is the known chance rate (None when unknown, source ``learned``); a learned
    floor adds ``learned``: the posterior median and ``interval`` of :math:`g_b`, its upper
    bound and its prior (:func:`~bayescale.accuracy_data.floor_bounds`).
    """
    data, priors = fit.data, fit.priors
    learned, bound = floor_bounds(data, fit.floor)
    s = summarise(fit.floor_draws(), interval)
    out: dict[str, dict[str, Any]] = {}
    for i, (b, g, source) in enumerate(
        zip(data.benchmarks, data.chance, data.chance_source, strict=True)
    ):
        entry: dict[str, Any] = {"rate": None if np.isnan(g) else float(g), "source": source}
        if learned[i]:
            entry["learned"] = {k: float(s[k][i]) for k in ("median", "lower", "upper")} | {
                "bound": float(bound[i]),
                "prior": f"{bound[i]:.4g} * Beta({priors.floor_a:g}, {priors.floor_b:g})",
            }
        out[b] = entry
    return out


def chance_text(fit: AccuracyFit, interval: float = 0.9) -> str:
    """The chance rates in one line: ``mmlu 0.25 (default), arc learned 0.21 [0.1, 0.24]``."""
    parts = []
    for b, e in chance_entries(fit, interval).items():
        rate = "" if e["rate"] is None else f"{e['rate']:g} "
        text = f"{b} {rate}({e['source']})"
        if "learned" in e:
            lw = e["learned"]
            text += (
                f", floor learned {lw['median']:.3f} [{lw['lower']:.3f}, {lw['upper']:.3f}] "
                f"below {lw['bound']:.3g}"
            )
        parts.append(text)
    return "; ".join(parts)


def accuracy_parameter_table(fit: AccuracyFit, interval: float = 0.9) -> pd.DataFrame:
    """Level (at the pivot) and exponent ``k`` of every ladder with data: median and interval."""
    rows = []
    data = fit.data
    for name in ("level", "exponent"):
        s = summarise(fit.draws(name), interval)
        for f, b in data.ladders():
            fi, bi = data.families.index(f), data.benchmarks.index(b)
            rows.append(
                {"family": f, "benchmark": b, "parameter": name}
                | {k: float(s[k][fi, bi]) for k in ("median", "lower", "upper")}
            )
    return pd.DataFrame(rows)


def score_held_out_rows(fit: AccuracyFit, interval: float = 0.9) -> pd.DataFrame:
    """Score the held-out rows against a new model's predictive draws at their compute.

    One row per held-out (model, benchmark) of a family with fitted rows (case
    ``model:benchmark``, group the family), with the columns of
    :func:`bayescale.backtest_scoring.score_draws` and :func:`~bayescale.backtest_scoring.
    with_meta`; drawn from the fit's ``accuracy.held_out`` stream. Empty without held-out rows.
    """
    data = fit.data
    largest = largest_fitted_log_compute(data)
    held = np.flatnonzero(data.held_out & np.isfinite(largest[data.family_index]))
    if held.size == 0:
        return pd.DataFrame()
    # each held-out model at its own place on the law's axis (its parameters and tokens on
    # the chinchilla axis)
    on_axis = law_compute(data, fit.axis)
    computes = np.unique(on_axis[held])
    _, new = _draw_arrays(fit, computes, forecast_stream(fit, "accuracy.held_out"), computes)
    column = np.searchsorted(computes, on_axis[held])
    draws = new[:, data.family_index[held], data.benchmark_index[held], column]
    scored = score_draws(data.accuracy[held], draws, interval)
    return with_meta(
        scored,
        [f"{m}:{b}" for m, b in zip(data.model[held], data.benchmark[held], strict=True)],
        [str(f) for f in data.family[held]],
        data.compute[held],
        np.exp(largest[data.family_index[held]]),
    )


# ---------------------------------------------------------------------------------------------
# Requirements


def accuracy_requirement(
    text: str, data: AccuracyData, family: str | None = None
) -> tuple[Requirement, tuple[str, str]]:
    """Parse ``[FAMILY.]BENCHMARK.accuracy>=X`` and find the ladder it names.

    The scope is a benchmark (enough with ``--family`` or when one family has it) or
    ``FAMILY.BENCHMARK``; benchmark names match case-insensitively.

    Raises
    ------
    InputError
        When the rule does not parse, has no scope, or names no ladder or several.
    """
    req = parse_requirement(text, (QUANTITY,))
    family = table_family(data, family)
    ladders = target_ladders(data, family)
    if req.scope is None:
        raise InputError(
            f"--require '{text}': name the benchmark, e.g. "
            f"'{ladders[0][1]}.accuracy>=0.7' (or FAMILY.BENCHMARK.accuracy>=0.7)."
        )
    scope = req.scope.strip()

    def same(a: str, b: str) -> bool:
        return benchmark_key(a) == benchmark_key(b)

    matches = [(f, b) for f, b in ladders if same(b, scope) or same(f"{f}.{b}", scope)]
    if len(matches) == 1:
        return req, matches[0]
    if not matches:
        choices = sorted({b for _, b in ladders} | {f"{f}.{b}" for f, b in ladders})
        raise InputError(
            f"--require '{text}': '{scope}' names no benchmark with data"
            f"{'' if family is None else f' for family {family}'}."
            f"{did_you_mean(scope, choices)} Choose one of: {', '.join(choices[:20])}."
        )
    raise InputError(
        f"--require '{text}': '{scope}' is measured for {len(matches)} families; name one, "
        f"e.g. '{matches[0][0]}.{matches[0][1]}.accuracy{req.op}{req.threshold:g}', or pass "
        "--family."
    )


def accuracy_requirement_draws(
    fit: AccuracyFit,
    requirement: str,
    family: str | None = None,
    *,
    curve: bool = False,
    cache: dict[str, Any] | None = None,
    tokens_per_param: float | None = None,
) -> tuple[Requirement, Callable[[np.ndarray], np.ndarray]]:
    """The parsed requirement and a ``compute -> draws`` function of its ladder.

    A new model's accuracy, or with ``curve=True`` the law's; two functions given the same
    ``cache`` dict share the last computed draws (:data:`bayescale.results.RequirementDraws`).
    On the ``chinchilla`` axis a compute C is the model of ``tokens_per_param`` tokens per
    parameter r that it trains: N = (C / 6r)^(1/2), D = r·N (:func:`run_path`).
    """
    req, (f, b) = accuracy_requirement(requirement, fit.data, family)
    fi, bi = fit.data.families.index(f), fit.data.benchmarks.index(b)
    memo: dict[str, Any] = {} if cache is None else cache

    def draws_at(compute: np.ndarray) -> np.ndarray:
        compute = np.atleast_1d(np.asarray(compute, dtype=float))
        key = (compute.tobytes(), fi, bi)
        if memo.get("key") != key:
            rng = forecast_stream(fit, "accuracy.forecast")
            on_axis = None
            if tokens_per_param is not None:
                on_axis = chinchilla_effective_compute(*run_path(compute, tokens_per_param))
            memo.update(key=key, draws=_draw_arrays(fit, compute, rng, on_axis, (fi, bi)))
        return np.asarray(memo["draws"][0 if curve else 1][:, 0, 0, :])

    return req, draws_at


def run_path(compute: np.ndarray, tokens_per_param: float) -> tuple[np.ndarray, np.ndarray]:
    """The models of ``tokens_per_param`` tokens per parameter r at each compute C.

    N = (C / 6r)^(1/2) and D = r·N, so that 6·N·D = C: a planned model scaled up or down
    with its data, the path along which a decision on planned models searches the compute
    needed.
    """
    params = np.sqrt(np.asarray(compute, dtype=float) / (FLOPS_PER_PARAM_TOKEN * tokens_per_param))
    return params, tokens_per_param * params


def decide_runs(
    fit: AccuracyFit, options: AccuracyOptions, smallest: float
) -> tuple[list[Decision], DecisionCurve | None]:
    """Decisions at planned models (``options.runs``), in their order.

    Each model's probability comes from a new model's draws at its own N and D; the compute
    needed is searched along its tokens per parameter (:func:`run_path`), one search per
    distinct ratio. The probability curve (for ``decision.png``) is kept only when every
    planned model has the same ratio: models of several ratios lie on several curves.
    """
    from bayescale.results import decide_planned_runs

    n, d = options.pairs()
    return decide_planned_runs(
        options,
        n,
        d,
        FLOPS_PER_PARAM_TOKEN,
        lambda ratio: partial(
            accuracy_requirement_draws, fit, family=options.family, tokens_per_param=ratio
        ),
        smallest,
    )


def _smallest_of_rule(
    fit: AccuracyFit, requirement: str, family: str | None, planned: bool = False
) -> float:
    """The smallest fitted compute of the family the rule names (where the search starts)."""
    _, (f, _) = accuracy_requirement(requirement, fit.data, family)
    placed = placed_compute(fit.data, planned)
    return float(placed[fit.data.fitted & (fit.data.family == f)].min())


def decide_accuracy(
    fit: AccuracyFit,
    requirement: str,
    targets: Targets,
    confidence: float = 0.9,
    family: str | None = None,
) -> list[Decision]:
    """Decide ``[FAMILY.]BENCHMARK.accuracy>=X`` at each target from a new model's draws."""
    return decide_requirement(
        partial(accuracy_requirement_draws, fit, family=family),
        requirement,
        targets,
        confidence,
        _smallest_of_rule(fit, requirement, family),
    )


# ---------------------------------------------------------------------------------------------
# Options, result, run


@dataclass(frozen=True)
class AccuracyOptions(Options):
    """What ``bayescale accuracy`` is asked for, besides the table.

    The fields every law shares are :class:`~bayescale.options.Options`'s (``value`` and
    ``cost_per_flop`` are refused here); the accuracy law adds
    the family whose ladders are reported, chance rates by benchmark (None: learn the
    benchmark's floor), where floors come from (``floor``: ``"chance"``, or
    ``"below_chance"`` to learn each floor between 0 and the chance rate,
    :func:`~bayescale.accuracy_data.floor_bounds`), the priors and the table's columns.

    The targets are either computes (``targets``, FLOPs: the law runs on training compute)
    or planned models (``runs``, ``(N, D)`` pairs, ``--target N:D``: the law runs on
    Chinchilla's effective compute of the table's ``params`` and ``tokens``,
    :func:`~bayescale.accuracy_data.law_compute`), never both (:attr:`axis`).
    """

    targets: tuple[float, ...] = ()
    family: str | None = None
    chance: Mapping[str, float | None] = field(default_factory=dict)
    priors: AccuracyPriors = field(default_factory=AccuracyPriors)
    columns: AccuracyColumns = field(default_factory=AccuracyColumns)
    floor: str = "chance"
    runs: tuple[tuple[float, float], ...] = ()

    @property
    def axis(self) -> str:
        """The law's axis these targets ask for: ``"chinchilla"`` with ``runs``, else compute."""
        return "chinchilla" if self.runs else "compute"

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The planned models as two arrays ``(N, D)``, checked (empty without ``runs``)."""
        if not self.runs:
            return np.array([]), np.array([])
        from bayescale.nd import _as_pairs, check_pairs

        return check_pairs(*zip(*_as_pairs(self.runs), strict=True))

    def target_computes(self) -> tuple[float, ...]:
        """The targets in FLOPs: ``targets``, or each planned model's 6·N·D."""
        if not self.runs:
            return tuple(self.targets)
        n, d = self.pairs()
        return tuple((FLOPS_PER_PARAM_TOKEN * n * d).tolist())

    def forecast_options(self) -> dict[str, object]:
        """What a saved fit remembers: the shared options, the family, the columns, the runs.

        Planned models are kept as ``params`` and ``tokens`` lists (as L(N, D) keeps them).
        """
        from dataclasses import asdict

        n, d = self.pairs()
        return remembered_options(self) | {
            "family": self.family,
            "columns": asdict(self.columns),
            "params": n.tolist(),
            "tokens": d.tolist(),
        }


#: How the two kinds of targets are asked for, for messages.
TARGET_KINDS = (
    "--target-compute C (training compute in FLOPs: the law on compute) or --target N:D "
    "(parameters:tokens, e.g. 7e9:2e12: the law on Chinchilla's effective compute, which "
    "needs the table's params and tokens columns)"
)


def check_accuracy_options(options: AccuracyOptions) -> None:
    """Refuse bad options before reading the table or sampling.

    Exactly one kind of target: computes (``targets``) or planned models (``runs``).
    """
    from dataclasses import replace

    if options.runs and options.targets:
        raise InputError(
            "give target computes or planned models, not both: " + TARGET_KINDS + ". In a "
            "spec: [forecast] targets or runs."
        )
    if not options.runs and not options.targets:
        raise InputError("nothing to forecast: give " + TARGET_KINDS + ".")
    check_options(replace(options, targets=options.target_computes()))
    if options.value is not None or options.cost_per_flop is not None:
        raise InputError("--value and --cost-per-flop are not supported by 'bayescale accuracy'.")
    if options.floor not in FLOORS:
        raise InputError(
            f"floor '{options.floor}' is not one of {', '.join(FLOORS)}."
            + did_you_mean(options.floor, FLOORS)
        )
    if options.requirement:
        parse_requirement(options.requirement, (QUANTITY,))


def accuracy_document(result: AccuracyResult, version: str | None = None) -> dict[str, Any]:
    """The result document: ``targets[].accuracy[]`` plus decision, diagnostics, warnings.

    ``accuracy[]`` entries are ``{family, benchmark, median, lower, upper, mean}`` (CONTRACT
    §7); besides it carries ``chance`` (rate and source per benchmark), ``parameters``
    (level and exponent per ladder) and ``held_out`` (scored held-out rows).
    """
    from bayescale.version import __version__

    table = result.table()
    keys = ("family", "benchmark", "median", "lower", "upper", "mean")
    targets = []
    if "params" in table.columns:  # planned models, in order of compute
        draws = result.forecast.draws
        runs = zip(draws["params"].values.tolist(), draws["tokens"].values.tolist(), strict=True)
        by_run = dict(zip(runs, result.decisions, strict=False))  # no decisions without a rule
        for n, d in table[["params", "tokens"]].drop_duplicates().itertuples(index=False):
            rows = table[(table["params"] == n) & (table["tokens"] == d)]
            compute = float(rows["target_compute"].iloc[0])
            entry: dict[str, Any] = {"target_compute": compute, "params": n, "tokens": d}
            entry |= {
                "compute": compute,
                "accuracy": [{k: r[k] for k in keys} for r in rows.to_dict("records")],
            }
            if (n, d) in by_run:
                entry["decision"] = by_run[n, d].to_dict()
            targets.append(entry)
    else:
        decisions = {d.target_compute: d for d in result.decisions}
        for target in np.unique(table["target_compute"].to_numpy(dtype=float)).tolist():
            rows = table[table["target_compute"] == target]
            entry = {
                "target_compute": target,
                "accuracy": [{k: r[k] for k in keys} for r in rows.to_dict("records")],
            }
            if target in decisions:
                entry["decision"] = decisions[target].to_dict()
            targets.append(entry)
    fit = result.fit
    return clean_json(
        {
            "bayescale_version": version or __version__,
            "kind": "accuracy",
            "ok": fit.diagnostics.ok,
            "interval": result.forecast.interval,
            "model": model_record(fit),
            "targets": targets,
            "chance": chance_entries(fit, result.forecast.interval),
        }
        | document_tail(result)
    )


def model_record(fit: AccuracyFit) -> dict[str, Any]:
    """How the law ran, for the documents: formula, axis and the model's build options.

    The ``axis`` is ``"compute"`` (training compute C) or ``"chinchilla"`` (Chinchilla's
    effective compute of each model's N and D, whose formula and constants are given).
    """
    record: dict[str, Any] = {
        "formula": law_formula(fit.axis),
        "axis": fit.axis,
        "pooled": fit.pooled,
        "pivot": fit.pivot,
        "pool_levels": fit.pool_levels,
        "floor": fit.floor,
    }
    if fit.axis == "chinchilla":
        a, alpha, b, beta = CHINCHILLA_LOSS
        record["effective_compute"] = {
            "formula": EFFECTIVE_COMPUTE,
            "A": a,
            "alpha": alpha,
            "B": b,
            "beta": beta,
        }
    return record


#: Chinchilla's effective compute of a model of N parameters and D tokens (docs/accuracy.md).
EFFECTIVE_COMPUTE = "C_eff = 1/(A/N^alpha + B/D^beta)"


def law_formula(axis: str = "compute") -> str:
    """The law in one line on its axis: :data:`FORMULA`, with C_eff on the chinchilla axis."""
    return FORMULA if axis == "compute" else FORMULA.replace("C^", "C_eff^")


def axis_text(axis: str) -> str:
    """The law's axis in words, for reports and figures."""
    if axis == "compute":
        return "training compute C (FLOPs)"
    return f"Chinchilla's effective compute of parameters N and tokens D, {EFFECTIVE_COMPUTE}"


@dataclass(frozen=True, repr=False)
class AccuracyResult(Result[AccuracyFit, AccuracyForecast, AccuracyOptions]):
    """A finished accuracy forecast: the fit, its forecast at the targets and the decisions."""

    document_builder = staticmethod(accuracy_document)

    @property
    def ladders(self) -> tuple[tuple[str, str], ...]:
        """The (family, benchmark) pairs reported."""
        return self.forecast.ladders

    @property
    def draws(self) -> xr.DataArray:
        """A new model's accuracy draws, dims ``(sample, family, benchmark, compute)``."""
        return self.forecast.draws["accuracy"]

    def table(self) -> pd.DataFrame:
        """Median, interval and mean per target, family and benchmark."""
        return self.forecast.table()


def result_from_accuracy_fit(
    fit: AccuracyFit, options: AccuracyOptions, *, warn: bool = True
) -> AccuracyResult:
    """Everything after sampling: forecasts at the targets, warnings, held-out rows, decisions.

    Shared by ``bayescale accuracy`` and ``bayescale forecast`` from a saved fit (the
    registry's ``result_from_fit``); the same fit and options give the same numbers.
    ``warn=False`` keeps the warnings out of the log (already logged before sampling).
    """
    check_accuracy_options(options)
    check_axis(fit, options)
    targets = check_targets(options.target_computes())
    forecast = forecast_accuracy(
        fit,
        targets,
        options.interval,
        options.family,
        allow_backcast=options.allow_backcast,
        warn=warn,
        runs=options.pairs() if options.runs else None,
    )
    smallest = (
        _smallest_of_rule(fit, options.requirement, options.family, bool(options.runs))
        if options.requirement
        else 0.0
    )
    if options.runs:
        made, curve = decide_runs(fit, options, smallest) if options.requirement else ([], None)
        decisions, choice = made, None
    else:
        decisions, curve, choice = decide_options(
            options,
            partial(accuracy_requirement_draws, fit, family=options.family),
            targets,
            smallest,
        )
    return AccuracyResult(
        fit=fit,
        forecast=forecast,
        parameters=accuracy_parameter_table(fit, options.interval),
        held_out=score_held_out_rows(fit, options.interval),
        decisions=tuple(decisions),
        choice=choice,
        options=options,
        curve=curve,
    )


def check_axis(fit: AccuracyFit, options: AccuracyOptions) -> None:
    """Refuse targets of the other axis than the fit's (``bayescale forecast`` of a saved fit).

    A fit on Chinchilla's effective compute answers planned models (``--target N:D``); a
    fit on training compute answers computes (``--target-compute C``).
    """
    if fit.axis == options.axis:
        return
    if fit.axis == "chinchilla":
        raise InputError(
            "this accuracy fit's law runs on Chinchilla's effective compute of parameters and "
            "tokens: give the models to forecast as --target N:D (parameters:tokens, e.g. "
            "7e9:2e12), not --target-compute (a compute names no N and D)."
        )
    raise InputError(
        "this accuracy fit's law runs on training compute: give --target-compute C (FLOPs). "
        "--target N:D needs a fit on Chinchilla's effective compute: run 'bayescale accuracy "
        "TABLE --target N:D' on a table with params and tokens columns."
    )


def check_axis_data(data: AccuracyData, options: AccuracyOptions) -> None:
    """Refuse planned models (``runs``) on a table without parameters and tokens on every row.

    Names the missing columns (as the options name them) or the first model without them.
    """
    if not options.runs:
        return
    columns = options.columns
    missing = [
        f"'{getattr(columns, name)}' (--{name}-col)"
        for name in ("params", "tokens")
        if getattr(data, name) is None
    ]
    if missing:
        raise InputError(
            f"{data.source}: --target N:D forecasts on Chinchilla's effective compute, which "
            f"needs each model's parameters and tokens: missing column(s) {', '.join(missing)}. "
            "Add them, or give --target-compute C to forecast on training compute."
        )
    law_compute(data, "chinchilla")  # a row without them is named


def check_accuracy_data(
    data: AccuracyData, options: AccuracyOptions, rule: Any = contextlib.nullcontext
) -> list[str]:
    """Every check of the table against the options before sampling; returns the warnings.

    The axis (planned models need parameters and tokens on every row), the family, the
    rule's ladder (its errors raised inside ``rule()``, which a spec uses to name its line)
    and the targets (a backcast refused unless asked; planned models where the law places
    them, :func:`accuracy_target_warnings`).
    """
    check_axis_data(data, options)
    target_ladders(data, options.family)
    if options.requirement:
        with rule():
            accuracy_requirement(options.requirement, data, options.family)
    return accuracy_target_warnings(
        data,
        check_targets(options.target_computes()),
        options.family,
        allow_backcast=options.allow_backcast,
        runs=options.pairs() if options.runs else None,
    )


def accuracy_spec_sections() -> dict[str, tuple[type, Any]]:
    """An accuracy spec's own sections (docs/specs.md).

    ``[data.columns]``, ``[priors]``, ``[forecast]`` with ``family`` (whose ladders are
    reported), ``floor`` and ``runs`` (planned models as ``[N, D]`` pairs, ``--target N:D``:
    the law on Chinchilla's effective compute) in place of ``targets``, and ``[chance]``:
    benchmark name = chance rate, or ``"learn"``, as ``--chance`` gives them.
    """
    from typing import Annotated, Literal

    from pydantic import Field

    from bayescale.spec_schema import ForecastSpec, law_sections

    positive = Annotated[float, Field(gt=0)]

    class AccuracyForecastSpec(ForecastSpec):
        """``[forecast]`` of an accuracy spec: targets or planned models, family, floors."""

        targets: list[positive] = Field(default_factory=list)
        runs: list[Annotated[list[positive], Field(min_length=2, max_length=2)]] = Field(
            default_factory=list
        )
        family: str | None = None
        floor: Literal["chance", "below_chance"] = "chance"

    rates = dict[str, Annotated[float, Field(ge=0, lt=1)] | Literal["learn"]]
    return law_sections(AccuracyColumns, AccuracyPriors, AccuracyForecastSpec, chance=(rates, {}))


def accuracy_spec_options(model: Any, common: dict[str, Any]) -> AccuracyOptions:
    """An accuracy spec's options: the ``common`` values, runs, family, floors, columns, priors."""
    from bayescale.spec_schema import set_keys

    return AccuracyOptions(
        **common,
        runs=tuple((float(n), float(d)) for n, d in model.forecast.runs),
        family=model.forecast.family,
        chance={name: None if g == LEARN else g for name, g in model.chance.items()},
        floor=model.forecast.floor,
        columns=AccuracyColumns(**set_keys(model.data.columns)),
        priors=AccuracyPriors(**set_keys(model.priors)),
    )


def check_accuracy_spec(
    spec: Any, options: AccuracyOptions, path: Path, rule: Any
) -> tuple[str, list[str]]:
    """What ``bayescale check`` does for an accuracy spec before sampling (``run_accuracy``'s).

    Returns the line that describes the data and the target warnings; an error about the
    requirement is raised inside ``rule()``.
    """
    from bayescale.spec_schema import data_line

    try:
        check_accuracy_options(options)
    except InputError as err:
        raise InputError(f"{spec.path}: {err}") from None
    data = load_accuracy_table(
        path,
        chance=options.chance,
        columns=options.columns,
        **options.reading(),
    )
    warned = check_accuracy_data(data, options, rule)
    grid = f", {len(data.families)} families x {len(data.benchmarks)} benchmarks: "
    described = data_line(path, "rows", data.fitted, grid + ", ".join(data.benchmarks))
    if options.runs:
        n, d = options.pairs()
        described += (
            "\nplanned models (the law on Chinchilla's effective compute): "
            + ", ".join(f"N={a:.3g} D={b:.3g}" for a, b in zip(n, d, strict=True))
            + f"; {options.interval:.0%} intervals"
        )
    return described, warned


def run_accuracy(
    source: str | Path | pd.DataFrame | AccuracyData, options: AccuracyOptions
) -> AccuracyResult:
    """Load, fit, forecast and decide: the ``bayescale accuracy`` pipeline (the registry's run).

    Every check that needs no sampling comes first (:func:`check_accuracy_options`,
    :func:`check_accuracy_data`).

    Returns
    -------
    AccuracyResult
        The fit, the forecast at the targets, the decisions and the warnings; frozen.
    """
    check_accuracy_options(options)
    data = (
        source
        if isinstance(source, AccuracyData)
        else load_accuracy_table(
            source,
            chance=options.chance,
            columns=options.columns,
            **options.reading(),
        )
    )
    logged(check_accuracy_data(data, options))
    log.info(
        "fitting %d rows of %d families with %s",
        int(data.fitted.sum()),
        len(data.families),
        options.sampler.describe(),
    )
    fit = fit_accuracy(
        data,
        options.priors,
        options.sampler,
        floor=options.floor,
        axis=options.axis,
        allow_unconverged=options.allow_unconverged,
    )
    return result_from_accuracy_fit(fit, options, warn=False)


# ---------------------------------------------------------------------------------------------
# Figure, report, command-line lines


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


def accuracy_figures(result: AccuracyResult) -> list[tuple[str, Callable[[], Figure]]]:
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


def accuracy_markdown(result: AccuracyResult, version: str, plots: Sequence[str] = ()) -> str:
    """``report.md``: decisions, data and chance rates, forecast, parameters, diagnostics."""
    fit, data = result.fit, result.fit.data
    pct = f"{result.forecast.interval:.0%}"
    lines = head_lines(result, f"Benchmark accuracy forecast: {data.source}")
    lines += [
        f"- {int(data.fitted.sum())} fitted rows ({int(data.held_out.sum())} held out): "
        f"{len(data.families)} families, {len(data.benchmarks)} benchmarks.",
        f"- Law: {law_formula(fit.axis)} per family and benchmark, "
        f"{'partially pooled' if fit.pooled else 'each ladder alone'}.",
        f"- Axis: {axis_text(fit.axis)}"
        + (
            f", A = {CHINCHILLA_LOSS[0]:g}, alpha = {CHINCHILLA_LOSS[1]:g}, "
            f"B = {CHINCHILLA_LOSS[2]:g}, beta = {CHINCHILLA_LOSS[3]:g} (Besiroglu et al. 2024)."
            if fit.axis == "chinchilla"
            else "."
        ),
        f"- Chance rates: {chance_text(fit, result.forecast.interval)}.",
        "",
        f"## Forecast: a new model's accuracy (median, {pct} interval)",
        "",
    ]
    table = result.table()
    planned = "params" in table.columns
    lines += [
        ("| N | D | compute 6ND (FLOPs) " if planned else "| compute (FLOPs) ")
        + f"| family | benchmark | median | {pct} interval |",
        "| --- " * (7 if planned else 5) + "|",
    ]
    lines += [
        (f"| {r['params']:.3g} | {r['tokens']:.3g} " if planned else "")
        + f"| {r['target_compute']:.3g} | {r['family']} | {r['benchmark']} | {r['median']:.3f} | "
        f"{r['lower']:.3f} to {r['upper']:.3f} |"
        for r in table.to_dict("records")
    ]
    if planned and result.decisions:
        lines += [
            "",
            "Decisions at planned models: the compute needed is searched along each model's "
            "tokens per parameter (N and D scaled together).",
        ]
    lines += ["", "## Parameters", "", markdown_table(result.parameters), ""]
    if not result.held_out.empty:
        held = result.held_out[["case", "truth", "median", "lower", "upper", "covered"]]
        lines += ["## Held-out rows", "", markdown_table(held), ""]
    lines += [*diagnostics_lines(fit.diagnostics, fit.timing_s), ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += [f"_bayescale {version}_", ""]
    return "\n".join(lines)


def accuracy_summary(result: AccuracyResult) -> str:
    """The command line's forecast lines: one row per ladder, one column per target."""
    pct = f"{result.forecast.interval:.0%}"
    rows: dict[str, dict[float, str]] = {}
    table = result.table()
    planned = "params" in table.columns
    # planned models are columns by position (two may share a compute)
    column = (
        {
            (n, d): float(i)
            for i, (n, d) in enumerate(
                table[["params", "tokens"]].drop_duplicates().itertuples(index=False)
            )
        }
        if planned
        else {}
    )
    for r in table.to_dict("records"):
        key = column[r["params"], r["tokens"]] if planned else r["target_compute"]
        rows.setdefault(f"{r['family']} / {r['benchmark']}", {})[key] = (
            f"{r['median']:.3f} [{r['lower']:.3f}, {r['upper']:.3f}]"
        )
    if planned:
        lines = [
            f"Accuracy of a new model of N parameters and D tokens (median [{pct} interval]), "
            "the law on Chinchilla's effective compute:"
        ]
        heads = [f"N={n:.3g} D={d:.3g}" for n, d in column]
        lines += summary_grid("family / benchmark", rows, list(column.values()), heads)
    else:
        lines = [f"Accuracy of a new model (median [{pct} interval]):"]
        lines += summary_grid(
            "family / benchmark", rows, [float(t) for t in result.forecast.targets]
        )
    held = result.held_out
    if not held.empty:
        lines.append(
            f"Held-out rows: {int(held['covered'].sum())}/{len(held)} inside the {pct} interval."
        )
    return "\n".join(lines)


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

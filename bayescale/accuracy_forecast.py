"""Benchmark accuracy: a new model's forecast at the targets, its warnings, held-out scores.

The ladders a forecast reports (every family's, or ``--family``'s: :func:`target_ladders`),
:class:`AccuracyForecast` (a :class:`~bayescale.draws.Forecast`: a new model's accuracy and
the law's at the targets, and its table, :func:`accuracy_table`) from
:func:`forecast_accuracy`, the warnings about the targets and the ladders
(:func:`accuracy_target_warnings`, before or without sampling), and the held-out rows scored
against a new model's draws (:func:`score_held_out_rows`, also the backtest's). The draws
come from :mod:`bayescale.accuracy`; the options, run and decisions are
:mod:`bayescale.accuracy_pipeline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.accuracy import (
    AccuracyFit,
    _draw_arrays,
    _labelled,
    largest_fitted_log_compute,
)
from bayescale.accuracy_data import (
    CHANCE_NOISE_SDS,
    MIN_SIZES,
    AccuracyData,
    AccuracyPriors,
    benchmark_key,
    chance_noise_sd,
    chinchilla_effective_compute,
    law_compute,
    optimal_equivalent_compute,
    within_noise_of_chance,
)
from bayescale.backtest_scoring import score_draws, with_meta
from bayescale.display import percent
from bayescale.draws import Forecast, shown_rows, summarise, target_rows
from bayescale.errors import InputError, did_you_mean
from bayescale.nd_data import FLOPS_PER_PARAM_TOKEN
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
        title = (
            f"AccuracyForecast: a new model's accuracy, median [{percent(self.interval)} interval]"
        )
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
        fit.data, targets, family, allow_backcast=allow_backcast, runs=runs, priors=fit.priors
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
    priors: AccuracyPriors | None = None,
) -> list[str]:
    """Warnings about the reported ladders and the targets, before (or without) sampling.

    A ladder with fewer than :data:`MIN_SIZES` fitted sizes takes its exponent mostly from
    the other families (with one family, from the prior and its other benchmarks); the
    targets are checked against each reported family's fitted computes
    (:func:`bayescale.targets.target_warnings`: a backcast refused unless
    ``allow_backcast``, an interpolation or a far extrapolation warned). Planned models
    (``runs``, their N and D) are checked where the law on effective compute places them,
    as are the fitted models then: at the compute of their compute-optimal equal
    (:func:`~bayescale.accuracy_data.optimal_equivalent_compute`), so that a model starved of
    tokens is not taken for one inside the data. A ladder whose every fitted row is within
    noise of chance is warned; a row without ``n_questions`` is judged by the median noise of
    ``priors`` (the fit's or the options'; default :class:`AccuracyPriors`), as the model does.
    """
    noise = (priors or AccuracyPriors()).noise_median
    ladders = target_ladders(data, family)
    units = log_units_warning(data.compute[data.fitted], "compute")
    if len(data.families) > 1:
        pooled = "the other families' (pooling)"
    elif len(data.benchmarks) > 1:
        pooled = "the prior and the family's other benchmarks (there are no other families)"
    else:
        pooled = "the prior (there are no other families or benchmarks to pool with)"
    out = (
        units
        + label_twin_warnings(np.unique(data.family), "family")
        + [
            f"{f} on {b} has {n} fitted size{'s' if n != 1 else ''}: its exponent comes mostly "
            f"from {pooled}."
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
        if (g := _ladder_at_chance(data, f, b, noise)) is not None
    ]
    out += failed_evaluation_warnings(data, noise) + saturated_warnings(data, ladders)
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


#: A ladder whose every fitted row scores at least this is at the ceiling
#: (:func:`saturated_warnings`).
SATURATED_ACCURACY = 0.99


def failed_evaluation_warnings(data: AccuracyData, noise: float) -> list[str]:
    """A warning per row at accuracy 0 on a benchmark whose chance rate is well above 0.

    Guessing scores the chance rate; 0 more than :data:`CHANCE_NOISE_SDS` measurement sds
    below it (:func:`~bayescale.accuracy_data.chance_noise_sd`; ``noise`` for a row without
    ``n_questions``) is most often an evaluation that failed (answers the harness did not
    parse, a crashed run). Fitted and held-out rows of every family are named: one row moves
    the benchmark's scatter, so every family's interval on it.
    """
    g = data.row_chance
    known = ~np.isnan(g)
    sd = chance_noise_sd(np.where(known, g, 0.0), data.n_questions, noise)
    rows = np.flatnonzero(known & (data.accuracy <= 0) & (g > CHANCE_NOISE_SDS * sd))
    return [
        f"{m} on {b}: accuracy 0, where guessing scores {c:.3g} (chance): a failed "
        "evaluation? (answers the harness did not parse, a crashed or truncated run). A row "
        "at 0 is far off the law: fitted, it widens every interval on the benchmark; held "
        "out, it is scored as a miss. Re-run the evaluation, or leave the row out with "
        f'--where "not (model == {str(m)!r} and benchmark == {str(b)!r})".'
        for m, b, c in zip(data.model[rows], data.benchmark[rows], g[rows], strict=True)
    ]


def below_chance_warnings(data: AccuracyData, floor: str = "chance") -> list[str]:
    """A warning per benchmark whose counted fitted rows sit well below a known chance rate.

    With the floor at chance the law holds ``p >= g``, and a row with ``n_questions``
    enters through a binomial: a score more than :data:`CHANCE_NOISE_SDS` binomial sds below
    ``g`` (0.23 on MMLU's 14,042 questions is 5.5 sds) can only be absorbed by its row's
    scatter effect, which moves the benchmark's scatter and every family's interval on it.
    Such a benchmark's effective floor is below its nominal rate (a harness that counts
    unparsed answers as wrong); ``floor="below_chance"`` learns it. Rows at 0 are left to
    :func:`failed_evaluation_warnings`; none with ``floor="below_chance"``.
    """
    if floor != "chance":
        return []
    g = data.row_chance
    counted = data.fitted & ~np.isnan(data.n_questions) & ~np.isnan(g) & (data.accuracy > 0)
    sd = chance_noise_sd(np.where(counted, g, 0.0), data.n_questions, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        below = np.where(counted, (g - data.accuracy) / sd, -np.inf)
    out = []
    for b in data.benchmarks:
        rows = np.flatnonzero((data.benchmark == b) & (below > CHANCE_NOISE_SDS))
        if rows.size == 0:
            continue
        worst = rows[np.argmax(below[rows])]
        out.append(
            f"{b}: {rows.size} counted row{'s' if rows.size != 1 else ''} more than "
            f"{CHANCE_NOISE_SDS:g} binomial sds below the chance rate {g[worst]:.3g} (lowest: "
            f"{data.model[worst]} at {data.accuracy[worst]:.3g} on "
            f"{data.n_questions[worst]:.0f} questions, {below[worst]:.1f} sds below). The "
            "floor at chance holds the law at or above the rate, so these rows are misfits "
            "that widen every interval on the benchmark. If its effective floor is below "
            "the rate (answers the harness did not parse counted as wrong), learn it with "
            '--floor below_chance (a spec\'s [forecast] floor = "below_chance"; '
            'floor="below_chance" in Python); otherwise check these evaluations.'
        )
    return out


def saturated_warnings(data: AccuracyData, ladders: Sequence[tuple[str, str]]) -> list[str]:
    """A warning per reported ladder whose every fitted row is at the ceiling.

    The law rises toward 1: from a ladder at :data:`SATURATED_ACCURACY` or above it can only
    forecast about 1 at any compute, with the exponent from the prior.
    """
    out = []
    for f, b in ladders:
        rows = data.fitted & (data.family == f) & (data.benchmark == b)
        if rows.any() and bool((data.accuracy[rows] >= SATURATED_ACCURACY).all()):
            out.append(
                f"{f} on {b}: every fitted model scores >= {SATURATED_ACCURACY:g} (lowest "
                f"{data.accuracy[rows].min():.3g}): the benchmark is saturated. The law rises "
                "toward 1 and cannot rise further, so the forecast is the ceiling at any "
                "compute, not a measure of a larger model. Forecast a harder benchmark, or "
                f'leave this one out with --where "benchmark != {str(b)!r}".'
            )
    return out


def _ladder_at_chance(
    data: AccuracyData, family: str, benchmark: str, noise: float
) -> float | None:
    """The chance rate of a ladder whose every fitted row is within noise of it, else None.

    ``noise``: the sd of a row without ``n_questions`` (the priors' ``noise_median``). Only
    for a known chance rate (a learned floor sits wherever the lowest scores are).
    """
    rows = data.fitted & (data.family == family) & (data.benchmark == benchmark)
    g = float(data.chance[data.benchmarks.index(benchmark)])
    if np.isnan(g) or not rows.any():
        return None
    near = within_noise_of_chance(data.accuracy[rows], g, data.n_questions[rows], noise)
    return g if bool(near.all()) else None


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

"""L(N, D)'s pipeline: the options, the run and everything after sampling (``bayescale nd``).

:class:`NDOptions` (an :class:`~bayescale.options.Options`) and their checks, the forecast
(:class:`NDForecast`: a new run at the planned runs, the compute-optimal split per budget),
:func:`run_nd` / :func:`run_nd_table` (fit, then answer), the warnings about the targets and
the data, :func:`nd_result_from_fit` (everything after sampling, shared with ``bayescale
forecast``), the decisions at the planned runs, the held-out runs' scores, the registry
entry's spec and saved-options functions, and :class:`NDResult`. The law, its fit and its
draws are :mod:`bayescale.nd`; the tables and documents :mod:`bayescale.nd_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.decision import Decision, DecisionCurve, Requirement
from bayescale.display import percent
from bayescale.draws import SCORE_COLUMNS, Forecast
from bayescale.errors import InputError
from bayescale.nd import (
    NDDraws,
    NDFit,
    RequiredParams,
    _as_pairs,
    check_pairs,
    fit_nd,
    nd_draws,
    nd_loss_draws,
    optimal_draws,
    required_params,
)
from bayescale.nd_data import (
    FLOPS_PER_PARAM_TOKEN,
    NDColumns,
    NDData,
    NDPriors,
    load_nd_runs,
    unread_compute_warnings,
)
from bayescale.nd_report import nd_document, optimal_table, parameter_table, targets_table
from bayescale.options import Options, remembered_options
from bayescale.results import Result, require_fit
from bayescale.sampling import SamplerSettings

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

    def table(self) -> pd.DataFrame:
        """A new run's loss per planned run and group: median, lower, upper (and mean).

        Columns ``target_compute, params, tokens, group`` and the summary; the optima per
        budget are :attr:`optimal` (the JSON document's ``optimal[]``).
        """
        rows = [
            {
                "target_compute": t["target_compute"],
                "params": t["params"],
                "tokens": t["tokens"],
                **g,
            }
            for t in targets_table(self.draws, self.interval)
            for g in t["loss"]
        ]
        columns = [
            "target_compute",
            "params",
            "tokens",
            "group",
            "median",
            "lower",
            "upper",
            "mean",
        ]
        return pd.DataFrame(rows, columns=None if rows else columns)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        title = f"NDForecast: a new run's loss, median [{percent(self.interval)} interval]"
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
    data: NDData | str | Path | pd.DataFrame,
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

    ``data`` is an :class:`NDData` (:func:`load_nd_runs`, for columns or row selection) or a
    table as ``run_loss`` takes it: a CSV or Parquet path or a DataFrame, read with the
    default columns ``params, tokens, loss[, group]``.

    Returns
    -------
    NDResult
        The fit, the forecast (draws at the planned runs and optima per budget), the
        decisions and the warnings.
    """
    if not isinstance(data, NDData):
        data = load_nd_runs(data)
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

    Each group is checked against its own fitted runs (groups can start decades apart): below
    its smallest is a backcast; beyond :data:`FAR_FACTOR` x its largest, an extrapolation the
    law discrepancy was not calibrated on.
    """
    computes = np.array([*(data.flops_per_param_token * n * d), *budgets], dtype=float)
    out = []
    for g in data.groups:
        fitted = data.compute[data.fitted & (data.group == g)]
        if not fitted.size:
            continue
        where = f" of group '{g}'" if len(data.groups) > 1 else ""
        c_min, c_max = float(fitted.min()), float(fitted.max())
        below = computes[computes < c_min]
        if below.size:
            out.append(
                f"{below.size} target(s) or budget(s) lie below the smallest fitted run{where} "
                f"({c_min:.3g} FLOPs; the lowest at {below.min():.3g}): a backcast, not a "
                "forecast; the answer rests on the law's form below the data."
            )
        far = computes[computes > FAR_FACTOR * c_max]
        if far.size:
            out.append(
                f"{far.size} target(s) or budget(s) lie more than {FAR_FACTOR:.0f}x beyond the "
                f"largest fitted run{where} ({c_max:.3g} FLOPs); the law discrepancy is "
                "calibrated on 4x-100x extrapolations."
            )
    starved = np.flatnonzero(np.asarray(d) < np.asarray(n))
    if starved.size:
        i = int(starved[0])
        out.append(
            f"{starved.size} planned run(s) have fewer tokens than parameters (N={n[i]:.3g}, "
            f"D={d[i]:.3g}: {d[i] / n[i]:.3g} tokens a parameter, where runs train on about 1 "
            "to 1000): --target is N:D, parameters first; check the order."
        )
    return (
        out
        + unread_compute_warnings(data)
        + swapped_warnings(data)
        + one_ratio_warnings(data)
        + repeated_nd_warnings(data)
    )


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

    require_fit(fit, NDFit, "nd_result_from_fit")
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
HELD_OUT_COLUMNS = ("name", "group", "params", "tokens", "compute", *SCORE_COLUMNS)


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
        + f"; {percent(options.interval)} intervals"
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

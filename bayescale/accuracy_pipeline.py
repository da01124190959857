"""Benchmark accuracy's pipeline: options, requirements and decisions, the run, the result.

The requirement ``[FAMILY.]BENCHMARK.accuracy>=X`` and its draws
(:func:`accuracy_requirement_draws`, :func:`decide_accuracy`; at planned models
:func:`decide_runs`, the compute needed along each model's tokens per parameter,
:func:`run_path`), :class:`AccuracyOptions` (an :class:`~bayescale.options.Options`) and
their checks, :class:`AccuracyResult` (a :class:`~bayescale.results.Result`),
:func:`result_from_accuracy_fit` (everything after sampling, shared with ``bayescale
forecast``), the checks of the table against the options, the registry entry's spec
functions and :func:`run_accuracy` (``bayescale accuracy``; its folder:
:func:`bayescale.result_files.write_outputs`). The fit and draws are
:mod:`bayescale.accuracy`, the forecast at the targets :mod:`bayescale.accuracy_forecast`,
the document, Markdown and command-line lines :mod:`bayescale.accuracy_report`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.accuracy import AccuracyFit, _draw_arrays, fit_accuracy
from bayescale.accuracy_data import (
    FLOORS,
    LEARN,
    QUANTITY,
    AccuracyColumns,
    AccuracyData,
    AccuracyPriors,
    benchmark_key,
    chinchilla_effective_compute,
    law_compute,
    load_accuracy_table,
)
from bayescale.accuracy_forecast import (
    AccuracyForecast,
    accuracy_target_warnings,
    below_chance_warnings,
    forecast_accuracy,
    placed_compute,
    score_held_out_rows,
    table_family,
    target_ladders,
)
from bayescale.accuracy_report import accuracy_document, accuracy_parameter_table
from bayescale.decision import Decision, DecisionCurve, Requirement, parse_requirement
from bayescale.display import percent
from bayescale.errors import InputError, did_you_mean
from bayescale.nd_data import FLOPS_PER_PARAM_TOKEN
from bayescale.options import Options, check_options, remembered_options
from bayescale.results import Result, decide_options, decide_requirement, require_fit
from bayescale.seeds import forecast_stream
from bayescale.targets import Targets, check_targets, logged

log = logging.getLogger("bayescale")


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
    require_fit(fit, AccuracyFit, "result_from_accuracy_fit")
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
        priors=options.priors,
    ) + below_chance_warnings(data, options.floor)


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
            + f"; {percent(options.interval)} intervals"
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

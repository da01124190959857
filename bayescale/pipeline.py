"""The loss pipeline: table to validated data to fit to forecast to decision to files.

:func:`run_loss` wires the stages; :func:`write_loss_outputs` writes the report, the JSON
document and the plot. The command line and the Python API both go through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale import forecast as loss_forecast
from bayescale.data import LossColumns, LossData, load_loss_runs
from bayescale.decision import Decision, Requirement, parse_requirement
from bayescale.errors import InputError, did_you_mean, expect
from bayescale.loss_fit import LossFit, fit_loss
from bayescale.loss_report import loss_document
from bayescale.options import Options, check_options
from bayescale.priors import LossPriors
from bayescale.results import Result, decide_options, decide_requirement, require_fit
from bayescale.run_effects import shared_runs
from bayescale.targets import Targets, check_targets, logged

log = logging.getLogger("bayescale")


@dataclass(frozen=True)
class LossOptions(Options):
    """Everything a loss forecast is asked for, besides the table itself.

    The fields every law shares are :class:`~bayescale.options.Options`'s; a loss forecast adds
    the table's columns and the priors.
    """

    columns: LossColumns = field(default_factory=LossColumns)
    priors: LossPriors = field(default_factory=LossPriors)


@dataclass(frozen=True, repr=False)
class LossResult(Result[LossFit, loss_forecast.LossForecast, LossOptions]):
    """A finished loss forecast: the fit and everything derived from it."""

    document_builder = staticmethod(loss_document)


def loss_requirement(text: str, groups: tuple[str, ...]) -> tuple[Requirement, int]:
    """Parse a loss requirement and find the group it is about.

    A plain ``loss<=x`` is accepted when there is one group; with several groups the group
    must be named, ``web.loss<=x``.
    """
    req = parse_requirement(text, quantities=("loss",))
    if req.scope is None:
        if len(groups) > 1:
            raise InputError(
                f"--require '{text}': the data has {len(groups)} groups; name one, e.g. "
                f"'{groups[0]}.loss<={req.threshold:g}'. Groups: {', '.join(groups)}."
            )
        return req, 0
    if req.scope not in groups:
        raise InputError(
            f"--require '{text}': no group '{req.scope}'.{did_you_mean(req.scope, groups)} "
            f"Groups: {', '.join(groups)}."
        )
    return req, groups.index(req.scope)


def decide_loss(
    fit: LossFit, requirement: str, targets: Targets, confidence: float = 0.9
) -> list[Decision]:
    """Decide a loss requirement at each target from the fit's predictive draws.

    Parameters
    ----------
    fit
        A loss fit.
    requirement
        ``"loss<=2.1"``, or ``"web.loss<=2.1"`` with several groups.
    targets
        Target compute(s) in FLOPs: a number or a list/array.
    confidence
        Probability the requirement must hold with for GO.

    Returns
    -------
    list of Decision
        One per target.
    """
    expect(fit, LossFit, "decide_loss takes a LossFit (fit_loss(data), or load_fit(path).fit)")
    draws = partial(loss_requirement_draws, fit)
    return decide_requirement(
        draws, requirement, targets, confidence, _search_start(fit, requirement)
    )


def _search_start(fit: LossFit, requirement: str | None) -> float:
    """Where the search for the compute needed starts: the requirement's group's smallest run.

    Groups can start decades apart; searching from another group's runs would answer
    "needs X FLOPs" below every run of the group the rule is about.
    """
    data = fit.data
    rows = data.fitted
    if requirement:
        rows = rows & (data.group_index == loss_requirement(requirement, data.groups)[1])
    return float(data.compute[rows].min())


def loss_requirement_draws(  # type: ignore[no-untyped-def]
    fit: LossFit, requirement: str, *, curve: bool = False, cache: dict | None = None
):
    """The parsed requirement and a ``compute -> new-run draws`` function for its group.

    With ``curve=True`` the draws are of the curve (no run-to-run scatter). Two functions
    given the same ``cache`` dict share the last computed draws (one ``loss_draws`` call gives
    both the curve and a new run).
    """
    req, gi = loss_requirement(requirement, fit.data.groups)
    name = "curve" if curve else "loss"
    memo: dict = {} if cache is None else cache

    def draws_at(compute: np.ndarray) -> np.ndarray:
        key = np.asarray(compute, dtype=float).tobytes()
        if memo.get("key") != key:  # the requirement's group alone
            group = [fit.data.groups[gi]]
            memo.update(key=key, draws=loss_forecast.loss_draws(fit, compute, groups=group))
        return np.asarray(memo["draws"][name].values[:, 0, :])

    return req, draws_at


def result_from_fit(fit: LossFit, options: LossOptions, *, warn: bool = True) -> LossResult:
    """Everything a forecast reports, computed from a fit without sampling again.

    ``warn=False`` keeps the target warnings out of the log (already logged before sampling);
    they are in the result either way. A fit of another law is refused with an
    :class:`~bayescale.errors.InputError` naming that law's function.

    Returns
    -------
    LossResult
        The fit, the forecast, the decisions (with the compute choice when the options give
        economics) and the warnings; frozen.
    """
    require_fit(fit, LossFit, "result_from_fit")
    check_options(options)
    targets = check_targets(options.targets)
    forecast = loss_forecast.forecast_loss(
        fit, targets, options.interval, allow_backcast=options.allow_backcast, warn=warn
    )
    decisions, curve, choice = decide_options(
        options,
        partial(loss_requirement_draws, fit),
        targets,
        _search_start(fit, options.requirement),
    )
    return LossResult(
        fit=fit,
        forecast=forecast,
        parameters=loss_forecast.parameter_table(fit, options.interval),
        held_out=loss_forecast.score_held_out(fit, options.interval),
        decisions=tuple(decisions),
        choice=choice,
        options=options,
        curve=curve,
    )


def load_loss(source: str | Path | pd.DataFrame, options: LossOptions) -> LossData:
    """Read and validate the runs table with the options' columns, cut and row selection."""
    return load_loss_runs(source, options.columns, **options.reading())


def loss_spec_sections() -> dict[str, tuple[type, Any]]:
    """The loss spec's own sections: ``[data]`` (``.columns``), ``[forecast]``, ``[priors]``."""
    from bayescale.spec_schema import law_sections

    return law_sections(LossColumns, LossPriors)


def loss_spec_options(model: Any, common: dict[str, Any]) -> LossOptions:
    """A loss spec's options: the ``common`` values, its columns and its priors."""
    from bayescale.spec_schema import set_keys

    columns = LossColumns(**set_keys(model.data.columns))
    return LossOptions(**common, columns=columns, priors=LossPriors(**set_keys(model.priors)))


def check_loss_spec(
    spec: Any, options: LossOptions, path: Path, rule: Callable[[], AbstractContextManager[None]]
) -> tuple[str, list[str]]:
    """What ``bayescale check`` does for a loss spec before sampling (``run_loss``'s checks).

    Returns the line that describes the data and the target warnings; an error about the
    requirement is raised inside ``rule()`` (which names the spec's line).
    """
    from bayescale.spec_schema import data_line

    check_options(options)
    data = load_loss(path, options)
    if options.requirement:
        with rule():
            loss_requirement(options.requirement, data.groups)
    targets = check_targets(options.targets)
    if options.priors.shared_runs:  # refused by the model builder, before sampling
        shared_runs(data)
    warned = loss_forecast.loss_target_warnings(
        data, targets, options.priors, allow_backcast=options.allow_backcast
    )
    groups = f" in {len(data.groups)} group(s): " + ", ".join(data.groups)
    return data_line(path, "runs", data.fitted, groups), warned


def run_loss(source: str | Path | pd.DataFrame | LossData, options: LossOptions) -> LossResult:
    """Run a loss forecast end to end.

    Every option is checked before sampling, so bad input fails in milliseconds.

    Parameters
    ----------
    source
        A path to a CSV/Parquet table, a DataFrame, or already validated :class:`LossData`.
    options
        Targets, interval, requirement, priors and sampler settings.

    Returns
    -------
    LossResult

    Examples
    --------
    >>> import bayescale as bs
    >>> opts = bs.LossOptions(targets=(1e23,), requirement="web.loss<=2.6",
    ...                       sampler=bs.SamplerSettings(progress=False))
    >>> result = bs.run_loss(bs.demo_loss_runs(), opts)  # doctest: +SKIP
    >>> result.decisions[0].go  # doctest: +SKIP
    True
    """
    expect(options, LossOptions, "run_loss takes LossOptions, e.g. bs.LossOptions(targets=(1e23,))")
    check_options(options)
    data = source if isinstance(source, LossData) else load_loss(source, options)
    if options.requirement:
        loss_requirement(options.requirement, data.groups)
    # refuse a backcast and warn about the targets before sampling
    targets = check_targets(options.targets)
    logged(
        loss_forecast.loss_target_warnings(
            data, targets, options.priors, allow_backcast=options.allow_backcast
        )
    )
    s = options.sampler
    runs, groups = int(data.fitted.sum()), len(data.groups)
    log.info("fitting %d runs in %d group(s) with %s", runs, groups, s.describe())
    fit = fit_loss(data, options.priors, s, allow_unconverged=options.allow_unconverged)
    log.info(
        "sampled in %.1f s; %s",
        fit.timing_s["sampling"],
        "converged" if fit.diagnostics.ok else "; ".join(fit.diagnostics.problems()),
    )
    fit = loss_forecast.with_exact_loo(fit)  # refits where importance sampling cannot tell
    # once, for the off-curve warnings and the saved fit (draws x runs of work)
    fit = replace(fit, loo_below=loss_forecast.loo_below(fit))
    return result_from_fit(fit, options, warn=False)

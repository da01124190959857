"""The pass-rate pipeline: table to counts or rates, buckets, fit, forecast, decision, files.

:func:`run_pass` wires the stages for both input formats (told apart by their columns);
:func:`write_pass_outputs` writes the report, the JSON document and the plots.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.buckets import Buckets, Eligibility, intercepts_drawn, make_buckets
from bayescale.decision import Decision, Requirement, parse_requirement
from bayescale.display import plural
from bayescale.errors import InputError, did_you_mean, expect
from bayescale.ladder import model_settings
from bayescale.options import Options, check_options
from bayescale.pass_data import PassAggregate, PassColumns, PassCounts, load_pass_table
from bayescale.pass_fit import PassFit, fit_pass
from bayescale.pass_forecast import (
    PassForecast,
    forecast_pass,
    pass_draws,
    pass_parameter_table,
    pass_target_warnings,
    pooled_description,
    reported_buckets,
    score_held_out_models,
)
from bayescale.pass_report import pass_document
from bayescale.priors import PassPriors
from bayescale.results import Result, decide_options, decide_requirement, require_fit
from bayescale.sampling import check_memory_before_model
from bayescale.targets import Targets, check_targets, logged

log = logging.getLogger("bayescale")


@dataclass(frozen=True)
class PassOptions(Options):
    """Everything a pass-rate forecast is asked for, besides the table itself.

    The fields every law shares are :class:`~bayescale.options.Options`'s; a pass-rate forecast
    adds the buckets, pass@k, the table's columns and the priors.
    """

    n_buckets: int | None = None
    exclude_hardest: int = 0
    bucket_by: tuple[str, ...] | None = None
    eligibility: Eligibility = "all"
    k: int | None = None
    columns: PassColumns = field(default_factory=PassColumns)
    priors: PassPriors = field(default_factory=PassPriors)


@dataclass(frozen=True, repr=False)
class PassResult(Result[PassFit, PassForecast, PassOptions]):
    """A finished pass-rate forecast: the fit and everything derived from it."""

    document_builder = staticmethod(pass_document)


def pass_requirement(
    text: str, buckets: tuple[str, ...], pooled: bool = True
) -> tuple[Requirement, int | None]:
    """Parse ``pass_rate>=0.3`` (all problems) or ``3.pass_rate>=0.5`` (bucket 3).

    ``pooled=False`` (buckets that are different benchmarks) refuses a rule without a bucket.
    """
    req = parse_requirement(text, quantities=("pass_rate",))

    def example(label: str) -> str:
        prefix = "bucket" if label.isdigit() else ""
        return f"'{prefix}{label}.{req.quantity}{req.op}{req.threshold:g}'"

    if req.scope is None:
        if not pooled:
            raise InputError(
                f"--require '{text}': the buckets ({', '.join(buckets)}) are different "
                f"benchmarks, so there is no overall pass rate; name one, e.g. "
                f"{example(buckets[0])}."
            )
        return req, None
    scope = req.scope
    if scope not in buckets and scope.removeprefix("bucket") in buckets:
        scope = scope.removeprefix("bucket")
    if scope not in buckets:
        typed = scope.removeprefix("bucket") if scope.startswith("bucket") else scope
        hint = did_you_mean(typed, buckets) or did_you_mean(scope, buckets)
        raise InputError(
            f"--require '{text}': no bucket '{req.scope}'.{hint} "
            f"Buckets: {', '.join(buckets)}; write e.g. {example(buckets[0])}."
        )
    return req, buckets.index(scope)


def pass_requirement_draws(
    fit: PassFit,
    requirement: str,
    *,
    curve: bool = False,
    cache: dict[str, Any] | None = None,
) -> tuple[Requirement, Callable[[np.ndarray], np.ndarray]]:
    """The parsed requirement and a ``compute -> new-model draws`` function for it.

    With ``curve=True`` the draws are of the law (no new model's own deviation). Two functions
    given the same ``cache`` dict share the last computed draws.
    """
    req, bucket = pass_requirement(
        requirement, reported_buckets(fit), pooled_description(fit) is not None
    )
    prefix = "curve_" if curve else ""
    memo: dict[str, Any] = {} if cache is None else cache

    def draws_at(compute: np.ndarray) -> np.ndarray:
        key = np.asarray(compute, dtype=float).tobytes()
        if memo.get("key") != key:
            memo.update(key=key, draws=pass_draws(fit, compute))
        ds = memo["draws"]
        if bucket is None:
            return np.asarray(ds[prefix + "pass_rate"].values)
        return np.asarray(ds[prefix + "bucket_pass_rate"].values[:, bucket, :])

    return req, draws_at


def decide_pass(
    fit: PassFit, requirement: str, targets: Targets, confidence: float = 0.9
) -> list[Decision]:
    """Decide a pass-rate requirement at each target from a new model's predictive draws.

    ``requirement`` is ``"pass_rate>=0.3"`` (the overall rate) or ``"bucket2.pass_rate>=0.5"``
    / ``"humaneval.pass_rate>=0.2"``; ``targets`` a number or a list/array of FLOPs.

    Returns
    -------
    list[Decision]
        One decision per target, in the targets' order.
    """
    smallest = float(fit.data.models.compute[fit.data.models.fitted].min())
    draws = partial(pass_requirement_draws, fit)
    return decide_requirement(draws, requirement, targets, confidence, smallest)


def check_pass_options(options: PassOptions) -> None:
    """Refuse bad forecast options before reading data or sampling."""
    check_options(options)
    if options.requirement:
        parse_requirement(options.requirement, quantities=("pass_rate",))


def load_pass(
    source: str | Path | pd.DataFrame, options: PassOptions
) -> tuple[PassCounts | PassAggregate, Buckets | None]:
    """Read either pass format and, for per-problem counts, make the buckets."""
    data = load_pass_table(source, options.columns, **options.reading())
    if isinstance(data, PassAggregate):
        return data, None
    buckets = make_buckets(
        data, options.n_buckets, options.exclude_hardest, options.bucket_by, options.eligibility
    )
    return data, buckets


def pass_spec_sections() -> dict[str, tuple[type, Any]]:
    """The pass-rate spec's own sections (docs/specs.md).

    ``[data]`` with ``[data.columns]``, ``[forecast]`` with ``k`` (pass@k), ``[buckets]`` (the
    hierarchy of per-problem counts) and ``[priors]``.
    """
    from pydantic import Field

    from bayescale.spec_schema import ForecastSpec, Strict, default_of, law_sections

    class PassForecastSpec(ForecastSpec):
        """``[forecast]`` of a pass-rate spec: also pass@k."""

        k: int | None = Field(default=None, ge=1)

    class BucketsSpec(Strict):
        """``[buckets]`` of a pass-rate spec with per-problem counts: the hierarchy."""

        count: int | None = Field(default=default_of(PassOptions, "n_buckets"), ge=1)
        exclude_hardest: int = Field(default=default_of(PassOptions, "exclude_hardest"), ge=0)
        order_by: list[str] | None = None
        eligibility: Eligibility = default_of(PassOptions, "eligibility")

    buckets = (BucketsSpec, BucketsSpec())
    return law_sections(PassColumns, PassPriors, PassForecastSpec, buckets=buckets)


def pass_spec_options(model: Any, common: dict[str, Any]) -> PassOptions:
    """A pass-rate spec's options: the ``common`` values, buckets, pass@k, columns, priors."""
    from bayescale.spec_schema import set_keys

    order_by = model.buckets.order_by
    return PassOptions(
        **common,
        n_buckets=model.buckets.count,
        exclude_hardest=model.buckets.exclude_hardest,
        bucket_by=tuple(order_by) if order_by else None,
        eligibility=model.buckets.eligibility,
        k=model.forecast.k,
        columns=PassColumns(**set_keys(model.data.columns)),
        priors=PassPriors(**set_keys(model.priors)),
    )


def _described(data: PassCounts | PassAggregate, buckets: Buckets | None) -> tuple[str, ...]:
    """A pass table's shape in words, and its bucket labels."""
    if isinstance(data, PassAggregate):
        labels = data.buckets
        return f"aggregate pass rates, {len(labels)} bucket(s): {', '.join(labels)}", *labels
    assert buckets is not None
    sizes = buckets.sizes()
    shape = (
        f"per-problem counts, {len(data.problems)} problems; {sum(sizes)} in "
        f"{plural(len(buckets.labels), 'bucket')} of sizes {', '.join(map(str, sizes))}"
    )
    if len(data.problems) > sum(sizes):
        shape += f", {len(data.problems) - sum(sizes)} set aside"
    return shape, *buckets.labels


def check_pass_spec(
    spec: Any, options: PassOptions, path: Path, rule: Callable[[], AbstractContextManager[None]]
) -> tuple[str, list[str]]:
    """What ``bayescale check`` does for a pass-rate spec before sampling.

    ``run_pass``'s checks, and that ``[buckets]`` is not given for an aggregate table. Returns
    the line that describes the data and the target warnings; an error about the requirement
    is raised inside ``rule()`` (which names the spec's line).
    """
    from bayescale.spec_schema import line_of

    with rule():
        check_pass_options(options)
    data, buckets = load_pass(path, options)
    settings = model_settings(options.sampler, "pass")
    check_memory_before_model(settings, intercepts_drawn(buckets, options.priors.problem_slopes))
    models = data.models
    fitted = int(models.fitted.sum())
    warned = pass_target_warnings(
        data,
        check_targets(options.targets),
        allow_backcast=options.allow_backcast,
        buckets=buckets,
        priors=options.priors,
    )
    aggregate = isinstance(data, PassAggregate)
    if aggregate and "buckets" in spec.model.model_fields_set:
        raise InputError(
            f"{spec.path}, line {line_of(spec.text, ('buckets',))}: [buckets] applies to "
            f"per-problem counts, but {path} holds aggregate pass rates, whose buckets are its "
            f"'{options.columns.bucket}' column. Remove the [buckets] table."
        )
    shape, *labels = _described(data, buckets)
    if options.requirement:
        with rule():
            pass_requirement(options.requirement, tuple(labels), not aggregate or len(labels) == 1)
    described = (
        f"data {path}: {len(models.names)} models ({fitted} fitted, "
        f"{len(models.names) - fitted} held out); {shape}"
    )
    return described, warned


def result_from_pass_fit(fit: PassFit, options: PassOptions, *, warn: bool = True) -> PassResult:
    """Everything a pass-rate forecast reports, computed from a fit without sampling.

    ``warn=False`` keeps the target warnings out of the log (already logged before sampling).
    A fit of another law is refused with an :class:`~bayescale.errors.InputError` naming that
    law's function.

    Returns
    -------
    PassResult
        The fit, the forecast, the decisions and the warnings; frozen.
    """
    require_fit(fit, PassFit, "result_from_pass_fit")
    check_pass_options(options)
    targets = check_targets(options.targets)
    forecast = forecast_pass(
        fit,
        targets,
        options.interval,
        k=options.k,
        allow_backcast=options.allow_backcast,
        warn=warn,
    )
    smallest = float(fit.data.models.compute[fit.data.models.fitted].min())
    decisions, curve, choice = decide_options(
        options, partial(pass_requirement_draws, fit), targets, smallest
    )
    return PassResult(
        fit=fit,
        forecast=forecast,
        parameters=pass_parameter_table(fit, options.interval),
        held_out=score_held_out_models(fit, options.interval),
        decisions=tuple(decisions),
        choice=choice,
        options=options,
        curve=curve,
    )


def run_pass(source: str | Path | pd.DataFrame, options: PassOptions) -> PassResult:
    """Run a pass-rate forecast end to end (either input format).

    Parameters
    ----------
    source
        CSV/Parquet path or DataFrame: per-problem counts or aggregate pass rates.
    options
        Targets, buckets, requirement, priors and sampler settings.

    Returns
    -------
    PassResult
    """
    expect(options, PassOptions, "run_pass takes PassOptions, e.g. bs.PassOptions(targets=(1e23,))")
    check_pass_options(options)
    data, buckets = load_pass(source, options)
    if options.requirement:
        if isinstance(data, PassAggregate):
            pass_requirement(options.requirement, data.buckets, len(data.buckets) == 1)
        else:
            assert buckets is not None
            pass_requirement(options.requirement, buckets.labels)
    # refuse a backcast and warn about the targets before sampling
    targets = check_targets(options.targets)
    logged(
        pass_target_warnings(
            data,
            targets,
            allow_backcast=options.allow_backcast,
            buckets=buckets,
            priors=options.priors,
        )
    )
    if buckets is not None:
        log.info(
            "%d problems in %s (%s); difficulty order agrees between reference models "
            "with mean Spearman %.2f",
            len(buckets.kept),
            plural(len(buckets.labels), "bucket"),
            ", ".join(map(str, buckets.sizes())),
            buckets.mean_rank_correlation(),
        )
    s = options.sampler
    log.info("fitting %d models with %s", int(data.models.fitted.sum()), s.describe())
    fit = fit_pass(data, buckets, options.priors, s, allow_unconverged=options.allow_unconverged)
    log.info("sampled in %.1f s", fit.timing_s["sampling"])
    return result_from_pass_fit(fit, options, warn=False)

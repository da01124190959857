"""What a forecast result of every law holds, and how it shows itself.

A law's result type (``LossResult``, ``PassResult``) is this dataclass with its fit, forecast
and options types as type parameters and its JSON document builder; :func:`decide_options` is
the decision step every law's ``result_from_fit`` shares. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bayescale.decision import (
    ComputeChoice,
    Decision,
    DecisionCurve,
    Requirement,
    best_compute,
    decide_with_curve,
)
from bayescale.display import html_summary, result_summary, text_summary
from bayescale.errors import InputError
from bayescale.targets import Targets, check_targets

#: ``(requirement, *, curve, cache) -> (parsed requirement, compute -> draws)`` of a fit.
RequirementDraws = Callable[..., tuple[Requirement, Callable[[np.ndarray], np.ndarray]]]


@dataclass(frozen=True, repr=False)
class Result[FitT, ForecastT, OptionsT]:
    """A finished forecast: the fit and everything derived from it (any law).

    A law's result type names its fit, forecast and options types (``Result[LossFit,
    LossForecast, LossOptions]``) and sets :attr:`document_builder`.
    """

    fit: FitT
    forecast: ForecastT
    parameters: pd.DataFrame
    held_out: pd.DataFrame
    decisions: tuple[Decision, ...]
    choice: ComputeChoice | None = None
    options: OptionsT | None = None
    curve: DecisionCurve | None = None

    #: ``(result, version) -> dict``: the law's JSON document (docs/formats.md).
    document_builder: ClassVar[staticmethod[[Any, str], dict[str, Any]]]

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings about the targets and the data, and about a fit from a file without digests.

        The document's ``warnings[]`` and the report's.
        """
        from bayescale.saved_format import unverified_warnings

        return tuple(self.forecast.warnings) + unverified_warnings(self.fit)  # type: ignore[attr-defined]

    def document(self) -> dict[str, Any]:
        """The result document (docs/formats.md), built by the law's :attr:`document_builder`."""
        from bayescale.version import __version__

        return type(self).document_builder(self, __version__)

    def __repr__(self) -> str:
        return text_summary(*result_summary(self, type(self).__name__))

    def _repr_html_(self) -> str:
        return html_summary(*result_summary(self, type(self).__name__))


def _requirement_pair(
    requirement_draws: RequirementDraws, requirement: str
) -> tuple[Requirement, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The parsed requirement, its new-run draws and its curve draws (sharing their draws)."""
    shared: dict[str, Any] = {}
    req, draws_at = requirement_draws(requirement, cache=shared)
    _, curve_at = requirement_draws(requirement, curve=True, cache=shared)
    return req, draws_at, curve_at


def decide_requirement(
    requirement_draws: RequirementDraws,
    requirement: str,
    targets: Targets,
    confidence: float,
    smallest: float,
) -> list[Decision]:
    """Decide ``requirement`` at each target from a fit's ``requirement_draws`` (any law).

    ``smallest`` is the smallest fitted compute (where the search for the compute needed
    starts); the law's ``decide_*`` function gives it and its requirement draws.
    """
    req, draws_at, curve_at = _requirement_pair(requirement_draws, requirement)
    return decide_with_curve(
        req, draws_at, check_targets(targets), confidence, smallest, curve_at=curve_at
    )[0]


def decide_options(
    options: Any, requirement_draws: RequirementDraws, targets: np.ndarray, smallest: float
) -> tuple[list[Decision], DecisionCurve | None, ComputeChoice | None]:
    """Decisions at ``targets``, the probability curve and the best compute of ``options``.

    ``requirement_draws`` gives a fit's draws of the requirement's quantity (new run, or the
    curve with ``curve=True``; calls with the same ``cache`` share draws); ``smallest`` is the
    smallest fitted compute (where the search for the compute needed starts).
    """
    if not options.requirement:
        return [], None, None
    req, draws_at, curve_at = _requirement_pair(requirement_draws, options.requirement)
    decisions, curve = decide_with_curve(
        req, draws_at, targets, options.confidence, smallest, curve_at=curve_at
    )
    choice = None
    if options.value is not None and options.cost_per_flop is not None:
        choice = best_compute(curve.grid, curve.probability, options.value, options.cost_per_flop)
    return decisions, curve, choice


def decide_planned_runs(
    options: Any,
    n: np.ndarray,
    d: np.ndarray,
    flops_per_param_token: float,
    requirement_draws_at: Callable[[float], RequirementDraws],
    smallest: float,
) -> tuple[list[Decision], DecisionCurve | None]:
    """Decisions at planned runs of ``n`` parameters on ``d`` tokens, in their order (any law).

    The compute needed is searched along each run's tokens per parameter (N and D scaled
    together): ``requirement_draws_at(ratio)`` gives the fit's requirement draws along that
    path, one search per distinct ratio. The probability curve (``decision.png``) is kept only
    when every run has the same ratio: runs of several ratios lie on several curves.
    """
    ratios = d / n
    keys = [f"{r:.12g}" for r in ratios]
    decisions: dict[int, Decision] = {}
    curves: list[DecisionCurve | None] = []
    for key in dict.fromkeys(keys):
        idx = [i for i, k in enumerate(keys) if k == key]
        made, curve, _ = decide_options(
            options,
            requirement_draws_at(float(ratios[idx[0]])),
            flops_per_param_token * n[idx] * d[idx],
            smallest,
        )
        decisions |= {
            i: replace(dec, planned=(float(n[i]), float(d[i])))
            for i, dec in zip(idx, made, strict=True)
        }
        curves.append(curve)
    return [decisions[i] for i in range(n.size)], curves[0] if len(curves) == 1 else None


def require_fit(fit: Any, fit_type: type, function: str) -> None:
    """Raise an :class:`InputError` unless ``fit`` is a ``fit_type``.

    ``function`` is the caller's name; the message names the function that answers ``fit``'s
    law, which each fit type records as ``answered_by`` (the registry is not imported here:
    the laws' modules call this, and the registry imports them).
    """
    if isinstance(fit, fit_type):
        return
    got = type(fit).__name__
    right = getattr(type(fit), "answered_by", None)
    if not right:
        raise InputError(f"{function} takes a {fit_type.__name__}, got {got}.")
    raise InputError(
        f"{function} takes a {fit_type.__name__}, got {got}, a fit of another law: call "
        f"{right}(fit, ...) instead, or .result() on a fit read by bayescale.load_fit, which "
        "finds the law itself."
    )

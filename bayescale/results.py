"""What a forecast result of every law holds, and how it shows itself.

A law's result type (``LossResult``, ``PassResult``) is this dataclass with its fit, forecast
and options types and its JSON document; :func:`decide_options` is the decision step every
law's ``result_from_fit`` shares. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

#: ``(requirement, *, curve, cache) -> (parsed requirement, compute -> draws)`` of a fit.
RequirementDraws = Callable[..., tuple[Requirement, Callable[[np.ndarray], np.ndarray]]]


@dataclass(frozen=True, repr=False)
class Result:
    """A finished forecast: the fit and everything derived from it (any law)."""

    fit: Any
    forecast: Any
    parameters: pd.DataFrame
    held_out: pd.DataFrame
    decisions: tuple[Decision, ...]
    choice: ComputeChoice | None = None
    options: Any = None
    curve: DecisionCurve | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings about the targets (the document's ``warnings[]``)."""
        return tuple(self.forecast.warnings)

    def document(self) -> dict[str, object]:
        """The result document (docs/formats.md); each law's result type gives its own."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return text_summary(*result_summary(self, type(self).__name__))

    def _repr_html_(self) -> str:
        return html_summary(*result_summary(self, type(self).__name__))


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
    shared: dict[str, Any] = {}
    req, draws_at = requirement_draws(options.requirement, cache=shared)
    _, curve_at = requirement_draws(options.requirement, curve=True, cache=shared)
    decisions, curve = decide_with_curve(
        req, draws_at, targets, options.confidence, smallest, curve_at=curve_at
    )
    choice = None
    if options.value is not None and options.cost_per_flop is not None:
        choice = best_compute(curve.grid, curve.probability, options.value, options.cost_per_flop)
    return decisions, curve, choice

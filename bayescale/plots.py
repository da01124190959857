"""Plots of any law's result: :func:`plot_forecast` and :func:`plot_decision`.

Each takes a result (or a fit) and returns a :class:`matplotlib.figure.Figure`. The laws'
figures are drawn in their own modules (:mod:`bayescale.loss_plots`,
:mod:`bayescale.pass_plots`, :mod:`bayescale.nd_plots`; the accuracy law's in
:mod:`bayescale.accuracy`) from the pieces of :mod:`bayescale.drawing`. Figures are made
without pyplot, so nothing here selects a backend or keeps figures open: a notebook shows the
returned figure once, and scripts save it with ``fig.savefig``.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from bayescale.drawing import (
    decision_figure,
    fit_of,
    interval_of,
    targets_of,
)
from bayescale.errors import InputError
from bayescale.nd_plots import nd_figure as nd_figure
from bayescale.registry import Law, law_of


def plot_forecast(result: Any, targets: Any = None, interval: float | None = None) -> Figure:
    """The forecast of a result (or of a loss or pass-rate fit, with ``targets``) as a Figure.

    The figure is the law's ``forecast_figure`` (:class:`bayescale.registry.Law`). Loss: one
    panel per group (:func:`bayescale.loss_plots.loss_figure`). Pass rate: the overall mean
    pass@1, or the per-bucket panels of :func:`bayescale.pass_plots.plot_buckets` when the
    buckets are different benchmarks (:func:`bayescale.pass_plots.pass_forecast_figure`).
    Another law's result (L(N, D), accuracy) is refused, naming the functions that draw it
    (its entry's ``figure_calls``).

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, attached to no pyplot state: show it in Jupyter or ``fig.savefig(...)``.
    """
    fit = fit_of(result)
    law = _law_of_fit(fit)
    if law is None or law.forecast_figure is None:
        return _law_figure(result, fit, law)
    return law.forecast_figure(fit, targets_of(result, targets), interval_of(result, interval))


def _law_of_fit(fit: Any) -> Law | None:
    """The registered law whose fit ``fit`` is; ``None`` for anything else."""
    try:
        law = law_of(fit)
    except TypeError:
        return None
    return law if isinstance(fit, law.fit_type) else None


def _law_figure(result: Any, fit: Any, law: Law | None) -> Figure:
    """Refuse a result or fit without a forecast figure, naming what draws it when known."""
    if law is None or not law.figure_calls:
        raise InputError(
            f"plot_forecast draws a result of a bayescale law, or a loss or pass-rate fit; got "
            f"{type(result).__name__}."
        )
    raise InputError(
        f"plot_forecast draws loss and pass-rate forecasts; got a {type(fit).__name__}. Its "
        f"figures: {law.figure_calls}, or all of them in a folder with "
        "bayescale.result_files.write_outputs(result, DIR)."
    )


def plot_decision(result: Any) -> Figure:
    """The probability that a new run meets the result's requirement, against compute.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, attached to no pyplot state.
    """
    if not getattr(result, "decisions", None) or result.curve is None:
        raise InputError(
            "the result has no decision: run it with requirement='loss<=2.1' (or a pass-rate "
            "rule) to plot one."
        )
    return decision_figure(result.curve, list(result.decisions), result.choice)

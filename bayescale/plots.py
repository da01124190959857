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
    _fit_of,
    _interval_of,
    _targets_of,
    decision_figure,
)
from bayescale.errors import InputError
from bayescale.loss_fit import LossFit
from bayescale.loss_plots import loss_figure
from bayescale.nd_plots import nd_figure as nd_figure
from bayescale.pass_fit import PassFit
from bayescale.pass_plots import pass_figure, pass_rate_figure


def plot_forecast(result: Any, targets: Any = None, interval: float | None = None) -> Figure:
    """The forecast of a result (or of a loss or pass-rate fit, with ``targets``) as a Figure.

    Loss: one panel per group (:func:`loss_figure`). Pass rate: the overall mean pass@1
    (:func:`pass_rate_figure`), or the per-bucket panels of :func:`plot_buckets` when the
    buckets are different benchmarks. Another law's result (L(N, D), accuracy) is refused,
    naming the functions that draw it.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, attached to no pyplot state: show it in Jupyter or ``fig.savefig(...)``.
    """
    fit = _fit_of(result)
    if not isinstance(fit, (LossFit, PassFit)):
        return _law_figure(result, fit)
    t, p = _targets_of(result, targets), _interval_of(result, interval)
    if isinstance(fit, LossFit):
        return loss_figure(fit, t, p)
    from bayescale.pass_forecast import pooled_description

    if pooled_description(fit) is None:
        return pass_figure(fit, t, p)
    return pass_rate_figure(fit, t, p)


def _law_figure(result: Any, fit: Any) -> Figure:
    """Refuse another law's result or fit, naming what draws it.

    The registry's figure lists are not reached from here: the registry imports this module.
    """
    name = type(fit).__name__
    if name not in ("NDFit", "AccuracyFit"):
        raise InputError(
            f"plot_forecast draws a result of a bayescale law, or a loss or pass-rate fit; got "
            f"{type(result).__name__}."
        )
    draws = (
        "bayescale.plots.nd_figure(fit, budgets)"
        if name == "NDFit"
        else "bayescale.accuracy.accuracy_figures(result)"
    )
    raise InputError(
        f"plot_forecast draws loss and pass-rate forecasts; got a {name}. Its figures: {draws}, "
        "or all of them in a folder with bayescale.result_files.write_outputs(result, DIR)."
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

"""The loss law's figures, in the style of the GPT-4 technical report's Figure 1.

Log-compute x-axis; observed runs as dots, held-out runs as open circles; the posterior median
of a new run's loss with 50% and 90% predictive bands running out past the target; the target
marked with its predictive interval. One panel per group (:func:`loss_figure`), and the
posterior predictive check (:func:`ppc_figure`, :func:`plot_ppc`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from bayescale.display import percent
from bayescale.drawing import (
    dodge,
    draw_bands,
    draw_observed,
    draw_target,
    fit_of,
    interval_of,
    new_figure,
)
from bayescale.errors import InputError
from bayescale.forecast import loss_draws, run_quantiles
from bayescale.loss_fit import LossFit
from bayescale.ticks import power_ticks

if TYPE_CHECKING:
    from matplotlib.axes import Axes


#: Decades between the smallest run and the largest target above which the loss forecast gets
#: an inset zoomed on the largest fitted run, the held-out runs and the target.
ZOOM_DECADES = 4.0


def plot_ppc(result: Any, interval: float | None = None) -> Figure:
    """Posterior predictive check of a loss result or fit (:func:`ppc_figure`).

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, attached to no pyplot state.
    """
    fit = fit_of(result)
    if not isinstance(fit, LossFit):
        raise InputError(
            f"plot_ppc checks loss fits, got {type(fit).__name__}; for a pass-rate fit, "
            "plot_buckets shows every model's observed rates against the forecast bands."
        )
    return ppc_figure(fit, interval_of(result, interval))


def loss_figure(fit: LossFit, targets: np.ndarray, interval: float = 0.9) -> Figure:
    """Draw the loss forecast: one panel per group.

    Parameters
    ----------
    fit
        A loss fit.
    targets
        Target computes (FLOPs) to mark.
    interval
        Probability of the outer band (the inner band is always 50%).

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = fit.data
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    lo = data.compute.min() / 2
    hi = max(targets.max(), data.compute.max()) * 3
    grid = np.logspace(np.log10(lo), np.log10(hi), 160)
    draws = loss_draws(fit, grid)["loss"].values
    at_target = loss_draws(fit, targets)["loss"].values
    zoom = np.log10(hi / lo) > ZOOM_DECADES
    n = len(data.groups)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = new_figure(rows, cols, (5.2 * cols, 4.2 * rows))
    for gi, group in enumerate(data.groups):
        ax = axes[gi // cols][gi % cols]
        in_group = data.group == group
        panels = [ax]
        if zoom:
            panels.append(ax.inset_axes((0.47, 0.5, 0.5, 0.46)))
        for k, panel in enumerate(panels):
            draw_bands(panel, grid, draws[:, gi, :], interval, legend=k == 0)
            draw_target(panel, targets, at_target[:, gi, :], interval, legend=k == 0)
            draw_observed(
                panel,
                data.compute,
                data.loss,
                in_group & data.held_out,
                in_group & data.fitted,
                "runs",
                legend=k == 0,
            )
            for t in targets:
                panel.axvline(t, color="C1", ls=":", lw=1, zorder=1)
            panel.set_xscale("log")
            power_ticks(panel.xaxis)
            panel.grid(alpha=0.3, lw=0.5)
        if zoom:
            _zoom(panels[1], grid, draws[:, gi, :], interval, data, in_group, targets)
            ax.indicate_inset_zoom(panels[1], edgecolor="0.5")
        ax.set_title(str(group))
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("final loss")
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Predicted final loss of a new run")
    fig.tight_layout()
    return fig


def _zoom(
    ax: Axes,
    grid: np.ndarray,
    draws: np.ndarray,
    interval: float,
    data: Any,
    in_group: np.ndarray,
    targets: np.ndarray,
) -> None:
    """Limit an inset to the largest fitted run, the held-out runs and the targets."""
    fitted = data.compute[in_group & data.fitted]
    x0 = fitted.max() / 3
    x1 = max(targets.max(), data.compute[in_group].max()) * 2
    sel = (grid >= x0) & (grid <= x1)
    tail = (1 - interval) / 2
    q = np.quantile(draws[:, sel], [tail, 1 - tail], axis=0)
    shown = in_group & (data.compute >= x0) & (data.compute <= x1)
    y0 = min(q[0].min(), data.loss[shown].min(initial=np.inf))
    y1 = max(q[1].max(), data.loss[shown].max(initial=-np.inf))
    pad = 0.06 * (y1 - y0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.tick_params(labelsize=6)
    ax.set_title("zoom: largest fitted run to target", fontsize=7)


def ppc_figure(fit: LossFit, interval: float = 0.9) -> Figure:
    """Posterior predictive check: each run's observed loss against its predictive interval.

    Plotted as the relative deviation from the predictive median, so runs of all groups and
    sizes share one axis; held-out runs are open circles.
    """
    data = fit.data
    stats = run_quantiles(fit, np.arange(data.compute.size), interval)
    lo, med, hi = stats["lower"], stats["median"], stats["upper"]
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    offsets = dodge(data.compute, len(data.groups))
    for gi, group in enumerate(data.groups):
        sel = data.group_index == gi
        x = data.compute[sel] * offsets[gi]
        ax.errorbar(
            x,
            np.zeros(sel.sum()),
            yerr=[(med - lo)[sel] / med[sel], (hi - med)[sel] / med[sel]],
            fmt="none",
            ecolor=f"C{gi % 10}",
            alpha=0.35,
            lw=3,
        )
        rel = data.loss[sel] / med[sel] - 1
        held = data.held_out[sel]
        ax.scatter(x[~held], rel[~held], s=14, color=f"C{gi % 10}", label=str(group), zorder=3)
        if held.any():
            ax.scatter(
                x[held], rel[held], s=30, facecolors="none", edgecolors=f"C{gi % 10}", zorder=3
            )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    power_ticks(ax.xaxis)
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("observed / predictive median - 1")
    ax.set_title(f"Posterior predictive check ({percent(interval)} intervals)")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

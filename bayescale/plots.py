"""Plots in the style of the GPT-4 technical report's Figure 1.

Log-compute x-axis; observed runs as dots, held-out runs as open circles; the posterior median
of a new run's loss with 50% and 90% predictive bands running out past the target; the target
marked with its predictive interval. One panel per group. Uses matplotlib's Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bayescale.forecast import loss_draws

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayescale.fit import LossFit


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
    grid = np.logspace(np.log10(lo), np.log10(hi), 120)
    draws = loss_draws(fit, grid)["loss"].values
    at_target = loss_draws(fit, targets)["loss"].values
    n = len(data.groups)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.8 * rows), squeeze=False)
    tail = (1 - interval) / 2
    for gi, group in enumerate(data.groups):
        ax = axes[gi // cols][gi % cols]
        q = np.quantile(draws[:, gi, :], [tail, 0.25, 0.5, 0.75, 1 - tail], axis=0)
        ax.fill_between(grid, q[0], q[4], color="C0", alpha=0.18, lw=0, label=f"{interval:.0%}")
        ax.fill_between(grid, q[1], q[3], color="C0", alpha=0.35, lw=0, label="50%")
        ax.plot(grid, q[2], color="C0", lw=1.5, label="median")
        in_group = data.group == group
        fitted = in_group & data.fitted
        held = in_group & data.held_out
        ax.scatter(
            data.compute[fitted],
            data.loss[fitted],
            s=14,
            color="k",
            zorder=3,
            label="fitted runs",
        )
        if held.any():
            ax.scatter(
                data.compute[held],
                data.loss[held],
                s=30,
                facecolors="none",
                edgecolors="C3",
                zorder=3,
                label="held-out runs",
            )
        tq = np.quantile(at_target[:, gi, :], [tail, 0.5, 1 - tail], axis=0)
        ax.errorbar(
            targets,
            tq[1],
            yerr=[tq[1] - tq[0], tq[2] - tq[1]],
            fmt="D",
            color="C1",
            ms=5,
            capsize=3,
            zorder=4,
            label="target",
        )
        for t in targets:
            ax.axvline(t, color="C1", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_title(str(group))
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("final loss")
        ax.grid(alpha=0.3, lw=0.5)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle("Predicted final loss of a new run")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG and close it."""
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path

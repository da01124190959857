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
from bayescale.pass_forecast import observed_statistics, pass_draws, reported_buckets

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from bayescale.decision import ComputeChoice, Decision, DecisionCurve
    from bayescale.fit import LossFit, PassFit


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
    for gi, group in enumerate(data.groups):
        ax = axes[gi // cols][gi % cols]
        _bands(ax, grid, draws[:, gi, :], interval)
        in_group = data.group == group
        _observed(
            ax, data.compute, data.loss, in_group & data.held_out, in_group & data.fitted, "runs"
        )
        _target(ax, targets, at_target[:, gi, :], interval)
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
    """Write a figure as PNG (atomically: temporary file, then rename) and close it."""
    from bayescale.outputs import atomic_file

    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=130, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def decision_figure(
    curve: DecisionCurve,
    decisions: list[Decision],
    choice: ComputeChoice | None = None,
) -> Figure:
    """Probability that the requirement holds for a new run, as a function of compute.

    The confidence line, the target(s), and the compute needed at that confidence are marked;
    with a value and a cost, the compute of maximal expected net value too.
    """
    grid, probability = curve.grid, curve.probability
    first = decisions[0]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(grid, probability, color="C0", lw=1.8, label="P(requirement met)")
    ax.axhline(first.confidence, color="k", ls="--", lw=1, label=f"confidence {first.confidence:g}")
    for d in decisions:
        ax.axvline(d.target_compute, color="C1", ls=":", lw=1)
        ax.plot(
            [d.target_compute],
            [d.probability],
            "D",
            color="C1",
            ms=6,
            label=f"target {d.target_compute:.2g}: {d.probability:.1%}",
        )
    need = first.compute_needed_at_confidence
    if need is not None:
        ax.axvline(need, color="C2", lw=1.2, label=f"needed {need:.2g}")
    if choice is not None:
        ax.axvline(
            choice.compute,
            color="C3",
            lw=1.2,
            ls="-.",
            label=f"best expected value {choice.compute:.2g}",
        )
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("probability")
    ax.set_title(f"Chance a new run meets {first.requirement.text}")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def ppc_figure(fit: LossFit, interval: float = 0.9) -> Figure:
    """Posterior predictive check: each run's observed loss against its predictive interval.

    Plotted as the relative deviation from the predictive median, so runs of all groups and
    sizes share one axis; held-out runs are open circles.
    """
    data = fit.data
    draws = loss_draws(fit, data.compute)["loss"].values
    pick = draws[:, data.group_index, np.arange(data.compute.size)]
    tail = (1 - interval) / 2
    lo, med, hi = np.quantile(pick, [tail, 0.5, 1 - tail], axis=0)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for gi, group in enumerate(data.groups):
        sel = data.group_index == gi
        x = data.compute[sel]
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
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("observed / predictive median - 1")
    ax.set_title(f"Posterior predictive check ({interval:.0%} intervals)")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _bands(ax: Axes, grid: np.ndarray, draws: np.ndarray, interval: float) -> None:
    """Median line with 50% and ``interval`` bands of ``draws`` (sample x grid)."""
    tail = (1 - interval) / 2
    q = np.quantile(draws, [tail, 0.25, 0.5, 0.75, 1 - tail], axis=0)
    ax.fill_between(grid, q[0], q[4], color="C0", alpha=0.18, lw=0, label=f"{interval:.0%}")
    ax.fill_between(grid, q[1], q[3], color="C0", alpha=0.35, lw=0, label="50%")
    ax.plot(grid, q[2], color="C0", lw=1.5, label="median")


def _target(ax: Axes, targets: np.ndarray, draws: np.ndarray, interval: float) -> None:
    """Mark the targets with the median and central interval of ``draws`` (sample x target)."""
    tail = (1 - interval) / 2
    lo, mid, hi = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
    ax.errorbar(
        targets,
        mid,
        yerr=[mid - lo, hi - mid],
        fmt="D",
        color="C1",
        ms=5,
        capsize=3,
        zorder=4,
        label="target",
    )


def _observed(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    held: np.ndarray,
    fitted: np.ndarray,
    what: str,
    marker: str = "o",
) -> None:
    """Fitted points filled black, held-out points open red."""
    if fitted.any():
        ax.scatter(
            x[fitted], y[fitted], s=16, color="k", marker=marker, zorder=3, label=f"fitted {what}"
        )
    if held.any():
        ax.scatter(
            x[held],
            y[held],
            s=34,
            facecolors="none",
            edgecolors="C3",
            marker=marker,
            zorder=3,
            label=f"held-out {what}",
        )


def _pass_grid(fit: PassFit, targets: np.ndarray) -> np.ndarray:
    compute = fit.data.models.compute
    lo = compute.min() / 2
    hi = max(targets.max(), compute.max()) * 3
    return np.logspace(np.log10(lo), np.log10(hi), 60)


def pass_figure(fit: PassFit, targets: np.ndarray, interval: float = 0.9) -> Figure:
    """Figure-2-style panels: mean -ln(pass rate) of each bucket against compute.

    Log-log axes; observed models as dots (held out: open circles); the median of a new model
    with 50% and ``interval`` bands; the targets marked with their predictive interval.
    """
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    grid = _pass_grid(fit, targets)
    draws = pass_draws(fit, grid)["mean_neg_log_pass"].values
    at_target = pass_draws(fit, targets)["mean_neg_log_pass"].values
    observed = observed_statistics(fit)
    labels = reported_buckets(fit)
    n = len(labels)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.5 * rows), squeeze=False)
    held = observed["held_out"].to_numpy(dtype=bool)
    for b, label in enumerate(labels):
        ax = axes[b // cols][b % cols]
        _bands(ax, grid, draws[:, b, :], interval)
        y = observed[f"neg_log_pass[{label}]"].to_numpy(dtype=float)
        x = observed["compute"].to_numpy(dtype=float)
        # a bucket with never-solved problems has an observed mean -ln p̂ floored by the
        # sample size: drawn as triangles, a rough lower bound rather than a measurement
        floored = (
            observed[f"unsolved[{label}]"].to_numpy() > 0
            if f"unsolved[{label}]" in observed
            else np.zeros(len(x), bool)
        )
        _observed(ax, x, y, held & ~floored, ~held & ~floored, "models")
        _observed(ax, x, y, held & floored, ~held & floored, "models (has unsolved)", "^")
        _target(ax, targets, at_target[:, b, :], interval)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"bucket {label}")
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("mean -ln(pass rate)")
        ax.grid(alpha=0.3, lw=0.5)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    axes[0][0].legend(fontsize=6)
    fig.suptitle("Capability forecast per difficulty bucket (new model)")
    fig.text(
        0.01,
        0.005,
        "▲: the bucket has problems the model never solved; the observed mean "
        "-ln p̂ = -ln((k+½)/(n+1)) is then floored by the sample size, not measured.",
        fontsize=7,
    )
    fig.tight_layout()
    return fig


def pass_rate_figure(fit: PassFit, targets: np.ndarray, interval: float = 0.9) -> Figure:
    """Mean pass@1 over all problems against compute, with predictive bands."""
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    grid = _pass_grid(fit, targets)
    draws = pass_draws(fit, grid)["pass_rate"].values
    observed = observed_statistics(fit)
    held = observed["held_out"].to_numpy(dtype=bool)
    x = observed["compute"].to_numpy(dtype=float)
    y = observed["pass_rate"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    _bands(ax, grid, draws, interval)
    _observed(ax, x, y, held, ~held, "models")
    for t in targets:
        ax.axvline(t, color="C1", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("mean pass@1")
    ax.set_title("Mean pass@1 of a new model")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

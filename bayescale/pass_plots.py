"""The pass-rate law's figures: per-bucket panels in the style of the GPT-4 report's Figure 2.

Mean -ln(pass rate) of each difficulty bucket against compute (:func:`pass_figure`,
:func:`plot_buckets`) and the overall mean pass@1 (:func:`pass_rate_figure`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bayescale.drawing import (
    draw_bands,
    draw_observed,
    draw_target,
    fit_of,
    interval_of,
    new_figure,
    targets_of,
)
from bayescale.errors import InputError
from bayescale.pass_fit import PassFit
from bayescale.pass_forecast import observed_statistics, pass_draws, reported_buckets
from bayescale.ticks import plain_ticks, power_ticks


def plot_buckets(result: Any, targets: Any = None, interval: float | None = None) -> Figure:
    """Figure-2-style panels of a pass-rate result or fit: -ln(pass rate) per bucket.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, attached to no pyplot state.
    """
    fit = fit_of(result)
    if not isinstance(fit, PassFit):
        raise InputError("plot_buckets draws pass-rate fits; for a loss fit use plot_forecast.")
    return pass_figure(fit, targets_of(result, targets), interval_of(result, interval))


def pass_forecast_figure(fit: PassFit, targets: np.ndarray, interval: float = 0.9) -> Figure:
    """:func:`bayescale.plots.plot_forecast`'s figure of a pass-rate fit.

    The overall mean pass@1 (:func:`pass_rate_figure`), or the per-bucket panels
    (:func:`pass_figure`) when the buckets are different benchmarks and no overall rate is
    reported (:func:`bayescale.pass_forecast.pooled_description`).
    """
    from bayescale.pass_forecast import pooled_description

    if pooled_description(fit) is None:
        return pass_figure(fit, targets, interval)
    return pass_rate_figure(fit, targets, interval)


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
    fig, axes = new_figure(rows, cols, (4.4 * cols, 3.5 * rows))
    held = observed["held_out"].to_numpy(dtype=bool)
    for b, label in enumerate(labels):
        ax = axes[b // cols][b % cols]
        draw_bands(ax, grid, draws[:, b, :], interval)
        y = observed[f"neg_log_pass[{label}]"].to_numpy(dtype=float)
        x = observed["compute"].to_numpy(dtype=float)
        # a bucket with never-solved problems has an observed mean -ln p̂ floored by the
        # sample size: drawn as triangles, a rough lower bound rather than a measurement
        floored = (
            observed[f"unsolved[{label}]"].to_numpy() > 0
            if f"unsolved[{label}]" in observed
            else np.zeros(len(x), bool)
        )
        draw_observed(ax, x, y, held & ~floored, ~held & ~floored, "models")
        draw_observed(ax, x, y, held & floored, ~held & floored, "models (has unsolved)", "^")
        draw_target(ax, targets, at_target[:, b, :], interval)
        ax.set_xscale("log")
        ax.set_yscale("log")
        power_ticks(ax.xaxis)
        plain_ticks(ax.yaxis)
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
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    draw_bands(ax, grid, draws, interval)
    draw_observed(ax, x, y, held, ~held, "models")
    for t in targets:
        ax.axvline(t, color="C1", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    power_ticks(ax.xaxis)
    plain_ticks(ax.yaxis)
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("mean pass@1")
    ax.set_title("Mean pass@1 of a new model")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

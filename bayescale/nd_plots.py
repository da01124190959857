"""The L(N, D) law's figures: iso-loss contours in (N, D) and the planned runs' paths.

:func:`nd_figure` (contours, runs and the optimal-allocation line and band) and
:func:`nd_path_figure` (loss along each planned run's tokens per parameter, :func:`nd_paths`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from bayescale.display import percent
from bayescale.drawing import (
    draw_observed,
    draw_target,
    new_figure,
)
from bayescale.ticks import power_ticks

if TYPE_CHECKING:
    from bayescale.nd import NDFit


#: Planned paths drawn by :func:`nd_path_figure` at most (one per distinct target D/N), and
#: their colours (C1 is the targets').
ND_MAX_PATHS = 4
ND_PATH_COLOURS = ("C0", "C2", "C4", "C9")


def nd_paths(fit: NDFit, targets: tuple[Any, Any] | None = None) -> list[float]:
    """The tokens-per-parameter ratios D/N of the paths :func:`nd_path_figure` draws.

    One per distinct ratio of the targets (ratios within 5% are one path; at most
    :data:`ND_MAX_PATHS`), else the geometric mean D/N of the fitted runs (the ladder's own
    path).
    """
    data = fit.data
    if targets is not None and np.size(targets[0]):
        ratios = np.asarray(targets[1], float) / np.asarray(targets[0], float)
        paths: list[float] = []
        for r in ratios.tolist():
            if all(abs(np.log(r / p)) > np.log(1.05) for p in paths):
                paths.append(float(r))
        return paths[:ND_MAX_PATHS]
    fitted = data.fitted
    return [float(np.exp(np.mean(np.log(data.tokens[fitted] / data.params[fitted]))))]


def nd_path_figure(
    fit: NDFit,
    targets: tuple[Any, Any] | None = None,
    budgets: Any = (),
    interval: float = 0.9,
) -> Figure:
    """Figure 1 of the GPT-4 report for L(N, D): loss against compute along planned paths.

    A planned path keeps the tokens per parameter fixed, ``D = r·N`` with ``κ·N·D = C``
    (:func:`nd_paths`: the targets' ratios, else the fitted runs'). Each path is drawn from
    half the smallest run's compute to three times the largest target or budget: the median
    of a new run's loss with its central ``interval`` band (law discrepancy beyond the data
    and run-to-run scatter included); the runs as dots (held-out runs open); each target
    marked with its median and interval. One panel per group. The runs are shown at their
    own tokens per parameter, which a path of another ratio does not pass through.
    """
    from bayescale.nd import nd_draws

    data = fit.data
    draws = nd_draws(fit)
    kappa = draws.kappa
    paths = nd_paths(fit, targets)
    t_n = np.asarray(targets[0], float) if targets is not None else np.array([])
    t_d = np.asarray(targets[1], float) if targets is not None else np.array([])
    t_c = kappa * t_n * t_d
    lo = float(data.compute.min()) / 2
    hi = float(max([data.compute.max(), *t_c.tolist(), *np.atleast_1d(budgets).tolist()])) * 3
    grid = np.geomspace(lo, hi, 120)
    n = len(data.groups)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = new_figure(rows, cols, (5.2 * cols, 4.2 * rows))
    tail = (1 - interval) / 2
    curves = []
    for ratio in paths:
        ln_n = 0.5 * np.log(grid / (kappa * ratio))
        curves.append(draws.new_run(ln_n, ln_n + np.log(ratio)))
    at_target = draws.new_run(np.log(t_n), np.log(t_d)) if t_n.size else None
    for gi, group in enumerate(data.groups):
        ax = axes[gi // cols][gi % cols]
        for k, (ratio, curve) in enumerate(zip(paths, curves, strict=True)):
            q = np.quantile(curve[:, gi, :], [tail, 0.5, 1 - tail], axis=0)
            colour = ND_PATH_COLOURS[k]
            ax.fill_between(grid, q[0], q[2], color=colour, alpha=0.18, lw=0)
            ax.plot(grid, q[1], color=colour, lw=1.5, label=f"D/N = {ratio:.3g}: median")
        if len(paths):
            ax.fill_between([], [], [], color="0.5", alpha=0.25, label=f"{percent(interval)} band")
        if at_target is not None:
            draw_target(ax, t_c, at_target[:, gi, :], interval)
        own = data.group == group
        what = "runs (own D/N)"
        draw_observed(ax, data.compute, data.loss, own & data.held_out, own & data.fitted, what)
        ax.set_xscale("log")
        power_ticks(ax.xaxis)
        ax.grid(alpha=0.3, lw=0.5)
        ax.set_title(str(group))
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("final loss")
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle("Predicted final loss of a new run along the planned path")
    fig.tight_layout()
    return fig


def nd_figure(
    fit: NDFit,
    budgets: Any = (),
    targets: tuple[Any, Any] | None = None,
    interval: float = 0.9,
    group: int = 0,
) -> Figure:
    """Iso-loss contours in (N, D) with the runs and the optimal-allocation line and band.

    Contours are the posterior median law of ``group``; the line is the median ``N*(C)``
    over a range of budgets (the fitted runs' to the largest of ``budgets``), the band its
    central ``interval``; targets are marked with crosses.
    """
    from bayescale.nd import NDDraws, nd_draws, optimal_draws

    data = fit.data
    draws = nd_draws(fit)
    n_all, d_all = data.params, data.tokens
    extra_n = [np.asarray(targets[0], float)] if targets is not None else []
    extra_d = [np.asarray(targets[1], float)] if targets is not None else []
    budgets = np.atleast_1d(np.asarray(budgets, dtype=float))
    c_lo = float(data.compute.min())
    c_hi = float(max([data.compute.max(), *budgets.tolist()]))
    line_budgets = np.geomspace(c_lo, c_hi, 24)
    opt = optimal_draws(draws, line_budgets)
    n_band = np.quantile(
        opt["params"].values[:, group, :], [(1 - interval) / 2, 0.5, (1 + interval) / 2], axis=0
    )
    d_mid = line_budgets / draws.kappa / n_band[1]
    n_lo = np.min(np.concatenate([n_all, *extra_n, n_band[0]])) / 2
    n_hi = np.max(np.concatenate([n_all, *extra_n, n_band[2]])) * 2
    d_lo = np.min(np.concatenate([d_all, *extra_d, d_mid])) / 2
    d_hi = np.max(np.concatenate([d_all, *extra_d, d_mid])) * 2
    gn, gd = np.meshgrid(np.geomspace(n_lo, n_hi, 120), np.geomspace(d_lo, d_hi, 120))
    sub = NDDraws(
        **{
            **draws.__dict__,
            "level": draws.level[::10],
            "reducible": draws.reducible[::10],
            "share": draws.share[::10],
            "alpha": draws.alpha[::10],
            "beta": draws.beta[::10],
            "sigma": draws.sigma[::10],
            "eps": draws.eps[::10],
            "stretch_n": np.zeros_like(draws.stretch_n[::10]),
            "stretch_d": np.zeros_like(draws.stretch_d[::10]),
            "shift_n": None,
            "shift_d": None,
        }
    )
    surface = np.median(sub.curve(np.log(gn).ravel(), np.log(gd).ravel())[:, group, :], axis=0)
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    cs = ax.contour(gn, gd, surface.reshape(gn.shape), levels=12, cmap="viridis", linewidths=0.8)
    ax.clabel(cs, fontsize=7, fmt="%.2f")
    own = data.group_index == group
    ax.scatter(n_all[own & data.fitted], d_all[own & data.fitted], s=14, c="k", label="fitted runs")
    if (own & data.held_out).any():
        ax.scatter(
            n_all[own & data.held_out],
            d_all[own & data.held_out],
            s=18,
            facecolors="none",
            edgecolors="k",
            label="held-out runs",
        )
    product = line_budgets / draws.kappa  # N·D along each budget: the band lies on it
    edge_lo, edge_hi = product / n_band[0], product / n_band[2]
    ax.fill(
        np.concatenate([n_band[0], n_band[2][::-1]]),
        np.concatenate([edge_lo, edge_hi[::-1]]),
        color="tab:red",
        alpha=0.2,
        label=f"N*(C), {percent(interval)} interval",
    )
    ax.plot(n_band[1], product / n_band[1], color="tab:red", lw=1.5, label="compute-optimal N*(C)")
    for budget in budgets:
        ns = np.geomspace(n_lo, n_hi, 50)
        ax.plot(ns, budget / draws.kappa / ns, ls=":", lw=0.8, color="grey")
    if budgets.size:
        ax.plot([], [], ls=":", lw=0.8, color="grey", label="budgets (iso-FLOP)")
    if targets is not None:
        ax.scatter(targets[0], targets[1], marker="x", s=50, c="tab:blue", label="targets")
    ax.set_xscale("log")
    ax.set_yscale("log")
    power_ticks(ax.xaxis)
    power_ticks(ax.yaxis)
    ax.set_xlim(n_lo, n_hi)
    ax.set_ylim(d_lo, d_hi)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("tokens D")
    ax.set_title(f"L(N, D), group {data.groups[group]}: median iso-loss contours")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig

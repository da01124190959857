"""Plots in the style of the GPT-4 technical report's Figure 1.

Log-compute x-axis; observed runs as dots, held-out runs as open circles; the posterior median
of a new run's loss with 50% and 90% predictive bands running out past the target; the target
marked with its predictive interval. One panel per group.

The public entry points :func:`plot_forecast`, :func:`plot_decision`, :func:`plot_ppc` and
:func:`plot_buckets` take a result (or a fit) and return a :class:`matplotlib.figure.Figure`.
Figures are made without pyplot, so nothing here selects a backend or keeps figures open: a
notebook shows the returned figure once, and scripts save it with ``fig.savefig``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from bayescale.errors import InputError
from bayescale.fit import LossFit, PassFit
from bayescale.forecast import loss_draws, run_quantiles
from bayescale.pass_forecast import observed_statistics, pass_draws, reported_buckets
from bayescale.ticks import plain_ticks, power_ticks

log = logging.getLogger("bayescale")

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from bayescale.decision import ComputeChoice, Decision, DecisionCurve
    from bayescale.nd import NDFit

#: Decades between the smallest run and the largest target above which the loss forecast gets
#: an inset zoomed on the largest fitted run, the held-out runs and the target.
ZOOM_DECADES = 4.0


def _fit_of(obj: Any) -> Any:
    return obj.fit if hasattr(obj, "forecast") else obj


def _targets_of(obj: Any, targets: Any) -> np.ndarray:
    if targets is None:
        if not hasattr(obj, "forecast"):
            raise InputError("give targets=... (FLOPs) when plotting a fit rather than a result.")
        return np.asarray(obj.forecast.targets)
    return np.atleast_1d(np.asarray(targets, dtype=float))


def _interval_of(obj: Any, interval: float | None) -> float:
    if interval is not None:
        return float(interval)
    return float(obj.forecast.interval) if hasattr(obj, "forecast") else 0.9


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


def plot_buckets(result: Any, targets: Any = None, interval: float | None = None) -> Figure:
    """Figure-2-style panels of a pass-rate result or fit: -ln(pass rate) per bucket.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, attached to no pyplot state.
    """
    fit = _fit_of(result)
    if not isinstance(fit, PassFit):
        raise InputError("plot_buckets draws pass-rate fits; for a loss fit use plot_forecast.")
    return pass_figure(fit, _targets_of(result, targets), _interval_of(result, interval))


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


def plot_ppc(result: Any, interval: float | None = None) -> Figure:
    """Posterior predictive check of a loss result or fit (:func:`ppc_figure`).

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, attached to no pyplot state.
    """
    fit = _fit_of(result)
    if not isinstance(fit, LossFit):
        raise InputError(
            f"plot_ppc checks loss fits, got {type(fit).__name__}; for a pass-rate fit, "
            "plot_buckets shows every model's observed rates against the forecast bands."
        )
    return ppc_figure(fit, _interval_of(result, interval))


def _new_figure(rows: int, cols: int, size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=size)
    return fig, np.asarray(fig.subplots(rows, cols, squeeze=False))


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
    fig, axes = _new_figure(rows, cols, (5.2 * cols, 4.2 * rows))
    for gi, group in enumerate(data.groups):
        ax = axes[gi // cols][gi % cols]
        in_group = data.group == group
        panels = [ax]
        if zoom:
            panels.append(ax.inset_axes((0.47, 0.5, 0.5, 0.46)))
        for k, panel in enumerate(panels):
            _bands(panel, grid, draws[:, gi, :], interval, legend=k == 0)
            _target(panel, targets, at_target[:, gi, :], interval, legend=k == 0)
            _observed(
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


#: Matplotlib's warnings about drawing labels: a character its font lacks, a layout that
#: labels too long cannot fit. They come once per figure and source line, with a file path.
_DRAWING_WARNINGS = re.compile(r"Glyph (\d+) .* missing from font|Tight layout not applied")


@contextlib.contextmanager
def drawing_notes() -> Iterator[None]:
    """Gather matplotlib's label warnings while figures are drawn into one logged line.

    Group, family or bucket labels in Chinese, with emoji or very long make matplotlib warn
    per figure and per call (``UserWarning: Glyph 25968 ... missing from font(s)``), each
    with a source path; a command's user gets one line that says what the figures show.
    Other warnings pass through unchanged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    glyphs: dict[str, None] = {}
    layout = False
    for item in caught:
        match = _DRAWING_WARNINGS.search(str(item.message))
        if match is None:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
        elif match.group(1) is not None:
            glyphs[chr(int(match.group(1)))] = None
        else:
            layout = True
    if glyphs:
        log.warning(
            "the figures' font lacks %s used in labels: they show as empty boxes in the PNGs "
            "(the report and forecast.json have the labels as written).",
            " ".join(glyphs),
        )
    if layout:
        log.warning("labels too long for the figures overlap their axes; shorter labels fit.")


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG (atomically: temporary file, then rename), closing a pyplot one."""
    from bayescale.outputs import atomic_file

    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=130, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        if fig.canvas.manager is not None:  # a figure a user made with pyplot
            import matplotlib.pyplot as plt

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
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
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
        at_most = "at most " if first.at_search_start(need) else ""
        ax.axvline(need, color="C2", lw=1.2, label=f"needed {at_most}{need:.2g}")
    lo, hi = first.compute_needed_lower, first.compute_needed_upper
    if lo is not None:
        ax.axvspan(
            lo,
            hi if hi is not None else grid[-1],
            color="C2",
            alpha=0.12,
            lw=0,
            label=f"curve meets it ({first.confidence:.0%})",
        )
    if choice is not None:
        ax.axvline(
            choice.compute,
            color="C3",
            lw=1.2,
            ls="-.",
            label=f"best expected value {choice.compute:.2g}",
        )
    ax.set_xscale("log")
    power_ticks(ax.xaxis)
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
    ax.set_title(f"Posterior predictive check ({interval:.0%} intervals)")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def dodge(compute: np.ndarray, n_groups: int) -> np.ndarray:
    """Multiplicative x offsets that set the groups' bars side by side on a log axis.

    The groups at one compute are spread over 60% of the smallest gap between distinct
    computes (in log10), at most 0.05 decades each.

    Examples
    --------
    >>> dodge(np.array([1e18, 1e19]), 1)
    array([1.])
    """
    if n_groups == 1:
        return np.ones(1)
    levels = np.unique(np.log10(compute))
    gap = np.diff(levels).min() if levels.size > 1 else 1.0
    step = min(0.6 * gap / n_groups, 0.05)
    return np.asarray(10 ** (step * (np.arange(n_groups) - (n_groups - 1) / 2)))


def _bands(
    ax: Axes, grid: np.ndarray, draws: np.ndarray, interval: float, legend: bool = True
) -> None:
    """Median line with 50% and ``interval`` bands of ``draws`` (sample x grid)."""
    tail = (1 - interval) / 2
    q = np.quantile(draws, [tail, 0.25, 0.5, 0.75, 1 - tail], axis=0)

    def label(text: str) -> str | None:
        return text if legend else None

    ax.fill_between(grid, q[0], q[4], color="C0", alpha=0.18, lw=0, label=label(f"{interval:.0%}"))
    ax.fill_between(grid, q[1], q[3], color="C0", alpha=0.35, lw=0, label=label("50%"))
    ax.plot(grid, q[2], color="C0", lw=1.5, label=label("median"))


def _target(
    ax: Axes, targets: np.ndarray, draws: np.ndarray, interval: float, legend: bool = True
) -> None:
    """Mark the targets with the median and central interval of ``draws`` (sample x target).

    Drawn as an open diamond below the observed points, so a held-out run at the target stays
    visible.
    """
    tail = (1 - interval) / 2
    lo, mid, hi = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
    ax.errorbar(
        targets,
        mid,
        yerr=[mid - lo, hi - mid],
        fmt="D",
        color="C1",
        mfc="none",
        mew=1.3,
        ms=7,
        capsize=3,
        zorder=4,
        label="target (median, interval)" if legend else None,
    )


def _observed(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    held: np.ndarray,
    fitted: np.ndarray,
    what: str,
    marker: str = "o",
    legend: bool = True,
) -> None:
    """Fitted points filled black, held-out points red with a white edge, above the targets."""
    if fitted.any():
        ax.scatter(
            x[fitted],
            y[fitted],
            s=16,
            color="k",
            marker=marker,
            zorder=5,
            label=f"fitted {what}" if legend else None,
        )
    if held.any():
        ax.scatter(
            x[held],
            y[held],
            s=36,
            color="C3",
            edgecolors="white",
            linewidths=0.8,
            marker=marker,
            zorder=6,
            label=f"held-out {what}" if legend else None,
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
    fig, axes = _new_figure(rows, cols, (4.4 * cols, 3.5 * rows))
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
    _bands(ax, grid, draws, interval)
    _observed(ax, x, y, held, ~held, "models")
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
    fig, axes = _new_figure(rows, cols, (5.2 * cols, 4.2 * rows))
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
            ax.fill_between([], [], [], color="0.5", alpha=0.25, label=f"{interval:.0%} band")
        if at_target is not None:
            _target(ax, t_c, at_target[:, gi, :], interval)
        own = data.group == group
        what = "runs (own D/N)"
        _observed(ax, data.compute, data.loss, own & data.held_out, own & data.fitted, what)
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
        label=f"N*(C), {interval:.0%} interval",
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

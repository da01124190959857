"""What every law's figures are drawn with, and the decision figure every law shares.

Panels without pyplot (:func:`new_figure`), predictive bands, observed points and target
marks in the style of the GPT-4 technical report's Figure 1 (log-compute x-axis; observed
runs as dots, held-out runs as open circles), :func:`dodge`, the matplotlib label warnings
gathered into one line (:func:`drawing_notes`), :func:`save_figure` and
:func:`decision_figure`.
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

from bayescale.display import percent
from bayescale.errors import InputError
from bayescale.ticks import power_ticks

log = logging.getLogger("bayescale")

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from bayescale.decision import ComputeChoice, Decision, DecisionCurve


def fit_of(obj: Any) -> Any:
    """The fit of a result, or ``obj`` itself when it is a fit."""
    return obj.fit if hasattr(obj, "forecast") else obj


def targets_of(obj: Any, targets: Any) -> np.ndarray:
    """``targets`` as an array of FLOPs; ``None``: the result's own (a fit has none)."""
    if targets is None:
        if not hasattr(obj, "forecast"):
            raise InputError("give targets=... (FLOPs) when plotting a fit rather than a result.")
        return np.asarray(obj.forecast.targets)
    return np.atleast_1d(np.asarray(targets, dtype=float))


def interval_of(obj: Any, interval: float | None) -> float:
    """``interval``; ``None``: the result's own, 0.9 for a fit."""
    if interval is not None:
        return float(interval)
    return float(obj.forecast.interval) if hasattr(obj, "forecast") else 0.9


def new_figure(rows: int, cols: int, size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure without pyplot and its ``rows`` x ``cols`` axes as a 2-d array."""
    fig = Figure(figsize=size)
    return fig, np.asarray(fig.subplots(rows, cols, squeeze=False))


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
            label=f"curve meets it ({percent(first.confidence)})",
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


def draw_bands(
    ax: Axes, grid: np.ndarray, draws: np.ndarray, interval: float, legend: bool = True
) -> None:
    """Median line with 50% and ``interval`` bands of ``draws`` (sample x grid)."""
    tail = (1 - interval) / 2
    q = np.quantile(draws, [tail, 0.25, 0.5, 0.75, 1 - tail], axis=0)

    def label(text: str) -> str | None:
        return text if legend else None

    ax.fill_between(
        grid, q[0], q[4], color="C0", alpha=0.18, lw=0, label=label(f"{percent(interval)}")
    )
    ax.fill_between(grid, q[1], q[3], color="C0", alpha=0.35, lw=0, label=label("50%"))
    ax.plot(grid, q[2], color="C0", lw=1.5, label=label("median"))


def draw_target(
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


def draw_observed(
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

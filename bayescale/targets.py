"""Checks of what a forecast is asked for, shared by every law.

Target computes, the interval probability, and where the targets lie against the fitted
computes.

Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np

from bayescale.data import COMPUTE_RANGE, label_key, shown_label
from bayescale.errors import InputError

#: Most target computes one run forecasts.
MAX_TARGETS = 1_000

log = logging.getLogger("bayescale")

#: Target compute(s) in FLOPs as a caller gives them: a number or a list/array.
Targets = float | list[float] | np.ndarray


def check_targets(
    targets: float | list[float] | tuple[float, ...] | np.ndarray,
) -> np.ndarray:
    """Return target computes as a 1-d float array, refusing non-positive values.

    At most :data:`MAX_TARGETS` per run: each target holds a full set of predictive draws.
    """
    try:
        arr = np.asarray(targets, dtype=float)
    except (TypeError, ValueError):
        raise InputError(
            f"target computes must be numbers of FLOPs (1e23, or a list [1e22, 1e23]), got "
            f"{targets!r}."
        ) from None
    if arr.ndim > 1:
        raise InputError(
            f"target computes must be one number or a flat list of numbers of FLOPs, got an "
            f"array of shape {arr.shape}; flatten it (np.ravel) if each entry is a target."
        )
    arr = np.atleast_1d(arr)
    if arr.size == 0:
        raise InputError("no target compute given; pass --target-compute C (FLOPs).")
    if arr.size > MAX_TARGETS:
        raise InputError(
            f"{arr.size:,} target computes; at most {MAX_TARGETS:,} per run (each keeps its own "
            "predictive draws). Forecast a coarser grid, or split the targets over runs of "
            "'bayescale forecast DIR/fit.nc'."
        )
    bad = arr[~(np.isfinite(arr) & (arr > 0))]
    if bad.size:
        raise InputError(f"target compute must be a positive number of FLOPs, got {bad[0]:g}.")
    low, high = COMPUTE_RANGE
    bad = arr[(arr < low) | (arr > high)]
    if bad.size:
        raise InputError(
            f"target compute {bad[0]:g} is outside the range bayescale accepts ({low:g} to "
            f"{high:g} FLOPs); check the unit."
        )
    return arr


def check_interval(interval: float) -> float:
    """Refuse an interval probability outside (0, 1)."""
    if not 0 < interval < 1:
        raise InputError(f"--interval must be between 0 and 1 (e.g. 0.9), got {interval}.")
    return float(interval)


#: With fewer distinct fitted computes than this, a target more than 10x beyond the largest
#: one is a far extrapolation (with more, only beyond the fitted range's own width).
FEW_SIZES = 5


def target_warnings(
    targets: np.ndarray,
    fitted: dict[str, np.ndarray],
    *,
    rests_on: str,
    allow_backcast: bool = False,
    unit: str = "run",
    label: str = "group",
    describe: Callable[[float], str] | None = None,
) -> list[str]:
    """Check target computes against the fitted computes before (or without) sampling.

    A target below every group's smallest fitted compute is refused unless ``allow_backcast``.
    Each group is checked on its own: a target below some groups' runs, inside a group's
    fitted range, or far beyond a group's runs for their number of sizes (more than the
    range's own width in decades, or more than one decade with fewer than :data:`FEW_SIZES`
    sizes) gets a warning that says for which groups, how far, and what the interval then
    rests on.

    Parameters
    ----------
    targets
        Target computes in FLOPs.
    fitted
        Fitted computes per group (one entry ``{"": computes}`` when there are no groups).
    rests_on
        What the interval rests on beyond the data, for the warning.
    allow_backcast
        Accept targets below the smallest fitted compute (with a warning).
    unit
        What a fitted point is (``run``, ``model``), for messages.
    label
        What a key of ``fitted`` is (``group``, ``family``), for messages.
    describe
        How a message names a target (``target 1e+23 FLOPs`` by default).

    Returns
    -------
    list of str
        One warning per target that needs one.

    Raises
    ------
    InputError
        On a target below every fitted compute, unless ``allow_backcast``.

    Examples
    --------
    >>> target_warnings(np.array([1e22]), {"": np.array([1e19, 1e20, 1e21])}, rests_on="x")
    []
    >>> target_warnings(np.array([1e23]), {"": np.array([1e19, 1e20, 1e21])},
    ...                 rests_on="the law")[0][:60]
    'target 1e+23 FLOPs is 2 decades (100x) beyond the largest fi'
    """
    out: list[str] = []
    smallest = min(float(c.min()) for c in fitted.values())
    for t in np.atleast_1d(np.asarray(targets, dtype=float)):
        name = describe(t) if describe else f"target {t:.3g} FLOPs"
        if t < smallest:
            what = (
                f"{name} is below the smallest fitted {unit} ({smallest:.3g} FLOPs, "
                f"{np.log10(smallest / t):.1f} decades lower): a backcast, not a forecast"
            )
            if not allow_backcast:
                raise InputError(
                    f"{what}. Give a target at or above {smallest:.3g} FLOPs, or pass "
                    "--allow-backcast (Python: allow_backcast=True) if you mean it."
                )
            out.append(f"{what}; the interval rests on the law's form below the data.")
            continue
        below = [g for g, c in fitted.items() if t < c.min()]
        if below:  # groups start at different computes: a backcast for some of them only
            lowest = min(float(fitted[g].min()) for g in below)
            out.append(
                f"{name} is below the smallest fitted {unit} of {label} {_names(below)} "
                f"({lowest:.3g} FLOPs and up): for {'it' if len(below) == 1 else 'them'} a "
                "backcast, not a forecast; there the interval rests on the law's form below "
                "the data."
            )
        inside = [g for g, c in fitted.items() if c.min() <= t <= c.max()]
        if inside:
            lo, hi = fitted[inside[0]].min(), fitted[inside[0]].max()
            where = f" of {label} {_names(inside)}" if inside[0] else ""
            out.append(
                f"{name} lies inside the fitted range{where} ({lo:.3g} to "
                f"{hi:.3g} FLOPs{'' if len(inside) == 1 else ' for the first'}): an "
                f"interpolation, not a forecast; the interval is that of a new {unit} at that "
                "compute."
            )
        worst: tuple[float, str] | None = None
        for g, c in fitted.items():
            sizes = np.unique(c).size
            span = np.log10(c.max() / c.min())
            beyond = np.log10(t / c.max())
            limit = min(span, 1.0) if sizes < FEW_SIZES else span
            if beyond > limit + 0.01 and (worst is None or beyond - limit > worst[0]):
                where = f" of {label} '{g}'" if g else ""
                worst = (
                    beyond - limit,
                    f"{name} is {beyond:.2g} decades ({10**beyond:.3g}x) beyond "
                    f"the largest fitted {unit}{where} ({c.max():.3g} FLOPs), fitted on "
                    f"{sizes} sizes spanning {span:.2g} decade(s): there the interval rests on "
                    f"{rests_on}, not on the data; read it as a scenario.",
                )
        if worst is not None:
            far = np.log10(t / max(float(c.max()) for c in fitted.values()))
            unit_hint = (
                f" A target {far:.0f} decades beyond every fitted {unit} is most often in "
                "another unit than the table's compute (FLOPs against PF-days = 8.64e19 FLOPs, "
                "or units of 1e21 FLOPs): check that both use the same."
                if far > UNIT_MISMATCH_DECADES
                else ""
            )
            out.append(worst[1] + unit_hint)
    return out


def _names(keys: list[str], most: int = 3) -> str:
    """``'a'``, ``'a', 'b'`` or ``'a', 'b', 'c' and 2 more``, for messages."""
    named = ", ".join(f"'{k}'" for k in keys[:most])
    return named + (f" and {len(keys) - most} more" if len(keys) > most else "")


#: Decades beyond the largest fitted compute past which a target's warning asks whether the
#: target and the table use one unit (no ladder is extrapolated a million times).
UNIT_MISMATCH_DECADES = 6.0


#: How many standard errors a least-squares trend must be from flat before a trend against
#: the law is warned about (:func:`trend_against_law`).
TREND_T = 3.0


def trend_against_law(compute: np.ndarray, values: np.ndarray, *, rising: bool) -> float | None:
    """The slope of ``values`` per decade of compute when it goes the wrong way, else None.

    A least-squares line of ``values`` on log10 ``compute``; its slope is returned when it
    rises (``rising=True``) or falls (``rising=False``) by more than :data:`TREND_T`
    standard errors (any amount when the points lie exactly on the line). Fewer than three
    distinct computes give None.

    Examples
    --------
    >>> trend_against_law(np.array([1e18, 1e19, 1e20]), np.array([2.0, 2.5, 3.0]), rising=True)
    0.5
    >>> trend_against_law(np.array([1e18, 1e19, 1e20]), np.array([3.0, 2.5, 2.0]), rising=True)
    """
    x = np.log10(np.asarray(compute, dtype=float))
    y = np.asarray(values, dtype=float)
    if np.unique(x).size < 3:
        return None
    x = x - x.mean()
    sxx = float((x**2).sum())
    slope = float((x * (y - y.mean())).sum() / sxx)
    if (slope <= 0) if rising else (slope >= 0):
        return None
    residual = y - y.mean() - slope * x
    se = float(np.sqrt((residual**2).sum() / (x.size - 2) / sxx))
    return slope if se == 0 or abs(slope) > TREND_T * se else None


#: Fitted computes all inside this range, spanning less than :data:`LOG_UNITS_SPAN` decades,
#: look like log10(FLOPs) or ln(FLOPs) rather than FLOPs (real runs have 1e15 to 1e27 FLOPs:
#: log10 15 to 27, ln 35 to 62).
LOG_UNITS_RANGE = (5.0, 70.0)
LOG_UNITS_SPAN = 0.5


def log_units_warning(compute: np.ndarray, column: str) -> list[str]:
    """A warning when the fitted computes look like log10(FLOPs) (17.0, 18.5, 19.2, ...) or ln.

    Examples
    --------
    >>> log_units_warning(np.array([17.0, 18.0, 19.5]), "compute")[0][:45]
    "column 'compute' holds 17 to 19.5: these look"
    >>> log_units_warning(np.array([1e17, 1e18, 3e19]), "compute")
    []
    """
    low, high = float(np.min(compute)), float(np.max(compute))
    lo_edge, hi_edge = LOG_UNITS_RANGE
    if not (lo_edge <= low and high <= hi_edge and np.log10(high / low) < LOG_UNITS_SPAN):
        return []
    base, power = ("log10", "10**value") if high <= 40 else ("ln", "exp(value)")
    return [
        f"column '{column}' holds {low:.3g} to {high:.3g}: these look like {base}(FLOPs), "
        f"not FLOPs (a span of only {np.log10(high / low):.2g} decade(s)). The law is fitted "
        f"on compute itself; if they are logarithms, give {power} (and targets in FLOPs)."
    ]


def label_twin_warnings(labels: Iterable[str], what: str) -> list[str]:
    """A warning for each pair of labels that differ only in case or separators (``label_key``).

    ``Web`` and ``web`` (or ``code-python`` and ``code python``) are two groups to the fit, which
    pools them as two curves; most often one label was typed two ways. ``what`` names them
    ("group", "family").
    """
    first: dict[str, str] = {}
    out = []
    for label in dict.fromkeys(map(str, labels)):
        earlier = first.setdefault(label_key(label), label)
        if earlier != label:
            out.append(
                f"{what} labels '{shown_label(earlier)}' and '{shown_label(label)}' differ "
                "only in case, spaces, dashes or underscores: they are fitted as two. If they "
                "name one, spell it one way."
            )
    return out


def repeated_row_warnings(
    name: np.ndarray,
    group: np.ndarray,
    fitted: np.ndarray,
    values: dict[str, np.ndarray],
) -> list[str]:
    """A warning for each fitted run that repeats another's group and ``values`` exactly.

    Reruns of one configuration differ in their last digits; an exact repeat is most often a
    row pasted twice, and it counts twice in the fit (its weight doubled, the scatter
    understated). ``values`` are the columns compared, by the label the message gives them
    (``{"compute": ..., "loss": ...}``).
    """
    seen: dict[tuple[object, ...], str] = {}
    several = len(set(map(str, group))) > 1
    out = []
    for i in np.flatnonzero(fitted):
        key = (str(group[i]), *(float(v[i]) for v in values.values()))
        if key in seen:
            where = f" of group '{key[0]}'" if several else ""
            shown = ", ".join(f"{label} {v:.6g}" for label, v in zip(values, key[1:], strict=True))
            out.append(
                f"{name[i]} repeats {seen[key]}{where} exactly ({shown}): it counts twice in "
                "the fit. Remove the copy if the row was pasted twice; reruns of one "
                "configuration differ in their losses."
            )
        else:
            seen[key] = str(name[i])
    return out


def logged(warnings: Iterable[str], warn: bool = True) -> tuple[str, ...]:
    """The target warnings as a tuple, each logged first (``warn``) as the CLI shows them."""
    kept = tuple(warnings)
    if warn:
        for message in kept:
            log.warning("warning: %s", message)
    return kept

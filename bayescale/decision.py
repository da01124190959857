r"""Go/no-go decisions from predictive draws.

A requirement such as ``loss<=2.1`` (or ``web.loss<=2.1`` to name a group) is met by a new run
at compute *C* with probability :math:`P(C)`, the share of predictive draws that satisfy it.
The decision is ``go`` when :math:`P(C_{target}) \ge` the confidence. The compute needed is
searched on a log-compute grid from the smallest fitted run to 1000x the largest target: the
first grid point where the median forecast meets the requirement, and the first where
:math:`P(C) \ge` confidence (``None`` when not reached). Nothing here imports PyMC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bayescale.display import html_summary, percent, text_summary
from bayescale.errors import InputError, did_you_mean

QUANTITIES = ("loss", "pass_rate")
#: Open range of thresholds that can be met or missed: a loss is > 0, a pass rate or an
#: accuracy in (0, 1).
MEANINGFUL = {"loss": (0.0, np.inf), "pass_rate": (0.0, 1.0), "accuracy": (0.0, 1.0)}
_PATTERN = re.compile(
    r"^\s*(?:(?P<scope>.+?)\.)?(?P<quantity>[A-Za-z_]+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
#: Whether more compute lowers (True) or raises (False) each quantity, on its law: a bar the
#: other way (``loss>=2.6``) is never helped by compute and is refused.
_FALLS = {"loss": True, "pass_rate": False, "accuracy": False}
#: Points per decade of the compute grid searched for ``compute_needed``.
GRID_PER_DECADE = 50
#: How far beyond the largest target the search goes (docs/formats.md).
SEARCH_FACTOR = 1000.0


@dataclass(frozen=True)
class Requirement:
    """A parsed requirement: ``[scope.]quantity op threshold``.

    Examples
    --------
    >>> r = parse_requirement("web.loss<=2.1")
    >>> (r.scope, r.quantity, r.op, r.threshold)
    ('web', 'loss', '<=', 2.1)
    >>> r.holds(np.array([2.0, 2.2]))
    array([ True, False])
    """

    quantity: str
    op: str
    threshold: float
    scope: str | None = None
    text: str = ""

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Elementwise truth of the requirement for the given values."""
        ops: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
            "<=": np.less_equal,
            "<": np.less,
            ">=": np.greater_equal,
            ">": np.greater,
        }
        return ops[self.op](values, self.threshold)

    @property
    def lower_is_better(self) -> bool:
        """True for upper bounds such as ``loss<=x``."""
        return self.op in ("<=", "<")


#: Comparisons written other ways (typeset, or reversed), and the operator meant.
_OTHER_OPS = (("\u2264", "<="), ("\u2265", ">="), ("=<", "<="), ("=>", ">="), ("==", "<= or >="))


def parse_requirement(text: str, quantities: Sequence[str] = QUANTITIES) -> Requirement:
    """Parse ``"loss<=2.1"``, ``"pass_rate>=0.3"`` or ``"web.loss<=2.1"``.

    Raises
    ------
    InputError
        When the text does not have the form ``[scope.]quantity op number``.

    Returns
    -------
    Requirement
        The scope (group or bucket, or ``None``), quantity, operator and threshold.
    """
    match = _PATTERN.match(text)
    if not match:
        written = next((f" Write {bad} as {op}." for bad, op in _OTHER_OPS if bad in text), "")
        if re.search(r"pass@1\b|pass_at_1\b", text):
            written += " pass@1 is 'pass_rate' here (the mean pass@1 over the problems)."
        raise InputError(
            f"--require '{text}' cannot be parsed.{written} Expected QUANTITY OP NUMBER such as "
            "'loss<=2.1' or 'pass_rate>=0.3' (OP one of <=, <, >=, >), optionally prefixed "
            "by a group or bucket: 'web.loss<=2.1'."
        )
    quantity = match["quantity"]
    if quantity not in quantities:
        raise InputError(
            f"--require '{text}': unknown quantity '{quantity}'."
            f"{did_you_mean(quantity, quantities)} Choose one of: {', '.join(quantities)}."
        )
    threshold = float(match["value"])
    low, high = MEANINGFUL.get(quantity, (-np.inf, np.inf))
    if not (np.isfinite(threshold) and low < threshold < high):
        span = f"between {low:g} and {high:g}" if np.isfinite(high) else f"above {low:g}"
        raise InputError(
            f"--require '{text}': {threshold:g} is not a meaningful bar for {quantity}, which "
            f"lies {span}: the rule would hold always or never. Give a threshold {span}, "
            "exclusive (e.g. 'loss<=2.1', 'pass_rate>=0.3')."
        )
    if (match["op"] in (">=", ">")) == _FALLS.get(quantity):
        flipped = {"<=": ">=", "<": ">", ">=": "<=", ">": "<"}[match["op"]]
        scope = f"{match['scope']}." if match["scope"] else ""
        bound = {"<=": "at or below", "<": "below", ">=": "at or above", ">": "above"}
        raise InputError(
            f"--require '{text}' asks for a {quantity} {bound[match['op']]} {threshold:g}, but "
            f"the law's {quantity} only {'falls' if _FALLS[quantity] else 'rises'} with "
            "compute: more compute never helps meet this bar, and there is no compute needed to "
            "report. "
            f"For a {quantity} {bound[flipped]} {threshold:g}, write "
            f"'{scope}{quantity}{flipped}{match['value']}'."
        )
    return Requirement(
        quantity=quantity,
        op=match["op"],
        threshold=threshold,
        scope=match["scope"],
        text=text.strip(),
    )


def _apart(value: float, other: float) -> str:
    """``value`` to 2 significant digits, or to more (up to 4) if it would read as ``other``.

    A compute needed of 1.047e22 beside a target of 1e22 reads "1e+22" at 2 digits: the
    sentence would say the target falls short and that the target is what is needed.
    """
    for digits in (2, 3, 4):
        text = f"{value:.{digits}g}"
        if value == other or text != f"{other:.{digits}g}":
            return text
    return text


@dataclass(frozen=True)
class Decision:
    """The answer to one requirement at one target compute.

    ``planned``: the target is a planned model of N parameters and D tokens (the accuracy
    law on effective compute), ``target_compute`` its 6·N·D, and the compute needed is that
    of a model of its tokens per parameter D/N. ``search_from``: the smallest compute the
    search for the compute needed looked at; a compute needed equal to it is an upper bound
    (the requirement may hold below it too), and the sentence and the summary say "at most".
    """

    requirement: Requirement
    target_compute: float
    probability: float
    confidence: float
    compute_needed_median: float | None
    compute_needed_at_confidence: float | None
    compute_needed_lower: float | None = None
    compute_needed_upper: float | None = None
    planned: tuple[float, float] | None = None
    search_from: float | None = None

    def at_search_start(self, value: float | None) -> bool:
        """True when ``value`` (a compute needed) is where the search started: a bound."""
        return value is not None and self.search_from is not None and value <= self.search_from

    def needed_span(self, digits: str = ".2g") -> str:
        """Where the curve meets the requirement: ``"at 3e+21 to 9e+23 FLOPs"``.

        The confidence interval of the compute at which the curve meets it; "at or below"
        where that is the start of the search, "only beyond" where too few curves meet it
        within the search.
        """
        lo, hi = self.compute_needed_lower, self.compute_needed_upper
        if self.at_search_start(hi):  # every curve meets it where the search starts
            return f"at or below {hi:{digits}} FLOPs"
        if lo is None:  # fewer curves than the interval's lower tail meet it within the search
            return f"only beyond where the search ends, {SEARCH_FACTOR:.0f}x the largest target"
        at = "at or below" if self.at_search_start(lo) else "at"
        end = "FLOPs to beyond the search" if hi is None else f"to {hi:{digits}} FLOPs"
        return f"{at} {lo:{digits}} {end}"

    def __repr__(self) -> str:
        return text_summary(*_decision_summary(self))

    def _repr_html_(self) -> str:
        return html_summary(*_decision_summary(self))

    @property
    def go(self) -> bool:
        """True when the requirement holds with at least the required confidence."""
        return self.probability >= self.confidence

    def sentence(self) -> str:
        """One sentence a manager can read."""
        r = self.requirement
        what = {"loss": "final loss", "pass_rate": "mean pass@1"}.get(
            r.quantity, r.quantity.replace("_", " ")
        )
        where = f" for {r.scope}" if r.scope else ""
        bound = {"<=": "at or below", "<": "below", ">=": "at or above", ">": "above"}[r.op]
        verdict = "GO" if self.go else "NO-GO"
        need = self.compute_needed_at_confidence
        bound_only = self.at_search_start(need)
        needs = (
            f"{percent(self.confidence)} confidence needs {'at most ' if bound_only else ''}"
            f"{_apart(need, self.target_compute)} FLOPs"
            if need is not None
            else f"{percent(self.confidence)} confidence is not reached within "
            f"{SEARCH_FACTOR:.0f}x the target"
        )
        at = f"{self.target_compute:.2g} FLOPs"
        if self.planned is not None:
            n, d = self.planned
            at = f"N={n:.3g}, D={d:.3g} ({at})"
            needs += f" at {d / n:.3g} tokens per parameter"
        if bound_only:
            needs += " (met already at the smallest compute searched)"
        return (
            f"{verdict}: {self.probability:.1%} chance the {what}{where} is {bound} "
            f"{r.threshold:g} at {at}; {needs}."
        )

    def to_dict(self) -> dict[str, object]:
        """The ``decision`` block of the result document (docs/formats.md)."""
        return {
            "requirement": self.requirement.text,
            "probability": float(self.probability),
            "confidence": float(self.confidence),
            "go": self.go,
            "compute_needed": {
                "median": self.compute_needed_median,
                "at_confidence": self.compute_needed_at_confidence,
                "lower": self.compute_needed_lower,
                "upper": self.compute_needed_upper,
                "search_from": self.search_from,
            },
            "sentence": self.sentence(),
        } | (
            {}
            if self.planned is None
            else {
                "params": self.planned[0],
                "tokens": self.planned[1],
                "tokens_per_parameter": self.planned[1] / self.planned[0],
            }
        )


def _decision_summary(d: Decision) -> tuple[str, list[tuple[str, str]]]:
    def flops(value: float | None) -> str:
        if value is None:
            return "not reached"
        return f"{'at most ' if d.at_search_start(value) else ''}{value:.3g} FLOPs"

    rows = [
        ("requirement", d.requirement.text),
        (
            "target",
            f"{d.target_compute:.3g} FLOPs"
            + ("" if d.planned is None else f": N={d.planned[0]:.3g}, D={d.planned[1]:.3g}"),
        ),
        ("probability", f"{d.probability:.1%} (confidence {d.confidence:g})"),
        (
            "compute needed",
            f"median {flops(d.compute_needed_median)}, at confidence "
            f"{flops(d.compute_needed_at_confidence)}",
        ),
        (
            f"curve meets it ({percent(d.confidence)})",
            f"{flops(d.compute_needed_lower)} to {flops(d.compute_needed_upper)}",
        ),
    ]
    return f"Decision: {'GO' if d.go else 'NO-GO'}", rows


def needed_interval(
    requirement: Requirement, draws: np.ndarray, grid: np.ndarray, probability: float
) -> tuple[float | None, float | None]:
    """Central ``probability`` interval of the compute at which each draw meets the requirement.

    ``draws`` (sample x grid) are monotone in compute, one curve per posterior draw; each
    meets the requirement first at one grid point (or never within the grid, an infinite
    compute, reported as ``None``).

    Examples
    --------
    >>> grid = np.array([1.0, 10.0, 100.0])
    >>> draws = np.array([[3.0, 2.0, 1.0], [3.0, 2.5, 2.0], [2.0, 1.0, 0.5]])
    >>> needed_interval(parse_requirement("loss<=2.0"), draws, grid, 0.5)
    (1.0, 100.0)
    """
    return crossing_interval(np.asarray(requirement.holds(draws), dtype=bool), grid, probability)


def crossing_interval(
    holds: np.ndarray, grid: np.ndarray, probability: float
) -> tuple[float | None, float | None]:
    """:func:`needed_interval` from the truth of the requirement per draw and grid point."""
    first = np.where(holds.any(axis=1), holds.argmax(axis=1), grid.size)
    crossing = np.append(grid, np.inf)[first]
    tail = (1 - probability) / 2
    lo, hi = np.quantile(crossing, [tail, 1 - tail], method="inverted_cdf")
    return (float(lo) if np.isfinite(lo) else None, float(hi) if np.isfinite(hi) else None)


def search_grid(search_from: float, targets: np.ndarray) -> np.ndarray:
    """Return the grid every compute search uses.

    It runs from the smaller of ``search_from`` and the smallest target to
    ``SEARCH_FACTOR`` x the largest target, and holds the targets themselves.
    """
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    grid = compute_grid(min(search_from, float(targets.min())), float(targets.max()))
    return np.union1d(grid, targets)


def compute_grid(start: float, largest_target: float) -> np.ndarray:
    """Log-spaced computes from ``start`` to ``SEARCH_FACTOR`` x ``largest_target``."""
    lo, hi = np.log10(start), np.log10(largest_target * SEARCH_FACTOR)
    return np.logspace(lo, hi, max(2, int(np.ceil((hi - lo) * GRID_PER_DECADE)) + 1))


def probability_curve(
    requirement: Requirement, draws_at: Callable[[np.ndarray], np.ndarray], grid: np.ndarray
) -> np.ndarray:
    """Probability that a new run meets the requirement at each compute of ``grid``.

    The median forecast meets the requirement exactly where this probability is >= 0.5.
    """
    return np.asarray(requirement.holds(draws_at(grid)).mean(axis=0))


@dataclass(frozen=True)
class ComputeChoice:
    """The compute that maximises expected net value, and the curve behind it.

    Expected net value at compute *C* is ``value * P(C) - cost_per_flop * C``: the value of
    meeting the bar times the chance of meeting it, minus what the run costs.
    """

    compute: float
    probability: float
    expected_net_value: float
    value: float
    cost_per_flop: float
    grid: np.ndarray
    probability_curve: np.ndarray

    def sentence(self) -> str:
        """One sentence for the report."""
        return (
            f"Best bet: {self.compute:.2g} FLOPs, where the bar is met with probability "
            f"{self.probability:.1%} and the expected net value is "
            f"{self.expected_net_value:,.4g} (value {self.value:,.4g}, cost "
            f"{self.cost_per_flop:.3g} per FLOP)."
        )

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON form (without the curve)."""
        return {
            "compute": self.compute,
            "probability": self.probability,
            "expected_net_value": self.expected_net_value,
            "value": self.value,
            "cost_per_flop": self.cost_per_flop,
        }


def best_compute(
    grid: np.ndarray, probability: np.ndarray, value: float, cost_per_flop: float
) -> ComputeChoice:
    """Pick the compute on ``grid`` that maximises ``value * P(C) - cost_per_flop * C``.

    Examples
    --------
    >>> grid = np.array([1e21, 1e22, 1e23])
    >>> best_compute(grid, np.array([0.1, 0.8, 0.99]), value=1e6, cost_per_flop=1e-17).compute
    1e+22

    Returns
    -------
    ComputeChoice
        The chosen compute, its probability and expected net value, and the probability on the
        grid.
    """
    if not (value > 0 and cost_per_flop > 0):
        raise InputError("--value and --cost-per-flop must both be positive numbers.")
    net = value * probability - cost_per_flop * grid
    i = int(np.argmax(net))
    return ComputeChoice(
        compute=float(grid[i]),
        probability=float(probability[i]),
        expected_net_value=float(net[i]),
        value=float(value),
        cost_per_flop=float(cost_per_flop),
        grid=grid,
        probability_curve=probability,
    )


@dataclass(frozen=True)
class DecisionCurve:
    """Probability that a new run meets the requirement, on the compute search grid."""

    grid: np.ndarray
    probability: np.ndarray


def decide(
    requirement: Requirement,
    draws_at: Callable[[np.ndarray], np.ndarray],
    targets: np.ndarray,
    confidence: float,
    search_from: float,
    curve_at: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Decision]:
    """Decide a requirement at each target compute (see :func:`decide_with_curve`)."""
    return decide_with_curve(
        requirement, draws_at, targets, confidence, search_from, curve_at=curve_at
    )[0]


def decide_with_curve(
    requirement: Requirement,
    draws_at: Callable[[np.ndarray], np.ndarray],
    targets: np.ndarray,
    confidence: float,
    search_from: float,
    curve_at: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[list[Decision], DecisionCurve]:
    """Decide a requirement at each target compute.

    Parameters
    ----------
    requirement
        The parsed requirement.
    draws_at
        Function of a compute array (FLOPs, shape ``(n,)``) returning predictive draws of the
        requirement's quantity for a new run, shape ``(sample, n)``.
    targets
        Target computes in FLOPs.
    confidence
        Probability the requirement must hold with for ``go``.
    search_from
        Smallest compute of the ``compute_needed`` search (the smallest fitted run of the
        rule's group or family, where the law has several).
    curve_at
        Like ``draws_at`` but draws of the curve (the law without a new run's scatter): the
        ``confidence`` interval of the compute at which it meets the requirement becomes
        ``compute_needed_lower``/``upper``. ``None``: from ``draws_at``.

    Returns
    -------
    decisions, curve
        One Decision per target, and the probability curve they were read from (for the
        decision plot and the expected-value choice, so it is computed once).
    """
    if not 0 < confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1, got {confidence}.")
    targets = np.asarray(targets, dtype=float)
    grid = search_grid(search_from, targets)
    holds = np.asarray(requirement.holds(draws_at(grid)), dtype=bool)
    prob_grid = holds.mean(axis=0)
    # the targets are grid points, so GO at a target and the compute needed agree
    probs = prob_grid[np.searchsorted(grid, targets)]

    def first(mask: np.ndarray) -> float | None:
        hits = np.flatnonzero(mask)
        return float(grid[hits[0]]) if hits.size else None

    needed_median = first(prob_grid >= 0.5)
    needed_conf = first(prob_grid >= confidence)
    if curve_at is not None:
        holds = np.asarray(requirement.holds(curve_at(grid)), dtype=bool)
    lower, upper = crossing_interval(holds, grid, confidence)
    decisions = [
        Decision(
            requirement=requirement,
            target_compute=float(t),
            probability=float(p),
            confidence=float(confidence),
            compute_needed_median=needed_median,
            compute_needed_at_confidence=needed_conf,
            compute_needed_lower=lower,
            compute_needed_upper=upper,
            search_from=float(grid[0]),
        )
        for t, p in zip(targets, probs, strict=True)
    ]
    return decisions, DecisionCurve(grid, prob_grid)

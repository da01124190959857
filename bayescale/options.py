"""What every law's options share: the fields, the checks before sampling, what a saved fit keeps.

A law's options dataclass (``LossOptions``, ``PassOptions``) is :class:`Options` with its own
columns, priors and law-specific fields; a test-only or later law may bring its own dataclass
with at least ``targets``, ``interval``, ``requirement``, ``confidence``, ``value`` and
``cost_per_flop``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayescale.errors import InputError
from bayescale.sampling import SamplerSettings
from bayescale.targets import check_interval, check_targets


@dataclass(frozen=True)
class Options:
    """What a forecast of every law is asked for, besides the table and the law's own fields.

    Attributes
    ----------
    targets
        Target computes in FLOPs.
    interval
        Central predictive interval probability.
    requirement, confidence
        The go/no-go rule (``loss<=2.1``, ``pass_rate>=0.3``) and the probability it must hold
        with.
    fit_max_compute
        Rows above this compute are held out (scored, not fitted).
    sampler, allow_unconverged
        Sampler settings, and whether an unconverged fit still answers (exit 0).
    value, cost_per_flop
        The economics of the best compute (both or neither).
    where, drop_missing
        Row selection of the table (docs/formats.md).
    allow_backcast
        Accept targets below the smallest fitted compute.
    """

    targets: tuple[float, ...]
    interval: float = 0.9
    requirement: str | None = None
    confidence: float = 0.9
    fit_max_compute: float | None = None
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    allow_unconverged: bool = False
    value: float | None = None
    cost_per_flop: float | None = None
    where: str | None = None
    drop_missing: bool = False
    allow_backcast: bool = False

    def __post_init__(self) -> None:
        # targets as a notebook gives them (one number, a list, an array, '1e23') are kept as
        # a tuple of floats: the frozen options then hold no list or array that can change;
        # a target given twice is forecast once (in the order given)
        try:
            values = np.atleast_1d(np.asarray(self.targets, dtype=float))
        except (TypeError, ValueError):
            raise InputError(
                f"targets must be target computes in FLOPs (a number or a list of numbers), "
                f"got {self.targets!r}."
            ) from None
        if values.ndim == 1:
            object.__setattr__(self, "targets", tuple(dict.fromkeys(float(v) for v in values)))
        runs = getattr(self, "runs", None)  # planned (N, D) runs of the nd and accuracy laws
        if isinstance(runs, tuple) and runs:
            with contextlib.suppress(TypeError, ValueError):  # malformed: refused later
                unique = tuple(dict.fromkeys(tuple(float(x) for x in run) for run in runs))
                object.__setattr__(self, "runs", unique)

    def forecast_options(self) -> dict[str, object]:
        """The options a saved fit remembers for ``bayescale forecast``."""
        return remembered_options(self)

    def reading(self) -> dict[str, Any]:
        """The keyword arguments of a law's table reader: the cut and the row selection."""
        return {
            "fit_max_compute": self.fit_max_compute,
            "where": self.where,
            "drop_missing": self.drop_missing,
        }


#: Options a saved fit remembers, so that ``bayescale forecast`` answers like the run did.
REMEMBERED = ("interval", "requirement", "confidence", "value", "cost_per_flop", "k")


def remembered_options(options: Any) -> dict[str, object]:
    """The options of a run that a saved fit keeps (targets, interval, rule, economics)."""
    kept: dict[str, object] = {"targets": list(options.targets)}
    kept |= {name: getattr(options, name) for name in REMEMBERED if hasattr(options, name)}
    return kept


def check_options(options: Any) -> None:
    """Refuse bad forecast options (loss or pass) before any sampling."""
    check_targets(options.targets)
    check_interval(options.interval)
    if not 0 < options.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1, got {options.confidence}.")
    if (options.value is None) != (options.cost_per_flop is None):
        raise InputError("--value and --cost-per-flop go together; give both or neither.")
    if options.value is not None and not options.requirement:
        raise InputError("--value needs --require: the value is that of meeting the bar.")
    for name in ("value", "cost_per_flop"):
        number = getattr(options, name)
        if number is not None and not (np.isfinite(number) and number > 0):
            raise InputError(f"--{name.replace('_', '-')} must be a positive number, got {number}.")

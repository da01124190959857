"""What every law's options share: the checks before sampling and what a saved fit keeps.

A law's options dataclass (``LossOptions``, ``PassOptions``) has at least ``targets``,
``interval``, ``requirement``, ``confidence``, ``value`` and ``cost_per_flop``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayescale.errors import InputError
from bayescale.targets import check_interval, check_targets

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

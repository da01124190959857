"""The one exception hierarchy of bayescale.

Every error a user can cause derives from :class:`BayescaleError`; the command line maps
:class:`InputError` to exit code 2 and :class:`ConvergenceError` to exit code 3.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BayescaleError(Exception):
    """Base class for all errors raised on purpose by bayescale."""


class InputError(BayescaleError, ValueError):
    """Bad input data, option or file: what is wrong, where, and what is expected."""


class ConvergenceError(BayescaleError, RuntimeError):
    """The sampler did not reach the documented convergence thresholds.

    Parameters
    ----------
    message
        Human-readable description of which checks failed.
    result
        The result object (fit or forecast) computed despite the failure, so a caller that
        accepts unconverged fits can still use it.
    """

    def __init__(self, message: str, result: object | None = None) -> None:
        super().__init__(message)
        self.result = result


def expect(value: object, kind: type, what: str) -> None:
    """Refuse an argument of another type at once, not with an AttributeError deep inside.

    ``what`` says what the function takes (``"forecast_loss takes a LossFit (fit_loss(data))"``);
    a :class:`~bayescale.saved.SavedFit` given for its fit is told to pass ``saved.fit``.
    """
    if isinstance(value, kind):
        return
    hint = " (a SavedFit: pass its .fit)" if type(value).__name__ == "SavedFit" else ""
    raise InputError(f"{what}, got {type(value).__name__}{hint}.")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close.

    Examples
    --------
    >>> did_you_mean("lost", ["loss", "compute"])
    " Did you mean 'loss'?"
    >>> did_you_mean("COMPUTE", ["loss", "compute"])  # differs only in case
    " Did you mean 'compute'?"
    >>> did_you_mean("--budget", ["--quiet", "--seed"])  # options compared without "--"
    ''
    """
    choices = list(choices)
    key = word.lstrip("-")  # options compared by name: a shared "--" is no resemblance
    bare: dict[str, str] = {}
    for c in choices:
        bare.setdefault(c.lstrip("-"), c)
    match = [c for c in choices if c.lstrip("-").casefold() == key.casefold()] or [
        bare[b] for b in difflib.get_close_matches(key, list(bare), n=1, cutoff=0.6)
    ]
    return f" Did you mean '{match[0]}'?" if match else ""

"""Tick labels of the figures' log axes, in plain text.

Its own module, below :mod:`bayescale.plots` and the laws' figure functions, so that every
figure labels its axes the same way without importing the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from matplotlib.axis import Axis


def plain_ticks(axis: Axis) -> None:
    """Label a log axis with plain numbers (``2``, ``0.5``), not ``2 × 10^0``.

    Minor ticks are labelled at 2 and 5 times a power of ten, and only when the axis spans
    two decades or less (else the decades alone are labelled).
    """

    def minor(value: float, _: object) -> str:
        lo, hi = axis.get_view_interval()
        if value <= 0 or lo <= 0 or hi / lo > 100:
            return ""
        mantissa = value / 10 ** np.floor(np.log10(value) + 1e-9)
        near = round(mantissa)
        return f"{value:g}" if near in (2, 5) and abs(mantissa - near) < 1e-6 else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power(value: float) -> tuple[int, float]:
    """``value`` as (exponent, mantissa) in base ten, the mantissa in [1, 10)."""
    exponent = int(np.floor(np.log10(value) + 1e-9))
    return exponent, value / 10.0**exponent


def power_ticks(axis: Axis) -> None:
    """Label a log axis of compute or sizes ``10²¹``, ``2×10²¹``, in plain text.

    Decades are labelled always; minor ticks at 2 and 5 times a power of ten when the axis
    spans two decades or less, and every minor tick under half a decade. Plain text, not
    matplotlib's default mathtext labels, whose parser costs a new process 0.1-0.2 s of CPU.
    """

    def text(exponent: int, mantissa: int) -> str:
        power = "10" + str(exponent).translate(_SUPERSCRIPT)
        return power if mantissa == 1 else f"{mantissa}×{power}"

    def major(value: float, _: object) -> str:
        if value <= 0:
            return ""
        exponent, mantissa = _power(value)
        return text(exponent, 1) if abs(mantissa - 1) < 1e-6 else ""

    def minor(value: float, _: object) -> str:
        lo, hi = axis.get_view_interval()
        if value <= 0 or lo <= 0 or hi / lo > 100:
            return ""
        exponent, mantissa = _power(value)
        near = round(mantissa)
        wanted = near in (2, 5) or hi / lo < 10**0.5
        return text(exponent, near) if wanted and abs(mantissa - near) < 1e-6 else ""

    axis.set_major_formatter(FuncFormatter(major))
    axis.set_minor_formatter(FuncFormatter(minor))

"""Short summaries of result objects for the REPL and for notebooks.

Every public result (data, fits, forecasts, decisions, results) shows a title and a few
``key: value`` lines as its ``repr`` and the same as a small HTML table in Jupyter
(``_repr_html_``), instead of dumping its arrays. The objects build their own rows; this module
only lays them out. Nothing here imports PyMC.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

#: Longest value shown in a summary line before it is cut with an ellipsis.
MAX_VALUE = 160


def _cut(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[: MAX_VALUE - 1] + "…"


def percent(probability: float) -> str:
    """A probability (an interval's, a confidence) as a percentage with the digits it needs.

    ``0.9`` -> ``'90%'``, ``0.995`` -> ``'99.5%'``, ``0.975`` -> ``'97.5%'``: rounded to whole
    percent, a 99.5% interval read "100% interval" and a 97.5% confidence "98%".

    >>> percent(0.9), percent(0.995), percent(0.999999)
    ('90%', '99.5%', '99.9999%')
    """
    for digits in range(7):
        text = f"{probability:.{digits}%}"
        if abs(float(text[:-1]) / 100 - probability) < 1e-12:
            return text
    return f"{probability:.6%}"


def three_places(value: float) -> str:
    """A loss to three decimals, or to three digits where decimals would show nothing.

    >>> three_places(2.5401), three_places(2.58e-06)
    ('2.540', '2.58e-06')
    """
    return f"{value:.3f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"


def rate(value: float) -> str:
    """A pass rate to three significant digits, never rounded up to a perfect ``1``.

    >>> rate(0.332), rate(0.99990), rate(1.0)
    ('0.332', '0.9999', '1')
    """
    for digits in range(3, 10):
        text = f"{value:.{digits}g}"
        if value >= 1 or float(text) < 1:
            return text
    return text


def plural(count: int, word: str) -> str:
    """``1 bucket``, ``3 buckets``: a count and its noun, for messages."""
    return f"{count} {word}" + ("" if count == 1 else "s")


class Summarised:
    """A base for objects shown by a ``_summary() -> (title, rows)``: its text and HTML forms.

    A dataclass subclass needs ``repr=False``, or the dataclass's own ``__repr__`` wins.
    """

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return text_summary(*self._summary())

    def _repr_html_(self) -> str:
        return html_summary(*self._summary())


def text_summary(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """``Title`` followed by aligned ``key: value`` lines."""
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join([title, *(f"  {k.ljust(width)}  {_cut(v)}" for k, v in rows)])


def html_summary(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """The same summary as an HTML table for Jupyter."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(_cut(v))}</td></tr>"
        for k, v in rows
    )
    return f"<div><strong>{html.escape(title)}</strong><table>{body}</table></div>"


def result_summary(result: Any, title: str) -> tuple[str, list[tuple[str, str]]]:
    """Summary rows of a loss or pass result: the forecast, the decisions, the diagnostics."""
    _, rows = result.fit._summary()
    rows = [r for r in rows if r[0] in ("data", "diagnostics")]
    _, forecast_rows = result.forecast._summary()
    rows += forecast_rows
    rows += [("decision", d.sentence()) for d in result.decisions]
    return title, rows


def common_rows(fit: Any) -> list[tuple[str, str]]:
    """Summary rows every law's fit shows: diagnostics, sampler, timing, where the draws are."""
    d = fit.diagnostics
    status = "ok" if d.ok else "FAILED: " + "; ".join(d.problems())
    groups = ", ".join(sorted(fit.idata.children))
    return [
        (
            "diagnostics",
            f"{status} (R-hat max {d.r_hat_max:.3f}, bulk ESS min {d.ess_bulk_min:.0f}, "
            f"{d.divergences} divergences)",
        ),
        (
            "sampler",
            f"{d.chains} chains x {d.draws} draws, seed {fit.settings.seed}, "
            f"{fit.timing_s.get('sampling', float('nan')):.1f} s sampling",
        ),
        ("idata", f"DataTree groups: {groups} (ArviZ works on it)"),
    ]

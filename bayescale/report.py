"""What every law's report shares: the JSON document's tail and Markdown and terminal helpers.

Each law's document, ``report.md`` and command-line lines (docs/formats.md) are built in its
own module (:mod:`bayescale.loss_report`, :mod:`bayescale.pass_report`,
:mod:`bayescale.nd_report`, :mod:`bayescale.accuracy_report`) from these. Pure functions over
result objects; nothing here imports PyMC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decision import Decision
from bayescale.diagnostics import Diagnostics
from bayescale.display import percent, rate
from bayescale.results import Result


def clean_json(value: Any) -> Any:
    """Turn NumPy scalars into plain Python and non-finite floats into ``None`` (no NaN)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean_json(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    return value


def document_tail(result: Result) -> dict[str, Any]:
    """What every law's result document ends with.

    ``parameters``, ``held_out``, ``diagnostics``, ``warnings``, ``sampler``, ``timing_s``,
    and ``forecast_seed`` when the forecast was seeded apart from its sampler.
    """
    fit = result.fit
    own = getattr(fit, "forecast_seed", None)
    return {
        "parameters": result.parameters.to_dict(orient="records"),
        "held_out": result.held_out.to_dict(orient="records"),
        "diagnostics": fit.diagnostics.to_dict(),
        "warnings": list(result.warnings),
        "sampler": fit.settings.as_attrs(),
        "timing_s": {k: round(v, 3) for k, v in fit.timing_s.items()},
    } | ({} if own is None else {"forecast_seed": int(own)})


def _fmt(number: float | np.floating) -> str:
    value = float(number)
    if not np.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def markdown_text(value: object) -> str:
    """User text (a group, model or file name) made inert in Markdown.

    Markdown and HTML characters are backslash-escaped, so ``a|b`` stays in its table cell
    and ``<img>`` or ``**x**`` stay literal; line breaks become spaces (a cell is one line).
    """
    text = " ".join(str(value).splitlines()) if str(value) else ""
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown_table(frame: pd.DataFrame, rates: Collection[str] = ()) -> str:
    """Render a DataFrame as a GitHub Markdown table with compact numbers.

    Columns named in ``rates`` hold pass rates, shown by :func:`bayescale.display.rate` so
    that 0.99996 does not print as a perfect ``1``.
    """
    header = "| " + " | ".join(markdown_text(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [
            (rate(float(v)) if c in rates and np.isfinite(v) else _fmt(v))
            if isinstance(v, float | np.floating)
            else ("–" if v is None else markdown_text(v))
            for c, v in zip(frame.columns, row, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def diagnostics_lines(diag: Diagnostics, timing_s: dict[str, float]) -> list[str]:
    """The report's Diagnostics section."""
    status = "converged" if diag.ok else "NOT CONVERGED: " + "; ".join(diag.problems())
    return [
        "## Diagnostics",
        "",
        f"- {status}: R-hat max {diag.r_hat_max:.3f}, bulk ESS min {diag.ess_bulk_min:.0f}, "
        f"tail ESS min {diag.ess_tail_min:.0f}, {diag.divergences} divergences "
        f"({diag.chains} chains x {diag.draws} draws).",
        f"- Sampling took {timing_s.get('sampling', float('nan')):.1f} s "
        "(JAX NUTS via numpyro, compile included).",
    ]


def head_lines(result: Result, title: str) -> list[str]:
    """A report's head, every law: the title, warnings, decisions, best compute, Data heading."""
    lines = [f"# {title}", ""]
    lines += warning_lines(result.warnings)
    for d in result.decisions:
        lines += [f"**{markdown_text(d.sentence())}**", "", needed_line(d), ""]
    if result.choice is not None:
        lines += [result.choice.sentence(), ""]
    return [*lines, "## Data", ""]


def warning_lines(warnings: tuple[str, ...] | list[str]) -> list[str]:
    """The report's warnings about the targets, before anything else."""
    return [f"> **Warning:** {markdown_text(w)}" for w in warnings] + ([""] if warnings else [])


def needed_line(d: Decision) -> str:
    """Compute needed with its interval, for the report."""
    return (
        f"Compute needed: the fitted curve meets `{d.requirement.text}` {d.needed_span('.3g')} "
        f"({percent(d.confidence)} interval of the posterior)."
    )


def summary_grid(
    corner: str,
    rows: dict[str, dict[float, str]],
    targets: Sequence[float],
    heads: Sequence[str] | None = None,
) -> list[str]:
    """An aligned table: one row per label, one column per target compute.

    ``heads``: the columns' headings (default: each target in FLOPs).
    """
    head = [corner, *(heads if heads is not None else (f"{t:.3g} FLOPs" for t in targets))]
    labels = [shorten_label(label) for label in rows]
    if len(set(labels)) < len(labels):  # shortened alike: the full labels tell them apart
        labels = list(rows)
    body = [
        [label, *(cells[t] for t in targets)]
        for label, cells in zip(labels, rows.values(), strict=True)
    ]
    widths = [max(display_width(r[i]) for r in [head, *body]) for i in range(len(head))]
    return [
        "  "
        + "  ".join(
            c + " " * (w - display_width(c)) for c, w in zip(r, widths, strict=True)
        ).rstrip()
        for r in [head, *body]
    ]


#: Longest label, in terminal cells, that :func:`summary_grid` shows whole: a longer one would
#: push every number of the table that far right (a 5,000-character group name did).
LABEL_CELLS = 40


def display_width(text: str) -> int:
    """Terminal cells ``text`` takes: 2 for wide characters (CJK, emoji), 0 for combining marks.

    Examples
    --------
    >>> display_width("web"), display_width("网页"), display_width("e\u0301")
    (3, 4, 1)
    """
    import unicodedata

    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def shorten_label(label: str, cells: int = LABEL_CELLS) -> str:
    """``label`` whole when it fits in ``cells`` terminal cells, else its start and end around '…'.

    Examples
    --------
    >>> shorten_label("web")
    'web'
    >>> shorten_label("x" * 30 + "y" * 30)
    'xxxxxxxxxxxxxxxxxxx…yyyyyyyyyyyyyyyyyyyy'
    """
    if display_width(label) <= cells:
        return label
    head, tail = "", ""
    for c in label:  # the start: up to half the cells, less the ellipsis
        if display_width(head + c) > (cells - 1) // 2:
            break
        head += c
    for c in reversed(label):
        if display_width(head + tail + c) > cells - 1:
            break
        tail = c + tail
    return f"{head}…{tail}"

"""Posterior and predictive draws as plain arrays, and their summaries (both laws).

Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from bayescale.display import Summarised

if TYPE_CHECKING:
    import pandas as pd

#: Rows of a forecast's table its summary shows; the rest are counted.
SHOWN_ROWS = 12

#: The columns of a held-out run scored against its predictive draws, after the columns that
#: name it (every law's ``held_out`` table).
SCORE_COLUMNS = ("observed", "median", "lower", "upper", "covered", "rel_error")


def scatter_noise(rng: np.random.Generator, priors: Any, size: tuple[int, ...]) -> np.ndarray:
    r"""A new run's standardised scatter :math:`\varepsilon`, from the fit's likelihood.

    Student-t with ``priors.student_t_nu`` degrees of freedom when ``priors.likelihood`` is
    ``"student_t"``, else standard normal (``LossPriors``, ``NDPriors``); a new run's log loss
    is the curve's plus :math:`\sigma\varepsilon`, the model's scatter (:mod:`bayescale.scatter`).
    """
    if priors.likelihood == "student_t":
        return rng.standard_t(priors.student_t_nu, size=size)
    return rng.standard_normal(size=size)


def stacked_draws(idata: xr.DataTree, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with chains stacked: shape ``(sample, *dims)``."""
    da = idata["posterior"][name]
    return np.asarray(da.values).reshape(-1, *da.shape[2:])


def blocks(n: int, width: int) -> list[slice]:
    """Slices of ``range(n)`` of ``width`` positions each (at least 2), in order.

    For computing per-row or per-column statistics of a large array a block at a time with
    the same numbers as in one array: NumPy sums a single row or column of a 2-d array in
    another order than it does two or more (pairwise or one after another), so no block has
    one position unless ``n`` is 1 (a last block of one joins the one before).

    Examples
    --------
    >>> blocks(5, 2)
    [slice(0, 2, None), slice(2, 5, None)]
    """
    width = max(2, width)
    starts = list(range(0, n, width))
    if len(starts) > 1 and n - starts[-1] < 2:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]


def summarise(values: np.ndarray, interval: float, axis: int = 0) -> dict[str, np.ndarray]:
    """Median, central interval bounds and mean of draws along ``axis``."""
    tail = (1 - interval) / 2
    lower, median, upper = np.quantile(values, [tail, 0.5, 1 - tail], axis=axis)
    return {
        "median": median,
        "lower": lower,
        "upper": upper,
        "mean": values.mean(axis=axis),
    }


def target_rows(
    targets: np.ndarray,
    labels: Sequence[object] | np.ndarray,
    label: str,
    summaries: Mapping[str, Mapping[str, np.ndarray]],
    per_label: Mapping[str, Sequence[object]] | None = None,
) -> list[dict[str, object]]:
    """One row per (label, target) of a forecast's table (any law).

    Each row holds the target, the label (column ``label``), ``per_label`` values of that
    label, then every summary's statistics (arrays ``(label, target)``) under its key as a
    prefix: ``{"curve_": summarise(...)}`` gives ``curve_median``, ...
    """
    rows: list[dict[str, object]] = []
    for li, name in enumerate(labels):
        for ti, target in enumerate(targets):
            row: dict[str, object] = {"target_compute": float(target), label: str(name)}
            row |= {key: values[li] for key, values in (per_label or {}).items()}
            for prefix, stats in summaries.items():
                row |= {f"{prefix}{k}": float(v[li, ti]) for k, v in stats.items()}
            rows.append(row)
    return rows


def shown_rows(
    table: pd.DataFrame, row: Callable[[Any], tuple[str, str]], more: str = ".table()"
) -> list[tuple[str, str]]:
    """A summary's rows of a forecast table: the first :data:`SHOWN_ROWS`, then a count."""
    rows = [row(r) for r in table.head(SHOWN_ROWS).itertuples()]
    if len(table) > SHOWN_ROWS:
        rows.append(("…", f"{len(table) - SHOWN_ROWS} more rows: {more}"))
    return rows


class Forecast(Summarised):
    """What a forecast of every law shares: its targets and how it shows itself.

    A law's forecast is a ``@dataclass(frozen=True, repr=False)`` subclass with ``draws`` (an
    ``xarray.Dataset`` with a ``compute`` coordinate), ``_summary() -> (title, rows)`` and
    ``table() -> pandas.DataFrame`` (one row per target and group, bucket or ladder).
    """

    draws: xr.Dataset

    @property
    def targets(self) -> np.ndarray:
        """The target computes in FLOPs."""
        return np.asarray(self.draws["compute"].values)

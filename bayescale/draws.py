"""Posterior and predictive draws as plain arrays, and their summaries (both laws).

Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def stacked_draws(idata: xr.DataTree, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with chains stacked: shape ``(sample, *dims)``."""
    da = idata["posterior"][name]
    return np.asarray(da.values).reshape(-1, *da.shape[2:])


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

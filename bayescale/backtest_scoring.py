r"""Scoring of held-out forecasts, the same for every method and law.

Coverage of the central 50%, 80% and 90% intervals, relative error of the median, CRPS
relative to the truth, relative width, and the probability integral transform (``pit``); the
formulas are in :mod:`bayescale.backtest`'s docstring. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from bayescale.errors import InputError
from bayescale.sampler_settings import SamplerSettings
from bayescale.seeds import key_seed

#: Interval levels every backtest scores.
LEVELS = (0.5, 0.8, 0.9)


def sample_crps(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    r"""CRPS of sample forecasts: ``draws`` ``(sample, case)`` against ``truth`` ``(case,)``.

    Uses :math:`E|X - X'| = \frac{2}{S^2}\sum_i (2i - S - 1) x_{(i)}` on the sorted draws.

    Examples
    --------
    >>> float(sample_crps(np.array([[1.0], [1.0]]), np.array([3.0]))[0])
    2.0
    """
    draws = np.sort(np.asarray(draws, dtype=float), axis=0)
    s = draws.shape[0]
    weights = (2 * np.arange(1, s + 1) - s - 1)[:, None]
    spread = 2.0 * (weights * draws).sum(axis=0) / s**2
    return np.asarray(np.abs(draws - truth[None, :]).mean(axis=0) - 0.5 * spread)


def score_draws(truth: np.ndarray, draws: np.ndarray, interval: float = 0.9) -> pd.DataFrame:
    """Score sample forecasts ``(sample, case)`` against the truths ``(case,)``.

    Returns
    -------
    pandas.DataFrame
        One row per case: ``truth``, ``median``, ``lower``/``upper`` (central ``interval``),
        ``covered``, ``covered_<level>`` for :data:`LEVELS`, ``pit``, ``crps``, ``rel_error``,
        ``rel_width``.
    """
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    tail = (1 - interval) / 2
    lower, median, upper = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
    frame = pd.DataFrame(
        {
            "truth": truth,
            "median": median,
            "lower": lower,
            "upper": upper,
            "covered": (lower <= truth) & (truth <= upper),
        }
    )
    for level in LEVELS:
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        frame[f"covered_{level}"] = (lo <= truth) & (truth <= hi)
    frame["pit"] = (draws < truth).mean(axis=0) + 0.5 * (draws == truth).mean(axis=0)
    frame["crps"] = sample_crps(draws, truth)
    frame["rel_error"] = median / truth - 1
    frame["rel_width"] = (upper - lower) / median
    return frame


def score_point(truth: np.ndarray, prediction: np.ndarray) -> pd.DataFrame:
    """Score point forecasts: no interval, CRPS is the absolute error."""
    truth = np.asarray(truth, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    frame = pd.DataFrame({"truth": truth, "median": prediction})
    for column in ("lower", "upper", "covered", "pit", "rel_width"):
        frame[column] = None
    for level in LEVELS:
        frame[f"covered_{level}"] = None
    frame["crps"] = np.abs(prediction - truth)
    frame["rel_error"] = prediction / truth - 1
    return frame


def summarise_cases(cases: pd.DataFrame) -> dict[str, Any]:
    """Coverage per level, median |relative error|, mean CRPS/truth and median width.

    Coverages and width are ``None`` for point forecasts (and with no cases).
    """
    n = len(cases)
    probabilistic = n > 0 and cases["covered"].notna().all()
    coverage = {
        str(level): float(cases[f"covered_{level}"].astype(bool).mean()) if probabilistic else None
        for level in LEVELS
    }
    return {
        "n_cases": n,
        "coverage": coverage,
        "median_abs_rel_error": float(np.median(np.abs(cases["rel_error"]))) if n else None,
        "mean_crps_rel": float(np.mean(cases["crps"] / np.abs(cases["truth"]))) if n else None,
        "median_rel_width": (
            float(np.median(cases["rel_width"].astype(float))) if probabilistic else None
        ),
    }


def observed_coverage(cases: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
    """Share of cases whose central interval at each level holds the truth (from ``pit``)."""
    pit = cases["pit"].astype(float).to_numpy()
    needed = np.abs(2 * pit - 1)
    return np.array([(needed <= q).mean() for q in levels])


def check_ratio(ratio: float) -> float:
    """Refuse a ratio that would hold nothing out."""
    if not (np.isfinite(ratio) and ratio > 1):
        raise InputError(
            f"--ratio must be > 1 (fit on compute <= max / R, forecast the rest), got {ratio}."
        )
    return float(ratio)


def ratio_fits(
    ratios: list[float], settings: SamplerSettings | None, kind: str
) -> Iterator[tuple[float, SamplerSettings]]:
    """Each ratio, checked, with the sampler settings of its fit.

    The seed is keyed by the law and the ratio (:func:`bayescale.seeds.key_seed`), so a
    split's fit draws the same way whatever other ratios run with it.
    """
    settings = settings or SamplerSettings()
    for ratio in ratios:
        ratio = check_ratio(ratio)
        yield ratio, replace(settings, seed=key_seed(settings.seed, kind, round(ratio * 1000)))


def with_meta(
    scored: pd.DataFrame,
    case: list[str],
    group: list[str],
    target: np.ndarray,
    cut: np.ndarray,
) -> pd.DataFrame:
    """Scored cases with what they are: case, group, target and fitted compute, ratio."""
    meta = pd.DataFrame(
        {
            "case": case,
            "group": group,
            "target_compute": np.asarray(target, dtype=float),
            "fit_max_compute": np.asarray(cut, dtype=float),
        }
    )
    meta["extrapolation"] = meta["target_compute"] / meta["fit_max_compute"]
    return pd.concat([meta, scored.reset_index(drop=True)], axis=1)

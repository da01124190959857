"""The accuracy entry's backtest: each family's largest models left out and forecast.

For a ratio R every family is cut at its own largest compute / R
(:func:`bayescale.accuracy_data.accuracy_split`; R just above 1, e.g. 1.01, leaves exactly
each family's largest model out), all families in one fit, so a family's held-out models are
forecast from its smaller ones and the other families' exponents. Families left with fewer
than three fitted sizes are skipped (kept in the fit, not scored). Each held-out (model,
benchmark) row is scored against a new model's predictive draws at its compute
(:func:`bayescale.accuracy_forecast.score_held_out_rows`, :mod:`bayescale.backtest_scoring`). No
baseline is run here: the no-floor line, the per-ladder floor fit and the unpooled model are
compared in ``benchmarks/accuracy_backtest.py`` (docs/accuracy.md), one family at a time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from bayescale.accuracy import fit_accuracy
from bayescale.accuracy_data import (
    AccuracyColumns,
    AccuracyData,
    AccuracyPriors,
    accuracy_split,
    default_axis,
    law_compute,
    load_accuracy_table,
)
from bayescale.accuracy_forecast import score_held_out_rows
from bayescale.backtest_report import Backtest, split_backtest
from bayescale.backtest_scoring import ratio_fits
from bayescale.errors import InputError
from bayescale.sampling import SamplerSettings


def load_accuracy_backtest(
    source: str | Path | pd.DataFrame,
    columns: AccuracyColumns | None = None,
    *,
    chance: Mapping[str, float | None] | None = None,
) -> AccuracyData:
    """Read the whole table for a backtest (the registry's ``load_for_backtest``).

    Chance rates come from ``chance`` (``--chance BENCH=G``; None learns the floor), a
    ``chance`` column or the defaults of named benchmarks, as for ``bayescale accuracy``; a
    benchmark with none of these learns its floor.
    """
    return load_accuracy_table(source, chance=chance, columns=columns)


def backtest_accuracy_ratios(
    data: AccuracyData,
    ratios: list[float],
    *,
    settings: SamplerSettings | None = None,
    priors: AccuracyPriors | None = None,
    interval: float = 0.9,
    floor: str = "chance",
    axis: str | None = None,
) -> list[Backtest]:
    """Cut, fit and score the table at each ratio: the accuracy entry's ``backtest``.

    ``settings``, ``priors``, ``floor`` and ``axis`` go to
    :func:`~bayescale.accuracy.fit_accuracy` (the seed keyed by the ratio); the accuracy law
    has no baselines, so their keywords are refused (a TypeError), not ignored. ``axis`` None is
    :func:`~bayescale.accuracy_data.default_axis`: Chinchilla's effective compute when every
    row has parameters and tokens (each held-out model forecast at its own N and D), else
    training compute; each record's ``model`` says which.

    Raises
    ------
    InputError
        On a ratio <= 1, a ratio that holds out no row, or the ``chinchilla`` axis on a table
        without parameters and tokens on every row.
    """
    axis = default_axis(data) if axis is None else axis
    law_compute(data, axis)  # refused before any sampling
    out = []
    for ratio, fit_settings in ratio_fits(ratios, settings, "accuracy"):
        split, fitted_max, skipped = accuracy_split(data, ratio)
        if not split.held_out.any():
            raise InputError(
                f"ratio {ratio:g} holds out no model (each family's largest compute / "
                f"{ratio:g}; families with fewer than three sizes left are skipped: "
                f"{', '.join(skipped) or 'none'})."
            )
        start = time.perf_counter()
        fit = fit_accuracy(
            split, priors, fit_settings, floor=floor, axis=axis, allow_unconverged=True
        )
        cases = score_held_out_rows(fit, interval)
        record = split_backtest(
            "accuracy",
            ratio,
            data.source,
            interval,
            (fitted_max, skipped),
            (fit, cases, time.perf_counter() - start),
            ({}, {}, {}),
        )
        out.append(replace(record, model={"axis": axis}))
    return out

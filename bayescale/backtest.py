r"""Backtests: leave the largest runs out, forecast them, and score the forecasts.

For a ratio :math:`R`, every group (loss) or bucket (aggregate pass rates) is fitted on its runs
with compute :math:`\le \max_g C / R` and each held-out run is forecast; per-problem pass
counts are cut at :math:`\max C / R` over all models. A group or bucket left with fewer
than three distinct fitted computes is skipped at that ratio (and listed as skipped).

Every forecast is scored the same way, whatever method made it:

- coverage of the central 50%, 80% and 90% intervals (``covered_<level>``);
- the relative error of the median, ``median / truth - 1``;
- the continuous ranked probability score (CRPS) divided by the truth: for draws
  :math:`x_1..x_S`, :math:`\mathrm{CRPS} = \frac1S\sum|x_s - y| - \frac1{2S^2}\sum_{s,t}|x_s -
  x_t|`; for a point forecast it is the absolute error;
- the relative width of the central interval, ``(upper - lower) / median``;
- the probability integral transform ``pit`` (the share of draws below the truth), from which
  the calibration plot reads the coverage at any level: a central interval at level q covers
  the truth when :math:`|2\,\mathrm{pit} - 1| \le q`.

Baselines on the same splits:

- ``report_point_fit``: least-squares point fit of the same law, one curve per group or bucket
  (for per-problem pass counts, problems solved by every fitted model, as in the GPT-4
  report); no interval;
- ``lsq_bootstrap``: the same fit on bootstrap resamples (runs, models, or a bucket's
  problems), percentile intervals of the resampled curves (Epoch AI's method);
- ``separate_bayes``: bayescale's own model fitted to each group or bucket alone: the same law
  and priors without partial pooling.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from bayescale.backtest_report import Backtest
from bayescale.errors import InputError
from bayescale.registry import get_law, law_of

log = logging.getLogger("bayescale")


def load_for_backtest(
    kind: str, source: str | Path | pd.DataFrame, columns: Any = None, **options: Any
) -> Any:
    """Read and validate a table of law ``kind`` for :func:`run_backtests` (no cut).

    ``options`` go to the law's loader (the accuracy law's ``chance`` rates).
    """
    return get_law(kind).load_for_backtest(source, columns, **options)


def run_backtests(
    data: Any, ratios: list[float] | tuple[float, ...], **kwargs: Any
) -> list[Backtest]:
    """Backtest ``data`` at each ratio through its law's entry; keyword arguments go to it.

    A ratio given twice is backtested once, in the order given.
    """
    ratios = list(dict.fromkeys(ratios))
    if not ratios:
        raise InputError("no --ratio given; e.g. --ratio 10 fits on compute <= max/10.")
    law = law_of(data)
    log.info("%s backtest at ratios %s", law.name, ", ".join(f"{r:g}" for r in ratios))
    return law.backtest(data, list(ratios), **kwargs)

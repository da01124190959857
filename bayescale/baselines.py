r"""Point-fit baselines: the GPT-4 report's method, for side-by-side comparison.

The report fitted :math:`-E_P[\ln p(C)] = \alpha C^{-k}` per bucket by least squares on
problems every model solved at least once, and gave point predictions. This module does the
same on a bayescale :class:`~bayescale.pass_data.PassCounts` table: per bucket, a straight line
through :math:`\ln(\text{mean}_j -\ln \hat p_{mj})` against :math:`\ln C_m` over the fitted
models, with :math:`\hat p = k / n`. Nothing here imports PyMC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayescale.buckets import DEFAULT_BUCKETS, make_buckets
from bayescale.laws import pass_law
from bayescale.pass_data import PassCounts


def report_point_fit(
    counts: PassCounts,
    targets: np.ndarray,
    n_buckets: int = DEFAULT_BUCKETS,
    exclude_hardest: int = 0,
) -> pd.DataFrame:
    """Predict each bucket's mean -ln(pass rate) at ``targets`` the GPT-4 report's way.

    Problems are restricted to those solved by every fitted model, bucketed on the fitted
    models, and each bucket's line is fitted by ordinary least squares in log-log space.

    Returns
    -------
    pandas.DataFrame
        One row per (target, bucket): ``target_compute``, ``bucket``, ``n_problems``,
        ``neg_log_pass`` (the point prediction), ``alpha`` and ``k``.
    """
    buckets = make_buckets(counts, n_buckets, exclude_hardest, eligibility="solved-by-all")
    fitted = np.flatnonzero(counts.models.fitted)
    kept = buckets.kept
    phat = counts.k[np.ix_(fitted, kept)] / counts.n[np.ix_(fitted, kept)]
    log_c = np.log(counts.models.compute[fitted])
    rows = []
    for b, label in enumerate(buckets.labels):
        sel = buckets.index == b
        y = np.log((-np.log(phat[:, sel])).mean(axis=1))
        slope, intercept = np.polyfit(log_c, y, 1)
        for t in np.atleast_1d(targets):
            rows.append(
                {
                    "target_compute": float(t),
                    "bucket": label,
                    "n_problems": int(sel.sum()),
                    "neg_log_pass": float(pass_law(np.log(t), intercept, -slope)),
                    "alpha": float(np.exp(intercept)),
                    "k": float(-slope),
                }
            )
    return pd.DataFrame(rows)

"""Tier 4 (real data, skipped when ../shared/data is absent): OLMo-2 ladder 1xC series.

Eval sets are the groups; the model is fitted on 190M-1B (with the reruns) and predicts the
3B runs, 5.6x beyond the largest fitted compute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale import LossOptions, SamplerSettings, run_loss
from benchmarks.calibration_real import olmo_1xc
from tests.helpers import shared_dataset

pytestmark = pytest.mark.sampling


def olmo_1xc_runs() -> pd.DataFrame:
    """The 1xC ladder runs in long format, as the real-data suite reads them."""
    shared_dataset("olmo_ladder")  # skip when the data folder is absent
    return olmo_1xc()


@pytest.fixture(scope="module")
def olmo_result():
    runs = olmo_1xc_runs()
    options = LossOptions(
        targets=(float(runs["compute"].max()),),
        fit_max_compute=5e20,
        sampler=SamplerSettings(seed=1, progress=False),
    )
    return run_loss(runs, options)


def test_olmo_fit_converges_and_predicts_3b_within_2_percent(olmo_result):
    held = olmo_result.held_out
    assert olmo_result.fit.diagnostics.ok
    assert len(held) == 22  # 11 eval sets x (3B-1xC and its rerun)
    assert np.median(np.abs(held["rel_error"])) < 0.02


def test_olmo_3b_inside_90_interval(olmo_result):
    """Measured without the law discrepancy: 2 of 22; with it (s = 0.25): 20 of 22.

    The 3B-1xC runs sit ~1.2% above the law's extrapolation on 10 of 11 eval sets together,
    a miss that the posterior of four ladder sizes cannot anticipate and the discrepancy term
    (bayescale.priors) is there for.
    """
    held = olmo_result.held_out
    assert held["covered"].mean() >= 0.8
    # and not by blowing the intervals up: measured half-widths 2.6-5.2% of the median (the
    # steepest eval set, code, is the widest: the term scales with the local slope)
    half_width = (held["upper"] - held["lower"]) / 2 / held["median"]
    assert half_width.max() < 0.06
    assert half_width.median() < 0.045

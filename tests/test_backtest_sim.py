"""Tier 4 (slow): calibration of backtests on simulated datasets with known truth.

Each dataset is 3 groups x 16 runs over 1e17-1e21 FLOPs from :func:`random_loss_truth`; the
backtest at ratio 100 fits on 1e17-1e19 and forecasts the 8 larger runs of every group (up
to 100x beyond). Three generators:

- ``exact``: the fitted law with normal scatter (0.5% on log loss);
- ``heavy_tails``: the law with Student-t (3 d.o.f.) scatter of the same scale;
- ``bending``: not the fitted law: 15% of the irreducible loss is a slow power law
  ``0.15 c (C / 1e17)^-0.05`` that a single ``a C^b + c`` can only approximate.

Cases within a dataset share a posterior, so coverage is read at the level of datasets too;
the bounds below allow for that (24 cases per dataset, 8 datasets per generator).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.data import load_loss_runs
from bayescale.loss_backtest import backtest_loss
from bayescale.sampling import SamplerSettings
from bayescale.simulate import random_loss_truth

pytestmark = pytest.mark.slow

DATASETS = 8
SCATTER = 0.005


def simulated_runs(kind: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = random_loss_truth(rng)
    compute = np.logspace(17, 21, 16)
    rows = []
    for group, curve in truth.items():
        mean = curve(compute)
        if kind == "bending":
            mean = mean - 0.15 * curve.c + 0.15 * curve.c * (compute / 1e17) ** -0.05
        if kind == "heavy_tails":
            noise = rng.standard_t(3, compute.size)
        else:
            noise = rng.standard_normal(compute.size)
        for i, (c, y) in enumerate(zip(compute, mean * np.exp(SCATTER * noise), strict=True)):
            rows.append({"name": f"{group}-{i}", "group": group, "compute": c, "loss": y})
    return pd.DataFrame(rows)


def coverage(kind: str) -> pd.DataFrame:
    frames = []
    for seed in range(DATASETS):
        data = load_loss_runs(simulated_runs(kind, seed))
        bt = backtest_loss(
            data,
            100.0,
            settings=SamplerSettings(draws=500, tune=500, seed=seed, progress=False),
            baselines=False,
        )
        frames.append(bt.cases.assign(dataset=seed))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(
    ("kind", "bounds"),
    [
        # (50% range, 80% range, 90% range) of observed coverage over 192 correlated cases
        ("exact", ((0.30, 0.75), (0.60, 0.95), (0.75, 1.0))),
        ("heavy_tails", ((0.25, 0.85), (0.55, 0.97), (0.70, 1.0))),
        ("bending", ((0.15, 0.80), (0.45, 0.97), (0.60, 1.0))),
    ],
)
def test_interval_coverage_on_simulations(kind, bounds):
    cases = coverage(kind)
    assert len(cases) == DATASETS * 3 * 8
    observed = [cases[f"covered_{level}"].mean() for level in (0.5, 0.8, 0.9)]
    print(kind, observed, np.median(np.abs(cases["rel_error"])))
    for value, (lo, hi) in zip(observed, bounds, strict=True):
        assert lo <= value <= hi, (kind, observed)

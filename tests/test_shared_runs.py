"""Tier 1: the warning about groups scored on the same runs (``forecast.shared_run_warnings``).

Flat curves (no reducible loss) with a point posterior at each group's mean log loss, so
that a run's residual is its own log loss less its group's mean: the test sets them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from bayescale.data import load_loss_runs
from bayescale.forecast import SHARED_RUN_Z, shared_run_correlation, shared_run_warnings
from bayescale.loss_fit import LossFit
from bayescale.priors import LossPriors
from tests.helpers import fake_loss_fit

DRAWS = 40


def point_fit(residuals: np.ndarray, computes: np.ndarray | None = None) -> LossFit:
    """Groups x runs of flat curves at level 2, the runs' log losses off it by ``residuals``.

    ``computes``: groups x runs (every group at ``logspace(18, 21, runs)`` by default).
    """
    groups, runs = residuals.shape
    if computes is None:
        computes = np.tile(np.logspace(18, 21, runs), (groups, 1))
    table = pd.DataFrame(
        [
            {"group": f"g{g}", "name": f"r{i}-g{g}", "compute": c, "loss": 2.0 * np.exp(e)}
            for g in range(groups)
            for i, (c, e) in enumerate(zip(computes[g], residuals[g], strict=True))
        ]
    )
    data = load_loss_runs(table)
    shape = (2, DRAWS, groups)
    posterior = {
        "level": np.full(shape, 2.0),
        "reducible": np.zeros(shape),
        "exponent": np.full(shape, 0.2),
        "sigma": np.full((2, DRAWS), 0.01),
    }
    return fake_loss_fit(data, posterior)


def test_eval_sets_of_the_same_runs_are_named():
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 0.01, 8)
    fit = point_fit(shared[None, :] + rng.normal(0, 0.002, (3, 8)))
    r, z, pairs = shared_run_correlation(fit)
    assert r > 0.9 and z > SHARED_RUN_Z and pairs == 3
    (warning,) = shared_run_warnings(fit)
    assert "look like eval sets of the same runs" in warning and "3 pairs" in warning


def test_groups_with_their_own_scatter_are_not_named():
    rng = np.random.default_rng(2)
    fit = point_fit(rng.normal(0, 0.01, (4, 8)))
    r, _, _ = shared_run_correlation(fit)
    assert abs(r) < 0.5
    assert shared_run_warnings(fit) == []


def test_one_group_or_few_shared_computes_say_nothing():
    rng = np.random.default_rng(3)
    luck = np.tile(rng.normal(0, 0.01, 8), (2, 1))  # the same luck in both groups
    grid = np.logspace(18, 21, 8)
    assert shared_run_correlation(point_fit(luck[:1])) is None
    assert shared_run_correlation(point_fit(luck)) is not None
    # no compute in common, then 3: too few to tell
    assert shared_run_correlation(point_fit(luck, np.vstack([grid, grid * 1.1]))) is None
    three = np.vstack([grid, np.concatenate([grid[:3], grid[3:] * 1.1])])
    assert shared_run_correlation(point_fit(luck, three)) is None


def test_the_warning_points_to_the_run_effect_and_is_silent_with_it():
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 0.01, 8)
    fit = point_fit(shared[None, :] + rng.normal(0, 0.002, (3, 8)))
    (warning,) = shared_run_warnings(fit)
    assert "--shared-runs" in warning
    with_effect = replace(fit, priors=LossPriors(shared_runs=True))
    assert shared_run_correlation(with_effect) is not None  # the residuals still correlate
    assert shared_run_warnings(with_effect) == []


def test_runs_matched_by_one_common_name_warn_of_the_computes_they_do_not_share():
    # per-group names and one "baseline" in every group: matched by name, 1 run shared of
    # the 8 computes every group holds, without a word (the JSON said only "shared": 1)
    rng = np.random.default_rng(1)
    fit = point_fit(rng.normal(0, 0.01, 8)[None, :] + rng.normal(0, 0.002, (3, 8)))
    fit = replace(fit, priors=LossPriors(shared_runs=True))
    names = np.where(
        np.char.startswith(fit.data.name.astype(str), "r0-"), "baseline", fit.data.name
    )
    (warning,) = shared_run_warnings(replace(fit, data=replace(fit.data, name=names)))
    assert "1 of 22 runs are scored in two or more groups, while 8 computes" in warning
    # one name for each run in every group shares them all: nothing to say
    same = np.array([n.split("-")[0] for n in fit.data.name.astype(str)], dtype=object)
    assert shared_run_warnings(replace(fit, data=replace(fit.data, name=same))) == []


def test_a_run_effect_scale_without_shared_runs_is_warned_as_unused():
    # a spec's [priors] run_effect_sd = 0.03 without shared_runs = true changed nothing, silently
    from bayescale.forecast import loss_target_warnings

    fit = point_fit(np.zeros((2, 6)))
    targets = np.array([1e22])
    (warning,) = [
        w
        for w in loss_target_warnings(fit.data, targets, LossPriors(run_effect_sd=0.03))
        if "run_effect_sd" in w
    ]
    assert warning.startswith("run_effect_sd = 0.03 is not used")
    for priors in (LossPriors(), LossPriors(run_effect_sd=0.03, shared_runs=True)):
        assert not [w for w in loss_target_warnings(fit.data, targets, priors) if "run_effect" in w]

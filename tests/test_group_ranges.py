"""Tier 1: groups whose runs start decades apart, and decisions that agree with themselves.

A target is checked against each group's own runs (a backcast for one group is named even
when another group has runs below it), the search for the compute needed starts at the
rule's group's smallest run, and GO at a target never comes with a compute needed above it.
No sampler: fake draws and a point posterior.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.data import load_loss_runs
from bayescale.decision import decide, parse_requirement
from bayescale.loss_fit import LossFit
from bayescale.pipeline import decide_loss
from bayescale.targets import target_warnings
from tests.helpers import fake_loss_fit

FITTED = {"small": np.logspace(17, 19, 5), "large": np.logspace(22, 24, 5)}


def test_a_target_below_one_groups_runs_is_named_a_backcast_for_it():
    (warning,) = target_warnings(np.array([1e20]), FITTED, rests_on="x")
    assert "below the smallest fitted run of group 'large'" in warning
    assert "backcast" in warning
    # below every group it is still refused, and accepted with allow_backcast
    with pytest.raises(Exception, match="backcast"):
        target_warnings(np.array([1e16]), FITTED, rests_on="x")


def test_a_target_inside_one_group_is_still_checked_against_the_others():
    warned = target_warnings(np.array([1e23]), FITTED, rests_on="the law")
    assert any("inside the fitted range of group 'large'" in w for w in warned)
    # 4 decades beyond 'small', whose runs span 2: a scenario, not the data
    (far,) = [w for w in warned if "beyond the largest fitted run of group 'small'" in w]
    assert "read it as a scenario" in far


def test_inside_several_groups_names_them():
    both = {"a": np.logspace(20, 22, 5), "b": np.logspace(19, 23, 5)}
    (warning,) = target_warnings(np.array([1e21]), both, rests_on="x")
    assert "of group 'a', 'b'" in warning


def _monotone_draws(compute):
    """A falling loss, one scatter draw per sample shared by every compute."""
    rng = np.random.default_rng(5)
    scale = rng.lognormal(0.0, 0.02, size=(4000, 1))
    return (1.8 + 20.0 * np.asarray(compute, dtype=float)[None, :] ** -0.07) * scale


@pytest.mark.parametrize("threshold", [2.3, 2.35, 2.4, 2.45])
@pytest.mark.parametrize("target", [1.23e21, 2.64e22, 3.7e22, 5.55e23])  # 2.64e22: GO by 0.05%
def test_go_and_the_compute_needed_agree_between_grid_points(threshold, target):
    rule = parse_requirement(f"loss<={threshold}")
    [d] = decide(rule, _monotone_draws, np.array([target]), 0.9, 1e18)
    assert d.probability == pytest.approx(np.mean(_monotone_draws([target]) <= threshold))
    needed = d.compute_needed_at_confidence
    if d.go:
        assert needed is not None and needed <= target
    else:
        assert needed is None or needed > target


def test_a_rule_met_where_the_search_starts_needs_no_compute():
    [d] = decide(parse_requirement("loss<=100"), _monotone_draws, np.array([1e22]), 0.9, 1e18)
    assert d.compute_needed_at_confidence == d.search_from == pytest.approx(1e18)
    assert "needs at most 1e+18 FLOPs (met already at the smallest compute" in d.sentence()
    [d] = decide(parse_requirement("loss<=2.4"), _monotone_draws, np.array([1e22]), 0.9, 1e18)
    assert "confidence needs" in d.sentence()


def _point_fit(tmp_path) -> LossFit:
    """Two groups of five runs, 1e17-1e19 and 1e22-1e24, and a point posterior."""
    table = pd.DataFrame(
        {
            "group": ["small"] * 5 + ["large"] * 5,
            "compute": [*np.logspace(17, 19, 5), *np.logspace(22, 24, 5)],
            "loss": [3.6, 3.5, 3.4, 3.3, 3.2, 3.0, 2.9, 2.8, 2.75, 2.7],
        }
    )
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    data = load_loss_runs(path)
    shape = (2, 200, len(data.groups))
    posterior = {
        "level": np.full(shape, 3.0),
        "reducible": np.full(shape, 0.4),
        "exponent": np.full(shape, 0.2),
        "sigma": np.full(shape[:2], 1e-3),
    }
    return fake_loss_fit(data, posterior)


def test_the_compute_needed_is_searched_from_the_rules_group(tmp_path):
    fit = _point_fit(tmp_path)
    [d] = decide_loss(fit, "large.loss<=100", 1e23)
    assert d.compute_needed_at_confidence == pytest.approx(1e22)  # not 1e17, 'small''s start
    [d] = decide_loss(fit, "small.loss<=100", 1e23)
    assert d.compute_needed_at_confidence == pytest.approx(1e17)

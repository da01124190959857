"""Tier 1: the diagnostics gate on hand-made posteriors (arviz_base.from_dict), no sampler."""

from __future__ import annotations

import numpy as np
import pytest
from arviz_base import from_dict

from bayescale.diagnostics import COPY_ATTR, diagnose

CHAINS, DRAWS = 4, 500


def _posterior(stuck_copy: bool):
    rng = np.random.default_rng(0)
    level = rng.normal(size=(CHAINS, DRAWS, 2))
    copy = level[:, :, [0, 0, 1]].copy()
    if stuck_copy:
        copy[0] += 5.0  # one chain elsewhere: R-hat far above 1.01 if it were checked
    idata = from_dict(
        {
            "posterior": {"level": level, "per_problem": copy},
            "sample_stats": {"diverging": np.zeros((CHAINS, DRAWS), dtype=bool)},
        }
    )
    return idata


def test_unmarked_variables_are_all_checked():
    diag = diagnose(_posterior(stuck_copy=True))
    assert not diag.ok and diag.worst == "per_problem"


def test_a_marked_copy_is_left_out():
    idata = _posterior(stuck_copy=False)
    full = diagnose(idata)
    idata["posterior"]["per_problem"].attrs[COPY_ATTR] = "level"
    skipped = diagnose(idata)
    # the copy repeats level's columns, so leaving it out changes nothing but the time
    assert skipped == full and skipped.worst == "level"


def test_explicit_names_override_the_marks():
    idata = _posterior(stuck_copy=True)
    idata["posterior"]["per_problem"].attrs[COPY_ATTR] = "level"
    assert diagnose(idata).ok
    assert not diagnose(idata, ["level", "per_problem"]).ok


def test_a_mark_naming_a_missing_or_skipped_variable_is_ignored():
    idata = _posterior(stuck_copy=True)
    idata["posterior"]["per_problem"].attrs[COPY_ATTR] = "gone"
    assert not diagnose(idata).ok
    # two variables marked as copies of each other: neither is skipped
    idata["posterior"]["per_problem"].attrs[COPY_ATTR] = "level"
    idata["posterior"]["level"].attrs[COPY_ATTR] = "per_problem"
    assert not diagnose(idata).ok


def _ar1(rng, phi, chains, draws, k=3, shift=0.0):
    x = np.zeros((chains, draws, k))
    noise = rng.standard_normal((chains, draws, k))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x + shift * np.arange(chains)[:, None, None]


def _cases():
    rng = np.random.default_rng(3)
    for phi in (0.0, 0.6, 0.99, -0.7):  # mixing well, slowly, hardly; anticorrelated
        for chains, draws in ((4, 400), (2, 7), (3, 51)):  # an odd length drops a middle draw
            yield f"ar{phi}-{chains}x{draws}", _ar1(rng, phi, chains, draws)
    yield "chains-disagree", _ar1(rng, 0.3, 4, 200, shift=2.0)
    stuck = _ar1(rng, 0.2, 4, 100)
    stuck[1, :, 0] = 1.0  # one chain stuck on one value: ties in the ranks
    yield "stuck-chain", stuck
    yield "constant", np.ones((4, 100, 2))
    yield "three-values", rng.integers(0, 3, (4, 300, 2)).astype(float)  # nearly all ties


@pytest.mark.parametrize(("name", "draws"), list(_cases()), ids=[n for n, _ in _cases()])
def test_rank_diagnostics_equal_arviz_stats(name, draws):
    """R-hat and bulk and tail ESS are ArviZ's (its rank-normalised split versions)."""
    import arviz_stats
    import xarray as xr

    from bayescale.diagnostics import TAIL_QUANTILES, bulk_ess, rank_rhat, tail_ess

    ds = xr.Dataset({"v": (("chain", "draw", "k"), draws)})
    tail_prob = TAIL_QUANTILES[1]  # ArviZ's interval probability p: quantiles 1 - p and p
    with np.errstate(all="ignore"):
        expected = {
            "rhat": arviz_stats.rhat(ds)["v"].values,
            "bulk": arviz_stats.ess(ds, method="bulk")["v"].values,
            "tail": arviz_stats.ess(ds, method="tail", prob=tail_prob)["v"].values,
        }
    got = {"rhat": rank_rhat(draws), "bulk": bulk_ess(draws), "tail": tail_ess(draws)}
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-10, equal_nan=True, err_msg=key)


def test_the_gate_does_not_read_arviz_settings():
    """A user's ArviZ interval (rcParams) moves no tail ESS of the gate."""
    from arviz_base import rcParams

    tree = from_dict({"posterior": {"a": np.random.default_rng(1).standard_normal((4, 200))}})
    before = diagnose(tree)
    old = rcParams["stats.ci_prob"]
    try:
        rcParams["stats.ci_prob"] = 0.5
        assert diagnose(tree) == before
    finally:
        rcParams["stats.ci_prob"] = old

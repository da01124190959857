"""Tier 1: the diagnostics gate on hand-made posteriors (arviz_base.from_dict), no sampler."""

from __future__ import annotations

import numpy as np
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

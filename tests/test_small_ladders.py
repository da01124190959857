"""Tier 4 (slow): a few of benchmarks/small_ladders.py's seeded small ladders, end to end.

The benchmark runs 100 (docs/convergence.md); this runs the first six through the same code:
every one must pass the gate (no exit 3) and each ladder step must be recorded.
"""

from __future__ import annotations

import pytest

from benchmarks.small_ladders import SEED, run

pytestmark = pytest.mark.slow


def test_small_ladders_all_pass_the_gate():
    result = run(6, SEED)
    assert result["exit_3"] == 0, result["exit_3_messages"]
    assert result["gate_passed"] == 6
    for fit in result["fits"]:
        assert fit["attempts"] and fit["attempts"][0]["why"] == "first fit"
        assert all(set(step) == {"what", "why", "seconds"} for step in fit["attempts"])
    assert 0 <= result["coverage"]["0.9"] <= 1

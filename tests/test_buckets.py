"""Tier 1: difficulty buckets over validated pass counts, no sampler."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from bayescale.buckets import (
    EXCLUDED,
    default_buckets,
    held_out_reference_warnings,
    make_buckets,
)
from bayescale.errors import InputError
from bayescale.pass_data import PassCounts, load_pass_counts
from bayescale.simulate import simulate_pass_counts

COMPUTE = {"small": 1e20, "medium": 1e21, "large": 1e22, "xl": 1e23}


def counts_of(passes: dict[str, list[int | None]], n: int = 10, **kwargs) -> PassCounts:
    """Per-problem counts from passes per model (``None``: the pair is missing)."""
    rows = [
        (model, COMPUTE[model], f"p{j + 1}", n, k)
        for model, ks in passes.items()
        for j, k in enumerate(ks)
        if k is not None
    ]
    frame = pd.DataFrame(rows, columns=["model", "compute", "problem", "n", "k"])
    return load_pass_counts(frame, **kwargs)


# Pooled passes (of 30) per problem: p1 15, p2 26, p3 3, p4 21, p5 9, p6 24:
# easiest to hardest p2, p6, p4, p1, p5, p3.
SCRAMBLED = {
    "small": [3, 7, 0, 5, 1, 6],
    "medium": [5, 9, 1, 7, 3, 8],
    "large": [7, 10, 2, 9, 5, 10],
}


@pytest.fixture(scope="module")
def simulated() -> PassCounts:
    table, _ = simulate_pass_counts(n_models=5, n_problems=40, samples=30, seed=11)
    return load_pass_counts(table)


def check_ordered(buckets) -> None:
    """Every problem of bucket b is at least as easy as every problem of bucket b + 1."""
    groups = [buckets.difficulty[buckets.index == b] for b in range(buckets.n_internal)]
    for easier, harder in itertools.pairwise(groups):
        assert easier.min() >= harder.max()


# --- sizes and order ----------------------------------------------------------------------


def test_hand_made_buckets_follow_pooled_pass_rate():
    buckets = make_buckets(counts_of(SCRAMBLED), n_buckets=3)
    assert buckets.labels == ("1", "2", "3")
    assert buckets.internal_labels == ("1", "2", "3")
    assert buckets.n_internal == 3
    np.testing.assert_array_equal(buckets.kept, np.arange(6))
    np.testing.assert_allclose(buckets.difficulty, np.array([15, 26, 3, 21, 9, 24]) / 30)
    # p2, p6 -> 1; p4, p1 -> 2; p5, p3 -> 3.
    np.testing.assert_array_equal(buckets.index, [1, 0, 2, 1, 2, 0])
    assert buckets.sizes() == [2, 2, 2]
    assert buckets.reference_models == ("small", "medium", "large")
    assert buckets.eligibility == "all"


@pytest.mark.parametrize(("n_buckets", "exclude"), [(1, 0), (3, 0), (4, 0), (6, 0), (4, 5), (7, 2)])
def test_sizes_are_near_equal_and_bucket_one_is_easiest(simulated, n_buckets, exclude):
    buckets = make_buckets(simulated, n_buckets=n_buckets, exclude_hardest=exclude)
    sizes = buckets.sizes()
    assert len(sizes) == n_buckets
    assert sum(sizes) == len(simulated.problems) - exclude
    assert max(sizes) - min(sizes) <= 1
    assert min(sizes) >= 1
    check_ordered(buckets)
    means = [buckets.difficulty[buckets.index == b].mean() for b in range(n_buckets)]
    assert means == sorted(means, reverse=True)


def test_simulated_buckets_track_the_true_difficulty():
    table, truth = simulate_pass_counts(n_models=5, n_problems=60, samples=200, seed=3)
    buckets = make_buckets(load_pass_counts(table), n_buckets=6)
    # The simulator sorts problems by theta (harder as theta grows), so the bucket index
    # rises with the true difficulty up to sampling noise in the ties.
    order = np.argsort(truth.theta)
    rho = pd.Series(buckets.index[order]).corr(pd.Series(np.arange(60)), method="spearman")
    assert rho > 0.9


# --- exclude_hardest ----------------------------------------------------------------------


def test_exclude_hardest_hand_made():
    buckets = make_buckets(counts_of(SCRAMBLED), n_buckets=2, exclude_hardest=2)
    assert buckets.labels == ("1", "2")
    assert buckets.internal_labels == ("1", "2", EXCLUDED)
    assert buckets.internal_labels[-1] == "excluded"
    assert buckets.n_internal == 3
    # p5 and p3 are the two hardest.
    np.testing.assert_array_equal(buckets.index, [1, 0, 2, 1, 2, 0])
    assert buckets.sizes() == [2, 2]


def test_exclude_hardest_simulated(simulated):
    buckets = make_buckets(simulated, n_buckets=4, exclude_hardest=7)
    excluded = buckets.index == len(buckets.labels)
    assert excluded.sum() == 7
    assert buckets.internal_labels[-1] == EXCLUDED
    assert len(buckets.internal_labels) == len(buckets.labels) + 1
    hardest = np.sort(buckets.difficulty)[:7]
    np.testing.assert_allclose(np.sort(buckets.difficulty[excluded]), hardest)
    assert buckets.difficulty[excluded].max() <= buckets.difficulty[~excluded].min()
    check_ordered(buckets)


def test_no_excluded_bucket_without_exclusion(simulated):
    buckets = make_buckets(simulated, n_buckets=4)
    assert EXCLUDED not in buckets.internal_labels
    assert (buckets.index < 4).all()


# --- bucket_by ----------------------------------------------------------------------------

# The small model ranks the problems the other way round from the medium and large ones.
DISAGREE = {
    "small": [9, 7, 5, 3, 1, 0],
    "medium": [1, 2, 4, 6, 8, 9],
    "large": [2, 3, 5, 7, 9, 10],
}


def test_bucket_by_changes_the_order():
    counts = counts_of(DISAGREE)
    default = make_buckets(counts, n_buckets=3)
    by_small = make_buckets(counts, n_buckets=3, bucket_by=("small",))
    by_large = make_buckets(counts, n_buckets=3, bucket_by=("medium", "large"))
    assert default.reference_models == ("small", "medium", "large")
    assert by_small.reference_models == ("small",)
    assert by_large.reference_models == ("medium", "large")
    np.testing.assert_array_equal(by_small.index, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(by_large.index, [2, 2, 1, 1, 0, 0])
    assert not np.array_equal(by_small.index, by_large.index)
    np.testing.assert_allclose(by_small.difficulty, np.array(DISAGREE["small"]) / 10)
    check_ordered(by_small)
    check_ordered(by_large)


def test_bucket_by_may_name_a_held_out_model():
    passes = {**DISAGREE, "xl": [0, 1, 2, 3, 4, 5]}
    counts = counts_of(passes, fit_max_compute=1e22)
    buckets = make_buckets(counts, n_buckets=2, bucket_by=("xl",))
    assert buckets.reference_models == ("xl",)
    np.testing.assert_array_equal(buckets.index, [1, 1, 1, 0, 0, 0])
    # allowed, but the buckets then use the results the fit is asked to predict: say so
    both = make_buckets(counts, n_buckets=2, bucket_by=("large", "xl"))
    (warning,) = held_out_reference_warnings(counts.models, both)
    assert "held-out model 'xl'" in warning and "large" not in warning
    assert "not out of sample" in warning


def test_bucket_by_fitted_models_gives_no_warning():
    passes = {**DISAGREE, "xl": [0, 1, 2, 3, 4, 5]}
    counts = counts_of(passes, fit_max_compute=1e22)
    assert held_out_reference_warnings(counts.models, make_buckets(counts, n_buckets=2)) == []
    by_large = make_buckets(counts, n_buckets=2, bucket_by=("large",))
    assert held_out_reference_warnings(counts.models, by_large) == []
    assert held_out_reference_warnings(counts.models, None) == []


def test_bucket_by_unknown_model_suggests_the_closest():
    with pytest.raises(InputError) as info:
        make_buckets(counts_of(DISAGREE), n_buckets=2, bucket_by=("large", "meduim"))
    message = str(info.value)
    assert "--bucket-by: no model 'meduim'." in message
    assert "Did you mean 'medium'?" in message
    assert "Models: small, medium, large." in message


def test_bucket_by_unrelated_name_has_no_hint():
    with pytest.raises(InputError) as info:
        make_buckets(counts_of(DISAGREE), n_buckets=2, bucket_by=("zzzz",))
    assert "no model 'zzzz'" in str(info.value)
    assert "Did you mean" not in str(info.value)


# --- eligibility --------------------------------------------------------------------------


def test_solved_by_all_drops_problems_a_fitted_model_never_solved():
    passes = {
        "small": [3, 0, 4, 2, 6, None, 5, 1],
        "medium": [5, 2, 6, 0, 7, 4, 6, 3],
        "large": [7, 4, 8, 5, 9, 6, 8, 6],
        # Held out: its zeros on p1 and p8 do not count.
        "xl": [0, 6, 9, 7, 9, 8, 9, 0],
    }
    counts = counts_of(passes, fit_max_compute=1e22)
    assert list(counts.models.held_out) == [False, False, False, True]
    buckets = make_buckets(counts, n_buckets=3, eligibility="solved-by-all")
    # p2 (small never solved) and p4 (medium never solved) go; p6 has no small row, which
    # does not count against it.
    np.testing.assert_array_equal(buckets.kept, [0, 2, 4, 5, 6, 7])
    assert buckets.eligibility == "solved-by-all"
    assert len(buckets.index) == len(buckets.kept) == len(buckets.difficulty)
    assert sum(buckets.sizes()) == 6
    check_ordered(buckets)

    everything = make_buckets(counts, n_buckets=3, eligibility="all")
    np.testing.assert_array_equal(everything.kept, np.arange(8))


def test_solved_by_all_drops_problems_only_held_out_models_ran():
    passes = {
        "small": [3, 2, 4, None],
        "medium": [5, 4, 6, None],
        "large": [7, 6, 8, None],
        "xl": [9, 8, 9, 5],
    }
    counts = counts_of(passes, fit_max_compute=1e22)
    buckets = make_buckets(counts, n_buckets=3, eligibility="solved-by-all")
    np.testing.assert_array_equal(buckets.kept, [0, 1, 2])


def test_solved_by_all_on_simulated_data(simulated):
    buckets = make_buckets(simulated, n_buckets=3, eligibility="solved-by-all")
    solved = (simulated.k > 0).all(axis=0)
    np.testing.assert_array_equal(buckets.kept, np.flatnonzero(solved))
    assert len(buckets.kept) < len(simulated.problems)  # the smallest model misses some


def test_solved_by_all_can_leave_too_few_problems():
    passes = {"small": [0, 0, 0, 1], "medium": [1, 2, 3, 4], "large": [2, 3, 4, 5]}
    with pytest.raises(InputError) as info:
        make_buckets(counts_of(passes), n_buckets=2, eligibility="solved-by-all")
    assert "1 eligible problem(s)" in str(info.value)
    assert "empty" in str(info.value)


# --- bad options --------------------------------------------------------------------------


@pytest.mark.parametrize(("n_buckets", "exclude"), [(7, 0), (5, 2), (1, 6), (2, 10)])
def test_too_many_buckets_for_the_problems(n_buckets, exclude):
    with pytest.raises(InputError) as info:
        make_buckets(counts_of(SCRAMBLED), n_buckets=n_buckets, exclude_hardest=exclude)
    message = str(info.value)
    assert "empty" in message
    assert f"6 eligible problem(s) minus {exclude} excluded leave {6 - exclude}" in message
    assert "--buckets" in message


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_buckets": 0}, "--buckets must be >= 1, got 0"),
        ({"exclude_hardest": -1}, "--exclude-hardest must be >= 0, got -1"),
        ({"eligibility": "solved-by-most"}, "--eligibility must be 'all' or 'solved-by-all'"),
    ],
)
def test_bad_options(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        make_buckets(counts_of(SCRAMBLED), **kwargs)


# --- rank correlation ---------------------------------------------------------------------


def test_rank_correlation_over_fitted_models(simulated):
    buckets = make_buckets(simulated, n_buckets=4)
    corr = buckets.rank_correlation
    names = list(simulated.models.names)
    assert isinstance(corr, pd.DataFrame)
    assert corr.shape == (len(names), len(names))
    assert list(corr.index) == names
    assert list(corr.columns) == names
    np.testing.assert_allclose(np.diag(corr.to_numpy()), 1.0)
    np.testing.assert_allclose(corr.to_numpy(), corr.to_numpy().T)
    assert np.all(np.abs(corr.to_numpy()) <= 1 + 1e-12)
    mean = buckets.mean_rank_correlation()
    assert -1 <= mean <= 1
    assert mean > 0.5  # the simulated models agree on which problems are hard


def test_rank_correlation_over_chosen_models(simulated):
    buckets = make_buckets(simulated, n_buckets=4, bucket_by=("m2", "m5"))
    corr = buckets.rank_correlation
    assert list(corr.index) == list(corr.columns) == ["m2", "m5"]
    np.testing.assert_allclose(np.diag(corr.to_numpy()), 1.0)
    assert buckets.mean_rank_correlation() == pytest.approx(corr.loc["m2", "m5"])


def test_rank_correlation_of_disagreeing_models():
    buckets = make_buckets(counts_of(DISAGREE), n_buckets=2)
    corr = buckets.rank_correlation
    assert corr.loc["small", "large"] == pytest.approx(-1.0)
    assert corr.loc["medium", "large"] == pytest.approx(1.0)
    assert buckets.mean_rank_correlation() == pytest.approx(-1 / 3)


def test_mean_rank_correlation_with_one_reference_is_nan():
    buckets = make_buckets(counts_of(DISAGREE), n_buckets=2, bucket_by=("large",))
    assert buckets.rank_correlation.shape == (1, 1)
    assert np.isnan(buckets.mean_rank_correlation())


def test_mean_rank_correlation_without_any_defined_pair_is_nan_without_warning():
    passes = {**DISAGREE, "small": [0] * 6}
    buckets = make_buckets(counts_of(passes), n_buckets=2, bucket_by=("small", "large"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = buckets.mean_rank_correlation()
    assert np.isnan(value)


def test_rank_correlation_ignores_missing_pairs():
    # medium agrees with large on every problem it ran; it never ran the easiest one.
    passes = {
        "small": [9, 7, 5, 3, 1, 0],
        "medium": [None, 8, 6, 4, 2, 1],
        "large": [10, 9, 7, 5, 3, 2],
    }
    buckets = make_buckets(counts_of(passes), n_buckets=2)
    assert buckets.rank_correlation.loc["medium", "large"] == pytest.approx(1.0)


# --- summary ------------------------------------------------------------------------------


def test_summary_columns_and_rows():
    buckets = make_buckets(counts_of(SCRAMBLED), n_buckets=2, exclude_hardest=2)
    summary = buckets.summary()
    assert list(summary.columns) == ["bucket", "n_problems", "pass_rate_min", "pass_rate_max"]
    assert list(summary["bucket"]) == ["1", "2", "excluded"]
    assert list(summary["n_problems"]) == [2, 2, 2]
    np.testing.assert_allclose(summary["pass_rate_min"], [0.8, 0.5, 0.1])
    np.testing.assert_allclose(summary["pass_rate_max"], [26 / 30, 0.7, 0.3])


def test_summary_on_simulated_data(simulated):
    buckets = make_buckets(simulated, n_buckets=5, exclude_hardest=4)
    summary = buckets.summary()
    assert list(summary["bucket"]) == [*buckets.labels, EXCLUDED]
    assert summary["n_problems"].sum() == len(buckets.kept)
    assert list(summary["n_problems"][:-1]) == buckets.sizes()
    assert (summary["pass_rate_min"] <= summary["pass_rate_max"]).all()
    # Bucket 1 easiest: ranges do not overlap going down the table.
    assert (
        summary["pass_rate_min"].to_numpy()[:-1] >= summary["pass_rate_max"].to_numpy()[1:]
    ).all()


@pytest.mark.parametrize(
    ("problems", "expected"),
    [(0, 1), (8, 1), (19, 1), (20, 2), (35, 3), (59, 5), (60, 6), (400, 6)],
)
def test_default_buckets_hold_ten_problems_or_more(problems, expected):
    assert default_buckets(problems) == expected


def test_buckets_left_to_the_default_shrink_for_a_small_table():
    def simulated_counts(problems: int) -> PassCounts:
        table, _ = simulate_pass_counts(n_models=4, n_problems=problems, samples=10, seed=5)
        return load_pass_counts(table)

    small = simulated_counts(8)
    assert make_buckets(small).sizes() == [8]
    assert len(make_buckets(simulated_counts(80)).labels) == 6
    assert len(make_buckets(small, 2).labels) == 2  # asked for: kept
    # set-aside problems do not count: 30 problems less 15 hardest leave one bucket of 15
    assert make_buckets(simulated_counts(30), exclude_hardest=15).sizes() == [15]

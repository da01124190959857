"""Tier 1-2: the parameterisation a pass fit starts from, chosen from how well the counts pin
each model's effect (``pass_model.effect_standard_error``) and each problem's intercept
(``pass_model.weak_intercepts``)."""

from __future__ import annotations

import numpy as np
import pytest

import bayescale.pass_fit
from bayescale.buckets import make_buckets
from bayescale.pass_data import load_pass_counts
from bayescale.pass_fit import fit_pass
from bayescale.pass_model import (
    WEAK_EFFECT_SE,
    _fitted_counts,
    build_pass_model,
    effect_standard_error,
    informative,
    starts_noncentred,
    weak_intercepts,
)
from bayescale.simulate import simulate_pass_counts


def _counts(models: int, problems: int, samples: int):
    table, _ = simulate_pass_counts(n_models=models, n_problems=problems, samples=samples, seed=3)
    counts = load_pass_counts(table)
    return counts, make_buckets(counts)


def test_the_standard_error_is_the_binomial_fisher_information_about_ln_minus_ln_p():
    # one model of one problem: the expected curvature of the binomial log-likelihood in
    # eta = ln(-ln p), by finite differences, against the closed form the rule uses
    n, p = 40, 0.3
    eta = np.log(-np.log(p))

    def expected_loglik(e: float) -> float:
        q = np.exp(-np.exp(e))
        return n * p * np.log(q) + n * (1 - p) * np.log1p(-q)

    h = 1e-4
    curvature = expected_loglik(eta + h) - 2 * expected_loglik(eta) + expected_loglik(eta - h)
    information = -curvature / h**2
    assert information == pytest.approx(n * p * np.log(p) ** 2 / (1 - p), rel=1e-5)


@pytest.mark.parametrize(
    ("models", "problems", "samples", "weak"),
    [
        (4, 164, 1, True),  # greedy HumanEval-sized: about 0.1
        (3, 30, 1, True),
        (4, 8, 10, True),
        (4, 164, 10, True),  # about 0.036
        (6, 60, 200, False),  # thousands of samples a model: about 0.015
        (3, 400, 10, False),  # LiveCodeBench-sized: about 0.023
    ],
)
def test_tables_whose_counts_barely_pin_a_model_start_non_centred(models, problems, samples, weak):
    counts, buckets = _counts(models, problems, samples)
    se = effect_standard_error(counts, buckets)
    assert (se > WEAK_EFFECT_SE) is weak
    assert starts_noncentred(counts, buckets) is weak


@pytest.mark.parametrize(
    ("samples", "first", "other"), [(1, True, "centred"), (200, False, "non-centred")]
)
def test_the_ladder_starts_from_the_chosen_form_and_keeps_the_other_as_its_alternative(
    monkeypatch, samples, first, other
):
    counts, buckets = _counts(4, 60, samples)
    seen = {}

    class Stop(Exception):
        pass

    def ladder(build, settings, complete=None, **kwargs):
        seen.update(kwargs, first=build(False), second=build(True))
        raise Stop

    monkeypatch.setattr(bayescale.pass_fit, "run_ladder", ladder)
    with pytest.raises(Stop):
        fit_pass(counts, buckets)
    names = [{v.name for v in seen[k].free_RVs} for k in ("first", "second")]
    assert ("model_effect_z" in names[0]) is first
    assert ("model_effect_z" in names[1]) is not first
    assert seen["alternative"] == f"model effects {other}"
    assert seen["first_form"] == ("model effects non-centred" if first else None)


@pytest.mark.parametrize(
    ("models", "problems", "samples", "weak"),
    [
        (4, 164, 10, True),  # HumanEval-sized, 10 samples: standard errors about 0.22
        (3, 400, 10, True),
        (4, 164, 100, False),  # 100 samples: about 0.07 against a spread about 0.16
        (6, 60, 200, False),
        (12, 500, 100, False),
    ],
)
def test_intercepts_their_counts_pin_loosely_against_their_buckets_spread_are_weak(
    models, problems, samples, weak
):
    counts, buckets = _counts(models, problems, samples)
    _, n, k = _fitted_counts(counts, buckets)
    found = weak_intercepts(n, k, buckets.index)
    if weak:
        assert found is not None
        assert not (found & ~informative(n, k)).any()  # only sampled intercepts
        assert found.sum() == informative(n, k).sum()
    else:
        assert found is None


def test_mixed_intercepts_are_the_centred_model_reparameterised(monkeypatch):
    """Where weak, theta = level + sigma_problem * raw: the log density differs by the Jacobian."""
    import bayescale.pass_model

    counts, buckets = _counts(3, 24, 10)
    _, n, k = _fitted_counts(counts, buckets)
    mask = informative(n, k) & (np.arange(buckets.index.size) % 2 == 0)
    monkeypatch.setattr(bayescale.pass_model, "weak_intercepts", lambda n, k, bucket: mask)
    mixed = build_pass_model(counts, buckets)
    monkeypatch.setattr(bayescale.pass_model, "weak_intercepts", lambda n, k, bucket: None)
    centred = build_pass_model(counts, buckets)
    assert "theta_solved_raw" in mixed.named_vars and "theta_solved_raw" not in centred.named_vars
    (deterministic,) = mixed.replace_rvs_by_values([mixed["theta_solved"]])
    theta = mixed.compile_fn(
        deterministic, inputs=mixed.value_vars, on_unused_input="ignore", mode="FAST_COMPILE"
    )
    logps = [m.compile_fn(m.logp(), mode="FAST_COMPILE") for m in (mixed, centred)]
    rng = np.random.default_rng(0)
    weak = int(mask.sum())
    assert 0 < weak < informative(n, k).sum()
    for _ in range(3):
        point = {
            name: v + rng.normal(0.0, 0.3, np.shape(v)) for name, v in mixed.initial_point().items()
        }
        same = {name: v for name, v in point.items() if name != "theta_solved_raw"}
        same["theta_solved"] = theta(point)
        jacobian = weak * point["sigma_problem_log__"]
        np.testing.assert_allclose(logps[0](point), logps[1](same) + jacobian, rtol=1e-12)


def _real_tables():
    """The real per-problem tables: Pythia x MATH as its test fits it, each LiveCodeBench family."""
    import pandas as pd

    from bayescale.pass_data import PassColumns
    from tests.helpers import shared_dataset

    pythia = pd.read_csv(shared_dataset("pythia_math_monkeys") / "pythia_math_counts.csv")
    columns = PassColumns(
        compute="train_flops", problem="problem_idx", n="n_samples", k="n_correct"
    )
    yield "pythia", load_pass_counts(pythia, columns, fit_max_compute=1.5e22)
    lcb = pd.read_csv(
        shared_dataset("livecodebench_code_families") / "lcb_codegen_family_counts.csv"
    )
    columns = PassColumns(
        compute="train_flops", problem="question_id", n="n_samples", k="n_correct"
    )
    for family, rows in lcb.groupby("family"):
        yield family, load_pass_counts(rows, columns)


def test_the_real_tables_are_sampled_centred_as_before():
    """Their calibration was measured centred: neither rule may move them."""
    for name, counts in _real_tables():
        buckets = make_buckets(counts)
        _, n, k = _fitted_counts(counts, buckets)
        assert weak_intercepts(n, k, buckets.index) is None, name
        assert not starts_noncentred(counts, buckets), name


def test_well_pinned_intercepts_stay_centred_beside_many_loose_ones():
    """Precision weights: 10% of the problems with 1000 samples show the spread (0.1) that 90%
    with 10 samples hide; theirs (standard errors about 0.02) stay centred."""
    rng = np.random.default_rng(1)
    problems, x = 400, np.array([-1.0, 0.0, 1.0, 2.0])
    theta = 0.3 + rng.normal(0.0, 0.1, problems)
    p = np.exp(-np.exp(theta[:, None] - 0.3 * x[None, :]))
    samples = np.where(np.arange(problems) < 40, 1000, 10)
    n = np.repeat(samples[:, None], x.size, axis=1).astype(float)
    k = rng.binomial(n.astype(int), p).astype(float)
    weak = weak_intercepts(n, k, np.zeros(problems, dtype=int))
    pinned = informative(n, k)
    assert pinned[:40].all()
    assert weak is not None and not weak[:40].any()  # the well pinned ones centred
    assert weak[40:][pinned[40:]].mean() > 0.5  # most of the loose ones not


def test_no_spread_to_estimate_leaves_every_intercept_centred():
    """One sampled problem a bucket: nothing to compare it with."""
    n = np.full((3, 4), 10.0)
    k = np.array([[5, 4, 6, 5], [2, 3, 4, 5], [0, 0, 0, 0]], dtype=float)
    assert weak_intercepts(n, k, np.array([0, 1, 1])) is None


def test_the_first_fit_names_the_intercepts_it_samples_non_centred(monkeypatch):
    counts, buckets = _counts(4, 164, 10)
    seen = {}

    class Stop(Exception):
        pass

    def ladder(build, settings, complete=None, **kwargs):
        seen.update(kwargs, first=build(False))
        raise Stop

    monkeypatch.setattr(bayescale.pass_fit, "run_ladder", ladder)
    with pytest.raises(Stop):
        fit_pass(counts, buckets)
    assert seen["first_form"] == (
        "model effects non-centred; 88 of 88 sampled problem intercepts non-centred"
    )
    assert "theta_solved_raw" in seen["first"].named_vars

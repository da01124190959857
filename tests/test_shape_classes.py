"""One compiled program per law and shape class: padded loss models are the unpadded models.

A loss fit pads its fitted runs to a shape class (:func:`bayescale.loss_model.run_class`) with
zero weight and samples with the data as arguments of the compiled program
(:func:`bayescale.batch.sample_one`); these tests check that the padding changes neither the
log density nor its gradient nor the draws, and that a second table of the class compiles
nothing, in the same process or (slow) in a new one through the persistent cache.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bayescale.data import load_loss_runs
from bayescale.loss_model import build_loss_model, run_class, shape_class_runs
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings
from bayescale.simulate import demo_loss_runs
from tests.helpers import child_json, compiles

SHORT = SamplerSettings(draws=20, tune=20, chains=2, seed=3, progress=False, initial_mass="unit")


def _table(runs_per_group: int, groups: int = 2, seed: int = 0):
    """A demo table cut to ``groups`` groups of ``runs_per_group`` runs, its losses jittered."""
    runs = demo_loss_runs()
    kept = sorted(runs["group"].unique())[:groups]
    runs = runs[runs["group"].isin(kept)].groupby("group", group_keys=False).head(runs_per_group)
    rng = np.random.default_rng(seed)
    runs = runs.assign(loss=runs["loss"] * np.exp(rng.normal(0.0, 0.003, len(runs))))
    return load_loss_runs(runs.reset_index(drop=True))


def test_run_classes_are_powers_of_two_from_eight():
    assert [run_class(n) for n in (1, 3, 8, 9, 16, 17, 33, 100)] == [8, 8, 8, 16, 16, 32, 64, 128]
    with pytest.raises(ValueError, match="at least one run"):
        run_class(0)


def test_a_table_with_per_run_errors_is_not_padded():
    data = _table(5)
    assert shape_class_runs(data) == 16
    with_sd = replace(data, loss_sd=np.full(data.loss.shape, 0.01))
    assert shape_class_runs(with_sd) is None


@pytest.mark.parametrize(
    ("groups", "runs", "priors"),
    [
        (2, 5, LossPriors()),  # sigma integrated out
        (1, 3, LossPriors()),  # one group: no group scales
        (3, 4, LossPriors(likelihood="student_t")),  # sigma sampled, Student-t
        (2, 6, LossPriors(scatter_prior="halfnormal")),
    ],
    ids=["integrated", "one-group", "student-t", "halfnormal"],
)
def test_padding_keeps_the_log_density_and_its_gradient(groups, runs, priors):
    """Zero-weight rows add nothing: logp and gradient equal at random points."""
    data = _table(runs, groups)
    plain = build_loss_model(data, priors)
    padded = build_loss_model(data, priors, pad_runs=shape_class_runs(data))
    assert padded["log_compute"].get_value().size > int(data.fitted.sum())  # really padded
    _assert_same_density(plain, padded, 0.5)


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_padding_keeps_the_shared_run_log_density_and_its_gradient(likelihood):
    """The run effect's padded entries (``z_run`` beyond the table's runs) are independent
    standard normals that no row points to: logp less their terms, and the gradient of the
    rest, are the unpadded model's."""
    from scipy import stats

    data = _table(5, 3)
    priors = LossPriors(shared_runs=True, likelihood=likelihood)
    plain = build_loss_model(data, priors)
    padded = build_loss_model(data, priors, pad_runs=shape_class_runs(data))
    names = [v.name for v in plain.value_vars]
    assert names == [v.name for v in padded.value_vars] and "z_run" in names
    runs = plain.initial_point()["z_run"].size
    extra = padded.initial_point()["z_run"].size - runs
    assert runs == 5 and extra == 11  # 15 rows pad to 16: 16 entries, 5 runs
    # the padded gradient's entries of the padding: after z_run's own, in value_vars order
    sizes = [np.size(plain.initial_point()[n]) for n in names]
    end = sum(sizes[: names.index("z_run") + 1])
    real = np.r_[np.ones(end, bool), np.zeros(extra, bool), np.ones(sum(sizes) - end, bool)]
    logps = [m.compile_logp(mode="FAST_COMPILE") for m in (plain, padded)]
    grads = [m.compile_dlogp(mode="FAST_COMPILE") for m in (plain, padded)]
    rng = np.random.default_rng(8)
    start = plain.initial_point()
    for _ in range(5):
        point = {k: v + rng.normal(0.0, 0.5, np.shape(v)) for k, v in start.items()}
        z = rng.normal(size=extra)
        wide = point | {"z_run": np.concatenate([point["z_run"], z])}
        np.testing.assert_allclose(
            logps[1](wide) - stats.norm.logpdf(z).sum(), logps[0](point), rtol=1e-12
        )
        grad = grads[1](wide)
        np.testing.assert_allclose(grad[real], grads[0](point), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grad[~real], -z)


def _assert_same_density(plain, padded, scale: float) -> None:
    """The two models' log densities and gradients agree at 5 points around the start."""
    assert [v.name for v in plain.value_vars] == [v.name for v in padded.value_vars]
    logps = [m.compile_logp(mode="FAST_COMPILE") for m in (plain, padded)]  # no C compiler
    grads = [m.compile_dlogp(mode="FAST_COMPILE") for m in (plain, padded)]
    rng = np.random.default_rng(7)
    start = plain.initial_point()
    for _ in range(5):
        point = {k: v + rng.normal(0.0, scale, np.shape(v)) for k, v in start.items()}
        np.testing.assert_allclose(logps[1](point), logps[0](point), rtol=1e-12)
        np.testing.assert_allclose(grads[1](point), grads[0](point), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_padding_keeps_the_draws_for_a_fixed_seed():
    """The same seed draws the same chains from the padded and the unpadded model.

    Without warm-up (the step size and unit mass matrix fixed), so that the comparison is of
    the log density the sampler follows: with adaptation, the last-digit differences of the
    two sums (measured: 3e-8 relative in the first kept draw after 10 warm-up steps) grow
    through the chaotic trajectories, as between any two runs that differ in rounding.
    """
    from bayescale.batch import sample_one

    data = _table(5)
    fixed = replace(SHORT, tune=0, draws=20)
    plain, _ = sample_one(build_loss_model(data), fixed)
    padded, _ = sample_one(build_loss_model(data, pad_runs=shape_class_runs(data)), fixed)
    assert plain["posterior"]["a"].std() > 0  # the chains moved
    for name in ("a", "b", "c", "slope_group", "tau_slope"):
        np.testing.assert_allclose(
            padded["posterior"][name].values, plain["posterior"][name].values, rtol=1e-9
        )


@pytest.mark.slow
def test_a_new_table_of_a_compiled_shape_class_compiles_nothing():
    """Two tables with 10 and 14 runs (class 16) and other values: the second reuses it all."""
    from bayescale.loss_fit import fit_loss

    first, second = _table(5, seed=1), _table(7, seed=2)
    assert shape_class_runs(first) == shape_class_runs(second) == 16
    fit_loss(first, settings=SHORT, allow_unconverged=True)
    fitted = []
    assert (
        compiles(lambda: fitted.append(fit_loss(second, settings=SHORT, allow_unconverged=True)))
        == 0
    )
    assert list(fitted[0].idata["posterior"]["a"].coords["group"].values) == list(second.groups)


CHILD = textwrap.dedent(
    """
    import json, sys
    import bayescale
    bayescale.configure(devices=4, compilation_cache=sys.argv[1])
    from jax import monitoring
    from tests.test_shape_classes import SHORT, _table
    import bayescale.ladder
    from bayescale.loss_fit import fit_loss
    bayescale.ladder.LADDER_MAX_STEPS = 0  # the first fit only: later steps follow how it fails
    events = []
    monitoring.register_event_listener(lambda event, **kw: events.append(event))
    fit_loss(_table(int(sys.argv[2]), seed=int(sys.argv[2])), settings=SHORT,
             allow_unconverged=True)
    print(json.dumps({e: events.count(e) for e in set(events)}))
    """
)


@pytest.mark.slow
def test_a_new_process_loads_a_new_table_of_a_compiled_class_from_the_cache(tmp_path: Path):
    """New process, new table of a class compiled before: every program a cache hit."""

    def child(runs: int) -> dict[str, int]:
        return child_json(CHILD, str(tmp_path / "cache"), str(runs))

    first = child(5)
    assert first.get("/jax/compilation_cache/cache_misses", 0) > 0
    second = child(7)
    assert second.get("/jax/compilation_cache/cache_misses", 0) == 0
    assert second.get("/jax/compilation_cache/cache_hits", 0) > 0


@pytest.mark.parametrize("likelihood", ["student_t", "normal"])
@pytest.mark.parametrize("groups", [1, 2])
def test_nd_padding_keeps_the_log_density_and_its_gradient(groups, likelihood):
    """L(N, D): zero-weight rows add nothing; other tables of the class, the same program."""
    import pandas as pd

    from bayescale.nd import NDPriors, load_nd_runs, simulate_nd_runs
    from bayescale.nd_model import build_nd_model

    runs = pd.concat(
        [simulate_nd_runs(g, sizes_per_budget=4).assign(group=f"g{g}") for g in range(groups)]
    )
    data = load_nd_runs(runs.reset_index(drop=True))
    priors = NDPriors(likelihood=likelihood)
    plain = build_nd_model(data, priors)
    padded = build_nd_model(data, priors, pad_runs=run_class(int(data.fitted.sum())))
    assert padded["log_params"].get_value().size > int(data.fitted.sum())  # really padded
    _assert_same_density(plain, padded, 0.3)


@pytest.mark.slow
def test_a_new_nd_table_of_a_compiled_shape_class_compiles_nothing(monkeypatch):
    """L(N, D): two isoFLOP tables of 12 and 15 runs (class 16), other values: one program.

    The first fit only (no ladder), whose steps depend on how each table's short run fails.
    """
    import bayescale.ladder
    from bayescale.nd import fit_nd, load_nd_runs, simulate_nd_runs

    monkeypatch.setattr(bayescale.ladder, "LADDER_MAX_STEPS", 0)

    first = load_nd_runs(simulate_nd_runs(1, budgets=[1e18, 1e19, 1e20], sizes_per_budget=4))
    second = load_nd_runs(simulate_nd_runs(2, budgets=[1e18, 1e19, 1e20], sizes_per_budget=5))
    assert run_class(int(first.fitted.sum())) == run_class(int(second.fitted.sum())) == 16
    fit_nd(first, settings=SHORT, allow_unconverged=True)
    assert compiles(lambda: fit_nd(second, settings=SHORT, allow_unconverged=True)) == 0

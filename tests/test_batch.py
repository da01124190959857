"""Batched fits: the padded template is the same model, and NUTS in lanes the same sampler."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pymc as pm
import pytest

import bayescale.batch
from bayescale.batch import (
    _jaxify,
    _starting_masses,
    dataset_seed,
    from_devices,
    sample_batched,
    to_devices,
)
from bayescale.config import jax_scope
from bayescale.data import load_loss_runs
from bayescale.loss_backtest import backtest_loss_ratios, loss_split
from bayescale.loss_fit import fit_loss, fit_loss_batch
from bayescale.loss_model import LOSS_INPUTS, build_loss_model, loss_inputs
from bayescale.priors import LossPriors
from bayescale.sampling import (
    LAPLACE_MAXITER,
    MAX_TREE_DEPTH,
    SamplerSettings,
    laplace_inverse_mass,
    sample_sequential,
)
from bayescale.simulate import DEMO_TRUTH, simulate_loss_runs

SMALL = SamplerSettings(draws=500, tune=500, chains=4, seed=5, progress=False)
#: The gate's R-hat <= 1.01 wants about 1000 draws a chain (at 500 it scatters around 1.01).
GATED = SamplerSettings(draws=1000, tune=700, chains=4, seed=5, progress=False)


@pytest.fixture(autouse=True)
def _in_jax_scope():
    """These tests call bayescale's private JAX functions, which run inside ``jax_scope``."""
    with jax_scope():
        yield


@pytest.fixture(scope="module")
def runs():
    return load_loss_runs(simulate_loss_runs(DEMO_TRUTH, runs_per_group=10, seed=2026))


def _random_point(model: pm.Model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        v.name: rng.normal(0.0, 0.5, size=model.initial_point()[v.name].shape)
        for v in model.value_vars
    }


def _split_batch(runs, ratios):
    """The splits of ``runs`` at ``ratios``, their padded template and its inputs."""
    splits = [loss_split(runs, r)[0] for r in ratios]
    size = max(int(s.fitted.sum()) for s in splits)
    template = build_loss_model(splits[0], pad_runs=size)
    return splits, template, [loss_inputs(s, size) for s in splits]


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_padded_template_has_the_log_density_of_the_dataset_own_model(runs, likelihood):
    priors = LossPriors(likelihood=likelihood)
    split, _, _ = loss_split(runs, 10.0)
    own = build_loss_model(split, priors)
    padded = build_loss_model(runs, priors, pad_runs=int(runs.fitted.sum()))
    pm.set_data(loss_inputs(split, int(runs.fitted.sum())), model=padded)
    assert loss_inputs(split, 30)["run_weight"].sum() == split.fitted.sum() < 30
    own_logp, padded_logp = own.compile_logp(), padded.compile_logp()
    for seed in range(3):
        point = _random_point(own, seed)
        assert np.isfinite(own_logp(point))
        np.testing.assert_allclose(padded_logp(point), own_logp(point), rtol=1e-12)


def test_jaxified_template_with_a_dataset_as_arguments_is_its_own_log_density(runs):
    """What the batch samples: the template's JAX log density, the data passed as arguments."""
    split, _, _ = loss_split(runs, 10.0)
    size = int(runs.fitted.sum())
    template = build_loss_model(runs, pad_runs=size)
    logp = _jaxify(template, list(LOSS_INPUTS)).logp
    own = build_loss_model(split)
    own_logp = own.compile_logp()
    arguments = [loss_inputs(split, size)[name] for name in LOSS_INPUTS]
    for seed in range(3):
        point = _random_point(own, seed)
        values = [point[v.name] for v in template.value_vars]
        np.testing.assert_allclose(float(logp(*values, *arguments)[0]), own_logp(point), rtol=1e-12)


def test_a_template_that_computes_the_same_reuses_its_jax_functions(runs):
    """The warm run of a backtest builds its template again: same computation, same programs."""
    size = int(runs.fitted.sum())
    names = list(LOSS_INPUTS)
    first = _jaxify(build_loss_model(runs, pad_runs=size), names)
    other = load_loss_runs(simulate_loss_runs(DEMO_TRUTH, runs_per_group=10, seed=7))
    # the data are arguments, so another table of the same groups is the same template
    assert _jaxify(build_loss_model(runs, pad_runs=size), names) is first
    assert _jaxify(build_loss_model(other, pad_runs=size), names) is first
    # a prior's value or the likelihood is a constant of the graph: another template
    for priors in (LossPriors(scatter_median=0.01), LossPriors(likelihood="student_t")):
        assert _jaxify(build_loss_model(runs, priors, pad_runs=size), names) is not first
    # data that stay constants (not named as arguments) are compared by value
    fixed = [name for name in names if name != "log_loss_obs"]
    changed = _jaxify(build_loss_model(runs, pad_runs=size), fixed)
    assert _jaxify(build_loss_model(other, pad_runs=size), fixed) is not changed
    assert _jaxify(build_loss_model(runs, pad_runs=size), fixed) is changed


def test_templates_that_differ_only_in_names_are_not_mixed_up():
    def template(name: str) -> pm.Model:
        with pm.Model() as model:
            observed = pm.Data("observed", np.zeros(3))
            mu = pm.Normal("mu")
            pm.Deterministic(name, 2 * mu)
            pm.Normal("y", mu, 1.0, observed=observed)
        return model

    first = _jaxify(template("double"), ["observed"])
    assert _jaxify(template("double"), ["observed"]) is first
    assert _jaxify(template("twice"), ["observed"]).quantities == ("mu", "twice")


def test_templates_that_differ_only_in_static_shapes_are_not_mixed_up():
    # JAX's rewrites bake a known length into the graph (the mean's divisor here), which
    # equal_computations does not see: the input types must match exactly
    def template(size: int) -> pm.Model:
        with pm.Model() as model:
            observed = pm.Data("observed", np.zeros(2))
            x = pm.Normal("x", shape=size)
            pm.Deterministic("m", x.mean())
            pm.Normal("y", x.sum(), 1.0, observed=observed)
        return model

    three, four = (_jaxify(template(n), ["observed"]) for n in (3, 4))
    assert four is not three
    data = np.zeros(2)
    assert float(four.posterior(np.ones(4), data)[1]) == pytest.approx(1.0)
    assert float(three.posterior(np.ones(3), data)[1]) == pytest.approx(1.0)


def test_a_kept_template_is_the_log_density_of_another_table(runs):
    size = int(runs.fitted.sum())
    kept = _jaxify(build_loss_model(runs, pad_runs=size), list(LOSS_INPUTS))
    other = load_loss_runs(simulate_loss_runs(DEMO_TRUTH, runs_per_group=10, seed=7))
    assert _jaxify(build_loss_model(other, pad_runs=size), list(LOSS_INPUTS)) is kept
    own = build_loss_model(other)
    own_logp = own.compile_logp()
    arguments = [loss_inputs(other, size)[name] for name in LOSS_INPUTS]
    point = _random_point(own, 3)
    values = [point[v.name] for v in own.value_vars]
    np.testing.assert_allclose(
        float(kept.logp(*values, *arguments)[0]), own_logp(point), rtol=1e-12
    )


def test_batch_laplace_starts_stop_at_the_batch_cap(runs, monkeypatch):
    seen = []

    def record(value_and_grad, start, *, dense, maxiter):
        seen.append(maxiter)
        return None

    monkeypatch.setattr(bayescale.batch, "laplace_from", record)
    _, template, inputs = _split_batch(runs, (2.0, 10.0))
    masses = _starting_masses(
        template, inputs, _jaxify(template, list(LOSS_INPUTS)), SamplerSettings()
    )
    assert seen == [bayescale.batch.BATCH_LAPLACE_MAXITER] * 2
    np.testing.assert_array_equal(masses, 1.0)  # no usable start: the unit matrix


@pytest.mark.parametrize(("lanes", "devices"), [(12, 3), (10, 3), (1, 2), (8, 1)])
def test_lanes_go_to_devices_in_order_and_come_back(lanes, devices):
    array = np.arange(lanes * 2).reshape(lanes, 2)
    laid = to_devices(array, devices)
    assert laid.shape[:2] == (devices, -(-lanes // devices))
    assert np.array_equal(laid[0, 0], array[0])
    assert np.array_equal(from_devices(laid, lanes), array)


def test_dataset_seeds_are_stable_and_distinct():
    assert dataset_seed(1, "pooled", "10") == dataset_seed(1, "pooled", "10")
    seeds = {dataset_seed(1, "pooled", "10"), dataset_seed(1, "separate", "10", "web")}
    seeds |= {dataset_seed(2, "pooled", "10"), dataset_seed(1, 0), dataset_seed(1, 1)}
    assert len(seeds) == 5


def test_inputs_are_the_template_data_containers(runs):
    model = build_loss_model(runs, pad_runs=40)
    assert set(LOSS_INPUTS) == set(loss_inputs(runs, 40)) <= set(model.named_vars)
    with pytest.raises(ValueError, match="cannot pad"):
        loss_inputs(runs, 5)


def test_mocked_batch_keeps_order_and_splits_by_shape(runs, mock_pymc_sample):
    one_group = load_loss_runs(
        simulate_loss_runs({"web": DEMO_TRUTH["web"]}, runs_per_group=6, seed=1)
    )
    datasets = [loss_split(runs, 10.0)[0], one_group, runs]
    fits = fit_loss_batch(datasets, settings=SMALL, allow_unconverged=True)
    assert [f.data for f in fits] == datasets
    assert {f.settings.target_accept for f in fits} == {0.99}  # left open: the loss model's
    for fit, data in zip(fits, datasets, strict=True):
        assert list(fit.idata["posterior"]["a"].coords["group"].values) == list(data.groups)


@pytest.mark.sampling
def test_batched_posteriors_match_one_fit_per_dataset(runs):
    """Same model, same sampler: medians agree within Monte Carlo error of 4,000 draws."""
    splits = [loss_split(runs, r)[0] for r in (3.0, 30.0)]
    batched = fit_loss_batch(splits, settings=GATED)
    for split, fit in zip(splits, batched, strict=True):
        assert fit.diagnostics.ok, fit.diagnostics.problems()
        alone = fit_loss(split, settings=GATED)
        for name in ("a", "b", "c", "sigma"):
            one, many = alone.draws(name), fit.draws(name)
            gap = np.abs(np.median(many, axis=0) - np.median(one, axis=0)) / one.std(axis=0)
            # the standard error of a median from ~1,000 effective draws is ~0.04 sd
            assert np.all(gap < 0.25), (name, gap)


@pytest.mark.sampling
def test_batch_is_reproducible_and_matches_its_sequential_reference(runs):
    splits, template, inputs = _split_batch(runs, (3.0, 30.0))
    coords = [{"group": list(s.groups)} for s in splits]
    settings = SamplerSettings(draws=300, tune=300, seed=9, progress=False)
    first, _ = sample_batched(template, inputs, settings, coords)
    again, _ = sample_batched(template, inputs, settings, coords)
    reference, _ = sample_sequential(template, inputs, settings, coords)
    for x, y, ref in zip(first, again, reference, strict=True):
        np.testing.assert_array_equal(x["posterior"]["b"].values, y["posterior"]["b"].values)
        assert set(x["posterior"].data_vars) == set(ref["posterior"].data_vars)
        assert dict(x["posterior"].sizes) == dict(ref["posterior"].sizes)
        assert set(x["sample_stats"].data_vars) <= set(ref["sample_stats"].data_vars)
        # same sign convention as pm.sample's numpyro path ("lp" is numpyro's potential)
        assert np.sign(float(x["sample_stats"]["lp"].mean())) == np.sign(
            float(ref["sample_stats"]["lp"].mean())
        )
        dims = ("chain", "draw")
        gap = abs(x["posterior"]["b"].median(dims) - ref["posterior"]["b"].median(dims))
        assert bool((gap < 0.3 * ref["posterior"]["b"].std(dims)).all()), gap.values
        assert int(x["sample_stats"]["diverging"].sum()) == 0


@pytest.mark.sampling
def test_backtest_at_several_ratios_fits_in_batches(runs):
    backtests = backtest_loss_ratios(runs, [3.0, 10.0], settings=GATED, n_boot=20)
    assert [bt.ratio for bt in backtests] == [3.0, 10.0]
    for bt in backtests:
        assert bt.diagnostics["bayescale"]["ok"]
        # one group alone mixes slowly (the "code" curve: bulk ESS 450-660 and R-hat up to
        # 1.009 fitted on its own, unbatched), so the gate's 1.01 is too tight here
        separate = bt.diagnostics["separate_bayes"]
        assert separate["fits"] == 3 and separate["divergences"] == 0
        assert separate["r_hat_max"] < 1.03
        assert bt.summary().set_index("method").loc["bayescale", "coverage_0.9"] >= 0.5


def test_each_dataset_starts_from_its_own_models_laplace_variances(runs):
    splits, template, inputs = _split_batch(runs, (1.5, 30.0))
    # as many L-BFGS iterations as a single fit's start, so both reach the same mode
    masses = _starting_masses(
        template, inputs, _jaxify(template, list(inputs[0])), SamplerSettings(), LAPLACE_MAXITER
    )
    own = np.stack([laplace_inverse_mass(build_loss_model(s)) for s in splits])
    # same log density and start, so the same mode up to the optimiser's rounding path
    np.testing.assert_allclose(masses, own, rtol=0.05)
    # and the two datasets' variances really differ: a mix-up of datasets would show
    assert np.abs(np.log(own[0] / own[1])).max() > np.log(2)


def test_batched_fits_that_diverge_are_sampled_again_together(runs, monkeypatch):
    """As a single loss fit: once more at LOSS_RETRY_TARGET_ACCEPT, only those that diverged."""
    import xarray as xr

    import bayescale.loss_fit
    from bayescale.diagnostics import Diagnostics
    from bayescale.ladder import LOSS_RETRY_TARGET_ACCEPT
    from bayescale.loss_fit import LossFit

    calls = []

    def batches(datasets, priors, settings, seeds):
        calls.append(
            (len(datasets), settings.target_accept, settings.warmup_tree_depth, list(seeds))
        )
        first = len(calls) == 1  # the first batch of each fit_loss_batch call diverges
        return {
            i: LossFit(
                data=data,
                idata=xr.DataTree(),
                log_pivot=0.0,
                priors=priors,
                settings=replace(settings, seed=seed),
                diagnostics=Diagnostics(
                    1.0, 900.0, 900.0, 2 if first and seed in (10, 13) else 0, "a", 400.0, 4, 1000
                ),
                timing_s={"total": 1.0, "sampling": 0.5},
            )
            for i, (data, seed) in enumerate(zip(datasets, seeds, strict=True))
        }

    monkeypatch.setattr(bayescale.loss_fit, "_loss_batches", batches)
    datasets = [loss_split(runs, r)[0] for r in (2.0, 5.0, 10.0, 30.0)]
    fits = fit_loss_batch(datasets, seeds=[10, 11, 12, 13], allow_unconverged=True)
    assert calls == [
        (4, 0.99, 7, [10, 11, 12, 13]),
        (2, LOSS_RETRY_TARGET_ACCEPT, MAX_TREE_DEPTH, [10, 13]),  # warm-up uncapped too
    ]
    assert [f.data for f in fits] == datasets  # each retry back in its place
    assert [f.settings.seed for f in fits] == [10, 11, 12, 13]
    retried = LOSS_RETRY_TARGET_ACCEPT
    assert [f.settings.target_accept for f in fits] == [retried, 0.99, 0.99, retried]
    assert [f.diagnostics.divergences for f in fits] == [0, 0, 0, 0]
    assert fits[3].timing_s == {"total": 2.0, "sampling": 1.0}  # both batches' shares
    # already at the retry's step size and depth: nothing to retry
    calls.clear()
    settings = SamplerSettings(
        target_accept=LOSS_RETRY_TARGET_ACCEPT, warmup_tree_depth=MAX_TREE_DEPTH
    )
    fit_loss_batch(datasets, settings=settings, seeds=[10, 11, 12, 13], allow_unconverged=True)
    assert len(calls) == 1
    # at the retry's step size but with capped warm-up: retried with uncapped warm-up only
    calls.clear()
    settings = SamplerSettings(target_accept=0.999)
    fit_loss_batch(datasets, settings=settings, seeds=[10, 11, 12, 13], allow_unconverged=True)
    assert [c[1:3] for c in calls] == [(0.999, 7), (0.999, MAX_TREE_DEPTH)]


@pytest.mark.sampling
def test_the_warmup_tree_depth_caps_warmup_only(runs):
    _, template, inputs = _split_batch(runs, (3.0,))
    settings = SamplerSettings(draws=50, tune=60, chains=2, seed=4, progress=False)
    (default,), _ = sample_batched(template, inputs, settings)
    (shallow,), _ = sample_batched(template, inputs, replace(settings, warmup_tree_depth=2))
    # warm-up ran differently (its trees at most 3 steps) ...
    assert not np.array_equal(default["posterior"]["b"].values, shallow["posterior"]["b"].values)
    # ... and the kept draws still go deeper than warm-up could
    assert int(shallow["sample_stats"]["n_steps"].max()) > 2**2 - 1


@pytest.mark.parametrize("chains", [4, 3], ids=["two-per-device", "topped-up"])
def test_chains_in_turn_are_the_chains_of_lockstep(runs, chains, monkeypatch):
    """A device's lanes one after another (single fits on a CPU) or under vmap: same chains.

    Each lane is its own chain either way; only the program's layout differs, so the draws
    and the continuation agree to rounding (a lax.map and a vmap may order float work apart).
    Two devices whatever the machine, so that lanes share them (3 chains: one top-up lane).
    """
    from bayescale.batch import ArgumentChains, _run_lanes, more_draws_one

    monkeypatch.setattr(bayescale.batch, "_devices", lambda lanes: min(2, lanes))
    model = build_loss_model(runs, pad_runs=32)
    inputs = [loss_inputs(runs, 32)]
    settings = SamplerSettings(draws=30, tune=30, chains=chains, seed=4, progress=False)
    settings = settings.with_target_accept(0.9)
    lanes = {
        turn: _run_lanes(model, inputs, settings, [np.random.SeedSequence(4)], in_turn=turn)
        for turn in (True, False)
    }
    assert lanes[True].in_turn and not lanes[False].in_turn
    assert lanes[True].devices == lanes[False].devices == 2
    for name, values in lanes[True].outputs.items():
        assert values.shape[0] == chains
        np.testing.assert_allclose(values, lanes[False].outputs[name], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(lanes[True].kept["n_steps"], lanes[False].kept["n_steps"])
    assert not np.allclose(lanes[True].outputs["b"][0], lanes[True].outputs["b"][-1])
    longer = {turn: more_draws_one(ArgumentChains(lanes[turn]), 10)[0] for turn in lanes}
    np.testing.assert_allclose(
        longer[True]["posterior"]["b"].values, longer[False]["posterior"]["b"].values, rtol=1e-6
    )
    assert longer[True]["posterior"].sizes["draw"] == 40


@pytest.mark.sampling
def test_three_chains_on_two_devices_run_three_lanes_not_four(runs, monkeypatch):
    """Chains in turn: the top-up lane of 3 chains on 2 devices is skipped, not run and dropped.

    Every evaluation of the log density is counted (a host callback; the programs are used
    unexported, as callbacks do not export). The same 3 chains on one device, where nothing is
    topped up, evaluate it as often and draw the same; running the top-up lane (a copy of
    lane 0) would add lane 0's evaluations again.
    """
    import jax

    from bayescale.batch import _run_lanes

    calls = [0]

    def count() -> None:
        calls[0] += 1

    real_jaxify = bayescale.batch._jaxify

    def counting(model, names):
        jaxified = real_jaxify(model, names)

        def logp(*arguments):
            jax.debug.callback(count)
            return jaxified.logp(*arguments)

        return replace(jaxified, logp=logp, programs={}, pmapped=[])

    monkeypatch.setattr(bayescale.batch, "_jaxify", counting)
    monkeypatch.setattr(
        bayescale.batch, "exported_program", lambda name, identity, trace, *_: trace()
    )
    model = build_loss_model(runs, pad_runs=32)
    inputs = [loss_inputs(runs, 32)]
    settings = SamplerSettings(draws=20, tune=20, chains=3, seed=4, progress=False)
    settings = settings.with_target_accept(0.9)
    evaluations, draws = {}, {}
    for devices in (1, 2):
        monkeypatch.setattr(bayescale.batch, "_devices", lambda lanes, d=devices: min(d, lanes))
        calls[0] = 0
        lanes = _run_lanes(model, inputs, settings, [np.random.SeedSequence(4)], in_turn=True)
        assert lanes.devices == devices
        evaluations[devices], draws[devices] = calls[0], lanes.outputs["b"]
    np.testing.assert_allclose(draws[2], draws[1], rtol=1e-6, atol=1e-9)
    assert evaluations[2] == evaluations[1] > 0

"""Pass-rate fits in shape classes: the padded models are the unpadded models.

A per-problem pass fit pads its models and problems to a shape class
(:func:`bayescale.pass_model.pass_shape`) and samples with its data as arguments of the
compiled program (:func:`bayescale.batch.sample_one`); an aggregate fit pads its rows. These
tests check that padding changes neither the log density of the real parameters nor its
gradient, that the padded coefficients never reach the posterior, that a second table of the
class compiles nothing (in the same process, or through the persistent cache in a new one),
and that a padded fit forecasts what an unpadded one does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayescale.buckets import make_buckets
from bayescale.jaxtools import size_class
from bayescale.pass_data import load_pass_aggregate, load_pass_counts
from bayescale.pass_model import (
    PassShape,
    _fitted_counts,
    aggregate_rows,
    build_aggregate_pass_model,
    build_pass_model,
    informative,
    integrated_rows,
    pass_shape,
)
from bayescale.sampling import SamplerSettings
from bayescale.simulate import simulate_pass_counts
from tests.helpers import child_json, compiles

SHORT = SamplerSettings(draws=20, tune=20, chains=2, seed=3, progress=False, initial_mass="unit")


def _counts(models: int = 6, problems: int = 60, seed: int = 101, **load):
    table, _ = simulate_pass_counts(n_models=models, n_problems=problems, seed=seed)
    counts = load_pass_counts(table, **load)
    return counts, make_buckets(counts, n_buckets=3)


def test_size_classes():
    assert [size_class(n) for n in (0, 1, 8, 9, 47, 64, 65)] == [0, 8, 8, 16, 64, 64, 128]
    half = [size_class(n, half_steps=True) for n in (1, 8, 9, 12, 13, 17, 25, 33)]
    assert half == [8, 8, 12, 12, 16, 24, 32, 48]
    models = [size_class(n, 4, half_steps=True) for n in (1, 2, 3, 4, 5, 6, 7, 9, 13)]
    assert models == [4, 4, 4, 4, 6, 6, 8, 12, 16]


def test_pass_shape_of_a_table():
    counts, buckets = _counts()
    _, n, k = _fitted_counts(counts, buckets)
    pinned = informative(n, k)
    rows, weight = integrated_rows(n, k, buckets.index)
    shape = pass_shape(counts, buckets)
    assert shape is not None
    assert shape == PassShape(
        models=6,
        pinned=size_class(int(pinned.sum())),
        integrated=size_class(rows.size, half_steps=True),
    )
    # 13 integrated problems, 4 distinct (bucket, counts) rows
    assert (int(pinned.sum()), int((~pinned).sum()), rows.size) == (47, 13, 4)
    assert weight.sum() == 13
    assert shape == PassShape(models=6, pinned=64, integrated=8)  # the class, spelled out
    model = build_pass_model(counts, buckets, shape=shape)
    assert model["theta_solved"].type.shape == (shape.pinned,)
    assert model["open_n"].get_value().shape == (shape.integrated, shape.models)
    with pytest.raises(ValueError, match="cannot pad"):
        build_pass_model(counts, buckets, shape=PassShape(4, shape.pinned, shape.integrated))


def _compare(plain, padded, seed: int = 7) -> None:
    """logp and gradient of ``padded`` at a point of ``plain`` with padded coefficients drawn.

    Equal up to the padded coefficients' standard normal terms (and their gradient ``-z``).
    """
    names = [v.name for v in padded.value_vars]
    # the same variables; with two models or fewer the padded one also has placeholders
    plain_names = [v.name for v in plain.value_vars]
    assert plain_names == [n for n in names if n in plain_names]
    # one function per model for the log density and its gradient (no C compilation)
    fns = [m.compile_fn([m.logp(), m.dlogp()], mode="FAST_COMPILE") for m in (plain, padded)]
    rng = np.random.default_rng(seed)
    start, padded_start = plain.initial_point(), padded.initial_point()
    for _ in range(3):
        point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in start.items()}
        wide, extra, grad_extra, real = {}, 0.0, [], []
        for var in padded.value_vars:
            have = np.atleast_1d(point.get(var.name, np.zeros(0)))
            size = np.size(padded_start[var.name])
            z = rng.normal(size=size - have.size)
            wide[var.name] = np.concatenate([have, z]).reshape(np.shape(padded_start[var.name]))
            extra += stats.norm.logpdf(z).sum()
            real += [True] * have.size + [False] * z.size
            grad_extra.append(-z)
        logp, grad = fns[0](point)
        padded_logp, padded_grad = fns[1](wide)
        np.testing.assert_allclose(padded_logp - extra, logp, rtol=1e-12)
        real_mask = np.array(real)
        np.testing.assert_allclose(padded_grad[real_mask], grad, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(padded_grad[~real_mask], np.concatenate(grad_extra))


def test_large_tables_keep_their_counts_as_constants(monkeypatch):
    """Above the cost cap a table is not padded: fit_pass samples it on PyMC's numpyro path."""
    import bayescale.batch
    import bayescale.ladder
    import bayescale.pass_model
    from bayescale.pass_fit import fit_pass
    from bayescale.quadrature import NODES

    counts, buckets = _counts(problems=24)
    shape = pass_shape(counts, buckets)
    assert shape is not None
    assert shape.cost == shape.models * (shape.pinned + NODES * shape.integrated)
    monkeypatch.setattr(bayescale.pass_model, "PAD_MAX_COST", shape.cost - 1)
    assert pass_shape(counts, buckets) is None

    def refuse(*args, **kwargs):
        raise AssertionError("an unpadded pass model went to the data-as-arguments path")

    monkeypatch.setattr(bayescale.batch, "sample_one", refuse)
    monkeypatch.setattr(bayescale.ladder, "LADDER_MAX_STEPS", 0)  # the first fit only
    fit = fit_pass(counts, buckets, settings=SHORT, allow_unconverged=True)
    assert fit.idata.posterior.sizes["draw"] == SHORT.draws


@pytest.mark.parametrize(
    ("models", "noncentred", "mixed"),
    [(3, False, False), (3, False, True), pytest.param(5, True, False, marks=pytest.mark.slow)],
    ids=["centred", "mixed-intercepts", "non-centred"],
)
def test_padding_keeps_the_pass_log_density_and_its_gradient(
    monkeypatch, models, noncentred, mixed
):
    """Padded models, problems and coefficients add nothing but independent normal terms."""
    import bayescale.pass_model

    if mixed:  # every other sampled intercept non-centred (pass_model.weak_intercepts)
        monkeypatch.setattr(
            bayescale.pass_model,
            "weak_intercepts",
            lambda n, k, bucket: informative(n, k) & (np.arange(bucket.size) % 2 == 0),
        )
    counts, buckets = _counts(models=models, problems=24, fit_max_compute=None)
    shape = pass_shape(counts, buckets)
    assert shape is not None
    _, n, k = _fitted_counts(counts, buckets)
    pinned = informative(n, k)
    # really padded: models (3 -> 4, 5 -> 6), sampled and integrated problems
    assert shape.models > models
    assert shape.pinned > pinned.sum()
    assert shape.integrated > integrated_rows(n, k, buckets.index)[0].size
    plain = build_pass_model(counts, buckets, noncentred=noncentred)
    padded = build_pass_model(counts, buckets, noncentred=noncentred, shape=shape)
    assert ("theta_solved_raw" in padded.named_vars) is mixed
    _compare(plain, padded)


def test_integrated_problems_of_one_bucket_and_counts_share_one_quadrature():
    """One row per distinct (bucket, counts), weighted by its problems: the same log density."""
    counts, buckets = _counts(models=3, problems=24, fit_max_compute=None)
    _, n, k = _fitted_counts(counts, buckets)
    rows, weight = integrated_rows(n, k, buckets.index)
    integrated = np.flatnonzero(~informative(n, k))
    assert rows.size < integrated.size  # some problems share a row (never solved, say)
    key = {(buckets.index[j], *n[j], *k[j]) for j in integrated}
    assert len(key) == rows.size and weight.sum() == integrated.size
    for row, w in zip(rows, weight, strict=True):
        same = [
            j
            for j in integrated
            if buckets.index[j] == buckets.index[row]
            and (n[j] == n[row]).all()
            and (k[j] == k[row]).all()
        ]
        assert min(same) == row and len(same) == w
    # the potential against the sum over every integrated problem, one quadrature each
    from bayescale import quadrature

    model = build_pass_model(counts, buckets)
    point = model.initial_point()
    (term,) = model.replace_rvs_by_values([model["passes_integrated"]])
    compiled = model.compile_fn(
        term, inputs=model.value_vars, on_unused_input="ignore", mode="FAST_COMPILE"
    )
    potential = compiled(point)
    level = np.full(buckets.n_internal, 1.0)  # the initial point's levels and exponents
    assert np.allclose(point["level"], level)
    x, _, _ = _fitted_counts(counts, buckets)
    exponent = np.exp(point["log_exponent"])
    b = buckets.index[integrated]
    offset = -exponent[b][:, None] * x[None, :]  # model effects 0 at the initial point
    each = quadrature.log_marginal(
        level[b],
        np.exp(point["sigma_problem_log__"]),
        offset,
        n[integrated],
        k[integrated],
        quadrature.start_values(n[integrated], k[integrated]),
    )
    np.testing.assert_allclose(potential, each.sum(), rtol=1e-12)


def test_problems_with_the_same_counts_in_two_buckets_keep_two_rows():
    """Buckets are cut on other models' rates too, so equal counts can sit in two buckets."""
    n = np.full((5, 3), 10.0)
    k = np.zeros((5, 3))  # never solved: integrated, all with the same counts
    k[4] = [1, 0, 0]
    rows, weight = integrated_rows(n, k, np.array([0, 1, 0, 1, 1]))
    assert rows.tolist() == [0, 1, 4] and weight.tolist() == [2.0, 2.0, 1.0]


def _aggregate():
    rng = np.random.default_rng(0)
    compute = np.logspace(21, 23, 5)
    rows = [
        {"model": f"m{i}", "compute": c, "bucket": b, "n_problems": 40, "pass_rate": p}
        for b in ("easy", "hard")
        for i, c in enumerate(compute)
        for p in [float(rng.uniform(0.1, 0.9))]
    ]
    return load_pass_aggregate(pd.DataFrame(rows).drop(index=3))


def test_padding_keeps_the_aggregate_log_density():
    data = _aggregate()
    rows = aggregate_rows(data)
    assert rows == 9
    plain = build_aggregate_pass_model(data)
    padded = build_aggregate_pass_model(data, pad_rows=size_class(rows))
    assert padded["obs_y"].get_value().size == 16
    _compare(plain, padded)


def test_a_padded_fit_has_the_unpadded_posterior_variables(mock_pymc_sample):
    """Prior draws through the whole fit: no padded coefficient or model reaches the fit."""
    from bayescale.pass_fit import fit_pass

    counts, buckets = _counts(models=5, problems=30)
    fitted = int(counts.models.fitted.sum())
    fit = fit_pass(counts, buckets, settings=SHORT, allow_unconverged=True)
    post = fit.idata["posterior"]
    _, n, k = _fitted_counts(counts, buckets)
    pinned = int(informative(n, k).sum())
    assert post.sizes["theta_solved_dim_0"] == pinned
    assert post.sizes["model_effect_raw_dim_0"] == fitted - 2
    assert post["model_effect"].dims[-1] == "model"
    assert list(post["model_effect"].coords["model"].values) == [
        counts.models.names[m] for m in np.flatnonzero(counts.models.fitted)
    ]
    assert post["theta"].shape[-1] == post["problem_exponent"].shape[-1] == buckets.kept.size
    np.testing.assert_array_equal(
        post["problem_exponent"].values, post["exponent"].values[..., buckets.index]
    )
    # the effects of the real models stay in the complement of span(1, x)
    effect = fit.draws("model_effect")
    x = np.log(counts.models.compute[counts.models.fitted])
    np.testing.assert_allclose(effect.sum(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(effect @ (x - x.mean()), 0.0, atol=1e-9)


#: Two tables of 60 problems x 6 models with other counts and other splits into sampled and
#: integrated problems (47/13 and 46/14), in one shape class.
CLASS_SEEDS = (101, 106)


@pytest.mark.slow
def test_a_new_pass_table_of_a_compiled_class_compiles_nothing(monkeypatch):
    import bayescale.ladder
    from bayescale.pass_fit import fit_pass

    # the first fit only: each ladder step that the few draws set off compiles its own program
    monkeypatch.setattr(bayescale.ladder, "LADDER_MAX_STEPS", 0)

    (first, first_buckets), (second, second_buckets) = (
        _counts(seed=seed, fit_max_compute=None) for seed in CLASS_SEEDS
    )
    assert pass_shape(first, first_buckets) == pass_shape(second, second_buckets)
    fit_pass(first, first_buckets, settings=SHORT, allow_unconverged=True)
    fitted = []

    def again() -> None:
        fitted.append(fit_pass(second, second_buckets, settings=SHORT, allow_unconverged=True))

    assert compiles(again) == 0
    assert list(fitted[0].idata["posterior"]["theta"].coords["problem"].values) == [
        second.problems[j] for j in second_buckets.kept
    ]


CHILD = textwrap.dedent(
    """
    import json, sys
    import bayescale
    bayescale.configure(devices=4, compilation_cache=sys.argv[1])
    from jax import monitoring
    from tests.test_pass_shape_classes import SHORT, _counts
    import bayescale.ladder
    from bayescale.pass_fit import fit_pass
    bayescale.ladder.LADDER_MAX_STEPS = 0  # the first fit only
    events = []
    monitoring.register_event_listener(lambda event, **kw: events.append(event))
    counts, buckets = _counts(seed=int(sys.argv[2]), fit_max_compute=None)
    fit_pass(counts, buckets, settings=SHORT, allow_unconverged=True)
    print(json.dumps({e: events.count(e) for e in set(events)}))
    """
)


@pytest.mark.slow
def test_a_new_process_loads_a_new_pass_table_of_a_compiled_class_from_the_cache(
    tmp_path: Path,
):
    def child(seed: int) -> dict[str, int]:
        return child_json(CHILD, str(tmp_path / "cache"), str(seed))

    first = child(CLASS_SEEDS[0])
    assert first.get("/jax/compilation_cache/cache_misses", 0) > 0
    second = child(CLASS_SEEDS[1])
    assert second.get("/jax/compilation_cache/cache_misses", 0) == 0
    assert second.get("/jax/compilation_cache/cache_hits", 0) > 0


@pytest.mark.sampling
def test_a_padded_fit_forecasts_what_the_unpadded_fit_does(monkeypatch):
    """Same table, padded and unpadded: posterior means and forecasts within Monte Carlo error.

    Different programs draw different chains, so the comparison is statistical: each
    difference within 4 Monte Carlo standard errors of the two fits together (sd / sqrt(ESS)
    with the smaller bulk ESS of the two gates, which only widens the tolerance).
    """
    import bayescale.pass_model
    from bayescale.pass_fit import fit_pass
    from bayescale.pass_forecast import forecast_pass

    counts, buckets = _counts(models=7, problems=60, seed=4, fit_max_compute=5e21)
    settings = SamplerSettings(seed=5, progress=False)
    padded = fit_pass(counts, buckets, settings=settings)
    monkeypatch.setattr(bayescale.pass_model, "pass_shape", lambda counts, buckets: None)
    plain = fit_pass(counts, buckets, settings=settings)
    # the unpadded model went through PyMC's numpyro path (its observed counts kept)
    assert "observed_data" in plain.idata.children
    assert "observed_data" not in padded.idata.children
    ess = min(padded.diagnostics.ess_bulk_min, plain.diagnostics.ess_bulk_min)

    def close(a: np.ndarray, b: np.ndarray) -> None:
        tol = 4 * np.sqrt((a.var(axis=0) + b.var(axis=0)) / ess)
        assert (np.abs(a.mean(axis=0) - b.mean(axis=0)) <= tol).all()

    for name in ("level", "exponent", "sigma_model", "sigma_problem", "model_effect", "theta"):
        close(padded.draws(name), plain.draws(name))
    targets = [1e22, 1e23]
    a, b = (forecast_pass(f, targets).draws for f in (padded, plain))
    for name in ("pass_rate", "bucket_pass_rate"):
        close(a[name].values, b[name].values)


def test_the_padded_log_density_is_the_unpadded_one_as_sampled():
    """As the sampler evaluates them (JAX; the padded model's data as arguments), equal.

    The binomial coefficients are data of the padded model, computed once as the unpadded
    model's constant folding computes them (SciPy): the log densities agree to rounding, not
    to the 1e-4-1e-3 by which JAX's ``gammaln`` of the counts in every evaluation differed.
    """
    import jax

    from bayescale.batch import _jaxify, data_arguments
    from bayescale.config import import_pymc_jax, jax_scope

    counts, buckets = _counts(models=3, problems=24, fit_max_compute=None)
    shape = pass_shape(counts, buckets)
    assert shape is not None and shape.pinned
    plain = build_pass_model(counts, buckets)
    padded = build_pass_model(counts, buckets, shape=shape)
    names = data_arguments(padded)
    assert "pinned_log_binom" in names
    data = [np.asarray(padded[name].get_value()) for name in names]
    plain_names = [v.name for v in plain.value_vars]
    rng = np.random.default_rng(3)
    start, padded_start = plain.initial_point(), padded.initial_point()
    with jax_scope():
        plain_logp = import_pymc_jax().get_jaxified_graph(
            inputs=plain.value_vars, outputs=[plain.logp()]
        )
        padded_logp = _jaxify(padded, names).logp
        plain_fn = jax.jit(jax.value_and_grad(lambda v: plain_logp(*v)[0]))
        padded_fn = jax.jit(jax.value_and_grad(lambda v, d: padded_logp(*v, *d)[0]))
        for _ in range(3):
            point = [start[n] + rng.normal(0.0, 0.3, np.shape(start[n])) for n in plain_names]
            wide, extra, real = [], 0.0, []
            for var in padded.value_vars:
                have = np.atleast_1d(point[plain_names.index(var.name)])
                z = rng.normal(size=np.size(padded_start[var.name]) - have.size)
                wide.append(np.concatenate([have, z]).reshape(np.shape(padded_start[var.name])))
                extra += stats.norm.logpdf(z).sum()
                real.append(np.r_[np.ones(have.size, bool), np.zeros(z.size, bool)])
            logp, grad = plain_fn(point)
            padded_value, padded_grad = padded_fn(wide, data)
            assert abs(float(padded_value) - extra - float(logp)) < 1e-9
            np.testing.assert_allclose(
                np.concatenate([np.ravel(g) for g in padded_grad])[np.concatenate(real)],
                np.concatenate([np.ravel(g) for g in grad]),
                rtol=1e-10,
                atol=1e-10,
            )

"""Tier 1-2: the sampling seam's options (compile cache, float width, chain method) and the
Laplace start of warm-up, without NUTS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymc as pm
import pytest

from bayescale import config, sampling
from bayescale.config import CACHE_ENV, compilation_cache_dir, configure, float_width, use_float32
from bayescale.errors import InputError
from bayescale.sampling import SamplerSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["off", "0", "", "false", "NO"])
def test_cache_can_be_turned_off(monkeypatch, value):
    monkeypatch.setenv(CACHE_ENV, value)
    assert compilation_cache_dir() is None


def test_cache_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "jax"))
    assert compilation_cache_dir() == str(tmp_path / "jax")
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compilation_cache_dir() == str(tmp_path / "xdg" / "bayescale" / "jax")


def test_configured_cache_sets_jax_config_and_keeps_a_user_choice(monkeypatch, tmp_path):
    import jax

    before = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
        assert configure(compilation_cache=True).compilation_cache == str(tmp_path / "cache")
        assert (tmp_path / "cache").is_dir()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
        assert jax.config.jax_compilation_cache_max_size > 0
        # a folder already configured (by the user or an earlier call) is left alone
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / "other"))
        assert configure(compilation_cache=True).compilation_cache == str(tmp_path / "cache")
        # unless a folder is named
        assert configure(compilation_cache=tmp_path / "named").compilation_cache == str(
            tmp_path / "named"
        )
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv(CACHE_ENV, "off")
        assert configure(compilation_cache=True).compilation_cache is None
        assert jax.config.jax_compilation_cache_dir is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_float32_refused_once_pytensor_runs_in_float64():
    import pytensor

    assert pytensor.config.floatX == "float64"
    assert float_width() == "float64"
    with pytest.raises(RuntimeError, match="before PyMC/PyTensor are imported"):
        use_float32()


def test_seam_passes_settings_to_the_numpyro_sampler(monkeypatch):
    calls = {}

    def fake_sampler(model, settings, chain_method, progress, kernel):
        calls.update(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            target_accept=settings.target_accept,
            chain_method=chain_method,
            progressbar=progress,
            nuts_kwargs=kernel,
        )
        return "idata", None

    import jax

    monkeypatch.setattr(sampling, "run_numpyro", fake_sampler)
    monkeypatch.setattr(jax, "local_device_count", lambda *args, **kwargs: 1)
    monkeypatch.setattr(sampling, "laplace_inverse_mass", lambda model, dense: np.full(3, 0.5))
    settings = SamplerSettings(
        chains=4, draws=10, tune=5, seed=7, target_accept=0.9, progress=False, dense_mass=True
    )
    with pm.Model() as model:
        pm.Normal("x")
    idata, seconds = sampling.sample(model, settings)
    assert idata == "idata" and seconds >= 0
    # fewer devices than chains: chains are vectorised, not run one device each
    assert calls["chain_method"] == "vectorized"
    assert (calls["draws"], calls["tune"], calls["chains"]) == (10, 5, 4)
    assert calls["target_accept"] == 0.9 and calls["nuts_kwargs"]["dense_mass"]
    np.testing.assert_array_equal(calls["nuts_kwargs"]["inverse_mass_matrix"], np.full(3, 0.5))
    assert not calls["progressbar"]
    # left open: numpyro's own depth throughout (fit_loss fills in the loss model's cap)
    assert calls["nuts_kwargs"]["max_tree_depth"] == (10, sampling.MAX_TREE_DEPTH)
    sampling.sample(
        model,
        SamplerSettings(chains=4, draws=10, seed=8, initial_mass="unit", warmup_tree_depth=4),
    )
    assert "inverse_mass_matrix" not in calls["nuts_kwargs"]
    assert calls["nuts_kwargs"]["max_tree_depth"] == (4, sampling.MAX_TREE_DEPTH)
    assert calls["target_accept"] == sampling.TARGET_ACCEPT  # left open, filled in
    # a device per chain: chains in parallel
    monkeypatch.setattr(jax, "local_device_count", lambda *args, **kwargs: 4)
    sampling.sample(model, SamplerSettings(chains=4, draws=10, seed=8, progress=False))
    assert calls["chain_method"] == "parallel"


def test_a_retry_raises_the_step_size_target_and_uncaps_warmup_or_is_not_needed():
    retry = SamplerSettings(target_accept=0.95).for_retry(0.99)
    assert retry is not None
    assert (retry.target_accept, retry.warmup_tree_depth) == (0.99, sampling.MAX_TREE_DEPTH)
    higher = SamplerSettings(target_accept=0.999, warmup_tree_depth=7).for_retry(0.99)
    assert higher is not None and higher.target_accept == 0.999  # never lowered
    done = SamplerSettings(target_accept=0.99, warmup_tree_depth=sampling.MAX_TREE_DEPTH)
    assert done.for_retry(0.99) is None
    assert SamplerSettings(target_accept=0.99).for_retry(0.99) is None  # open: not capped
    capped = SamplerSettings(target_accept=0.99, warmup_tree_depth=7).for_retry(0.99)
    assert capped is not None and capped.warmup_tree_depth == sampling.MAX_TREE_DEPTH


@pytest.mark.parametrize("depth", [0, sampling.MAX_TREE_DEPTH + 1, 7.0, True])
def test_warmup_tree_depth_outside_numpyros_range_is_refused(depth):
    with pytest.raises(InputError, match="'warmup_tree_depth' must be an integer from 1 to 10"):
        SamplerSettings(warmup_tree_depth=depth)


@pytest.mark.parametrize("seed", [0, 7, 2**31])
def test_direct_call_hands_numpyro_the_seed_pm_sample_does(monkeypatch, seed):
    import pymc.sampling.jax

    seen = []

    class Stop(Exception):
        pass

    def initial_points_stub(**kwargs):  # what both paths derive first from the seed
        seen.append(kwargs["random_seed"])
        raise Stop

    monkeypatch.setattr(
        pymc.sampling.jax, "_get_batched_jittered_initial_points", initial_points_stub
    )
    with pm.Model() as model:
        pm.Normal("x")
    settings = SamplerSettings(chains=3, draws=5, tune=5, seed=seed, progress=False)
    for run in (sampling.run_numpyro, sampling.run_pm_sample):
        with pytest.raises(Stop):
            run(model, settings, "vectorized", False, {"dense_mass": False})
    assert len(seen) == 2 and seen[0] == seen[1]


def test_direct_call_refuses_what_pm_sample_refuses():

    settings = SamplerSettings(chains=2, draws=5, tune=5, progress=False)
    with pytest.raises(ValueError, match="no free variables"):
        sampling.run_numpyro(pm.Model(), settings, "vectorized", False, {})
    with pm.Model() as discrete:
        pm.Poisson("k", 3.0)
    with pytest.raises(ValueError, match="discrete"):
        sampling.run_numpyro(discrete, settings, "vectorized", False, {})


def _quadratic(precision: np.ndarray, centre: np.ndarray):
    def value_and_grad(x):
        d = np.asarray(x, dtype=float) - centre
        return 0.5 * d @ precision @ d, precision @ d

    return value_and_grad


def test_laplace_of_a_gaussian_is_its_covariance():
    precision = np.array([[4.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1e4]])
    target = _quadratic(precision, np.array([1.0, -2.0, 3.0]))
    covariance = np.linalg.inv(precision)
    variances = sampling.laplace_from(target, np.zeros(3))
    np.testing.assert_allclose(variances, np.diag(covariance), rtol=1e-6)
    dense = sampling.laplace_from(target, np.zeros(3), dense=True)
    np.testing.assert_allclose(dense, covariance, rtol=1e-6, atol=1e-12)


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_the_laplace_optimiser_runs_blas_on_one_thread_and_puts_the_counts_back(monkeypatch):
    """SciPy's L-BFGS-B on tiny vectors: OpenBLAS threads only cost (jaxtools.one_blas_thread)."""
    import scipy.optimize
    from threadpoolctl import threadpool_limits

    real = scipy.optimize.minimize
    inside = []

    def minimize(*args, **kwargs):
        inside.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    target = _quadratic(np.diag([4.0, 2.0]), np.array([1.0, -2.0]))
    with threadpool_limits(limits=2, user_api="blas"):  # the user's count, kept
        before = _blas_threads()
        np.testing.assert_allclose(sampling.laplace_from(target, np.zeros(2)), [0.25, 0.5])
        assert _blas_threads() == before
    assert inside and all(count == 1 for count in inside[0])


def test_one_blas_thread_blocks_in_two_threads_take_turns_and_leave_the_count(monkeypatch):
    import threading
    import time

    from threadpoolctl import threadpool_limits

    from bayescale.jaxtools import one_blas_thread

    first_in, second_tried = threading.Event(), threading.Event()
    order = []

    def first():
        with one_blas_thread():
            first_in.set()
            second_tried.wait(5)
            time.sleep(0.2)  # the second is at the lock by now; without it, it would be in
            order.append("first ends")

    def second():
        first_in.wait(5)
        second_tried.set()
        with one_blas_thread():  # waits until the first block has ended and restored
            order.append("second starts")

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        threads = [threading.Thread(target=f) for f in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert _blas_threads() == before  # neither block's restore undid the other's
    assert order == ["first ends", "second starts"]


def test_laplace_falls_back_where_the_hessian_is_not_positive():
    # (0, 0) is a saddle: stationary, curvature 2 along x0 and -4 along x1; L-BFGS stays put
    def saddle(x):
        x = np.asarray(x, dtype=float)
        return x[0] ** 2 + (x[1] ** 2 - 1) ** 2, np.array([2 * x[0], 4 * x[1] * (x[1] ** 2 - 1)])

    np.testing.assert_allclose(sampling.laplace_from(saddle, np.zeros(2)), [0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(
        sampling.laplace_from(saddle, np.zeros(2), dense=True), np.diag([0.5, 1.0]), rtol=1e-6
    )


def test_laplace_gives_up_on_non_finite_values_and_degenerate_modes():
    assert sampling.laplace_from(lambda x: (np.inf, np.zeros(1)), np.zeros(1)) is None
    # a variance of 1e-12: a collapsed direction, no guide to the posterior's width
    assert sampling.laplace_from(_quadratic(np.diag([1.0, 1e12]), np.zeros(2)), np.ones(2)) is None


def test_laplace_variances_are_never_wider_than_numpyros_start():
    wide = _quadratic(np.diag([1e-9, 4.0]), np.zeros(2))
    np.testing.assert_allclose(sampling.laplace_from(wide, np.ones(2)), [1.0, 0.25], rtol=1e-6)
    np.testing.assert_allclose(
        sampling.laplace_from(wide, np.ones(2), dense=True), np.diag([1.0, 0.25]), atol=1e-9
    )


def test_laplace_of_a_centred_funnel_starts_from_the_unit_matrix():
    """Centred eight schools: the joint mode is at tau = 0, where every other width collapses."""

    effects = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    sds = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta = pm.Normal("theta", mu, tau, shape=8)
        pm.Normal("y", theta, sds, observed=effects)
    assert sampling.laplace_inverse_mass(model) is None


def test_laplace_variances_of_a_pymc_model():
    """Conjugate normal mean: posterior variance 1 / (n + 1 / prior variance)."""

    y = np.array([0.3, -1.2, 0.8, 2.0])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu, 1.0, observed=y)
        pm.HalfNormal("scale", 1.0)  # log-transformed: its own Laplace variance, in log space
    variances = sampling.laplace_inverse_mass(model)
    assert variances.shape == (2,)
    np.testing.assert_allclose(variances[0], 1 / (y.size + 0.01), rtol=1e-5)
    # HalfNormal(1) on log scale s = ln x: -log p = e^{2s}/2 - s, mode s = 0, curvature 2
    np.testing.assert_allclose(variances[1], 0.5, rtol=1e-4)


@pytest.mark.parametrize(("asked", "loss", "pass_rate"), [(None, 0.99, 0.95), (0.9, 0.9, 0.9)])
def test_a_fit_fills_in_its_models_target_accept_when_left_open(
    monkeypatch, asked, loss, pass_rate
):
    from bayescale.buckets import make_buckets
    from bayescale.data import load_loss_runs
    from bayescale.loss_fit import fit_loss
    from bayescale.pass_data import load_pass_counts
    from bayescale.pass_fit import fit_pass
    from bayescale.simulate import DEMO_TRUTH, simulate_loss_runs, simulate_pass_counts

    seen = []

    class Stop(Exception):
        pass

    def record(model, settings, start_mass=None):
        seen.append(settings.target_accept)
        raise Stop

    monkeypatch.setattr(sampling, "sample_chains", record)
    settings = SamplerSettings(target_accept=asked, progress=False)
    with pytest.raises(Stop):
        fit_loss(load_loss_runs(simulate_loss_runs(DEMO_TRUTH, runs_per_group=4)), None, settings)
    counts = load_pass_counts(simulate_pass_counts(n_models=4, n_problems=20, seed=1)[0])
    with pytest.raises(Stop):
        fit_pass(counts, make_buckets(counts), settings=settings)
    assert seen == [loss, pass_rate]


@pytest.mark.parametrize(("law", "first", "retry"), [("loss", 0.99, 0.995), ("pass", 0.95, 0.99)])
def test_a_fit_with_divergences_is_sampled_once_more_at_its_retry_target(
    monkeypatch, law, first, retry
):
    from arviz_base import from_dict

    from bayescale.buckets import make_buckets
    from bayescale.data import load_loss_runs
    from bayescale.loss_fit import fit_loss
    from bayescale.pass_data import load_pass_counts
    from bayescale.pass_fit import fit_pass
    from bayescale.simulate import DEMO_TRUTH, simulate_loss_runs, simulate_pass_counts

    seen = []
    rng = np.random.default_rng(0)

    def sample(model, settings, start_mass=None):
        seen.append((settings.target_accept, settings.warmup_tree_depth))
        diverging = np.zeros((4, 2000), dtype=bool)
        diverging[0, 0] = len(seen) == 1  # the first run diverges once, the retry not at all
        # independent draws: R-hat and ESS pass, so the ladder stops after the retry
        posterior = {"x": rng.normal(size=(4, 2000)), "sigma": rng.gamma(50, size=(4, 2000))}
        stats = {"diverging": diverging}
        return from_dict({"posterior": posterior, "sample_stats": stats}), 0.1, None

    monkeypatch.setattr(sampling, "sample_chains", sample)
    settings = SamplerSettings(progress=False)
    if law == "loss":
        fit = fit_loss(
            load_loss_runs(simulate_loss_runs(DEMO_TRUTH, runs_per_group=4)),
            settings=settings,
            allow_unconverged=True,
        )
    else:
        counts = load_pass_counts(simulate_pass_counts(n_models=4, n_problems=20, seed=1)[0])
        monkeypatch.setattr("bayescale.pass_model.add_problem_intercepts", lambda *a, **k: a[0])
        fit = fit_pass(counts, make_buckets(counts), settings=settings, allow_unconverged=True)
    capped = 7 if law == "loss" else sampling.MAX_TREE_DEPTH  # pass fits are not capped
    assert seen == [(first, capped), (retry, sampling.MAX_TREE_DEPTH)]
    assert fit.settings.target_accept == retry and fit.diagnostics.divergences == 0
    assert fit.settings.warmup_tree_depth == sampling.MAX_TREE_DEPTH


@pytest.mark.parametrize(
    ("devices", "cores", "chains", "expected"),
    [
        (4, 4, 4, "parallel"),  # a core per chain: numpyro's pmap, one chain per device
        (4, 2, 4, 2),  # fewer cores than chains: 2 devices, 2 chains in turn on each
        (100, 8, 6, "parallel"),
        (4, 2, 3, "vectorized"),  # no divisor of 3 fits 2 cores: one device
        (4, 1, 4, "vectorized"),
        (8, 3, 6, 3),
    ],
)
def test_parallel_chains_take_at_most_a_device_per_core(
    monkeypatch, devices, cores, chains, expected
):
    import jax

    monkeypatch.setattr(jax, "local_device_count", lambda *args, **kwargs: devices)
    monkeypatch.setattr(sampling, "usable_cores", lambda: cores)
    method = sampling.chains_on_devices("parallel", chains)
    if isinstance(expected, str):
        assert method == expected
    else:
        assert callable(method) and method.devices == expected  # type: ignore[union-attr]
    assert sampling.chains_on_devices("vectorized", chains) == "vectorized"


def test_chains_taking_turns_sample_as_one_device_per_chain_does(monkeypatch):
    """4 chains taking turns on 2 devices: the draws of 4 devices x 1 chain, more draws too.

    One ``pmap`` program per run, traced once and called once.
    """
    import importlib

    import jax

    # numpyro binds jax.local_device_count on import: an earlier test's stand-in may be bound
    mcmc_module = importlib.import_module("numpyro.infer.mcmc")
    monkeypatch.setattr(mcmc_module, "local_device_count", jax.local_device_count)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        pm.Normal("y", mu, 1.0, observed=np.array([0.3, 1.2, -0.4]))
    settings = SamplerSettings(draws=20, tune=20, chains=4, seed=3, progress=False)
    kernel = {"dense_mass": False, "max_tree_depth": settings.max_tree_depth}
    monkeypatch.setattr(sampling, "usable_cores", lambda: 4)
    alone, alone_chains = sampling.run_numpyro(model, settings, "parallel", False, kernel)
    assert alone_chains is not None and alone_chains.mcmc.chain_method == "parallel"

    pmap, traces, calls = jax.pmap, [], []

    def counted_pmap(function, **kwargs):
        def traced(*args):
            traces.append(1)
            return function(*args)

        program = pmap(traced, **kwargs)

        def call(*args):
            calls.append(1)
            return program(*args)

        return call

    monkeypatch.setattr(jax, "pmap", counted_pmap)
    monkeypatch.setattr(sampling, "usable_cores", lambda: 2)
    turns, chains = sampling.run_numpyro(model, settings, "parallel", False, kernel)
    assert chains is not None and chains.mcmc.chain_method.devices == 2
    assert (len(traces), len(calls)) == (1, 1)
    np.testing.assert_array_equal(turns["posterior"]["mu"], alone["posterior"]["mu"])
    np.testing.assert_array_equal(
        turns["sample_stats"]["n_steps"], alone["sample_stats"]["n_steps"]
    )
    # the convergence ladder's continuation: numpyro's post_warmup_state, taking turns
    longer, _ = sampling.more_draws(chains, 10)
    assert (len(traces), len(calls)) == (2, 2)
    monkeypatch.setattr(jax, "pmap", pmap)
    longer_alone, _ = sampling.more_draws(alone_chains, 10)
    assert longer["posterior"]["mu"].shape == (4, 30)
    np.testing.assert_array_equal(longer["posterior"]["mu"], longer_alone["posterior"]["mu"])


@pytest.fixture
def two_of_64_cores(monkeypatch):
    """A machine of 64 cores of which this process may use 2 (taskset, a cpuset)."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "process_cpu_count", lambda: 2, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(config, "cgroup_cpu_quota", lambda: None)


def test_usable_cores_are_the_process_affinity_not_the_machine(monkeypatch, two_of_64_cores):
    import os

    assert config.usable_cores() == 2
    monkeypatch.delattr(os, "process_cpu_count", raising=False)  # Python 3.12
    assert config.usable_cores() == 2
    monkeypatch.delattr(os, "sched_getaffinity")  # neither: the machine's
    assert config.usable_cores() == 64
    monkeypatch.setattr(config, "cgroup_cpu_quota", lambda: 3)  # a container's --cpus 2.5
    assert config.usable_cores() == 3


def _cgroups(
    tmp_path: Path, lines: str, files: dict[str, str], read=config.cgroup_cpu_quota
) -> int | None:
    """``read`` (a cgroup reader of config) of a fake /proc/self/cgroup and /sys/fs/cgroup."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "proc").write_text(lines)
    for name, text in files.items():
        path = tmp_path / "fs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return read(str(tmp_path / "proc"), str(tmp_path / "fs"))


def test_a_cgroup_cpu_quota_caps_the_cores(tmp_path):
    # v2: the smallest quota of the cgroup and its parents, rounded up
    v2 = {"cpu.max": "max 100000\n", "box/cpu.max": "250000 100000\n", "box/job/cpu.max": "max"}
    assert _cgroups(tmp_path, "0::/box/job\n", v2) == 3
    assert _cgroups(tmp_path / "none", "0::/\n", {"cpu.max": "max 100000\n"}) is None
    # v1: the cpu controller's quota and period; -1 is none
    v1 = {"cpu/job/cpu.cfs_quota_us": "150000\n", "cpu/job/cpu.cfs_period_us": "100000\n"}
    assert _cgroups(tmp_path / "v1", "4:memory:/x\n3:cpu,cpuacct:/job\n", v1) == 2
    unlimited = {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}
    assert _cgroups(tmp_path / "v1none", "3:cpu,cpuacct:/\n", unlimited) is None
    assert config.cgroup_cpu_quota(str(tmp_path / "missing")) is None
    # v1 in a container: the limit at the mount, the process's path named from outside
    docker = {"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}
    assert _cgroups(tmp_path / "docker", "4:cpu,cpuacct:/docker/abc\n", docker) == 2


def test_every_part_counts_the_usable_cores(monkeypatch, two_of_64_cores):
    """Devices of a fit's lanes and of chains, the command's devices and a suite's workers."""
    import argparse

    import jax

    from bayescale import batch, cli, suite

    monkeypatch.setattr(jax, "local_device_count", lambda *args, **kwargs: 8)
    assert batch._devices(8) == 2
    assert sampling.chains_on_devices("parallel", 4).devices == 2  # type: ignore[union-attr]

    asked = {}
    monkeypatch.setattr(config, "jax_started", lambda: False)
    monkeypatch.setattr(config, "devices_set", lambda: False)
    monkeypatch.setattr(config, "configure", lambda **kwargs: asked.update(kwargs))
    cli._configure_process(argparse.Namespace(chains=None))
    assert asked["devices"] == max(SamplerSettings.chains, 2)

    ran = {}

    def run_suite(jobs, out, **kwargs):
        ran.update(kwargs)
        raise SystemExit

    monkeypatch.setattr(suite, "read_suite", lambda inputs, **kwargs: [])
    monkeypatch.setattr(suite, "run_suite", run_suite)
    args = cli.build_parser().parse_args(["suite", "x.toml", "--out", "out"])
    with pytest.raises(SystemExit):
        cli._run_suite_command(args)
    assert (ran["workers"], ran["config"].devices) == (1, 2)


def test_no_module_counts_the_machine_cores_itself():
    """``config.usable_cores`` is the one place that asks the system how many cores there are."""
    for path in sorted((ROOT / "bayescale").glob("*.py")):
        if path.name != "config.py":
            text = path.read_text()
            assert "cpu_count(" not in text and "sched_getaffinity" not in text, path.name


def test_a_cgroup_memory_limit_is_what_is_left_of_it(tmp_path):
    def free(folder: str, lines: str, files: dict[str, str]) -> int | None:
        return _cgroups(tmp_path / folder, lines, files, read=config.cgroup_memory_free)

    gib = 2**30
    # v2: the smallest limit less usage of the cgroup and its parents; "max" is none
    v2 = {"memory.max": "max\n", "box/memory.max": f"{4 * gib}\n", "box/memory.current": f"{gib}\n"}
    assert free("v2", "0::/box\n", v2) == 3 * gib
    # v1 in a container: the limit at the mount; an unlimited one (2^63 - 4096) is none
    v1 = {"memory/memory.limit_in_bytes": f"{2 * gib}\n", "memory/memory.usage_in_bytes": "0\n"}
    assert free("v1", "5:memory:/docker/abc\n", v1) == 2 * gib
    huge = {"memory/memory.limit_in_bytes": "9223372036854771712\n"}
    assert free("none", "5:memory:/\n", huge) is None


@pytest.mark.parametrize("draws", [1, 3])
def test_fewer_draws_than_split_rhat_needs_are_refused(tmp_path, capsys, draws):
    from bayescale.cli import main
    from bayescale.simulate import demo_loss_runs

    with pytest.raises(InputError, match=r"'draws' must be an integer >= 4 \(split R-hat"):
        SamplerSettings(draws=draws)
    path = tmp_path / "runs.csv"
    demo_loss_runs().to_csv(path, index=False)
    args = ["loss", str(path), "--target-compute", "1e22", "--draws", str(draws), "--quiet"]
    with pytest.raises(SystemExit) as exc:  # before any sampling: the gate could never pass
        main(args)
    assert exc.value.code == 2
    assert "split R-hat" in capsys.readouterr().err


def test_a_saved_record_of_fewer_draws_is_kept_but_not_sampled_with():
    # fits of 1-3 draws a chain (saved by versions before the minimum) no longer loaded
    from dataclasses import replace

    recorded = SamplerSettings.recorded(draws=2, chains=3, seed=5)
    assert (recorded.draws, recorded.chains, recorded.seed) == (2, 3, 5)
    assert recorded.as_attrs()["draws"] == 2
    assert SamplerSettings.recorded(draws=10) == SamplerSettings(draws=10)
    with pytest.raises(InputError, match=r"'draws' must be an integer >= 4 \(split R-hat"):
        replace(recorded, seed=6)  # sampling again with them is refused as a new run is
    for bad in ({"draws": 0}, {"draws": 2, "chains": 1}, {"draws": 2, "seed": -1}):
        with pytest.raises(InputError, match="sampler setting"):
            SamplerSettings.recorded(**bad)


@pytest.mark.sampling
@pytest.mark.parametrize("containers", [False, True], ids=["sample", "batch.sample_one"])
def test_more_chains_than_draws_sample_without_an_arviz_warning(containers):
    # ArviZ guessed misnamed dimensions and warned on stderr ("Found chain dimension to be
    # longer than draw dimension") for --chains 8 --draws 4; filterwarnings = error fails it
    with pm.Model() as model:
        x = pm.Normal("x")
        if containers:  # the data-as-arguments path of the loss model
            pm.Normal("y", x, observed=pm.Data("y_obs", np.zeros(3)))
    settings = SamplerSettings(chains=6, draws=4, tune=20, seed=1, progress=False)
    idata, _ = sampling.sample(model, settings)
    assert dict(idata["posterior"].sizes) == {"chain": 6, "draw": 4}

"""The one sampling seam: every MCMC call in bayescale goes through :func:`sample`.

It runs PyMC's numpyro path (JAX NUTS; :func:`run_numpyro`, the steps of ``pm.sample(
nuts_sampler="numpyro")`` with the same seed and draws, without ``pm.sample``'s step-method
assignment, which builds one symbolic gradient per variable only to learn that NUTS applies:
about 1 s on Pythia x MATH), keeps numpyro's ``MCMC`` so that :func:`more_draws` can run the
adapted chains on (:class:`Chains`; the convergence ladder of :mod:`bayescale.ladder`), and picks
how chains run from the JAX devices it finds (one device per chain when there are enough, on a
CPU with fewer cores than chains taking turns on a device per core, else vectorised); it
changes no process-wide setting (:mod:`bayescale.config` holds the ones a program may ask for
through :func:`bayescale.configure`). Fast tests swap
:func:`run_numpyro` for :func:`run_pm_sample`, its reference, so that
``pymc.testing.mock_sample_setup_and_teardown`` can stand in for ``pm.sample``
(``tests/conftest.py``). The code is device-agnostic: on a machine with a CUDA build of JAX
(``pip install "bayescale[gpu]"``) the same call runs on the GPU.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bayescale.config import float_width, import_pymc_jax, jax_scope, usable_cores
from bayescale.jaxtools import LAPLACE_MAX_PARAMETERS as LAPLACE_MAX_PARAMETERS
from bayescale.jaxtools import LAPLACE_MAXITER as LAPLACE_MAXITER
from bayescale.jaxtools import LAPLACE_MIN_VARIANCE as LAPLACE_MIN_VARIANCE
from bayescale.jaxtools import TARGET_ACCEPT as TARGET_ACCEPT
from bayescale.jaxtools import _pmap_cache as _pmap_cache
from bayescale.jaxtools import draws_tree
from bayescale.jaxtools import laplace_from as laplace_from
from bayescale.jaxtools import pmap_programs_released as pmap_programs_released
from bayescale.jaxtools import release_pmapped as release_pmapped
from bayescale.progress import heartbeat

if TYPE_CHECKING:
    import numpy as np
    import pymc as pm
    import xarray as xr

log = logging.getLogger(__name__)

from bayescale.sampler_settings import INITIAL_MASS as INITIAL_MASS  # noqa: E402
from bayescale.sampler_settings import MAX_TREE_DEPTH as MAX_TREE_DEPTH  # noqa: E402
from bayescale.sampler_settings import RETRY_TARGET_ACCEPT as RETRY_TARGET_ACCEPT  # noqa: E402
from bayescale.sampler_settings import SAMPLERS as SAMPLERS  # noqa: E402
from bayescale.sampler_settings import SamplerSettings as SamplerSettings  # noqa: E402

#: What :func:`~bayescale.progress.heartbeat` says while chains run without progress bars
#: (chains taking turns on a device, bayescale's own lanes programs).
STILL_SAMPLING = "still sampling"


def show_progress(requested: bool | None) -> bool:
    """Decide whether to draw progress bars: on a terminal, never in CI, never if quiet."""
    if requested is not None:
        return requested
    return sys.stderr.isatty() and not os.environ.get("CI")


#: Sample statistics kept per draw: :data:`EXTRA_FIELDS` and the tree depth PyMC derives.
STATS_PER_DRAW = 7


def available_memory() -> int | None:
    """Bytes of memory this process may still take.

    ``MemAvailable`` (else the physical memory), or less when a cgroup (a container's
    ``--memory``) allows less (:func:`bayescale.config.cgroup_memory_free`). ``None`` where
    nothing can be read (the memory check is then skipped).
    """
    from bayescale.config import cgroup_memory_free

    host = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    host = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if host is None:
        with suppress(OSError, ValueError, AttributeError):
            host = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    known = [b for b in (host, cgroup_memory_free()) if b is not None]
    return min(known) if known else None


def _sizes(model: pm.Model, variables: Sequence[Any]) -> list[int]:
    """Number of scalars of each of ``variables`` (model variables), from their dims or shapes.

    A variable whose shape only the graph decides counts as 0 (a lower bound, as
    :func:`stored_bytes` is): evaluating it compiles a function, 0.55 s of a new process's
    first pass fit, for the padded pass model's few model effects.
    """
    import math

    lengths = {d: len(v) for d, v in model.coords.items() if v is not None}
    sizes = []
    for v in variables:
        dims = model.named_vars_to_dims.get(v.name)
        if dims and all(d in lengths for d in dims):
            sizes.append(math.prod(lengths[d] for d in dims))
        elif None not in v.type.shape:
            sizes.append(math.prod(v.type.shape))
        else:
            sizes.append(0)
    return sizes


def stored_bytes(model: pm.Model, settings: SamplerSettings, added_per_draw: int = 0) -> int:
    """Bytes the draws of one fit of ``model`` keep: a lower bound on the fit's memory.

    ``chains x draws x 8`` bytes times the scalars kept per draw: the unconstrained values
    numpyro returns (one per scalar of every free variable; kept to run the chains on), the
    posterior (every free variable and deterministic, on its own scale), the
    :data:`STATS_PER_DRAW` sample statistics, and ``added_per_draw`` quantities added after
    sampling (the pass model's problem intercepts). Not counted, so a fit needs more: JAX's
    copies while it samples and collects, the convergence ladder's extra draws and chains
    (at most 4x the draws on 3x the chains), and the forecast's per-draw arrays (predictive
    draws per target and group; with ``--require``, the curve on a grid of 50 computes a
    decade). The demo loss model keeps 1.6 MiB at 4 x 1000, 66 MiB at 8 x 20000.
    """
    from pymc.util import get_default_varnames

    posterior = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    scalars = sum(_sizes(model, model.free_RVs)) + sum(_sizes(model, posterior))
    return settings.chains * settings.draws * 8 * (scalars + STATS_PER_DRAW + added_per_draw)


def check_memory(
    model: pm.Model, settings: SamplerSettings, added_per_draw: int = 0, what: str = ""
) -> None:
    """Refuse draws and chains whose stored draws alone take over half the memory available.

    Half, because :func:`stored_bytes` is a lower bound (JAX's working copies, the
    convergence ladder's extra draws and chains and the forecast's arrays come on top).
    ``what`` names the lanes in the message (default: ``"C chains"``).

    Raises
    ------
    InputError
        When :func:`stored_bytes` is more than half of :func:`available_memory`: sampling
        would fail or swap for hours. The message gives both in GiB and what to lower.
    """
    _refuse_over_half(lambda: stored_bytes(model, settings, added_per_draw), settings, what)


def check_memory_before_model(settings: SamplerSettings, added_per_draw: int = 0) -> None:
    """:func:`check_memory` on the draws counted without the model (``bayescale check``).

    The sample statistics and ``added_per_draw`` (a per-problem pass table's problem
    intercepts), not the model's own variables: a lower bound of :func:`stored_bytes`, so
    what this refuses the fit refuses too, with the same message, but the fit may refuse
    more. It builds no model (building it would import PyMC): it counts 7 of the 54 scalars
    a draw of the demo loss spec keeps, 127 of the 438 of the demo pass-rate spec's.

    Raises
    ------
    InputError
        As :func:`check_memory`.
    """
    _refuse_over_half(
        lambda: settings.chains * settings.draws * 8 * (STATS_PER_DRAW + added_per_draw),
        settings,
        "",
    )


def _refuse_over_half(
    needed_bytes: Callable[[], int], settings: SamplerSettings, what: str
) -> None:
    """Refuse (:func:`check_memory`) when ``needed_bytes()`` is over half the memory available."""
    from bayescale.errors import InputError

    limit = available_memory()
    if limit is None:
        return
    needed = needed_bytes()
    if needed > limit / 2:
        gib = 2**30
        raise InputError(
            f"{what or f'{settings.chains} chains'} x {settings.draws} draws would keep at "
            f"least {needed / gib:.1f} GiB of draws, more than half the {limit / gib:.1f} GiB "
            "of memory available. Lower --draws or --chains (the defaults, 4 x 1000, give "
            "bulk ESS in the thousands)."
        )


def sample(model: pm.Model, settings: SamplerSettings) -> tuple[xr.DataTree, float]:
    """Sample ``model`` with JAX NUTS and return the posterior and the wall time.

    Parameters
    ----------
    model
        A PyMC model.
    settings
        Draws, chains, seed, progress and chain method; ``target_accept`` left open is
        :data:`TARGET_ACCEPT`.

    Returns
    -------
    idata, seconds
        The ``DataTree`` PyMC's numpyro path returns (groups ``posterior`` and
        ``sample_stats``; ``observed_data`` and ``constant_data`` too for a model without
        data containers) and the seconds it took, compile time included.
    """
    idata, seconds, _ = sample_chains(model, settings)
    return idata, seconds


def sample_chains(
    model: pm.Model, settings: SamplerSettings, start_mass: np.ndarray | None = None
) -> tuple[xr.DataTree, float, ChainState | None]:
    """:func:`sample`, also returning the chains to run on (:func:`more_draws`).

    ``start_mass`` is warm-up's starting inverse mass matrix (a diagonal, e.g. an earlier
    run's :attr:`Chains.inverse_mass`), in place of the Laplace one. The chains are ``None``
    when the run went through :func:`run_pm_sample` (the mocked tests).
    """
    settings = settings.with_target_accept(TARGET_ACCEPT)
    progress = show_progress(settings.progress)
    start = time.perf_counter()
    kernel: dict[str, object] = {
        "dense_mass": settings.dense_mass,
        "max_tree_depth": settings.max_tree_depth,
    }
    with jax_scope(), warnings.catch_warnings():
        chain_method = pick_chain_method(settings)
        if float_width() == "float32":
            # PyMC's JAX glue casts to float64 here and there; JAX truncates to float32,
            # which is what float32 mode asks for
            warnings.filterwarnings("ignore", message="Explicitly requested dtype float64")
        if start_mass is not None and not settings.dense_mass:
            kernel["inverse_mass_matrix"] = start_mass
        elif settings.initial_mass == "laplace" and not _has_data(model):
            # a model with data containers finds its Laplace start on the data-as-arguments
            # path (bayescale.batch.sample_one), compiled once per shape
            laplace = laplace_inverse_mass(model, dense=settings.dense_mass)
            if laplace is not None:
                kernel["inverse_mass_matrix"] = laplace
        # the data-as-arguments path keeps its programs per template (bayescale.batch)
        released = nullcontext() if _has_data(model) else pmap_programs_released()
        with released:
            idata, chains = run_numpyro(model, settings, chain_method, progress, kernel)
    return idata, time.perf_counter() - start, chains


def _has_data(model: pm.Model) -> bool:
    """Whether the model has data containers: then it samples with its data as arguments."""
    return bool(model.data_vars)


def pick_chain_method(settings: SamplerSettings) -> Literal["parallel", "vectorized"]:
    """The settings' ``chain_method``, or one JAX device per chain when there are enough.

    Reads the devices JAX has and changes nothing: more CPU devices come from
    :func:`bayescale.configure` (the ``bayescale`` command asks for one per chain).
    """
    import jax

    devices = jax.local_device_count()
    method = settings.chain_method or ("parallel" if devices >= settings.chains else "vectorized")
    log.debug("sampling %d chains (%s) on %d JAX devices", settings.chains, method, devices)
    return method


def chains_on_devices(
    chain_method: Literal["parallel", "vectorized"], chains: int
) -> str | Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``chain_method`` numpyro gets for ``chains`` chains: at most one device per CPU core.

    With one JAX CPU device per chain on fewer CPU cores than chains (4 devices on 2 cores),
    numpyro's ``pmap`` of one chain per device grew without bound while it sampled: the
    LiveCodeBench pass fit peaked at 10-11.4 GiB RSS, growing about 20 MiB per CPU-second
    whether or not glibc's arenas were limited (``MALLOC_ARENA_MAX=2``) or jemalloc replaced
    glibc's ``malloc``; the same chains on 2 devices stayed flat (docs/speed.md, "Memory"). So
    on a CPU with fewer cores than chains, the chains are spread over as many devices as there
    are cores (the largest divisor of ``chains`` that is not more), each device running its
    share one chain after another (:func:`_chains_in_turn`; under ``vmap`` in lockstep, as
    before, the same fit took 11-14% more CPU time); one device is numpyro's
    ``"vectorized"``, one device per chain its ``"parallel"``. Other backends (GPUs) keep
    ``chain_method`` as it is.
    """
    import jax

    if chain_method != "parallel" or jax.default_backend() != "cpu":
        return chain_method
    most = min(jax.local_device_count(), usable_cores(), chains)
    devices = max(d for d in range(1, most + 1) if chains % d == 0)
    if devices == chains:
        return "parallel"
    if devices == 1:
        return "vectorized"
    return _chains_in_turn(devices, chains)


def _chains_in_turn(
    devices: int, chains: int
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A numpyro ``chain_method``: ``chains // devices`` chains one after another per device.

    One ``pmap`` over the first ``devices`` devices of a ``lax.map`` (a loop) over each
    device's chains: chain ``i`` runs on device ``i % devices`` in turn ``i // devices``, with
    its own key and start, alone (the same draws as one device per chain). No chain waits on
    another's tree, as chains sharing a device under ``vmap`` do, and no device waits for the
    others between its chains, as successive ``pmap`` calls (rounds) do: a device takes the
    sum of its chains' times, the fit the longest device's, at most the rounds' sum of their
    longest chains. One program, traced and compiled once per run.
    """
    import jax
    import numpy as np

    per_device = chains // devices

    def on_host(x: Any) -> Any:
        # a run's keys and states come from the run before, laid out for its pmap's output
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return x  # typed keys have no numpy form
        return np.asarray(x)

    def method(one_chain: Callable[..., Any]) -> Callable[..., Any]:
        def in_turn(map_args: Any) -> Any:
            return jax.lax.map(one_chain, map_args)

        program = jax.pmap(in_turn, devices=jax.local_devices()[:devices])

        def run(map_args: Any) -> Any:
            def split(x: Any) -> Any:  # chain i to device i % devices, its turn i // devices
                return x.reshape(per_device, devices, *x.shape[1:]).swapaxes(0, 1)

            def join(x: Any) -> Any:
                return x.swapaxes(0, 1).reshape(devices * per_device, *x.shape[2:])

            laid_out = jax.tree.map(lambda x: split(on_host(x)), map_args)
            return jax.tree.map(join, program(laid_out))

        return run

    method.devices = devices  # type: ignore[attr-defined]
    return method


def laplace_inverse_mass(model: pm.Model, *, dense: bool = False) -> np.ndarray | None:
    """Posterior variances of a Laplace approximation, to start NUTS warm-up from.

    Warm-up starting from numpyro's unit mass matrix spends its first window, where the
    matrix is not yet estimated, on deep trees: with the pass model's intercepts, exponents
    and model effects pinned to posterior sds of 0.003-0.05, trees of 200-340 leapfrog steps
    per iteration (Pythia x MATH: 25,000 of a chain's 35,000 warm-up steps in iterations
    25-100). Started from these variances, warm-up took 13,500 steps per chain, as few as when
    started from the variances of an earlier fit's draws, and 10.3 s instead of 17.4 s; the
    whole fit 16.7 s instead of 20.3 s in one process, bulk ESS 1454 instead of 1195. The
    variances came within 0.6-1.09x of the posterior's. The Hessian's diagonal at the
    *initial* point instead of the mode made the same fit slower (26.8 s against 24.1 s).

    The mode of the log density over the unconstrained parameters is found by L-BFGS (SciPy)
    from the model's initial point, with the log density and gradient compiled by JAX; the
    Hessian ``H`` there comes from central differences of the gradient. Returned: the
    diagonal of ``H^-1`` (all of ``H^-1`` when ``dense``, its eigenvalues cut at 1) when ``H``
    is positive definite, else ``1 / H_ii`` where that is positive and 1 elsewhere; variances
    above 1, numpyro's own start, are cut to 1. A centred hierarchical scale can have its
    mode at zero (a funnel): the optimiser runs down the neck and the other variances there
    collapse; a variance under :data:`LAPLACE_MIN_VARIANCE` gives ``None``, the unit start
    (tested on a centred eight-schools model).

    Returns
    -------
    numpy.ndarray or None
        In numpyro's order of the flattened free parameters (``model.value_vars``); ``None``
        (start from the unit matrix) when the model has more than
        :data:`LAPLACE_MAX_PARAMETERS` or :func:`laplace_from` finds no usable mode, or when
        compiling or optimising fails (logged; the start is only a speed-up).
    """
    with jax_scope():
        return _laplace_inverse_mass(model, dense)


def _laplace_inverse_mass(model: pm.Model, dense: bool) -> np.ndarray | None:
    """:func:`laplace_inverse_mass` inside :func:`bayescale.config.jax_scope`."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree

    point = model.initial_point()
    start, unravel = ravel_pytree([jnp.asarray(point[v.name]) for v in model.value_vars])
    if start.size > LAPLACE_MAX_PARAMETERS:
        return None
    try:
        potential = import_pymc_jax().get_jaxified_logp(model, negative_logp=False)  # -log p
        value_and_grad = jax.jit(jax.value_and_grad(lambda x: potential(unravel(x))))
        return laplace_from(value_and_grad, np.asarray(start), dense=dense)
    except Exception as error:  # a failed speed-up must not fail the fit
        log.warning("Laplace start failed (%s); warm-up starts from the unit matrix", error)
        return None


#: What numpyro records per draw besides the values (PyMC's numpyro path collects the same).
EXTRA_FIELDS = (
    "num_steps",
    "potential_energy",
    "energy",
    "adapt_state.step_size",
    "accept_prob",
    "diverging",
)


class ChainState(Protocol):
    """Where a fit's chains stopped, for more draws or a new run's warm-up.

    :class:`Chains` here; ``batch.ArgumentChains`` on the data-as-arguments path.
    """

    @property
    def tune(self) -> int:
        """The warm-up steps the chains took."""
        ...

    @property
    def inverse_mass(self) -> np.ndarray:
        """The adapted inverse mass matrix, averaged over chains."""
        ...


@dataclass(frozen=True, eq=False)
class Chains:
    """Where a run's chains stopped: run them on for more draws from the adapted kernel.

    Attributes
    ----------
    mcmc
        numpyro's ``MCMC`` after its run: ``last_state`` holds each chain's position, step
        size and mass matrix at the end of the kept draws.
    model
        The PyMC model sampled.
    samples, stats
        The raw draws (unconstrained values by position, ``(chain, draw, ...)``) and per-draw
        statistics so far.
    tune
        The warm-up steps the chains took.
    """

    mcmc: Any
    model: Any
    samples: dict[Any, Any]
    stats: dict[str, Any]
    tune: int

    @property
    def inverse_mass(self) -> np.ndarray:
        """The adapted inverse mass matrix, averaged over chains: where new chains start."""
        import numpy as np

        return np.asarray(self.mcmc.last_state.adapt_state.inverse_mass_matrix).mean(axis=0)


def run_numpyro(
    model: pm.Model,
    settings: SamplerSettings,
    chain_method: Literal["parallel", "vectorized"],
    progress: bool,
    kernel: dict[str, object],
) -> tuple[xr.DataTree, ChainState | None]:
    """Run ``pm.sample(nuts_sampler="numpyro")``'s sampler, keeping numpyro's ``MCMC``.

    A model with data containers (``pm.Data``, the loss model) goes to
    :func:`bayescale.batch.sample_one` instead: there the data are arguments of the compiled
    program, not constants in it, so that a new table of the same shape class reuses the
    programs (docs/performance.md, "Shape classes"); its Laplace start is found there too.

    The same steps as ``pymc.sampling.jax.sample_numpyro_nuts`` (seed derived as
    ``pm.sample`` derives the first chain's, PyMC's jittered initial points, numpyro's
    ``NUTS`` on PyMC's jaxified log density, the same post-processing into a ``DataTree``),
    so the draws are identical (tested against :func:`run_pm_sample`), without
    ``pm.sample``'s step-method assignment, and with the ``MCMC`` object kept
    (:class:`Chains`) so that :func:`more_draws` can run the adapted chains on. ``kernel``
    holds keyword arguments of numpyro's ``NUTS`` (``dense_mass``, ``inverse_mass_matrix``).
    """
    import jax
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    if _has_data(model) and model.free_RVs:
        from bayescale.batch import sample_one

        start_mass = kernel.get("inverse_mass_matrix")
        if settings.dense_mass:
            start_mass = None  # a dense start is the numpyro path's alone
        with heartbeat(STILL_SAMPLING, enabled=progress):  # the lanes programs draw no bars
            return sample_one(
                model, settings, None if start_mass is None else np.asarray(start_mass)
            )
    pmjax = import_pymc_jax()
    from pymc.util import get_random_generator
    from pymc.vartypes import discrete_types

    # the checks pm.sample makes before it hands over to numpyro
    if not model.free_RVs:
        raise ValueError("the model has no free variables to sample")
    discrete = [v.name for v in model.value_vars if v.dtype in discrete_types]
    if discrete:
        raise ValueError(f"NUTS needs continuous variables; {discrete} are discrete")
    with jax_scope():  # also when called outside sample() (tests)
        seed = int(get_random_generator(settings.seed).spawn(settings.chains)[0].integers(2**30))
        potential = pmjax.get_jaxified_logp(
            model, negative_logp=False
        )  # -log p, numpyro's potential
        initial = pmjax._get_batched_jittered_initial_points(
            model=model, chains=settings.chains, initvals=None, random_seed=seed, logp_fn=potential
        )
        method = chains_on_devices(chain_method, settings.chains)
        # numpyro draws no progress bars for a chain_method of its caller's
        bars = progress and not callable(method)
        mcmc = MCMC(
            NUTS(
                potential_fn=potential,
                target_accept_prob=settings.target_accept or TARGET_ACCEPT,
                adapt_step_size=True,
                adapt_mass_matrix=True,
                **{"dense_mass": False, **kernel},
            ),
            num_warmup=settings.tune,
            num_samples=settings.draws,
            num_chains=settings.chains,
            postprocess_fn=None,
            chain_method=method,
            progress_bar=bars,
        )
        key = jax.random.PRNGKey(seed)
        start = time.perf_counter()
        with heartbeat(STILL_SAMPLING, enabled=progress and not bars):
            mcmc.run(
                jax.random.split(key, settings.chains),
                init_params=initial,
                extra_fields=EXTRA_FIELDS,
            )
        chains = _collect(mcmc, model, settings.tune, {}, {})
        return _to_datatree(chains, time.perf_counter() - start), chains


def more_draws(
    chains: ChainState, draws: int, progress: bool = False
) -> tuple[xr.DataTree, ChainState]:
    """Run ``chains`` on for ``draws`` more draws each, from where they stopped.

    No new warm-up: every chain keeps its adapted step size and mass matrix and its random
    stream (numpyro's ``post_warmup_state``). The posterior returned holds the earlier draws
    followed by the new ones. Chains of the data-as-arguments path run on through
    :func:`bayescale.batch.more_draws_one`.
    """
    if not isinstance(chains, Chains):
        from bayescale.batch import ArgumentChains, more_draws_one

        assert isinstance(chains, ArgumentChains)
        with heartbeat(STILL_SAMPLING, enabled=progress):
            return more_draws_one(chains, draws)
    mcmc = chains.mcmc
    mcmc.post_warmup_state = mcmc.last_state
    mcmc.num_samples = draws
    mcmc.progress_bar = progress and not callable(mcmc.chain_method)
    start = time.perf_counter()
    with (
        jax_scope(),
        pmap_programs_released(),
        heartbeat(STILL_SAMPLING, enabled=progress and not mcmc.progress_bar),
    ):
        mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=EXTRA_FIELDS)
        longer = _collect(mcmc, chains.model, chains.tune, chains.samples, chains.stats)
        return _to_datatree(longer, time.perf_counter() - start), longer


def _collect(
    mcmc: Any, model: Any, tune: int, samples: dict[Any, Any], stats: dict[str, Any]
) -> Chains:
    """The draws of ``mcmc``'s last run after ``samples`` and ``stats``, as :class:`Chains`."""
    import numpy as np

    new_samples = mcmc.get_samples(group_by_chain=True)
    new_stats = import_pymc_jax()._numpyro_stats_to_dict(mcmc)

    def joined(old: dict[Any, Any], new: Any) -> dict[Any, Any]:
        if isinstance(new, list | tuple):
            new = dict(enumerate(new))
        return {
            k: np.concatenate([old[k], np.asarray(v)], axis=1) if k in old else np.asarray(v)
            for k, v in new.items()
        }

    return Chains(
        mcmc=mcmc,
        model=model,
        samples=joined(samples, new_samples),
        stats=joined(stats, new_stats),
        tune=tune,
    )


def _to_datatree(chains: Chains, seconds: float) -> xr.DataTree:
    """The posterior of ``chains`` as PyMC's numpyro path returns it."""
    import jax.numpy as jnp
    import numpy as np
    from arviz_base import make_attrs
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        find_constants,
        find_observations,
    )
    from pymc.util import get_default_varnames

    model = chains.model
    names = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    values = [jnp.asarray(chains.samples[i]) for i in range(len(model.value_vars))]
    pmjax = import_pymc_jax()
    outputs = pmjax._postprocess_samples(
        pmjax.get_jaxified_graph(inputs=model.value_vars, outputs=names), values, None, "vmap"
    )
    coords, dims = coords_and_dims_for_inferencedata(model)
    groups: dict[str, Any] = {
        "posterior": {v.name: np.asarray(out) for v, out in zip(names, outputs, strict=True)},
        "sample_stats": dict(chains.stats),
    }
    observed = find_observations(model)
    if observed is not None:
        groups["observed_data"] = observed
    constant = find_constants(model)
    if constant is not None:
        groups["constant_data"] = constant
    import numpyro

    attrs = {"sampling_time": seconds, "tuning_steps": chains.tune}
    return draws_tree(
        groups,
        coords=coords,
        dims=dims,
        attrs={"posterior": make_attrs(attrs, inference_library=numpyro)},
    )


def run_pm_sample(
    model: pm.Model,
    settings: SamplerSettings,
    chain_method: Literal["parallel", "vectorized"],
    progress: bool,
    kernel: dict[str, object],
) -> tuple[xr.DataTree, None]:
    """:func:`run_numpyro`'s reference: the same run through ``pm.sample``.

    Tests check that both give the same draws, and swap this in for :func:`run_numpyro` when
    ``pm.sample`` is mocked. It keeps no chains to run on (``None``).
    """
    import pymc as pm

    with jax_scope():
        idata = pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            random_seed=settings.seed,
            model=model,
            nuts_sampler=settings.nuts_sampler,
            nuts={
                "target_accept": settings.target_accept or TARGET_ACCEPT,
                "chain_method": chain_method,
                **kernel,
            },
            progressbar=progress,
            quiet=not progress,
            compute_convergence_checks=False,
        )
    return idata, None


def sample_sequential(
    model: pm.Model,
    inputs: Sequence[Mapping[str, np.ndarray]],
    settings: SamplerSettings,
    coords: Sequence[Mapping[str, Sequence[Any]]] | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[list[xr.DataTree], float]:
    """:func:`bayescale.batch.sample_batched`'s reference: one fit per dataset, through the seam.

    Same arguments and results; each dataset's values are set into the template
    (``pm.set_data``) and sampled by :func:`sample`. Tests replace
    :func:`bayescale.batch.sample_batched` by this to run a batch under ``pymc.testing``'s
    mocked ``pm.sample``.
    """
    import pymc as pm
    import xarray as xr

    from bayescale.batch import dataset_seed

    start = time.perf_counter()
    idatas = []
    for i, data in enumerate(inputs):
        pm.set_data(data, model=model)
        seed = seeds[i] if seeds is not None else dataset_seed(settings.seed, i)
        idata, _ = sample(model, replace(settings, seed=seed))
        posterior = idata["posterior"].to_dataset()
        if coords:
            posterior = posterior.assign_coords({k: list(v) for k, v in coords[i].items()})
        groups = {"posterior": posterior}
        if "sample_stats" in idata.children:
            groups["sample_stats"] = idata["sample_stats"].to_dataset()
        idatas.append(xr.DataTree.from_dict(groups))
    return idatas, time.perf_counter() - start

"""The one sampling seam: every MCMC call in bayescale goes through :func:`sample`.

It runs PyMC's numpyro path (JAX NUTS; :func:`run_numpyro`, the steps of ``pm.sample(
nuts_sampler="numpyro")`` with the same seed and draws, without ``pm.sample``'s step-method
assignment, which builds one symbolic gradient per variable only to learn that NUTS applies:
about 1 s on Pythia x MATH), keeps numpyro's ``MCMC`` so that :func:`more_draws` can run the
adapted chains on (:class:`Chains`; the convergence ladder of :mod:`bayescale.fit`), and picks
how chains run from the JAX devices it finds (one device per chain when there are enough, else
vectorised); it changes no process-wide setting (:mod:`bayescale.config` holds the ones a
program may ask for through :func:`bayescale.configure`). Fast tests swap
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
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bayescale.config import float_width, import_pymc_jax, jax_scope
from bayescale.errors import InputError
from bayescale.jaxtools import LAPLACE_MAX_PARAMETERS as LAPLACE_MAX_PARAMETERS
from bayescale.jaxtools import LAPLACE_MAXITER as LAPLACE_MAXITER
from bayescale.jaxtools import LAPLACE_MIN_VARIANCE as LAPLACE_MIN_VARIANCE
from bayescale.jaxtools import TARGET_ACCEPT as TARGET_ACCEPT
from bayescale.jaxtools import _pmap_cache as _pmap_cache
from bayescale.jaxtools import laplace_from as laplace_from
from bayescale.jaxtools import pmap_programs_released as pmap_programs_released
from bayescale.jaxtools import release_pmapped as release_pmapped

if TYPE_CHECKING:
    import numpy as np
    import pymc as pm
    import xarray as xr

log = logging.getLogger(__name__)

#: Samplers bayescale exposes. blackjax is left out: it crashes with pymc 6.4 (pymc #8367).
SAMPLERS = ("numpyro",)
#: Starting mass matrices of warm-up (:attr:`SamplerSettings.initial_mass`).
INITIAL_MASS = ("laplace", "unit")
#: Target acceptance of the one automatic retry after divergences (a pass fit's; a loss fit's
#: is :data:`bayescale.fit.LOSS_RETRY_TARGET_ACCEPT`).
RETRY_TARGET_ACCEPT = 0.99
#: numpyro's (and Stan's) tree depth limit: a NUTS draw takes at most 2**10 - 1 leapfrog steps.
MAX_TREE_DEPTH = 10


@dataclass(frozen=True)
class SamplerSettings:
    """How to run NUTS.

    Attributes
    ----------
    draws, tune, chains
        Kept draws per chain, warm-up steps per chain, number of chains. 500 warm-up steps by
        default: measured against 1000 on the benchmarks/bench_fit.py cases (seed 1, one
        process), every fit still passed the gate (R-hat <= 1.007, bulk ESS >= 1195, no
        divergences) with the same posterior (medians within 0.08 posterior sd), for 15% less
        CPU time on Pythia x MATH (46 against 54 s; more steps per draw, 18.9 against 15.2,
        fewer draws of warm-up) and 27% on the 12 x 500 pass case. The slow LiveCodeBench fit
        of tests/test_pass_real_data.py, the hardest data here, converges too (R-hat 1.007,
        bulk ESS 1890, no divergences, no retry; 1000 steps: 1.007, 1907; medians within 0.06
        sd; 130 against 158 s wall). Most warm-up gradients go to the first windows, before
        the mass matrix fits, so halving ``tune`` saves less than half of them.
    target_accept
        NUTS target acceptance probability (step-size adaptation); ``None`` (default) leaves
        it to the model: 0.99 for the loss model (:data:`bayescale.fit.LOSS_TARGET_ACCEPT`),
        :data:`TARGET_ACCEPT` (0.95) otherwise. A fit with divergences is run again at its
        retry target, ``RETRY_TARGET_ACCEPT`` (0.99) or 0.995 for a loss fit
        (:data:`bayescale.fit.LOSS_RETRY_TARGET_ACCEPT`), with uncapped warm-up trees
        (:meth:`for_retry`), unless it already ran so: the first step of the convergence
        ladder against divergences (:func:`bayescale.fit.fit_loss`, docs/convergence.md).
    seed
        Seed of the sampler and of every predictive draw made from the fit.
    progress
        Show a progress bar; ``None`` means only when stderr is a terminal and not in CI.
    chain_method
        ``"parallel"`` (one JAX device per chain), ``"vectorized"``, or ``None`` to choose.
    nuts_sampler
        The NUTS engine; only ``"numpyro"`` for now.
    dense_mass
        Adapt a dense mass matrix. Off by default: on the demo loss model a dense matrix gave
        0-2 divergences per 4,000 draws against none with the diagonal one, at the same cost.
    initial_mass
        What warm-up starts from: ``"laplace"`` (default), the posterior variances of a Laplace
        approximation at the mode (:func:`laplace_inverse_mass`), or ``"unit"``, numpyro's
        identity matrix. numpyro re-estimates the matrix from warm-up draws at the end of each
        adaptation window, so the start decides how long the first windows take (with
        ``tune`` under 20 there is no such window and the start is kept for every draw).
    warmup_tree_depth
        Deepest NUTS tree during warm-up (at most ``2**depth - 1`` leapfrog steps a draw);
        the kept draws may go to :data:`MAX_TREE_DEPTH`. ``None`` (default) leaves it to the
        model: 7 for the loss model (:data:`bayescale.fit.LOSS_WARMUP_TREE_DEPTH`),
        :data:`MAX_TREE_DEPTH` (numpyro's own, no cap) otherwise. Warm-up draws are thrown away, and
        their trees are longest in the first iterations, when a chain walks in from its
        jittered start with a step size that is still shrinking: up to 1,023 steps a draw on
        the loss model, against 31-63 for the kept draws. In a batch every lane of a device
        waits for the longest tree, so there the start cost most: at 7, the 10-split
        backtest's program ran in 3.0-3.1 s instead of 4.3-4.6 s (seeds 1-4), with the same
        leapfrog steps per kept draw and no divergences; one loss fit at a time took 1.36 s
        against 1.43 s, with the same bulk ESS (10 seeds). At 6 one of 40 lanes came out of
        warm-up with a step size that took 326 leapfrog steps a kept draw (55 for the others):
        the depth must leave room above the kept draws' trees. A fit that diverges is run
        again with warm-up trees to depth 10 (:meth:`for_retry`): on the hardest real-data
        backtest here (Gadre et al. at 300x, benchmarks/calibration_real.py) one of three
        seeds had 291 divergences after a retry at depth 7, against 5 at depth 10. Pass fits
        are not capped: on Pythia x MATH seeds 1-2 depth 7 gave bulk ESS 1564 and 1293 against
        1454 and 1455, and the LiveCodeBench fit of tests/test_pass_real_data.py diverged once
        at depth 7 (seed 1; none at 10), so its retry made it 402 s instead of 163 s.
    """

    draws: int = 1000
    tune: int = 500
    chains: int = 4
    target_accept: float | None = None
    seed: int = 0
    progress: bool | None = None
    chain_method: Literal["parallel", "vectorized"] | None = None
    nuts_sampler: str = "numpyro"
    dense_mass: bool = False
    initial_mass: Literal["laplace", "unit"] = "laplace"
    warmup_tree_depth: int | None = None

    def __post_init__(self) -> None:
        """Refuse settings that cannot run."""
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            minimum = {"draws": 1, "tune": 0, "chains": 2}[name]
            if not isinstance(value, int) or value < minimum:
                why = " (R-hat compares chains)" if name == "chains" else ""
                raise InputError(
                    f"sampler setting '{name}' must be an integer >= {minimum}{why}, got {value!r}."
                )
        if isinstance(self.seed, bool) or not hasattr(self.seed, "__index__"):
            raise InputError(f"sampler setting 'seed' must be an integer, got {self.seed!r}.")
        if not 0 <= self.seed.__index__() < 2**32:
            raise InputError(
                f"sampler setting 'seed' must be between 0 and {2**32 - 1}, got {self.seed}."
            )
        depth = self.warmup_tree_depth
        if depth is not None and (
            isinstance(depth, bool)
            or not isinstance(depth, int)
            or not 1 <= depth <= MAX_TREE_DEPTH
        ):
            raise InputError(
                f"sampler setting 'warmup_tree_depth' must be an integer from 1 to "
                f"{MAX_TREE_DEPTH}, got {self.warmup_tree_depth!r}."
            )
        if self.target_accept is not None and not 0.5 <= self.target_accept < 1:
            raise InputError("sampler setting 'target_accept' must be in [0.5, 1).")
        if self.initial_mass not in INITIAL_MASS:
            raise InputError(
                f"sampler setting 'initial_mass' must be one of {INITIAL_MASS}, "
                f"got {self.initial_mass!r}."
            )
        if self.nuts_sampler not in SAMPLERS:
            raise InputError(
                f"sampler '{self.nuts_sampler}' is not supported; choose one of {SAMPLERS}."
            )

    def with_target_accept(self, default: float) -> SamplerSettings:
        """These settings, with ``target_accept`` set to ``default`` if they leave it open."""
        if self.target_accept is not None:
            return self
        return replace(self, target_accept=default)

    def with_warmup_tree_depth(self, default: int) -> SamplerSettings:
        """These settings, with ``warmup_tree_depth`` set to ``default`` if they leave it open."""
        if self.warmup_tree_depth is not None:
            return self
        return replace(self, warmup_tree_depth=default)

    def for_retry(self, target_accept: float) -> SamplerSettings | None:
        """The settings of the one retry after divergences, or ``None`` if nothing would change.

        ``target_accept`` raised to ``target_accept`` (kept if already above), and warm-up trees
        as deep as the kept draws' (:data:`MAX_TREE_DEPTH`): the depth cap speeds up warm-up
        on well-behaved posteriors, and a fit that diverged gets numpyro's uncapped warm-up.
        """
        target = max(self.target_accept or 0.0, target_accept)
        if target == self.target_accept and self.max_tree_depth[0] == MAX_TREE_DEPTH:
            return None
        return replace(self, target_accept=target, warmup_tree_depth=MAX_TREE_DEPTH)

    @property
    def max_tree_depth(self) -> tuple[int, int]:
        """The ``max_tree_depth`` numpyro takes: (warm-up's, the kept draws')."""
        return (self.warmup_tree_depth or MAX_TREE_DEPTH, MAX_TREE_DEPTH)

    def as_attrs(self) -> dict[str, object]:
        """Return the settings as plain values for NetCDF attributes and reports."""
        return {k: ("auto" if v is None else v) for k, v in asdict(self).items()}


def show_progress(requested: bool | None) -> bool:
    """Decide whether to draw progress bars: on a terminal, never in CI, never if quiet."""
    if requested is not None:
        return requested
    return sys.stderr.isatty() and not os.environ.get("CI")


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
        The ``DataTree`` PyMC's numpyro path returns (groups ``posterior``, ``sample_stats``,
        ``observed_data``) and the seconds it took, compile time included.
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
        return sample_one(model, settings, None if start_mass is None else np.asarray(start_mass))
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
            chain_method=chain_method,
            progress_bar=progress,
        )
        key = jax.random.PRNGKey(seed)
        start = time.perf_counter()
        mcmc.run(
            jax.random.split(key, settings.chains), init_params=initial, extra_fields=EXTRA_FIELDS
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
        from bayescale.batch import more_draws_one

        return more_draws_one(chains, draws)
    mcmc = chains.mcmc
    mcmc.post_warmup_state = mcmc.last_state
    mcmc.num_samples = draws
    mcmc.progress_bar = progress
    start = time.perf_counter()
    with jax_scope(), pmap_programs_released():
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
    from arviz_base import from_dict, make_attrs
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
    return from_dict(
        data=groups,
        coords=coords,
        dims=dims,
        sample_dims=["chain", "draw"],
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

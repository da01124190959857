"""Many datasets of one shape, sampled by one compiled program.

``pm.sample(nuts_sampler="numpyro")`` bakes a model's data into the compiled JAX program as
constants, so every dataset (every split of a backtest, every group of a no-pooling
baseline) pays its own tracing and XLA compilation and then runs its chains alone. Here the
data containers of one *template* model (``pm.Data``) become arguments of the jaxified log
density instead, and numpyro's functional NUTS kernel (:func:`numpyro.infer.hmc.hmc`) runs every
(dataset, chain) pair side by side as one lane: ``vmap`` over the lanes of a device, ``pmap``
over devices. One compilation serves the whole batch, and small models, whose cost is the
per-step overhead rather than arithmetic, run many lanes for about the price of one. The
process keeps what it built per template (:func:`_jaxify`): a second batch of the same
template skips jaxifying, and tracing too when its inputs have the same shapes. The warm run
of a backtest: a 10-split loss batch took 5.7-6.0 s instead of 8.0 s, before warm-up trees
were capped.

Each lane is the same algorithm a single fit runs (:func:`bayescale.sampling.sample`): PyMC's
jittered initial point, warm-up started from the dataset's Laplace variances
(:func:`bayescale.sampling.laplace_from`, its optimiser stopped after
:data:`BATCH_LAPLACE_MAXITER` iterations where a single fit's may take 1000; or the unit
matrix with ``initial_mass="unit"``),
numpyro's defaults (initial step size 1, dual-averaging step size and windowed diagonal
mass-matrix adaptation over ``tune`` steps) at the settings' ``target_accept`` and tree
depths (``warmup_tree_depth`` in warm-up, 10 after), then ``draws`` kept draws. Lanes do not
share anything; under ``vmap`` a NUTS step lasts as long as the longest tree among the lanes
of a device, which is the price of batching.

The template's data containers must have the same shapes in every dataset (pad to a common
shape; :func:`bayescale.loss_model.build_loss_model` takes ``pad_runs`` for this). Nothing in
this module knows about a particular model.

Single fits of a model with data containers run here too, as a batch of one
(:func:`sample_one`, and :func:`more_draws_one` for the convergence ladder's more draws from
the adapted state): with the loss model's runs padded to a shape class
(:func:`bayescale.loss_model.run_class`), a new table of a class already compiled reuses this
process's programs, and in a new process the persistent compilation cache's.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, partial
from typing import TYPE_CHECKING, Any

import numpy as np

from bayescale.config import import_pymc_jax, jax_scope, usable_cores
from bayescale.display import plural
from bayescale.jaxtools import (
    LAPLACE_MAX_PARAMETERS,
    LAPLACE_MAXITER,
    TARGET_ACCEPT,
    draws_tree,
    laplace_from,
    release_pmapped,
)
from bayescale.seeds import key_seed
from bayescale.stored_programs import (
    argument_shapes,
    exported_program,
    jaxpr_fingerprint,
    on_devices,
)

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

    from bayescale.sampler_settings import SamplerSettings

log = logging.getLogger(__name__)

#: Initial points tried again per chain after one with a non-finite log density (as PyMC).
JITTER_RETRIES = 10
#: L-BFGS iterations of each dataset's Laplace start. A loss split's optimisation takes
#: 600-1000 iterations to converge, crawling along its hierarchical scales; stopped at 300,
#: the variances of the well-scaled parameters stay nearer numpyro's unit start. Measured on
#: a 10-split loss batch, seeds 1-6, one process: as many leapfrog steps per draw (53.2
#: against 53.4), the same bulk ESS (lowest of the ten fits 1697 against 1716 on average,
#: their mean 2164 against 2107), no divergences either way, 5.56 s a batch against 6.26 s.
BATCH_LAPLACE_MAXITER = 300


def dataset_seed(seed: int, *key: int | str) -> int:
    """A seed of its own for one dataset of a batch: :func:`bayescale.seeds.key_seed`."""
    return key_seed(seed, *key)


#: Templates whose JAX functions and compiled programs this process keeps (:func:`_jaxify`).
JAXIFIED_KEPT = 8

_jaxified: list[_Jaxified] = []


@dataclass(eq=False)
class _Jaxified:
    """One template's log density as JAX functions of (values, data), and programs made from it.

    The jitted and ``pmap``-ed programs built from the functions are kept in ``programs`` (one
    per sampler setting; JAX keeps one compiled executable per input shape in each), so that
    a second batch of the same template in this process is not jaxified again, and is not
    traced again when its inputs have the same shapes (lanes, padded runs, devices: the warm
    run of a backtest). Dropping a template drops its ``pmap`` programs (``pmapped``), which
    JAX would otherwise keep for the life of the process.
    The persistent compilation cache skips only XLA's part.

    Attributes
    ----------
    graphs, inputs
        The PyTensor graphs (log density, then the posterior quantities) over their inputs
        (value variables, then data arguments), other shared variables made constants: what
        identifies the template.
    signature
        The names of the value variables, the data arguments and the quantities, and the
        exact types of the inputs (static shapes included: the JAX rewrites bake known shapes
        in as constants, and ``equal_computations`` compares only dtype and broadcasting).
    logp, posterior
        ``logp(*values, *data)`` and ``posterior(*values, *data)``, the posterior quantities
        (free variables on their own scale, and deterministics) named ``signature[2]``.
    """

    graphs: list[Any]
    inputs: list[Any]
    signature: tuple[tuple[Any, ...], ...]
    logp: Any
    posterior: Any
    programs: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    pmapped: list[Any] = field(default_factory=list)
    _fingerprint: str | None = None

    @property
    def quantities(self) -> tuple[str, ...]:
        """Names of the posterior quantities, in the order ``posterior`` returns them."""
        return self.signature[2]

    def same_template(
        self, graphs: list[Any], inputs: list[Any], signature: tuple[tuple[Any, ...], ...]
    ) -> bool:
        """Whether ``graphs`` of ``inputs`` compute what this template computes."""
        from pytensor.graph.basic import equal_computations

        if signature != self.signature or len(graphs) != len(self.graphs):
            return False
        try:
            return equal_computations(graphs, self.graphs, inputs, self.inputs)
        except Exception as error:  # e.g. too deep to compare: jaxify it again
            log.debug("templates not compared (%s); jaxifying again", error)
            return False

    def pmap(self, function: Callable[..., Any]) -> Any:
        """``jax.pmap(function)``, remembered: dropping the template drops its programs."""
        import jax

        self.pmapped.append(function)
        return jax.pmap(function)

    def fingerprint(self, values: Sequence[Any], data: Sequence[Any]) -> str:
        """What identifies the log density on disk (:func:`jaxpr_fingerprint`), found once.

        ``values`` and ``data`` are laid out for the devices; their first lane is traced.
        """
        if self._fingerprint is None:
            first = [np.asarray(a).reshape(-1, *np.shape(a)[2:])[0] for a in (*values, *data)]
            self._fingerprint = jaxpr_fingerprint(self.logp, *first)
        return self._fingerprint

    def cached(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The program stored under ``key``, built by ``build`` the first time."""
        if key not in self.programs:
            self.programs[key] = build()
        return self.programs[key]


def _jaxify(model: pm.Model, names: Sequence[str]) -> _Jaxified:
    """The template's log density and posterior quantities as JAX functions of (values, data).

    The data containers named in ``names`` become arguments; every other shared variable is
    a constant, as in PyMC's own jaxification. A template that computes the same as one
    jaxified earlier in this process (:data:`JAXIFIED_KEPT` are kept) returns that one, with
    its programs.
    """
    from pymc.util import get_default_varnames
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor import constant

    shared = [model[name] for name in names]
    arguments = [var.type(name=var.name) for var in shared]
    inputs = [*model.value_vars, *arguments]
    quantities = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    outputs = [model.logp(), *quantities]
    substitutes = dict(zip(shared, arguments, strict=True))
    for var in graph_inputs(outputs):
        if isinstance(var, SharedVariable) and var not in substitutes:
            substitutes[var] = constant(var.get_value())  # a copy, not the container's buffer
    graphs = clone_replace(outputs, replace=substitutes)
    signature = (
        tuple(v.name for v in model.value_vars),
        tuple(names),
        tuple(q.name for q in quantities),
        tuple(v.type for v in inputs),
    )
    for i, known in enumerate(_jaxified):
        if known.same_template(graphs, inputs, signature):
            _jaxified.append(_jaxified.pop(i))  # most recently used last
            return known
    jaxified = _Jaxified(
        graphs=graphs,
        inputs=inputs,
        signature=signature,
        logp=import_pymc_jax().get_jaxified_graph(inputs=inputs, outputs=graphs[:1]),
        posterior=import_pymc_jax().get_jaxified_graph(inputs=inputs, outputs=graphs[1:]),
    )
    _jaxified.append(jaxified)
    dropped = _jaxified[: max(0, len(_jaxified) - JAXIFIED_KEPT)]
    del _jaxified[: len(dropped)]
    for template in dropped:  # JAX would keep their pmap programs for good
        release_pmapped(template.pmapped)
    return jaxified


def _initial_points(
    model: pm.Model,
    inputs: Sequence[Mapping[str, np.ndarray]],
    chains: int,
    seeds: Sequence[np.random.SeedSequence],
    jaxified: _Jaxified,
) -> list[np.ndarray]:
    """PyMC's jittered initial points, per dataset and chain: one array per value variable.

    Each array has shape ``(datasets * chains, *shape)``, dataset-major. A point whose log
    density is not finite is drawn again, up to :data:`JITTER_RETRIES` times. The template
    is left holding the last dataset's data.
    """
    import jax
    from pymc.initial_point import make_initial_point_fn

    from bayescale.errors import ConvergenceError

    finite_logp = jaxified.cached(("logp",), lambda: jax.jit(jaxified.logp))
    point_fn = make_initial_point_fn(
        model=model, jitter_rvs=set(model.free_RVs), return_transformed=True
    )
    names = [v.name for v in model.value_vars]
    lanes: list[list[np.ndarray]] = []
    for i, (data, seed) in enumerate(zip(inputs, seeds, strict=True)):
        set_template_data(model, data)  # the initial point of a Normal is its (data) mean
        arguments = [np.asarray(v) for v in data.values()]
        for chain_seed in seed.spawn(chains):
            for attempt in chain_seed.spawn(1 + JITTER_RETRIES):
                point = point_fn(int(attempt.generate_state(1)[0]))
                values = [np.asarray(point[n]) for n in names]
                if np.isfinite(float(finite_logp(*values, *arguments)[0])):
                    break
            else:
                raise ConvergenceError(
                    f"dataset {i} of the batch: no initial point with a finite log density "
                    f"in {1 + JITTER_RETRIES} jittered tries; check the data for extreme values."
                )
            lanes.append(values)
    return [np.stack(column) for column in zip(*lanes, strict=True)]


def _starting_masses(
    model: pm.Model,
    inputs: Sequence[Mapping[str, np.ndarray]],
    jaxified: _Jaxified,
    settings: SamplerSettings,
    maxiter: int = BATCH_LAPLACE_MAXITER,
) -> np.ndarray:
    """Warm-up's starting inverse mass matrix per dataset (:func:`laplace_from`), stacked.

    The unit matrix (numpyro's own start) with ``initial_mass="unit"``, above
    :data:`LAPLACE_MAX_PARAMETERS`, and for a dataset whose Laplace approximation fails;
    shape ``(datasets, n)`` or, with ``dense_mass``, ``(datasets, n, n)``. The template is
    left holding the last dataset.
    """
    import jax
    from jax.flatten_util import ravel_pytree
    from pymc.initial_point import make_initial_point_fn

    point_fn = make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=True)

    def start_of(data: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        set_template_data(model, data)  # the initial point of a Normal is its (data) mean
        point = point_fn(0)
        return [np.asarray(point[v.name]) for v in model.value_vars]

    first_start = start_of(inputs[0])
    first, unravel = ravel_pytree(first_start)
    dense = settings.dense_mass
    unit = np.eye(first.size) if dense else np.ones(first.size)
    if settings.initial_mass == "unit" or first.size > LAPLACE_MAX_PARAMETERS:
        return np.stack([unit] * len(inputs))
    # one compilation for every dataset: the data are arguments
    logp = jaxified.logp
    value_and_grad = jaxified.cached(
        ("negative logp and gradient", *(v.shape for v in first_start)),
        lambda: jax.jit(jax.value_and_grad(lambda x, data: -logp(*unravel(x), *data)[0])),
    )
    masses = []
    for data in inputs:
        start = np.asarray(ravel_pytree(start_of(data))[0])
        # on the device once: the optimiser calls the gradient hundreds of times
        mass = laplace_from(
            partial(
                value_and_grad, data=tuple(jax.device_put(np.asarray(v)) for v in data.values())
            ),
            start,
            dense=dense,
            maxiter=maxiter,
        )
        masses.append(unit if mass is None else mass)
    return np.stack(masses)


def _lanes_program(
    logp: Any, settings: SamplerSettings, continued: bool = False, in_turn: bool = False
) -> Any:
    """The lanes of one device: numpyro NUTS warm-up and draws, one lane per (dataset, chain).

    Returns the kept draws, the lanes' last states (flat: the leaves of numpyro's
    ``HMCState``) and their adapted inverse mass matrices. ``continued``: the program that runs
    ``settings.draws`` more draws from given states instead (their adapted step size and mass
    matrix, no warm-up), for :func:`more_draws_one`. The step is ``vmap``-ed inside the loop
    over iterations (not the loop over lanes), so JAX batches the kernel's tree-building loops
    once: tracing a ``vmap`` of a whole ``scan`` re-batches its body until the batched parts of
    the carry settle, several times over. ``in_turn``: the lanes of a device run one after
    another (a ``lax.map``) instead, each step its own tree, not the longest of the lanes'
    (:func:`sample_one`'s chains of a model whose gradient is arithmetic, not overhead), and
    a device's top-up lane (3 chains on 2 devices) is skipped rather than run as a chain
    whose draws are dropped: the last argument, ``active``, says which lanes carry a chain.
    """
    import jax
    from numpyro.infer.hmc import hmc

    def potential_for(*data: Any) -> Any:
        def potential(values: tuple[Any, ...]) -> Any:
            return -logp(*values, *data)[0]

        return potential

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_for, algo="NUTS")

    def init(values: tuple[Any, ...], key: Any, data: tuple[Any, ...], mass: Any) -> Any:
        return init_kernel(
            values,
            num_warmup=settings.tune,
            target_accept_prob=settings.target_accept,
            dense_mass=settings.dense_mass,
            max_tree_depth=settings.max_tree_depth,
            inverse_mass_matrix=mass,
            model_args=data,
            rng_key=key,
        )

    def step(state: Any, data: tuple[Any, ...]) -> Any:
        return sample_kernel(state, model_args=data)

    def run(states: Any, data: tuple[Any, ...], length: int, advance: Any) -> tuple[Any, Any]:
        def iteration(states: Any, _: None) -> tuple[Any, dict[str, Any]]:
            states = advance(states, data)
            return states, {
                "values": states.z,
                # PyMC's numpyro path stores numpyro's potential energy (-log density) as
                # "lp"; the same here, so the two sample_stats read alike
                "lp": states.potential_energy,
                "energy": states.energy,
                "n_steps": states.num_steps,
                "acceptance_rate": states.accept_prob,
                "diverging": states.diverging,
                "step_size": states.adapt_state.step_size,
            }

        return jax.lax.scan(iteration, states, None, length=length)

    def on_lanes(
        start: Callable[..., Any],
        arguments: tuple[Any, ...],
        active: Any,
        skip: int,
        length: int,
    ) -> tuple[Any, list[Any], Any]:
        """Every lane's chain from ``start(*arguments)``, whose last two are data and masses.

        ``active``: which lanes carry a chain. In turn, a lane that does not (a device's
        top-up, :func:`to_devices`) is skipped, its outputs zeros; in lockstep it runs.
        """
        if in_turn:
            # jitted, so that the shapes and the branch below share one trace
            chain = jax.jit(lambda lane: run(start(*lane), lane[-2], length, step))

            def one(lane_and_active: tuple[Any, ...]) -> tuple[Any, Any]:
                *lane, carries = lane_and_active
                shapes = chain.eval_shape(lane)

                def idle(_: Any) -> Any:
                    return jax.tree.map(lambda s: jax.numpy.zeros(s.shape, s.dtype), shapes)

                return jax.lax.cond(carries, chain, idle, lane)

            states, kept = jax.lax.map(one, (*arguments, active))
            kept = jax.tree.map(lambda a: a[:, skip:], kept)
        else:
            states = jax.vmap(start)(*arguments)
            states, kept = run(states, arguments[-2], length, jax.vmap(step))
            # (iteration, lane, ...) -> (lane, draw, ...)
            kept = jax.tree.map(lambda a: jax.numpy.moveaxis(a[skip:], 0, 1), kept)
        # warm-up dropped; the states flat (an exported program's outputs are plain
        # containers), their mass matrices apart
        return kept, jax.tree.leaves(states), states.adapt_state.inverse_mass_matrix

    def lanes(
        values: tuple[Any, ...], keys: Any, data: tuple[Any, ...], masses: Any, active: Any
    ) -> tuple[Any, Any, Any]:
        arguments = (values, keys, data, masses)
        return on_lanes(init, arguments, active, settings.tune, settings.tune + settings.draws)

    def more(
        leaves: list[Any],
        values: tuple[Any, ...],
        keys: Any,
        data: tuple[Any, ...],
        masses: Any,
        active: Any,
    ) -> tuple[Any, Any, Any]:
        # init sets the kernel's options (tree depth, warm-up length) while tracing and gives
        # the states' structure; its values are unused and compiled away. The states are
        # past warm-up: no adaptation.
        def resume(leaves: list[Any], *lane: Any) -> Any:
            structure = jax.tree.structure(init(*lane))
            return jax.tree.unflatten(structure, leaves)

        return on_lanes(resume, (leaves, values, keys, data, masses), active, 0, settings.draws)

    return more if continued else lanes


def to_devices(array: np.ndarray, devices: int) -> np.ndarray:
    """Lay ``(lanes, ...)`` out as ``(devices, lanes per device, ...)`` for ``pmap``.

    Lanes fill the devices in order; the last device is topped up with copies of lane 0,
    which :func:`from_devices` drops (and which :func:`active_lanes` marks).
    """
    per_device = -(-array.shape[0] // devices)
    pad = devices * per_device - array.shape[0]
    full = np.concatenate([array, np.repeat(array[:1], pad, axis=0)])
    return full.reshape(devices, per_device, *array.shape[1:])


def active_lanes(lanes: int, devices: int) -> np.ndarray:
    """Which of :func:`to_devices`' ``(devices, lanes per device)`` slots carry a lane."""
    per_device = -(-lanes // devices)
    return (np.arange(devices * per_device) < lanes).reshape(devices, per_device)


def from_devices(array: np.ndarray, lanes: int) -> np.ndarray:
    """Undo :func:`to_devices`: ``(devices, per device, ...)`` to the first ``lanes`` lanes."""
    return array.reshape(-1, *array.shape[2:])[:lanes]


def _devices(lanes: int) -> int:
    """How many devices to spread the lanes over: on a CPU, at most one per usable core."""
    import jax

    count = jax.local_device_count()
    if jax.default_backend() == "cpu":
        count = min(count, usable_cores())
    return max(1, min(count, lanes))


def sample_batched(
    model: pm.Model,
    inputs: Sequence[Mapping[str, np.ndarray]],
    settings: SamplerSettings,
    coords: Sequence[Mapping[str, Sequence[Any]]] | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[list[xr.DataTree], float]:
    """Sample the template ``model`` once per dataset of ``inputs``, in one compiled program.

    Parameters
    ----------
    model
        The template: a PyMC model whose data containers named in ``inputs`` change per
        dataset (shapes fixed by the template). It is left holding the last dataset's values.
    inputs
        Per dataset, the value of every data container that differs, by name (the same names,
        and the template's shapes and dtypes, in every dataset).
    settings
        Draws, warm-up, chains, ``target_accept`` and ``dense_mass``.
    coords
        Per dataset, coordinates of the posterior's dims (e.g. its group names); the template's
        coordinates otherwise.
    seeds
        Per dataset, the seed of its initial points and chains (see :func:`dataset_seed`);
        by default ``dataset_seed(settings.seed, i)`` for the ``i``-th.

    Returns
    -------
    idatas, seconds
        One ``DataTree`` per dataset with groups ``posterior`` (the free variables and
        deterministics, as ``pm.sample`` returns them) and ``sample_stats`` (``lp``,
        ``energy``, ``n_steps``, ``tree_depth``, ``acceptance_rate``, ``diverging``,
        ``step_size``); and the wall time of the batch, compilation included.
    """
    with jax_scope():
        return _sample_batched(model, inputs, settings, coords, seeds)


def _sample_batched(
    model: pm.Model,
    inputs: Sequence[Mapping[str, np.ndarray]],
    settings: SamplerSettings,
    coords: Sequence[Mapping[str, Sequence[Any]]] | None,
    seeds: Sequence[int] | None,
) -> tuple[list[xr.DataTree], float]:
    """:func:`sample_batched` inside :func:`bayescale.config.jax_scope`."""
    if not inputs:
        return [], 0.0
    start = time.perf_counter()
    settings = settings.with_target_accept(TARGET_ACCEPT)
    if seeds is None:
        seeds = [dataset_seed(settings.seed, i) for i in range(len(inputs))]
    if len(seeds) != len(inputs):
        raise ValueError(f"{len(seeds)} seeds for {len(inputs)} datasets")
    lanes = _run_lanes(model, inputs, settings, [np.random.SeedSequence(s) for s in seeds])
    seconds = time.perf_counter() - start
    return _trees(lanes, coords, seconds), seconds


@dataclass(frozen=True, eq=False)
class _Lanes:
    """A run of (dataset, chain) lanes: its arguments, its last states and what it kept.

    Arrays of ``arguments`` and ``states`` are laid out for the devices (:func:`to_devices`);
    ``kept`` (per-draw statistics) and ``outputs`` (posterior quantities) are
    ``(lane, draw, ...)``, dataset-major.
    """

    model: Any
    jaxified: _Jaxified
    settings: SamplerSettings
    datasets: int
    devices: int
    arguments: tuple[Any, ...]
    states: list[Any]
    inverse_masses: np.ndarray
    kept: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    in_turn: bool = False

    @property
    def n_lanes(self) -> int:
        """Lanes that carry a chain (the devices' top-up copies left out)."""
        return self.datasets * self.settings.chains


def _run_lanes(
    model: pm.Model,
    inputs: Sequence[Mapping[str, np.ndarray]],
    settings: SamplerSettings,
    streams: Sequence[np.random.SeedSequence],
    maxiter: int = BATCH_LAPLACE_MAXITER,
    masses: np.ndarray | None = None,
    in_turn: bool = False,
) -> _Lanes:
    """Warm up and draw every (dataset, chain) lane of the template ``model`` in one program.

    ``masses`` (one per dataset) start warm-up in place of the Laplace variances, which are
    found with at most ``maxiter`` optimiser iterations. ``in_turn``: a device's lanes run
    one after another (:func:`_lanes_program`).
    """
    import jax

    names = list(inputs[0])
    for i, data in enumerate(inputs):
        if list(data) != names:
            raise ValueError(f"dataset {i} of the batch names {list(data)}, not {names}")
    jaxified = _jaxify(model, names)
    values = _initial_points(model, inputs, settings.chains, streams, jaxified)
    if masses is None:
        masses = _starting_masses(model, inputs, jaxified, settings, maxiter)

    n_lanes = len(inputs) * settings.chains
    # chain_method "vectorized" (a memory cap): every lane on one device
    devices = 1 if settings.chain_method == "vectorized" else _devices(n_lanes)

    per_lane = [
        np.repeat(np.stack([np.asarray(d[n]) for d in inputs]), settings.chains, 0) for n in names
    ]
    lane_keys = np.concatenate(
        [
            np.asarray(
                jax.random.split(jax.random.PRNGKey(int(s.generate_state(1)[0])), settings.chains)
            )
            for s in streams
        ]
    )
    log.info(
        "sampling %s x %s as %s on %s",
        plural(len(inputs), "dataset"),
        plural(settings.chains, "chain"),
        plural(n_lanes, "lane"),
        plural(devices, "device"),
    )
    arguments = (tuple(values), lane_keys, tuple(per_lane), np.repeat(masses, settings.chains, 0))
    arguments = (
        *jax.tree.map(lambda a: to_devices(a, devices), arguments),
        active_lanes(n_lanes, devices),
    )
    kept, states, inverse_masses = _lanes_call(jaxified, settings, arguments, devices, in_turn)
    kept = jax.tree.map(lambda a: from_devices(np.asarray(a), n_lanes), kept)
    outputs = _quantities(jaxified, kept.pop("values"), per_lane)
    return _Lanes(
        model,
        jaxified,
        settings,
        len(inputs),
        devices,
        arguments,
        states,
        from_devices(np.asarray(inverse_masses), n_lanes),
        kept,
        outputs,
        in_turn,
    )


def _lanes_call(
    jaxified: _Jaxified,
    settings: SamplerSettings,
    arguments: tuple[Any, ...],
    devices: int,
    in_turn: bool,
    states: list[Any] | None = None,
) -> tuple[Any, Any, Any]:
    """Run the lanes program (:func:`_lanes_program`) on ``arguments`` laid out for ``devices``.

    With ``states``, the program that runs on from them. The program is this process's, a
    stored export (:mod:`bayescale.stored_programs`), or traced and exported now.
    """
    import jax

    kind = "lanes" if states is None else "more"
    full = arguments if states is None else (states, *arguments)
    values, _, data, *_ = arguments
    identity = (
        jaxified.fingerprint(values, data),
        _lanes_source(),
        settings.tune,
        settings.draws,
        settings.target_accept,
        settings.dense_mass,
        settings.max_tree_depth,
        in_turn,
    )
    program = jaxified.cached(
        (kind, *identity, devices, *argument_shapes(full)),
        lambda: exported_program(
            kind,
            identity,
            lambda: jax.jit(
                jaxified.pmap(_lanes_program(jaxified.logp, settings, states is not None, in_turn))
            ),
            full,
            devices,
        ),
    )
    return program(*on_devices(full, devices))


@cache
def _lanes_source() -> str:
    """SHA-256 of :func:`_lanes_program`'s source: an edited program is not read back stale."""
    return hashlib.sha256(inspect.getsource(_lanes_program).encode()).hexdigest()


def _quantities(
    jaxified: _Jaxified, values: Sequence[Any], per_lane: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """The posterior quantities of ``(lane, draw, ...)`` values, by name."""
    import jax

    posterior = jaxified.posterior
    by_draw = jax.vmap(lambda v, d: posterior(*v, *d), in_axes=(0, None))
    quantities_of = jaxified.cached(("quantities",), lambda: jax.jit(jax.vmap(by_draw)))
    outputs = quantities_of(tuple(values), tuple(per_lane))
    return {q: np.asarray(o) for q, o in zip(jaxified.quantities, outputs, strict=True)}


def _trees(
    lanes: _Lanes,
    coords: Sequence[Mapping[str, Sequence[Any]]] | None,
    seconds: float,
    batch: bool = True,
) -> list[xr.DataTree]:
    """One ``DataTree`` per dataset of ``lanes``: ``posterior`` and ``sample_stats``."""
    from arviz_base import make_attrs
    from pymc.backends.arviz import coords_and_dims_for_inferencedata

    template_coords, dims = coords_and_dims_for_inferencedata(lanes.model)
    chains = lanes.settings.chains

    def per_dataset(array: Any, i: int) -> np.ndarray:
        a = np.asarray(array)
        return a.reshape(lanes.datasets, chains, *a.shape[1:])[i]

    idatas = []
    for i in range(lanes.datasets):
        stats = {k: per_dataset(v, i) for k, v in lanes.kept.items()}
        stats["tree_depth"] = np.log2(stats["n_steps"]).astype(int) + 1
        attrs: dict[str, Any] = {"sampling_time": seconds, "tuning_steps": lanes.settings.tune}
        if batch:
            attrs["batch"] = i
        idatas.append(
            draws_tree(
                {
                    "posterior": {q: per_dataset(o, i) for q, o in lanes.outputs.items()},
                    "sample_stats": stats,
                },
                coords={**template_coords, **(coords[i] if coords else {})},
                dims={q: dims[q] for q in lanes.outputs if q in dims},
                attrs={"posterior": make_attrs(attrs, inference_library=None)},
            )
        )
    return idatas


def data_arguments(model: pm.Model) -> list[str]:
    """Names of the model's data containers (``pm.Data``): the arguments of its program."""
    return [var.name for var in model.data_vars]


def set_template_data(model: pm.Model, data: Mapping[str, np.ndarray]) -> None:
    """Put a dataset of the template's shapes into its data containers.

    ``pm.set_data`` would check each dimension's length by compiling and evaluating it, which
    in a new process costs about a second (PyTensor's default backend loads numba). The
    datasets of a template share its shapes (the shape class), so values of the same shape
    go straight in; any other shape goes through ``pm.set_data``, which checks it.
    """
    import pymc as pm

    containers = {name: model[name] for name in data}
    if all(np.shape(data[n]) == c.get_value(borrow=True).shape for n, c in containers.items()):
        for name, container in containers.items():
            container.set_value(np.asarray(data[name], dtype=container.dtype))
    else:
        pm.set_data(data, model=model)


@dataclass(frozen=True, eq=False)
class ArgumentChains:
    """Where a single fit's chains stopped on the data-as-arguments path (:func:`sample_one`).

    The counterpart of :class:`bayescale.sampling.Chains` for :func:`more_draws_one`.
    """

    lanes: _Lanes

    @property
    def tune(self) -> int:
        """The warm-up steps the chains took."""
        return self.lanes.settings.tune

    @property
    def inverse_mass(self) -> np.ndarray:
        """The adapted inverse mass matrix, averaged over chains: where new chains start."""
        return self.lanes.inverse_masses.mean(axis=0)


def sample_one(
    model: pm.Model,
    settings: SamplerSettings,
    start_mass: np.ndarray | None = None,
) -> tuple[xr.DataTree, ArgumentChains]:
    """Sample one model with its data containers as arguments of the compiled program.

    The single-fit path of :func:`bayescale.sampling.run_numpyro` for models with data
    containers: one dataset of :func:`sample_batched`'s lanes, so that a model of the same
    graph and shapes (a table padded to the same shape class,
    :func:`bayescale.loss_model.build_loss_model`) reuses this process's programs, and in a
    new process the persistent compilation cache's. The seed's stream gives the initial
    points and the chains' keys; warm-up starts from ``start_mass`` (a diagonal), else the
    Laplace variances (:data:`bayescale.sampling.LAPLACE_MAXITER` iterations, as a single fit
    of the numpyro path) unless ``initial_mass="unit"``. On a CPU, the chains of a device take
    turns (like the numpyro path's when chains outnumber cores): each step is its own chain's
    tree, not the longest of two, and no tree-building loop is batched (docs/performance.md,
    "Pass-rate fits"). A GPU runs them in lockstep under ``vmap``, side by side.
    """
    import jax

    with jax_scope():
        start = time.perf_counter()
        settings = settings.with_target_accept(TARGET_ACCEPT)
        inputs = [{name: np.asarray(model[name].get_value()) for name in data_arguments(model)}]
        masses = None if start_mass is None else np.asarray(start_mass)[None]
        lanes = _run_lanes(
            model,
            inputs,
            settings,
            [np.random.SeedSequence(settings.seed)],
            maxiter=LAPLACE_MAXITER,
            masses=masses,
            in_turn=jax.default_backend() == "cpu",
        )
        seconds = time.perf_counter() - start
        return _trees(lanes, None, seconds, batch=False)[0], ArgumentChains(lanes)


def more_draws_one(chains: ArgumentChains, draws: int) -> tuple[xr.DataTree, ArgumentChains]:
    """Run :func:`sample_one`'s chains on for ``draws`` more draws each, from where they stopped.

    Every lane keeps its adapted step size, mass matrix and random key; the posterior returned
    holds the earlier draws followed by the new ones. The continuation is one more program
    per number of draws (compiled once, then cached like the others).
    """
    import jax

    with jax_scope():
        start = time.perf_counter()
        lanes = chains.lanes
        settings = replace(lanes.settings, draws=draws)
        jaxified = lanes.jaxified
        kept, states, inverse_masses = _lanes_call(
            jaxified, settings, lanes.arguments, lanes.devices, lanes.in_turn, lanes.states
        )
        kept = jax.tree.map(lambda a: from_devices(np.asarray(a), lanes.n_lanes), kept)
        per_lane = [from_devices(np.asarray(a), lanes.n_lanes) for a in lanes.arguments[2]]
        outputs = _quantities(jaxified, kept.pop("values"), per_lane)
        longer = replace(
            lanes,
            states=states,
            inverse_masses=from_devices(np.asarray(inverse_masses), lanes.n_lanes),
            kept={k: np.concatenate([v, kept[k]], axis=1) for k, v in lanes.kept.items()},
            outputs={k: np.concatenate([v, outputs[k]], axis=1) for k, v in lanes.outputs.items()},
            settings=replace(lanes.settings, draws=lanes.settings.draws + draws),
        )
        seconds = time.perf_counter() - start
        return _trees(longer, None, seconds, batch=False)[0], ArgumentChains(longer)

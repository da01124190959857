"""What the sampling seam and the batches share: the Laplace start and ``pmap`` releases.

:func:`laplace_from` finds warm-up's starting mass matrix from any compiled ``-log p`` and
gradient (:func:`bayescale.sampling.laplace_inverse_mass` for one model,
:mod:`bayescale.batch` per dataset with the data as arguments); :func:`release_pmapped` and
:func:`pmap_programs_released` drop the ``pmap`` programs bayescale made, which JAX would keep
for the life of the process; :func:`size_class` rounds a size up to a shape class, the padded
size that lets tables of similar sizes share compiled programs; :func:`draws_tree` turns the
draws into a ``DataTree``. Its own module so that
:mod:`bayescale.sampling` can hand single fits to :mod:`bayescale.batch` without an import
cycle.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

log = logging.getLogger("bayescale.sampling")

#: ``target_accept`` of a fit whose settings leave it open and whose model names none (the
#: pass-rate models; the loss model's is :data:`bayescale.ladder.LOSS_TARGET_ACCEPT`).
TARGET_ACCEPT = 0.95

#: L-BFGS iterations of :func:`laplace_inverse_mass` (Pythia x MATH: 500 take 0.3 s).
LAPLACE_MAXITER = 1000
#: Above this many free parameters warm-up starts from the unit matrix (the Hessian costs two
#: gradients per parameter).
LAPLACE_MAX_PARAMETERS = 2000
#: A Laplace variance below this (sd 1e-4 on the unconstrained scale) means a degenerate mode.
LAPLACE_MIN_VARIANCE = 1e-8


def _pmap_cache() -> tuple[Any, Any] | None:
    """JAX's cache of ``pmap``-ed functions and its per-function table, or ``None``.

    ``jax._src.pmap._cached_shard_map`` is a ``linear_util.cache``: a weak-key table per
    function with an ``evict_function`` method. Its values hold their function, so an entry,
    and the compiled programs in it, outlive the function. Private JAX: if it moves, nothing
    is released (logged).
    """
    try:
        from jax._src import pmap as jax_pmap

        memoized = jax_pmap._cached_shard_map
        cells = dict(zip(memoized.__code__.co_freevars, memoized.__closure__ or (), strict=True))
        table = cells["fun_caches"].cell_contents
        memoized.evict_function  # noqa: B018 - present, or fall back below
    except (ImportError, AttributeError, KeyError, ValueError) as error:
        log.debug("JAX's pmap cache not found (%s); pmap programs are not released", error)
        return None
    return memoized, table


def release_pmapped(functions: Iterable[Callable[..., Any]]) -> None:
    """Drop JAX's compiled programs of these ``pmap``-ed functions (bayescale's own)."""
    cache = _pmap_cache()
    if cache is not None:
        for function in functions:
            cache[0].evict_function(function)


@contextmanager
def pmap_programs_released() -> Iterator[None]:
    """Drop the ``pmap`` programs made inside this block when it ends, and no others.

    numpyro ``pmap``-s a new function on every run with parallel chains, and JAX keeps every
    ``pmap``-ed function's programs for the life of the process (:func:`_pmap_cache`): each
    demo loss fit left 641 memory maps and 66 MiB behind, until Linux's limit of 65,530 maps
    (``vm.max_map_count``) stopped the process after about 110 fits. Only functions first
    seen inside the block are evicted, so a program's own ``jax.jit`` and ``jax.pmap``
    functions keep their compiled programs (``jax.clear_caches()`` would drop them all); a
    ``pmap`` another thread makes during a fit is recompiled on its next call.
    """
    cache = _pmap_cache()
    if cache is None:
        yield
        return
    memoized, table = cache
    before = {id(f) for f in list(table)}
    try:
        yield
    finally:
        for function in [f for f in list(table) if id(f) not in before]:
            memoized.evict_function(function)


def laplace_from(
    value_and_grad: Callable[[Any], tuple[Any, Any]],
    start: np.ndarray,
    *,
    dense: bool = False,
    maxiter: int = LAPLACE_MAXITER,
) -> np.ndarray | None:
    """:func:`laplace_inverse_mass` given ``-log p`` and its gradient as a function of a vector.

    Parameters
    ----------
    value_and_grad
        Compiled ``x -> (-log p(x), gradient)`` over the flattened unconstrained parameters.
    start
        Where the optimiser starts; its dtype is the one ``value_and_grad`` takes.
    dense
        Return the whole inverse Hessian (a diagonal matrix when it is not positive definite).
    maxiter
        L-BFGS iterations at most; where they stop short of the mode, the Hessian is taken
        where they stopped.

    Returns
    -------
    numpy.ndarray or None
        ``None`` when ``-log p`` is not finite at ``start``, at the optimum or in the Hessian,
        or the mode is degenerate (see :func:`laplace_inverse_mass`).
    """
    import numpy as np
    from scipy.optimize import minimize

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad(np.asarray(x, dtype=start.dtype))
        return float(value), np.asarray(grad, dtype=float)

    if not np.isfinite(fun(start)[0]):
        return None
    with one_blas_thread():
        found = minimize(
            fun,
            np.asarray(start, dtype=float),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": maxiter},
        )
    mode = found.x
    if not (np.isfinite(found.fun) and np.isfinite(mode).all()):
        return None
    # central differences, step ~ eps^(1/3) (float64: 6e-6; float32: 5e-3) relative to |x|
    steps = np.finfo(start.dtype).eps ** (1 / 3) * np.maximum(1.0, np.abs(mode))
    columns = []
    for i, h in enumerate(steps):
        shift = np.zeros_like(mode)
        shift[i] = h
        columns.append((fun(mode + shift)[1] - fun(mode - shift)[1]) / (2 * h))
    hessian = np.array(columns)
    return _starting_variances(0.5 * (hessian + hessian.T), dense)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS and LAPACK on one thread inside the block; the process's thread counts after it.

    SciPy's L-BFGS-B (1.15 on, C) calls BLAS and LAPACK on vectors and matrices of a few
    dozen numbers at every iteration, where OpenBLAS's threads only synchronise: on two busy
    cores the loss fit's Laplace start took 0.7-5.4 s with them and 0.35 s on one thread
    (scipy/scipy#22438 and #23191). The limit is the optimiser's alone: the counts are put
    back when the block ends (``threadpoolctl``), so the user's own BLAS work keeps its
    threads.
    """
    from threadpoolctl import threadpool_limits

    # one block at a time: two fits in threads must not interleave the save and the restore
    # of the process-wide counts (which could leave BLAS on one thread for good)
    with _ONE_BLAS_THREAD, threadpool_limits(limits=1, user_api="blas"):
        yield


#: Serialises :func:`one_blas_thread` (re-entrant: a block may nest in its own thread).
_ONE_BLAS_THREAD = threading.RLock()


def _starting_variances(hessian: np.ndarray, dense: bool) -> np.ndarray | None:
    """Laplace variances (or covariance) from the Hessian at the mode, or ``None``.

    ``None`` when a variance falls under :data:`LAPLACE_MIN_VARIANCE`: the optimiser went down a
    funnel's neck (a centred hierarchical scale driven to zero), where the mode says nothing
    about the posterior's width. Variances above 1 are cut to 1, numpyro's own start. Where
    the Hessian is not positive definite, ``1 / H_ii`` where positive and 1 elsewhere.
    """
    import numpy as np

    if not np.isfinite(hessian).all():
        return None
    eigenvalues, vectors = np.linalg.eigh(hessian)
    if (eigenvalues > 0).all():
        if dense:
            spectrum = 1.0 / eigenvalues
            if spectrum.min() < LAPLACE_MIN_VARIANCE:
                return None
            return (vectors * np.minimum(spectrum, 1.0)) @ vectors.T
        variances = np.einsum("ij,j,ij->i", vectors, 1.0 / eigenvalues, vectors)
    else:
        diagonal = np.diag(hessian)
        variances = 1.0 / np.where(diagonal > 0, diagonal, 1.0)
    if variances.min() < LAPLACE_MIN_VARIANCE:
        return None
    variances = np.minimum(variances, 1.0)
    return np.diag(variances) if dense else variances


def size_class(count: int, smallest: int = 8, half_steps: bool = False) -> int:
    """A padded size: 0 for none, else the next power of two, at least ``smallest``.

    The loss model's runs round up the same way (:func:`bayescale.loss_model.run_class`);
    the per-problem pass model's sizes and its intercept draws use this
    (:class:`bayescale.pass_model.PassShape`, :func:`bayescale.quadrature.draw_intercepts`).
    ``half_steps`` adds three quarters of each power of two from 8 (4, 6, 8, 12, 16, 24, 32,
    48, ...), for sizes whose padding costs arithmetic.
    """
    if count == 0:
        return 0
    size = max(smallest, 1 << (count - 1).bit_length())
    if half_steps and size >= 8 and count <= size * 3 // 4 and size * 3 // 4 >= smallest:
        return size * 3 // 4
    return size


def draws_tree(data: dict[str, Any], **kwargs: Any) -> xr.DataTree:
    """``arviz_base.from_dict`` over ``(chain, draw, ...)`` arrays, named as such.

    ArviZ guesses from the shapes that dimensions are misnamed when there are more chains than
    draws, and warns ("Found chain dimension to be longer than draw dimension"); here
    ``sample_dims`` names them, and more chains than draws is a real run (``--chains 8
    --draws 4``, or the convergence ladder's doubled chains after a short run), so the
    warning is left out.
    """
    from arviz_base import from_dict

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Found chain dimension to be longer than draw", category=UserWarning
        )
        return from_dict(data, sample_dims=["chain", "draw"], **kwargs)

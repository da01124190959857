"""Fitting: validated data to a sampled, diagnosed posterior.

:func:`fit_loss` wires model building, the sampling seam and the diagnostics gate. The
result, :class:`LossFit`, is a frozen record of everything a forecast needs; PyMC is imported
only when a fit is actually made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import xarray as xr

from bayescale.buckets import Buckets
from bayescale.data import LossData
from bayescale.diagnostics import Diagnostics, diagnose
from bayescale.display import html_summary, text_summary
from bayescale.errors import ConvergenceError
from bayescale.pass_data import PassAggregate, PassCounts
from bayescale.priors import LossPriors, PassPriors
from bayescale.sampling import (
    MAX_TREE_DEPTH,
    RETRY_TARGET_ACCEPT,
    TARGET_ACCEPT,
    SamplerSettings,
)

if TYPE_CHECKING:
    import pymc as pm

log = logging.getLogger("bayescale")

#: ``target_accept`` of a loss fit whose settings leave it open. Measured on the demo loss
#: case (3 groups x 10 runs, seeds 0-19, one process, warm cache): at 0.95, 2 of 20 fits had
#: a divergence and were sampled again at 0.99, a second compilation (7.2 s instead of 3.4 s
#: cold); at 0.99 none of 20 diverged, for 1.50 s a fit instead of 1.30 s (50.8 leapfrog
#: steps per draw instead of 28.2, bulk ESS about the same). On 3 groups x 16 runs no seed
#: diverged at either target and 0.99 cost 1.72 s against 1.34 s. The retry's extra
#: compilation is the larger and less predictable cost, so the step size that needs no retry
#: is the default, as in the backtests' batches.
LOSS_TARGET_ACCEPT = 0.99
#: ``target_accept`` of a loss fit's one retry after divergences, batched or not. Measured on
#: the two real-data splits that diverge at 0.99 (benchmarks/calibration_real.py, seeds 1-3,
#: each split fitted alone): datablations at 1000x had 2 divergences on 2 of 3 seeds at 0.99
#: and none at 0.995 or 0.999; Gadre at 300x diverged at every target (0.99: 8-27, 0.995:
#: 10-277, 0.999: 6-23), a geometry a smaller step does not cure.
LOSS_RETRY_TARGET_ACCEPT = 0.995
#: ``warmup_tree_depth`` of a loss fit whose settings leave it open (pass fits: no cap). On the
#: 10-split backtest batch its program ran in 3.0-3.1 s instead of 4.3-4.6 s (seeds 1-4),
#: and one fit at a time in 1.36 s instead of 1.43 s with the same bulk ESS (10 seeds); see
#: :attr:`bayescale.sampling.SamplerSettings.warmup_tree_depth`.
LOSS_WARMUP_TREE_DEPTH = 7


def model_target_accept(kind: Literal["loss", "pass"]) -> float:
    """The ``target_accept`` a loss or pass-rate fit runs at when its settings leave it open."""
    return LOSS_TARGET_ACCEPT if kind == "loss" else TARGET_ACCEPT


def model_settings(
    settings: SamplerSettings | None, kind: Literal["loss", "pass"]
) -> SamplerSettings:
    """``settings`` (the defaults if ``None``) with what they leave open chosen by the model.

    ``target_accept`` (:func:`model_target_accept`) and ``warmup_tree_depth``
    (:data:`LOSS_WARMUP_TREE_DEPTH` for the loss model, uncapped otherwise).
    """
    depth = LOSS_WARMUP_TREE_DEPTH if kind == "loss" else MAX_TREE_DEPTH
    return (
        (settings or SamplerSettings())
        .with_target_accept(model_target_accept(kind))
        .with_warmup_tree_depth(depth)
    )


def stacked_draws(idata: xr.DataTree, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with chains stacked: shape ``(sample, *dims)``."""
    da = idata["posterior"][name]
    return np.asarray(da.values).reshape(-1, *da.shape[2:])


@dataclass(frozen=True)
class LossFit:
    r"""A sampled loss model.

    Attributes
    ----------
    data
        The runs (fitted and held out).
    idata
        ``DataTree`` from PyMC: ``posterior`` with dims ``(chain, draw, group)`` for ``level``,
        ``reducible``, ``exponent``, ``a``, ``b``, ``c`` and scalar ``sigma``; ``sample_stats``.
    log_pivot
        :math:`\ln C_0` of the pivot compute.
    priors, settings
        What the fit was made with.
    diagnostics
        The convergence summary.
    timing_s
        Seconds: ``total`` and ``sampling`` (compile included).
    """

    data: LossData
    idata: xr.DataTree
    log_pivot: float
    priors: LossPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float] = field(default_factory=dict)

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape ``(sample, *dims)``."""
        return stacked_draws(self.idata, name)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        data = self.data
        fitted = data.fitted
        rows = [
            (
                "data",
                f"{data.source}: {int(fitted.sum())} fitted runs ({int(data.held_out.sum())} "
                f"held out) in {len(data.groups)} group(s), {data.compute[fitted].min():.3g} to "
                f"{data.compute[fitted].max():.3g} FLOPs",
            ),
            ("law", "L(C) = a*C^b + c per group, partially pooled"),
            *_common_rows(self),
        ]
        return "LossFit", rows

    def __repr__(self) -> str:
        return text_summary(*self._summary())

    def _repr_html_(self) -> str:
        return html_summary(*self._summary())


def _common_rows(fit: LossFit | PassFit) -> list[tuple[str, str]]:
    """Summary rows every fit shows: diagnostics, sampler, timing, where the draws are."""
    d = fit.diagnostics
    status = "ok" if d.ok else "FAILED: " + "; ".join(d.problems())
    groups = ", ".join(sorted(fit.idata.children))
    return [
        (
            "diagnostics",
            f"{status} (R-hat max {d.r_hat_max:.3f}, bulk ESS min {d.ess_bulk_min:.0f}, "
            f"{d.divergences} divergences)",
        ),
        (
            "sampler",
            f"{d.chains} chains x {d.draws} draws, seed {fit.settings.seed}, "
            f"{fit.timing_s.get('sampling', float('nan')):.1f} s sampling",
        ),
        ("idata", f"DataTree groups: {groups} (ArviZ works on it)"),
    ]


def _sample_gated(
    model: pm.Model,
    settings: SamplerSettings,
    complete: Callable[[xr.DataTree, SamplerSettings], xr.DataTree] | None = None,
    retry_target: float = RETRY_TARGET_ACCEPT,
) -> tuple[xr.DataTree, Diagnostics, SamplerSettings, float]:
    """Sample through the seam, complete the posterior, and diagnose.

    ``complete`` adds quantities drawn after sampling (the pass model's problem intercepts).
    Rare divergences at the edge of the posterior go away with a smaller step size, so a fit
    with divergences is re-run once at ``retry_target`` and with uncapped warm-up trees
    (:meth:`SamplerSettings.for_retry`; not when it ran so already); the retry's settings are
    what the fit records.
    """
    from bayescale.sampling import sample

    def run(settings: SamplerSettings) -> tuple[xr.DataTree, float]:
        idata, seconds = sample(model, settings)
        return (complete(idata, settings) if complete else idata), seconds

    idata, sampling_s = run(settings)
    diagnostics = diagnose(idata)
    retry = settings.for_retry(retry_target) if diagnostics.divergences else None
    if retry is not None:
        log.info(
            "%d divergences; sampling again with target_accept=%s and warm-up trees to depth %d",
            diagnostics.divergences,
            retry.target_accept,
            retry.warmup_tree_depth,
        )
        settings = retry
        idata, retry_s = run(settings)
        sampling_s += retry_s
        diagnostics = diagnose(idata)
    return idata, diagnostics, settings, sampling_s


def _gate(result: LossFit | PassFit, allow_unconverged: bool) -> None:
    if not result.diagnostics.ok and not allow_unconverged:
        raise ConvergenceError(
            "the sampler did not converge: " + "; ".join(result.diagnostics.problems()),
            result=result,
        )


def fit_loss(
    data: LossData,
    priors: LossPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    allow_unconverged: bool = False,
) -> LossFit:
    """Fit the hierarchical loss model with JAX NUTS and check convergence.

    Parameters
    ----------
    data
        Validated runs (:func:`bayescale.data.load_loss_runs`).
    priors
        Prior hyper-parameters (:class:`bayescale.priors.LossPriors`).
    settings
        Sampler settings (:class:`bayescale.sampling.SamplerSettings`); ``target_accept``
        left open is :data:`LOSS_TARGET_ACCEPT`, ``warmup_tree_depth``
        :data:`LOSS_WARMUP_TREE_DEPTH`. A fit with divergences is sampled once more at
        :data:`LOSS_RETRY_TARGET_ACCEPT` with uncapped warm-up trees (unless it ran so).
    allow_unconverged
        Return the fit even when the diagnostics gate fails, instead of raising.

    Returns
    -------
    LossFit

    Raises
    ------
    ConvergenceError
        When R-hat, ESS or divergences miss the thresholds of :mod:`bayescale.diagnostics`
        and ``allow_unconverged`` is false; the fit is attached as ``error.result``.
    """
    from bayescale.loss_model import build_loss_model, loss_pivot

    priors = priors or LossPriors()
    settings = model_settings(settings, "loss")
    start = time.perf_counter()
    idata, diagnostics, settings, sampling_s = _sample_gated(
        build_loss_model(data, priors), settings, retry_target=LOSS_RETRY_TARGET_ACCEPT
    )
    result = LossFit(
        data=data,
        idata=idata,
        log_pivot=loss_pivot(data),
        priors=priors,
        settings=settings,
        diagnostics=diagnostics,
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
    )
    _gate(result, allow_unconverged)
    return result


def fit_loss_batch(
    datasets: Sequence[LossData],
    priors: LossPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    seeds: Sequence[int] | None = None,
    allow_unconverged: bool = False,
) -> list[LossFit]:
    """Fit the loss model to many datasets, those of one shape in one compiled program.

    The same model, priors and sampler as :func:`fit_loss`, run as a batch
    (:func:`bayescale.batch.sample_batched`): datasets with the same number of groups (and
    the same likelihood) share one template, their fitted runs padded to the largest count
    with zero weight, so the batch compiles once instead of once per dataset. Batches run at
    ``target_accept`` of at least :data:`LOSS_TARGET_ACCEPT` (0.99), also when the settings ask
    for less, as :func:`fit_loss` may: in a batch a retry is a second batch, and at 0.95
    three or four of ten demo-curve splits diverged, so measured on those ten (warm cache,
    same process) starting at 0.99 took 13.4-14.7 s against 18.3-23.5 s for 0.95 and a retry
    batch. The datasets that still diverge are sampled once more, together, at
    :data:`LOSS_RETRY_TARGET_ACCEPT` with uncapped warm-up trees, as a single loss fit would
    be. Used by the backtests, where the splits of one table (and the groups of the
    no-pooling baseline) are such datasets.

    Parameters
    ----------
    datasets
        Validated runs, one :class:`~bayescale.data.LossData` per fit.
    priors, settings, allow_unconverged
        As in :func:`fit_loss`.
    seeds
        A seed per dataset (:func:`bayescale.batch.dataset_seed` makes stable ones); by
        default ``dataset_seed(settings.seed, i)`` for the ``i``-th dataset of ``datasets``.

    Returns
    -------
    list of LossFit
        In the order of ``datasets``. ``timing_s`` holds each dataset's equal share of its
        batch's wall time (plus its share of the retry batch, for a dataset sampled again).

    Raises
    ------
    ConvergenceError
        For the first dataset that fails the gate, unless ``allow_unconverged``.
    """
    priors = priors or LossPriors()
    settings = model_settings(settings, "loss")
    # at least the loss model's default, also when asked for less: a retry costs a second batch
    target = max(settings.target_accept or 0.0, LOSS_TARGET_ACCEPT)
    settings = replace(settings, target_accept=target)
    if seeds is None:
        from bayescale.batch import dataset_seed

        seeds = [dataset_seed(settings.seed, i) for i in range(len(datasets))]
    fits = _loss_batches(datasets, priors, settings, seeds)
    diverged = [i for i, fit in fits.items() if fit.diagnostics.divergences]
    retry = settings.for_retry(LOSS_RETRY_TARGET_ACCEPT) if diverged else None
    if retry is not None:
        log.info(
            "%d of %d fits diverged; sampling them again with target_accept=%s and warm-up "
            "trees to depth %d",
            len(diverged),
            len(datasets),
            retry.target_accept,
            retry.warmup_tree_depth,
        )
        again = _loss_batches(
            [datasets[i] for i in diverged], priors, retry, [seeds[i] for i in diverged]
        )
        for j, i in enumerate(diverged):
            first_s, retry_s = fits[i].timing_s, again[j].timing_s
            fits[i] = replace(
                again[j], timing_s={k: first_s[k] + retry_s[k] for k in ("total", "sampling")}
            )
    ordered = [fits[i] for i in range(len(datasets))]
    for result in ordered:
        _gate(result, allow_unconverged)
    return ordered


def _loss_batches(
    datasets: Sequence[LossData],
    priors: LossPriors,
    settings: SamplerSettings,
    seeds: Sequence[int],
) -> dict[int, LossFit]:
    """One batch per shape (number of groups) of ``datasets``; fits by position."""
    from bayescale.batch import sample_batched
    from bayescale.loss_model import build_loss_model, loss_inputs, loss_pivot

    shapes: dict[int, list[int]] = {}
    for i in range(len(datasets)):
        shapes.setdefault(len(datasets[i].groups), []).append(i)
    fits = {}
    for batch in shapes.values():
        start = time.perf_counter()
        runs = max(int(datasets[i].fitted.sum()) for i in batch)
        idatas, seconds = sample_batched(
            build_loss_model(datasets[batch[0]], priors, pad_runs=runs),
            [loss_inputs(datasets[i], runs) for i in batch],
            settings,
            coords=[{"group": list(datasets[i].groups)} for i in batch],
            seeds=[seeds[i] for i in batch],
        )
        share = (time.perf_counter() - start) / len(batch)
        for i, idata in zip(batch, idatas, strict=True):
            fits[i] = LossFit(
                data=datasets[i],
                idata=idata,
                log_pivot=loss_pivot(datasets[i]),
                priors=priors,
                settings=replace(settings, seed=seeds[i]),  # the seed this dataset drew with
                diagnostics=diagnose(idata),
                timing_s={"total": share, "sampling": seconds / len(batch)},
            )
    return fits


@dataclass(frozen=True)
class PassFit:
    """A sampled pass-rate model (per-problem counts or aggregate rates).

    Attributes
    ----------
    data
        :class:`~bayescale.pass_data.PassCounts` or :class:`~bayescale.pass_data.PassAggregate`.
    buckets
        The difficulty buckets (per-problem counts only).
    idata
        ``DataTree`` with ``level``, ``exponent`` (dim ``bucket``) and, for counts, ``theta``
        (dim ``problem``), ``sigma_model``, ``sigma_problem``; for aggregates ``sigma``.
    log_pivot
        ln C0 of the pivot compute.
    """

    data: PassCounts | PassAggregate
    buckets: Buckets | None
    idata: xr.DataTree
    log_pivot: float
    priors: PassPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float] = field(default_factory=dict)

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape ``(sample, *dims)``."""
        return stacked_draws(self.idata, name)

    @property
    def aggregate(self) -> bool:
        """True for the aggregate-rate model."""
        return isinstance(self.data, PassAggregate)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        models = self.data.models
        fitted = models.fitted
        if isinstance(self.data, PassAggregate):
            what = f"aggregate pass rates, buckets {', '.join(self.data.buckets)}"
        else:
            assert self.buckets is not None
            what = (
                f"{len(self.data.problems)} problems in {len(self.buckets.labels)} difficulty "
                "buckets"
            )
        rows = [
            (
                "data",
                f"{self.data.source}: {int(fitted.sum())} fitted models "
                f"({int(models.held_out.sum())} held out), {what}",
            ),
            ("law", "-E[ln pass_rate] = alpha*C^(-k) per bucket"),
            *_common_rows(self),
        ]
        return "PassFit", rows

    def __repr__(self) -> str:
        return text_summary(*self._summary())

    def _repr_html_(self) -> str:
        return html_summary(*self._summary())


def fit_pass(
    data: PassCounts | PassAggregate,
    buckets: Buckets | None = None,
    priors: PassPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    allow_unconverged: bool = False,
) -> PassFit:
    """Fit the hierarchical pass-rate model with JAX NUTS and check convergence.

    Parameters
    ----------
    data
        Per-problem counts (then ``buckets`` is required) or aggregate rates.
    buckets
        Difficulty buckets from :func:`bayescale.buckets.make_buckets`.
    priors, settings
        Prior hyper-parameters and sampler settings.
    allow_unconverged
        Return the fit even when the diagnostics gate fails.

    Raises
    ------
    ConvergenceError
        When the diagnostics gate fails and ``allow_unconverged`` is false.
    """
    from bayescale.pass_model import (
        add_problem_intercepts,
        build_aggregate_pass_model,
        build_pass_model,
        pass_pivot,
    )

    priors = priors or PassPriors()
    settings = model_settings(settings, "pass")
    start = time.perf_counter()
    complete = None
    if isinstance(data, PassAggregate):
        model = build_aggregate_pass_model(data, priors)
    else:
        if buckets is None:
            raise ValueError("per-problem counts need buckets (bayescale.buckets.make_buckets)")
        model = build_pass_model(data, buckets, priors)
        counts, kept = data, buckets

        def complete(idata: xr.DataTree, settings: SamplerSettings) -> xr.DataTree:
            return add_problem_intercepts(idata, counts, kept, settings.seed)

    idata, diagnostics, settings, sampling_s = _sample_gated(model, settings, complete)
    result = PassFit(
        data=data,
        buckets=buckets,
        idata=idata,
        log_pivot=pass_pivot(data.models.compute[data.models.fitted]),
        priors=priors,
        settings=settings,
        diagnostics=diagnostics,
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
    )
    _gate(result, allow_unconverged)
    return result

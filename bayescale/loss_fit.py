"""The loss law's fit: validated runs to a sampled, diagnosed posterior.

:func:`fit_loss` wires model building, the sampling seam and the diagnostics gate through
the shared convergence ladder (:mod:`bayescale.ladder`, docs/convergence.md) and raises only
when the ladder is exhausted; :func:`fit_loss_batch` fits many tables of one shape in one
compiled program. The result, :class:`LossFit`, is a frozen record of everything a forecast
needs, its ladder steps in ``diagnostics.attempts``; PyMC is imported only when a fit is
actually made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import xarray as xr

from bayescale.data import LossData
from bayescale.diagnostics import Attempt, Diagnostics, diagnose
from bayescale.display import Summarised, common_rows, plural
from bayescale.draws import stacked_draws
from bayescale.errors import expect
from bayescale.ladder import (
    LARGE_TABLE_TARGET_ACCEPT,
    LOSS_RETRY_TARGET_ACCEPT,
    LOSS_TARGET_ACCEPT,
    gate,
    model_settings,
    run_ladder,
)
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings
from bayescale.seeds import Streams

log = logging.getLogger("bayescale")


@dataclass(frozen=True, repr=False)
class LossFit(Summarised):
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
    forecast_seed
        Root of the forecast's random streams when not the sampler's seed
        (``bayescale forecast --seed``); :mod:`bayescale.seeds`.
    streams
        ``"keyed"``, or ``"offsets"`` for fits saved before keyed streams.
    exact_loo
        By row of ``data``: the probability that a new run's loss is at most the run's, from
        a refit without the run, for the runs whose importance-weighted leave-one-out could
        not tell (:func:`bayescale.forecast.with_exact_loo`, which :func:`run_loss
        <bayescale.pipeline.run_loss>` calls); the others have none.
    loo_below
        By fitted row: the leave-one-out probability the off-curve warnings read
        (:func:`bayescale.forecast.loo_below`), as a saved fit keeps it so that a forecast
        from it computes (and imports) nothing for them; ``None``: computed when asked.
    """

    #: The function that answers this law's questions from such a fit (for messages).
    answered_by: ClassVar[str] = "bayescale.result_from_fit"

    data: LossData
    idata: xr.DataTree
    log_pivot: float
    priors: LossPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float] = field(default_factory=dict)
    forecast_seed: int | None = None
    streams: Streams = "keyed"
    exact_loo: dict[int, float] = field(default_factory=dict)
    loo_below: dict[int, float] | None = None

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
            *common_rows(self),
        ]
        return "LossFit", rows


#: What a variable of the loss model is, and what a user can do when it fails the gate.
ADVICE = {
    "sigma": (
        "the run-to-run scatter, which a few runs per group barely pin down",
        "add runs (5 or more a group), fit several groups together (they share the scatter), "
        "or set a tighter scatter prior (priors.scatter_median, priors.scatter_shape in a "
        "spec)",
    ),
    "slope": (
        "how steeply a group's loss falls",
        "add runs over a wider range of compute, or check the plot for a run off the curve",
    ),
    "reducible": (
        "how much of a group's loss compute can still remove (the floor)",
        "add larger runs: the floor shows only where the curve bends",
    ),
    "level": (
        "a group's loss at the middle of its runs",
        "check the group's runs for one off the curve (a broken or rerun run)",
    ),
    # key "": what follows "the sampler cannot follow even with the smallest step" when only
    # divergences failed (each table has one)
    "": (
        "",
        "; usually a group whose runs do not follow one curve. Check the plot for a run off "
        "the curve and remove it, or try --likelihood student_t.",
    ),
}


def fit_loss(
    data: LossData,
    priors: LossPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    allow_unconverged: bool = False,
    ladder_steps: int | None = None,
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
        left open is :data:`LOSS_TARGET_ACCEPT` (:data:`LARGE_TABLE_TARGET_ACCEPT` for a
        table of more than :data:`bayescale.loss_model.LARGE_TABLE_RUNS` fitted runs, whose
        groups' reducible shares are also sampled centred), ``warmup_tree_depth``
        :data:`~bayescale.ladder.LOSS_WARMUP_TREE_DEPTH`. A fit that fails the gate climbs the
        convergence ladder (:func:`run_ladder`): against divergences
        :data:`LOSS_RETRY_TARGET_ACCEPT` with uncapped warm-up trees, then non-centred group
        slopes, then :data:`~bayescale.ladder.FINAL_TARGET_ACCEPT`; against R-hat or ESS more
        draws from the adapted state, then twice the chains, pooled with the earlier ones.
        ``settings`` records the last step's, with the posterior's chains and draws.
    allow_unconverged
        Return the fit even when the diagnostics gate fails after the ladder, instead of
        raising.
    ladder_steps
        At most this many steps of the convergence ladder (default
        :data:`~bayescale.ladder.LADDER_MAX_STEPS`; 0: the first fit alone).

    Returns
    -------
    LossFit

    Raises
    ------
    ConvergenceError
        When R-hat, ESS or divergences miss the thresholds of :mod:`bayescale.diagnostics`
        and ``allow_unconverged`` is false; the fit is attached as ``error.result``.
    """
    expect(data, LossData, "fit_loss takes LossData: bs.load_loss_runs(path_or_frame)")
    from bayescale.loss_model import (
        add_scatter,
        build_loss_model,
        large_table,
        loss_pivot,
        shape_class_runs,
    )

    priors = priors or LossPriors()
    large = large_table(data)  # docs/performance.md, "Large tables"
    if large:
        settings = (settings or SamplerSettings()).with_target_accept(LARGE_TABLE_TARGET_ACCEPT)
    settings = model_settings(settings, "loss")
    start = time.perf_counter()
    pad = shape_class_runs(data)  # one compiled program per shape class (docs/performance.md)
    idata, diagnostics, settings, sampling_s = run_ladder(
        lambda noncentred: build_loss_model(
            data, priors, pad_runs=pad, noncentred=noncentred, centred_reducible=large
        ),
        settings,
        lambda idata, settings: add_scatter(idata, data, priors, settings.seed),
        retry_target=LOSS_RETRY_TARGET_ACCEPT,
        alternative="group slopes non-centred" if len(data.groups) > 1 else None,
        max_steps=ladder_steps,
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
    gate(result, allow_unconverged, ADVICE)
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
    be; a dataset that still fails the gate climbs the rest of the convergence ladder alone
    (:func:`fit_loss` from its last settings), its batch steps first in its attempts. Used
    by the backtests, where the splits of one table (and the groups of the
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
                again[j],
                timing_s={k: first_s[k] + retry_s[k] for k in ("total", "sampling")},
                diagnostics=replace(
                    again[j].diagnostics,
                    attempts=(
                        *fits[i].diagnostics.attempts,
                        Attempt(
                            f"a smaller step: target_accept {retry.target_accept}, batched",
                            "; ".join(fits[i].diagnostics.problems()),
                            retry_s["total"],
                        ),
                    ),
                ),
            )
    for i, fit in list(fits.items()):
        if not fit.diagnostics.ok:  # the rest of the ladder, one fit at a time
            log.info("dataset %d still fails the gate; fitting it alone through the ladder", i)
            alone = fit_loss(datasets[i], priors, fit.settings, allow_unconverged=True)
            fits[i] = replace(
                alone,
                diagnostics=replace(
                    alone.diagnostics,
                    attempts=(*fit.diagnostics.attempts, *alone.diagnostics.attempts),
                ),
                timing_s={k: fit.timing_s[k] + alone.timing_s[k] for k in ("total", "sampling")},
            )
    ordered = [fits[i] for i in range(len(datasets))]
    for result in ordered:
        gate(result, allow_unconverged, ADVICE)
    return ordered


def _loss_batches(
    datasets: Sequence[LossData],
    priors: LossPriors,
    settings: SamplerSettings,
    seeds: Sequence[int],
) -> dict[int, LossFit]:
    """One batch per shape (number of groups) of ``datasets``; fits by position."""
    from bayescale.batch import sample_batched
    from bayescale.loss_model import (
        add_scatter,
        build_loss_model,
        loss_inputs,
        loss_pivot,
        run_class,
    )
    from bayescale.sampling import check_memory

    shapes: dict[int, list[int]] = {}
    for i in range(len(datasets)):
        shapes.setdefault(len(datasets[i].groups), []).append(i)
    models = {}
    for groups, batch in shapes.items():  # every batch checked before any samples
        runs = run_class(max(int(datasets[i].fitted.sum()) for i in batch))
        models[groups] = runs, build_loss_model(datasets[batch[0]], priors, pad_runs=runs)
        # every lane's draws are kept at once: as many chains again per dataset
        check_memory(
            models[groups][1],
            replace(settings, chains=settings.chains * len(batch)),
            what=f"{plural(len(batch), 'dataset')} x {plural(settings.chains, 'chain')}",
        )
    fits = {}
    for groups, batch in shapes.items():
        start = time.perf_counter()
        runs, model = models[groups]
        idatas, seconds = sample_batched(
            model,
            [loss_inputs(datasets[i], runs, shared=priors.shared_runs) for i in batch],
            settings,
            coords=[{"group": list(datasets[i].groups)} for i in batch],
            seeds=[seeds[i] for i in batch],
        )
        share = (time.perf_counter() - start) / len(batch)
        for i, idata in zip(batch, idatas, strict=True):
            idata = add_scatter(idata, datasets[i], priors, seeds[i])
            fits[i] = LossFit(
                data=datasets[i],
                idata=idata,
                log_pivot=loss_pivot(datasets[i]),
                priors=priors,
                settings=replace(settings, seed=seeds[i]),  # the seed this dataset drew with
                diagnostics=replace(
                    diagnose(idata),
                    attempts=(
                        Attempt(
                            f"batched NUTS at target_accept {settings.target_accept}"
                            f" ({len(batch)} datasets in one program)",
                            "first fit",
                            share,
                        ),
                    ),
                ),
                timing_s={"total": share, "sampling": seconds / len(batch)},
            )
    return fits

"""The pass-rate law's fit: per-problem counts or aggregate rates to a diagnosed posterior.

:func:`fit_pass` builds the pass-rate model (padded to a shape class where it can be),
samples it through the shared convergence ladder (:mod:`bayescale.ladder`,
docs/convergence.md), adds the problem intercepts drawn after sampling and gates the result,
:class:`PassFit`; PyMC is imported only when a fit is actually made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import xarray as xr

from bayescale.buckets import Buckets, intercepts_drawn
from bayescale.diagnostics import Diagnostics
from bayescale.display import Summarised, common_rows, plural
from bayescale.draws import stacked_draws
from bayescale.errors import InputError
from bayescale.ladder import gate, model_settings, run_ladder
from bayescale.pass_data import PassAggregate, PassCounts
from bayescale.priors import PassPriors
from bayescale.sampling import SamplerSettings
from bayescale.seeds import Streams

if TYPE_CHECKING:
    import pymc as pm

#: The same for the pass-rate models (per-problem counts and aggregate rates).
PASS_ADVICE = {
    "sigma_model": (
        "how far whole models sit off the pass-rate law",
        "add models, or fit with more buckets so that the law is pinned",
    ),
    "sigma_problem": (
        "how far the problems of one bucket spread around the bucket's line, which buckets of "
        "a few problems cannot tell from the spread between buckets",
        "add problems, or use fewer buckets (--buckets) so that each holds several",
    ),
    "exponent": (
        "how fast a bucket's pass rate rises with compute",
        "add models over a wider range of compute, or problems; buckets of one or two problems "
        "pin it worse than fewer, fuller ones (--buckets)",
    ),
    "level": (
        "a bucket's -ln(pass rate) at the middle compute of the models",
        "use fewer buckets (--buckets), or check the models for one off the law",
    ),
    "sigma": (
        "how far the models' aggregate pass rates sit off the law",
        "add models, or check the table for a model off the law (another family or harness)",
    ),
    "": ("", ". Check the table for a model off the law (another family or harness)."),
}


#: Problems a bucket holds below which the exit-3 message of a per-problem fit names the sizes.
FEW_PROBLEMS_PER_BUCKET = 3


def _pass_context(result: PassFit) -> str:
    """The buckets of a per-problem fit, when some hold few problems."""
    if result.buckets is None:
        return ""
    sizes = result.buckets.sizes()
    if min(sizes) >= FEW_PROBLEMS_PER_BUCKET:
        return ""
    return (
        f"The {sum(sizes)} problems are split into {plural(len(sizes), 'bucket')} of "
        f"{', '.join(map(str, sizes))} problems."
    )


@dataclass(frozen=True, repr=False)
class PassFit(Summarised):
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
    forecast_seed, streams
        As :class:`~bayescale.loss_fit.LossFit`'s.
    """

    #: The function that answers this law's questions from such a fit (for messages).
    answered_by: ClassVar[str] = "bayescale.result_from_pass_fit"

    data: PassCounts | PassAggregate
    buckets: Buckets | None
    idata: xr.DataTree
    log_pivot: float
    priors: PassPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float] = field(default_factory=dict)
    forecast_seed: int | None = None
    streams: Streams = "keyed"

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
            *common_rows(self),
        ]
        return "PassFit", rows


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
    InputError
        When per-problem counts come without ``buckets``.
    ConvergenceError
        When the diagnostics gate fails and ``allow_unconverged`` is false.

    Returns
    -------
    PassFit
        The data, its difficulty buckets, the ``xarray.DataTree`` posterior, the
        diagnostics and the sampler settings.
    """
    from bayescale.pass_model import (
        add_problem_intercepts,
        aggregate_rows,
        build_aggregate_pass_model,
        build_pass_model,
        pass_pivot,
        pass_shape,
        size_class,
        starts_noncentred,
        unpad_posterior,
        weak_intercept_count,
    )

    priors = priors or PassPriors()
    settings = model_settings(settings, "pass")
    start = time.perf_counter()
    complete = None
    alternative = None
    first_noncentred = False
    first_form: list[str] = []
    if isinstance(data, PassAggregate):
        aggregate = data
        rows = size_class(aggregate_rows(aggregate))

        def build(other: bool) -> pm.Model:
            return build_aggregate_pass_model(aggregate, priors, pad_rows=rows)
    else:
        if buckets is None:
            raise InputError(
                "fit_pass: per-problem counts need their difficulty buckets: "
                "fit_pass(counts, bayescale.buckets.make_buckets(counts, n_buckets=6))."
            )
        counts, kept = data, buckets
        # effects the counts barely pin start non-centred; the ladder's alternative is the other
        if int(data.models.fitted.sum()) > 2:  # two models leave no model effects
            first_noncentred = starts_noncentred(counts, kept)
            alternative = f"model effects {'centred' if first_noncentred else 'non-centred'}"
        if first_noncentred:
            first_form.append("model effects non-centred")
        if not priors.problem_slopes and (weak := weak_intercept_count(counts, kept)):
            first_form.append(f"{weak[0]} of {weak[1]} sampled problem intercepts non-centred")
        # one compiled program per shape class (docs/performance.md); per-problem exponents
        # are not padded
        shape = None if priors.problem_slopes else pass_shape(counts, kept)

        def build(other: bool) -> pm.Model:
            noncentred = other != first_noncentred
            return build_pass_model(counts, kept, priors, noncentred=noncentred, shape=shape)

        def complete(idata: xr.DataTree, settings: SamplerSettings) -> xr.DataTree:
            if shape is not None:  # padded coefficients out before anything sees them
                idata = unpad_posterior(idata, counts, kept)
            return add_problem_intercepts(idata, counts, kept, settings.seed)

    added = intercepts_drawn(buckets, priors.problem_slopes)
    idata, diagnostics, settings, sampling_s = run_ladder(
        build,
        settings,
        complete,
        alternative=alternative,
        added_per_draw=added,
        first_form="; ".join(first_form) or None,
    )
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
    gate(result, allow_unconverged, PASS_ADVICE, _pass_context(result))
    return result

"""Fitting: validated data to a sampled, diagnosed posterior.

:func:`fit_loss` wires model building, the sampling seam and the diagnostics gate. The
result, :class:`LossFit`, is a frozen record of everything a forecast needs; PyMC is imported
only when a fit is actually made.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import xarray as xr

from bayescale.data import LossData
from bayescale.diagnostics import Diagnostics, diagnose
from bayescale.errors import ConvergenceError
from bayescale.priors import LossPriors
from bayescale.sampling import RETRY_TARGET_ACCEPT, SamplerSettings

log = logging.getLogger("bayescale")


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
        da = self.idata["posterior"][name]
        return np.asarray(da.values).reshape(-1, *da.shape[2:])

    @property
    def n_samples(self) -> int:
        """Number of posterior draws over all chains."""
        posterior = self.idata["posterior"]
        return int(posterior.sizes["chain"] * posterior.sizes["draw"])


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
        Sampler settings (:class:`bayescale.sampling.SamplerSettings`).
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
    from bayescale.sampling import sample

    priors = priors or LossPriors()
    settings = settings or SamplerSettings()
    start = time.perf_counter()
    model = build_loss_model(data, priors)
    idata, sampling_s = sample(model, settings)
    diagnostics = diagnose(idata)
    if diagnostics.divergences and settings.target_accept < RETRY_TARGET_ACCEPT:
        # Rare divergences at the edge of the posterior go away with a smaller step size;
        # rerun once instead of failing (the retry's settings are what the fit records).
        log.info(
            "%d divergences; sampling again with target_accept=%s",
            diagnostics.divergences,
            RETRY_TARGET_ACCEPT,
        )
        settings = replace(settings, target_accept=RETRY_TARGET_ACCEPT)
        idata, retry_s = sample(model, settings)
        sampling_s += retry_s
        diagnostics = diagnose(idata)
    result = LossFit(
        data=data,
        idata=idata,
        log_pivot=loss_pivot(data),
        priors=priors,
        settings=settings,
        diagnostics=diagnose(idata),
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
    )
    if not result.diagnostics.ok and not allow_unconverged:
        raise ConvergenceError(
            "the sampler did not converge: " + "; ".join(result.diagnostics.problems()),
            result=result,
        )
    return result

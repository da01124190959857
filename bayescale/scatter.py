r"""The run-to-run scatter of the loss and L(N, D) models: integrated out, or sampled.

Both models put one scatter :math:`\sigma` on the log loss of every run, with
:math:`\sigma^2 \sim \mathrm{InvGamma}(\alpha, \beta)`. Given the law's parameters
:math:`\theta`, the :math:`n` runs' residuals :math:`r_i = \ln L_i - \ln L(\theta)_i` are
normal, so :math:`\sigma` integrates out in closed form:

.. math::

    \ln p(y \mid \theta) = \ln\Gamma(\alpha + n/2) - \ln\Gamma(\alpha) + \alpha\ln\beta
        - \tfrac{n}{2}\ln 2\pi - (\alpha + n/2)\ln\left(\beta + \mathrm{RSS}/2\right),
    \qquad \mathrm{RSS} = \sum_i w_i r_i^2,\ n = \sum_i w_i,

bounded as the residuals vanish: no funnel at :math:`\sigma \to 0` when the law's
parameters nearly interpolate a few runs (docs/convergence.md). After sampling,
:math:`\sigma^2 \mid \theta, y \sim \mathrm{InvGamma}(\alpha + n/2, \beta + \mathrm{RSS}/2)`
is its exact conditional, so a draw of it per posterior draw gives draws of the joint
posterior (:func:`add_scatter_draws`).

With the Student-t likelihood (``likelihood="student_t"``, :math:`\nu` = ``student_t_nu``)
or the half-normal prior there is no closed form: :math:`\sigma` is sampled
(:func:`sampled_sigma`) and each run's log loss is :math:`\mathcal{N}` or
:math:`t_\nu(\ln L(\theta)_i, \sigma)` (:func:`sampled_scatter_likelihood`); a new run's
standardised scatter is drawn from the same family (:func:`bayescale.draws.scatter_noise`).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayescale.priors import InverseGammaScatter, SampledScatter, scatter_scale
from bayescale.seeds import stream


def integrated_scatter_potential(
    name: str,
    observed: pt.TensorLike,
    mean: pt.TensorLike,
    weight: pt.TensorLike,
    priors: InverseGammaScatter,
) -> pt.TensorVariable:
    """Add the runs' normal likelihood with ``sigma`` integrated out, as ``pm.Potential(name)``.

    ``observed`` and ``mean`` are the runs' log losses and the law's; ``weight`` is 1 for a
    run and 0 for padding (:func:`bayescale.loss_model.pad_to`). The formula is the module's.
    """
    alpha, beta = priors.scatter_shape, scatter_scale(priors)
    n = pt.sum(weight)
    rss = pt.sum(weight * (pt.as_tensor(observed) - mean) ** 2)
    return pm.Potential(
        name,
        pt.gammaln(alpha + n / 2)
        - pt.gammaln(alpha)
        + alpha * np.log(beta)
        - n / 2 * np.log(2 * np.pi)
        - (alpha + n / 2) * pt.log(beta + rss / 2),
    )


def add_scatter_draws(
    idata: xr.DataTree,
    residuals: np.ndarray,
    priors: InverseGammaScatter,
    seed: int,
    key: str,
) -> xr.DataTree:
    r"""A copy of ``idata`` whose posterior has ``sigma``, drawn from its conditional.

    ``residuals`` are the fitted runs' log-loss residuals per posterior draw, shape
    ``(chain, draw, run)``; per draw :math:`\sigma^2 \sim \mathrm{InvGamma}(\alpha + n/2,
    \beta + \mathrm{RSS}/2)`, from stream ``key`` of ``seed`` (:func:`bayescale.seeds.stream`).
    """
    return add_scatter_from_rss(
        idata, (residuals**2).sum(axis=-1), residuals.shape[-1], priors, seed, key
    )


def add_scatter_from_rss(
    idata: xr.DataTree,
    rss: np.ndarray,
    runs: int,
    priors: InverseGammaScatter,
    seed: int,
    key: str,
) -> xr.DataTree:
    """:func:`add_scatter_draws` from the residual sums of squares, shape ``(chain, draw)``.

    ``rss[c, d]`` is ``(residuals[c, d] ** 2).sum()`` over the ``runs`` fitted runs; a caller
    can compute it a block of draws at a time, so that no ``(chain, draw, run)`` array is made.
    """
    rng = stream(seed, key)
    shape = priors.scatter_shape + runs / 2
    variance = (scatter_scale(priors) + rss / 2) / rng.gamma(shape, 1.0, size=rss.shape)
    sigma = xr.DataArray(np.sqrt(variance), dims=("chain", "draw"))
    posterior = idata["posterior"].to_dataset()
    tree = idata.copy()
    tree["posterior"] = xr.DataTree(posterior.assign(sigma=sigma))
    return tree


def sampled_sigma(priors: SampledScatter) -> pt.TensorVariable:
    """Add the scatter ``sigma`` as a sampled variable of the model in context.

    ``HalfNormal(scatter_sd)`` with ``scatter_prior="halfnormal"``; otherwise the free
    ``sigma_squared ~ InvGamma(scatter_shape, scatter_scale)`` and the deterministic ``sigma``.
    """
    if priors.scatter_prior == "halfnormal":
        return pm.HalfNormal("sigma", sigma=priors.scatter_sd)
    variance = pm.InverseGamma(
        "sigma_squared", alpha=priors.scatter_shape, beta=scatter_scale(priors)
    )
    return pm.Deterministic("sigma", pt.sqrt(variance))


def sampled_scatter_likelihood(
    name: str,
    observed: pt.TensorLike,
    mean: pt.TensorLike,
    sigma: pt.TensorLike,
    weight: pt.TensorLike,
    priors: SampledScatter,
    *,
    padded: bool,
) -> None:
    """Add the runs' likelihood with a sampled ``sigma``: normal or Student-t (``priors``).

    Unpadded, the observed variable ``name`` over dim ``run``; padded, ``pm.Potential(name)``
    weighting each run's log density by ``weight`` (0 for padding).
    """
    family, shape = (
        (pm.StudentT, {"nu": priors.student_t_nu})
        if priors.likelihood == "student_t"
        else (pm.Normal, {})
    )
    if not padded:
        family(name, mu=mean, sigma=sigma, observed=observed, dims="run", **shape)
        return
    run_logp = pm.logp(family.dist(mu=mean, sigma=sigma, **shape), observed)
    pm.Potential(name, (weight * run_logp).sum())

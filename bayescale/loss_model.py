r"""The hierarchical loss model as a PyMC model factory.

.. math::

    \ln L_{i} \sim \mathcal{N}\!\left(\ln L_{g[i]}(C_i),\; \sigma\right)
    \quad\text{(or Student-}t_\nu\text{)},

with :math:`L_g` the pivot form of the GPT-4 report's law (:func:`bayescale.laws.loss_law_pivot`)
and the priors of :mod:`bayescale.priors`. The posterior holds the sampled parameters and, as
deterministics in the user's units, ``a``, ``b``, ``c`` per group (``L = a C^b + c``, C in
FLOPs).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescale.data import LossData
from bayescale.laws import loss_law_pivot
from bayescale.priors import LossPriors


def loss_pivot(data: LossData) -> float:
    r"""Return :math:`\ln C_0`, the mean log compute of the fitted runs."""
    return float(np.mean(np.log(data.compute[data.fitted])))


def _pooled(
    name: str, mean: float, sd: float, group_sd: float, n_groups: int, *, centred: bool
) -> pt.TensorVariable:
    """Partially pooled group values on an unconstrained scale.

    ``mu_<name> ~ N(mean, sd)``; with several groups either ``<name>_group[g] ~ N(mu, tau)``
    with ``tau ~ LogNormal(ln group_sd, 0.5)`` (centred, for quantities the data pin down per
    group) or ``mu + tau * z_<name>[g]`` with ``z ~ N(0, 1)`` and
    ``tau ~ Gamma(2, 2/group_sd)`` (non-centred, for quantities the data barely inform).
    With one group the value is ``mu``.
    """
    mu = pm.Normal(f"mu_{name}", mu=mean, sigma=sd)
    if n_groups == 1:
        return pt.ones(1) * mu
    if centred:
        # A centred group effect funnels when tau nears zero; a log-normal prior keeps tau
        # off zero (P(tau < group_sd / 3) = 1.4%), which removed the divergences we measured.
        tau = pm.LogNormal(f"tau_{name}", mu=np.log(group_sd), sigma=0.5)
        return pm.Normal(f"{name}_group", mu=mu, sigma=tau, dims="group")
    tau = pm.Gamma(f"tau_{name}", alpha=2.0, beta=2.0 / group_sd)
    z = pm.Normal(f"z_{name}", 0.0, 1.0, dims="group")
    return mu + tau * z


def build_loss_model(data: LossData, priors: LossPriors | None = None) -> pm.Model:
    """Build the hierarchical loss model for the fitted runs of ``data``.

    Parameters
    ----------
    data
        Validated runs; held-out runs are left out of the likelihood.
    priors
        Prior hyper-parameters; defaults documented in :mod:`bayescale.priors`.

    Returns
    -------
    pm.Model
        Dims ``group`` (the groups) and ``run`` (row positions of the fitted runs). Free variables
        ``mu_slope`` (log scale), ``mu_reducible`` (logit scale), ``log_level``,
        ``sigma`` and, with several groups, ``tau_slope``, ``slope_group`` (centred),
        ``tau_reducible``, ``z_reducible`` (non-centred); deterministics ``slope``;
        ``exponent``, ``reducible``, ``level``, ``a``, ``b``, ``c``; observed ``log_loss``.
    """
    priors = priors or LossPriors()
    fit = data.fitted
    log_c0 = loss_pivot(data)
    x = np.log(data.compute[fit]) - log_c0
    idx = data.group_index[fit]
    log_loss = np.log(data.loss[fit])
    level_centre = np.array(
        [np.median(log_loss[idx == g]) for g in range(len(data.groups))], dtype=float
    )
    coords = {"group": list(data.groups), "run": np.flatnonzero(fit)}
    with pm.Model(coords=coords) as model:
        slope = pm.Deterministic(
            "slope",
            pt.exp(
                _pooled(
                    "slope",
                    np.log(priors.slope_median),
                    priors.slope_log_sd,
                    priors.slope_group_sd,
                    len(data.groups),
                    centred=True,
                )
            ),
            dims="group",
        )
        reducible = pm.Deterministic(
            "reducible",
            pm.math.sigmoid(
                _pooled(
                    "reducible",
                    priors.reducible_logit_mean,
                    priors.reducible_logit_sd,
                    priors.reducible_group_sd,
                    len(data.groups),
                    centred=False,
                )
            ),
            dims="group",
        )
        exponent = pm.Deterministic("exponent", slope / reducible, dims="group")

        log_level = pm.Normal("log_level", mu=level_centre, sigma=priors.level_log_sd, dims="group")
        level = pm.Deterministic("level", pt.exp(log_level), dims="group")

        pm.Deterministic("a", level * reducible * pt.exp(exponent * log_c0), dims="group")
        pm.Deterministic("b", -exponent, dims="group")
        pm.Deterministic("c", level * (1.0 - reducible), dims="group")

        sigma = pm.HalfNormal("sigma", sigma=priors.scatter_sd)
        mean_loss = loss_law_pivot(x, level[idx], reducible[idx], exponent[idx], xp=pt)
        if priors.likelihood == "student_t":
            pm.StudentT(
                "log_loss",
                nu=priors.student_t_nu,
                mu=pt.log(mean_loss),
                sigma=sigma,
                observed=log_loss,
                dims="run",
            )
        else:
            pm.Normal(
                "log_loss",
                mu=pt.log(mean_loss),
                sigma=sigma,
                observed=log_loss,
                dims="run",
            )
    return model

"""The textbook baselines of ``bench_fit.py``: the same laws written the obvious way in PyMC.

"Obvious" means what a careful PyMC user writes first from a textbook: the law's own
parameters (``a, b, c`` for the loss law; ``alpha, k`` for the pass-rate law), compute
centred at the geometric mean of the fitted runs (centring a predictor is textbook practice,
so the baseline is not handicapped by an ill-conditioned raw-FLOPs scale), non-centred group
effects with half-normal scales, and plain ``pm.sample()`` defaults. The priors are weakly
informative and cover the same range as bayescale's; the likelihoods are bayescale's (log-normal
run scatter for loss, binomial counts for pass rates), so both fit the same data to the same
law and the comparison is about parameterisation and sampler, not about the model.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescale.buckets import Buckets
from bayescale.data import LossData
from bayescale.pass_data import PassCounts


def textbook_loss_model(data: LossData) -> pm.Model:
    r"""Hierarchical ``L_g(C) = a_g (C/C_0)^{b_g} + c_g`` with non-centred group effects.

    .. math::

        \ln a_g = \mu_a + \tau_a z^a_g,\quad b_g = \mu_b + \tau_b z^b_g,\quad
        \ln c_g = \mu_c + \tau_c z^c_g,\quad
        \ln L_i \sim N(\ln L_{g[i]}(C_i), \sigma)
    """
    fit = data.fitted
    log_c = np.log(data.compute[fit])
    x = log_c - log_c.mean()
    idx = data.group_index[fit]
    log_loss = np.log(data.loss[fit])
    centre = float(np.mean(log_loss))
    with pm.Model(coords={"group": list(data.groups)}) as model:
        mu_a = pm.Normal("mu_log_a", centre - np.log(2), 1.0)
        tau_a = pm.HalfNormal("tau_log_a", 0.5)
        log_a = pm.Deterministic(
            "log_a", mu_a + tau_a * pm.Normal("z_log_a", 0, 1, dims="group"), dims="group"
        )
        mu_b = pm.Normal("mu_b", -0.1, 0.1)
        tau_b = pm.HalfNormal("tau_b", 0.05)
        b = pm.Deterministic("b", mu_b + tau_b * pm.Normal("z_b", 0, 1, dims="group"), dims="group")
        mu_c = pm.Normal("mu_log_c", centre - np.log(2), 1.0)
        tau_c = pm.HalfNormal("tau_log_c", 0.5)
        log_c_g = pm.Deterministic(
            "log_c", mu_c + tau_c * pm.Normal("z_log_c", 0, 1, dims="group"), dims="group"
        )
        sigma = pm.HalfNormal("sigma", 0.05)
        mean = pt.exp(log_a)[idx] * pt.exp(b[idx] * x) + pt.exp(log_c_g)[idx]
        pm.Normal("log_loss", pt.log(mean), sigma, observed=log_loss)
    return model


def textbook_pass_model(counts: PassCounts, buckets: Buckets) -> pm.Model:
    r"""Per-problem binomial ``-\ln p_{mj} = \alpha_j (C_m/C_0)^{-k_{b(j)}} e^{\varepsilon_m}``.

    .. math::

        \ln\alpha_j = \mu_{b(j)} + \sigma_u z_j,\quad \mu_b = \mu + \tau_\mu w_b,\quad
        \ln k_b = \nu + \tau_k v_b,\quad \varepsilon_m = \sigma_m e_m,\quad
        k_{mj} \sim \mathrm{Binomial}(n_{mj}, p_{mj})

    every group effect non-centred with a standard-normal raw variable.
    """
    fitted = np.flatnonzero(counts.models.fitted)
    kept = buckets.kept
    log_c = np.log(counts.models.compute[fitted])
    x = log_c - log_c.mean()
    n = counts.n[np.ix_(fitted, kept)]
    k = counts.k[np.ix_(fitted, kept)]
    obs_m, obs_j = np.nonzero(n > 0)
    b_of = buckets.index
    coords = {
        "bucket": list(buckets.internal_labels),
        "problem": [counts.problems[j] for j in kept],
        "model": [counts.models.names[m] for m in fitted],
    }
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu", 1.0, 1.5)
        tau_mu = pm.HalfNormal("tau_mu", 1.0)
        bucket_level = mu + tau_mu * pm.Normal("w", 0, 1, dims="bucket")
        nu = pm.Normal("nu", np.log(0.2), 1.0)
        tau_k = pm.HalfNormal("tau_k", 0.3)
        k_b = pm.Deterministic(
            "k", pt.exp(nu + tau_k * pm.Normal("v", 0, 1, dims="bucket")), dims="bucket"
        )
        sigma_u = pm.HalfNormal("sigma_u", 1.0)
        log_alpha = pm.Deterministic(
            "log_alpha",
            bucket_level[b_of] + sigma_u * pm.Normal("z", 0, 1, dims="problem"),
            dims="problem",
        )
        sigma_m = pm.HalfNormal("sigma_m", 0.3)
        eps = sigma_m * pm.Normal("e", 0, 1, dims="model")
        neg_log_p = pt.exp(log_alpha[obs_j] - k_b[b_of][obs_j] * x[obs_m] + eps[obs_m])
        pm.Binomial("passes", n=n[obs_m, obs_j], p=pt.exp(-neg_log_p), observed=k[obs_m, obs_j])
    return model

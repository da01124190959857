r"""The hierarchical pass-rate models as PyMC model factories.

Per-problem counts (:func:`build_pass_model`):

.. math::

    k_{mj} \sim \mathrm{Binomial}(n_{mj}, p_{mj}), \qquad
    \ln(-\ln p_{mj}) = \theta_j - k_j x_m + \varepsilon_m,

with :math:`k_j = k_{b(j)}` (or, with ``PassPriors(problem_slopes=True)``,
:math:`\ln k_j \sim N(\ln k_{b(j)}, \sigma_k)`) and :math:`x_m = \ln C_m - \ln C_0`
(pivot: geometric mean compute of the fitted models), so that the mean of :math:`-\ln p`
over a bucket follows the GPT-4 report's law :math:`\alpha_b C^{-k_b}`. Problems with zero
passes enter through the binomial likelihood as evidence of a small pass rate instead of
being dropped.

Geometry, chosen by measurement on Pythia x MATH (6 models x 128 problems, 4 x 1000 draws):
problem intercepts are centred on their bucket level where a problem was solved at least once
(the data pin them) and non-centred where it never was; model effects are centred in the
space orthogonal to (1, x) so that they cannot trade off against the bucket lines. A
non-centred textbook version needed 477 leapfrog steps per draw (93 s, 8 divergences); this
one needs 23 (18 s, none).

Per-problem exponents are an option, off by default. Measured on Pythia-12B held out: with a
HalfNormal(0.3) scale all 7 held-out statistics fall inside their 90% intervals and medians
are within 8% (5 of 7 and up to 22% without), but on a simulation whose problems share one
exponent per bucket the centred effect funnels (31 divergences, R-hat 1.10); with a
zero-avoiding LogNormal scale the sampler is clean but Pythia's posterior scale goes to ~1.0
and the 12B pass rate is overestimated by 58%. Neither is safe as a default yet.

Aggregate rates (:func:`build_aggregate_pass_model`):
:math:`\ln(-\ln p_{mb}) \sim N(\beta_b - k_b x_m, \sigma)`.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescale.buckets import Buckets
from bayescale.pass_data import PassAggregate, PassCounts
from bayescale.priors import PassPriors

#: Passes and failures a problem needs, summed over fitted models, to be sampled centred.
INFORMATIVE_COUNT = 5


def pass_pivot(compute: np.ndarray) -> float:
    """Return ln C0, the mean log compute of the fitted models."""
    return float(np.mean(np.log(compute)))


def _bucket_lines(priors: PassPriors, n_buckets: int) -> tuple[pt.TensorVariable, ...]:
    """Pooled bucket levels and exponents (centred: the data pin both)."""
    mu_beta = pm.Normal("mu_level", mu=priors.level_mean, sigma=priors.level_sd)
    mu_k = pm.Normal(
        "mu_log_exponent", mu=np.log(priors.exponent_median), sigma=priors.exponent_log_sd
    )
    if n_buckets == 1:
        beta = pm.Deterministic("level", pt.ones(1) * mu_beta, dims="bucket")
        exponent = pm.Deterministic("exponent", pt.exp(pt.ones(1) * mu_k), dims="bucket")
        return beta, exponent
    tau_beta = pm.LogNormal("tau_level", mu=np.log(priors.level_bucket_sd), sigma=0.5)
    beta = pm.Normal("level", mu=mu_beta, sigma=tau_beta, dims="bucket")
    tau_k = pm.LogNormal("tau_exponent", mu=np.log(priors.exponent_bucket_sd), sigma=0.5)
    log_k = pm.Normal("log_exponent", mu=mu_k, sigma=tau_k, dims="bucket")
    return beta, pm.Deterministic("exponent", pt.exp(log_k), dims="bucket")


def _model_effects(x: np.ndarray, sd: float) -> pt.TensorVariable:
    """Model-level scatter, centred, in the space orthogonal to (1, x)."""
    sigma_model = pm.HalfNormal("sigma_model", sigma=sd)
    if x.size <= 2:
        return pt.zeros(x.size)
    basis, _ = np.linalg.qr(np.column_stack([np.ones_like(x), x]), mode="complete")
    w = pm.Normal("model_effect_raw", 0.0, sigma_model, shape=x.size - 2)
    return pm.Deterministic("model_effect", pt.dot(basis[:, 2:], w), dims="model")


def _problem_slopes(
    exponent: pt.TensorVariable, b_of: np.ndarray, trend: np.ndarray, priors: PassPriors
) -> pt.TensorVariable:
    """Per-problem exponents around their bucket's: ``ln k_j ~ N(ln k_b(j), sigma_slope)``.

    Centred where a problem passed for two or more models (the data show its trend),
    non-centred elsewhere.
    """
    sigma_v = pm.HalfNormal("sigma_slope", sigma=priors.problem_slope_sd)
    log_kb = pt.log(exponent)[b_of]
    log_slope = pt.zeros(b_of.size)
    if trend.any():
        t = np.flatnonzero(trend)
        log_slope = pt.set_subtensor(
            log_slope[t], pm.Normal("log_slope_trend", log_kb[t], sigma_v, shape=t.size)
        )
    if (~trend).any():
        t = np.flatnonzero(~trend)
        z = pm.Normal("z_slope", 0.0, 1.0, shape=t.size)
        log_slope = pt.set_subtensor(log_slope[t], log_kb[t] + sigma_v * z)
    return pm.Deterministic("problem_exponent", pt.exp(log_slope), dims="problem")


def build_pass_model(
    counts: PassCounts, buckets: Buckets, priors: PassPriors | None = None
) -> pm.Model:
    """Build the per-problem binomial model on the fitted models and kept problems.

    Returns
    -------
    pm.Model
        Dims ``bucket`` (reported buckets, plus ``excluded`` when any), ``problem`` (kept
        problems), ``model`` (fitted models). Posterior quantities used downstream:
        ``level``, ``exponent`` (bucket), ``theta``, ``problem_exponent`` (problem),
        ``sigma_model``, ``sigma_problem``, ``sigma_slope``.
    """
    priors = priors or PassPriors()
    fitted = np.flatnonzero(counts.models.fitted)
    kept = buckets.kept
    x = np.log(counts.models.compute[fitted]) - pass_pivot(counts.models.compute[fitted])
    n = counts.n[np.ix_(fitted, kept)]
    k = counts.k[np.ix_(fitted, kept)]
    # centred where the counts pin a problem's pass rate (enough passes and enough failures),
    # non-centred where they barely inform it (never solved, or always solved, in few tries)
    solved = (k.sum(axis=0) >= INFORMATIVE_COUNT) & ((n - k).sum(axis=0) >= INFORMATIVE_COUNT)
    coords = {
        "bucket": list(buckets.internal_labels),
        "problem": [counts.problems[j] for j in kept],
        "model": [counts.models.names[m] for m in fitted],
    }
    obs_m, obs_j = np.nonzero(n > 0)
    b_of = buckets.index
    with pm.Model(coords=coords) as model:
        beta, exponent = _bucket_lines(priors, buckets.n_internal)
        sigma_u = pm.HalfNormal("sigma_problem", sigma=priors.problem_sd)
        theta = pt.zeros(len(kept))
        if solved.any():
            s = np.flatnonzero(solved)
            theta = pt.set_subtensor(
                theta[s], pm.Normal("theta_solved", beta[b_of[s]], sigma_u, shape=s.size)
            )
        if (~solved).any():
            u = np.flatnonzero(~solved)
            z = pm.Normal("z_unsolved", 0.0, 1.0, shape=u.size)
            theta = pt.set_subtensor(theta[u], beta[b_of[u]] + sigma_u * z)
        theta = pm.Deterministic("theta", theta, dims="problem")
        effect = _model_effects(x, priors.model_sd)
        if priors.problem_slopes:
            slope = _problem_slopes(exponent, b_of, (k > 0).sum(axis=0) >= 2, priors)
        else:
            slope = pm.Deterministic("problem_exponent", exponent[b_of], dims="problem")
        eta = theta[obs_j] - slope[obs_j] * x[obs_m] + effect[obs_m]
        neg_log_p = pt.exp(eta)
        # logit p = ln p - ln(1 - p) with ln p = -exp(eta), stable for p near 0 and 1
        logit_p = -neg_log_p - pt.log1mexp(-neg_log_p)
        pm.Binomial("passes", n=n[obs_m, obs_j], logit_p=logit_p, observed=k[obs_m, obs_j])
    return model


def build_aggregate_pass_model(data: PassAggregate, priors: PassPriors | None = None) -> pm.Model:
    """Build the aggregate model: ``ln(-ln p)`` of each (model, bucket) row with scatter.

    Returns
    -------
    pm.Model
        Dims ``bucket`` and ``obs``; ``level``, ``exponent`` (bucket) and ``sigma``.
    """
    priors = priors or PassPriors()
    fitted = np.flatnonzero(data.models.fitted)
    x = np.log(data.models.compute[fitted]) - pass_pivot(data.models.compute[fitted])
    rates = data.pass_rate[fitted]
    m, b = np.nonzero(np.isfinite(rates))
    # a pass rate of exactly 1 has ln(-ln p) = -inf: read it as "all but half a problem"
    # (1 - 0.5/n_problems), or 0.999 when the table does not give n_problems
    cap = np.array([1 - 0.5 / n if n else 1 - 1e-3 for n in data.n_problems])
    y = np.log(-np.log(np.minimum(rates[m, b], cap[b])))
    with pm.Model(coords={"bucket": list(data.buckets), "obs": np.arange(y.size)}) as model:
        beta, exponent = _bucket_lines(priors, len(data.buckets))
        sigma = pm.HalfNormal("sigma", sigma=priors.aggregate_sd)
        pm.Normal(
            "log_neg_log_pass", mu=beta[b] - exponent[b] * x[m], sigma=sigma, observed=y, dims="obs"
        )
    return model

r"""The hierarchical accuracy model as a PyMC model factory.

For a row of family :math:`f`, benchmark :math:`b` and compute :math:`C`, with
:math:`x = \ln C - \ln C_{0,f}` (the family's geometric centre) and
:math:`y = \ln(-\ln\frac{p - g_b}{1 - g_b})`:

.. math::

    \mu = \beta_{fb} - k_{fb}\,x,\qquad
    \beta_{fb} \sim N(B_b + \phi_f,\ \tau_\beta),\qquad
    \ln k_{fb} = K_b + \psi_f + \tau_k z_{fb},

with benchmark effects :math:`B_b, K_b`, family effects :math:`\phi_f, \psi_f` (non-centred),
and :math:`y \sim N(\mu, \sigma_b)` for rows without ``n_questions`` (censored within the
floor margin of chance or of 1), or :math:`k \sim \mathrm{Binomial}(n, g_b + (1 - g_b)
e^{-e^{\mu + \sigma_b \epsilon}})` with a per-row :math:`\epsilon \sim N(0, 1)` when the row
gives ``n_questions``. Without pooling every ladder has :math:`\beta_{fb} \sim N(B^0_b, \cdot)`
and :math:`\ln k_{fb} \sim N(\ln k_0, \cdot)` on its own.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayescale.accuracy_data import (
    AccuracyData,
    AccuracyPriors,
    accuracy_law,
    accuracy_pivots,
    normalised_accuracy,
)


def accuracy_inputs(
    data: AccuracyData, priors: AccuracyPriors, pivot: str = "global"
) -> dict[str, np.ndarray]:
    r"""The fitted rows split by how they enter the likelihood.

    Returns
    -------
    dict
        ``family``, ``benchmark`` (indices), ``x`` (log compute minus the family pivot),
        ``kind`` (0 observed on the :math:`y` scale, 1 at the floor, 2 at the ceiling,
        3 binomial), ``y`` (the :math:`y` value, or the censoring bound), ``n``, ``k``
        (counts of binomial rows), ``level_centre`` per benchmark (median :math:`y` of its
        observed rows, 0 when none).
    """
    fit = data.fitted
    fam = data.family_index[fit]
    bench = data.benchmark_index[fit]
    x = np.log(data.compute[fit]) - accuracy_pivots(data, pivot)[fam]
    g = data.chance[bench]
    acc = data.accuracy[fit]
    n = data.n_questions[fit]
    q = normalised_accuracy(acc, g)
    m = priors.floor_margin
    kind = np.where(q <= m, 1, np.where(q >= 1 - m, 2, 0))
    kind = np.where(np.isnan(n), kind, 3)
    y = np.log(-np.log(np.clip(q, m, 1 - m)))
    centre = np.array(
        [
            float(np.median(y[(bench == b) & (kind == 0)]))
            if ((bench == b) & (kind == 0)).any()
            else 0.0
            for b in range(len(data.benchmarks))
        ]
    )
    return {
        "family": fam,
        "benchmark": bench,
        "x": x,
        "kind": kind,
        "y": y,
        "n": np.nan_to_num(n).astype(np.int64),
        "k": np.round(np.nan_to_num(acc * n)).astype(np.int64),
        "chance": g,
        "level_centre": centre,
    }


def std_normal_logcdf(z: pt.TensorVariable) -> pt.TensorVariable:
    r""":math:`\ln\Phi(z)` with finite gradients everywhere.

    PyMC's normal log-CDF switches between two branches, and the branch not taken overflows
    for large :math:`z` (``erfcx`` of a large negative number), which turns the gradient into
    NaN; each branch here gets only the inputs it is taken for.
    """
    low = pt.minimum(z, -1.0)
    high = pt.maximum(z, -1.0)
    tail = pt.log(pt.erfcx(-low / np.sqrt(2.0)) / 2.0) - low**2 / 2.0
    body = pt.log1p(-pt.erfc(high / np.sqrt(2.0)) / 2.0)
    return pt.switch(pt.lt(z, -1.0), tail, body)


def build_accuracy_model(
    data: AccuracyData,
    priors: AccuracyPriors | None = None,
    *,
    pooled: bool = True,
    pivot: str = "global",
) -> pm.Model:
    """Build the accuracy model of the fitted rows of ``data``.

    Returns
    -------
    pm.Model
        Dims ``family``, ``benchmark``. Deterministics ``level`` and ``exponent``
        ``[family, benchmark]``; ``sigma[benchmark]``. Pooled free variables: ``level_bench``,
        ``log_exponent_bench`` (benchmark), ``tau_level_family``, ``z_level_family``,
        ``tau_exponent_family``, ``z_exponent_family`` (family), ``tau_level``, ``level_raw``
        (centred ladder levels), ``tau_exponent``, ``z_exponent`` (non-centred ladder
        residuals). Likelihood terms ``y_observed``, ``y_floor``, ``y_ceiling`` (potentials),
        ``correct`` (binomial) for the rows of each kind.
    """
    priors = priors or AccuracyPriors()
    inputs = accuracy_inputs(data, priors, pivot)
    n_f, n_b = len(data.families), len(data.benchmarks)
    coords = {"family": list(data.families), "benchmark": list(data.benchmarks)}
    fam, bench, x, kind, y = (inputs[k] for k in ("family", "benchmark", "x", "kind", "y"))
    with pm.Model(coords=coords) as model:
        centre = inputs["level_centre"]
        log_k0 = np.log(priors.exponent_median)
        if pooled:
            level_bench = pm.Normal(
                "level_bench", mu=centre, sigma=priors.level_sd, dims="benchmark"
            )
            log_k_bench = pm.Normal(
                "log_exponent_bench", mu=log_k0, sigma=priors.exponent_log_sd, dims="benchmark"
            )
            if n_f > 1:
                tau_lf = pm.HalfNormal("tau_level_family", sigma=priors.level_family_sd)
                z_lf = pm.Normal("z_level_family", 0.0, 1.0, dims="family")
                tau_kf = pm.HalfNormal("tau_exponent_family", sigma=priors.exponent_family_sd)
                z_kf = pm.Normal("z_exponent_family", 0.0, 1.0, dims="family")
                level_family, k_family = tau_lf * z_lf, tau_kf * z_kf
            else:
                level_family = k_family = pt.zeros(1)
            tau_l = pm.LogNormal("tau_level", mu=np.log(priors.level_ladder_sd), sigma=0.5)
            level = pm.Normal(
                "level_raw",
                mu=level_bench[None, :] + level_family[:, None],
                sigma=tau_l,
                dims=("family", "benchmark"),
            )
            tau_k = pm.HalfNormal("tau_exponent", sigma=priors.exponent_ladder_sd)
            z_k = pm.Normal("z_exponent", 0.0, 1.0, dims=("family", "benchmark"))
            log_k = log_k_bench[None, :] + k_family[:, None] + tau_k * z_k
        else:
            level = pm.Normal(
                "level_raw",
                mu=np.broadcast_to(centre, (n_f, n_b)),
                sigma=priors.level_sd,
                dims=("family", "benchmark"),
            )
            log_k = pm.Normal(
                "log_exponent",
                mu=log_k0,
                sigma=priors.exponent_log_sd,
                dims=("family", "benchmark"),
            )
        level = pm.Deterministic("level", level, dims=("family", "benchmark"))
        exponent = pm.Deterministic("exponent", pt.exp(log_k), dims=("family", "benchmark"))
        sigma = pm.HalfNormal("sigma", sigma=priors.scatter_sd, dims="benchmark")

        mu = level[fam, bench] - exponent[fam, bench] * x
        s = sigma[bench]
        obs = kind == 0
        if obs.any():
            pm.Normal("y_observed", mu=mu[obs], sigma=s[obs], observed=y[obs])
        floor = kind == 1
        if floor.any():  # q <= margin: y >= ln(-ln margin)
            pm.Potential("y_floor", std_normal_logcdf((mu[floor] - y[floor]) / s[floor]).sum())
        ceiling = kind == 2
        if ceiling.any():  # q >= 1 - margin: y <= ln(-ln(1 - margin))
            pm.Potential(
                "y_ceiling", std_normal_logcdf((y[ceiling] - mu[ceiling]) / s[ceiling]).sum()
            )
        counted = kind == 3
        if counted.any():
            eps = pm.Normal("row_effect", 0.0, 1.0, shape=int(counted.sum()))
            p = accuracy_law(
                0.0, mu[counted] + s[counted] * eps, 0.0, inputs["chance"][counted], xp=pt
            )
            p = pt.clip(p, 1e-12, 1 - 1e-12)
            pm.Binomial("correct", n=inputs["n"][counted], p=p, observed=inputs["k"][counted])
    return model

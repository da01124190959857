r"""The hierarchical accuracy model as a PyMC model factory.

For a row of family :math:`f` on benchmark :math:`b` at compute :math:`C`, with
:math:`x = \ln C - \ln C_0` and the law's scale :math:`y = \ln(-\ln\frac{p - g_b}{1 - g_b})`:

.. math::

    \mu = \beta_{fb} - k_{fb}\,x,\qquad
    \ln k_{fb} = K_b + \psi_f + \tau_k z_{fb},

with a benchmark exponent :math:`K_b`, a family effect :math:`\psi_f` and a ladder residual
(non-centred, its spread :math:`\tau_k` log-normal). A ladder at chance (every fitted row
within noise of chance, :func:`ladders_at_chance`) instead has
:math:`\ln k_{fb} \sim N(\ln k_0, s_k)` on its own: it neither borrows nor informs the
pooled exponents. Each ladder's level is on a wide prior of its own, placed on its value
:math:`\beta_{fb} - k_{fb}\bar x_{fb}` at the centre :math:`\bar x_{fb}` of its data (or
pooled, :math:`N(B_b + \phi_f, \tau_\beta)`, with ``pool_levels``). A row without
``n_questions`` is normal on the accuracy scale around the law,
:math:`p \sim N(g + (1 - g)e^{-e^{\mu}},\ s_b^2 + (J\sigma_{fb})^2)`, with a measurement
noise :math:`s_b` and the scatter :math:`\sigma_{fb} = \sigma_b \rho_f` on :math:`y` (a
family factor :math:`\rho_f`) carried to accuracy by the law's slope
:math:`J = |\partial p/\partial y|`, so rows at chance, where :math:`y` is unbounded, weigh
what they show; a row with ``n_questions`` counts correct answers,
:math:`k \sim \mathrm{Binomial}(n, g + (1 - g)e^{-e^{\mu + \sigma_{fb}\epsilon}})`.

The floor :math:`g_b` is data where the chance rate is known; where it is learned (no known
rate, or ``floor="below_chance"``) it is a random variable of the same model,
:math:`g_b = \bar g_b u_b`, :math:`u_b \sim \mathrm{Beta}(a, b)`, one per benchmark
(:func:`bayescale.accuracy_data.floor_bounds`).
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
    floor_bounds,
    law_compute,
    normalised_accuracy,
    within_noise_of_chance,
)

#: Rows this close to chance (or to 1), on the normalised scale, are left out of the median
#: ``y`` that centres a benchmark's level prior (``y`` is unbounded there).
CENTRE_MARGIN = 0.02


def accuracy_inputs(
    data: AccuracyData,
    priors: AccuracyPriors,
    pivot: str = "global",
    floor: str = "chance",
    axis: str = "compute",
) -> dict[str, np.ndarray]:
    r"""The fitted rows as model inputs (``x`` on the law's ``axis``, :func:`law_compute`).

    Returns
    -------
    dict
        ``family``, ``benchmark`` (indices), ``x`` (log compute minus the pivot),
        ``accuracy``, ``counted`` (rows with ``n_questions``), ``n``, ``k`` (their counts),
        ``chance`` per row (the reference floor: the known rate, or a learned floor's upper
        bound, :func:`~bayescale.accuracy_data.floor_bounds`), ``learned`` and ``bound`` per
        benchmark (which floors are learned, and below what), ``level_centre`` per benchmark
        (median :math:`y` of its rows clear of the reference floor and of 1, 0 when none)
        and ``ladder_centre`` ``[family, benchmark]`` (mean ``x`` of the ladder's rows, 0
        without rows).
    """
    fit = data.fitted
    fam = data.family_index[fit]
    bench = data.benchmark_index[fit]
    x = np.log(law_compute(data, axis)[fit]) - accuracy_pivots(data, pivot, axis)[fam]
    learned, bound = floor_bounds(data, floor)
    g = bound[bench]
    acc = data.accuracy[fit]
    n = data.n_questions[fit]
    q = normalised_accuracy(acc, g)
    clear = (q > CENTRE_MARGIN) & (q < 1 - CENTRE_MARGIN)
    y = np.log(-np.log(np.clip(q, CENTRE_MARGIN, 1 - CENTRE_MARGIN)))
    centre = np.array(
        [
            float(np.median(y[(bench == b) & clear])) if ((bench == b) & clear).any() else 0.0
            for b in range(len(data.benchmarks))
        ]
    )
    n_f, n_b = len(data.families), len(data.benchmarks)
    sums = np.zeros((n_f, n_b))
    counts = np.zeros((n_f, n_b))
    np.add.at(sums, (fam, bench), x)
    np.add.at(counts, (fam, bench), 1.0)
    ladder_centre = np.where(counts > 0, sums / np.maximum(counts, 1.0), 0.0)
    return {
        "family": fam,
        "benchmark": bench,
        "x": x,
        "accuracy": acc,
        "counted": ~np.isnan(n),
        "n": np.nan_to_num(n).astype(np.int64),
        "k": np.round(np.nan_to_num(acc * n)).astype(np.int64),
        "chance": g,
        "learned": learned,
        "bound": bound,
        "level_centre": centre,
        "ladder_centre": ladder_centre,
    }


def ladders_at_chance(
    data: AccuracyData, inputs: dict[str, np.ndarray], priors: AccuracyPriors
) -> np.ndarray:
    r"""Mask ``[family, benchmark]``: ladders whose every fitted row is within noise of chance.

    A row is within noise of chance by :func:`~bayescale.accuracy_data.within_noise_of_chance`,
    the chance rate :math:`g` being a learned floor's upper bound (the known rate, or the
    benchmark's lowest fitted score when none is known).
    """
    n_f, n_b = len(data.families), len(data.benchmarks)
    fam, bench = inputs["family"], inputs["benchmark"]
    n = data.n_questions[data.fitted]
    clear = ~within_noise_of_chance(inputs["accuracy"], inputs["chance"], n, priors.noise_median)
    seen = np.zeros((n_f, n_b), dtype=bool)
    off = np.zeros((n_f, n_b), dtype=bool)
    np.logical_or.at(seen, (fam, bench), True)
    np.logical_or.at(off, (fam, bench), clear)
    return seen & ~off


def build_accuracy_model(
    data: AccuracyData,
    priors: AccuracyPriors | None = None,
    *,
    pooled: bool = True,
    pivot: str = "global",
    pool_levels: bool = False,
    pool_at_chance: bool = False,
    floor: str = "chance",
    axis: str = "compute",
) -> pm.Model:
    r"""Build the accuracy model of the fitted rows of ``data``.

    Parameters
    ----------
    pooled
        Pool exponents (and the scatter's family factors) across families; False fits each
        ladder's exponent on its own prior (the no-pooling comparison).
    pool_levels
        Also pool the ladder levels around benchmark + family effects. Off by default: a
        ladder at chance bounds its level on one side only, and a pooled prior then pulls
        it to the bound and forecasts a rise the family never made.
    pool_at_chance
        Let ladders at chance (:func:`ladders_at_chance`) share the pooled exponent too.
        Off by default: such a ladder says almost nothing about its exponent, so pooling
        hands it the benchmark's exponent among ladders that have left chance (steep on
        GSM8K and MMLU) and forecasts an imminent rise; instead its exponent is on the
        benchmark prior alone, ``ln k ~ N(ln exponent_median, exponent_log_sd)``, and it
        does not inform the pooled exponents.
    floor
        ``"chance"`` (default): each benchmark's floor is its chance rate, learned only
        where none is known; ``"below_chance"``: learned below every positive rate too.
        A learned floor is a random variable, :math:`g_b = \bar g_b u_b`,
        :math:`u_b \sim \mathrm{Beta}(a, b)` (``floor_fraction``; the bound
        :math:`\bar g_b` from :func:`~bayescale.accuracy_data.floor_bounds`); a known one is
        data. Everything else is the same model.
    axis
        The law's axis (:func:`~bayescale.accuracy_data.law_compute`): ``"compute"``
        (default), training compute; ``"chinchilla"``, the inverse of Chinchilla's reducible
        loss of each model's parameters and tokens, with the exponent prior's median
        ``exponent_median_chinchilla``. Everything else is the same model.

    Returns
    -------
    pm.Model
        Dims ``family``, ``benchmark``. Deterministics ``level``, ``exponent``
        ``[family, benchmark]``, ``scatter_family[family]`` (pooled families only), and
        ``chance[learned_benchmark]``, the learned floors (with their fractions
        ``floor_fraction`` of the bounds), when any is learned; free ``sigma`` and
        ``noise`` ``[benchmark]``. Likelihood ``accuracy`` (normal rows) and ``correct``
        (binomial rows).
    """
    priors = priors or AccuracyPriors()
    inputs = accuracy_inputs(data, priors, pivot, floor, axis)
    n_f, n_b = len(data.families), len(data.benchmarks)
    coords = {"family": list(data.families), "benchmark": list(data.benchmarks)}
    fam, bench, x = (inputs[k] for k in ("family", "benchmark", "x"))
    centre = inputs["level_centre"]
    log_k0 = np.log(priors.exponent_median_on(axis))
    with pm.Model(coords=coords) as model:
        pool_families = pooled and n_f > 1
        if pooled:
            log_k_bench = pm.Normal(
                "log_exponent_bench", mu=log_k0, sigma=priors.exponent_log_sd, dims="benchmark"
            )
            if pool_families:
                tau_kf = pm.HalfNormal("tau_exponent_family", sigma=priors.exponent_family_sd)
                z_kf = pm.Normal("z_exponent_family", 0.0, 1.0, dims="family")
                k_family = tau_kf * z_kf
            else:
                k_family = pt.zeros(n_f)
            # log-normal, not half-normal: a spread free to reach 0 makes a funnel with the
            # ladder residuals (the slowest-mixing variable of the backtest fits)
            tau_k = pm.LogNormal(
                "tau_exponent",
                mu=np.log(priors.exponent_ladder_median),
                sigma=priors.exponent_ladder_log_sd,
            )
            z_k = pm.Normal("z_exponent", 0.0, 1.0, dims=("family", "benchmark"))
            log_k = log_k_bench[None, :] + k_family[:, None] + tau_k * z_k
            at_chance = ladders_at_chance(data, inputs, priors)
            if not pool_at_chance and at_chance.any():
                z_own = pm.Normal("z_exponent_at_chance", 0.0, 1.0, shape=int(at_chance.sum()))
                own = pt.set_subtensor(
                    pt.zeros((n_f, n_b))[np.nonzero(at_chance)],
                    log_k0 + priors.exponent_log_sd * z_own,
                )
                log_k = pt.where(at_chance, own, log_k)
        else:
            log_k = pm.Normal(
                "log_exponent",
                mu=log_k0,
                sigma=priors.exponent_log_sd,
                dims=("family", "benchmark"),
            )
        exponent = pt.exp(log_k)
        if pooled and pool_levels:
            level_bench = pm.Normal(
                "level_bench", mu=centre, sigma=priors.level_sd, dims="benchmark"
            )
            level_family: pt.TensorVariable = pt.zeros(n_f)
            if pool_families:
                tau_lf = pm.HalfNormal("tau_level_family", sigma=priors.level_family_sd)
                z_lf = pm.Normal("z_level_family", 0.0, 1.0, dims="family")
                level_family = tau_lf * z_lf
            tau_l = pm.LogNormal("tau_level", mu=np.log(priors.level_ladder_sd), sigma=0.5)
            level = pm.Normal(
                "level_raw",
                mu=level_bench[None, :] + level_family[:, None],
                sigma=tau_l,
                dims=("family", "benchmark"),
            )
        else:
            # the ladder's y at the centre of its own data: little correlated with its
            # exponent, unlike its y at a pivot far from its models
            level_here = pm.Normal(
                "level_raw",
                mu=np.broadcast_to(centre, (n_f, n_b)),
                sigma=priors.level_sd,
                dims=("family", "benchmark"),
            )
            level = level_here + exponent * inputs["ladder_centre"]
        level = pm.Deterministic("level", level, dims=("family", "benchmark"))
        exponent = pm.Deterministic("exponent", exponent, dims=("family", "benchmark"))

        # the scatter around the law: per benchmark, times a per-family factor (families
        # that mix generations or data sets scatter more)
        sigma = pm.LogNormal(
            "sigma", mu=np.log(priors.scatter_median), sigma=priors.scatter_log_sd, dims="benchmark"
        )
        scatter_family: pt.TensorVariable = pt.ones(n_f)  # not stored: a constant
        if pool_families:
            z_sf = pm.Normal("z_scatter_family", 0.0, 1.0, dims="family")
            scatter_family = pm.Deterministic(
                "scatter_family", pt.exp(priors.scatter_family_sd * z_sf), dims="family"
            )
        mu = level[fam, bench] - exponent[fam, bench] * x
        s = sigma[bench] * scatter_family[fam]
        g = inputs["chance"]
        learned = inputs["learned"]
        if learned.any():
            # a floor is the benchmark's, shared by its families: a fraction of its bound
            where = np.flatnonzero(learned)
            model.add_coord("learned_benchmark", [data.benchmarks[i] for i in where])
            fraction = pm.Beta(
                "floor_fraction",
                alpha=priors.floor_a,
                beta=priors.floor_b,
                dims="learned_benchmark",
            )
            floors = pm.Deterministic(
                "chance", inputs["bound"][where] * fraction, dims="learned_benchmark"
            )
            g = pt.set_subtensor(pt.as_tensor(inputs["bound"])[where], floors)[bench]
        plain = ~inputs["counted"]
        if plain.any():
            noise = pm.LogNormal(
                "noise", mu=np.log(priors.noise_median), sigma=priors.noise_log_sd, dims="benchmark"
            )
            mu_p = mu[plain]
            q = pt.exp(-pt.exp(mu_p))
            slope = (1.0 - g[plain]) * q * pt.exp(mu_p)  # |dp/dy|
            sd = pt.sqrt(noise[bench[plain]] ** 2 + (slope * s[plain]) ** 2)
            pm.Normal(
                "accuracy",
                mu=g[plain] + (1.0 - g[plain]) * q,
                sigma=sd,
                observed=inputs["accuracy"][plain],
            )
        counted = inputs["counted"]
        if counted.any():
            eps = pm.Normal("row_effect", 0.0, 1.0, shape=int(counted.sum()))
            p = accuracy_law(0.0, mu[counted] + s[counted] * eps, 0.0, g[counted], xp=pt)
            p = pt.clip(p, 1e-12, 1 - 1e-12)
            pm.Binomial("correct", n=inputs["n"][counted], p=p, observed=inputs["k"][counted])
    return model

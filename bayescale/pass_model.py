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

Geometry, chosen by measurement. Problems the counts pin (>= ``INFORMATIVE_COUNT`` passes and
failures over the fitted models) have their intercepts sampled, centred on their bucket level,
or non-centred where the counts pin them loosely against their bucket's spread
(:func:`weak_intercepts`: a few samples a problem). The others (never or always solved, or a
few passes) are integrated out of the likelihood by quadrature (:mod:`bayescale.quadrature`),
one quadrature for the problems of a bucket with the same counts (:func:`integrated_rows`),
and drawn from their conditional posterior after sampling (:func:`add_problem_intercepts`):
sampled, their one-sided likelihoods make a funnel that NUTS cannot cross. Model effects are
centred in the space orthogonal to (1, x) so that they cannot trade off against the bucket
lines. Measured (4 x 1000 draws):

- LiveCodeBench, DeepSeek-Coder base (3 models x 400 problems, 254 never solved): with all
  intercepts sampled, R-hat 1.19-4.1 and thousands of divergences; integrated, R-hat 1.004,
  0 divergences, 31 leapfrog steps per draw.
- Pythia x MATH (6 models x 128 problems, 26 integrated): 15-16 steps per draw (23-26
  sampled), 0 divergences, held-out forecasts unchanged to 3 digits; but each gradient costs
  more: for the 7-model benchmark case (25 integrated), 0.185 ms per log density and gradient
  in a compiled loop on one core, against 0.025 ms with every intercept sampled (0.26 ms
  while PyTensor still turned the grid's ln(1 - p) into its two-branch log1mexp, see
  :func:`bayescale.quadrature.binomial_loglik`). Most gradients used to go to warm-up: from
  numpyro's unit mass matrix, which meets model effects, exponents and intercepts pinned to
  posterior sds of 0.003-0.05, 35,000 leapfrog steps per chain at 500 warm-up steps (25,000
  of them in iterations 25-100) against 18,000-30,000 for 1000 draws. Warm-up now starts from
  a Laplace approximation's variances (:func:`bayescale.sampling.laplace_inverse_mass`):
  13,500 steps per chain. A fit takes 17.1-17.6 s warm, 28.0-29.9 s cold (benchmarks/bench_fit.py,
  load average 1-2; 22 s and 31 s from the unit matrix; 33 s and 46 s with the two-branch
  grid and 1000 warm-up steps). A non-centred textbook version needed 477 steps per draw
  (8 divergences).

Per-problem exponents are an option, off by default. Measured on Pythia-12B held out: with a
HalfNormal(0.3) scale all 7 held-out statistics fall inside their 90% intervals and medians
are within 8% (5 of 7 and up to 22% without), but on a simulation whose problems share one
exponent per bucket the centred effect funnels (31 divergences, R-hat 1.10); with a
zero-avoiding LogNormal scale the sampler is clean but Pythia's posterior scale goes to ~1.0
and the 12B pass rate is overestimated by 58%. Neither is safe as a default yet.

Aggregate rates (:func:`build_aggregate_pass_model`):
:math:`\ln(-\ln p_{mb}) \sim N(\beta_b - k_b x_m, \sigma)`.

A fit samples both models padded to a shape class (:func:`pass_shape`, ``pad_rows``), their
data in containers, so that every table of a class shares one compiled program
(docs/performance.md, "Shape classes").
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayescale.buckets import Buckets
from bayescale.diagnostics import COPY_ATTR
from bayescale.draws import stacked_draws
from bayescale.jaxtools import size_class
from bayescale.laws import pass_law_log, pass_logit
from bayescale.pass_data import PassAggregate, PassCounts
from bayescale.priors import PassPriors
from bayescale.quadrature import NODES
from bayescale.seeds import stream

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


def effect_basis(x: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the complement of span(1, x): shape ``(M, M - 2)``."""
    if x.size <= 2:
        return np.zeros((x.size, 0))
    basis, _ = np.linalg.qr(np.column_stack([np.ones_like(x), x]), mode="complete")
    return basis[:, 2:]


def _model_effects(x: np.ndarray, sd: float, noncentred: bool = False) -> pt.TensorVariable:
    """Model-level scatter in the space orthogonal to (1, x); centred unless ``noncentred``."""
    sigma_model = pm.HalfNormal("sigma_model", sigma=sd)
    if x.size <= 2:
        return pt.zeros(x.size)
    basis = effect_basis(x)
    if noncentred:
        w = sigma_model * pm.Normal("model_effect_z", 0.0, 1.0, shape=x.size - 2)
    else:
        w = pm.Normal("model_effect_raw", 0.0, sigma_model, shape=x.size - 2)
    return pm.Deterministic("model_effect", pt.dot(basis, w), dims="model")


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


def _fitted_counts(
    counts: PassCounts, buckets: Buckets
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred log compute of the fitted models and counts ``n``, ``k`` as (problem, model)."""
    fitted = np.flatnonzero(counts.models.fitted)
    kept = buckets.kept
    x = np.log(counts.models.compute[fitted]) - pass_pivot(counts.models.compute[fitted])
    n = counts.n[np.ix_(fitted, kept)].T.astype(float)
    k = counts.k[np.ix_(fitted, kept)].T.astype(float)
    return x, n, k


#: The model effects start non-centred when the counts pin a fitted model's effect on
#: ln(-ln p) less tightly than this standard error (median over the fitted models). With few
#: models the model scatter's posterior keeps much of its prior, HalfNormal(0.3), whose 5%
#: point is 0.019; centred, an effect pinned loosely against it funnels against
#: ``sigma_model``. Measured (docs/pass-rates.md): 164 problems x 4 models with one sample
#: each (0.10), 47 divergences centred, all at small ``sigma_model``, none non-centred; with
#: 10 samples each (0.036), 8 centred, none non-centred (with its weak intercepts
#: non-centred, results/pass_first_form_intercepts.json); the
#: LiveCodeBench families (3 models x 400 problems x 10, 0.024-0.025) none centred.
WEAK_EFFECT_SE = 0.03


def effect_standard_error(counts: PassCounts, buckets: Buckets) -> float:
    """How tightly the counts pin a fitted model's effect on ln(-ln p): the median over models.

    A binomial count's Fisher information about eta = ln(-ln p) is n·p·(ln p)²/(1 - p),
    summed over a model's kept problems at the smoothed rates (k + ½)/(n + 1); the standard
    error is one over its square root. Rough (it ignores the problems' own uncertainty), and
    only used to pick the parameterisation a fit starts from (:data:`WEAK_EFFECT_SE`).
    """
    _, n, k = _fitted_counts(counts, buckets)
    information = _eta_information(n, k).sum(axis=0)
    return float(np.median(1.0 / np.sqrt(np.maximum(information, 1e-12))))


def _eta_information(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Each count's Fisher information about ln(-ln p), at the smoothed rate (k + ½)/(n + 1)."""
    p = (k + 0.5) / (n + 1.0)
    return n * p * np.log(p) ** 2 / (1.0 - p)


def starts_noncentred(counts: PassCounts, buckets: Buckets) -> bool:
    """Whether a fit of ``counts`` samples its model effects non-centred first."""
    return effect_standard_error(counts, buckets) > WEAK_EFFECT_SE


#: A sampled intercept is sampled non-centred when the counts pin it less tightly (standard
#: error) than this multiple of the problems' spread within their buckets
#: (:func:`weak_intercepts`).
WEAK_INTERCEPT_RATIO = 2.0


def weak_intercepts(n: np.ndarray, k: np.ndarray, bucket: np.ndarray) -> np.ndarray | None:
    """Which sampled (:func:`informative`) intercepts to sample non-centred; None for none.

    Centred, an intercept that its counts pin loosely against the spread of its bucket's
    intercepts funnels against ``sigma_problem``: 164 problems x 4 models x 10 samples, whose
    buckets (cut by the same noisy pass rates) leave ``sigma_problem`` near 0.03 against
    standard errors near 0.22, diverged at ``sigma_problem`` 0.009-0.015. The spread is the
    DerSimonian-Laird estimate over the buckets: each problem's information-weighted offset
    from its bucket, its squared standard error as its variance, precision weights (so a few
    loosely pinned problems cannot hide the spread that well pinned ones show; 0 when the
    noise explains it all). A problem is weak when its standard error exceeds
    :data:`WEAK_INTERCEPT_RATIO` times that spread. Rough, and only used to pick a
    parameterisation; ``n``, ``k`` are (problem, model), ``bucket`` each problem's bucket.
    """
    pinned = informative(n, k)
    information = _eta_information(n, k)
    p = (k + 0.5) / (n + 1.0)
    eta = np.log(-np.log(p))
    se = 1.0 / np.sqrt(np.maximum(information.sum(axis=1), 1e-12))
    q = df = c = 0.0  # Cochran's Q, its degrees of freedom, the DerSimonian-Laird scale
    for b in np.unique(bucket):
        rows = np.flatnonzero((bucket == b) & pinned)
        if rows.size < 2:
            continue
        w = information[rows]
        residual = eta[rows] - eta[rows].mean(axis=0)
        offset = (w * residual).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)
        precision = 1.0 / se[rows] ** 2
        centre = (precision * offset).sum() / precision.sum()
        q += float((precision * (offset - centre) ** 2).sum())
        df += rows.size - 1
        c += float(precision.sum() - (precision**2).sum() / precision.sum())
    if not df:
        return None
    spread = np.sqrt(max((q - df) / c, 0.0))
    weak = pinned & (se > WEAK_INTERCEPT_RATIO * spread)
    return weak if weak.any() else None


#: The smallest padded model count of a per-problem fit's shape class.
MODEL_CLASS_MIN = 4


@dataclass(frozen=True)
class PassShape:
    """The shape class of a per-problem pass fit: the padded sizes of its compiled program.

    Tables with the same shape class, the same number of buckets and the same priors share
    one compiled log density (their data are its arguments, :data:`PASS_INPUTS`), in a
    process and, through the persistent compilation cache, across processes.

    Attributes
    ----------
    models
        Fitted models, padded to 4, 6, 8, 12, 16, 24, ... (:func:`size_class` with half
        steps).
    pinned
        Problems whose intercepts are sampled (:func:`informative`), padded to 8, 16, 32, ...;
        0 when there are none.
    integrated
        Distinct (bucket, counts) rows of the problems whose intercepts are integrated out
        (:func:`integrated_rows`), padded to 8, 12, 16, 24, 32, ...; 0 when there are none.

    The steps differ by what a padded entry costs. Each integrated row costs the
    quadrature's 81 points per model in every gradient, so models and integrated rows
    round up by half steps; a sampled problem's padding costs one binomial term per model
    and a standard normal coefficient, so pinned problems round up by powers of two (fewer
    classes). Measured on a simulated table of 60 problems x 6 models (47 pinned, 13
    integrated problems, a quadrature each then), the log density and gradient in a compiled
    loop on one core: 0.16-0.17 ms unpadded, 0.20 ms padded to (6, 64, 16), 0.26 ms to
    (8, 64, 16).
    """

    models: int
    pinned: int
    integrated: int

    @property
    def cost(self) -> int:
        """About the terms of one log density: a binomial per sampled cell, 81 nodes per other.

        A rough measure (the quadrature's Newton steps to its window are not counted, and a
        node costs less than a binomial term); the cap below sits far from the tables it
        separates.
        """
        return self.models * (self.pinned + NODES * self.integrated)


#: The largest :attr:`PassShape.cost` sampled padded. Padding costs arithmetic in every
#: gradient (the quadrature runs over padded models and rows), and saves a compilation of
#: 15-20 s: worth it while a fit samples for seconds, not when it samples for minutes. Every
#: real table here is under it: Pythia x MATH costs 6,600, the LiveCodeBench families
#: (3 models x 400 problems, 17-30 distinct integrated rows) 8,032-10,880; padded, the
#: DeepSeek-Coder family's log density and gradient took 0.55 ms against 0.45 ms unpadded
#: (benchmarks/results/pass_logp_cost.json).
PAD_MAX_COST = 32_768


def pass_shape(counts: PassCounts, buckets: Buckets) -> PassShape | None:
    """The :class:`PassShape` of a fit of ``counts`` in ``buckets``; None above the cap.

    A table whose padded shape costs more than :data:`PAD_MAX_COST` is sampled unpadded,
    its counts constants of its own compiled program.
    """
    _, n, k = _fitted_counts(counts, buckets)
    pinned = informative(n, k)
    shape = PassShape(
        models=size_class(n.shape[1], MODEL_CLASS_MIN, half_steps=True),
        pinned=size_class(int(pinned.sum())),
        integrated=size_class(integrated_rows(n, k, buckets.index)[0].size, half_steps=True),
    )
    return shape if shape.cost <= PAD_MAX_COST else None


#: The data containers of the padded per-problem model (:func:`pass_inputs`): what differs
#: between two tables of one shape class. ``pinned_*`` (sampled intercepts) and ``open_*``
#: (integrated intercepts) are left out when the shape has no such problem.
PASS_INPUTS = (
    "model_x",
    "effect_basis",
    "effect_weight",
    "pinned_bucket",
    "pinned_weight",
    "pinned_n",
    "pinned_k",
    "pinned_log_binom",
    "pinned_weak",
    "open_bucket",
    "open_weight",
    "open_n",
    "open_k",
    "open_start",
)


def pass_inputs(counts: PassCounts, buckets: Buckets, shape: PassShape) -> dict[str, np.ndarray]:
    r"""The data-dependent arrays of the padded per-problem model, by container name.

    Padding carries weight 0 and values that keep every term finite: a padded model has
    :math:`x = 0`, no counts and a zero row of the effect basis (its effect is 0); a padded
    problem has no counts, bucket 0 and weight 0; a padded column of the effect basis is zero
    and its coefficient's prior a standard normal (``effect_weight`` 0).

    Returns
    -------
    dict
        ``model_x`` (:math:`\ln C - \ln C_0` per model), ``effect_basis`` (the
        :func:`effect_basis` of the real models in its top-left block), ``effect_weight``;
        with sampled intercepts ``pinned_bucket``, ``pinned_weight``, ``pinned_n``,
        ``pinned_k`` (problem x model) and ``pinned_log_binom``, their log binomial
        coefficients :math:`\ln\binom{n}{k}` (:func:`log_binomial`; 0 where padded) and,
        when some are weak (:func:`weak_intercepts`), ``pinned_weak`` (1 where weak); with
        integrated ones, a row per distinct bucket and counts (:func:`integrated_rows`),
        ``open_bucket``, ``open_weight`` (the problems a row stands for), ``open_n``,
        ``open_k`` and ``open_start`` (the Newton start of
        :func:`bayescale.quadrature.start_values`).
    """
    from bayescale import quadrature

    x, n, k = _fitted_counts(counts, buckets)
    pinned = informative(n, k)
    models = x.size
    open_rows, open_weight = integrated_rows(n, k, buckets.index)
    sizes = (max(models, 2), int(pinned.sum()), open_rows.size)
    if any(have < need for have, need in zip(astuple(shape), sizes, strict=True)):
        raise ValueError(f"cannot pad {sizes} (models, pinned, integrated) to {shape}")

    def pad(values: np.ndarray, size: int, axis: int = 0) -> np.ndarray:
        widths = [(0, 0)] * values.ndim
        widths[axis] = (0, size - values.shape[axis])
        return np.pad(values, widths)

    basis = effect_basis(x)
    weak = weak_intercepts(n, k, buckets.index)
    inputs = {
        "model_x": pad(x, shape.models),
        "effect_basis": pad(pad(basis, shape.models), shape.models - 2, axis=1),
        "effect_weight": pad(np.ones(max(models - 2, 0)), shape.models - 2),
    }
    for prefix, rows, weight, size in (
        ("pinned", np.flatnonzero(pinned), np.ones(int(pinned.sum())), shape.pinned),
        ("open", open_rows, open_weight, shape.integrated),
    ):
        if not size:
            continue
        inputs[f"{prefix}_bucket"] = pad(buckets.index[rows].astype(np.int64), size)
        inputs[f"{prefix}_weight"] = pad(weight, size)
        for name, values in (("n", n[rows]), ("k", k[rows])):
            values = pad(pad(values, size), shape.models, axis=1)
            inputs[f"{prefix}_{name}"] = values.astype(np.int64) if prefix == "pinned" else values
        if prefix == "pinned":
            inputs["pinned_log_binom"] = log_binomial(inputs["pinned_n"], inputs["pinned_k"])
            if weak is not None:
                inputs["pinned_weak"] = pad(weak[rows].astype(float), size)
        if prefix == "open":
            inputs["open_start"] = pad(quadrature.start_values(n[rows], k[rows]), size)
    return inputs


def log_binomial(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    r""":math:`\ln\binom{n}{k}`, as PyMC's binomial log density has it (``binomln``), in NumPy.

    The padded model takes these as data: functions of the counts alone, computed once here
    rather than in every gradient, and the values that the unpadded model's constant folding
    gives them (SciPy's ``gammaln``), so both log densities are equal.
    """
    from scipy.special import gammaln

    n, k = np.asarray(n, dtype=float), np.asarray(k, dtype=float)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def build_pass_model(
    counts: PassCounts,
    buckets: Buckets,
    priors: PassPriors | None = None,
    *,
    noncentred: bool = False,
    shape: PassShape | None = None,
) -> pm.Model:
    """Build the per-problem binomial model on the fitted models and kept problems.

    By default the problem intercepts are integrated out of the likelihood
    (:mod:`bayescale.quadrature`, a ``pm.Potential`` named ``passes``) and drawn after sampling
    by :func:`add_problem_intercepts`; with ``PassPriors(problem_slopes=True)`` they are
    sampled (centred where the counts pin them, non-centred elsewhere) next to per-problem
    exponents. ``noncentred`` samples the model effects non-centred (``model_effect_z``), the
    convergence ladder's alternative (:func:`bayescale.pass_fit.fit_pass`) for a model scatter that
    few models leave barely informed.

    ``shape`` (:func:`pass_shape`) builds the padded model a fit samples instead: its data in
    containers (:data:`PASS_INPUTS`), padded to the shape class with weight 0, so that every
    table of the class has one compiled program (:func:`bayescale.batch.sample_one`). Its log
    density is the unpadded model's plus a standard normal term for each padded coefficient
    (``theta_solved`` and ``model_effect_raw`` or ``model_effect_z`` beyond the real ones:
    independent of everything else, so the posterior of the real parameters is the same);
    :func:`unpad_posterior` drops them and gives the posterior the unpadded model's variables
    and dims. Not with ``problem_slopes``.

    Returns
    -------
    pm.Model
        Dims ``bucket`` (reported buckets, plus ``excluded`` when any), ``problem`` (kept
        problems), ``model`` (fitted models). Posterior quantities used downstream:
        ``level``, ``exponent`` (bucket), ``problem_exponent`` (problem), ``sigma_model``,
        ``sigma_problem`` and, with ``problem_slopes``, ``theta`` and ``sigma_slope``.
    """
    from bayescale import quadrature

    priors = priors or PassPriors()
    if shape is not None:
        return _padded_pass_model(counts, buckets, priors, noncentred, shape)
    x, n, k = _fitted_counts(counts, buckets)
    coords = {
        "bucket": list(buckets.internal_labels),
        "problem": [counts.problems[j] for j in buckets.kept],
        "model": [counts.models.names[m] for m in np.flatnonzero(counts.models.fitted)],
    }
    b_of = buckets.index
    with pm.Model(coords=coords) as model:
        beta, exponent = _bucket_lines(priors, buckets.n_internal)
        sigma_u = pm.HalfNormal("sigma_problem", sigma=priors.problem_sd)
        effect = _model_effects(x, priors.model_sd, noncentred)
        if priors.problem_slopes:
            _latent_problems(beta, exponent, sigma_u, effect, x, n, k, b_of, priors)
            return model
        pm.Deterministic("problem_exponent", exponent[b_of], dims="problem")
        pinned = informative(n, k)
        if pinned.any():
            # the counts pin these intercepts: sampled (cheap and well-conditioned), centred
            # unless pinned loosely against their bucket's spread
            s = np.flatnonzero(pinned)
            weak = weak_intercepts(n, k, b_of)
            theta = _pinned_intercepts(
                beta[b_of[s]], sigma_u, None if weak is None else weak[s], s.size
            )
            obs_j, obs_m = np.nonzero(n[s] > 0)
            eta = pass_law_log(x[obs_m], theta[obs_j], exponent[b_of[s]][obs_j]) + effect[obs_m]
            _binomial("passes", eta, n[s][obs_j, obs_m], k[s][obs_j, obs_m])
        if (~pinned).any():
            # the counts barely inform these (never or always solved, or a few passes): their
            # intercepts are integrated out, which removes the funnel sampling them makes;
            # problems with the same bucket and counts share one quadrature
            u, weight = integrated_rows(n, k, b_of)
            offset = -exponent[b_of[u]][:, None] * x[None, :] + effect[None, :]
            log_lik = quadrature.log_marginal(
                beta[b_of[u]],
                sigma_u,
                offset,
                n[u],
                k[u],
                quadrature.start_values(n[u], k[u]),
                xp=pt,
            )
            pm.Potential("passes_integrated", (weight * log_lik).sum())
    return model


def weak_intercept_count(counts: PassCounts, buckets: Buckets) -> tuple[int, int] | None:
    """How many sampled intercepts a fit samples non-centred, of how many; None for none."""
    _, n, k = _fitted_counts(counts, buckets)
    weak = weak_intercepts(n, k, buckets.index)
    return None if weak is None else (int(weak.sum()), int(informative(n, k).sum()))


def _pinned_intercepts(
    mean: pt.TensorLike, scale: pt.TensorLike, weak: pt.TensorLike | None, size: int
) -> pt.TensorVariable:
    """The sampled intercepts ``theta_solved ~ N(mean, scale)``: centred, or mixed by ``weak``.

    With ``weak`` (:func:`weak_intercepts`), the free ``theta_solved_raw`` is the intercept
    where centred and its standardised value where weak, ``theta_solved`` a deterministic:
    the same posterior, in the geometry each problem's counts call for.
    """
    if weak is None:
        return pm.Normal("theta_solved", mean, scale, shape=size)
    raw = pm.Normal(
        "theta_solved_raw", pt.where(weak, 0.0, mean), pt.where(weak, 1.0, scale), shape=size
    )
    return pm.Deterministic("theta_solved", pt.where(weak, mean + scale * raw, raw))


def _coords(counts: PassCounts, buckets: Buckets) -> dict[str, list[str]]:
    """The model's coords: buckets, kept problems, fitted models."""
    return {
        "bucket": list(buckets.internal_labels),
        "problem": [counts.problems[j] for j in buckets.kept],
        "model": [counts.models.names[m] for m in np.flatnonzero(counts.models.fitted)],
    }


def _padded_pass_model(
    counts: PassCounts,
    buckets: Buckets,
    priors: PassPriors,
    noncentred: bool,
    shape: PassShape,
) -> pm.Model:
    """:func:`build_pass_model` padded to ``shape``, its data in containers."""
    from pymc.distributions.dist_math import logpow

    from bayescale import quadrature

    if priors.problem_slopes:
        raise ValueError("per-problem exponents (problem_slopes) are not padded")
    inputs = pass_inputs(counts, buckets, shape)
    with pm.Model(coords=_coords(counts, buckets)) as model:
        data = {name: pm.Data(name, value) for name, value in inputs.items()}
        x = data["model_x"]
        beta, exponent = _bucket_lines(priors, buckets.n_internal)
        sigma_u = pm.HalfNormal("sigma_problem", sigma=priors.problem_sd)
        sigma_model = pm.HalfNormal("sigma_model", sigma=priors.model_sd)
        # padded coefficients: standard normal, and their basis columns zero
        real_effect = data["effect_weight"] > 0
        if noncentred:
            z = pm.Normal("model_effect_z", 0.0, 1.0, shape=shape.models - 2)
            w = sigma_model * z
        else:
            w = pm.Normal(
                "model_effect_raw",
                0.0,
                pt.where(real_effect, sigma_model, 1.0),
                shape=shape.models - 2,
            )
        effect = pm.Deterministic("model_effect", pt.dot(data["effect_basis"], w))
        if shape.pinned:
            b_of = data["pinned_bucket"]
            real = data["pinned_weight"] > 0
            theta = _pinned_intercepts(
                pt.where(real, beta[b_of], 0.0),
                pt.where(real, sigma_u, 1.0),
                data["pinned_weak"] > 0 if "pinned_weak" in data else None,
                shape.pinned,
            )
            n, k = data["pinned_n"], data["pinned_k"]
            eta = pass_law_log(x[None, :], theta[:, None], exponent[b_of][:, None])
            eta = eta + effect[None, :]
            observed = n > 0  # the unpadded model's pairs; others get a finite stand-in
            p = pt.sigmoid(pass_logit(pt.where(observed, eta, 0.0), xp=pt))
            # PyMC's binomial log density, its coefficient given as data (pass_inputs)
            log_lik = data["pinned_log_binom"] + logpow(p, k) + logpow(1 - p, n - k)
            pm.Potential("passes", pt.where(observed, log_lik, 0.0).sum())
        if shape.integrated:
            b_of = data["open_bucket"]
            offset = -exponent[b_of][:, None] * x[None, :] + effect[None, :]
            log_lik = quadrature.log_marginal(
                beta[b_of],
                sigma_u,
                offset,
                data["open_n"],
                data["open_k"],
                data["open_start"],
                xp=pt,
            )
            weight = data["open_weight"]  # problems a row stands for; 0 where padded
            pm.Potential("passes_integrated", pt.where(weight > 0, weight * log_lik, 0.0).sum())
    return model


def unpad_posterior(idata: xr.DataTree, counts: PassCounts, buckets: Buckets) -> xr.DataTree:
    """The posterior of a padded fit (``build_pass_model(shape=...)``) as the unpadded model's.

    Padded coefficients (``theta_solved``, ``model_effect_raw``, ``model_effect_z`` beyond the
    real ones: draws of their standard normal prior) and padded models' ``model_effect`` are
    dropped, so that neither the diagnostics nor a forecast or saved fit sees them;
    ``model_effect`` (and its coefficients) goes when there are 2 models or fewer, as in the
    unpadded model; ``model_effect`` gets its ``model`` dim and ``problem_exponent`` is added.
    Variables the posterior lacks are skipped.
    """
    post = idata["posterior"].to_dataset()
    _, n, k = _fitted_counts(counts, buckets)
    coords = _coords(counts, buckets)
    models = n.shape[1]
    sizes = {
        "theta_solved": int(informative(n, k).sum()),
        "theta_solved_raw": int(informative(n, k).sum()),
        "model_effect_raw": models - 2,
        "model_effect_z": models - 2,
    }
    for name, size in sizes.items():
        if name not in post:
            continue
        dim = f"{name}_dim_0"
        if size <= 0:
            post = post.drop_vars(name).drop_dims(dim, errors="ignore")
            continue
        post = post.isel({dim: slice(0, size)})
    if "model_effect" in post:
        effect = post["model_effect"].isel(model_effect_dim_0=slice(0, models))
        post = post.drop_vars("model_effect").drop_dims("model_effect_dim_0", errors="ignore")
        if models > 2:
            post["model_effect"] = effect.rename(model_effect_dim_0="model").assign_coords(
                model=coords["model"]
            )
    if "exponent" in post and "problem_exponent" not in post:
        post["problem_exponent"] = (
            post["exponent"]
            .isel(bucket=xr.DataArray(buckets.index, dims="problem"))
            .drop_vars("bucket")
            .assign_coords(problem=coords["problem"])
        )
    tree = idata.copy()
    tree["posterior"] = xr.DataTree(post)
    return tree


def integrated_rows(
    n: np.ndarray, k: np.ndarray, bucket: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The integrated problems' distinct (bucket, counts) rows: one problem of each, and how many.

    A problem's integrated likelihood depends on nothing but its bucket and its counts, so
    problems that share both share the term: one quadrature, weighted by their number, gives
    the same log density. Never-solved problems of a bucket share one row; measured, the
    283-346 integrated problems of the LiveCodeBench families make 17-30 rows, 164 greedy
    problems x 4 models 19. Returns positions among all problems (first of each row, in
    order) and the multiplicities.
    """
    u = np.flatnonzero(~informative(n, k))
    if not u.size:
        return u, np.zeros(0)
    key = np.column_stack([bucket[u], n[u], k[u]])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    weight = np.bincount(inverse.ravel(), minlength=first.size)[order]
    return u[first[order]], weight.astype(float)


def informative(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Problems whose counts pin their pass rate: enough passes and enough failures."""
    return (k.sum(axis=1) >= INFORMATIVE_COUNT) & ((n - k).sum(axis=1) >= INFORMATIVE_COUNT)


def _binomial(name: str, eta: pt.TensorVariable, n: np.ndarray, k: np.ndarray) -> None:
    """Binomial counts with ``ln(-ln p) = eta``."""
    pm.Binomial(name, n=n, logit_p=pass_logit(eta, xp=pt), observed=k)


def _latent_problems(
    beta: pt.TensorVariable,
    exponent: pt.TensorVariable,
    sigma_u: pt.TensorVariable,
    effect: pt.TensorVariable,
    x: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    b_of: np.ndarray,
    priors: PassPriors,
) -> None:
    """Sampled problem intercepts and per-problem exponents (the ``problem_slopes`` option)."""
    # centred where the counts pin a problem's pass rate, non-centred where they barely do
    solved = informative(n, k)
    theta = pt.zeros(b_of.size)
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
    slope = _problem_slopes(exponent, b_of, (k > 0).sum(axis=1) >= 2, priors)
    obs_j, obs_m = np.nonzero(n > 0)
    eta = pass_law_log(x[obs_m], theta[obs_j], slope[obs_j]) + effect[obs_m]
    _binomial("passes", eta, n[obs_j, obs_m], k[obs_j, obs_m])


def add_problem_intercepts(
    idata: xr.DataTree, counts: PassCounts, buckets: Buckets, seed: int
) -> xr.DataTree:
    """Add ``theta`` (chain, draw, problem) drawn from its conditional posterior to ``idata``.

    For fits whose intercepts were integrated out (the default); a fit that sampled them is
    returned unchanged.
    """
    from bayescale import quadrature

    post = idata["posterior"]
    # columns repeated elsewhere, left out of the diagnostics (bayescale.diagnostics.COPY_ATTR)
    if "theta_solved" in post:
        post["theta_solved"].attrs[COPY_ATTR] = "theta"
    if "theta" in post:
        return idata
    post["problem_exponent"].attrs[COPY_ATTR] = "exponent"  # one exponent per bucket
    x, n, k = _fitted_counts(counts, buckets)
    chains, draws = post.sizes["chain"], post.sizes["draw"]

    b_of = buckets.index
    pinned = informative(n, k)
    theta = np.empty((chains * draws, b_of.size))
    if pinned.any():
        theta[:, pinned] = stacked_draws(idata, "theta_solved")
    if (~pinned).any():
        u = np.flatnonzero(~pinned)
        effect = (
            stacked_draws(idata, "model_effect")
            if "model_effect" in post
            else np.zeros((chains * draws, x.size))
        )
        offset = (
            -stacked_draws(idata, "exponent")[:, b_of[u], None] * x[None, None, :]
            + effect[:, None, :]
        )
        theta[:, u] = quadrature.draw_intercepts(
            stacked_draws(idata, "level")[:, b_of[u]],
            stacked_draws(idata, "sigma_problem"),
            offset,
            n[u],
            k[u],
            stream(seed, "pass.intercepts"),
        )
    problems = post["problem_exponent"].coords["problem"]
    post["theta"] = xr.DataArray(
        theta.reshape(chains, draws, -1),
        dims=("chain", "draw", "problem"),
        coords={"chain": post["chain"], "draw": post["draw"], "problem": problems},
    )
    return idata


#: The data containers of the padded aggregate model (:func:`aggregate_inputs`).
AGGREGATE_INPUTS = ("obs_x", "obs_bucket", "obs_y", "obs_weight")


def aggregate_inputs(data: PassAggregate, rows: int | None = None) -> dict[str, np.ndarray]:
    r"""The aggregate model's data by container name, padded to ``rows`` rows (weight 0).

    ``obs_x`` (:math:`\ln C - \ln C_0` of each row's model), ``obs_bucket``, ``obs_y``
    (:math:`\ln(-\ln p)`), ``obs_weight`` (1 for a row, 0 for padding); ``rows=None``: the
    rows themselves.
    """
    fitted = np.flatnonzero(data.models.fitted)
    x = np.log(data.models.compute[fitted]) - pass_pivot(data.models.compute[fitted])
    rates = data.pass_rate[fitted]
    m, b = np.nonzero(np.isfinite(rates))
    # a pass rate of exactly 1 has ln(-ln p) = -inf: read it as "all but half a problem"
    # (1 - 0.5/n_problems), or 0.999 when the table does not give n_problems
    cap = np.array([1 - 0.5 / n if n else 1 - 1e-3 for n in data.n_problems])
    y = np.log(-np.log(np.minimum(rates[m, b], cap[b])))
    pad = 0 if rows is None else rows - y.size
    if pad < 0:
        raise ValueError(f"cannot pad {y.size} rows to {rows}")
    return {
        "obs_x": np.pad(x[m], (0, pad)),
        "obs_bucket": np.pad(b.astype(np.int64), (0, pad)),
        "obs_y": np.pad(y, (0, pad)),
        "obs_weight": np.pad(np.ones(y.size), (0, pad)),
    }


def aggregate_rows(data: PassAggregate) -> int:
    """The rows (model, bucket pairs with a rate) an aggregate fit has."""
    return int(np.isfinite(data.pass_rate[data.models.fitted]).sum())


def build_aggregate_pass_model(
    data: PassAggregate, priors: PassPriors | None = None, *, pad_rows: int | None = None
) -> pm.Model:
    """Build the aggregate model: ``ln(-ln p)`` of each (model, bucket) row with scatter.

    ``pad_rows`` builds the padded model a fit samples instead: its rows in data containers
    (:data:`AGGREGATE_INPUTS`) padded to this many with weight 0, and the likelihood a
    ``pm.Potential`` named ``log_neg_log_pass`` (each row's normal log density times its
    weight), the same log density as the unpadded model's for one compiled program per
    number of buckets and padded rows.

    Returns
    -------
    pm.Model
        Dims ``bucket`` and ``obs``; ``level``, ``exponent`` (bucket) and ``sigma``.
    """
    priors = priors or PassPriors()
    inputs = aggregate_inputs(data, pad_rows)
    rows = aggregate_rows(data)
    with pm.Model(coords={"bucket": list(data.buckets), "obs": np.arange(rows)}) as model:
        beta, exponent = _bucket_lines(priors, len(data.buckets))
        sigma = pm.HalfNormal("sigma", sigma=priors.aggregate_sd)
        if pad_rows is None:
            b = inputs["obs_bucket"]
            pm.Normal(
                "log_neg_log_pass",
                mu=pass_law_log(inputs["obs_x"], beta[b], exponent[b]),
                sigma=sigma,
                observed=inputs["obs_y"],
                dims="obs",
            )
            return model
        x, b, y, weight = (pm.Data(name, inputs[name]) for name in AGGREGATE_INPUTS)
        row_logp = pm.logp(pm.Normal.dist(pass_law_log(x, beta[b], exponent[b]), sigma), y)
        pm.Potential("log_neg_log_pass", pt.where(weight > 0, row_logp, 0.0).sum())
    return model

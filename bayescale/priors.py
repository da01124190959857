r"""Default priors of the loss model, documented and overridable.

The loss model samples each group's curve at a pivot compute :math:`C_0` (the geometric mean
of the fitted runs' compute; see :func:`bayescale.laws.loss_law_pivot`):

.. math::

    L_g(C) = \ell_g \left[(1 - f_g) + f_g \, e^{-k_g (\ln C - \ln C_0)}\right]

The data pin down, per group, the level :math:`\ell_g` and the local log-log slope
:math:`s_g = k_g f_g = -\,\mathrm{d}\ln L/\mathrm{d}\ln C` at the pivot; the curvature, and so
the split of :math:`s_g` into exponent :math:`k_g` and reducible share :math:`f_g`, is what the
extrapolation is uncertain about. The model therefore samples :math:`(\ln \ell, \ln s,
\mathrm{logit} f)`, which are nearly uncorrelated a posteriori, and derives
:math:`k = s / f` (the exponent, :math:`b = -k`).

=======================  ====================================================================
quantity                 prior and reasoning
=======================  ====================================================================
:math:`\ln \ell_g`       Normal(ln median loss of group *g*, ``level_log_sd`` = 0.5). Pinned by
                         the data; the prior only keeps the sampler in the right decade. Not
                         pooled: eval sets differ in level by design.
:math:`\ln s_g`          :math:`\sim N(\mu_s, \tau_s)` (centred), :math:`\mu_s \sim
                         N(\ln 0.05, 1)`, :math:`\tau_s \sim LogNormal(\ln 0.2, 0.5)`. Local
                         slopes of LLM loss curves are 0.03–0.1 (Kaplan et al. 2020: 0.05); the
                         prior's 95% range is 0.007–0.35. Groups share the slope up to ~20%.
:math:`f_g`              :math:`\mathrm{logit} f_g = \mu_f + \tau_f z_g` (non-centred),
                         :math:`\mu_f \sim N(0, 1.5)`, :math:`\tau_f \sim \Gamma(2, 2/0.3)`.
                         The reducible share of the loss at the pivot: 0.5 a priori, 5%–95%
                         plausible. Pools the irreducible loss :math:`c_g = \ell_g(1-f_g)` and
                         the scale :math:`a_g = \ell_g f_g C_0^{k_g}` relative to each group's
                         level, and with :math:`s_g` the exponent :math:`k_g = s_g/f_g`.
:math:`\sigma`           :math:`\sigma^2 \sim \mathrm{InvGamma}(\alpha, \beta)`, one scatter on the
                         log-loss scale shared by (pooled across) all groups; shape
                         :math:`\alpha` = ``scatter_shape`` = 1, :math:`\beta` set so that the
                         median of :math:`\sigma` is ``scatter_median`` = 0.004, the median
                         residual sd of the law on real ladders (benchmarks/scatter_real.py,
                         docs/convergence.md); 95% prior range 0.17%-2.1%, with a long right
                         tail. With the normal likelihood :math:`\sigma` is integrated out
                         (conjugate: the runs' likelihood is multivariate Student-t) and drawn
                         from :math:`\sigma^2 \mid \theta, y` after sampling, so 3-5 runs a
                         group, which the law's three parameters can almost interpolate, make
                         no funnel at :math:`\sigma \to 0`. ``scatter_prior="halfnormal"``
                         samples HalfNormal(``scatter_sd`` = 0.05) instead, the prior of fits
                         saved before.
:math:`\tau`            Only with ``shared_runs=True``: a run effect :math:`\delta_r = \tau z_r`,
                         :math:`z_r \sim N(0, 1)`, shared by the groups scored on run *r*
                         (eval sets of one ladder), :math:`\tau \sim HalfNormal`
                         (``run_effect_sd`` = 0.01): median 0.67%, 95% below 1.96%, its mode
                         at 0 so that groups of different runs shrink it away. Measured shared
                         sd on the OLMo-2 ladder: 0.15% (1xC runs, 11 eval sets), 0.96% (all
                         30 runs, where the law misses the over-trained runs in every eval set
                         at once).
:math:`\nu`              Student-t degrees of freedom when ``likelihood="student_t"``
                         (fixed, default 4).
:math:`\zeta`            Law discrepancy beyond the fitted runs, a predictive term (zero on
                         the fitted range, so the data cannot inform it): beyond a group's
                         largest fitted compute :math:`C_{max}` its reducible loss falls with
                         exponent :math:`k_g e^{s\zeta}` instead of :math:`k_g`,
                         :math:`L(C) = E_g + (L_g(C) - E_g)\,e^{-k_g (e^{s\zeta} - 1)
                         \Delta}`, :math:`\Delta = \ln(C / C_{max})`, :math:`\zeta \sim N(0, 1)`
                         shared by all groups (one run), :math:`s` =
                         ``discrepancy_exponent_sd`` = 0.25: the law's exponent beyond the data
                         is uncertain by about 25%. Every draw stays monotone and above the
                         irreducible loss :math:`E_g`. See below for the measurement.
=======================  ====================================================================

Why a discrepancy term (measured on real ladders, fitted on the smaller runs, 4 x 500 draws):
without it, the 90% intervals of held-out runs covered 2 of 22 OLMo-2 3B runs (5.6x beyond
the fit) and 57% / 56% of the Porian et al. compute-optimal losses (8x / 32x), because the
law's extrapolation misses grow about linearly with log distance (root-mean-square error of
ln L per e-fold beyond the data: OLMo 0.0098, Porian 0.010-0.014, Gadre et al. 0.002-0.005),
far beyond the posterior's own spread. To first order the term adds :math:`s \cdot
\text{slope} \cdot \Delta` to the sd of :math:`\ln L`, with slope the local log-log slope at
:math:`C_{max}` (OLMo 0.037, Porian about 0.045): :math:`s = 0.25` matches the OLMo and
Porian misses (0.009 and 0.011 per e-fold; each dataset alone asks for 0.0094-0.0095), and is
conservative on Gadre. It is zero within the fitted range, so fits, posteriors and in-range
predictions are unchanged. Set it to 0 for the pure law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

Likelihood = Literal["normal", "student_t"]
ScatterPrior = Literal["inverse_gamma", "halfnormal"]
#: Median of the loss model's scatter prior: the ladder-weighted median residual sd of the law
#: on real ladders (benchmarks/scatter_real.py; the evidence is in docs/convergence.md).
SCATTER_PRIOR_MEDIAN = 0.004
#: Scale of the half-normal prior on the shared run effect's sd ``tau`` (``shared_runs``): the
#: run effect shared by the eval sets of one run measured on the OLMo-2 ladder (point fits per
#: eval set, the mean product of two eval sets' residuals of a run): 0.15% over the 1xC runs,
#: 0.96% over all 30 runs (docs/model.md, "Groups scored on the same runs").
RUN_EFFECT_SD = 0.01

#: The priors of the shared run effect, written only by a fit that has it (``shared_runs``):
#: a fit without it saves and reports the priors of the files before it.
RUN_EFFECT_PRIORS = ("shared_runs", "run_effect_sd")


def require_discrepancy_sd(s: object, name: str = "discrepancy_exponent_sd") -> None:
    """Raise an InputError unless the law-discrepancy scale ``name`` is a finite number >= 0."""
    from bayescale.errors import InputError

    if isinstance(s, bool) or not (isinstance(s, int | float) and math.isfinite(s) and s >= 0):
        raise InputError(
            f"prior '{name}' must be a number >= 0 (0 turns the law discrepancy off), got {s!r}."
        )


def require_positive(priors: object, *names: str) -> None:
    """Raise an InputError naming the first prior that is not a positive finite number."""
    from bayescale.errors import InputError

    for name in names:
        value = getattr(priors, name)
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise InputError(f"prior '{name}' must be a positive number, got {value!r}.")


def require_scatter_prior(value: object) -> None:
    """Raise an InputError unless ``value`` names a scatter prior (:data:`ScatterPrior`)."""
    from bayescale.errors import InputError

    if value not in ("inverse_gamma", "halfnormal"):
        raise InputError(
            f"prior 'scatter_prior' must be 'inverse_gamma' or 'halfnormal', got {value!r}."
        )


def require_likelihood(value: object) -> None:
    """Raise an InputError unless ``value`` names a likelihood (:data:`Likelihood`)."""
    from bayescale.errors import InputError

    if value not in ("normal", "student_t"):
        raise InputError(f"prior 'likelihood' must be 'normal' or 'student_t', got {value!r}.")


@dataclass(frozen=True)
class LossPriors:
    """Hyper-parameters of the loss model's priors (see the module docstring).

    Examples
    --------
    >>> LossPriors(slope_median=0.1).slope_median
    0.1
    """

    level_log_sd: float = 0.5
    slope_median: float = 0.05
    slope_log_sd: float = 1.0
    slope_group_sd: float = 0.2
    reducible_logit_mean: float = 0.0
    reducible_logit_sd: float = 1.5
    reducible_group_sd: float = 0.3
    scatter_sd: float = 0.05
    scatter_prior: ScatterPrior = "inverse_gamma"
    scatter_median: float = SCATTER_PRIOR_MEDIAN
    scatter_shape: float = 1.0
    likelihood: Likelihood = "normal"
    student_t_nu: float = 4.0
    discrepancy_exponent_sd: float = 0.25
    shared_runs: bool = False
    run_effect_sd: float = RUN_EFFECT_SD

    def __post_init__(self) -> None:
        """Check that every scale is a positive finite number."""
        require_discrepancy_sd(self.discrepancy_exponent_sd)
        if not isinstance(self.shared_runs, bool):
            from bayescale.errors import InputError

            raise InputError(f"'shared_runs' must be true or false, got {self.shared_runs!r}.")
        require_positive(
            self,
            "run_effect_sd",
            "level_log_sd",
            "slope_median",
            "slope_log_sd",
            "slope_group_sd",
            "reducible_logit_sd",
            "reducible_group_sd",
            "scatter_sd",
            "scatter_median",
            "scatter_shape",
            "student_t_nu",
        )
        require_scatter_prior(self.scatter_prior)
        require_likelihood(self.likelihood)


class InverseGammaScatter(Protocol):
    """The priors' fields of an inverse-gamma scatter (``LossPriors``, ``NDPriors``)."""

    @property
    def scatter_prior(self) -> str:
        """``"inverse_gamma"`` or ``"halfnormal"``."""
        ...

    @property
    def scatter_median(self) -> float:
        """The prior median of ``sigma``."""
        ...

    @property
    def scatter_shape(self) -> float:
        r"""The shape :math:`\alpha` of the prior on ``sigma**2``."""
        ...


class SampledScatter(InverseGammaScatter, Protocol):
    """The priors' fields of a sampled scatter and its likelihood (``LossPriors``, ``NDPriors``)."""

    @property
    def scatter_sd(self) -> float:
        """The scale of the half-normal scatter prior."""
        ...

    @property
    def likelihood(self) -> str:
        """``"normal"`` or ``"student_t"``."""
        ...

    @property
    def student_t_nu(self) -> float:
        r"""The Student-t degrees of freedom :math:`\nu`."""
        ...


def scatter_scale(priors: InverseGammaScatter) -> float:
    r"""The scale :math:`\beta` of the inverse-gamma scatter prior, from its median.

    Chosen so that the median of :math:`\sigma` is ``scatter_median`` (of ``LossPriors`` or
    ``NDPriors``).
    """
    from scipy.special import gammaincinv

    return float(priors.scatter_median**2 * gammaincinv(priors.scatter_shape, 0.5))


@dataclass(frozen=True)
class PassPriors:
    r"""Hyper-parameters of the pass-rate model's priors.

    The model (:mod:`bayescale.pass_model`) works on :math:`\eta = \ln(-\ln p)`, where the
    report's law :math:`-\ln p = \alpha C^{-k}` is a straight line,
    :math:`\eta = \ln\alpha_{pivot} - k x` with :math:`x = \ln C - \ln C_0`.

    =====================  =================================================================
    quantity               prior and reasoning
    =====================  =================================================================
    bucket level           :math:`\beta_b \sim N(\mu_\beta, \tau_\beta)`,
                           :math:`\mu_\beta \sim N(1, 1.5)`,
                           :math:`\tau_\beta \sim LogNormal(\ln 1, 0.5)`. :math:`\beta = 1`
                           is a 6.6% pass rate at the pivot (:math:`p = \exp(-e^\beta)`);
                           ±3 (two sd of :math:`\mu_\beta`) spans 87% to 2e-24, and a
                           bucket level's prior 5-95% (-2.2 to 4.2) 89% to 2e-29: the prior
                           allows any pass rate. Buckets are sorted by difficulty, so their
                           levels differ by design.
    bucket exponent        :math:`\ln k_b \sim N(\mu_k, \tau_k)`,
                           :math:`\mu_k \sim N(\ln 0.2, 1)`,
                           :math:`\tau_k \sim LogNormal(\ln 0.3, 0.5)`: exponents 0.03–1.4
                           plausible; buckets share the exponent up to ~30%.
    problem effect         :math:`\theta_j \sim N(\beta_{b(j)}, \sigma_u)`,
                           :math:`\sigma_u \sim HalfNormal(1)`: problems in a bucket differ.
    problem exponent       only with ``problem_slopes=True``:
                           :math:`\ln k_j \sim N(\ln k_{b(j)}, \sigma_k)`,
                           :math:`\sigma_k \sim HalfNormal(0.3)` (see
                           :mod:`bayescale.pass_model` for why it is off by default).
    model scatter          :math:`\varepsilon_m \sim N(0, \sigma_m)`,
                           :math:`\sigma_m \sim HalfNormal(0.3)`: a whole model sits off the
                           power law (measured on Pythia x MATH: misses larger than
                           binomial noise; without this term intervals are too narrow).
    aggregate scatter      :math:`\sigma \sim HalfNormal(0.3)` on :math:`\ln(-\ln p)` for the
                           aggregate format.
    law discrepancy        a predictive term, zero on the fitted range: beyond a line's
                           largest fitted compute :math:`x_{max}` a draw's exponent
                           :math:`k` becomes :math:`k e^{s\zeta}`, :math:`\eta(x) =
                           \eta_{law}(x) - k (e^{s\zeta} - 1)(x - x_{max})`,
                           :math:`\zeta \sim N(0, 1)` one per posterior draw, shared by
                           buckets and computes, :math:`s` = ``discrepancy_exponent_sd`` =
                           0.25 (the loss law's; chosen on the pass backtests,
                           docs/pass-rates.md). 0 gives the pure law.
    =====================  =================================================================
    """

    level_mean: float = 1.0
    level_sd: float = 1.5
    level_bucket_sd: float = 1.0
    exponent_median: float = 0.2
    exponent_log_sd: float = 1.0
    exponent_bucket_sd: float = 0.3
    problem_sd: float = 1.0
    problem_slope_sd: float = 0.3
    problem_slopes: bool = False
    model_sd: float = 0.3
    aggregate_sd: float = 0.3
    discrepancy_exponent_sd: float = 0.25

    def __post_init__(self) -> None:
        """Check that every scale is a positive finite number (the discrepancy may be 0)."""
        require_discrepancy_sd(self.discrepancy_exponent_sd)
        require_positive(
            self,
            "level_sd",
            "level_bucket_sd",
            "exponent_median",
            "exponent_log_sd",
            "exponent_bucket_sd",
            "problem_sd",
            "problem_slope_sd",
            "model_sd",
            "aggregate_sd",
        )

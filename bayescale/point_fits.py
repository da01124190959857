r"""Least-squares point fits and bootstrap intervals: the baselines of the backtests.

Two published ways of extrapolating a scaling law, written plainly so that bayescale can be
scored next to them on the same splits (:mod:`bayescale.backtest`):

- **point fit** (the GPT-4 report's method): the law fitted by least squares, one curve per
  group or bucket, and its value at the target as the prediction; no interval.
- **bootstrap** (the Epoch AI replication of Chinchilla): the same fit on resampled data, and
  central percentile intervals of the resampled predictions. Like the original, the interval
  is that of the fitted *curve*; it has no run-to-run scatter term.

Loss law, fitted on log loss so that every run weighs by its relative error:

.. math::

    \ln L_i = \ln\!\left(A\, e^{-k x_i} + c\right) + \varepsilon_i, \qquad
    x_i = \ln C_i - \ln C_0,

with :math:`A > 0`, :math:`0 \le k \le 5`, :math:`0 \le c < \min_i L_i` and :math:`C_0` the
geometric mean of the fitted computes (``L = a C^b + c`` with :math:`a = A C_0^{k}`,
:math:`b = -k`). The fit starts from several irreducible fractions and keeps the best.

Pass law per bucket (the report's Figure 2), a straight line in log-log space:

.. math::

    \ln\!\big(\overline{-\ln p}\,(C)\big) = \ln\alpha - k \ln C .

Nothing here imports PyMC; the optimiser is :func:`scipy.optimize.least_squares`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescale.data import MIN_COMPUTES_PER_GROUP, LossData
from bayescale.laws import loss_law_pivot, pass_law

#: Upper bound of the loss exponent k (per e-fold of compute); LLM curves have 0.03-0.4.
MAX_EXPONENT = 5.0
#: Irreducible fractions of the smallest loss the optimiser starts from.
START_FRACTIONS = (0.0, 0.3, 0.6, 0.9)
#: Bootstrap resamples.
N_BOOT = 200


@dataclass(frozen=True)
class LossPointFit:
    r"""A least-squares fit of :math:`L = A e^{-k x} + c` with :math:`x = \ln C - \ln C_0`."""

    log_pivot: float
    amplitude: float
    exponent: float
    floor: float
    rms_log_residual: float

    def predict(self, compute: np.ndarray | float) -> np.ndarray:
        """The fitted curve at ``compute`` (FLOPs)."""
        x = np.log(np.asarray(compute, dtype=float)) - self.log_pivot
        level = self.amplitude + self.floor
        return np.asarray(loss_law_pivot(x, level, self.amplitude / level, self.exponent))

    @property
    def abc(self) -> tuple[float, float, float]:
        """``(a, b, c)`` of ``L = a C^b + c`` with C in FLOPs."""
        return (
            float(self.amplitude * np.exp(self.exponent * self.log_pivot)),
            -self.exponent,
            self.floor,
        )


def fit_loss_lsq(
    compute: np.ndarray, loss: np.ndarray, start: LossPointFit | None = None
) -> LossPointFit:
    """Least-squares fit of the loss law to one group's runs (log-loss residuals).

    Parameters
    ----------
    compute, loss
        The fitted runs: FLOPs and final losses, both > 0, at >= 3 distinct computes.
    start
        A previous fit to start from (the bootstrap starts every resample from the fit to all
        runs); by default several irreducible fractions are tried and the best fit is kept.

    Returns
    -------
    LossPointFit

    Examples
    --------
    >>> c = np.logspace(17, 20, 8)
    >>> fit = fit_loss_lsq(c, 70.0 * c**-0.1 + 2.2)
    >>> [round(v, 3) for v in fit.abc[1:]]
    [-0.1, 2.2]
    """
    compute = np.asarray(compute, dtype=float)
    loss = np.asarray(loss, dtype=float)
    log_c = np.log(compute)
    log_pivot = float(log_c.mean())
    x = log_c - log_pivot
    y = np.log(loss)
    top = 0.999 * float(loss.min())

    def residuals(theta: np.ndarray) -> np.ndarray:
        log_amp, k, floor = theta
        return np.log(np.exp(log_amp - k * x) + floor) - y

    def jacobian(theta: np.ndarray) -> np.ndarray:
        log_amp, k, floor = theta
        u = np.exp(log_amp - k * x)
        total = u + floor
        return np.stack([u / total, -x * u / total, 1.0 / total], axis=1)

    starts = []
    if start is not None:
        shift = start.exponent * (log_pivot - start.log_pivot)
        starts.append(
            np.array([np.log(start.amplitude) - shift, start.exponent, min(start.floor, top)])
        )
    else:
        for frac in START_FRACTIONS:
            floor0 = frac * top
            reducible = np.maximum(loss - floor0, 1e-6 * top)
            # a straight line through ln(L - c) gives the start of A and k
            slope, intercept = np.polyfit(x, np.log(reducible), 1)
            k0 = float(np.clip(-slope, 1e-4, MAX_EXPONENT - 1e-4))
            starts.append(np.array([intercept, k0, floor0]))
    from scipy.optimize import least_squares  # here: scipy.optimize takes 0.3 s to import

    best = None
    for theta0 in starts:
        result = least_squares(
            residuals,
            theta0,
            jac=jacobian,
            bounds=([-np.inf, 0.0, 0.0], [np.inf, MAX_EXPONENT, top]),
            method="trf",
        )
        if best is None or result.cost < best.cost:
            best = result
    assert best is not None
    log_amp, k, floor = best.x
    return LossPointFit(
        log_pivot=log_pivot,
        amplitude=float(np.exp(log_amp)),
        exponent=float(k),
        floor=float(floor),
        rms_log_residual=float(np.sqrt(np.mean(best.fun**2))),
    )


def _resample(
    rng: np.random.Generator, compute: np.ndarray, n_boot: int, tries: int = 100
) -> list[np.ndarray]:
    """Case-resampling indices with at least ``MIN_COMPUTES_PER_GROUP`` distinct computes each.

    A resample that could not identify the law (too few distinct computes) is drawn again, up
    to ``tries`` times, and then replaced by the original sample.
    """
    out = []
    n = compute.size
    for _ in range(n_boot):
        for _ in range(tries):
            idx = rng.integers(0, n, size=n)
            if np.unique(compute[idx]).size >= MIN_COMPUTES_PER_GROUP:
                break
        else:
            idx = np.arange(n)
        out.append(idx)
    return out


def bootstrap_loss(
    compute: np.ndarray,
    loss: np.ndarray,
    targets: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> np.ndarray:
    """Predictions at ``targets`` from least-squares fits to case-resampled runs.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_boot, n_targets)``.
    """
    compute = np.asarray(compute, dtype=float)
    loss = np.asarray(loss, dtype=float)
    rng = np.random.default_rng(seed)
    full = fit_loss_lsq(compute, loss)
    return np.stack(
        [
            fit_loss_lsq(compute[idx], loss[idx], start=full).predict(targets)
            for idx in _resample(rng, compute, n_boot)
        ]
    )


def fit_pass_line(compute: np.ndarray, neg_log_pass: np.ndarray) -> tuple[float, float]:
    r"""Least-squares line of :math:`\ln(-\ln p)` against :math:`\ln C`.

    Returns
    -------
    log_alpha, k
        :math:`-\ln p = \alpha C^{-k}`.

    Examples
    --------
    >>> c = np.array([1e20, 1e21, 1e22])
    >>> log_alpha, k = fit_pass_line(c, 3.0 * (c / 1e20) ** -0.2)
    >>> round(k, 6), round(float(np.exp(log_alpha) * 1e20**-k), 6)
    (0.2, 3.0)
    """
    slope, intercept = np.polyfit(np.log(compute), np.log(neg_log_pass), 1)
    return float(intercept), float(-slope)


def predict_pass_line(log_alpha: float, k: float, compute: np.ndarray) -> np.ndarray:
    r"""Evaluate :math:`-\ln p = \alpha C^{-k}` at ``compute``."""
    return np.asarray(pass_law(np.log(np.asarray(compute, dtype=float)), log_alpha, k))


def bootstrap_pass_rows(
    compute: np.ndarray,
    neg_log_pass: np.ndarray,
    targets: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> np.ndarray:
    """Pass-line predictions from fits to case-resampled (model) rows, shape (boot, target)."""
    compute = np.asarray(compute, dtype=float)
    rng = np.random.default_rng(seed)
    preds = []
    for idx in _resample(rng, compute, n_boot):
        log_alpha, k = fit_pass_line(compute[idx], neg_log_pass[idx])
        preds.append(predict_pass_line(log_alpha, k, targets))
    return np.stack(preds)


def bootstrap_pass_problems(
    compute: np.ndarray,
    neg_log_pass: np.ndarray,
    targets: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> np.ndarray:
    r"""Pass-line predictions after resampling a bucket's problems, shape (boot, target).

    Parameters
    ----------
    compute
        Fitted models' computes, shape ``(model,)``.
    neg_log_pass
        :math:`-\ln \hat p` per fitted model and problem of the bucket, ``(model, problem)``.
    targets
        Computes to predict at.
    """
    rng = np.random.default_rng(seed)
    n_problems = neg_log_pass.shape[1]
    preds = []
    for _ in range(n_boot):
        idx = rng.integers(0, n_problems, size=n_problems)
        log_alpha, k = fit_pass_line(compute, neg_log_pass[:, idx].mean(axis=1))
        preds.append(predict_pass_line(log_alpha, k, targets))
    return np.stack(preds)


#: How results of :func:`bootstrap_forecast` are labelled.
BOOTSTRAP_METHOD = "point-fit bootstrap"


def bootstrap_forecast(
    data: LossData,
    targets: float | list[float] | np.ndarray,
    interval: float = 0.9,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Forecast the loss by the point-fit bootstrap, labelled as such.

    Per group, least-squares fits of the loss law to case-resampled fitted runs, and central
    percentile intervals of their predictions. This is the backtests' ``bootstrap`` baseline
    (the Epoch AI replication of Chinchilla), not bayescale's model: its interval is that of
    the fitted *curve*, with no run-to-run scatter and no law discrepancy, so it is narrower
    than a new run's predictive interval.

    Returns
    -------
    pandas.DataFrame
        One row per (target, group): ``target_compute``, ``group``, ``point`` (the fit to all
        runs), ``median``, ``lower``, ``upper``, ``method``.
    """
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    tail = (1 - interval) / 2
    rows = []
    for group in data.groups:
        sel = data.fitted & (data.group == group)
        compute, loss = data.compute[sel], data.loss[sel]
        draws = bootstrap_loss(compute, loss, targets, n_boot=n_boot, seed=seed)
        point = fit_loss_lsq(compute, loss).predict(targets)
        lo, mid, hi = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
        for i, t in enumerate(targets):
            rows.append(
                {
                    "target_compute": float(t),
                    "group": str(group),
                    "point": float(point[i]),
                    "median": float(mid[i]),
                    "lower": float(lo[i]),
                    "upper": float(hi[i]),
                    "method": BOOTSTRAP_METHOD,
                }
            )
    return pd.DataFrame(rows).sort_values("target_compute", kind="stable", ignore_index=True)


def bootstrap_document(
    table: pd.DataFrame, interval: float, warnings: list[str] | tuple[str, ...] = ()
) -> dict[str, object]:
    """A §4-shaped document of :func:`bootstrap_forecast` (``"method": "point-fit bootstrap"``)."""
    targets = []
    for target, rows in table.groupby("target_compute", sort=True):
        targets.append(
            {
                "target_compute": float(target),  # type: ignore[arg-type]
                "loss": [
                    {
                        "group": r.group,
                        "median": r.median,
                        "lower": r.lower,
                        "upper": r.upper,
                        "point": r.point,
                    }
                    for r in rows.itertuples()
                ],
            }
        )
    return {
        "kind": "loss",
        "method": BOOTSTRAP_METHOD,
        "interval": interval,
        "interval_of": "the fitted curve (no run-to-run scatter)",
        "targets": targets,
        "warnings": list(warnings),
    }

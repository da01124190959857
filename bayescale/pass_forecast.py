r"""Pass-rate forecasts: posterior predictive draws for a *new model* at target compute.

For each posterior draw a new model's deviation :math:`\varepsilon_{new} \sim N(0,
\sigma_m)` is drawn, and every kept problem's pass rate follows from
:math:`\ln(-\ln p_j) = \theta_j - k_j x + \varepsilon_{new}`. From those:

- ``mean_neg_log_pass`` per bucket: the mean of :math:`-\ln p_j` over the bucket's problems,
  the y-axis of the GPT-4 report's Figure 2;
- ``pass_rate``: the mean pass@1 over all kept problems (excluded hardest ones included);
- ``bucket_pass_rate``: the mean pass@1 within each bucket;
- ``pass_at_k`` when asked: the mean of :math:`1 - (1 - p_j)^k`.

Beyond the largest fitted compute :math:`x_{max}` of a line (every problem's for per-problem
counts, each bucket's own for aggregate tables) a draw's exponent :math:`k` becomes
:math:`k e^{s\zeta}`, the law discrepancy of :class:`~bayescale.priors.PassPriors`
(:func:`discrepancy_stretch`); inside the fitted range it is zero.

The ``curve_*`` variables leave out :math:`\varepsilon_{new}`: the credible interval of the law.
Observed statistics of finite samples use :math:`\hat p = (k + 1/2)/(n + 1)` so that problems
never solved stay finite; held-out models are scored against predictive draws of the *same*
statistic from simulated binomial counts with the same :math:`n`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.buckets import Buckets, held_out_reference_warnings
from bayescale.display import percent, plural
from bayescale.draws import SCORE_COLUMNS, Forecast, shown_rows, summarise, target_rows
from bayescale.errors import InputError
from bayescale.laws import pass_law_log
from bayescale.pass_data import PassAggregate, PassCounts
from bayescale.pass_fit import PassFit
from bayescale.priors import PassPriors
from bayescale.seeds import forecast_stream
from bayescale.targets import (
    check_interval,
    check_targets,
    log_units_warning,
    logged,
    target_warnings,
    trend_against_law,
)

log = logging.getLogger("bayescale")

#: Computes per chunk when evaluating many computes (keeps memory at tens of MB).
CHUNK = 16

#: Fewer computes a chunk when draws x computes x problems would pass this many values (64 MB
#: an array): a per-problem table of 2,000 problems has 8 million values at each compute
#: (4,000 draws), and its fit peaked at 6.4 GB with chunks of 16 computes. Every statistic
#: is one (draw, compute)'s mean over the problems, so the chunks give the same numbers.
CHUNK_VALUES = 8_000_000


def computes_per_chunk(samples: int, units: int) -> int:
    """:data:`CHUNK`, or fewer (at least 1) to keep a chunk within :data:`CHUNK_VALUES`."""
    return max(1, min(CHUNK, CHUNK_VALUES // max(samples * units, 1)))


def _lines(fit: PassFit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intercepts ``(sample, unit)``, exponents ``(sample, unit)`` and unit->bucket index.

    A unit is a kept problem (counts) or a bucket (aggregate).
    """
    exponent = fit.draws("exponent")
    if fit.aggregate:
        n_b = exponent.shape[1]
        return fit.draws("level"), exponent, np.arange(n_b)
    assert fit.buckets is not None
    return fit.draws("theta"), fit.draws("problem_exponent"), fit.buckets.index


def _weights(fit: PassFit) -> np.ndarray:
    """Weight of each unit in the overall pass rate."""
    if not isinstance(fit.data, PassAggregate):
        return np.full(fit.draws("theta").shape[1], 1.0)
    sizes = fit.data.n_problems
    if all(s is not None for s in sizes):
        return np.asarray(sizes, dtype=float)
    return np.ones(len(sizes))


def line_shift(fit: PassFit, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r"""Draws of the shift of the bucket lines that the model-effect constraint leaves out.

    The sampled model effects live in the complement of span(1, x), so the part of the true
    model-to-model scatter along (1, x) was absorbed into the fitted levels and exponents. With
    effects :math:`\varepsilon \sim N(0, \sigma_m^2 I)` that part moves the line by
    :math:`(\delta_0, \delta_1) \sim N(0, \sigma_m^2 (X^\top X)^{-1})`, which for centred x is
    :math:`N(0, \sigma_m^2/M)` and :math:`N(0, \sigma_m^2/\sum x^2)`, independent of
    everything else; adding it restores the uncertainty of the law itself. Zero for the
    aggregate model (whose scatter is per observation) and with two or fewer fitted models.

    The shifted exponents :math:`k_j - \delta_1` are not kept positive, so a few draws' laws
    fall with compute; bounding the shift (truncated or on the exponents' log scale) scored
    worse on the Pythia x MATH backtests (docs/pass-rates.md, "The line shift").

    Returns
    -------
    intercept_shift, slope_shift
        Shape ``(sample,)`` each.
    """
    models = fit.data.models
    x = np.log(models.compute[models.fitted]) - fit.log_pivot
    n = fit.draws("exponent").shape[0]
    if fit.aggregate or x.size <= 2:
        return np.zeros(n), np.zeros(n)
    sd = fit.draws("sigma_model")
    return (
        sd * rng.standard_normal(n) / np.sqrt(x.size),
        sd * rng.standard_normal(n) / np.sqrt(np.sum(x**2)),
    )


def _eta(
    fit: PassFit,
    x: np.ndarray,
    new: np.ndarray | None,
    shift: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """``ln(-ln p)`` of each unit, shape ``(sample, compute, unit)``.

    ``shift`` (from :func:`line_shift`) moves every line; ``new`` (from
    :func:`new_model_deviation`) adds a new model's own deviation from the law.
    """
    intercept, exponent, _ = _lines(fit)
    eta = pass_law_log(x[None, :, None], intercept[:, None, :], exponent[:, None, :])
    eta = eta + (shift[0][:, None] + shift[1][:, None] * x[None, :])[:, :, None]
    if new is not None:
        eta = eta + new[:, None, :]
    return eta


def largest_fitted(fit: PassFit) -> np.ndarray:
    """``x`` (ln C minus the pivot) of each unit's largest fitted model, shape ``(unit,)``.

    Per-problem counts: the largest fitted model, for every problem. Aggregate tables: each
    bucket's own largest fitted model with a rate in it (buckets may be benchmarks or
    families with their own ranges).
    """
    models = fit.data.models
    x = np.log(models.compute) - fit.log_pivot
    top = float(x[models.fitted].max())
    if isinstance(fit.data, PassAggregate):
        has = np.isfinite(fit.data.pass_rate) & models.fitted[:, None]
        return np.array(
            [x[has[:, b]].max() if has[:, b].any() else top for b in range(has.shape[1])]
        )
    return np.full(_lines(fit)[0].shape[1], top)


def discrepancy_stretch(fit: PassFit, seed: int | None = None) -> np.ndarray:
    r""":math:`e^{s\zeta} - 1` per posterior draw, shape ``(sample,)``: the law discrepancy.

    :math:`\zeta \sim N(0, 1)`, one per draw, shared by every unit and compute, from the fit's
    ``pass.discrepancy`` stream (:mod:`bayescale.seeds`), the same in forecasts, decisions and
    held-out scores; :math:`s` = ``fit.priors.discrepancy_exponent_sd``. Zeros when
    :math:`s = 0` (the stream is then not drawn).
    """
    n = fit.draws("exponent").shape[0]
    s = fit.priors.discrepancy_exponent_sd
    if s == 0:
        return np.zeros(n)
    return np.expm1(s * forecast_stream(fit, "pass.discrepancy", seed).standard_normal(n))


def _discrepancy(
    fit: PassFit,
    eta: np.ndarray,
    x: np.ndarray,
    shift: tuple[np.ndarray, np.ndarray],
    stretch: np.ndarray,
) -> np.ndarray:
    r"""``eta`` (``(sample, compute, unit)``) with the law discrepancy beyond the fitted range.

    A draw's line has slope :math:`k_j - \delta_1` (its exponent with the line shift of
    :func:`line_shift`); beyond :math:`x_{max}` it becomes :math:`(k_j - \delta_1)e^{s\zeta}`:
    :math:`\eta - (k_j - \delta_1)(e^{s\zeta} - 1)(x - x_{max})`. Inside the range ``eta`` is
    returned as it is, to the last bit.
    """
    beyond = np.maximum(0.0, x[:, None] - largest_fitted(fit)[None, :])  # (compute, unit)
    if not beyond.any() or not stretch.any():
        return eta
    _, exponent, _ = _lines(fit)
    slope = (exponent - shift[1][:, None]) * stretch[:, None]  # (sample, unit)
    return np.where(beyond[None] > 0, eta - slope[:, None, :] * beyond[None], eta)


def new_model_deviation(fit: PassFit, rng: np.random.Generator) -> np.ndarray:
    """A new model's deviation from the law, one draw per posterior sample.

    Shape ``(sample, 1)`` for the per-problem model (shared by all problems) or
    ``(sample, bucket)`` for the aggregate model; reused at every compute.
    """
    sd = fit.draws("sigma" if fit.aggregate else "sigma_model")
    width = fit.draws("exponent").shape[1] if fit.aggregate else 1
    return sd[:, None] * rng.standard_normal((sd.size, width))


def pass_draws(
    fit: PassFit, compute: np.ndarray, seed: int | None = None, k: int | None = None
) -> xr.Dataset:
    """Predictive draws at each compute (FLOPs) for a new model; see the module docstring.

    Returns
    -------
    xarray.Dataset
        ``mean_neg_log_pass``, ``bucket_pass_rate`` and their ``curve_`` versions with dims
        ``(sample, bucket, compute)``; ``pass_rate``, ``curve_pass_rate`` and optionally
        ``pass_at_k`` with dims ``(sample, compute)``.
    """
    compute = np.asarray(compute, dtype=float)
    x = np.log(compute) - fit.log_pivot
    rng = forecast_stream(fit, "pass.forecast", seed)
    intercept, _, unit_bucket = _lines(fit)
    labels = reported_buckets(fit)
    weights = _weights(fit)
    out: dict[str, list[np.ndarray]] = {}
    shift = line_shift(fit, rng)
    deviation = new_model_deviation(fit, rng)
    stretch = discrepancy_stretch(fit, seed)
    step = computes_per_chunk(*intercept.shape)
    for start in range(0, x.size, step):
        xs = x[start : start + step]
        for prefix, new in (("", deviation), ("curve_", None)):
            eta = _discrepancy(fit, _eta(fit, xs, new, shift), xs, shift, stretch)
            neg_log_p = np.exp(eta)
            p = np.exp(-neg_log_p)
            per_bucket = [unit_bucket == b for b in range(len(labels))]
            out.setdefault(prefix + "mean_neg_log_pass", []).append(
                np.stack([neg_log_p[..., sel].mean(axis=-1) for sel in per_bucket], axis=1)
            )
            out.setdefault(prefix + "bucket_pass_rate", []).append(
                np.stack([p[..., sel].mean(axis=-1) for sel in per_bucket], axis=1)
            )
            out.setdefault(prefix + "pass_rate", []).append(np.average(p, axis=-1, weights=weights))
            if k is not None and new is not None:
                at_k = 1 - np.exp(k * np.log1p(-np.minimum(p, 1 - 1e-16)))
                out.setdefault("pass_at_k", []).append(np.average(at_k, axis=-1, weights=weights))
    data_vars = {}
    for name, chunks in out.items():
        arr = np.concatenate(chunks, axis=-1)
        dims = ("sample", "bucket", "compute") if arr.ndim == 3 else ("sample", "compute")
        data_vars[name] = (dims, arr)
    ds = xr.Dataset(data_vars, coords={"bucket": list(labels), "compute": compute})
    if k is not None:
        ds.attrs["k"] = k
    return ds


def reported_buckets(fit: PassFit) -> tuple[str, ...]:
    """Labels of the reported buckets (the excluded ones are not reported)."""
    if isinstance(fit.data, PassAggregate):
        return fit.data.buckets
    assert fit.buckets is not None
    return fit.buckets.labels


@dataclass(frozen=True, repr=False)
class PassForecast(Forecast):
    """Predictive draws and their summary at the target computes.

    Attributes
    ----------
    draws
        See :func:`pass_draws`.
    interval
        Central interval probability of the tables.
    n_problems
        Problems per reported bucket (``None`` when an aggregate table does not say).
    pooled
        What the overall pass rate pools (:func:`pooled_description`), or ``None`` when the
        buckets are different benchmarks and no overall rate is defined.
    warnings
        Warnings about the targets (inside, below or far beyond the fitted models).
    """

    draws: xr.Dataset
    interval: float
    n_problems: tuple[int | None, ...]
    pooled: str | None = "all problems"
    warnings: tuple[str, ...] = ()

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        rows = shown_rows(
            self.buckets(),
            lambda r: (
                f"bucket {r.bucket} @ {r.target_compute:.3g}",
                f"pass@1 {r.pass_rate_median:.3g} [{r.pass_rate_lower:.3g}, "
                f"{r.pass_rate_upper:.3g}]; -ln p {r.neg_log_pass_median:.3g}",
            ),
            ".buckets()",
        )
        if self.pooled is not None:
            for r in self.overall().itertuples():
                rows.append(
                    (
                        f"overall @ {r.target_compute:.3g}",
                        f"pass@1 {r.median:.3g} [{r.lower:.3g}, {r.upper:.3g}] ({self.pooled})",
                    )
                )
        else:
            rows.append(("overall", NO_OVERALL))
        rows += [("warning", w) for w in self.warnings]
        title = f"PassForecast: a new model's pass@1, median [{percent(self.interval)} interval]"
        return title, rows

    def table(self) -> pd.DataFrame:
        """The forecast table every law's forecast has: :meth:`buckets` (per bucket and target).

        The overall rate, where it is defined, is :meth:`overall`.
        """
        return self.buckets()

    def overall(self) -> pd.DataFrame:
        """Mean pass@1 of a new model per target: median, lower, upper, mean (+ curve CI)."""
        new = summarise(self.draws["pass_rate"].values, self.interval)
        curve = summarise(self.draws["curve_pass_rate"].values, self.interval)
        rows = []
        for ti, target in enumerate(self.targets):
            row = {"target_compute": float(target), **{k: float(v[ti]) for k, v in new.items()}}
            row |= {f"curve_{k}": float(v[ti]) for k, v in curve.items()}
            if "pass_at_k" in self.draws:
                at_k = summarise(self.draws["pass_at_k"].values, self.interval)
                row |= {
                    f"pass_at_{self.draws.attrs['k']}_{k}": float(v[ti]) for k, v in at_k.items()
                }
            rows.append(row)
        return pd.DataFrame(rows)

    def buckets(self) -> pd.DataFrame:
        """Per bucket and target: mean -ln pass rate and mean pass@1 of a new model."""
        nlp = summarise(self.draws["mean_neg_log_pass"].values, self.interval)
        rate = summarise(self.draws["bucket_pass_rate"].values, self.interval)
        summaries = {"neg_log_pass_": nlp, "pass_rate_": rate}
        sizes = {"n_problems": self.n_problems}
        buckets = self.draws["bucket"].values
        return pd.DataFrame(target_rows(self.targets, buckets, "bucket", summaries, sizes))


def bucket_sizes(fit: PassFit) -> tuple[int | None, ...]:
    """Problems per reported bucket (``None`` when an aggregate table does not say)."""
    if isinstance(fit.data, PassAggregate):
        return fit.data.n_problems
    assert fit.buckets is not None
    return tuple(fit.buckets.sizes())


#: What the summaries say instead of an overall rate of buckets that are different benchmarks.
NO_OVERALL = (
    "not defined: the buckets of an aggregate table are taken as different benchmarks, "
    "whose pass rates do not average into one rate"
)


def pooled_description(fit: PassFit) -> str | None:
    """What the overall pass rate pools, or ``None`` when it is not defined.

    Difficulty buckets of per-problem counts split one benchmark: the overall rate is the mean
    pass@1 over all its problems. An aggregate table with one bucket is that bucket; with
    several, the buckets are taken as different benchmarks and no overall rate is given.
    """
    if isinstance(fit.data, PassAggregate):
        if len(fit.data.buckets) == 1:
            return f"pass@1 of '{fit.data.buckets[0]}'"
        return None
    assert fit.buckets is not None
    b = fit.buckets
    aside = len(b.kept) - sum(b.sizes())
    extra = f" and {aside} set aside" if aside else ""
    return (
        f"mean pass@1 over all {len(b.kept)} problems "
        f"({plural(len(b.labels), 'difficulty bucket')} of one benchmark{extra})"
    )


def falling_pass_warnings(data: PassCounts | PassAggregate) -> list[str]:
    """A warning for each bucket (or the whole table) whose pass rates fall with compute."""
    models = data.models
    fitted = models.fitted
    if isinstance(data, PassCounts):
        n, k = data.n[fitted], data.k[fitted]
        seen = (n > 0).sum(axis=1)
        total = np.where(n > 0, k / np.maximum(n, 1), 0.0).sum(axis=1)
        series = {"": np.where(seen > 0, total / np.maximum(seen, 1), np.nan)}
    else:
        rates = data.pass_rate[fitted]
        series = {b: rates[:, j] for j, b in enumerate(data.buckets)}
    out = []
    for bucket, rate in series.items():
        seen = np.isfinite(rate)
        slope = trend_against_law(models.compute[fitted][seen], rate[seen], rising=False)
        if slope is not None:
            where = f"bucket '{bucket}': " if len(series) > 1 else ""
            out.append(
                f"{where}the pass rate falls with compute over the fitted models ({slope:+.3g} "
                "per decade), but the law -E[ln p] = alpha*C^(-k) only rises toward 1: the "
                "forecast cannot follow these data. Check the models' computes and that the "
                "table holds pass rates or passes (higher is better), not failure rates."
            )
    return out


def pass_target_warnings(
    fit_data: PassCounts | PassAggregate,
    targets: np.ndarray,
    *,
    allow_backcast: bool = False,
    buckets: Buckets | None = None,
    priors: PassPriors | None = None,
) -> list[str]:
    """:func:`bayescale.forecast.target_warnings` of a pass table (fitted models).

    With ``buckets``, also :func:`bayescale.buckets.held_out_reference_warnings`; ``priors``
    (default :class:`~bayescale.priors.PassPriors`) names the law discrepancy's scale.
    """
    s = (priors or PassPriors()).discrepancy_exponent_sd
    rests_on = (
        "the fitted lines ln(-ln p) = level - k ln C, the model-to-model scatter and the "
        f"law-discrepancy prior (PassPriors.discrepancy_exponent_sd = {s:g})"
        if s > 0
        else "the fitted lines ln(-ln p) = level - k ln C and the model-to-model scatter "
        "(the law's form is assumed; this fit has no law-discrepancy term)"
    )
    models = fit_data.models
    units = log_units_warning(models.compute[models.fitted], fit_data.columns.compute)
    return (
        units
        + falling_pass_warnings(fit_data)
        + held_out_reference_warnings(models, buckets)
        + target_warnings(
            targets,
            _fitted_computes(fit_data),
            rests_on=rests_on,
            allow_backcast=allow_backcast,
            unit="model",
            label="bucket",
        )
    )


def _fitted_computes(fit_data: PassCounts | PassAggregate) -> dict[str, np.ndarray]:
    """The fitted models' computes, per bucket when an aggregate table's buckets differ.

    An aggregate table's buckets (benchmarks, families) have their own ranges, and the law
    discrepancy starts at each bucket's own largest model (:func:`largest_fitted`): a target
    inside one bucket's range can be far beyond another's.
    """
    models = fit_data.models
    everything = {"": models.compute[models.fitted]}
    if not isinstance(fit_data, PassAggregate):
        return everything
    has = np.isfinite(fit_data.pass_rate) & models.fitted[:, None]
    per_bucket = {
        bucket: models.compute[has[:, b]]
        for b, bucket in enumerate(fit_data.buckets)
        if has[:, b].any()
    }
    ranges = {(float(c.min()), float(c.max())) for c in per_bucket.values()}
    return per_bucket if len(ranges) > 1 else everything


def forecast_pass(
    fit: PassFit,
    targets: float | list[float] | np.ndarray,
    interval: float = 0.9,
    k: int | None = None,
    *,
    allow_backcast: bool = False,
    warn: bool = True,
) -> PassForecast:
    """Forecast a new model's pass rates at each target compute.

    Parameters
    ----------
    fit
        A pass-rate fit (:func:`bayescale.pass_fit.fit_pass`).
    targets
        Target compute(s) in FLOPs.
    interval
        Central predictive interval probability.
    k
        Also forecast pass@k.
    allow_backcast
        Accept targets below the smallest fitted model (refused otherwise).
    warn
        Log the target warnings (kept in :attr:`PassForecast.warnings` either way).

    Returns
    -------
    PassForecast
        Draws of a new model's pass rates (overall and per bucket) at each target;
        ``overall()`` and ``buckets()`` give the tables.
    """
    if k is not None and k < 1:
        raise InputError(f"--k must be >= 1, got {k}.")
    targets = check_targets(targets)
    warnings = pass_target_warnings(
        fit.data, targets, allow_backcast=allow_backcast, buckets=fit.buckets, priors=fit.priors
    )
    return PassForecast(
        draws=pass_draws(fit, targets, k=k),
        interval=check_interval(interval),
        n_problems=bucket_sizes(fit),
        pooled=pooled_description(fit),
        warnings=logged(warnings, warn),
    )


def observed_statistics(fit: PassFit) -> pd.DataFrame:
    """Observed mean pass@1 and per-bucket mean -ln p̂ of every model (fitted and held out)."""
    rows = []
    labels = reported_buckets(fit)
    models = fit.data.models
    for m, name in enumerate(models.names):
        row: dict[str, object] = {
            "model": name,
            "compute": float(models.compute[m]),
            "held_out": bool(models.held_out[m]),
        }
        if isinstance(fit.data, PassAggregate):
            rates = fit.data.pass_rate[m]
            w = _weights(fit)
            ok = np.isfinite(rates)
            row["pass_rate"] = float(np.average(rates[ok], weights=w[ok])) if ok.any() else np.nan
            for b, label in enumerate(labels):
                row[f"neg_log_pass[{label}]"] = float(-np.log(rates[b]))
                row[f"pass_rate[{label}]"] = float(rates[b])
        else:
            assert fit.buckets is not None
            kept = fit.buckets.kept
            n = fit.data.n[m, kept]
            k = fit.data.k[m, kept]
            seen = n > 0
            row["pass_rate"] = float((k[seen] / n[seen]).mean()) if seen.any() else np.nan
            phat = (k + 0.5) / (n + 1)
            for b, label in enumerate(labels):
                sel = (fit.buckets.index == b) & seen
                row[f"neg_log_pass[{label}]"] = (
                    float(-np.log(phat[sel]).mean()) if sel.any() else np.nan
                )
                row[f"pass_rate[{label}]"] = (
                    float((k[sel] / n[sel]).mean()) if sel.any() else np.nan
                )
                row[f"unsolved[{label}]"] = int((k[sel] == 0).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def held_out_model_draws(fit: PassFit, bucket_rates: bool = False) -> list[dict[str, object]]:
    """Predictive draws of each held-out model's observed statistics.

    With ``bucket_rates`` also each bucket's mean pass@1 (``pass_rate[bucket]``).

    Returns
    -------
    list of dict
        One entry per (held-out model, quantity) with a finite observed value: ``model``,
        ``compute``, ``quantity`` (``pass_rate`` or ``neg_log_pass[bucket]``), ``observed``
        and ``draws`` (shape ``(sample,)``). Per-problem counts are simulated with the held-out
        model's own ``n``; from the fit's ``pass.held_out`` stream (:mod:`bayescale.seeds`).
    """
    models = fit.data.models
    held = np.flatnonzero(models.held_out)
    if held.size == 0:
        return []
    observed = observed_statistics(fit).set_index("model")
    labels = reported_buckets(fit)
    rng = forecast_stream(fit, "pass.held_out")
    stretch = discrepancy_stretch(fit)
    out: list[dict[str, object]] = []
    for m in held:
        name = models.names[m]
        x = np.array([np.log(models.compute[m]) - fit.log_pivot])
        shift = line_shift(fit, rng)
        eta = _eta(fit, x, new_model_deviation(fit, rng), shift)
        # -ln p straight from eta: -log(exp(-exp(eta))) underflows to inf for hard problems
        neg_log_p = np.exp(_discrepancy(fit, eta, x, shift, stretch)[:, 0, :])
        p = np.exp(-neg_log_p)
        if isinstance(fit.data, PassAggregate):
            rates = fit.data.pass_rate[m]
            ok = np.isfinite(rates)
            stats = {"pass_rate": np.average(p[:, ok], axis=1, weights=_weights(fit)[ok])}
            for b, label in enumerate(labels):
                stats[f"neg_log_pass[{label}]"] = neg_log_p[:, b]
                if bucket_rates:
                    stats[f"pass_rate[{label}]"] = p[:, b]
        else:
            assert fit.buckets is not None
            kept = fit.buckets.kept
            n = fit.data.n[m, kept]
            seen = n > 0
            k_sim = rng.binomial(n[None, :], p)
            stats = {"pass_rate": (k_sim[:, seen] / n[seen]).mean(axis=1)}
            phat = (k_sim + 0.5) / (n + 1)
            for b, label in enumerate(labels):
                sel = (fit.buckets.index == b) & seen
                stats[f"neg_log_pass[{label}]"] = -np.log(phat[:, sel]).mean(axis=1)
                if bucket_rates and sel.any():
                    stats[f"pass_rate[{label}]"] = (k_sim[:, sel] / n[sel]).mean(axis=1)
        for quantity, draws in stats.items():
            obs = float(observed.at[name, quantity])  # type: ignore[arg-type]
            if np.isfinite(obs):
                out.append(
                    {
                        "model": name,
                        "compute": float(models.compute[m]),
                        "quantity": quantity,
                        "observed": obs,
                        "draws": draws,
                    }
                )
    return out


def _one_bucket_is_all(fit: PassFit) -> bool:
    """Whether the one reported bucket holds every pooled problem (its pass@1 is the overall)."""
    if isinstance(fit.data, PassAggregate):
        return len(fit.data.buckets) == 1
    assert fit.buckets is not None
    return len(fit.buckets.labels) == 1 and sum(fit.buckets.sizes()) == len(fit.buckets.kept)


def score_held_out_models(fit: PassFit, interval: float = 0.9) -> pd.DataFrame:
    """Score each held-out model's observed statistics against their predictive intervals.

    Returns
    -------
    pandas.DataFrame
        One row per (held-out model, quantity) with observed, median, lower, upper, covered
        and the relative error of the median. Quantities: ``pass_rate`` (the overall mean
        pass@1), ``pass_rate[bucket]`` and ``neg_log_pass[bucket]`` for each reported bucket
        (:func:`held_out_model_draws`; no ``pass_rate[bucket]`` for a single bucket holding
        every problem, whose pass@1 is ``pass_rate``); the pass-rate rows come first.
    """
    columns = ["model", "compute", "quantity", *SCORE_COLUMNS]
    rows = []
    entries = held_out_model_draws(fit, bucket_rates=not _one_bucket_is_all(fit))
    if pooled_description(fit) is None:  # no overall rate of different benchmarks
        entries = [e for e in entries if e["quantity"] != "pass_rate"]
    entries.sort(key=lambda e: str(e["quantity"]).startswith("neg_log_pass"))
    for entry in entries:
        obs = float(entry["observed"])  # type: ignore[arg-type]
        s = summarise(np.asarray(entry["draws"]), interval)
        rows.append(
            {
                "model": entry["model"],
                "compute": entry["compute"],
                "quantity": entry["quantity"],
                "observed": obs,
                "median": float(s["median"]),
                "lower": float(s["lower"]),
                "upper": float(s["upper"]),
                "covered": bool(s["lower"] <= obs <= s["upper"]),
                "rel_error": float(s["median"] / obs - 1),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def pass_parameter_table(fit: PassFit, interval: float = 0.9) -> pd.DataFrame:
    r"""The report's law per bucket in user units: :math:`-E[\ln p] = \alpha C^{-k}`.

    ``alpha`` is the bucket mean of :math:`e^{\theta_j}` times :math:`C_0^{k}` (C in FLOPs).
    Both include the line uncertainty of :func:`line_shift`, drawn from the fit's
    ``pass.parameters`` stream.
    """
    intercept, _, unit_bucket = _lines(fit)
    shift0, shift1 = line_shift(fit, forecast_stream(fit, "pass.parameters"))
    # eta = theta - k x + shift0 + shift1 x: the shifted line has slope k - shift1
    exponent = fit.draws("exponent") - shift1[:, None]
    intercept = intercept + shift0[:, None]
    rows = []
    for b, label in enumerate(reported_buckets(fit)):
        sel = unit_bucket == b
        log_alpha = np.log(np.exp(intercept[:, sel]).mean(axis=1)) + exponent[:, b] * fit.log_pivot
        for name, values in (("log10_alpha", log_alpha / np.log(10)), ("k", exponent[:, b])):
            s = summarise(values, interval)
            rows.append({"bucket": label, "parameter": name, **{k: float(v) for k, v in s.items()}})
    return pd.DataFrame(rows)

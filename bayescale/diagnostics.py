"""The diagnostics gate: no forecast leaves the pipeline without passing it.

Thresholds (Vehtari et al. 2021, "Rank-normalization, folding, and localization"):

- R-hat (rank-normalised, split) <= 1.01 on every posterior quantity;
- bulk and tail ESS >= 100 per chain (400 for the default 4 chains); tail ESS at the
  11%/89% quantiles (:data:`TAIL_QUANTILES`, ArviZ's default; Vehtari et al. use 5%/95%,
  docs/convergence.md);
- zero divergent transitions.

A posterior variable whose columns all repeat another's (the pass model's ``problem_exponent``
is ``exponent`` per problem when problems share their bucket's exponent) carries the attribute
:data:`COPY_ATTR` and is skipped: its R-hat and ESS are the other's.

R-hat and ESS are computed here with NumPy (:func:`rank_rhat`, :func:`bulk_ess`,
:func:`tail_ess`), every column of every variable at once, rather than by ``arviz_stats``,
whose import alone (SciPy's statistics) cost a new process 0.7-1.4 s; a test checks them
against ``arviz_stats`` on chains that mix well, badly, and not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from bayescale.sampler_settings import MIN_DRAWS

RHAT_MAX = 1.01
ESS_PER_CHAIN = 100
MAX_DIVERGENCES = 0
#: Tail ESS is the smaller ESS of the indicators of these quantiles. ArviZ 1.x's default
#: (its 89% interval, where Vehtari et al. use 5% and 95%); kept fixed here, so that a
#: user's ArviZ settings cannot move the gate.
TAIL_QUANTILES = (0.11, 0.89)
#: Attribute of a posterior variable whose columns are all columns of the variable it names.
COPY_ATTR = "bayescale_copy_of"


@dataclass(frozen=True)
class Attempt:
    """One step of a fit's convergence ladder (``diagnostics.attempts`` in docs/formats.md).

    Attributes
    ----------
    what
        What was run, e.g. ``"1000 more draws per chain from the adapted state"``.
    why
        What the step answered: the failed checks of the step before (``"first fit"`` for
        the first).
    seconds
        Its wall time, compilation included.
    """

    what: str
    why: str
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """The JSON form."""
        return {"what": self.what, "why": self.why, "seconds": round(float(self.seconds), 2)}


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of one fit.

    Attributes
    ----------
    r_hat_max, ess_bulk_min, ess_tail_min
        Worst values over every scalar of the posterior.
    divergences
        Divergent transitions after warm-up, all chains.
    worst
        Name of the posterior variable with the largest R-hat.
    ess_threshold
        The ESS that was required (100 per chain).
    worst_ess
        Name of the posterior variable with the smallest bulk or tail ESS.
    attempts
        The steps of the convergence ladder that made the fit (:mod:`bayescale.ladder`), in order.
    """

    r_hat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    worst: str
    ess_threshold: float
    chains: int
    draws: int
    worst_ess: str = ""
    attempts: tuple[Attempt, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every check passes."""
        return not self.problems()

    def problems(self) -> list[str]:
        """Describe each failed check in a sentence; empty when converged."""
        out = []
        if not self.r_hat_max <= RHAT_MAX:
            out.append(f"R-hat {self.r_hat_max:.3f} > {RHAT_MAX} (worst: {self.worst})")
        where = f" (worst: {self.worst_ess})" if self.worst_ess else ""
        if not self.ess_bulk_min >= self.ess_threshold:
            out.append(f"bulk ESS {self.ess_bulk_min:.0f} < {self.ess_threshold:.0f}{where}")
        if not self.ess_tail_min >= self.ess_threshold:
            out.append(f"tail ESS {self.ess_tail_min:.0f} < {self.ess_threshold:.0f}{where}")
        if self.divergences > MAX_DIVERGENCES:
            out.append(f"{self.divergences} divergent transitions")
        return out

    def to_dict(self) -> dict[str, object]:
        """The ``diagnostics`` block of the result document (docs/formats.md)."""
        return {
            "r_hat_max": round(float(self.r_hat_max), 4),
            "ess_bulk_min": round(float(self.ess_bulk_min), 1),
            "ess_tail_min": round(float(self.ess_tail_min), 1),
            "divergences": int(self.divergences),
            "ok": self.ok,
            "attempts": [attempt.to_dict() for attempt in self.attempts],
        }


# ------------------------------------------------------------------------ R-hat and ESS
# Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021), "Rank-normalization, folding, and
# localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 16(2).
# Every function takes draws as (chains, draws, columns) and returns one value per column.


def _split(x: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as two chains (an odd middle draw is dropped)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of each row of ``x`` (k, n) among its n values, ties sharing their mean."""
    n = x.shape[1]
    order = np.argsort(x, axis=1)
    ordered = np.take_along_axis(x, order, axis=1)
    position = np.broadcast_to(np.arange(n), x.shape)
    starts = np.ones(x.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # a new value begins a run of ties
    ends = np.ones(x.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(x.shape)
    np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=1)
    return ranks


def _normal_scores(x: np.ndarray) -> np.ndarray:
    """Rank-normalised draws: Blom's normal scores of the ranks over all chains and draws."""
    from scipy.special import ndtri

    chains, draws, k = x.shape
    rows = np.ascontiguousarray(x.reshape(chains * draws, k).T)  # one row per column
    scores = ndtri((_average_ranks(rows) - 0.375) / (chains * draws + 0.25))
    return scores.T.reshape(x.shape)


def _rhat(x: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of each column over the chains of ``x``."""
    draws = x.shape[1]
    within = x.var(axis=1, ddof=1).mean(axis=0)
    between = draws * x.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant column: NaN
        return np.sqrt((between / within + draws - 1) / draws)


def rank_rhat(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat: the larger of the bulk's and the folded tails'."""
    halves = _split(np.asarray(x, dtype=float))
    folded = np.abs(halves - np.median(halves, axis=(0, 1)))
    return np.maximum(_rhat(_normal_scores(halves)), _rhat(_normal_scores(folded)))


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance of each chain and column at every lag (biased: divided by the draws)."""
    draws = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    size = 1 << (2 * draws - 1).bit_length()  # zero padding: no wrap-around
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    return np.fft.irfft(spectrum * np.conjugate(spectrum), n=size, axis=1)[:, :draws] / draws


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of each column of ``x`` (chains, draws, k), by Geyer's initial monotone sequence.

    Autocorrelations are combined over chains as Stan does; pairs of consecutive lags are
    summed while their sum stays positive, and made non-increasing. A constant column has
    the ESS of every draw; a non-finite one, NaN.
    """
    chains, draws, k = x.shape
    total = chains * draws
    acov = _autocovariance(x).mean(axis=0)  # (draws, k)
    within = acov[0] * draws / (draws - 1.0)
    pooled = within * (draws - 1.0) / draws
    if chains > 1:
        pooled = pooled + x.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (within - acov) / pooled
    out = np.empty(k)
    for j in range(k):
        out[j] = _geyer(rho[:, j], total)
    constant = np.ptp(x, axis=(0, 1)) < np.finfo(float).resolution
    out[constant] = total
    return out


def _geyer(rho: np.ndarray, total: int) -> float:
    """ESS from one column's autocorrelations ``rho`` (lag 0 taken as 1)."""
    n = rho.size
    kept = np.zeros(n)
    kept[0], kept[1] = 1.0, rho[1]
    pair_even, pair_odd = 1.0, rho[1]
    lag = 1
    while lag < n - 3 and pair_even + pair_odd > 0.0:  # initial positive sequence
        pair_even, pair_odd = rho[lag + 1], rho[lag + 2]
        if pair_even + pair_odd >= 0.0:
            kept[lag + 1], kept[lag + 2] = pair_even, pair_odd
        lag += 2
    end = lag - 2
    if pair_even > 0.0:
        kept[end + 1] = pair_even
    for lag in range(1, end - 1, 2):  # initial monotone sequence
        previous = kept[lag - 1] + kept[lag]
        if kept[lag + 1] + kept[lag + 2] > previous:
            kept[lag + 1] = kept[lag + 2] = previous / 2.0
    tau = -1.0 + 2.0 * kept[: end + 1].sum() + kept[end + 1 : end + 2].sum()
    tau = max(tau, 1.0 / np.log10(total))
    return float("nan") if np.isnan(kept).any() else total / tau


def bulk_ess(x: np.ndarray) -> np.ndarray:
    """Bulk ESS: the ESS of the rank-normalised split chains."""
    return _ess(_normal_scores(_split(np.asarray(x, dtype=float))))


def tail_ess(x: np.ndarray, quantiles: tuple[float, float] = TAIL_QUANTILES) -> np.ndarray:
    """Tail ESS: the smaller ESS of the indicators of the two ``quantiles`` (split chains)."""
    x = np.asarray(x, dtype=float)
    chains, draws, k = x.shape
    flat = x.reshape(chains * draws, k)
    values = [_ess(_split((x <= np.quantile(flat, q, axis=0)).astype(float))) for q in quantiles]
    return np.minimum(*values)


def _columns(posterior: xr.Dataset) -> dict[str, np.ndarray]:
    """Each variable's draws as (chain, draw, columns)."""
    out = {}
    for name, da in posterior.data_vars.items():
        values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
        if values.size:
            out[str(name)] = values.reshape(values.shape[0], values.shape[1], -1)
    return out


def _worst_of(per_variable: dict[str, np.ndarray], pick: str) -> tuple[float, str]:
    """The largest (``max``) or smallest value over every column, and its variable."""
    values = {
        name: float(np.nanmax(v) if pick == "max" else np.nanmin(v))
        for name, v in per_variable.items()
        if v.size
    }
    name = (max if pick == "max" else min)(values, key=lambda k: values[k])
    return values[name], name


def _is_copy(posterior: xr.Dataset, name: str) -> bool:
    """Marked as a copy of a variable that is itself there and checked."""
    original = posterior[name].attrs.get(COPY_ATTR)
    return (
        original is not None
        and original in posterior.data_vars
        and COPY_ATTR not in posterior[original].attrs
    )


def diagnose(
    idata: xr.DataTree, var_names: list[str] | None = None, ess_chains: int | None = None
) -> Diagnostics:
    """Compute the convergence summary of a sampled ``DataTree``.

    Parameters
    ----------
    idata
        Result of :func:`bayescale.sampling.sample`, with ``posterior`` and ``sample_stats``.
    var_names
        Posterior variables to check; by default all but those marked with :data:`COPY_ATTR`.
    ess_chains
        The chains the ESS threshold is counted for (:data:`ESS_PER_CHAIN` each); by default
        the posterior's. The convergence ladder passes the chains first asked for, so that
        adding chains does not raise the bar it has to clear.

    Returns
    -------
    Diagnostics
    """
    posterior = idata["posterior"].to_dataset()
    if var_names is None:
        var_names = [str(n) for n in posterior.data_vars if not _is_copy(posterior, str(n))]
    posterior = posterior[var_names]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    if chains < 2 or draws < MIN_DRAWS:
        rhat_max, worst = float("nan"), "(too few draws)"
        bulk = tail = float(chains * draws)
        worst_ess = worst
    else:
        columns = _columns(posterior)
        rhat_max, worst = _worst_of({n: rank_rhat(v) for n, v in columns.items()}, "max")
        bulk, worst_bulk = _worst_of({n: bulk_ess(v) for n, v in columns.items()}, "min")
        tail, worst_tail = _worst_of({n: tail_ess(v) for n, v in columns.items()}, "min")
        worst_ess = worst_bulk if bulk <= tail else worst_tail
    divergences = 0
    if "sample_stats" in idata.children and "diverging" in idata["sample_stats"].data_vars:
        divergences = int(np.asarray(idata["sample_stats"].to_dataset()["diverging"]).sum())
    return Diagnostics(
        r_hat_max=rhat_max,
        ess_bulk_min=bulk,
        ess_tail_min=tail,
        divergences=divergences,
        worst=worst,
        ess_threshold=float(ESS_PER_CHAIN * (ess_chains or chains)),
        chains=int(chains),
        draws=int(draws),
        worst_ess=worst_ess,
    )

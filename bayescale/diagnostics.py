"""The diagnostics gate: no forecast leaves the pipeline without passing it.

Thresholds (Vehtari et al. 2021, "Rank-normalization, folding, and localization"):

- R-hat (rank-normalised, split) <= 1.01 on every posterior quantity;
- bulk and tail ESS >= 100 per chain (400 for the default 4 chains);
- zero divergent transitions.

A posterior variable whose columns all repeat another's (the pass model's ``problem_exponent``
is ``exponent`` per problem when problems share their bucket's exponent) carries the attribute
:data:`COPY_ATTR` and is skipped: its R-hat and ESS are the other's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

RHAT_MAX = 1.01
ESS_PER_CHAIN = 100
MAX_DIVERGENCES = 0
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
        The steps of the convergence ladder that made the fit (:mod:`bayescale.fit`), in order.
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


def _worst(ds: xr.Dataset, pick: str) -> tuple[float, str]:
    values = {
        str(name): float(np.nanmax(da.values) if pick == "max" else np.nanmin(da.values))
        for name, da in ds.data_vars.items()
        if da.size
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
    import arviz_stats

    posterior = idata["posterior"].to_dataset()
    if var_names is None:
        var_names = [str(n) for n in posterior.data_vars if not _is_copy(posterior, str(n))]
    posterior = posterior[var_names]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    if chains < 2 or draws < 4:
        rhat_max, worst = float("nan"), "(too few draws)"
        bulk = tail = float(chains * draws)
        worst_ess = worst
    else:
        rhat_max, worst = _worst(arviz_stats.rhat(posterior), "max")
        bulk, worst_bulk = _worst(arviz_stats.ess(posterior, method="bulk"), "min")
        tail, worst_tail = _worst(arviz_stats.ess(posterior, method="tail"), "min")
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

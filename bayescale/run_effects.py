r"""Runs shared by several groups: which rows are one run, and the run effect's draws.

With ``LossPriors(shared_runs=True)`` the loss model adds one effect per run,
:math:`\ln L_{r,g} = \ln L_g(C_r) + \delta_r + \varepsilon_{r,g}`, :math:`\delta_r = \tau z_r`,
shared by every group scored on run *r* (eval sets of one ladder). A run is identified:

- by its **name**, when some name appears in two or more groups among the fitted rows (a
  long table of eval sets melted from a wide one keeps the run's name in every row: reruns at
  one compute stay two runs); a name repeated only by held-out rows does not count;
- else by its **compute** (``np.round(log10(compute), 6)``, the key of
  :func:`bayescale.forecast.shared_run_warnings`): rows of different groups at one compute
  are one run, and so are rows of one group at one compute.

Only runs with rows in two or more groups inform :math:`\tau`; a table with none is refused.
NumPy only: the model (:mod:`bayescale.loss_model`) and the forecasts both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bayescale.data import LossData
from bayescale.errors import InputError


@dataclass(frozen=True)
class Runs:
    """The runs of a table's fitted rows.

    Attributes
    ----------
    by
        ``"name"`` or ``"compute"``: what identifies a run (the module's rule).
    labels
        The runs, in order of first appearance among the fitted rows: the ``shared_run`` dim.
    index
        Each fitted row's run, a position in ``labels``.
    shared
        How many runs have rows in two or more groups.
    why
        Why the rule applied, e.g. ``"'r0' appears in web and code"``.
    """

    by: Literal["name", "compute"]
    labels: tuple[str, ...]
    index: np.ndarray
    shared: int
    why: str = ""


def _first_shared(keys: np.ndarray, data: LossData) -> tuple[str, list[str]] | None:
    """The first fitted key scored in two or more groups, with those groups, else ``None``."""
    groups_of: dict[str, list[str]] = {}
    names = [str(g) for g in data.groups]
    fitted = data.fitted
    for k, g in zip(keys[fitted].tolist(), data.group_index[fitted].tolist(), strict=True):
        seen = groups_of.setdefault(str(k), [])
        if names[g] not in seen:
            seen.append(names[g])
    return next(((k, gs) for k, gs in groups_of.items() if len(gs) > 1), None)


def _groups_text(groups: list[str]) -> str:
    shown = groups if len(groups) <= 3 else [*groups[:2], f"{len(groups) - 2} more groups"]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _rule(data: LossData) -> tuple[np.ndarray, Literal["name", "compute"], str]:
    """Every row's run key, the rule, and why it applied (decided on the fitted rows)."""
    names = np.asarray(data.name, dtype=str).astype(object)
    by_name = _first_shared(names, data)
    if by_name is not None:
        name, groups = by_name
        _check_one_compute_a_name(data, names.astype(str), np.asarray(data.group, dtype=str))
        return names, "name", f"{name!r} appears in {_groups_text(groups)}"
    keys = np.round(np.log10(data.compute), 6)
    computes = np.array([f"compute {10**k:.7g}" for k in keys], dtype=object)
    by_compute = _first_shared(computes, data)
    why = "no run name appears in two groups among the fitted rows"
    if by_compute is not None:
        key, groups = by_compute
        why += f"; {key} is in {_groups_text(groups)}"
    return computes, "compute", why


def run_keys(data: LossData) -> tuple[np.ndarray, Literal["name", "compute"]]:
    """Every row's run (fitted and held out), and what identifies it (the module's rule).

    The rule is decided on the fitted rows: a name repeated only among held-out rows would
    match runs by name and leave no fitted run shared.
    """
    keys, by, _ = _rule(data)
    return keys, by


#: Largest spread of one run name's computes (decades, about 1%) taken as rounding: a run
#: has one compute, so rows of one name further apart are not one run.
NAME_COMPUTE_TOLERANCE = 0.005


def _check_one_compute_a_name(data: LossData, names: np.ndarray, group: np.ndarray) -> None:
    """Refuse a run name whose rows lie at different computes, when runs are matched by name.

    Rows of one name are one run, which has one compute: a name at 1e18 in one group and
    1e21 in another (names reused by accident, checkpoints of one run, blank names) would
    otherwise be fitted as one run effect without a word.
    """
    log_c = np.log10(np.asarray(data.compute, dtype=float))
    for name in dict.fromkeys(names.tolist()):
        rows = np.flatnonzero(names == name)
        low, high = rows[np.argmin(log_c[rows])], rows[np.argmax(log_c[rows])]
        if log_c[high] - log_c[low] <= NAME_COMPUTE_TOLERANCE:
            continue
        blank = name.strip() in ("", "nan", "None")
        label = "the rows without a run name" if blank else f"the rows named '{name}'"
        fix = (
            "Fill in the names, or drop the name column to match runs by compute"
            if blank
            else "Give every run its own name (reruns and checkpoints too)"
        )
        raise InputError(
            f"{data.source}: --shared-runs matches runs by name here (a name repeats across "
            f"groups), and rows of one name are one run, which has one compute; but {label} "
            f"lie at {data.compute[low]:.3g} FLOPs ({group[low]}) and "
            f"{data.compute[high]:.3g} FLOPs ({group[high]}). {fix}, or fit without "
            "--shared-runs."
        )


def fitted_runs(data: LossData) -> Runs:
    """The runs of the fitted rows (:class:`Runs`); no check that any is shared."""
    keys, by, why = _rule(data)
    fitted = keys[data.fitted]
    labels, index = np.unique(fitted, return_index=True)
    ordered = tuple(str(v) for v in labels[np.argsort(index)])
    position = {label: i for i, label in enumerate(ordered)}
    run = np.array([position[str(k)] for k in fitted], dtype=np.int64)
    group = data.group_index[data.fitted]
    groups: list[set[int]] = [set() for _ in ordered]
    for r, g in zip(run.tolist(), group.tolist(), strict=True):
        groups[r].add(g)
    return Runs(by, ordered, run, sum(len(gs) > 1 for gs in groups), why)


def shared_runs(data: LossData) -> Runs:
    """:func:`fitted_runs`, refused when no run is scored in two or more groups."""
    if len(data.groups) < 2:
        raise InputError(
            f"{data.source}: --shared-runs adds an effect per run shared by the groups scored on "
            "it (eval sets of the same runs), but the table has one group: a run effect needs "
            "two or more groups. Fit without --shared-runs."
        )
    runs = fitted_runs(data)
    if runs.shared == 0:
        raise InputError(
            f"{data.source}: --shared-runs adds an effect per run shared by the groups scored on "
            "it (eval sets of the same runs), but no run name appears in two groups and no "
            "compute is shared by two groups among the fitted rows, so nothing informs it. Give "
            "the eval sets of one run the same name (a 'name' column, or --name-col) or the "
            "same compute, or fit without --shared-runs."
        )
    return runs


def run_effects_of(
    fit_runs: Runs, keys: np.ndarray, effects: np.ndarray, tau: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Run effects of rows with run ``keys``, per posterior draw: shape ``(draw, row)``.

    A row of a fitted run takes that run's posterior draws (``effects``, ``(draw, run)``);
    any other row is a new run, ``tau * N(0, 1)`` from ``rng``, one per distinct key.
    """
    position = {label: i for i, label in enumerate(fit_runs.labels)}
    out = np.empty((tau.shape[0], keys.size))
    new = sorted({str(k) for k in keys} - position.keys())
    fresh = {k: tau * rng.standard_normal(tau.shape[0]) for k in new}
    for j, k in enumerate(keys.tolist()):
        out[:, j] = effects[:, position[str(k)]] if str(k) in position else fresh[str(k)]
    return out


def shared_runs_document(fit: object, interval: float = 0.9) -> dict[str, Any]:
    """The result document's ``shared_runs`` entry of a loss fit with the run effect, else ``{}``.

    How runs were identified (``by``) and why (``why``), how many the fit has and how many of
    them two or more groups share, and the posterior median and central ``interval`` of
    ``tau`` (the run effect's sd) and ``sigma`` (each row's own scatter), on ln loss.
    """
    priors = getattr(fit, "priors", None)
    if not getattr(priors, "shared_runs", False):
        return {}
    runs = fitted_runs(fit.data)  # type: ignore[attr-defined]
    tail = (1.0 - interval) / 2

    def spread(name: str) -> dict[str, float]:
        draws = fit.draws(name)  # type: ignore[attr-defined]
        low, mid, high = np.quantile(draws, [tail, 0.5, 1.0 - tail])
        return {"median": float(mid), "lower": float(low), "upper": float(high)}

    return {
        "shared_runs": {
            "by": runs.by,
            "why": runs.why,
            "runs": len(runs.labels),
            "shared": runs.shared,
            "tau": spread("tau_run"),
            "sigma": spread("sigma"),
        }
    }

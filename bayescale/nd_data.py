r"""The L(N, D) law's data half: the runs table, the backtest split and the priors.

:func:`load_nd_runs` → :class:`NDData`, :func:`nd_split`, :class:`NDPriors`; re-exported by
:mod:`bayescale.nd`.

Apart from :mod:`bayescale.nd` so that the model (:mod:`bayescale.nd_model`) can name these
types without importing the module that fits it. Inputs follow the loss table of
``docs/formats.md``: one row per finished run with ``params`` (N), ``tokens`` (D), ``loss``
and optional ``group`` and ``compute`` columns; compute is ``6·N·D`` unless a compute column
is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.data import (
    COMPUTE_RANGE,
    LOSS_RANGE,
    GroupedRuns,
    check_range,
    fit_bound,
    held_out_mask,
    numeric_column,
    read_group_labels,
    read_table,
    refuse_shared_columns,
    require_column,
    run_names,
)
from bayescale.display import Summarised
from bayescale.errors import InputError
from bayescale.priors import (
    Likelihood,
    ScatterPrior,
    require_discrepancy_sd,
    require_likelihood,
    require_positive,
    require_scatter_prior,
)
from bayescale.selection import group_columns, select_rows

#: Distinct (N, D) pairs a group needs: the law has five parameters (E, A, alpha, B, beta).
MIN_RUNS_PER_GROUP = 5
#: Distinct N values and distinct D values a group needs: each exponent needs a direction.
MIN_DISTINCT = 2
#: FLOPs per parameter per token when the table has no compute column (Kaplan et al. 2020).
FLOPS_PER_PARAM_TOKEN = 6.0
#: Median of the L(N, D) scatter prior: between the law's residual sd on the OLMo-2 ladder
#: (0.52%-1.5% per eval set) and on the Chinchilla, Porian and Gadre tables (1.7%-2.9%)
#: (benchmarks/scatter_real.py, ``nd``; the evidence is in docs/convergence.md).
ND_SCATTER_PRIOR_MEDIAN = 0.01
#: Additive law discrepancy: sd of ln L per e-fold beyond the largest fitted N or D. Off by
#: default: leave-one-table-out on OLMo-2, Gadre, Porian and Epoch's Chinchilla chose 0 by the
#: interval score (docs/nd.md, "The additive law discrepancy").
ND_DISCREPANCY_LOG_LOSS_SD = 0.0


@dataclass(frozen=True)
class NDColumns:
    """Names of the columns of an L(N, D) table."""

    params: str = "params"
    tokens: str = "tokens"
    loss: str = "loss"
    group: str = "group"
    compute: str | None = None
    name: str = "name"


@dataclass(frozen=True, repr=False)
class NDData(GroupedRuns, Summarised):
    r"""A validated table of finished runs with their parameters and tokens.

    Attributes
    ----------
    params, tokens, loss, compute
        N, D, final loss and training compute of each run (all > 0); compute is
        ``6·N·D`` unless the table gave it.
    group, groups, name
        As in :class:`bayescale.data.LossData`.
    held_out
        True for runs above ``fit_max_compute``: shown and scored, not fitted.
    flops_per_param_token
        :math:`\kappa`, the geometric mean of ``compute / (N·D)`` over the fitted runs (6
        without a compute column): a budget ``C`` buys ``N·D = C/κ``.
    unread_compute
        Without a compute column read: the largest factor between the table's ``compute``
        column, left unread, and 6·N·D (``None`` when the table has no numeric one). Over
        :data:`UNREAD_COMPUTE_FACTOR` it is a data warning of the result
        (:func:`unread_compute_warnings`); a saved fit keeps it.
    """

    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    compute: np.ndarray
    group: np.ndarray
    groups: tuple[str, ...]
    name: np.ndarray
    held_out: np.ndarray
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN
    source: str = "<DataFrame>"
    fit_max_compute: float | None = None
    columns: NDColumns = field(default_factory=NDColumns)
    unread_compute: float | None = None

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        held = int(self.held_out.sum())
        return "NDData", [
            ("source", self.source),
            ("runs", f"{len(self.loss)} ({len(self.loss) - held} fitted, {held} held out)"),
            ("groups", ", ".join(self.groups)),
            ("params", f"{self.params.min():.3g} to {self.params.max():.3g}"),
            ("tokens", f"{self.tokens.min():.3g} to {self.tokens.max():.3g}"),
            ("compute", f"{self.compute.min():.3g} to {self.compute.max():.3g} FLOPs"),
            ("loss", f"{self.loss.min():.4g} to {self.loss.max():.4g}"),
        ]

    def to_frame(self) -> pd.DataFrame:
        """Return the runs as a DataFrame with the default column names."""
        return pd.DataFrame(
            {
                "name": self.name,
                "group": self.group,
                "params": self.params,
                "tokens": self.tokens,
                "compute": self.compute,
                "loss": self.loss,
                "held_out": self.held_out,
            }
        )


def load_nd_runs(
    source: str | Path | pd.DataFrame,
    columns: NDColumns | None = None,
    fit_max_compute: float | None = None,
    label: str | None = None,
    *,
    where: str | None = None,
    drop_missing: bool = False,
) -> NDData:
    """Read and validate a table of runs with parameters, tokens and loss.

    Parameters
    ----------
    source
        CSV or Parquet path, or a DataFrame (read strictly by :func:`bayescale.data.read_table`).
    columns
        Column names; defaults ``params``, ``tokens``, ``loss``, ``group``, ``name``, no
        compute column (compute = 6·N·D).
    fit_max_compute
        Fit only on runs with compute <= this value; the others are held out.
    label
        Name of a DataFrame source in messages.
    where, drop_missing
        Row selection before validation, as for loss runs
        (:func:`bayescale.selection.select_rows`): keep the rows ``where`` selects; drop rows
        missing a value the forecast reads instead of refusing them.

    Raises
    ------
    InputError
        On a missing column, a missing, non-numeric or non-positive value (naming the row and
        column), or a group with fewer than :data:`MIN_RUNS_PER_GROUP` distinct fitted (N, D)
        pairs or fewer than two distinct N or D values.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"params": [1e8, 1e8, 4e8, 4e8, 1e9],
    ...                      "tokens": [2e9, 8e9, 8e9, 3e10, 2e10],
    ...                      "loss": [3.4, 3.2, 3.0, 2.8, 2.8]})
    >>> float(load_nd_runs(runs).compute[0])
    1.2e+18

    Returns
    -------
    NDData
        The validated runs (frozen), with their groups and held-out rows.
    """
    columns = columns or NDColumns()
    frame, label = read_table(source, label)
    used = [columns.params, columns.tokens, columns.loss, *group_columns(columns.group)]
    used += [columns.compute] if columns.compute is not None else []
    frame = select_rows(frame, label, used, where=where, drop_missing=drop_missing)
    options = ("--params-col", "--tokens-col", "--loss-col", "--compute-col")
    quantities = (columns.params, columns.tokens, columns.loss, columns.compute)
    refuse_shared_columns(dict(zip(options, quantities, strict=True)), label)
    require_column(frame, columns.params, label, "--params-col")
    require_column(frame, columns.tokens, label, "--tokens-col")
    require_column(frame, columns.loss, label, "--loss-col")
    params = numeric_column(frame, columns.params, label)
    tokens = numeric_column(frame, columns.tokens, label)
    loss = numeric_column(frame, columns.loss, label)
    check_range(params, frame, columns.params, label, COMPUTE_RANGE, "a parameter count")
    check_range(tokens, frame, columns.tokens, label, COMPUTE_RANGE, "a token count")
    check_range(loss, frame, columns.loss, label, LOSS_RANGE, "a loss")
    unread = None
    if columns.compute is not None:
        require_column(frame, columns.compute, label, "--compute-col")
        compute = numeric_column(frame, columns.compute, label)
    else:
        compute = FLOPS_PER_PARAM_TOKEN * params * tokens
        unread = _unread_compute_factor(frame, compute, label)
    check_range(compute, frame, columns.compute or columns.params, label, COMPUTE_RANGE, "compute")

    group = read_group_labels(frame, columns.group, NDColumns.group, label)
    if columns.name != NDColumns.name:  # a renamed name column must exist
        require_column(frame, columns.name, label, "--name-col")
    name = run_names(frame, columns.name)
    fit_max_compute = fit_bound(fit_max_compute)
    held_out = held_out_mask(compute, fit_max_compute)
    groups = tuple(dict.fromkeys(group.tolist()))
    cut = f" with compute <= {fit_max_compute:.3g}" if fit_max_compute else ""
    for g in groups:
        fit = (group == g) & ~held_out
        where = f"group '{g}'" if len(groups) > 1 else "the table"
        pairs = len(set(zip(params[fit].tolist(), tokens[fit].tolist(), strict=True)))
        if pairs < MIN_RUNS_PER_GROUP:
            drop = ""
            if len(groups) > 1 and columns.group.isidentifier():  # as for L(C)'s groups
                drop = (
                    " To forecast the other groups, leave it out with "
                    f'--where "{columns.group} != {g!r}" (in a spec: [data] where).'
                )
            raise InputError(
                f"{label}: {where} has {pairs} distinct (params, tokens) pair(s){cut}; the law "
                f"L(N, D) = E + A/N^alpha + B/D^beta has 5 parameters, so each group needs runs "
                f"at >= {MIN_RUNS_PER_GROUP} different (N, D).{drop}"
            )
        for column, values in ((columns.params, params), (columns.tokens, tokens)):
            if np.unique(values[fit]).size < MIN_DISTINCT:
                other = columns.tokens if column == columns.params else columns.params
                raise InputError(
                    f"{label}: {where} has one value of '{column}'{cut}; the law needs runs at "
                    f">= {MIN_DISTINCT} different values of both N and D to see each exponent. "
                    f"A ladder that varies only '{other}' is a loss-against-compute ladder: "
                    f"add a compute column (6*N*D) and forecast it with `bayescale loss` "
                    f"(--target-compute), which needs no second axis."
                )
    kappa = flops_per_param_token(params, tokens, compute, ~held_out)
    return NDData(
        params=params,
        tokens=tokens,
        loss=loss,
        compute=compute,
        group=group,
        groups=groups,
        name=name,
        held_out=held_out,
        flops_per_param_token=kappa,
        source=label,
        fit_max_compute=fit_max_compute,
        columns=columns,
        unread_compute=unread,
    )


#: A ``compute`` column left unread that differs from 6·N·D by more than this factor is named.
UNREAD_COMPUTE_FACTOR = 2.0


def _unread_compute_factor(frame: pd.DataFrame, six_nd: np.ndarray, label: str) -> float | None:
    """How far a ``compute`` column left unread is from 6·N·D (the largest factor over rows).

    Without ``--compute-col`` compute is 6·N·D (budgets, ``--fit-max-compute``, the compute
    axis); a column that says otherwise (mixture-of-experts, another FLOP count, another
    unit) would be ignored without a word. ``None`` without a numeric ``compute`` column.
    """
    if "compute" not in frame.columns:
        return None
    try:
        given = numeric_column(frame, "compute", label)
    except InputError:
        return None
    ratio = given / six_nd
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]  # a cell <= 0 is no unit to compare
    return float(np.exp(np.max(np.abs(np.log(ratio))))) if ratio.size else None


def unread_compute_warnings(data: NDData) -> list[str]:
    """A warning when the table's ``compute`` column was not read and is far from 6·N·D."""
    factor = data.unread_compute
    if factor is None or factor <= UNREAD_COMPUTE_FACTOR:
        return []
    return [
        f"{data.source}: column 'compute' is not read: compute is 6*N*D, which differs from it "
        f"by up to {factor:.3g}x. Pass --compute-col compute (in a spec: [data.columns] "
        "compute) to use the column for budgets, --fit-max-compute and the compute axis."
    ]


def flops_per_param_token(
    params: np.ndarray, tokens: np.ndarray, compute: np.ndarray, fitted: np.ndarray
) -> float:
    """κ: the geometric mean of ``compute / (N·D)`` over the fitted runs."""
    ratio = compute[fitted] / (params[fitted] * tokens[fitted])
    return float(np.exp(np.mean(np.log(ratio))))


def nd_split(data: NDData, max_compute: float) -> NDData:
    """The backtest split: the same runs with those above ``max_compute`` held out.

    Raises
    ------
    InputError
        When a group keeps too few runs to fit (as :func:`load_nd_runs`).
    """
    frame = data.to_frame()
    cols = NDColumns(compute="compute")
    return load_nd_runs(frame, cols, fit_max_compute=max_compute, label=data.source)


# --------------------------------------------------------------------------------------------
# Priors


@dataclass(frozen=True)
class NDPriors:
    r"""Default priors of the L(N, D) model, each with its reason.

    The model (:mod:`bayescale.nd_model`) samples per group the loss :math:`\ell_g` at the
    pivot :math:`(N_0, D_0)` (the geometric centre of the fitted runs), the local log-log
    slopes along N and D there, :math:`s^N_g = f_g w_g \alpha_g` and
    :math:`s^D_g = f_g (1-w_g)\beta_g`, the reducible share :math:`f_g` and the N share
    :math:`w_g` of the reducible loss; :math:`\alpha = s^N/(fw)`, :math:`\beta = s^D/(f(1-w))`.

    ================================  ==========================================================
    quantity                          prior and reason
    ================================  ==========================================================
    :math:`\ln\ell_g`                 N(ln median loss of *g*, ``level_log_sd`` 0.5): pinned by
                                      the data; not pooled (eval sets differ in level).
    :math:`\ln s^N_g, \ln s^D_g`      centred, pooled: N(μ, τ), μ ~ N(ln ``slope_median`` 0.05,
                                      ``slope_log_sd`` 1), τ ~ LogNormal(ln 0.2, 0.5): local
                                      slopes of LLM loss are 0.03–0.1 along either axis
                                      (Chinchilla's fit gives 0.04–0.09 on its ladder).
    :math:`\mathrm{logit} f_g`        non-centred, pooled: N(0, 1.5), group sd Γ(2, 2/0.3):
                                      reducible share 0.5 a priori, 5–95% plausible.
    :math:`\mathrm{logit} w_g`        non-centred, pooled: N(0, ``share_logit_sd`` 1), group
                                      sd Γ(2, 2/0.3): N and D terms contribute alike a priori
                                      (Chinchilla's fit: w ≈ 0.5 at its ladder's centre).
    :math:`\alpha, \beta`             an extra soft log-normal factor, median
                                      ``exponent_median`` 0.35, log sd ``exponent_log_sd`` 0.5
                                      (95%: 0.13–0.93): published fits of this law give
                                      0.28–0.37 (Hoffmann et al.; Epoch's replication 0.35 /
                                      0.37; Muennighoff et al. 0.35 / 0.35). Ladders span
                                      barely one decade per axis, so the curvature that splits
                                      a slope into exponent and share is weakly seen.
    :math:`\sigma`                    one scatter on log loss shared by the groups,
                                      :math:`\sigma^2 \sim` InvGamma(``scatter_shape`` 1,
                                      β) with median σ ``scatter_median`` 0.01 (95%:
                                      0.43%-5.2%): the law's residual sd on real tables of
                                      runs, 0.52%-1.5% on the OLMo-2 ladder, 1.7%-2.9% on
                                      Chinchilla's, Porian's (Chinchilla decay) and Gadre's
                                      (docs/convergence.md). Integrated out of the normal
                                      likelihood and drawn after sampling, as for L(C)
                                      (:mod:`bayescale.scatter`), so 5-6 runs a group, which
                                      the law's 5 parameters nearly interpolate, make no
                                      funnel. ``scatter_prior="halfnormal"`` samples
                                      HalfNormal(``scatter_sd`` 0.05) instead, the prior of
                                      fits saved before.
    likelihood                        ``likelihood`` "student_t" (default): each run's log
                                      loss Student-t about the law, ``student_t_nu`` 4 degrees
                                      of freedom (fixed), :math:`\sigma` sampled with the same
                                      prior; or "normal", :math:`\sigma` integrated out. The
                                      tails let a few runs off the surface pull the fit, and
                                      the compute-optimal N*, less (docs/nd.md: Chinchilla's
                                      70B and Porian's optima; the backtests).
    law discrepancy                   beyond a group's largest fitted N (and separately D) the
                                      N term falls with exponent :math:`\alpha e^{s\zeta_N}`,
                                      the D term with :math:`\beta e^{s\zeta_D}`,
                                      :math:`\zeta_N, \zeta_D \sim N(0, 1)` independent, shared
                                      by groups, ``discrepancy_exponent_sd`` s = 0.25 as for
                                      L(C) (docs/model.md); zero within the data. 0 turns it off.
                                      And additive in ln L: :math:`s_{add}\xi_N` per e-fold
                                      beyond the largest fitted N plus :math:`s_{add}\xi_D` per
                                      e-fold beyond the largest fitted D, :math:`\xi_N, \xi_D
                                      \sim N(0, 1)` per draw, ``discrepancy_log_loss_sd``
                                      :math:`s_{add}` 0 (off): leave-one-table-out on the four
                                      real tables chose 0 (docs/nd.md). It widens losses
                                      beyond the data, not ``N*``.
    ================================  ==========================================================
    """

    level_log_sd: float = 0.5
    slope_median: float = 0.05
    slope_log_sd: float = 1.0
    slope_group_sd: float = 0.2
    reducible_logit_mean: float = 0.0
    reducible_logit_sd: float = 1.5
    reducible_group_sd: float = 0.3
    share_logit_sd: float = 1.0
    share_group_sd: float = 0.3
    exponent_median: float = 0.35
    exponent_log_sd: float = 0.5
    scatter_sd: float = 0.05
    scatter_prior: ScatterPrior = "inverse_gamma"
    scatter_median: float = ND_SCATTER_PRIOR_MEDIAN
    scatter_shape: float = 1.0
    likelihood: Likelihood = "student_t"
    student_t_nu: float = 4.0
    discrepancy_exponent_sd: float = 0.25
    discrepancy_log_loss_sd: float = ND_DISCREPANCY_LOG_LOSS_SD

    def __post_init__(self) -> None:
        """Check that every scale is a positive finite number and the likelihood is known."""
        require_discrepancy_sd(self.discrepancy_exponent_sd)
        require_discrepancy_sd(self.discrepancy_log_loss_sd, "discrepancy_log_loss_sd")
        require_positive(
            self,
            "level_log_sd",
            "slope_median",
            "slope_log_sd",
            "slope_group_sd",
            "reducible_logit_sd",
            "reducible_group_sd",
            "share_logit_sd",
            "share_group_sd",
            "exponent_median",
            "exponent_log_sd",
            "scatter_sd",
            "scatter_median",
            "scatter_shape",
            "student_t_nu",
        )
        require_scatter_prior(self.scatter_prior)
        require_likelihood(self.likelihood)

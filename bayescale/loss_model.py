r"""The hierarchical loss model as a PyMC model factory.

.. math::

    \ln L_{i} \sim \mathcal{N}\!\left(\ln L_{g[i]}(C_i),\; \sigma\right)
    \quad\text{(or Student-}t_\nu\text{)},

or, when the table gives each run's standard error :math:`s_i` (``--loss-sd-col``),
:math:`\sqrt{\sigma^2 + (s_i / L_i)^2}` in place of :math:`\sigma`;

with :math:`L_g` the pivot form of the GPT-4 report's law (:func:`bayescale.laws.loss_law_pivot`)
and the priors of :mod:`bayescale.priors`. The posterior holds the sampled parameters and, as
deterministics in the user's units, ``a``, ``b``, ``c`` per group (``L = a C^b + c``, C in
FLOPs).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayescale.data import LossData
from bayescale.draws import blocks
from bayescale.errors import InputError
from bayescale.laws import loss_law_pivot
from bayescale.priors import LossPriors
from bayescale.run_effects import fitted_runs, shared_runs
from bayescale.scatter import (
    add_scatter_from_rss,
    integrated_scatter_potential,
    sampled_scatter_likelihood,
    sampled_sigma,
)


def loss_pivot(data: LossData) -> float:
    r"""Return :math:`\ln C_0`, the mean log compute of the fitted runs."""
    return float(np.mean(np.log(data.compute[data.fitted])))


def _pooled(
    name: str,
    mean: float,
    sd: float,
    group_sd: float,
    n_groups: int,
    *,
    centred: bool,
    reparameterised: bool = False,
) -> pt.TensorVariable:
    """Partially pooled group values on an unconstrained scale.

    ``mu_<name> ~ N(mean, sd)``; with several groups either ``<name>_group[g] ~ N(mu, tau)``
    with ``tau ~ LogNormal(ln group_sd, 0.5)`` (centred, for quantities the data pin down per
    group) or ``mu + tau * z_<name>[g]`` with ``z ~ N(0, 1)`` and
    ``tau ~ Gamma(2, 2/group_sd)`` (non-centred, for quantities the data barely inform).
    ``reparameterised`` samples a centred quantity non-centred instead, ``mu + tau * z`` with
    the same log-normal ``tau``: the same model, the other geometry (the convergence ladder's
    step for groups whose few runs leave their value barely informed); for a non-centred
    quantity it samples ``<name>_group ~ N(mu, tau)`` centred instead, with the same gamma
    ``tau`` (large tables, whose many runs per group pin each group's value: non-centred, the
    posterior of ``(mu, tau, z)`` is a thin curved ridge). With one group the value is
    ``mu``.
    """
    mu = pm.Normal(f"mu_{name}", mu=mean, sigma=sd)
    if n_groups == 1:
        return pt.ones(1) * mu
    if centred and reparameterised:
        tau = pm.LogNormal(f"tau_{name}", mu=np.log(group_sd), sigma=0.5)
        z = pm.Normal(f"z_{name}", 0.0, 1.0, dims="group")
        return mu + tau * z
    if reparameterised:  # a non-centred quantity sampled centred, with its gamma tau
        tau = pm.Gamma(f"tau_{name}", alpha=2.0, beta=2.0 / group_sd)
        return pm.Normal(f"{name}_group", mu=mu, sigma=tau, dims="group")
    if centred:
        # A centred group effect funnels when tau nears zero; a log-normal prior keeps tau
        # off zero (P(tau < group_sd / 3) = 1.4%), which removed the divergences we measured.
        tau = pm.LogNormal(f"tau_{name}", mu=np.log(group_sd), sigma=0.5)
        return pm.Normal(f"{name}_group", mu=mu, sigma=tau, dims="group")
    tau = pm.Gamma(f"tau_{name}", alpha=2.0, beta=2.0 / group_sd)
    z = pm.Normal(f"z_{name}", 0.0, 1.0, dims="group")
    return mu + tau * z


#: The data containers of the loss model's batch template (the model itself has all but
#: ``run_weight``): what differs between two datasets of the same shape, and what a batched
#: fit (:mod:`bayescale.batch`) swaps per dataset.
LOSS_INPUTS = (
    "log_pivot",
    "log_compute",
    "run_group",
    "level_centre",
    "log_loss_obs",
    "run_weight",
)


#: The smallest padded run count: tables with up to this many fitted runs share one class.
RUN_CLASS_MIN = 8

#: Beyond this many fitted runs a table is large: its class is the next multiple of this
#: (:func:`run_class`), and :func:`bayescale.loss_fit.fit_loss` samples it at
#: :data:`bayescale.ladder.LARGE_TABLE_TARGET_ACCEPT` with the groups' reducible shares centred
#: (docs/performance.md, "Large tables"). Tables up to this size are fitted as before.
LARGE_TABLE_RUNS = 1024


def large_table(data: LossData) -> bool:
    """Whether ``data`` has more than :data:`LARGE_TABLE_RUNS` fitted runs."""
    return int(data.fitted.sum()) > LARGE_TABLE_RUNS


def run_class(runs: int) -> int:
    """The shape class of ``runs`` fitted runs: the padded run count of its compiled program.

    The next power of two, at least :data:`RUN_CLASS_MIN`: 8, 16, 32, ..., 1024 runs; beyond
    :data:`LARGE_TABLE_RUNS`, the next multiple of it (2048, 3072, ...: 10,000 runs pad to
    10,240, not 16,384, where a gradient costs in proportion to the rows). Tables whose
    fitted runs round up to the same count, with the same number of groups and the same
    priors, have one compiled log density (the data are its arguments), so a process, or the
    persistent compilation cache across processes, compiles it once. Padding costs at most
    twice the arithmetic of the runs, which on these sizes is small next to a NUTS step's
    fixed cost. Groups are not padded: every group has free parameters (its level, slope and
    floor), and a padded group's would be prior-only parameters, a funnel for the centred
    slopes that changes the sampler's geometry; the number of groups is part of the class.
    """
    if runs < 1:
        raise ValueError(f"a shape class needs at least one run, got {runs}")
    if runs > LARGE_TABLE_RUNS:
        return -(-runs // LARGE_TABLE_RUNS) * LARGE_TABLE_RUNS
    return max(RUN_CLASS_MIN, 1 << (runs - 1).bit_length())


def shape_class_runs(data: LossData) -> int | None:
    """``pad_runs`` of a single fit of ``data``: its :func:`run_class`, or ``None``.

    ``None`` when the table gives per-run standard errors: that model is not padded.
    """
    if data.loss_sd is not None:
        return None
    return run_class(int(data.fitted.sum()))


def loss_inputs(
    data: LossData, runs: int | None = None, *, shared: bool = False
) -> dict[str, np.ndarray]:
    r"""The data-dependent arrays of the loss model, by container name.

    Parameters
    ----------
    data
        Validated runs; only the fitted ones enter.
    runs
        Pad the per-run arrays to this many rows (weight 0, values that keep the log density
        finite), so that datasets with different numbers of fitted runs share one compiled
        program. ``None``: the fitted runs, weight 1 each.
    shared
        Add ``run_index``, each fitted row's run (:func:`bayescale.run_effects.shared_runs`,
        which refuses a table without a run shared by two groups; padding rows run 0), the
        container of the model with ``LossPriors(shared_runs=True)``.

    Returns
    -------
    dict
        ``log_pivot`` (scalar :math:`\ln C_0`), ``log_compute`` (:math:`\ln C - \ln C_0` per
        run), ``run_group`` (group index per run), ``level_centre`` (prior centre of
        ``log_level`` per group: the median log loss of its runs), ``log_loss_obs`` and,
        when padded, ``run_weight`` (1 for a run, 0 for padding): the data containers of
        ``build_loss_model(data, pad_runs=runs)``.
    """
    fit = data.fitted
    log_c0 = loss_pivot(data)
    idx = data.group_index[fit]
    log_loss = np.log(data.loss[fit])
    level_centre = np.array(
        [np.median(log_loss[idx == g]) for g in range(len(data.groups))], dtype=float
    )
    padded = pad_to(runs, log_loss.size)
    inputs = {
        "log_pivot": np.asarray(log_c0),
        "log_compute": padded(np.log(data.compute[fit]) - log_c0, 0.0),
        "level_centre": level_centre,
        **run_rows(padded, idx, log_loss, float(level_centre[0]), runs),
    }
    if shared:
        inputs["run_index"] = padded(shared_runs(data).index, 0)
    return inputs


def pad_to(runs: int | None, fitted: int) -> Callable[[np.ndarray, float], np.ndarray]:
    """``padded(values, fill)``: ``fitted`` per-run values padded with ``fill`` to ``runs`` rows.

    ``runs=None`` leaves them as they are. Shared by the loss and L(N, D) models.
    """
    pad = 0 if runs is None else runs - fitted
    if pad < 0:
        raise ValueError(f"cannot pad {fitted} fitted runs to {runs}")

    def padded(values: np.ndarray, fill: float) -> np.ndarray:
        return np.concatenate([values, np.full(pad, fill, dtype=values.dtype)])

    return padded


def run_rows(
    padded: Callable[[np.ndarray, float], np.ndarray],
    group: np.ndarray,
    log_loss: np.ndarray,
    fill: float,
    runs: int | None,
) -> dict[str, np.ndarray]:
    """The padded ``run_group`` and ``log_loss_obs`` containers, and ``run_weight`` when padded.

    Padding rows belong to group 0 and observe ``fill`` (a finite value) with weight 0.
    """
    rows = {
        "run_group": padded(group.astype(np.int64), 0),
        "log_loss_obs": padded(log_loss, fill),
    }
    if runs is not None:
        rows["run_weight"] = padded(np.ones(log_loss.size), 0.0)
    return rows


def observed_runs(
    inputs: dict[str, np.ndarray], *, padded: bool
) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """The data containers ``log_loss_obs`` and the runs' weights, in the model being built.

    Padded (:func:`run_rows` with ``runs``): ``run_weight`` as a container too; else
    ``log_loss_obs`` has dims ``run`` and every weight is 1. Shared by the loss and L(N, D)
    models.
    """
    if padded:
        return pm.Data("log_loss_obs", inputs["log_loss_obs"]), pm.Data(
            "run_weight", inputs["run_weight"]
        )
    observed = pm.Data("log_loss_obs", inputs["log_loss_obs"], dims="run")
    return observed, pt.ones(observed.shape[0])


def build_loss_model(
    data: LossData,
    priors: LossPriors | None = None,
    *,
    pad_runs: int | None = None,
    noncentred: bool = False,
    integrate_scatter: bool = True,
    centred_reducible: bool = False,
) -> pm.Model:
    """Build the hierarchical loss model for the fitted runs of ``data``.

    Parameters
    ----------
    data
        Validated runs; held-out runs are left out of the likelihood.
    priors
        Prior hyper-parameters; defaults documented in :mod:`bayescale.priors`.
    pad_runs
        Build the template of a batched fit instead (:func:`bayescale.loss_fit.fit_loss_batch`):
        the per-run data padded to this many rows, and the likelihood a ``pm.Potential``
        named ``log_loss`` that weights each run's log density by ``run_weight`` (0 for
        padding), so that every dataset with this many fitted runs or fewer has the same
        posterior as in its own model. Everything else is the same code.
    noncentred
        Sample the group slopes non-centred (``z_slope`` instead of ``slope_group``): the same
        model in the geometry that suits groups with few runs, the convergence ladder's
        alternative (:func:`bayescale.loss_fit.fit_loss`).
    integrate_scatter
        Integrate ``sigma`` out of the normal likelihood when the priors allow it (the
        default); ``False`` samples it, so that the runs have a prior predictive distribution.
    centred_reducible
        Sample the groups' reducible shares centred (``reducible_group`` on the logit scale
        instead of ``z_reducible``): the same model, the geometry of groups with many runs
        (:func:`bayescale.loss_fit.fit_loss` does so for a :func:`large_table`).

    Returns
    -------
    pm.Model
        Dims ``group`` (the groups) and ``run`` (row positions of the fitted runs). Free variables
        ``mu_slope`` (log scale), ``mu_reducible`` (logit scale), ``log_level`` and, with
        several groups, ``tau_slope``, ``slope_group`` (centred; ``z_slope`` with
        ``noncentred``), ``tau_reducible``, ``z_reducible`` (non-centred); deterministics
        ``slope``, ``exponent``, ``reducible``, ``level``, ``a``, ``b``, ``c``; data containers
        :data:`LOSS_INPUTS`. By default (normal likelihood, inverse-gamma scatter prior, no
        per-run errors) ``sigma`` is integrated out and the likelihood is the
        ``pm.Potential`` ``log_loss``: there is no ``sigma`` in the model and no observed
        variable (:func:`add_scatter` draws ``sigma`` after sampling). Otherwise ``sigma`` is
        free (``sigma_squared`` with the deterministic ``sigma`` under the inverse-gamma prior)
        and ``log_loss[run]`` is observed, or with ``pad_runs`` a ``pm.Potential``.
    """
    priors = priors or LossPriors()
    inputs = loss_inputs(data, pad_runs, shared=priors.shared_runs)
    coords = {"group": list(data.groups), "run": np.flatnonzero(data.fitted)}
    with pm.Model(coords=coords) as model:
        log_c0 = pm.Data("log_pivot", inputs["log_pivot"])
        x = pm.Data("log_compute", inputs["log_compute"])
        idx = pm.Data("run_group", inputs["run_group"])
        level_centre = pm.Data("level_centre", inputs["level_centre"], dims="group")
        slope = pm.Deterministic(
            "slope",
            pt.exp(
                _pooled(
                    "slope",
                    np.log(priors.slope_median),
                    priors.slope_log_sd,
                    priors.slope_group_sd,
                    len(data.groups),
                    centred=True,
                    reparameterised=noncentred,
                )
            ),
            dims="group",
        )
        reducible = pm.Deterministic(
            "reducible",
            pm.math.sigmoid(
                _pooled(
                    "reducible",
                    priors.reducible_logit_mean,
                    priors.reducible_logit_sd,
                    priors.reducible_group_sd,
                    len(data.groups),
                    centred=False,
                    reparameterised=centred_reducible,
                )
            ),
            dims="group",
        )
        exponent = pm.Deterministic("exponent", slope / reducible, dims="group")

        log_level = pm.Normal("log_level", mu=level_centre, sigma=priors.level_log_sd, dims="group")
        level = pm.Deterministic("level", pt.exp(log_level), dims="group")

        pm.Deterministic("a", level * reducible * pt.exp(exponent * log_c0), dims="group")
        pm.Deterministic("b", -exponent, dims="group")
        pm.Deterministic("c", level * (1.0 - reducible), dims="group")

        mean_log_loss = pt.log(loss_law_pivot(x, level[idx], reducible[idx], exponent[idx], xp=pt))
        if priors.shared_runs:
            size = len(fitted_runs(data).labels) if pad_runs is None else pad_runs
            mean_log_loss = mean_log_loss + _run_effect(inputs, size, priors.run_effect_sd)
        observed, weight = observed_runs(inputs, padded=pad_runs is not None)
        # sampled instead with per-run errors, or for prior predictive draws of the runs
        if integrate_scatter and scatter_integrated(priors) and data.loss_sd is None:
            # sigma^2 ~ InvGamma integrated out (bayescale.scatter); drawn after sampling
            integrated_scatter_potential("log_loss", observed, mean_log_loss, weight, priors)
            return model
        sigma = sampled_sigma(priors)
        padded = pad_runs is not None
        if data.loss_sd is not None:
            if padded:
                raise InputError(
                    "per-run standard errors (--loss-sd-col) are not supported by batched fits "
                    "(backtests); fit the table with bayescale loss instead."
                )
            # a run's own standard error, in log space se/loss, adds to the scatter
            rel = data.loss_sd[data.fitted] / data.loss[data.fitted]
            log_sd = pm.Data("log_loss_sd", rel, dims="run")
            sigma = pt.sqrt(sigma**2 + log_sd**2)
        sampled_scatter_likelihood(
            "log_loss", observed, mean_log_loss, sigma, weight, priors, padded=padded
        )
    return model


def _run_effect(inputs: dict[str, np.ndarray], size: int, sd: float) -> pt.TensorVariable:
    r"""Each fitted row's run effect :math:`\tau z_{r[i]}`, non-centred, in the model in context.

    ``tau_run ~ HalfNormal(sd)``, ``z_run ~ N(0, 1)`` with ``size`` entries (a padded template's
    run count: the entries no row points to are independent standard normals, taken out after
    sampling by :func:`add_run_effect`), ``run_index`` the data container of rows' runs.
    """
    index = pm.Data("run_index", inputs["run_index"])
    tau = pm.HalfNormal("tau_run", sigma=sd)
    z = pm.Normal("z_run", 0.0, 1.0, shape=size)
    return tau * z[index]


def add_run_effect(idata: xr.DataTree, data: LossData, priors: LossPriors) -> xr.DataTree:
    """The posterior with ``z_run`` cut to the fitted runs and ``run_effect = tau_run * z_run``.

    Both over dim ``shared_run`` (the runs' labels, :func:`bayescale.run_effects.fitted_runs`):
    a padded template's extra entries of ``z_run`` go. Unchanged without ``shared_runs`` or
    when ``run_effect`` is there already.
    """
    posterior = idata["posterior"].to_dataset()
    if not priors.shared_runs or "run_effect" in posterior.data_vars:
        return idata
    labels = list(fitted_runs(data).labels)
    z = posterior["z_run"]
    dim = str(z.dims[-1])
    z = z.isel({dim: slice(0, len(labels))}).drop_vars(dim, errors="ignore")
    z = z.rename({dim: "shared_run"}).assign_coords(shared_run=labels)
    posterior = posterior.drop_vars("z_run")
    if dim in posterior.dims:
        posterior = posterior.drop_dims(dim)
    posterior = posterior.assign(z_run=z, run_effect=posterior["tau_run"] * z)
    tree = idata.copy()
    tree["posterior"] = xr.DataTree(posterior)
    return tree


def run_effect_draws(idata: xr.DataTree, data: LossData) -> np.ndarray | None:
    """Each fitted row's run effect, shape ``(chain, draw, row)``; ``None`` without one."""
    posterior = idata["posterior"]
    if "run_effect" not in posterior.data_vars:
        return None
    effect = posterior["run_effect"].transpose("chain", "draw", "shared_run").values
    return effect[:, :, fitted_runs(data).index]


def scatter_integrated(priors: LossPriors) -> bool:
    """Whether the model integrates ``sigma`` out (normal likelihood, inverse-gamma prior)."""
    return priors.likelihood == "normal" and priors.scatter_prior == "inverse_gamma"


def add_scatter(idata: xr.DataTree, data: LossData, priors: LossPriors, seed: int) -> xr.DataTree:
    r"""Add ``sigma`` draws to a posterior whose model integrated it out.

    Per posterior draw, :math:`\sigma^2 \mid \theta, y \sim \mathrm{InvGamma}(\alpha +
    n/2, \beta + \mathrm{RSS}(\theta)/2)`, the exact conditional, with ``RSS`` the sum of
    squared log-loss residuals of the fitted runs; stream ``loss.sigma`` of the seed. Together with
    the sampled draws these are draws of the joint posterior. A posterior that has ``sigma``
    already is returned as it is.
    """
    idata = add_run_effect(idata, data, priors)
    posterior = idata["posterior"].to_dataset()
    if "sigma" in posterior.data_vars or not scatter_integrated(priors):
        return idata
    effect = run_effect_draws(idata, data)
    fit = data.fitted
    x = np.log(data.compute[fit]) - loss_pivot(data)
    idx = data.group_index[fit]
    log_loss = np.log(data.loss[fit])
    level, reducible, exponent = (
        posterior[name].transpose("chain", "draw", "group").values
        for name in ("level", "reducible", "exponent")
    )
    # a block of draws at a time (each draw's sum is its own row's): no (chain, draw, run) array
    rss = np.empty(level.shape[:2])
    for c in range(rss.shape[0]):
        for block in blocks(rss.shape[1], SCATTER_BLOCK_VALUES // max(idx.size, 1)):
            mean = np.log(
                loss_law_pivot(
                    x,
                    level[c, block][:, idx],
                    reducible[c, block][:, idx],
                    exponent[c, block][:, idx],
                )
            )
            if effect is not None:  # the runs' shared effects (LossPriors.shared_runs)
                mean = mean + effect[c, block]
            rss[c, block] = ((log_loss - mean) ** 2).sum(axis=-1)
    return add_scatter_from_rss(idata, rss, idx.size, priors, seed, "loss.sigma")


#: :func:`add_scatter` computes the residuals of at most this many (draw, run) pairs at once.
SCATTER_BLOCK_VALUES = 2_000_000

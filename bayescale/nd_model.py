r"""The hierarchical L(N, D) model as a PyMC model factory.

.. math::

    \ln L_i \sim t_\nu\left(\ln L_{g[i]}(N_i, D_i),\ \sigma\right)
    \quad\text{(the default; or normal)},

with :math:`L_g` the pivot form of :func:`bayescale.laws.nd_law_pivot` at the geometric centre
:math:`(N_0, D_0)` of the fitted runs and the priors of :class:`bayescale.nd.NDPriors`;
:math:`\sigma^2 \sim \mathrm{InvGamma}` is integrated out of the normal likelihood and drawn
after sampling (:func:`add_nd_scatter`; :mod:`bayescale.scatter`), and sampled with the
Student-t one (whose tails let a few runs off the surface pull the fit less). The
sampled quantities are what the data pin: per group the level :math:`\ln\ell_g` and the two
local log-log slopes :math:`\ln s^N_g, \ln s^D_g` at the pivot, plus the shares
:math:`\mathrm{logit} f_g` (reducible) and :math:`\mathrm{logit} w_g` (N's part of it) that
the curvature informs; the exponents :math:`\alpha_g = s^N_g / (f_g w_g)`,
:math:`\beta_g = s^D_g/(f_g(1-w_g))` and ``E``, ``A``, ``B`` are deterministics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayescale.draws import blocks
from bayescale.laws import nd_law_pivot
from bayescale.loss_model import SCATTER_BLOCK_VALUES, _pooled, observed_runs, pad_to, run_rows
from bayescale.scatter import (
    add_scatter_from_rss,
    integrated_scatter_potential,
    sampled_scatter_likelihood,
    sampled_sigma,
)

if TYPE_CHECKING:
    from bayescale.nd_data import NDData, NDPriors


def nd_inputs(data: NDData, runs: int | None = None) -> dict[str, np.ndarray]:
    """The data-dependent arrays of the L(N, D) model, by container name.

    ``runs`` pads the per-run arrays to that many rows with weight 0 (values that keep the
    log density finite), as :func:`bayescale.loss_model.loss_inputs` does, so that tables of
    one shape class share one compiled program. Keys: ``log_pivot_params`` and
    ``log_pivot_tokens`` (the pivot, scalars), ``log_params`` and ``log_tokens`` (per run, about
    the pivot), ``run_group``, ``level_centre`` (per group: the median log loss of its runs),
    ``log_loss_obs`` and, when padded, ``run_weight``.
    """
    fit = data.fitted
    # the pivot (bayescale.nd.nd_pivot): mean log N and log D of the fitted runs
    log_n0 = float(np.mean(np.log(data.params[fit])))
    log_d0 = float(np.mean(np.log(data.tokens[fit])))
    idx = data.group_index[fit]
    log_loss = np.log(data.loss[fit])
    centre = np.array([np.median(log_loss[idx == g]) for g in range(len(data.groups))])
    padded = pad_to(runs, log_loss.size)
    return {
        "log_pivot_params": np.asarray(log_n0),
        "log_pivot_tokens": np.asarray(log_d0),
        "log_params": padded(np.log(data.params[fit]) - log_n0, 0.0),
        "log_tokens": padded(np.log(data.tokens[fit]) - log_d0, 0.0),
        "level_centre": centre,
        **run_rows(padded, idx, log_loss, float(centre[0]), runs),
    }


def build_nd_model(
    data: NDData,
    priors: NDPriors,
    noncentred: bool = False,
    *,
    pad_runs: int | None = None,
    centred_shares: bool = False,
) -> pm.Model:
    """Build the hierarchical L(N, D) model for the fitted runs of ``data``.

    ``noncentred`` samples the groups' local slopes non-centred with the same priors (the same
    model, the other geometry): the convergence ladder's alternative parameterisation when a
    fit with several groups diverges. ``pad_runs`` pads the runs to that many rows
    (:func:`nd_inputs`) and makes the likelihood a ``pm.Potential`` named ``log_loss`` that
    weights each run's normal log density by ``run_weight``: the same posterior, and a program
    shared by every table of the shape class (:func:`bayescale.loss_model.run_class`).
    ``centred_shares`` samples the groups' reducible shares and ``share`` centred (the same
    model, the geometry of groups with many runs: :func:`bayescale.nd.fit_nd` does so for a
    table of more than :data:`bayescale.loss_model.LARGE_TABLE_RUNS` fitted runs).

    The scatter ``sigma`` is integrated out of the normal likelihood (its inverse-gamma prior,
    :func:`bayescale.scatter.integrated_scatter_potential`): the likelihood is then the
    ``pm.Potential`` ``log_loss``, padded or not, and :func:`add_nd_scatter` draws ``sigma``
    after sampling. With ``NDPriors(likelihood="student_t")`` (each run's log loss Student-t
    with ``student_t_nu`` degrees of freedom about the law) or
    ``NDPriors(scatter_prior="halfnormal")`` it is sampled instead
    (:func:`bayescale.scatter.sampled_sigma`: free ``sigma_squared`` and deterministic
    ``sigma`` under the inverse-gamma prior).

    Returns
    -------
    pm.Model
        Dims ``group`` and ``run``; free ``log_level``, ``mu_slope_n``, ``mu_slope_d``,
        ``mu_reducible``, ``mu_share`` (with several groups also their group-level terms;
        ``sigma`` or ``sigma_squared`` when the scatter is sampled); deterministics ``level``,
        ``reducible``, ``share``, ``alpha``, ``beta``, ``E``, ``A``, ``B`` (per group); data
        ``log_loss_obs`` (and ``run_weight`` when padded); likelihood the potential
        ``log_loss`` (observed ``log_loss[run]`` when ``sigma`` is sampled and not padded).
    """
    inputs = nd_inputs(data, pad_runs)
    n_groups = len(data.groups)
    coords = {"group": list(data.groups), "run": np.flatnonzero(data.fitted)}
    with pm.Model(coords=coords) as model:
        log_n0 = pm.Data("log_pivot_params", inputs["log_pivot_params"])
        log_d0 = pm.Data("log_pivot_tokens", inputs["log_pivot_tokens"])
        x = pm.Data("log_params", inputs["log_params"])
        y = pm.Data("log_tokens", inputs["log_tokens"])
        run_group = pm.Data("run_group", inputs["run_group"])
        centre = pm.Data("level_centre", inputs["level_centre"], dims="group")

        def pooled(
            name: str, mean: float, sd: float, group_sd: float, centred: bool
        ) -> pt.TensorVariable:
            return _pooled(
                name,
                mean,
                sd,
                group_sd,
                n_groups,
                centred=centred,
                reparameterised=noncentred if centred else centred_shares,
            )

        log_slope = np.log(priors.slope_median)
        slope_n = pt.exp(
            pooled("slope_n", log_slope, priors.slope_log_sd, priors.slope_group_sd, True)
        )
        slope_d = pt.exp(
            pooled("slope_d", log_slope, priors.slope_log_sd, priors.slope_group_sd, True)
        )
        reducible = pm.Deterministic(
            "reducible",
            pm.math.sigmoid(
                pooled(
                    "reducible",
                    priors.reducible_logit_mean,
                    priors.reducible_logit_sd,
                    priors.reducible_group_sd,
                    False,
                )
            ),
            dims="group",
        )
        share = pm.Deterministic(
            "share",
            pm.math.sigmoid(
                pooled("share", 0.0, priors.share_logit_sd, priors.share_group_sd, False)
            ),
            dims="group",
        )
        alpha = pm.Deterministic("alpha", slope_n / (reducible * share), dims="group")
        beta = pm.Deterministic("beta", slope_d / (reducible * (1.0 - share)), dims="group")
        # soft prior on the exponents themselves (NDPriors): a log-normal factor, Jacobian-free
        # by design (it is a preference over exponents, not a change of variables)
        centre_k, sd_k = np.log(priors.exponent_median), priors.exponent_log_sd
        pm.Potential(
            "exponent_prior",
            (-0.5 * ((pt.log(alpha) - centre_k) / sd_k) ** 2).sum()
            + (-0.5 * ((pt.log(beta) - centre_k) / sd_k) ** 2).sum(),
        )
        log_level = pm.Normal("log_level", mu=centre, sigma=priors.level_log_sd, dims="group")
        level = pm.Deterministic("level", pt.exp(log_level), dims="group")
        pm.Deterministic("E", level * (1.0 - reducible), dims="group")
        pm.Deterministic("A", level * reducible * share * pt.exp(alpha * log_n0), dims="group")
        pm.Deterministic(
            "B", level * reducible * (1.0 - share) * pt.exp(beta * log_d0), dims="group"
        )
        mean = pt.log(
            nd_law_pivot(
                x,
                y,
                level[run_group],
                reducible[run_group],
                share[run_group],
                alpha[run_group],
                beta[run_group],
                xp=pt,
            )
        )
        observed, weight = observed_runs(inputs, padded=pad_runs is not None)
        if scatter_integrated(priors):
            # sigma^2 ~ InvGamma integrated out (bayescale.scatter); drawn after sampling
            integrated_scatter_potential("log_loss", observed, mean, weight, priors)
            return model
        sigma = sampled_sigma(priors)
        sampled_scatter_likelihood(
            "log_loss", observed, mean, sigma, weight, priors, padded=pad_runs is not None
        )
    return model


def scatter_integrated(priors: NDPriors) -> bool:
    """Whether the model integrates ``sigma`` out (normal likelihood, inverse-gamma prior)."""
    return priors.likelihood == "normal" and priors.scatter_prior == "inverse_gamma"


def add_nd_scatter(idata: xr.DataTree, data: NDData, priors: NDPriors, seed: int) -> xr.DataTree:
    r"""Add ``sigma`` draws to a posterior whose model integrated it out.

    Per posterior draw :math:`\sigma^2 \mid \theta, y`, the exact conditional
    (:func:`bayescale.scatter.add_scatter_draws`), from the fitted runs' log-loss residuals;
    stream ``nd.sigma`` of the seed. A posterior that has ``sigma`` already is returned as it
    is.
    """
    posterior = idata["posterior"]
    if "sigma" in posterior.data_vars or not scatter_integrated(priors):
        return idata
    inputs = nd_inputs(data)
    idx = inputs["run_group"]
    values = [
        posterior[name].transpose("chain", "draw", "group").values
        for name in ("level", "reducible", "share", "alpha", "beta")
    ]
    # a block of draws at a time (each draw's sum is its own row's): no (chain, draw, run) array
    rss = np.empty(values[0].shape[:2])
    for c in range(rss.shape[0]):
        for block in blocks(rss.shape[1], SCATTER_BLOCK_VALUES // max(idx.size, 1)):
            law = nd_law_pivot(
                inputs["log_params"],
                inputs["log_tokens"],
                *(v[c, block][:, idx] for v in values),
            )
            rss[c, block] = ((inputs["log_loss_obs"] - np.log(law)) ** 2).sum(axis=-1)
    return add_scatter_from_rss(idata, rss, idx.size, priors, seed, "nd.sigma")

"""Prior predictive draws on request, added to a fit's ``DataTree`` for ArviZ.

A fit's ``idata`` is an ``xarray.DataTree`` that ArviZ 1.x reads directly (trace, rank,
posterior and pair plots). :func:`add_prior_predictive` rebuilds the fit's model and adds the
``prior`` and ``prior_predictive`` groups, so that ``arviz.plot_ppc_dist(fit.idata,
group="prior_predictive")`` and ``arviz.plot_prior_posterior`` work too. PyMC is imported only
when it is called.
"""

from __future__ import annotations

from dataclasses import replace

from bayescale.loss_fit import LossFit
from bayescale.pass_fit import PassFit
from bayescale.seeds import key_seed


def add_prior_predictive[F: (LossFit, PassFit)](
    fit: F, draws: int = 500, seed: int | None = None
) -> F:
    """Return the fit with ``prior`` and ``prior_predictive`` groups in its ``idata``.

    Parameters
    ----------
    fit
        A loss or pass-rate fit.
    draws
        Prior draws.
    seed
        Seed of the draws; the fit's sampler seed by default.

    Returns
    -------
    LossFit or PassFit
        A copy of ``fit``; the posterior and everything derived from it are unchanged.

    Examples
    --------
    >>> import arviz as az  # doctest: +SKIP
    >>> fit = add_prior_predictive(result.fit)  # doctest: +SKIP
    >>> az.plot_ppc_dist(fit.idata, group="prior_predictive")  # doctest: +SKIP
    """
    import pymc as pm

    if isinstance(fit, LossFit):
        from bayescale.loss_model import build_loss_model

        # sigma sampled, not integrated out: the runs then have a predictive distribution
        model = build_loss_model(fit.data, fit.priors, integrate_scatter=False)
    else:
        from bayescale.pass_data import PassAggregate
        from bayescale.pass_model import build_aggregate_pass_model, build_pass_model

        if isinstance(fit.data, PassAggregate):
            model = build_aggregate_pass_model(fit.data, fit.priors)
        else:
            assert fit.buckets is not None
            model = build_pass_model(fit.data, fit.buckets, fit.priors)
    with model:
        prior = pm.sample_prior_predictive(
            draws=draws,
            random_seed=key_seed(fit.settings.seed if seed is None else seed, "prior_predictive"),
        )
    tree = fit.idata.copy()
    for group in ("prior", "prior_predictive"):
        if group in prior.children:
            tree[group] = prior[group]
    return replace(fit, idata=tree)

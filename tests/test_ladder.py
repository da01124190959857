"""Tier 2: the convergence ladder's choices, on a scripted sampler and scripted diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from arviz_base import from_dict

import bayescale.ladder
import bayescale.loss_fit
import bayescale.loss_model
import bayescale.sampling
from bayescale.data import load_loss_runs
from bayescale.diagnostics import Diagnostics
from bayescale.errors import ConvergenceError
from bayescale.loss_fit import fit_loss
from bayescale.sampling import SamplerSettings
from tests.helpers import passing_diagnostics

BAD_RHAT = {"r_hat_max": 1.03, "worst": "sigma"}
DIVERGING = {"divergences": 7}


def _diagnostics(**changes) -> Diagnostics:
    return passing_diagnostics(**{"worst": "mu_slope", **changes})


@dataclass
class _Chains:
    inverse_mass: np.ndarray
    chains: int
    draws: int


def _posterior(chains: int, draws: int) -> object:
    return from_dict(
        {
            "posterior": {"sigma": np.ones((chains, draws))},
            "sample_stats": {"diverging": np.zeros((chains, draws), dtype=bool)},
        }
    )


def _script(monkeypatch, outcomes: list[dict], keep_chains: bool = True) -> dict[str, list]:
    """Make every sampling step return a dummy posterior and diagnose as ``outcomes`` say."""
    calls: dict[str, list] = {"fresh": [], "more": [], "models": [], "ess_chains": []}
    calls["diagnosed"] = []

    def sample_chains(model, settings, start_mass=None):
        calls["fresh"].append((settings, start_mass))
        mass = np.full(3, 0.25)
        chains = _Chains(mass, settings.chains, settings.draws) if keep_chains else None
        return _posterior(settings.chains, settings.draws), 0.0, chains

    def more_draws(kept, draws, progress=False):
        calls["more"].append(draws)
        longer = _Chains(kept.inverse_mass, kept.chains, kept.draws + draws)
        return _posterior(longer.chains, longer.draws), longer

    script = iter(outcomes)
    monkeypatch.setattr(bayescale.sampling, "sample_chains", sample_chains)
    monkeypatch.setattr(bayescale.sampling, "more_draws", more_draws)

    def diagnose(idata, ess_chains=None):
        calls["ess_chains"].append(ess_chains)
        calls["diagnosed"].append(dict(idata["posterior"].sizes))
        return _diagnostics(**next(script))

    monkeypatch.setattr(bayescale.ladder, "diagnose", diagnose)
    real_build = bayescale.loss_model.build_loss_model

    def build(data, priors=None, *, noncentred=False, **options):
        calls["models"].append(noncentred)
        return real_build(data, priors, noncentred=noncentred, **options)

    monkeypatch.setattr(bayescale.loss_model, "build_loss_model", build)
    return calls


def test_divergences_get_a_smaller_step_then_the_alternative_parameterisation(
    monkeypatch, demo_runs
):
    calls = _script(monkeypatch, [DIVERGING, DIVERGING, {}])
    fit = fit_loss(load_loss_runs(demo_runs), settings=SamplerSettings(seed=3))
    assert fit.diagnostics.ok
    whats = [a.what for a in fit.diagnostics.attempts]
    assert len(whats) == 3 and whats[1].startswith("a smaller step: target_accept 0.995")
    assert whats[2] == "the alternative parameterisation: group slopes non-centred"
    assert calls["models"] == [False, True]  # the non-centred model only for the last step
    assert [s.target_accept for s, _ in calls["fresh"]] == [0.99, 0.995, 0.995]
    assert fit.diagnostics.attempts[1].why == "7 divergent transitions"
    assert fit.settings.target_accept == 0.995
    document = fit.diagnostics.to_dict()["attempts"]
    assert [set(step) for step in document] == [{"what", "why", "seconds"}] * 3


def test_slow_mixing_gets_more_draws_from_the_adapted_state_then_more_chains_pooled(
    monkeypatch, demo_runs
):
    from bayescale.seeds import key_seed

    calls = _script(monkeypatch, [BAD_RHAT, BAD_RHAT, BAD_RHAT, {}])
    fit = fit_loss(load_loss_runs(demo_runs), settings=SamplerSettings(draws=200, seed=3))
    assert fit.diagnostics.ok
    assert calls["more"] == [200, 200]  # no new warm-up: the chains run on
    assert len(calls["fresh"]) == 2
    last, start_mass = calls["fresh"][1]
    assert (last.chains, last.draws) == (8, 600)
    # the new chains neither start where the earlier ones did nor share their random keys
    assert last.seed == key_seed(3, bayescale.ladder.MORE_CHAINS_STREAM) != 3
    np.testing.assert_array_equal(start_mass, np.full(3, 0.25))  # what warm-up learned
    # the gate saw the 4 earlier chains and the 8 new ones together, and the fit holds them
    assert calls["diagnosed"][-1] == {"chain": 12, "draw": 600}
    assert fit.idata["posterior"].sizes["chain"] == 12
    assert (fit.settings.chains, fit.settings.draws, fit.settings.seed) == (12, 600, 3)
    assert fit.diagnostics.attempts[-1].what == (
        "8 chains x 600 draws, warm-up started from the adapted mass matrix, seed from "
        "stream 'ladder.chains'; pooled with the 4 earlier chains (the last 600 draws of "
        "each): 12 chains x 600 draws diagnosed"
    )
    # the ESS bar stays that of the 4 chains asked for, also once 12 are pooled
    assert calls["ess_chains"] == [None, 4, 4, 4]


def test_pooled_chains_that_still_fail_run_on_together(monkeypatch, demo_runs):
    calls = _script(monkeypatch, [BAD_RHAT] * 4 + [{}])
    fit = fit_loss(load_loss_runs(demo_runs), settings=SamplerSettings(draws=200, seed=3))
    assert fit.diagnostics.ok and len(calls["fresh"]) == 2
    assert calls["more"] == [200, 200, 200, 200]  # the earlier 4 chains and the new 8 run on
    assert calls["diagnosed"][-1] == {"chain": 12, "draw": 800}
    assert (fit.settings.chains, fit.settings.draws) == (12, 800)
    assert fit.diagnostics.attempts[-1].what == (
        "200 more draws per chain from the adapted state, all 12 pooled chains"
    )


def test_without_kept_chains_the_last_new_run_is_pooled_too(monkeypatch, demo_runs):
    calls = _script(monkeypatch, [BAD_RHAT, BAD_RHAT, BAD_RHAT, {}], keep_chains=False)
    fit = fit_loss(load_loss_runs(demo_runs), settings=SamplerSettings(draws=200, seed=3))
    runs = [(s.chains, s.draws) for s, _ in calls["fresh"]]
    assert runs == [(4, 200), (4, 400), (4, 600), (8, 600)]
    assert calls["fresh"][-1][1] is None  # no mass matrix kept
    assert (fit.settings.chains, fit.settings.draws) == (12, 600)


def _normal_chains(rng, chains: int, draws: int, rho: float = 0.0, shift: float = 0.0):
    """AR(1) chains of a standard normal (stationary from the start), as a posterior."""
    x = np.empty((chains, draws))
    x[:, 0] = rng.standard_normal(chains)
    noise = rng.standard_normal((chains, draws)) * np.sqrt(1 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return from_dict(
        {
            "posterior": {"x": x + shift, "v": np.stack([x, -x], axis=-1)},
            "sample_stats": {"diverging": np.zeros((chains, draws), dtype=bool)},
        },
        dims={"v": ["k"]},
    )


def test_pooled_chains_keep_the_last_draws_of_the_longer_chains():
    rng = np.random.default_rng(1)
    earlier, later = _normal_chains(rng, 4, 300), _normal_chains(rng, 8, 200)
    pooled = bayescale.ladder._pool_chains(earlier, later)
    assert pooled is not None
    post = pooled["posterior"]
    assert dict(post.sizes) == {"chain": 12, "draw": 200, "k": 2}
    np.testing.assert_array_equal(post["chain"].values, np.arange(12))
    np.testing.assert_array_equal(post["draw"].values, np.arange(200))
    np.testing.assert_array_equal(
        post["x"].values[:4], earlier["posterior"]["x"].values[:, 100:]
    )  # the earlier chains' last 200 draws, their first 100 dropped
    np.testing.assert_array_equal(post["x"].values[4:], later["posterior"]["x"].values)
    assert pooled["sample_stats"]["diverging"].shape == (12, 200)


def test_chains_of_another_parameterisation_are_not_pooled():
    rng = np.random.default_rng(2)
    earlier = _normal_chains(rng, 4, 100)
    other = from_dict({"posterior": {"z_slope": rng.standard_normal((8, 100))}})
    assert bayescale.ladder._pool_chains(earlier, other) is None
    wider = from_dict(
        {"posterior": {"x": np.zeros((8, 100)), "v": np.zeros((8, 100, 3))}}, dims={"v": ["k"]}
    )
    assert bayescale.ladder._pool_chains(earlier, wider) is None


def test_pooled_chains_of_a_known_posterior_pass_the_gate_with_the_summed_ess():
    from bayescale.diagnostics import diagnose

    rng = np.random.default_rng(3)
    earlier, later = _normal_chains(rng, 4, 1000, 0.5), _normal_chains(rng, 8, 1000, 0.5)
    pooled = bayescale.ladder._pool_chains(earlier, later)
    assert pooled is not None
    alone = [diagnose(t, ["x"]) for t in (earlier, later)]
    both = diagnose(pooled, ["x"], ess_chains=4)
    assert both.chains == 12 and both.ess_threshold == 400
    # AR(1) at 0.5: about 1000 x 0.5 / 1.5 = 333 effective draws a chain
    assert abs(both.ess_bulk_min / sum(d.ess_bulk_min for d in alone) - 1) < 0.25
    assert both.r_hat_max <= 1.01 and both.ok
    x = pooled["posterior"]["x"].values
    assert abs(x.mean()) < 4 / np.sqrt(both.ess_bulk_min)  # the truth, 0, within 4 MC sd


def test_pooling_chains_that_sit_elsewhere_shows_in_r_hat():
    from bayescale.diagnostics import diagnose

    rng = np.random.default_rng(4)
    earlier, later = _normal_chains(rng, 4, 1000), _normal_chains(rng, 8, 1000, shift=0.5)
    assert diagnose(earlier, ["x"]).ok and diagnose(later, ["x"]).ok
    pooled = bayescale.ladder._pool_chains(earlier, later)
    assert pooled is not None and diagnose(pooled, ["x"]).r_hat_max > 1.01


def test_the_ess_bar_is_counted_for_the_chains_asked_for():
    from bayescale.diagnostics import diagnose

    rng = np.random.default_rng(0)
    idata = from_dict({"posterior": {"x": rng.standard_normal((8, 200))}})
    assert diagnose(idata).ess_threshold == 800.0
    assert diagnose(idata, ess_chains=4).ess_threshold == 400.0


def test_without_kept_chains_more_draws_are_a_longer_new_run(monkeypatch, demo_runs):
    calls = _script(monkeypatch, [BAD_RHAT, {}], keep_chains=False)
    fit = fit_loss(load_loss_runs(demo_runs), settings=SamplerSettings(draws=200, seed=3))
    assert calls["more"] == [] and [s.draws for s, _ in calls["fresh"]] == [200, 400]
    assert fit.diagnostics.attempts[1].what == "a new run with 400 draws per chain"


def test_an_exhausted_ladder_exits_3_naming_the_variable_and_the_remedy(monkeypatch, demo_runs):
    _script(monkeypatch, [BAD_RHAT] * 10)
    with pytest.raises(ConvergenceError) as error:
        fit_loss(load_loss_runs(demo_runs), settings=SamplerSettings(seed=3))
    message = str(error.value)
    assert "after 5 steps of the convergence ladder" in message
    assert "'sigma' is the run-to-run scatter" in message
    assert "What you can do: add runs" in message and "--allow-unconverged" in message
    assert len(error.value.result.diagnostics.attempts) == 5


def test_the_ladder_stops_within_its_budget(monkeypatch, demo_runs):
    calls = _script(monkeypatch, [{**DIVERGING, **BAD_RHAT}] * 20)
    fit = fit_loss(
        load_loss_runs(demo_runs), settings=SamplerSettings(seed=3), allow_unconverged=True
    )
    assert len(fit.diagnostics.attempts) <= 1 + bayescale.ladder.LADDER_MAX_STEPS
    whats = [a.what for a in fit.diagnostics.attempts]
    assert whats[-1] == "the smallest step: target_accept 0.999"
    assert len(calls["fresh"]) == len(whats)


def test_a_batched_fit_that_fails_the_gate_climbs_the_rest_of_the_ladder_alone(
    monkeypatch, demo_runs
):
    from dataclasses import replace

    from bayescale.diagnostics import Attempt
    from bayescale.loss_fit import LossFit, fit_loss_batch
    from bayescale.priors import LossPriors

    data = load_loss_runs(demo_runs)
    batched = LossFit(
        data=data,
        idata=from_dict({"posterior": {"sigma": np.ones((2, 5))}}),
        log_pivot=0.0,
        priors=LossPriors(),
        settings=SamplerSettings(target_accept=0.99, seed=5),
        diagnostics=_diagnostics(**BAD_RHAT, attempts=(Attempt("batched", "first fit", 1.0),)),
        timing_s={"total": 1.0, "sampling": 1.0},
    )
    alone = replace(batched, diagnostics=_diagnostics(attempts=(Attempt("alone", "x", 2.0),)))
    seen = []
    monkeypatch.setattr(bayescale.loss_fit, "_loss_batches", lambda *args: {0: batched})

    def fit_alone(data, priors, settings, allow_unconverged):
        seen.append(settings)
        return alone

    monkeypatch.setattr(bayescale.loss_fit, "fit_loss", fit_alone)
    [fit] = fit_loss_batch([data], seeds=[5])
    assert fit.diagnostics.ok and seen == [batched.settings]
    assert [a.what for a in fit.diagnostics.attempts] == ["batched", "alone"]
    assert fit.timing_s["total"] == 2.0


@pytest.mark.sampling
@pytest.mark.slow
def test_real_chains_pooled_and_run_on_together(monkeypatch, demo_runs):
    """Real JAX NUTS, few draws: steps 6 and 7 pool real chains that started apart (141 s at
    load average 8.5 on 2 cores, a program compiled per chain count and step: slow)."""
    from bayescale.diagnostics import diagnose as real_diagnose

    failing = iter([True] * 4)

    def diagnose(idata, ess_chains=None):
        found = real_diagnose(idata, ess_chains=ess_chains)
        failed = replace(found, r_hat_max=1.05, worst="sigma", divergences=0)
        return failed if next(failing, False) else found

    monkeypatch.setattr(bayescale.ladder, "diagnose", diagnose)
    settings = SamplerSettings(draws=30, tune=30, chains=2, seed=3, progress=False)
    fit = fit_loss(load_loss_runs(demo_runs), settings=settings, allow_unconverged=True)
    whats = [a.what for a in fit.diagnostics.attempts]
    assert "pooled with the 2 earlier chains" in whats[3]
    assert whats[4] == "30 more draws per chain from the adapted state, all 6 pooled chains"
    post = fit.idata["posterior"]
    assert dict(post.sizes)["chain"] == 6 and dict(post.sizes)["draw"] == 120
    assert fit.idata["sample_stats"]["diverging"].shape == (6, 120)
    assert np.isfinite(post["sigma"].values).all()  # drawn once over the pooled draws
    assert (fit.settings.chains, fit.settings.draws, fit.settings.seed) == (6, 120, 3)
    # the new chains did not start where the earlier ones did, nor move with them
    slope = post["slope_group"].values[..., 0]
    assert not np.allclose(slope[0], slope[2]) and not np.allclose(slope[1], slope[3])

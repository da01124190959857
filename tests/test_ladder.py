"""Tier 2: the convergence ladder's choices, on a scripted sampler and scripted diagnostics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from arviz_base import from_dict

import bayescale.fit
import bayescale.loss_model
import bayescale.sampling
from bayescale.data import load_loss_runs
from bayescale.diagnostics import Diagnostics
from bayescale.errors import ConvergenceError
from bayescale.fit import fit_loss
from bayescale.sampling import SamplerSettings

BAD_RHAT = {"r_hat_max": 1.03, "worst": "sigma"}
DIVERGING = {"divergences": 7}


def _diagnostics(**changes) -> Diagnostics:
    values = {
        "r_hat_max": 1.001,
        "ess_bulk_min": 900.0,
        "ess_tail_min": 900.0,
        "divergences": 0,
        "worst": "mu_slope",
        "ess_threshold": 400.0,
        "chains": 4,
        "draws": 1000,
        "worst_ess": "sigma",
    }
    return Diagnostics(**{**values, **changes})


@dataclass
class _Chains:
    inverse_mass: np.ndarray


def _script(monkeypatch, outcomes: list[dict], keep_chains: bool = True) -> dict[str, list]:
    """Make every sampling step return a dummy posterior and diagnose as ``outcomes`` say."""
    calls: dict[str, list] = {"fresh": [], "more": [], "models": [], "ess_chains": []}
    idata = from_dict({"posterior": {"sigma": np.ones((2, 5))}})
    chains = _Chains(inverse_mass=np.full(3, 0.25)) if keep_chains else None

    def sample_chains(model, settings, start_mass=None):
        calls["fresh"].append((settings, start_mass))
        return idata, 0.0, chains

    def more_draws(kept, draws):
        calls["more"].append(draws)
        return idata, kept

    script = iter(outcomes)
    monkeypatch.setattr(bayescale.sampling, "sample_chains", sample_chains)
    monkeypatch.setattr(bayescale.sampling, "more_draws", more_draws)

    def diagnose(idata, ess_chains=None):
        calls["ess_chains"].append(ess_chains)
        return _diagnostics(**next(script))

    monkeypatch.setattr(bayescale.fit, "diagnose", diagnose)
    real_build = bayescale.loss_model.build_loss_model

    def build(data, priors=None, *, pad_runs=None, noncentred=False):
        calls["models"].append(noncentred)
        return real_build(data, priors, pad_runs=pad_runs, noncentred=noncentred)

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


def test_slow_mixing_gets_more_draws_from_the_adapted_state_then_more_chains(
    monkeypatch, demo_runs
):
    calls = _script(monkeypatch, [BAD_RHAT, BAD_RHAT, BAD_RHAT, {}])
    fit = fit_loss(load_loss_runs(demo_runs), settings=SamplerSettings(draws=200, seed=3))
    assert fit.diagnostics.ok
    assert calls["more"] == [200, 200]  # no new warm-up: the chains run on
    assert len(calls["fresh"]) == 2
    last, start_mass = calls["fresh"][1]
    assert (last.chains, last.draws) == (8, 600)
    np.testing.assert_array_equal(start_mass, np.full(3, 0.25))  # what warm-up learned
    assert (fit.settings.chains, fit.settings.draws) == (8, 600)
    # the ESS bar stays that of the 4 chains asked for, also once 8 run
    assert calls["ess_chains"] == [None, 4, 4, 4]


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
    assert "after 4 steps of the convergence ladder" in message
    assert "'sigma' is the run-to-run scatter" in message
    assert "What you can do: add runs" in message and "--allow-unconverged" in message
    assert len(error.value.result.diagnostics.attempts) == 4


def test_the_ladder_stops_within_its_budget(monkeypatch, demo_runs):
    calls = _script(monkeypatch, [{**DIVERGING, **BAD_RHAT}] * 20)
    fit = fit_loss(
        load_loss_runs(demo_runs), settings=SamplerSettings(seed=3), allow_unconverged=True
    )
    assert len(fit.diagnostics.attempts) <= 1 + bayescale.fit.LADDER_MAX_STEPS
    whats = [a.what for a in fit.diagnostics.attempts]
    assert whats[-1] == "the smallest step: target_accept 0.999"
    assert len(calls["fresh"]) == len(whats)


def test_a_batched_fit_that_fails_the_gate_climbs_the_rest_of_the_ladder_alone(
    monkeypatch, demo_runs
):
    from dataclasses import replace

    from bayescale.diagnostics import Attempt
    from bayescale.fit import LossFit, fit_loss_batch
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
    monkeypatch.setattr(bayescale.fit, "_loss_batches", lambda *args: {0: batched})

    def fit_alone(data, priors, settings, allow_unconverged):
        seen.append(settings)
        return alone

    monkeypatch.setattr(bayescale.fit, "fit_loss", fit_alone)
    [fit] = fit_loss_batch([data], seeds=[5])
    assert fit.diagnostics.ok and seen == [batched.settings]
    assert [a.what for a in fit.diagnostics.attempts] == ["batched", "alone"]
    assert fit.timing_s["total"] == 2.0

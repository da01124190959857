"""Tier 1: the convergence ladder's choice of step (``ladder._next_step``), without sampling."""

from __future__ import annotations

from dataclasses import replace

import pytest

import bayescale.ladder
from bayescale.diagnostics import Diagnostics
from bayescale.ladder import _LadderState, _next_step, _pooled_step
from bayescale.sampling import MAX_TREE_DEPTH, SamplerSettings
from bayescale.seeds import key_seed
from tests.helpers import passing_diagnostics

# a loss fit's first settings (fit.model_settings): target_accept 0.99, warm-up trees capped
FIRST = SamplerSettings(draws=200, seed=3, target_accept=0.99, warmup_tree_depth=7)
BAD_RHAT = {"r_hat_max": 1.03, "worst": "sigma"}
DIVERGING = {"divergences": 7}


def _diagnostics(**changes) -> Diagnostics:
    return passing_diagnostics(**{"worst": "mu_slope", "draws": 200, **changes})


def _next(state: _LadderState, alternative: str | None = "slopes non-centred", **failed):
    return _next_step(
        state, _diagnostics(**failed), max_steps=5, retry_target=0.995, alternative=alternative
    )


def _state(**changes) -> _LadderState:
    return replace(_LadderState(FIRST, FIRST.draws), **changes)


def test_a_fit_that_passes_the_gate_takes_no_step():
    assert _next(_state()) is None


@pytest.mark.parametrize("failed", [BAD_RHAT, DIVERGING])
def test_no_step_beyond_the_budget_of_steps(failed):
    assert _next(_state(taken=5), **failed) is not None  # the first fit and 4 steps: one left
    assert _next(_state(taken=6), **failed) is None
    first = _next_step(_state(), _diagnostics(**failed), max_steps=0, retry_target=0.995)
    assert first is None  # 0 steps: the first fit alone


def test_divergences_first_get_a_smaller_step_with_uncapped_warm_up_trees():
    step = _next(_state(), **DIVERGING)
    assert step is not None and step.run == "new run"
    assert (step.sample.target_accept, step.sample.warmup_tree_depth) == (0.995, MAX_TREE_DEPTH)
    assert step.state.settings == step.sample and step.state.used == {"step"}
    assert (
        step.what == f"a smaller step: target_accept 0.995, warm-up trees to depth {MAX_TREE_DEPTH}"
    )
    assert step.why == "7 divergent transitions"


def test_divergences_after_the_smaller_step_get_the_alternative_parameterisation():
    retried = FIRST.for_retry(0.995)
    assert retried is not None
    step = _next(_state(settings=retried, used=frozenset({"step"})), **DIVERGING)
    assert step is not None and step.run == "alternative"
    assert step.sample == retried == step.state.settings  # the step size target kept
    assert step.state.used == {"step", "alternative"}
    assert step.what == "the alternative parameterisation: slopes non-centred"


def test_settings_a_smaller_step_would_not_change_go_to_the_alternative_at_once():
    uncapped = replace(FIRST, target_accept=0.995, warmup_tree_depth=MAX_TREE_DEPTH)
    step = _next(_state(settings=uncapped), **DIVERGING)
    assert step is not None and step.run == "alternative" and step.state.used == {"alternative"}


def test_divergences_without_an_alternative_get_the_smallest_step():
    step = _next(_state(used=frozenset({"step"})), alternative=None, **DIVERGING)
    assert step is not None and step.run == "new run"
    assert step.sample.target_accept == 0.999 == step.state.settings.target_accept
    assert step.sample.warmup_tree_depth == MAX_TREE_DEPTH
    assert step.what == "the smallest step: target_accept 0.999"


def test_divergences_stop_the_ladder_once_every_step_against_them_was_taken():
    smallest = replace(FIRST, target_accept=0.999, warmup_tree_depth=MAX_TREE_DEPTH)
    used = frozenset({"step", "alternative"})
    assert _next(_state(settings=smallest, used=used), **DIVERGING) is None
    # the rounds of more draws are not for chains that diverged
    assert _next(_state(settings=smallest, used=used), **DIVERGING, **BAD_RHAT) is None


def test_divergences_come_before_a_short_r_hat():
    step = _next(_state(), **DIVERGING, **BAD_RHAT)
    assert step is not None and step.what.startswith("a smaller step")
    assert step.why == "R-hat 1.030 > 1.01 (worst: sigma); 7 divergent transitions"


def test_a_short_r_hat_gets_more_draws_from_the_adapted_state():
    step = _next(_state(), **BAD_RHAT)
    assert step is not None and step.run == "draws" and step.state.rounds == 1
    assert step.state.settings == replace(FIRST, draws=400)  # the total per chain
    assert step.what == "200 more draws per chain from the adapted state"
    again = _next(step.state, **BAD_RHAT)
    assert again is not None and again.run == "draws" and again.state.rounds == 2
    assert again.state.settings.draws == 600 and again.what == step.what


def test_a_short_ess_without_kept_chains_gets_a_longer_new_run():
    step = _next(_state(kept=False), ess_bulk_min=310.0)
    assert step is not None and step.run == "new run" and step.state.rounds == 1
    assert step.sample == replace(FIRST, draws=400) == step.state.settings
    assert step.what == "a new run with 400 draws per chain"
    assert step.why == "bulk ESS 310 < 400 (worst: sigma)"


def test_after_the_rounds_of_draws_twice_the_chains_on_a_seed_of_their_own():
    step = _next(_state(rounds=2, settings=replace(FIRST, draws=600)), **BAD_RHAT)
    assert step is not None and step.run == "chains" and step.state.used == {"chains"}
    assert (step.sample.chains, step.sample.draws) == (8, 600)
    assert step.sample.seed == key_seed(3, "ladder.chains") != 3
    # not pooled: the new chains alone, the fit's seed kept
    assert (step.state.settings.chains, step.state.settings.seed) == (8, 3)
    assert step.what == (
        "8 chains x 600 draws, warm-up started from the adapted mass matrix, seed from "
        "stream 'ladder.chains'"
    )


def test_pooled_chains_keep_every_chain_in_the_attempt_and_the_settings():
    step = _next(_state(rounds=2, settings=replace(FIRST, draws=600)), **BAD_RHAT)
    assert step is not None
    pooled = _pooled_step(step, earlier_chains=4, kept_draws=500)
    assert pooled.what == step.what + (
        "; pooled with the 4 earlier chains (the last 500 draws of each): 12 chains x 500 "
        "draws diagnosed"
    )
    assert pooled.state.settings == replace(FIRST, chains=12, draws=500)  # the fit's seed
    assert pooled.sample == step.sample and pooled.state.used == step.state.used


def test_pooled_chains_that_still_fall_short_run_on_together_once():
    after = _state(rounds=2, used=frozenset({"chains"}), settings=replace(FIRST, chains=12))
    step = _next(replace(after, pooled=True), **BAD_RHAT)
    assert step is not None and step.run == "pooled draws" and not step.state.pooled
    assert step.state.settings == replace(FIRST, chains=12, draws=400)
    assert step.what == "200 more draws per chain from the adapted state, all 12 pooled chains"
    assert _next(step.state, **BAD_RHAT) is None  # nothing left against a short R-hat


def test_chains_that_could_not_be_pooled_end_the_ladder():
    assert _next(_state(rounds=2, used=frozenset({"chains"})), **BAD_RHAT) is None


def test_the_ladder_constants_are_read_when_the_step_is_chosen(monkeypatch):
    monkeypatch.setattr(bayescale.ladder, "MORE_DRAWS_ROUNDS", 0)
    step = _next(_state(), **BAD_RHAT)
    assert step is not None and step.run == "chains"
    monkeypatch.setattr(bayescale.ladder, "FINAL_TARGET_ACCEPT", 0.9999)
    step = _next(_state(used=frozenset({"step"})), alternative=None, **DIVERGING)
    assert step is not None and step.sample.target_accept == 0.9999


def test_the_whole_ladder_against_a_short_r_hat_is_four_steps():
    state, runs = _state(), []
    while (step := _next(state, **BAD_RHAT)) is not None:
        runs.append(step.run)
        if step.run == "chains":  # pooled with the 4 earlier chains, 600 draws each
            step = _pooled_step(step, 4, 600)
        state = replace(step.state, taken=state.taken + 1, pooled=step.run == "chains")
    assert runs == ["draws", "draws", "chains", "pooled draws"]
    assert (state.settings.chains, state.settings.draws, state.taken) == (12, 800, 5)

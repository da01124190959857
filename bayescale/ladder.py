"""The convergence ladder every law's fit climbs, and the sampler settings a fit starts from.

:func:`run_ladder` samples a model through the seam, diagnoses it and escalates, each step
chosen by :func:`_next_step` (pure, tested without sampling), until the gate passes or the
ladder ends (docs/convergence.md); :func:`advice_message` and :func:`gate` make the exit-3
message from the law's table of variables. :func:`model_settings` fills in what a fit's
settings leave open for the loss-kind and pass-kind models. The laws' fits
(:mod:`bayescale.loss_fit`, :mod:`bayescale.pass_fit`, :mod:`bayescale.nd`,
:mod:`bayescale.accuracy`) call these; PyMC is imported only when a fit is actually made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from bayescale.diagnostics import RHAT_MAX, Attempt, Diagnostics, diagnose
from bayescale.display import plural
from bayescale.errors import ConvergenceError
from bayescale.sampling import (
    MAX_TREE_DEPTH,
    RETRY_TARGET_ACCEPT,
    TARGET_ACCEPT,
    SamplerSettings,
)
from bayescale.seeds import key_seed

if TYPE_CHECKING:
    import pymc as pm

    from bayescale.sampling import ChainState

log = logging.getLogger("bayescale")

#: ``target_accept`` of a loss fit whose settings leave it open. Measured on the demo loss
#: case (3 groups x 10 runs, seeds 0-19, one process, warm cache): at 0.95, 2 of 20 fits had
#: a divergence and were sampled again at 0.99, a second compilation (7.2 s instead of 3.4 s
#: cold); at 0.99 none of 20 diverged, for 1.50 s a fit instead of 1.30 s (50.8 leapfrog
#: steps per draw instead of 28.2, bulk ESS about the same). On 3 groups x 16 runs no seed
#: diverged at either target and 0.99 cost 1.72 s against 1.34 s. The retry's extra
#: compilation is the larger and less predictable cost, so the step size that needs no retry
#: is the default, as in the backtests' batches.
LOSS_TARGET_ACCEPT = 0.99
#: ``target_accept`` of a loss fit's first step against divergences, batched or not. Measured on
#: the two real-data splits that diverge at 0.99 (benchmarks/calibration_real.py, seeds 1-3,
#: each split fitted alone): datablations at 1000x had 2 divergences on 2 of 3 seeds at 0.99
#: and none at 0.995 or 0.999; Gadre at 300x diverged at every target (0.99: 8-27, 0.995:
#: 10-277, 0.999: 6-23), a geometry a smaller step does not cure.
LOSS_RETRY_TARGET_ACCEPT = 0.995
#: ``warmup_tree_depth`` of a loss fit whose settings leave it open (pass fits: no cap). On the
#: 10-split backtest batch its program ran in 3.0-3.1 s instead of 4.3-4.6 s (seeds 1-4),
#: and one fit at a time in 1.36 s instead of 1.43 s with the same bulk ESS (10 seeds); see
#: :attr:`bayescale.sampling.SamplerSettings.warmup_tree_depth`.
LOSS_WARMUP_TREE_DEPTH = 7
#: ``target_accept`` of a loss fit of a large table (more than
#: :data:`bayescale.loss_model.LARGE_TABLE_RUNS` fitted runs) whose settings leave it open.
#: Many runs make the posterior nearly normal and narrow, and at 0.99 the step size shrank
#: with the table: 1,000 runs took 322 leapfrog steps a draw, 3,000 runs 552 (16 min at load
#: 5-10). On the 1,000-run table (300 + 300 draws, reducible shares centred) 0.9 took 99
#: steps a draw against 455 at 0.99, with a larger bulk ESS (353 against 262) and no
#: divergence. A fit that diverges climbs the ladder as any (its retry at
#: :data:`LOSS_RETRY_TARGET_ACCEPT`).
LARGE_TABLE_TARGET_ACCEPT = 0.9


def model_target_accept(kind: Literal["loss", "pass"]) -> float:
    """The ``target_accept`` a loss or pass-rate fit runs at when its settings leave it open."""
    return LOSS_TARGET_ACCEPT if kind == "loss" else TARGET_ACCEPT


def model_settings(
    settings: SamplerSettings | None, kind: Literal["loss", "pass"]
) -> SamplerSettings:
    """``settings`` (the defaults if ``None``) with what they leave open chosen by the model.

    ``target_accept`` (:func:`model_target_accept`) and ``warmup_tree_depth``
    (:data:`LOSS_WARMUP_TREE_DEPTH` for the loss model, uncapped otherwise).
    """
    depth = LOSS_WARMUP_TREE_DEPTH if kind == "loss" else MAX_TREE_DEPTH
    return (
        (settings or SamplerSettings())
        .with_target_accept(model_target_accept(kind))
        .with_warmup_tree_depth(depth)
    )


#: Escalation steps the convergence ladder may take after the first fit (:func:`run_ladder`).
LADDER_MAX_STEPS = 5
#: Rounds of "more draws from the adapted state", each as many draws per chain as the first.
MORE_DRAWS_ROUNDS = 2
#: ``target_accept`` of the ladder's last step against divergences.
FINAL_TARGET_ACCEPT = 0.999
#: The stream of the fit's seed that seeds the ladder's new chains (:func:`run_ladder`): the
#: seed's own would start them where the earlier chains started, with their random keys.
MORE_CHAINS_STREAM = "ladder.chains"


def _pool_chains(earlier: xr.DataTree, later: xr.DataTree) -> xr.DataTree | None:
    """The chains of ``earlier`` and ``later`` as one posterior; ``None`` when they differ.

    Both must be draws of the same posterior: the same variables with the same shapes (a
    different parameterisation names other variables and is not pooled) and no divergent
    transitions in either (the caller's to check). Every group with ``chain`` and ``draw``
    dimensions (posterior, sample statistics) is joined along ``chain``, ``earlier``'s chains
    first; the other groups are ``later``'s. Chains of unequal length keep their **last** ``N``
    draws, ``N`` the shortest chain's: a rank-normalised split R-hat compares halves of chains of
    one length, and a chain's first draws are those nearest its start, the ones to drop.
    """
    first, second = earlier["posterior"].to_dataset(), later["posterior"].to_dataset()

    def shapes(ds: xr.Dataset) -> dict[str, tuple[tuple[str, int], ...]]:
        return {
            str(name): tuple((str(d), ds.sizes[d]) for d in da.dims if d not in ("chain", "draw"))
            for name, da in ds.data_vars.items()
        }

    if shapes(first) != shapes(second):
        return None
    keep = min(first.sizes["draw"], second.sizes["draw"])
    tree = later.copy()
    for name in later.children:
        if name not in earlier.children:
            continue
        a, b = earlier[name].to_dataset(), later[name].to_dataset()
        if not {"chain", "draw"} <= set(a.dims) & set(b.dims):
            continue
        common = [v for v in b.data_vars if v in a.data_vars]
        parts = [ds[common].isel(draw=slice(ds.sizes["draw"] - keep, None)) for ds in (a, b)]
        parts = [part.assign_coords(draw=np.arange(keep)) for part in parts]
        joined = xr.concat(parts, dim="chain", combine_attrs="override", join="exact")
        joined = joined.assign_coords(chain=np.arange(joined.sizes["chain"]))
        tree[name] = xr.DataTree(joined.assign_attrs(b.attrs))
    return tree


#: How :func:`run_ladder` runs a step (:class:`_LadderStep`).
_LadderRun = Literal["new run", "alternative", "draws", "chains", "pooled draws"]


@dataclass(frozen=True)
class _LadderState:
    """Where the convergence ladder stands: all :func:`_next_step` decides from, no draws.

    Attributes
    ----------
    settings
        The last step's settings, with the chains and draws per chain of its posterior.
    base_draws
        The first fit's draws per chain: what a round of more draws adds.
    taken
        Steps taken, the first fit included.
    used
        The one-off steps taken: ``"step"`` (the smaller step), ``"alternative"``, ``"chains"``.
    rounds
        Rounds of more draws taken.
    kept
        Whether the last step kept its chains to run on (the reference path keeps none).
    pooled
        Whether the earlier and the new chains of the pooled step are kept to run on together.
    """

    settings: SamplerSettings
    base_draws: int
    taken: int = 1
    used: frozenset[str] = frozenset()
    rounds: int = 0
    kept: bool = True
    pooled: bool = False


@dataclass(frozen=True)
class _LadderStep:
    """A step of the convergence ladder, as :func:`_next_step` chose it.

    ``run`` says how :func:`run_ladder` runs it: ``"new run"`` (a new fit at ``sample``),
    ``"alternative"`` (the same with the alternative parameterisation), ``"draws"`` (more draws
    from the kept chains), ``"chains"`` (twice the chains at ``sample``, warm-up from the kept
    mass matrix, pooled when they can be: :func:`_pooled_step`), ``"pooled draws"`` (more draws
    on the pooled chains). ``state`` is the ladder after it; ``what`` and ``why`` its
    :class:`~bayescale.diagnostics.Attempt`'s.
    """

    run: _LadderRun
    what: str
    why: str
    sample: SamplerSettings
    state: _LadderState


def _next_step(
    state: _LadderState,
    diagnostics: Diagnostics,
    *,
    max_steps: int,
    retry_target: float,
    alternative: str | None = None,
) -> _LadderStep | None:
    """The ladder's next step after a fit diagnosed as ``diagnostics``; ``None`` to stop.

    Pure, so that every choice is tested without sampling. It stops when the gate passes, when
    ``max_steps`` steps followed the first fit, or when no step is left against what failed
    (:func:`run_ladder` lists the steps). ``alternative`` names the model's alternative
    parameterisation, ``None`` when it has none.
    """
    if diagnostics.ok or state.taken > max_steps:
        return None
    why = "; ".join(diagnostics.problems())
    settings, used, base = state.settings, state.used, state.base_draws

    def step(run: _LadderRun, what: str, sample: SamplerSettings, **changes: Any) -> _LadderStep:
        return _LadderStep(run, what, why, sample, replace(state, **changes))

    if diagnostics.divergences:  # a new run each: chains that diverged are not kept
        retry = settings.for_retry(retry_target)
        if retry is not None and "step" not in used:
            what = (
                f"a smaller step: target_accept {retry.target_accept}, warm-up trees "
                f"to depth {MAX_TREE_DEPTH}"
            )
            return step("new run", what, retry, settings=retry, used=used | {"step"})
        if alternative is not None and "alternative" not in used:
            what = f"the alternative parameterisation: {alternative}"
            return step("alternative", what, settings, used=used | {"alternative"})
        if (settings.target_accept or 0.0) < FINAL_TARGET_ACCEPT:
            smallest = replace(
                settings, target_accept=FINAL_TARGET_ACCEPT, warmup_tree_depth=MAX_TREE_DEPTH
            )
            what = f"the smallest step: target_accept {FINAL_TARGET_ACCEPT}"
            return step("new run", what, smallest, settings=smallest)
        return None
    if state.rounds < MORE_DRAWS_ROUNDS:
        longer = replace(settings, draws=settings.draws + base)
        if state.kept:
            what = f"{base} more draws per chain from the adapted state"
            return step("draws", what, longer, settings=longer, rounds=state.rounds + 1)
        what = f"a new run with {longer.draws} draws per chain"  # the reference path
        return step("new run", what, longer, settings=longer, rounds=state.rounds + 1)
    if "chains" not in used:
        new = replace(
            settings, chains=2 * settings.chains, seed=key_seed(settings.seed, MORE_CHAINS_STREAM)
        )
        what = (
            f"{new.chains} chains x {new.draws} draws, warm-up started from the adapted "
            f"mass matrix, seed from stream {MORE_CHAINS_STREAM!r}"
        )
        alone = replace(settings, chains=new.chains)  # the settings when not pooled
        return step("chains", what, new, settings=alone, used=used | {"chains"})
    if state.pooled:
        longer = replace(settings, draws=settings.draws + base)
        what = (
            f"{base} more draws per chain from the adapted state, all {longer.chains} pooled chains"
        )
        return step("pooled draws", what, longer, settings=longer, pooled=False)
    return None


def _pooled_step(step: _LadderStep, earlier_chains: int, kept_draws: int) -> _LadderStep:
    """``step`` (twice the chains) once its chains are pooled with the ``earlier_chains``.

    Pooled, each chain keeps its last ``kept_draws`` draws (:func:`_pool_chains`); the attempt
    says so and the settings count every chain.
    """
    chains = earlier_chains + step.sample.chains
    what = (
        f"{step.what}; pooled with the {earlier_chains} earlier chains (the last {kept_draws} "
        f"draws of each): {chains} chains x {kept_draws} draws diagnosed"
    )
    settings = replace(step.state.settings, chains=chains, draws=kept_draws)
    return replace(step, what=what, state=replace(step.state, settings=settings))


def run_ladder(
    build: Callable[[bool], pm.Model],
    settings: SamplerSettings,
    complete: Callable[[xr.DataTree, SamplerSettings], xr.DataTree] | None = None,
    retry_target: float = RETRY_TARGET_ACCEPT,
    alternative: str | None = None,
    added_per_draw: int = 0,
    first_form: str | None = None,
    max_steps: int | None = None,
) -> tuple[xr.DataTree, Diagnostics, SamplerSettings, float]:
    """Sample through the seam, diagnose, and escalate until the gate passes or the ladder ends.

    ``build(alternative)`` makes the model (``True``: its alternative parameterisation, named
    by ``alternative``, ``None`` when the model has none; ``first_form`` names the form the
    first fit samples when it is not the model's usual one); ``complete`` adds quantities drawn
    after sampling (the pass model's problem intercepts, ``added_per_draw`` scalars a draw),
    once on the draws diagnosed. Settings whose draws cannot fit in memory are refused before
    the first fit (:func:`bayescale.sampling.check_memory`). After the first fit, at most
    ``max_steps`` steps (default :data:`LADDER_MAX_STEPS`), each chosen by :func:`_next_step`
    from what failed:

    - divergences: a smaller step (``retry_target``, uncapped warm-up trees:
      :meth:`SamplerSettings.for_retry`), then the alternative parameterisation, then
      ``target_accept`` :data:`FINAL_TARGET_ACCEPT`; each a new run (warm-up must adapt again,
      and chains that diverged are not kept);
    - R-hat or ESS short, no divergences: :data:`MORE_DRAWS_ROUNDS` rounds of as many draws
      again per chain from where the chains stopped (no new warm-up; :func:`more_draws`),
      then twice the chains, their warm-up started from the adapted mass matrix and their
      seed from stream :data:`MORE_CHAINS_STREAM` of the fit's, **pooled** with the earlier
      chains (:func:`_pool_chains`: same model, no divergences), so that the gate and the
      posterior use every chain; then, if the pooled chains still fall short, as many draws
      again on every one of them from where it stopped, pooled again.

    Every step is an :class:`~bayescale.diagnostics.Attempt` in the diagnostics; the settings
    returned are those of the last step, with the chains and draws per chain of the
    posterior returned (pooled: the earlier and the new chains; draws: the total per chain).
    """
    from bayescale.sampling import check_memory, more_draws, sample_chains, show_progress

    model = build(False)
    check_memory(model, settings, added_per_draw)
    progress = show_progress(settings.progress)
    base = settings.draws

    def completed(raw: xr.DataTree, settings: SamplerSettings) -> xr.DataTree:
        return complete(raw, settings) if complete else raw

    what = (
        f"NUTS, {settings.chains} chains x {settings.draws} draws after {settings.tune} "
        f"warm-up steps, target_accept {settings.target_accept}"
        + (f", {first_form}" if first_form else "")
    )
    start = time.perf_counter()
    raw, _, chains = sample_chains(model, settings, None)
    attempts = [Attempt(what=what, why="first fit", seconds=time.perf_counter() - start)]
    state = _LadderState(settings, base, kept=chains is not None)
    idata = completed(raw, settings)
    diagnostics = diagnose(idata)
    asked_chains = settings.chains  # the ESS the gate asks for stays that of the chains asked for
    pooled_states: tuple[ChainState, ChainState] | None = None  # the pooled step's, to run on
    steps = LADDER_MAX_STEPS if max_steps is None else max_steps
    while (
        step := _next_step(
            state, diagnostics, max_steps=steps, retry_target=retry_target, alternative=alternative
        )
    ) is not None:
        if step.run == "alternative":
            model = build(True)
        earlier, earlier_state = raw, chains
        start = time.perf_counter()
        if step.run == "draws":
            assert chains is not None  # the step is chosen only when the chains were kept
            raw, chains = more_draws(chains, base, progress)
        elif step.run == "pooled draws":
            assert pooled_states is not None  # chosen only when they were kept
            (first, second), pooled_states = pooled_states, None
            before, _ = more_draws(first, base, progress)
            raw, chains = more_draws(second, base, progress)
            pooled = _pool_chains(before, raw)
            raw = raw if pooled is None else pooled
        else:
            mass = chains.inverse_mass if step.run == "chains" and chains is not None else None
            pooled_states = None  # a new run: earlier pooled chains are not run on after it
            raw, _, chains = sample_chains(model, step.sample, mass)
        seconds = time.perf_counter() - start
        log.info("convergence ladder: %s (because %s)", step.what, step.why)
        if step.run == "chains" and (pooled := _pool_chains(earlier, raw)) is not None:
            if earlier_state is not None and chains is not None:
                pooled_states = (earlier_state, chains)
            sizes = earlier["posterior"].sizes["chain"], pooled["posterior"].sizes["draw"]
            step, raw = _pooled_step(step, *sizes), pooled
        attempts.append(Attempt(what=step.what, why=step.why, seconds=seconds))
        state = replace(
            step.state,
            taken=len(attempts),
            kept=chains is not None,
            pooled=pooled_states is not None,
        )
        idata = completed(raw, state.settings)
        diagnostics = diagnose(idata, ess_chains=asked_chains)
    if not diagnostics.ok:
        log.info("convergence ladder exhausted after %d steps", len(attempts))
    diagnostics = replace(diagnostics, attempts=tuple(attempts))
    return idata, diagnostics, state.settings, sum(a.seconds for a in attempts)


def _advice_key(name: str, advice: dict[str, tuple[str, str]]) -> str | None:
    """The advice entry of a variable: its exact name, else a suffix, else a part of it."""
    keys = [k for k in advice if k]  # "" is the divergences' entry, no variable's
    for match in (
        lambda k: name == k,
        lambda k: name.endswith("_" + k),
        lambda k: k in name,
    ):
        key = next((k for k in keys if match(k)), None)
        if key is not None:
            return key
    return None


def advice_message(
    diagnostics: Diagnostics,
    advice: dict[str, tuple[str, str]],
    context: str = "",
) -> str:
    """The exit-3 message: what failed, in which variable, and what the user can do.

    ``advice`` is the model's table of variables (:data:`bayescale.loss_fit.ADVICE`, the loss
    model's, :data:`bayescale.pass_fit.PASS_ADVICE`, ...); ``context`` is a sentence about the
    data, put before the advice.
    """
    if not diagnostics.r_hat_max <= RHAT_MAX:
        name = diagnostics.worst
    elif diagnostics.divergences:
        name = ""
    else:
        name = diagnostics.worst_ess
    key = _advice_key(name, advice) if name else None
    steps = len(diagnostics.attempts)
    head = (
        f"the sampler did not converge after {plural(steps, 'step')} of the convergence "
        "ladder: " + "; ".join(diagnostics.problems()) + "."
    )
    if context:
        head += " " + context
    if diagnostics.divergences and not name:
        body = " The posterior has a region the sampler cannot follow even with the smallest step"
        body += advice.get("", ("", "."))[1]
    elif key is not None:
        what, fix = advice[key]
        body = f" '{name}' is {what}. What you can do: {fix}."
    else:
        body = f" '{name}' mixes slowly. What you can do: run with more draws (--draws 4000)."
    return head + body + ' --allow-unconverged writes the result anyway, marked "ok": false.'


def gate(
    result: Any,
    allow_unconverged: bool,
    advice: dict[str, tuple[str, str]],
    context: str = "",
) -> None:
    """Raise the exit-3 error of a fit that failed the gate, unless ``allow_unconverged``.

    ``advice`` and ``context`` as in :func:`advice_message`; the fit is the error's ``result``.
    """
    if not result.diagnostics.ok and not allow_unconverged:
        raise ConvergenceError(advice_message(result.diagnostics, advice, context), result=result)

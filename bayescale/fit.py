"""Fitting: validated data to a sampled, diagnosed posterior.

:func:`fit_loss` wires model building, the sampling seam and the diagnostics gate; a fit
that fails the gate climbs a convergence ladder within a stated budget (:func:`_ladder`,
docs/convergence.md) and raises only when the ladder is exhausted. The result,
:class:`LossFit`, is a frozen record of everything a forecast needs, its ladder steps in
``diagnostics.attempts``; PyMC is imported only when a fit is actually made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import xarray as xr

from bayescale.buckets import Buckets, intercepts_drawn
from bayescale.data import LossData
from bayescale.diagnostics import RHAT_MAX, Attempt, Diagnostics, diagnose
from bayescale.display import Summarised, plural
from bayescale.draws import stacked_draws
from bayescale.errors import ConvergenceError, InputError
from bayescale.pass_data import PassAggregate, PassCounts
from bayescale.priors import LossPriors, PassPriors
from bayescale.sampling import (
    MAX_TREE_DEPTH,
    RETRY_TARGET_ACCEPT,
    TARGET_ACCEPT,
    SamplerSettings,
)
from bayescale.seeds import Streams, key_seed

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


@dataclass(frozen=True, repr=False)
class LossFit(Summarised):
    r"""A sampled loss model.

    Attributes
    ----------
    data
        The runs (fitted and held out).
    idata
        ``DataTree`` from PyMC: ``posterior`` with dims ``(chain, draw, group)`` for ``level``,
        ``reducible``, ``exponent``, ``a``, ``b``, ``c`` and scalar ``sigma``; ``sample_stats``.
    log_pivot
        :math:`\ln C_0` of the pivot compute.
    priors, settings
        What the fit was made with.
    diagnostics
        The convergence summary.
    timing_s
        Seconds: ``total`` and ``sampling`` (compile included).
    forecast_seed
        Root of the forecast's random streams when not the sampler's seed
        (``bayescale forecast --seed``); :mod:`bayescale.seeds`.
    streams
        ``"keyed"``, or ``"offsets"`` for fits saved before keyed streams.
    exact_loo
        By row of ``data``: the probability that a new run's loss is at most the run's, from
        a refit without the run, for the runs whose importance-weighted leave-one-out could
        not tell (:func:`bayescale.forecast.with_exact_loo`, which :func:`run_loss
        <bayescale.pipeline.run_loss>` calls); the others have none.
    loo_below
        By fitted row: the leave-one-out probability the off-curve warnings read
        (:func:`bayescale.forecast.loo_below`), as a saved fit keeps it so that a forecast
        from it computes (and imports) nothing for them; ``None``: computed when asked.
    """

    #: The function that answers this law's questions from such a fit (for messages).
    answered_by: ClassVar[str] = "bayescale.result_from_fit"

    data: LossData
    idata: xr.DataTree
    log_pivot: float
    priors: LossPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float] = field(default_factory=dict)
    forecast_seed: int | None = None
    streams: Streams = "keyed"
    exact_loo: dict[int, float] = field(default_factory=dict)
    loo_below: dict[int, float] | None = None

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape ``(sample, *dims)``."""
        return stacked_draws(self.idata, name)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        data = self.data
        fitted = data.fitted
        rows = [
            (
                "data",
                f"{data.source}: {int(fitted.sum())} fitted runs ({int(data.held_out.sum())} "
                f"held out) in {len(data.groups)} group(s), {data.compute[fitted].min():.3g} to "
                f"{data.compute[fitted].max():.3g} FLOPs",
            ),
            ("law", "L(C) = a*C^b + c per group, partially pooled"),
            *_common_rows(self),
        ]
        return "LossFit", rows


def _common_rows(fit: Any) -> list[tuple[str, str]]:
    """Summary rows every law's fit shows: diagnostics, sampler, timing, where the draws are."""
    d = fit.diagnostics
    status = "ok" if d.ok else "FAILED: " + "; ".join(d.problems())
    groups = ", ".join(sorted(fit.idata.children))
    return [
        (
            "diagnostics",
            f"{status} (R-hat max {d.r_hat_max:.3f}, bulk ESS min {d.ess_bulk_min:.0f}, "
            f"{d.divergences} divergences)",
        ),
        (
            "sampler",
            f"{d.chains} chains x {d.draws} draws, seed {fit.settings.seed}, "
            f"{fit.timing_s.get('sampling', float('nan')):.1f} s sampling",
        ),
        ("idata", f"DataTree groups: {groups} (ArviZ works on it)"),
    ]


#: Escalation steps the convergence ladder may take after the first fit (:func:`_ladder`).
LADDER_MAX_STEPS = 5
#: Rounds of "more draws from the adapted state", each as many draws per chain as the first.
MORE_DRAWS_ROUNDS = 2
#: ``target_accept`` of the ladder's last step against divergences.
FINAL_TARGET_ACCEPT = 0.999
#: The stream of the fit's seed that seeds the ladder's new chains (:func:`_ladder`): the
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


#: How :func:`_ladder` runs a step (:class:`_LadderStep`).
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

    ``run`` says how :func:`_ladder` runs it: ``"new run"`` (a new fit at ``sample``),
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
    (:func:`_ladder` lists the steps). ``alternative`` names the model's alternative
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


def _ladder(
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


#: What a variable of the loss model is, and what a user can do when it fails the gate.
ADVICE = {
    "sigma": (
        "the run-to-run scatter, which a few runs per group barely pin down",
        "add runs (5 or more a group), fit several groups together (they share the scatter), "
        "or set a tighter scatter prior (priors.scatter_median, priors.scatter_shape in a "
        "spec)",
    ),
    "slope": (
        "how steeply a group's loss falls",
        "add runs over a wider range of compute, or check the plot for a run off the curve",
    ),
    "reducible": (
        "how much of a group's loss compute can still remove (the floor)",
        "add larger runs: the floor shows only where the curve bends",
    ),
    "level": (
        "a group's loss at the middle of its runs",
        "check the group's runs for one off the curve (a broken or rerun run)",
    ),
    # key "": what follows "the sampler cannot follow even with the smallest step" when only
    # divergences failed (each table has one)
    "": (
        "",
        "; usually a group whose runs do not follow one curve. Check the plot for a run off "
        "the curve and remove it, or try --likelihood student_t.",
    ),
}

#: The same for the pass-rate models (per-problem counts and aggregate rates).
PASS_ADVICE = {
    "sigma_model": (
        "how far whole models sit off the pass-rate law",
        "add models, or fit with more buckets so that the law is pinned",
    ),
    "sigma_problem": (
        "how far the problems of one bucket spread around the bucket's line, which buckets of "
        "a few problems cannot tell from the spread between buckets",
        "add problems, or use fewer buckets (--buckets) so that each holds several",
    ),
    "exponent": (
        "how fast a bucket's pass rate rises with compute",
        "add models over a wider range of compute, or problems; buckets of one or two problems "
        "pin it worse than fewer, fuller ones (--buckets)",
    ),
    "level": (
        "a bucket's -ln(pass rate) at the middle compute of the models",
        "use fewer buckets (--buckets), or check the models for one off the law",
    ),
    "sigma": (
        "how far the models' aggregate pass rates sit off the law",
        "add models, or check the table for a model off the law (another family or harness)",
    ),
    "": ("", ". Check the table for a model off the law (another family or harness)."),
}


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


def _advice(
    diagnostics: Diagnostics,
    advice: dict[str, tuple[str, str]],
    context: str = "",
) -> str:
    """The exit-3 message: what failed, in which variable, and what the user can do.

    ``advice`` is the model's table of variables (:data:`ADVICE`, the loss model's,
    :data:`PASS_ADVICE`, ...); ``context`` is a sentence about the data, put before the advice.
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


#: Problems a bucket holds below which the exit-3 message of a per-problem fit names the sizes.
FEW_PROBLEMS_PER_BUCKET = 3


def _pass_context(result: PassFit) -> str:
    """The buckets of a per-problem fit, when some hold few problems."""
    if result.buckets is None:
        return ""
    sizes = result.buckets.sizes()
    if min(sizes) >= FEW_PROBLEMS_PER_BUCKET:
        return ""
    return (
        f"The {sum(sizes)} problems are split into {plural(len(sizes), 'bucket')} of "
        f"{', '.join(map(str, sizes))} problems."
    )


def _gate(
    result: Any,
    allow_unconverged: bool,
    advice: dict[str, tuple[str, str]],
    context: str = "",
) -> None:
    """Raise the exit-3 error of a fit that failed the gate, unless ``allow_unconverged``.

    ``advice`` and ``context`` as in :func:`_advice`; the fit is the error's ``result``.
    """
    if not result.diagnostics.ok and not allow_unconverged:
        raise ConvergenceError(_advice(result.diagnostics, advice, context), result=result)


def fit_loss(
    data: LossData,
    priors: LossPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    allow_unconverged: bool = False,
    ladder_steps: int | None = None,
) -> LossFit:
    """Fit the hierarchical loss model with JAX NUTS and check convergence.

    Parameters
    ----------
    data
        Validated runs (:func:`bayescale.data.load_loss_runs`).
    priors
        Prior hyper-parameters (:class:`bayescale.priors.LossPriors`).
    settings
        Sampler settings (:class:`bayescale.sampling.SamplerSettings`); ``target_accept``
        left open is :data:`LOSS_TARGET_ACCEPT` (:data:`LARGE_TABLE_TARGET_ACCEPT` for a
        table of more than :data:`bayescale.loss_model.LARGE_TABLE_RUNS` fitted runs, whose
        groups' reducible shares are also sampled centred), ``warmup_tree_depth``
        :data:`LOSS_WARMUP_TREE_DEPTH`. A fit that fails the gate climbs the convergence
        ladder (:func:`_ladder`): against divergences :data:`LOSS_RETRY_TARGET_ACCEPT` with
        uncapped warm-up trees, then non-centred group slopes, then
        :data:`FINAL_TARGET_ACCEPT`; against R-hat or ESS more draws from the adapted state,
        then twice the chains, pooled with the earlier ones. ``settings`` records the last
        step's, with the posterior's chains and draws.
    allow_unconverged
        Return the fit even when the diagnostics gate fails after the ladder, instead of
        raising.
    ladder_steps
        At most this many steps of the convergence ladder (default
        :data:`LADDER_MAX_STEPS`; 0: the first fit alone).

    Returns
    -------
    LossFit

    Raises
    ------
    ConvergenceError
        When R-hat, ESS or divergences miss the thresholds of :mod:`bayescale.diagnostics`
        and ``allow_unconverged`` is false; the fit is attached as ``error.result``.
    """
    from bayescale.loss_model import (
        add_scatter,
        build_loss_model,
        large_table,
        loss_pivot,
        shape_class_runs,
    )

    priors = priors or LossPriors()
    large = large_table(data)  # docs/performance.md, "Large tables"
    if large:
        settings = (settings or SamplerSettings()).with_target_accept(LARGE_TABLE_TARGET_ACCEPT)
    settings = model_settings(settings, "loss")
    start = time.perf_counter()
    pad = shape_class_runs(data)  # one compiled program per shape class (docs/performance.md)
    idata, diagnostics, settings, sampling_s = _ladder(
        lambda noncentred: build_loss_model(
            data, priors, pad_runs=pad, noncentred=noncentred, centred_reducible=large
        ),
        settings,
        lambda idata, settings: add_scatter(idata, data, priors, settings.seed),
        retry_target=LOSS_RETRY_TARGET_ACCEPT,
        alternative="group slopes non-centred" if len(data.groups) > 1 else None,
        max_steps=ladder_steps,
    )
    result = LossFit(
        data=data,
        idata=idata,
        log_pivot=loss_pivot(data),
        priors=priors,
        settings=settings,
        diagnostics=diagnostics,
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
    )
    _gate(result, allow_unconverged, ADVICE)
    return result


def fit_loss_batch(
    datasets: Sequence[LossData],
    priors: LossPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    seeds: Sequence[int] | None = None,
    allow_unconverged: bool = False,
) -> list[LossFit]:
    """Fit the loss model to many datasets, those of one shape in one compiled program.

    The same model, priors and sampler as :func:`fit_loss`, run as a batch
    (:func:`bayescale.batch.sample_batched`): datasets with the same number of groups (and
    the same likelihood) share one template, their fitted runs padded to the largest count
    with zero weight, so the batch compiles once instead of once per dataset. Batches run at
    ``target_accept`` of at least :data:`LOSS_TARGET_ACCEPT` (0.99), also when the settings ask
    for less, as :func:`fit_loss` may: in a batch a retry is a second batch, and at 0.95
    three or four of ten demo-curve splits diverged, so measured on those ten (warm cache,
    same process) starting at 0.99 took 13.4-14.7 s against 18.3-23.5 s for 0.95 and a retry
    batch. The datasets that still diverge are sampled once more, together, at
    :data:`LOSS_RETRY_TARGET_ACCEPT` with uncapped warm-up trees, as a single loss fit would
    be; a dataset that still fails the gate climbs the rest of the convergence ladder alone
    (:func:`fit_loss` from its last settings), its batch steps first in its attempts. Used
    by the backtests, where the splits of one table (and the groups of the
    no-pooling baseline) are such datasets.

    Parameters
    ----------
    datasets
        Validated runs, one :class:`~bayescale.data.LossData` per fit.
    priors, settings, allow_unconverged
        As in :func:`fit_loss`.
    seeds
        A seed per dataset (:func:`bayescale.batch.dataset_seed` makes stable ones); by
        default ``dataset_seed(settings.seed, i)`` for the ``i``-th dataset of ``datasets``.

    Returns
    -------
    list of LossFit
        In the order of ``datasets``. ``timing_s`` holds each dataset's equal share of its
        batch's wall time (plus its share of the retry batch, for a dataset sampled again).

    Raises
    ------
    ConvergenceError
        For the first dataset that fails the gate, unless ``allow_unconverged``.
    """
    priors = priors or LossPriors()
    settings = model_settings(settings, "loss")
    # at least the loss model's default, also when asked for less: a retry costs a second batch
    target = max(settings.target_accept or 0.0, LOSS_TARGET_ACCEPT)
    settings = replace(settings, target_accept=target)
    if seeds is None:
        from bayescale.batch import dataset_seed

        seeds = [dataset_seed(settings.seed, i) for i in range(len(datasets))]
    fits = _loss_batches(datasets, priors, settings, seeds)
    diverged = [i for i, fit in fits.items() if fit.diagnostics.divergences]
    retry = settings.for_retry(LOSS_RETRY_TARGET_ACCEPT) if diverged else None
    if retry is not None:
        log.info(
            "%d of %d fits diverged; sampling them again with target_accept=%s and warm-up "
            "trees to depth %d",
            len(diverged),
            len(datasets),
            retry.target_accept,
            retry.warmup_tree_depth,
        )
        again = _loss_batches(
            [datasets[i] for i in diverged], priors, retry, [seeds[i] for i in diverged]
        )
        for j, i in enumerate(diverged):
            first_s, retry_s = fits[i].timing_s, again[j].timing_s
            fits[i] = replace(
                again[j],
                timing_s={k: first_s[k] + retry_s[k] for k in ("total", "sampling")},
                diagnostics=replace(
                    again[j].diagnostics,
                    attempts=(
                        *fits[i].diagnostics.attempts,
                        Attempt(
                            f"a smaller step: target_accept {retry.target_accept}, batched",
                            "; ".join(fits[i].diagnostics.problems()),
                            retry_s["total"],
                        ),
                    ),
                ),
            )
    for i, fit in list(fits.items()):
        if not fit.diagnostics.ok:  # the rest of the ladder, one fit at a time
            log.info("dataset %d still fails the gate; fitting it alone through the ladder", i)
            alone = fit_loss(datasets[i], priors, fit.settings, allow_unconverged=True)
            fits[i] = replace(
                alone,
                diagnostics=replace(
                    alone.diagnostics,
                    attempts=(*fit.diagnostics.attempts, *alone.diagnostics.attempts),
                ),
                timing_s={k: fit.timing_s[k] + alone.timing_s[k] for k in ("total", "sampling")},
            )
    ordered = [fits[i] for i in range(len(datasets))]
    for result in ordered:
        _gate(result, allow_unconverged, ADVICE)
    return ordered


def _loss_batches(
    datasets: Sequence[LossData],
    priors: LossPriors,
    settings: SamplerSettings,
    seeds: Sequence[int],
) -> dict[int, LossFit]:
    """One batch per shape (number of groups) of ``datasets``; fits by position."""
    from bayescale.batch import sample_batched
    from bayescale.loss_model import (
        add_scatter,
        build_loss_model,
        loss_inputs,
        loss_pivot,
        run_class,
    )
    from bayescale.sampling import check_memory

    shapes: dict[int, list[int]] = {}
    for i in range(len(datasets)):
        shapes.setdefault(len(datasets[i].groups), []).append(i)
    models = {}
    for groups, batch in shapes.items():  # every batch checked before any samples
        runs = run_class(max(int(datasets[i].fitted.sum()) for i in batch))
        models[groups] = runs, build_loss_model(datasets[batch[0]], priors, pad_runs=runs)
        # every lane's draws are kept at once: as many chains again per dataset
        check_memory(
            models[groups][1],
            replace(settings, chains=settings.chains * len(batch)),
            what=f"{plural(len(batch), 'dataset')} x {plural(settings.chains, 'chain')}",
        )
    fits = {}
    for groups, batch in shapes.items():
        start = time.perf_counter()
        runs, model = models[groups]
        idatas, seconds = sample_batched(
            model,
            [loss_inputs(datasets[i], runs) for i in batch],
            settings,
            coords=[{"group": list(datasets[i].groups)} for i in batch],
            seeds=[seeds[i] for i in batch],
        )
        share = (time.perf_counter() - start) / len(batch)
        for i, idata in zip(batch, idatas, strict=True):
            idata = add_scatter(idata, datasets[i], priors, seeds[i])
            fits[i] = LossFit(
                data=datasets[i],
                idata=idata,
                log_pivot=loss_pivot(datasets[i]),
                priors=priors,
                settings=replace(settings, seed=seeds[i]),  # the seed this dataset drew with
                diagnostics=replace(
                    diagnose(idata),
                    attempts=(
                        Attempt(
                            f"batched NUTS at target_accept {settings.target_accept}"
                            f" ({len(batch)} datasets in one program)",
                            "first fit",
                            share,
                        ),
                    ),
                ),
                timing_s={"total": share, "sampling": seconds / len(batch)},
            )
    return fits


@dataclass(frozen=True, repr=False)
class PassFit(Summarised):
    """A sampled pass-rate model (per-problem counts or aggregate rates).

    Attributes
    ----------
    data
        :class:`~bayescale.pass_data.PassCounts` or :class:`~bayescale.pass_data.PassAggregate`.
    buckets
        The difficulty buckets (per-problem counts only).
    idata
        ``DataTree`` with ``level``, ``exponent`` (dim ``bucket``) and, for counts, ``theta``
        (dim ``problem``), ``sigma_model``, ``sigma_problem``; for aggregates ``sigma``.
    log_pivot
        ln C0 of the pivot compute.
    forecast_seed, streams
        As :class:`LossFit`'s.
    """

    #: The function that answers this law's questions from such a fit (for messages).
    answered_by: ClassVar[str] = "bayescale.result_from_pass_fit"

    data: PassCounts | PassAggregate
    buckets: Buckets | None
    idata: xr.DataTree
    log_pivot: float
    priors: PassPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float] = field(default_factory=dict)
    forecast_seed: int | None = None
    streams: Streams = "keyed"

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape ``(sample, *dims)``."""
        return stacked_draws(self.idata, name)

    @property
    def aggregate(self) -> bool:
        """True for the aggregate-rate model."""
        return isinstance(self.data, PassAggregate)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        models = self.data.models
        fitted = models.fitted
        if isinstance(self.data, PassAggregate):
            what = f"aggregate pass rates, buckets {', '.join(self.data.buckets)}"
        else:
            assert self.buckets is not None
            what = (
                f"{len(self.data.problems)} problems in {len(self.buckets.labels)} difficulty "
                "buckets"
            )
        rows = [
            (
                "data",
                f"{self.data.source}: {int(fitted.sum())} fitted models "
                f"({int(models.held_out.sum())} held out), {what}",
            ),
            ("law", "-E[ln pass_rate] = alpha*C^(-k) per bucket"),
            *_common_rows(self),
        ]
        return "PassFit", rows


def fit_pass(
    data: PassCounts | PassAggregate,
    buckets: Buckets | None = None,
    priors: PassPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    allow_unconverged: bool = False,
) -> PassFit:
    """Fit the hierarchical pass-rate model with JAX NUTS and check convergence.

    Parameters
    ----------
    data
        Per-problem counts (then ``buckets`` is required) or aggregate rates.
    buckets
        Difficulty buckets from :func:`bayescale.buckets.make_buckets`.
    priors, settings
        Prior hyper-parameters and sampler settings.
    allow_unconverged
        Return the fit even when the diagnostics gate fails.

    Raises
    ------
    InputError
        When per-problem counts come without ``buckets``.
    ConvergenceError
        When the diagnostics gate fails and ``allow_unconverged`` is false.

    Returns
    -------
    PassFit
        The data, its difficulty buckets, the ``xarray.DataTree`` posterior, the
        diagnostics and the sampler settings.
    """
    from bayescale.pass_model import (
        add_problem_intercepts,
        aggregate_rows,
        build_aggregate_pass_model,
        build_pass_model,
        pass_pivot,
        pass_shape,
        size_class,
        starts_noncentred,
        unpad_posterior,
        weak_intercept_count,
    )

    priors = priors or PassPriors()
    settings = model_settings(settings, "pass")
    start = time.perf_counter()
    complete = None
    alternative = None
    first_noncentred = False
    first_form: list[str] = []
    if isinstance(data, PassAggregate):
        aggregate = data
        rows = size_class(aggregate_rows(aggregate))

        def build(other: bool) -> pm.Model:
            return build_aggregate_pass_model(aggregate, priors, pad_rows=rows)
    else:
        if buckets is None:
            raise InputError(
                "fit_pass: per-problem counts need their difficulty buckets: "
                "fit_pass(counts, bayescale.buckets.make_buckets(counts, n_buckets=6))."
            )
        counts, kept = data, buckets
        # effects the counts barely pin start non-centred; the ladder's alternative is the other
        if int(data.models.fitted.sum()) > 2:  # two models leave no model effects
            first_noncentred = starts_noncentred(counts, kept)
            alternative = f"model effects {'centred' if first_noncentred else 'non-centred'}"
        if first_noncentred:
            first_form.append("model effects non-centred")
        if not priors.problem_slopes and (weak := weak_intercept_count(counts, kept)):
            first_form.append(f"{weak[0]} of {weak[1]} sampled problem intercepts non-centred")
        # one compiled program per shape class (docs/performance.md); per-problem exponents
        # are not padded
        shape = None if priors.problem_slopes else pass_shape(counts, kept)

        def build(other: bool) -> pm.Model:
            noncentred = other != first_noncentred
            return build_pass_model(counts, kept, priors, noncentred=noncentred, shape=shape)

        def complete(idata: xr.DataTree, settings: SamplerSettings) -> xr.DataTree:
            if shape is not None:  # padded coefficients out before anything sees them
                idata = unpad_posterior(idata, counts, kept)
            return add_problem_intercepts(idata, counts, kept, settings.seed)

    added = intercepts_drawn(buckets, priors.problem_slopes)
    idata, diagnostics, settings, sampling_s = _ladder(
        build,
        settings,
        complete,
        alternative=alternative,
        added_per_draw=added,
        first_form="; ".join(first_form) or None,
    )
    result = PassFit(
        data=data,
        buckets=buckets,
        idata=idata,
        log_pivot=pass_pivot(data.models.compute[data.models.fitted]),
        priors=priors,
        settings=settings,
        diagnostics=diagnostics,
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
    )
    _gate(result, allow_unconverged, PASS_ADVICE, _pass_context(result))
    return result

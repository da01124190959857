"""How to run NUTS: :class:`SamplerSettings`, apart from the sampling code that runs it.

Kept in its own module so that the sampling seam (:mod:`bayescale.sampling`) and the batched
program (:mod:`bayescale.batch`) both name it without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

from bayescale.errors import InputError

#: Samplers bayescale exposes. blackjax is left out: it crashes with pymc 6.4 (pymc #8367).
SAMPLERS = ("numpyro",)
#: Starting mass matrices of warm-up (:attr:`SamplerSettings.initial_mass`).
INITIAL_MASS = ("laplace", "unit")
#: Target acceptance of the one automatic retry after divergences (a pass fit's; a loss fit's
#: is :data:`bayescale.ladder.LOSS_RETRY_TARGET_ACCEPT`).
RETRY_TARGET_ACCEPT = 0.99
#: Fewest kept draws per chain: split R-hat halves each chain, and a half needs 2 draws to have a
#: variance (:func:`bayescale.diagnostics.rank_rhat`); fewer cannot pass the gate.
MIN_DRAWS = 4
#: numpyro's (and Stan's) tree depth limit: a NUTS draw takes at most 2**10 - 1 leapfrog steps.
MAX_TREE_DEPTH = 10


@dataclass(frozen=True)
class SamplerSettings:
    """How to run NUTS.

    Attributes
    ----------
    draws, tune, chains
        Kept draws per chain, warm-up steps per chain, number of chains. 500 warm-up steps by
        default: measured against 1000 on the benchmarks/bench_fit.py cases (seed 1, one
        process), every fit still passed the gate (R-hat <= 1.007, bulk ESS >= 1195, no
        divergences) with the same posterior (medians within 0.08 posterior sd), for 15% less
        CPU time on Pythia x MATH (46 against 54 s; more steps per draw, 18.9 against 15.2,
        fewer draws of warm-up) and 27% on the 12 x 500 pass case. The slow LiveCodeBench fit
        of tests/test_pass_real_data.py, the hardest data here, converges too (R-hat 1.007,
        bulk ESS 1890, no divergences, no retry; 1000 steps: 1.007, 1907; medians within 0.06
        sd; 130 against 158 s wall). Most warm-up gradients go to the first windows, before
        the mass matrix fits, so halving ``tune`` saves less than half of them.
    target_accept
        NUTS target acceptance probability (step-size adaptation); ``None`` (default) leaves
        it to the model: 0.99 for the loss model (:data:`bayescale.ladder.LOSS_TARGET_ACCEPT`;
        0.9 for a table of more than 1,024 fitted runs,
        :data:`bayescale.ladder.LARGE_TABLE_TARGET_ACCEPT`),
        :data:`TARGET_ACCEPT` (0.95) otherwise. A fit with divergences is run again at its
        retry target, ``RETRY_TARGET_ACCEPT`` (0.99) or 0.995 for a loss fit
        (:data:`bayescale.ladder.LOSS_RETRY_TARGET_ACCEPT`), with uncapped warm-up trees
        (:meth:`for_retry`), unless it already ran so: the first step of the convergence
        ladder against divergences (:func:`bayescale.loss_fit.fit_loss`, docs/convergence.md).
    seed
        Seed of the sampler and of every predictive draw made from the fit.
    progress
        Show a progress bar; ``None`` means only when stderr is a terminal and not in CI.
    chain_method
        ``"parallel"`` (one JAX device per chain), ``"vectorized"``, or ``None`` to choose.
    nuts_sampler
        The NUTS engine; only ``"numpyro"`` for now.
    dense_mass
        Adapt a dense mass matrix. Off by default: on the demo loss model a dense matrix gave
        0-2 divergences per 4,000 draws against none with the diagonal one, at the same cost.
    initial_mass
        What warm-up starts from: ``"laplace"`` (default), the posterior variances of a Laplace
        approximation at the mode (:func:`laplace_inverse_mass`), or ``"unit"``, numpyro's
        identity matrix. numpyro re-estimates the matrix from warm-up draws at the end of each
        adaptation window, so the start decides how long the first windows take (with
        ``tune`` under 20 there is no such window and the start is kept for every draw).
    warmup_tree_depth
        Deepest NUTS tree during warm-up (at most ``2**depth - 1`` leapfrog steps a draw);
        the kept draws may go to :data:`MAX_TREE_DEPTH`. ``None`` (default) leaves it to the
        model: 7 for the loss model (:data:`bayescale.ladder.LOSS_WARMUP_TREE_DEPTH`),
        :data:`MAX_TREE_DEPTH` (numpyro's own, no cap) otherwise. Warm-up draws are thrown away, and
        their trees are longest in the first iterations, when a chain walks in from its
        jittered start with a step size that is still shrinking: up to 1,023 steps a draw on
        the loss model, against 31-63 for the kept draws. In a batch every lane of a device
        waits for the longest tree, so there the start cost most: at 7, the 10-split
        backtest's program ran in 3.0-3.1 s instead of 4.3-4.6 s (seeds 1-4), with the same
        leapfrog steps per kept draw and no divergences; one loss fit at a time took 1.36 s
        against 1.43 s, with the same bulk ESS (10 seeds). At 6 one of 40 lanes came out of
        warm-up with a step size that took 326 leapfrog steps a kept draw (55 for the others):
        the depth must leave room above the kept draws' trees. A fit that diverges is run
        again with warm-up trees to depth 10 (:meth:`for_retry`): on the hardest real-data
        backtest here (Gadre et al. at 300x, benchmarks/calibration_real.py) one of three
        seeds had 291 divergences after a retry at depth 7, against 5 at depth 10. Pass fits
        are not capped: on Pythia x MATH seeds 1-2 depth 7 gave bulk ESS 1564 and 1293 against
        1454 and 1455, and the LiveCodeBench fit of tests/test_pass_real_data.py diverged once
        at depth 7 (seed 1; none at 10), so its retry made it 402 s instead of 163 s.
    """

    draws: int = 1000
    tune: int = 500
    chains: int = 4
    target_accept: float | None = None
    seed: int = 0
    progress: bool | None = None
    chain_method: Literal["parallel", "vectorized"] | None = None
    nuts_sampler: str = "numpyro"
    dense_mass: bool = False
    initial_mass: Literal["laplace", "unit"] = "laplace"
    warmup_tree_depth: int | None = None

    def __post_init__(self) -> None:
        """Refuse settings that cannot run."""
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            minimum = {"draws": MIN_DRAWS, "tune": 0, "chains": 2}[name]
            if not isinstance(value, int) or value < minimum:
                why = {
                    "chains": " (R-hat compares chains)",
                    "draws": " (split R-hat compares the halves of each chain, 2 draws or more "
                    "each)",
                }.get(name, "")
                raise InputError(
                    f"sampler setting '{name}' must be an integer >= {minimum}{why}, got {value!r}."
                )
        if isinstance(self.seed, bool) or not hasattr(self.seed, "__index__"):
            raise InputError(f"sampler setting 'seed' must be an integer, got {self.seed!r}.")
        if not 0 <= self.seed.__index__() < 2**32:
            raise InputError(
                f"sampler setting 'seed' must be between 0 and {2**32 - 1}, got {self.seed}."
            )
        depth = self.warmup_tree_depth
        if depth is not None and (
            isinstance(depth, bool)
            or not isinstance(depth, int)
            or not 1 <= depth <= MAX_TREE_DEPTH
        ):
            raise InputError(
                f"sampler setting 'warmup_tree_depth' must be an integer from 1 to "
                f"{MAX_TREE_DEPTH}, got {self.warmup_tree_depth!r}."
            )
        if self.target_accept is not None and not 0.5 <= self.target_accept < 1:
            raise InputError("sampler setting 'target_accept' must be in [0.5, 1).")
        if self.initial_mass not in INITIAL_MASS:
            raise InputError(
                f"sampler setting 'initial_mass' must be one of {INITIAL_MASS}, "
                f"got {self.initial_mass!r}."
            )
        if self.nuts_sampler not in SAMPLERS:
            raise InputError(
                f"sampler '{self.nuts_sampler}' is not supported; choose one of {SAMPLERS}."
            )

    @classmethod
    def recorded(cls, **values: object) -> SamplerSettings:
        """The settings a saved fit records: checked as new ones are, but ``draws`` may be 1-3.

        Versions before :data:`MIN_DRAWS` sampled 1 to 3 draws a chain when asked (such a fit
        fails the gate and was saved with ``--allow-unconverged``). The record says what was
        run, so the fit loads and forecasts; sampling with these settings again (``replace``)
        is refused as the constructor refuses them.
        """
        draws = values.get("draws")
        if not isinstance(draws, int) or isinstance(draws, bool) or not 1 <= draws < MIN_DRAWS:
            return cls(**values)  # type: ignore[arg-type]
        settings = cls(**(values | {"draws": MIN_DRAWS}))  # type: ignore[arg-type]
        object.__setattr__(settings, "draws", draws)  # frozen: the record as it was run
        return settings

    def with_target_accept(self, default: float) -> SamplerSettings:
        """These settings, with ``target_accept`` set to ``default`` if they leave it open."""
        if self.target_accept is not None:
            return self
        return replace(self, target_accept=default)

    def with_warmup_tree_depth(self, default: int) -> SamplerSettings:
        """These settings, with ``warmup_tree_depth`` set to ``default`` if they leave it open."""
        if self.warmup_tree_depth is not None:
            return self
        return replace(self, warmup_tree_depth=default)

    def for_retry(self, target_accept: float) -> SamplerSettings | None:
        """The settings of the one retry after divergences, or ``None`` if nothing would change.

        ``target_accept`` raised to ``target_accept`` (kept if already above), and warm-up trees
        as deep as the kept draws' (:data:`MAX_TREE_DEPTH`): the depth cap speeds up warm-up
        on well-behaved posteriors, and a fit that diverged gets numpyro's uncapped warm-up.
        """
        target = max(self.target_accept or 0.0, target_accept)
        if target == self.target_accept and self.max_tree_depth[0] == MAX_TREE_DEPTH:
            return None
        return replace(self, target_accept=target, warmup_tree_depth=MAX_TREE_DEPTH)

    @property
    def max_tree_depth(self) -> tuple[int, int]:
        """The ``max_tree_depth`` numpyro takes: (warm-up's, the kept draws')."""
        return (self.warmup_tree_depth or MAX_TREE_DEPTH, MAX_TREE_DEPTH)

    def describe(self) -> str:
        """The sampler in a few words, for the log: ``JAX NUTS (4 chains x 1000 draws)``."""
        return f"JAX NUTS ({self.chains} chains x {self.draws} draws)"

    def as_attrs(self) -> dict[str, object]:
        """Return the settings as plain values for NetCDF attributes and reports."""
        return {k: ("auto" if v is None else v) for k, v in asdict(self).items()}

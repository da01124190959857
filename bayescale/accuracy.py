r"""Benchmark accuracy with a chance floor: data, law, fit, forecast, decision and outputs.

The GPT-4 report's law :math:`-\ln p = \alpha C^{-k}` assumes accuracy rises from 0. On a
multiple-choice benchmark a guess already scores the chance rate :math:`g`, so the law here
acts on the accuracy above chance, normalised to :math:`[0, 1]`:

.. math::

    -\ln\frac{p - g}{1 - g} = \alpha\, C^{-k}
    \quad\Longleftrightarrow\quad
    \ln\!\Big(-\ln\frac{p - g}{1 - g}\Big) = \beta - k\,(\ln C - \ln C_0),

a straight line in log compute on the doubly-logged scale, with level :math:`\beta` at the
pivot :math:`C_0` (the geometric centre of the fitted models) and exponent :math:`k`.
Each (family, benchmark) ladder has its own line; its log exponent is a benchmark effect
plus a family effect plus a ladder residual, partially pooled
(:mod:`bayescale.accuracy_model`), so a family with few sizes borrows the benchmark's
exponent. Rows with ``n_questions`` enter through a binomial likelihood; others through a
normal likelihood on the accuracy scale (measurement noise plus the law's scatter carried
by its slope), which stays finite at and under chance. Beyond a family's data the
exponent is uncertain by :attr:`AccuracyPriors.discrepancy_exponent_sd`.

The law's pieces are plain functions a law registry can wrap: :func:`load_accuracy_table`
(load), :func:`fit_accuracy` (model and sampling), :func:`accuracy_draws` (forecast draws),
:func:`accuracy_requirement_draws` (requirement draws), :func:`accuracy_table` (tables),
:func:`accuracy_figure` (figures) and :func:`leave_largest_out` (backtest split). Nothing here
imports PyMC or JAX at module level.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.accuracy_data import (
    MIN_SIZES,
    QUANTITY,
    AccuracyColumns,
    AccuracyData,
    AccuracyPriors,
    accuracy_from_transformed,
    accuracy_pivots,
    benchmark_key,
    load_accuracy_table,
)
from bayescale.decision import Decision, Requirement, decide_with_curve, parse_requirement
from bayescale.diagnostics import Diagnostics, diagnose
from bayescale.draws import stacked_draws, summarise
from bayescale.errors import ConvergenceError, InputError, did_you_mean
from bayescale.sampling import RETRY_TARGET_ACCEPT, TARGET_ACCEPT, SamplerSettings
from bayescale.targets import check_interval, check_targets

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger("bayescale")


# ---------------------------------------------------------------------------------------------
# Fit


@dataclass(frozen=True)
class AccuracyFit:
    r"""A sampled accuracy model.

    Attributes
    ----------
    data
        The table (fitted and held-out rows).
    idata
        ``DataTree``: ``level``, ``exponent`` with dims ``(chain, draw, family, benchmark)``,
        ``sigma`` with ``(chain, draw, benchmark)``.
    log_pivot
        :math:`\ln C_0` per family (:func:`accuracy_pivots`; the same for every family with
        the default global pivot).
    pooled
        False for the no-pooling model (each ladder on its own priors).
    """

    data: AccuracyData
    idata: xr.DataTree
    log_pivot: np.ndarray
    priors: AccuracyPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    pooled: bool = True
    timing_s: dict[str, float] = field(default_factory=dict)

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape ``(sample, *dims)``."""
        return stacked_draws(self.idata, name)


#: Where each family's line is pivoted: ``"global"``, the geometric centre of every fitted
#: model of the table (the loss model's choice, the default), or ``"family"``, that of the
#: family's own fitted models. Measured on the ObsScaling backtest (docs/accuracy.md) the
#: global pivot gave the lower median error (3.3 against 3.6 points over 90 ladders; 2.4
#: against 3.4 on four-size families) and the higher bulk ESS (102-254 against 70-146).


def fit_accuracy(
    data: AccuracyData,
    priors: AccuracyPriors | None = None,
    settings: SamplerSettings | None = None,
    *,
    pooled: bool = True,
    pivot: str = "global",
    pool_levels: bool = False,
    allow_unconverged: bool = False,
) -> AccuracyFit:
    """Fit the accuracy model with JAX NUTS and check convergence.

    Sampled through :func:`bayescale.sampling.sample` and gated by
    :func:`bayescale.diagnostics.diagnose`; a fit with divergences is sampled once more at
    ``target_accept`` :data:`~bayescale.sampling.RETRY_TARGET_ACCEPT` with uncapped warm-up
    trees, as the pass-rate fits are.

    Parameters
    ----------
    data
        Validated table (:func:`load_accuracy_table`).
    priors, settings
        Priors and sampler settings (``target_accept`` left open: 0.95).
    pooled
        False fits every ladder on its own priors (the no-pooling comparison).
    pivot
        ``"global"`` (default) or ``"family"`` (:func:`accuracy_pivots`, :data:`PIVOTS`).
    pool_levels
        Pool the ladder levels too (:func:`~bayescale.accuracy_model.build_accuracy_model`).
    allow_unconverged
        Return the fit when the gate fails instead of raising.

    Raises
    ------
    ConvergenceError
        When the gate fails and ``allow_unconverged`` is false (the fit is ``error.result``).
    """
    from bayescale.accuracy_model import build_accuracy_model
    from bayescale.sampling import sample

    priors = priors or AccuracyPriors()
    settings = (settings or SamplerSettings()).with_target_accept(TARGET_ACCEPT)
    start = time.perf_counter()
    model = build_accuracy_model(data, priors, pooled=pooled, pivot=pivot, pool_levels=pool_levels)
    idata, sampling_s = sample(model, settings)
    diagnostics = diagnose(idata)
    retry = settings.for_retry(RETRY_TARGET_ACCEPT) if diagnostics.divergences else None
    if retry is not None:
        log.info(
            "%d divergences; sampling again with target_accept=%s",
            diagnostics.divergences,
            retry.target_accept,
        )
        settings = retry
        idata, more = sample(model, settings)
        sampling_s += more
        diagnostics = diagnose(idata)
    result = AccuracyFit(
        data=data,
        idata=idata,
        log_pivot=accuracy_pivots(data, pivot),
        priors=priors,
        settings=settings,
        diagnostics=diagnostics,
        pooled=pooled,
        timing_s={"total": time.perf_counter() - start, "sampling": sampling_s},
    )
    if not diagnostics.ok and not allow_unconverged:
        raise ConvergenceError(
            "the sampler did not converge: " + "; ".join(diagnostics.problems()), result=result
        )
    return result


# ---------------------------------------------------------------------------------------------
# Forecast


def accuracy_draws(
    fit: AccuracyFit,
    compute: np.ndarray | Sequence[float],
    *,
    new_model: bool = True,
    seed: int | None = None,
) -> xr.DataArray:
    """Predictive draws of accuracy per (family, benchmark) at each compute.

    Parameters
    ----------
    fit
        A sampled accuracy model.
    compute
        Computes in FLOPs.
    new_model
        Add the model-to-model scatter (a new model's accuracy); False gives the law's curve.
    seed
        Seed of the scatter draws (default: the fit's sampler seed, so a fit gives the same
        numbers every time).

    Returns
    -------
    xarray.DataArray
        ``accuracy`` with dims ``(sample, family, benchmark, compute)``; cells without data
        carry the model's prior-and-pooling forecast (reports show ladders only).
    """
    compute = np.atleast_1d(np.asarray(compute, dtype=float))
    data = fit.data
    level = fit.draws("level")  # (s, f, b)
    exponent = fit.draws("exponent")
    log_c = np.log(compute)[None, None, None, :]
    y = level[..., None] - exponent[..., None] * (log_c - fit.log_pivot[None, :, None, None])
    rng = np.random.default_rng([fit.settings.seed if seed is None else seed, 21])
    n_s, n_f = level.shape[:2]
    # law discrepancy beyond each family's largest fitted compute: the exponent there is
    # uncertain by a factor exp(s * zeta), one zeta per draw and family
    beyond = np.maximum(log_c - largest_fitted_log_compute(data)[None, :, None, None], 0.0)
    zeta = rng.standard_normal((n_s, n_f, 1, 1))
    factor = np.expm1(fit.priors.discrepancy_exponent_sd * zeta)
    y = y - exponent[..., None] * factor * beyond
    if new_model:
        sigma = np.repeat(fit.draws("sigma")[:, None, :], n_f, axis=1)
        if "scatter_family" in fit.idata["posterior"].data_vars:
            sigma = sigma * fit.draws("scatter_family")[:, :, None]
        y = y + sigma[..., None] * rng.standard_normal(y.shape)
    chance = data.chance[None, None, :, None]
    values = accuracy_from_transformed(y, chance)
    if new_model:
        values = with_measurement_noise(fit, values, rng)
    return xr.DataArray(
        values,
        dims=("sample", "family", "benchmark", "compute"),
        coords={
            "family": list(fit.data.families),
            "benchmark": list(fit.data.benchmarks),
            "compute": compute,
        },
        name="accuracy",
    )


def largest_fitted_log_compute(data: AccuracyData) -> np.ndarray:
    """Log of each family's largest fitted compute (the end of its data)."""
    out = np.full(len(data.families), -np.inf)
    fam = data.family_index
    for f in range(len(data.families)):
        rows = data.fitted & (fam == f)
        if rows.any():
            out[f] = np.log(data.compute[rows].max())
    return out


def with_measurement_noise(
    fit: AccuracyFit, values: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Add a new score's measurement noise to accuracy draws ``(sample, family, benchmark, c)``.

    Binomial on the benchmark's median ``n_questions`` where its rows give it; otherwise the
    fitted noise sd per benchmark. Clipped to [0, 1].
    """
    data = fit.data
    out = values.copy()
    noise = fit.draws("noise") if "noise" in fit.idata["posterior"].data_vars else None
    for b in range(len(data.benchmarks)):
        counts = data.n_questions[data.fitted & (data.benchmark_index == b)]
        counts = counts[~np.isnan(counts)]
        if counts.size:
            n = int(np.median(counts))
            out[:, :, b] = rng.binomial(n, np.clip(values[:, :, b], 0.0, 1.0)) / n
        elif noise is not None:
            sd = noise[:, b][:, None, None]
            out[:, :, b] = values[:, :, b] + sd * rng.standard_normal(values[:, :, b].shape)
    return np.clip(out, 0.0, 1.0)


def target_ladders(data: AccuracyData, family: str | None = None) -> list[tuple[str, str]]:
    """The ladders a forecast reports: every family's, or only ``family``'s.

    Raises
    ------
    InputError
        When ``family`` is not in the table.
    """
    if family is not None and family not in data.families:
        raise InputError(
            f"--family '{family}' is not in {data.source}.{did_you_mean(family, data.families)} "
            f"Families: {', '.join(data.families)}."
        )
    return [(f, b) for f, b in data.ladders() if family is None or f == family]


def accuracy_table(
    draws: xr.DataArray, ladders: Sequence[tuple[str, str]], interval: float = 0.9
) -> pd.DataFrame:
    """One row per (compute, family, benchmark): median, interval bounds, mean of the draws."""
    rows = []
    for c in draws["compute"].values:
        for f, b in ladders:
            values = draws.sel(family=f, benchmark=b, compute=c).values
            s = summarise(values, interval)
            rows.append(
                {
                    "compute": float(c),
                    "family": f,
                    "benchmark": b,
                    **{k: float(v) for k, v in s.items()},
                }
            )
    return pd.DataFrame(rows)


def accuracy_requirement(
    text: str, data: AccuracyData, family: str | None = None
) -> tuple[Requirement, tuple[str, str]]:
    """Parse ``[FAMILY.]BENCHMARK.accuracy>=X`` and find the ladder it names.

    The scope is a benchmark (enough with ``--family`` or when one family has it) or
    ``FAMILY.BENCHMARK``; benchmark names match case-insensitively.

    Raises
    ------
    InputError
        When the rule does not parse, has no scope, or names no ladder or several.
    """
    req = parse_requirement(text, (QUANTITY,))
    ladders = target_ladders(data, family)
    if req.scope is None:
        raise InputError(
            f"--require '{text}': name the benchmark, e.g. "
            f"'{ladders[0][1]}.accuracy>=0.7' (or FAMILY.BENCHMARK.accuracy>=0.7)."
        )
    scope = req.scope.strip()

    def same(a: str, b: str) -> bool:
        return benchmark_key(a) == benchmark_key(b)

    matches = [(f, b) for f, b in ladders if same(b, scope) or same(f"{f}.{b}", scope)]
    if len(matches) == 1:
        return req, matches[0]
    if not matches:
        choices = sorted({b for _, b in ladders} | {f"{f}.{b}" for f, b in ladders})
        raise InputError(
            f"--require '{text}': '{scope}' names no benchmark with data"
            f"{'' if family is None else f' for family {family}'}."
            f"{did_you_mean(scope, choices)} Choose one of: {', '.join(choices[:20])}."
        )
    raise InputError(
        f"--require '{text}': '{scope}' is measured for {len(matches)} families; name one, "
        f"e.g. '{matches[0][0]}.{matches[0][1]}.accuracy{req.op}{req.threshold:g}', or pass "
        "--family."
    )


def accuracy_requirement_draws(
    fit: AccuracyFit, text: str, family: str | None = None
) -> tuple[Requirement, tuple[str, str], Callable[[np.ndarray], np.ndarray]]:
    """The parsed requirement, its ladder and a ``compute -> new-model draws`` function."""
    req, (f, b) = accuracy_requirement(text, fit.data, family)

    def draws_at(compute: np.ndarray) -> np.ndarray:
        return np.asarray(accuracy_draws(fit, compute).sel(family=f, benchmark=b).values)

    return req, (f, b), draws_at


def leave_largest_out(data: AccuracyData, family: str) -> AccuracyData:
    """The backtest split: ``family``'s largest model held out, every other row fitted."""
    rows = data.family == family
    largest = data.compute[rows].max()
    return replace(data, held_out=rows & (data.compute >= largest))


# ---------------------------------------------------------------------------------------------
# Options, result, document, figure, outputs


@dataclass(frozen=True)
class AccuracyOptions:
    """What ``bayescale accuracy`` was asked for."""

    targets: tuple[float, ...]
    family: str | None = None
    chance: Mapping[str, float] = field(default_factory=dict)
    requirement: str | None = None
    confidence: float = 0.9
    interval: float = 0.9
    fit_max_compute: float | None = None
    priors: AccuracyPriors = field(default_factory=AccuracyPriors)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    allow_unconverged: bool = False
    columns: AccuracyColumns = field(default_factory=AccuracyColumns)


@dataclass(frozen=True)
class AccuracyResult:
    """A fit, its forecasts at the targets and the decision."""

    fit: AccuracyFit
    options: AccuracyOptions
    ladders: tuple[tuple[str, str], ...]
    draws: xr.DataArray
    decisions: tuple[Decision, ...] | None
    warnings: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        """Median, interval and mean per target, family and benchmark."""
        return accuracy_table(self.draws, self.ladders, self.options.interval)

    def document(self) -> dict[str, Any]:
        """The CONTRACT §4/§7 JSON document (``kind`` ``accuracy``)."""
        return accuracy_document(self)


def check_accuracy_options(options: AccuracyOptions) -> None:
    """Refuse bad options before any sampling."""
    check_targets(options.targets)
    check_interval(options.interval)
    if not 0 < options.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1, got {options.confidence}.")


def result_from_accuracy_fit(fit: AccuracyFit, options: AccuracyOptions) -> AccuracyResult:
    """Everything after sampling: forecasts at the targets, warnings, decision."""
    targets = check_targets(options.targets)
    ladders = tuple(target_ladders(fit.data, options.family))
    warnings = [
        f"{f} on {b} has {n} fitted size{'s' if n != 1 else ''}: its exponent comes mostly "
        "from the other families' (pooling)."
        for f, b in ladders
        if (n := fit.data.sizes(f, b)) < MIN_SIZES
    ]
    families = {f for f, _ in ladders}
    for f in sorted(families):
        largest = fit.data.compute[fit.data.fitted & (fit.data.family == f)].max()
        far = targets[targets > 100 * largest]
        if far.size:
            warnings.append(
                f"target {far[0]:.3g} FLOPs is {far[0] / largest:.0f}x the largest fitted "
                f"model of {f}: far extrapolation."
            )
    if not fit.diagnostics.ok:
        warnings.append("the sampler did not converge: " + "; ".join(fit.diagnostics.problems()))
    decisions = None
    if options.requirement:
        req, (f, _), draws_at = accuracy_requirement_draws(fit, options.requirement, options.family)
        search_from = float(fit.data.compute[fit.data.fitted & (fit.data.family == f)].min())
        found, _ = decide_with_curve(req, draws_at, targets, options.confidence, search_from)
        decisions = tuple(found)
    return AccuracyResult(
        fit=fit,
        options=options,
        ladders=ladders,
        draws=accuracy_draws(fit, targets),
        decisions=decisions,
        warnings=tuple(warnings),
    )


def run_accuracy(
    source: str | Path | pd.DataFrame | AccuracyData, options: AccuracyOptions
) -> AccuracyResult:
    """Load, fit, forecast and decide: the ``bayescale accuracy`` pipeline."""
    check_accuracy_options(options)
    data = (
        source
        if isinstance(source, AccuracyData)
        else load_accuracy_table(
            source,
            chance=options.chance,
            columns=options.columns,
            fit_max_compute=options.fit_max_compute,
        )
    )
    target_ladders(data, options.family)  # an unknown family fails before sampling
    if options.requirement:
        accuracy_requirement(options.requirement, data, options.family)
    fit = fit_accuracy(
        data, options.priors, options.sampler, allow_unconverged=options.allow_unconverged
    )
    return result_from_accuracy_fit(fit, options)


def accuracy_document(result: AccuracyResult) -> dict[str, Any]:
    """The result document: ``targets[].accuracy[]`` plus decision, diagnostics, warnings."""
    from bayescale.report import clean_json
    from bayescale.version import __version__

    table = result.table()
    targets = []
    for i, c in enumerate(result.draws["compute"].values):
        rows = table[table["compute"] == c]
        entry: dict[str, Any] = {
            "target_compute": float(c),
            "accuracy": [
                {k: r[k] for k in ("family", "benchmark", "median", "lower", "upper", "mean")}
                for r in rows.to_dict("records")
            ],
        }
        if result.decisions is not None:
            entry["decision"] = result.decisions[i].to_dict()
        targets.append(entry)
    data = result.fit.data
    return clean_json(
        {
            "bayescale_version": __version__,
            "kind": "accuracy",
            "interval": result.options.interval,
            "targets": targets,
            "chance": {
                b: {"rate": g, "source": s}
                for b, g, s in zip(data.benchmarks, data.chance, data.chance_source, strict=True)
            },
            "diagnostics": result.fit.diagnostics.to_dict(),
            "warnings": list(result.warnings),
            "timing_s": result.fit.timing_s,
        }
    )


def accuracy_figure(
    fit: AccuracyFit,
    targets: np.ndarray,
    ladders: Sequence[tuple[str, str]] | None = None,
    interval: float = 0.9,
) -> Figure:
    """Draw the forecast: one panel per benchmark, chance as a dashed floor.

    Each family is a line (median of a new model) with its predictive band; observed models
    are dots, held-out ones open circles; dotted verticals mark the targets.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = fit.data
    ladders = list(ladders if ladders is not None else data.ladders())
    benchmarks = [b for b in data.benchmarks if any(lb == b for _, lb in ladders)]
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    grid = np.logspace(
        np.log10(data.compute.min() / 2), np.log10(max(targets.max(), data.compute.max()) * 2), 80
    )
    draws = accuracy_draws(fit, grid)
    cols = min(len(benchmarks), 3)
    rows = int(np.ceil(len(benchmarks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.8 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    families = list(dict.fromkeys(f for f, _ in ladders))
    for bi, b in enumerate(benchmarks):
        ax = axes[bi // cols][bi % cols]
        for f in (f for f, lb in ladders if lb == b):
            colour = colours(families.index(f) % 10)
            values = draws.sel(family=f, benchmark=b).values
            s = summarise(values, interval)
            ax.plot(grid, s["median"], color=colour, label=f)
            ax.fill_between(grid, s["lower"], s["upper"], color=colour, alpha=0.12, lw=0)
            rows_fb = (data.family == f) & (data.benchmark == b)
            for held, marker in ((False, "o"), (True, "o")):
                sel = rows_fb & (data.held_out == held)
                ax.scatter(
                    data.compute[sel],
                    data.accuracy[sel],
                    s=18,
                    color=colour if not held else "none",
                    edgecolors=colour,
                    marker=marker,
                    zorder=3,
                )
        g = data.chance[data.benchmarks.index(b)]
        ax.axhline(g, ls="--", color="grey", lw=1, label=f"chance {g:g}")
        for t in targets:
            ax.axvline(t, ls=":", color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_ylim(max(0.0, g - 0.05), 1.0)
        ax.set_title(b)
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=6, loc="upper left")
    for k in range(len(benchmarks), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.tight_layout()
    return fig


def accuracy_markdown(result: AccuracyResult) -> str:
    """A short Markdown report: the forecast table, decision, chance rates, diagnostics."""
    p = result.options.interval
    lines = [
        "# Benchmark accuracy forecast",
        "",
        "Law: -ln((p - g)/(1 - g)) = alpha * C^(-k), per family and benchmark, pooled.",
        "",
        f"| compute (FLOPs) | family | benchmark | median | {p:.0%} interval |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in result.table().to_dict("records"):
        lines.append(
            f"| {r['compute']:.3g} | {r['family']} | {r['benchmark']} | {r['median']:.3f} | "
            f"{r['lower']:.3f} to {r['upper']:.3f} |"
        )
    if result.decisions:
        lines += ["", "## Decision", ""] + [f"- {d.sentence()}" for d in result.decisions]
    data = result.fit.data
    lines += ["", "## Chance rates", ""] + [
        f"- {b}: {g:g} ({s})"
        for b, g, s in zip(data.benchmarks, data.chance, data.chance_source, strict=True)
    ]
    d = result.fit.diagnostics
    lines += [
        "",
        "## Diagnostics",
        "",
        f"R-hat max {d.r_hat_max:.3f}, bulk ESS min {d.ess_bulk_min:.0f}, "
        f"{d.divergences} divergences: {'ok' if d.ok else 'NOT converged'}.",
    ]
    if result.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


def write_accuracy_outputs(result: AccuracyResult, out_dir: Path) -> list[Path]:
    """Write ``forecast.json``, ``report.md`` and ``accuracy.png`` into ``out_dir`` as a whole."""
    import json

    import matplotlib.pyplot as plt

    from bayescale.outputs import atomic_file, result_folder, write_text

    names = []
    with result_folder(out_dir) as stage:
        write_text(
            stage / "forecast.json", json.dumps(result.document(), indent=2, allow_nan=False) + "\n"
        )
        write_text(stage / "report.md", accuracy_markdown(result))
        fig = accuracy_figure(
            result.fit, result.draws["compute"].values, result.ladders, result.options.interval
        )
        with atomic_file(stage / "accuracy.png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        names = ["forecast.json", "report.md", "accuracy.png"]
    return [Path(out_dir) / n for n in names]


def simulate_accuracy_table(
    seed: int = 0,
    families: Mapping[str, int] | None = None,
    benchmarks: Mapping[str, float] | None = None,
    *,
    exponent: float = 0.25,
    scatter: float = 0.08,
    n_questions: int | None = None,
) -> pd.DataFrame:
    """A seeded table that follows the law, for tests and examples.

    Parameters
    ----------
    seed
        Seed of every random draw.
    families
        Family name -> number of sizes (computes 1e21 to 1e23, log-spaced, shifted per family).
    benchmarks
        Benchmark name -> chance rate.
    exponent, scatter
        The true exponent of every ladder (times a family factor) and the scatter on
        ``ln(-ln q)``.
    n_questions
        Add this ``n_questions`` column and draw accuracies as binomial fractions.
    """
    rng = np.random.default_rng(seed)
    families = dict(families or {"alpha": 5, "beta": 4, "gamma": 3})
    benchmarks = dict(benchmarks or {"mmlu": 0.25, "gsm8k": 0.0, "winogrande": 0.5})
    rows = []
    for fi, (family, sizes) in enumerate(families.items()):
        compute = np.logspace(21 + 0.2 * fi, 23 + 0.2 * fi, sizes)
        level = rng.normal(0.3, 0.2)
        factor = np.exp(rng.normal(0.0, 0.1))
        for bench, g in benchmarks.items():
            offset = rng.normal(0.0, 0.2)
            x = np.log(compute) - np.log(1e22)
            y = level + offset - exponent * factor * x + scatter * rng.standard_normal(sizes)
            p = accuracy_from_transformed(y, g)
            for i, c in enumerate(compute):
                row = {
                    "model": f"{family}-{i + 1}",
                    "family": family,
                    "compute": float(c),
                    "benchmark": bench,
                    "accuracy": float(p[i]),
                }
                if n_questions is not None:
                    row["accuracy"] = float(rng.binomial(n_questions, p[i]) / n_questions)
                    row["n_questions"] = n_questions
                rows.append(row)
    return pd.DataFrame(rows)

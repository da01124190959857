"""The loss pipeline: table to validated data to fit to forecast to decision to files.

:func:`run_loss` wires the stages; :func:`write_loss_outputs` writes the report, the JSON
document and the plot. The command line and the Python API both go through here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.data import LossColumns, LossData, load_loss_runs
from bayescale.decision import Decision, Requirement, decide, parse_requirement
from bayescale.errors import InputError, did_you_mean
from bayescale.fit import LossFit, fit_loss
from bayescale.forecast import (
    LossForecast,
    check_interval,
    check_targets,
    forecast_loss,
    loss_draws,
    parameter_table,
    score_held_out,
)
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings

log = logging.getLogger("bayescale")


@dataclass(frozen=True)
class LossOptions:
    """Everything a loss forecast is asked for, besides the table itself."""

    targets: tuple[float, ...]
    interval: float = 0.9
    requirement: str | None = None
    confidence: float = 0.9
    fit_max_compute: float | None = None
    columns: LossColumns = field(default_factory=LossColumns)
    priors: LossPriors = field(default_factory=LossPriors)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    allow_unconverged: bool = False


@dataclass(frozen=True)
class LossResult:
    """A finished loss forecast: the fit and everything derived from it."""

    fit: LossFit
    forecast: LossForecast
    parameters: pd.DataFrame
    held_out: pd.DataFrame
    decisions: tuple[Decision, ...]

    def document(self) -> dict[str, object]:
        """The CONTRACT §4 result document."""
        from bayescale import __version__
        from bayescale.report import loss_document

        return loss_document(self, __version__)


def loss_requirement(text: str, groups: tuple[str, ...]) -> tuple[Requirement, int]:
    """Parse a loss requirement and find the group it is about.

    A plain ``loss<=x`` is accepted when there is one group; with several groups the group
    must be named, ``web.loss<=x``.
    """
    req = parse_requirement(text, quantities=("loss",))
    if req.scope is None:
        if len(groups) > 1:
            raise InputError(
                f"--require '{text}': the data has {len(groups)} groups; name one, e.g. "
                f"'{groups[0]}.loss<={req.threshold:g}'. Groups: {', '.join(groups)}."
            )
        return req, 0
    if req.scope not in groups:
        raise InputError(
            f"--require '{text}': no group '{req.scope}'.{did_you_mean(req.scope, groups)} "
            f"Groups: {', '.join(groups)}."
        )
    return req, groups.index(req.scope)


def decide_loss(
    fit: LossFit, requirement: str, targets: np.ndarray, confidence: float
) -> list[Decision]:
    """Decide a loss requirement at each target from the fit's predictive draws."""
    req, gi = loss_requirement(requirement, fit.data.groups)
    return decide(
        req,
        lambda compute: loss_draws(fit, compute)["loss"].values[:, gi, :],
        targets,
        confidence,
        search_from=float(fit.data.compute[fit.data.fitted].min()),
    )


def run_loss(source: str | Path | pd.DataFrame | LossData, options: LossOptions) -> LossResult:
    """Run a loss forecast end to end.

    Every option is checked before sampling, so bad input fails in milliseconds.

    Parameters
    ----------
    source
        A path to a CSV/Parquet table, a DataFrame, or already validated :class:`LossData`.
    options
        Targets, interval, requirement, priors and sampler settings.

    Returns
    -------
    LossResult
    """
    targets = check_targets(options.targets)
    interval = check_interval(options.interval)
    if not 0 < options.confidence < 1:
        raise InputError(f"--confidence must be between 0 and 1, got {options.confidence}.")
    data = (
        source
        if isinstance(source, LossData)
        else load_loss_runs(source, options.columns, options.fit_max_compute)
    )
    if options.requirement:
        loss_requirement(options.requirement, data.groups)
    s = options.sampler
    log.info(
        "fitting %d runs in %d group(s) with JAX NUTS (%d chains x %d draws)",
        int(data.fitted.sum()),
        len(data.groups),
        s.chains,
        s.draws,
    )
    fit = fit_loss(data, options.priors, s, allow_unconverged=options.allow_unconverged)
    log.info(
        "sampled in %.1f s; %s",
        fit.timing_s["sampling"],
        "converged" if fit.diagnostics.ok else "; ".join(fit.diagnostics.problems()),
    )
    decisions = (
        decide_loss(fit, options.requirement, targets, options.confidence)
        if options.requirement
        else []
    )
    return LossResult(
        fit=fit,
        forecast=forecast_loss(fit, targets, interval),
        parameters=parameter_table(fit, interval),
        held_out=score_held_out(fit, interval),
        decisions=tuple(decisions),
    )


def write_json(document: dict[str, object], path: Path) -> Path:
    """Write a result document as JSON (no NaN)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path


def write_loss_outputs(result: LossResult, out_dir: Path) -> list[Path]:
    """Write ``report.md``, ``forecast.json`` and ``loss_forecast.png`` into ``out_dir``."""
    from bayescale import __version__
    from bayescale.plots import loss_figure, save_figure
    from bayescale.report import loss_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    png = save_figure(
        loss_figure(result.fit, result.forecast.targets, result.forecast.interval),
        out_dir / "loss_forecast.png",
    )
    written = [png, write_json(result.document(), out_dir / "forecast.json")]
    report = out_dir / "report.md"
    report.write_text(loss_markdown(result, __version__, [png.name]))
    written.append(report)
    return written

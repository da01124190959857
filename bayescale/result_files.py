"""A result's folder: the report, the JSON document, the figures and the saved fit.

Above both the pipelines and :mod:`bayescale.saved` (it saves the fit), so that neither of
those imports the other.
"""

from __future__ import annotations

from pathlib import Path

from bayescale.outputs import write_json
from bayescale.pass_pipeline import PassResult
from bayescale.pipeline import LossResult


def write_loss_outputs(
    result: LossResult, out_dir: str | Path, spec: str | None = None
) -> list[Path]:
    """Write the report, JSON document, plots and the saved fit ``fit.nc`` into ``out_dir``.

    ``spec`` is the text of the spec file the run came from; ``fit.nc`` keeps it. The folder
    is written as a whole (:func:`bayescale.outputs.result_folder`): it ends up holding this
    run's complete output, or, if writing fails or is interrupted, the earlier one untouched.
    """
    from bayescale.outputs import result_folder

    with result_folder(out_dir) as stage:
        written = _loss_files(result, stage, spec)
    return [Path(out_dir) / p.name for p in written]


def _loss_files(result: LossResult, out_dir: Path, spec: str | None) -> list[Path]:
    from bayescale.outputs import write_text
    from bayescale.plots import decision_figure, loss_figure, ppc_figure, save_figure
    from bayescale.report import loss_markdown
    from bayescale.saved import save_loss_fit
    from bayescale.version import __version__

    fit, forecast = result.fit, result.forecast
    pngs = [
        save_figure(
            loss_figure(fit, forecast.targets, forecast.interval), out_dir / "loss_forecast.png"
        ),
        save_figure(ppc_figure(fit, forecast.interval), out_dir / "ppc.png"),
    ]
    if result.decisions and result.curve is not None:
        pngs.append(
            save_figure(
                decision_figure(result.curve, list(result.decisions), result.choice),
                out_dir / "decision.png",
            )
        )
    written = [*pngs, write_json(result.document(), out_dir / "forecast.json")]
    report = write_text(
        out_dir / "report.md", loss_markdown(result, __version__, [p.name for p in pngs])
    )
    options = result.options.forecast_options() if result.options else {}
    written += [report, save_loss_fit(fit, out_dir / "fit.nc", options, spec=spec)]
    return written


def write_pass_outputs(
    result: PassResult, out_dir: str | Path, spec: str | None = None
) -> list[Path]:
    """Write ``report.md``, ``forecast.json``, the plots and ``fit.nc`` into ``out_dir``.

    ``spec`` is the text of the spec file the run came from; ``fit.nc`` keeps it. The folder
    is written as a whole (:func:`bayescale.outputs.result_folder`).
    """
    from bayescale.outputs import result_folder

    with result_folder(out_dir) as stage:
        written = _pass_files(result, stage, spec)
    return [Path(out_dir) / p.name for p in written]


def _pass_files(result: PassResult, out_dir: Path, spec: str | None) -> list[Path]:
    from bayescale.outputs import write_text
    from bayescale.plots import decision_figure, pass_figure, pass_rate_figure, save_figure
    from bayescale.report import pass_markdown
    from bayescale.saved import save_fit
    from bayescale.version import __version__

    fit, forecast = result.fit, result.forecast
    pngs = [
        save_figure(
            pass_figure(fit, forecast.targets, forecast.interval), out_dir / "pass_buckets.png"
        ),
        save_figure(
            pass_rate_figure(fit, forecast.targets, forecast.interval), out_dir / "pass_rate.png"
        ),
    ]
    if result.decisions and result.curve is not None:
        pngs.append(
            save_figure(
                decision_figure(result.curve, list(result.decisions), result.choice),
                out_dir / "decision.png",
            )
        )
    written = [*pngs, write_json(result.document(), out_dir / "forecast.json")]
    report = write_text(
        out_dir / "report.md", pass_markdown(result, __version__, [p.name for p in pngs])
    )
    options = result.options.forecast_options() if result.options else {}
    return [*written, report, save_fit(fit, out_dir / "fit.nc", options, spec=spec)]

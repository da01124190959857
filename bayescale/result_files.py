"""A result's folder: the report, the JSON document, the figures and the saved fit.

One writer for every law: what differs (figures, Markdown, JSON document, the saved data
group) comes from the law's entry in :mod:`bayescale.registry`. Above both the pipelines and
:mod:`bayescale.saved`, so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayescale.outputs import result_folder, write_json, write_text
from bayescale.registry import law_of
from bayescale.saved import save_fit
from bayescale.version import __version__

if TYPE_CHECKING:
    from bayescale.pass_pipeline import PassResult
    from bayescale.pipeline import LossResult


def write_outputs(result: Any, out_dir: str | Path, spec: str | None = None) -> list[Path]:
    """Write ``report.md``, ``forecast.json``, the figures and ``fit.nc`` into ``out_dir``.

    Any registered law's result. ``spec`` is the text of the spec file the run came from;
    ``fit.nc`` keeps it. The folder is written as a whole
    (:func:`bayescale.outputs.result_folder`): it ends up holding this run's complete output,
    or, if writing fails or is interrupted, the earlier one untouched.
    """
    from bayescale.drawing import drawing_notes

    with result_folder(out_dir) as stage, drawing_notes():
        written = _files(result, stage, spec)
    return [Path(out_dir) / p.name for p in written]


def write_loss_outputs(
    result: LossResult, out_dir: str | Path, spec: str | None = None
) -> list[Path]:
    """:func:`write_outputs` of a loss result (its figures: forecast, PPC, decision).

    Returns
    -------
    list[pathlib.Path]
        The files written in ``out_dir``.
    """
    return write_outputs(result, out_dir, spec)


def write_pass_outputs(
    result: PassResult, out_dir: str | Path, spec: str | None = None
) -> list[Path]:
    """:func:`write_outputs` of a pass-rate result (its figures: buckets, pass rate, decision).

    Returns
    -------
    list[pathlib.Path]
        The files written in ``out_dir``.
    """
    return write_outputs(result, out_dir, spec)


def _files(result: Any, out_dir: Path, spec: str | None) -> list[Path]:
    from bayescale.drawing import decision_figure, save_figure

    law = law_of(result)
    pngs = [save_figure(draw(), out_dir / name) for name, draw in law.figures(result)]
    if result.decisions and result.curve is not None:
        pngs.append(
            save_figure(
                decision_figure(result.curve, list(result.decisions), result.choice),
                out_dir / "decision.png",
            )
        )
    written = [*pngs, write_json(result.document(), out_dir / "forecast.json")]
    report = write_text(
        out_dir / "report.md", law.markdown(result, __version__, [p.name for p in pngs])
    )
    options = result.options.forecast_options() if result.options else {}
    return [*written, report, save_fit(result.fit, out_dir / "fit.nc", options, spec=spec)]

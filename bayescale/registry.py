"""The law registry: one entry of plain functions per law, and lookup by name or object.

Every stage that is the same for all laws (saving and loading a fit, writing a result's
folder, the command line's forecast/run/check paths, the backtest loop) finds the law of what
it holds here and calls the entry's functions; what really differs per law (data shapes,
models, forecast math, figures) stays in the law's own modules. Loss and pass rate are the
first two entries, L(N, D) the third, benchmark accuracy above a chance floor the fourth;
:func:`register` adds another (ARCHITECTURE.md, "How to add a law").

Nothing here imports PyMC or JAX: the entries point at functions whose modules import them
lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bayescale.errors import InputError, did_you_mean

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Law:
    """A law's functions, as the shared stages call them.

    Attributes
    ----------
    name
        The law's word: CLI subcommand, saved fit's ``kind``, spec's ``law``.
    formula
        The law in one line, for messages.
    fit_type, options_type, result_type, data_types
        Its fit, options and result dataclasses and its validated data types (what
        :func:`law_of` recognises).
    run
        ``(source, options) -> result``: read, fit, forecast, decide.
    result_from_fit
        ``(fit, options, *, warn) -> result``: everything after sampling.
    document
        ``(result, version) -> dict``: the JSON document (docs/formats.md).
    markdown
        ``(result, version, figure names) -> str``: ``report.md``.
    figures
        ``result -> [(file name, draw)]``: the figures of ``--out``, each drawn on demand.
    summary
        ``result -> str``: the command line's forecast lines.
    data_group
        Name of the saved fit's group holding the data.
    encode
        ``fit -> (data group, data SHA-256, extra root attributes)`` for ``fit.nc``.
    decode
        ``(tree, path) -> fit``: the fit back from an opened, verified ``fit.nc`` (checks the
        data SHA-256 and removes the data group from ``tree``).
    saved_options
        ``(fit, common values, kept options) -> options`` of the run that saved a fit.
    load_for_backtest
        ``(source, columns) -> data``: the whole table, no cut.
    backtest
        ``(data, ratios, **options) -> [Backtest]``: one scored split per ratio.
    spec_name
        The word a TOML spec names the law by (``law = "..."``); ``None``: no spec support.
    description
        What the law forecasts, in a few words (spec messages).
    spec_sections
        ``() -> {section: (pydantic model, default)}``: the law's own spec sections, built with
        :func:`bayescale.spec_schema.law_sections` (``[data]``, ``[forecast]``, ``[priors]``,
        ...); :mod:`bayescale.spec` adds the shared top-level keys.
    spec_options
        ``(validated spec, common option values) -> options``.
    check_spec
        ``(spec, options, data path, rule) -> (data line, target warnings)``: every check
        before sampling (``bayescale check``); requirement errors raised inside ``rule()``.
    forecast_figure
        ``(fit, targets, interval) -> Figure``: the figure :func:`bayescale.plots.plot_forecast`
        draws of the law's result or fit; ``None``: it refuses, naming ``figure_calls``.
    figure_calls
        The calls that draw the law's figures, for that refusal (``""``: none named).
    sampler_model
        Whose sampler defaults the law's fits take (:func:`bayescale.ladder.model_settings`):
        ``"loss"`` or ``"pass"``.
    """

    name: str
    formula: str
    fit_type: type
    options_type: type
    result_type: type
    data_types: tuple[type, ...]
    run: Callable[[Any, Any], Any]
    result_from_fit: Callable[..., Any]
    document: Callable[[Any, str], dict[str, Any]]
    markdown: Callable[[Any, str, list[str]], str]
    figures: Callable[[Any], list[tuple[str, Callable[[], Figure]]]]
    summary: Callable[[Any], str]
    data_group: str
    encode: Callable[[Any], tuple[xr.Dataset, str, dict[str, Any]]]
    decode: Callable[[xr.DataTree, Path], Any]
    saved_options: Callable[[Any, dict[str, Any], dict[str, Any]], Any]
    load_for_backtest: Callable[..., Any]
    backtest: Callable[..., list[Any]]
    spec_name: str | None = None
    description: str = ""
    spec_sections: Callable[[], dict[str, tuple[type, Any]]] | None = None
    spec_options: Callable[[Any, dict[str, Any]], Any] | None = None
    check_spec: Callable[..., tuple[str, list[str]]] | None = None
    forecast_figure: Callable[[Any, Any, float], Figure] | None = None
    figure_calls: str = ""
    sampler_model: Literal["loss", "pass"] = "pass"


_LAWS: dict[str, Law] = {}


def register(law: Law) -> Law:
    """Add a law (or replace the one of that name); returns it."""
    _LAWS[law.name] = law
    return law


def unregister(name: str) -> None:
    """Remove a law added by :func:`register` (tests)."""
    _LAWS.pop(name, None)


def laws() -> dict[str, Law]:
    """Every registered law by name, the built-in ones first (each law's modules imported)."""
    for name in BUILTIN:
        _builtin(name)
    return {**{name: _LAWS[name] for name in BUILTIN}, **_LAWS}


def get_law(name: str) -> Law:
    """The law called ``name``, or an :class:`InputError` naming the known ones.

    A built-in law's modules are imported on its first lookup, and no other law's: a forecast
    from a saved loss fit loads neither the pass-rate, L(N, D) nor accuracy stacks.
    """
    if name in BUILTIN:
        return _builtin(name)
    if name not in _LAWS:
        known = laws()
        raise InputError(
            f"unknown law '{name}'.{did_you_mean(name, tuple(known))} "
            f"Known laws: {', '.join(known)}."
        )
    return _LAWS[name]


def law_of(obj: Any) -> Law:
    """The law of a fit, options, result or validated data object (by its type).

    The built-in laws come first, those already imported before the others (no two built-in
    laws share a type, so the order among them does not matter), then the registered ones: a
    loss object's lookup imports the loss law alone, a pass-rate fit loaded from a file the
    pass-rate law alone.
    """
    imported = [name for name in BUILTIN if name in _LAWS]
    others = [name for name in BUILTIN if name not in _LAWS]
    for name in (*imported, *others, *(n for n in _LAWS if n not in BUILTIN)):
        law = _builtin(name)
        if isinstance(obj, (law.fit_type, law.options_type, law.result_type, *law.data_types)):
            return law
    raise TypeError(f"{type(obj).__name__} belongs to no registered law")


def _loss_figures(result: Any) -> list[tuple[str, Callable[[], Figure]]]:
    from bayescale.loss_plots import loss_figure, ppc_figure

    fit, forecast = result.fit, result.forecast
    return [
        ("loss_forecast.png", lambda: loss_figure(fit, forecast.targets, forecast.interval)),
        ("ppc.png", lambda: ppc_figure(fit, forecast.interval)),
    ]


def _pass_figures(result: Any) -> list[tuple[str, Callable[[], Figure]]]:
    from bayescale.pass_plots import pass_figure, pass_rate_figure

    fit, forecast = result.fit, result.forecast
    return [
        ("pass_buckets.png", lambda: pass_figure(fit, forecast.targets, forecast.interval)),
        ("pass_rate.png", lambda: pass_rate_figure(fit, forecast.targets, forecast.interval)),
    ]


def _nd_figures(result: Any) -> list[tuple[str, Callable[[], Figure]]]:
    from bayescale.nd_plots import nd_figure, nd_path_figure

    runs = result.forecast.draws
    targets = (runs["params"].values, runs["tokens"].values) if runs.sizes["target"] else None
    budgets = result.forecast.budgets
    fit, interval = result.fit, result.forecast.interval
    return [
        ("nd_contours.png", lambda: nd_figure(fit, budgets, targets, interval)),
        ("nd_path.png", lambda: nd_path_figure(fit, targets, budgets, interval)),
    ]


BUILTIN = ("loss", "pass", "nd", "accuracy")


def _on_call(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported when first called.

    For the backtests, which pull in the point fits and SciPy's optimiser that no forecast
    needs (``bayescale forecast`` starts without them), and the forecast figures (matplotlib).
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _builtin(name: str) -> Law:
    """The law ``name``; a built-in one is registered on its first lookup (its modules imported).

    A law registered under a built-in name before that (:func:`register`) is kept.
    """
    if name not in _LAWS:
        _LAWS[name] = _BUILDERS[name]()
    return _LAWS[name]


def _loss_law() -> Law:
    from bayescale import loss_report, loss_saved, pipeline
    from bayescale.data import LossData, load_loss_runs
    from bayescale.loss_fit import LossFit

    return Law(
        name="loss",
        formula="L(C) = a*C^b + c",
        fit_type=LossFit,
        options_type=pipeline.LossOptions,
        result_type=pipeline.LossResult,
        data_types=(LossData,),
        run=pipeline.run_loss,
        result_from_fit=pipeline.result_from_fit,
        document=loss_report.loss_document,
        markdown=loss_report.loss_markdown,
        figures=_loss_figures,
        summary=loss_report.loss_summary_text,
        data_group=loss_saved.RUNS_GROUP,
        encode=loss_saved.encode_loss,
        decode=loss_saved.decode_loss,
        saved_options=loss_saved.loss_saved_options,
        load_for_backtest=load_loss_runs,
        backtest=_on_call("bayescale.loss_backtest", "backtest_loss_ratios"),
        spec_name="loss",
        description="final loss per group, hierarchical over groups (GPT-4 report, Figure 1)",
        spec_sections=pipeline.loss_spec_sections,
        spec_options=pipeline.loss_spec_options,
        check_spec=pipeline.check_loss_spec,
        forecast_figure=_on_call("bayescale.loss_plots", "loss_figure"),
        sampler_model="loss",
    )


def _pass_law() -> Law:
    from bayescale import pass_pipeline, pass_report, pass_saved
    from bayescale.pass_data import PassAggregate, PassCounts, load_pass_table
    from bayescale.pass_fit import PassFit

    return Law(
        name="pass",
        formula="-E[ln pass_rate(C)] = alpha*C^(-k)",
        fit_type=PassFit,
        options_type=pass_pipeline.PassOptions,
        result_type=pass_pipeline.PassResult,
        data_types=(PassCounts, PassAggregate),
        run=pass_pipeline.run_pass,
        result_from_fit=pass_pipeline.result_from_pass_fit,
        document=pass_report.pass_document,
        markdown=pass_report.pass_markdown,
        figures=_pass_figures,
        summary=pass_report.pass_summary_text,
        data_group=pass_saved.PASS_GROUP,
        encode=pass_saved.encode_pass,
        decode=pass_saved.decode_pass,
        saved_options=pass_saved.pass_saved_options,
        load_for_backtest=load_pass_table,
        backtest=_on_call("bayescale.pass_backtest", "backtest_pass_ratios"),
        spec_name="pass_rate",
        description="pass rate per difficulty bucket, hierarchical over buckets "
        "(GPT-4 report, Figure 2)",
        spec_sections=pass_pipeline.pass_spec_sections,
        spec_options=pass_pipeline.pass_spec_options,
        check_spec=pass_pipeline.check_pass_spec,
        forecast_figure=_on_call("bayescale.pass_plots", "pass_forecast_figure"),
    )


def _nd_law() -> Law:
    from bayescale import nd, nd_pipeline, nd_report, nd_saved

    return Law(
        name="nd",
        formula="L(N, D) = E + A/N^alpha + B/D^beta",
        fit_type=nd.NDFit,
        options_type=nd_pipeline.NDOptions,
        result_type=nd_pipeline.NDResult,
        data_types=(nd.NDData,),
        run=nd_pipeline.run_nd_table,
        result_from_fit=nd_pipeline.nd_result_from_fit,
        document=nd_report.nd_document,
        markdown=nd_report.nd_markdown,
        figures=_nd_figures,
        summary=nd_report.nd_summary,
        data_group=nd_saved.ND_GROUP,
        encode=nd_saved.encode_nd,
        decode=nd_saved.decode_nd,
        saved_options=nd_pipeline.nd_saved_options,
        load_for_backtest=nd.load_nd_runs,
        backtest=_on_call("bayescale.nd_backtest", "backtest_nd_ratios"),
        spec_name="nd",
        description="final loss in parameters and tokens per group, and the compute-optimal "
        "split (Hoffmann et al. 2022)",
        spec_sections=nd_pipeline.nd_spec_sections,
        spec_options=nd_pipeline.nd_spec_options,
        check_spec=nd_pipeline.check_nd_spec,
        figure_calls="bayescale.plots.nd_figure(fit, budgets)",
        sampler_model="loss",
    )


def _accuracy_law() -> Law:
    from bayescale import (
        accuracy,
        accuracy_backtest,
        accuracy_data,
        accuracy_pipeline,
        accuracy_report,
        accuracy_saved,
    )

    return Law(
        name="accuracy",
        formula=accuracy.FORMULA,
        fit_type=accuracy.AccuracyFit,
        options_type=accuracy_pipeline.AccuracyOptions,
        result_type=accuracy_pipeline.AccuracyResult,
        data_types=(accuracy_data.AccuracyData,),
        run=accuracy_pipeline.run_accuracy,
        result_from_fit=accuracy_pipeline.result_from_accuracy_fit,
        document=accuracy_report.accuracy_document,
        markdown=accuracy_report.accuracy_markdown,
        figures=accuracy.accuracy_figures,
        summary=accuracy_report.accuracy_summary,
        data_group=accuracy_saved.ACCURACY_GROUP,
        encode=accuracy_saved.encode_accuracy,
        decode=accuracy_saved.decode_accuracy,
        saved_options=accuracy_saved.accuracy_saved_options,
        load_for_backtest=accuracy_backtest.load_accuracy_backtest,
        backtest=accuracy_backtest.backtest_accuracy_ratios,
        spec_name="accuracy",
        description="benchmark accuracy above chance per family, hierarchical over families "
        "and benchmarks",
        spec_sections=accuracy_pipeline.accuracy_spec_sections,
        spec_options=accuracy_pipeline.accuracy_spec_options,
        check_spec=accuracy_pipeline.check_accuracy_spec,
        figure_calls="bayescale.accuracy.accuracy_figures(result)",
    )


#: How each built-in law's entry is made (importing its modules).
_BUILDERS: dict[str, Callable[[], Law]] = {
    "loss": _loss_law,
    "pass": _pass_law,
    "nd": _nd_law,
    "accuracy": _accuracy_law,
}

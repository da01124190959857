"""bayescale: hierarchical Bayesian scaling-law forecasts with honest predictive intervals.

Fit ``L(C) = a C^b + c`` to small training runs and forecast the final loss of a large run,
with intervals that include the curve's uncertainty and run-to-run scatter; fit the GPT-4
report's capability law per difficulty bucket to per-problem pass counts and forecast a new
model's pass rates; decide whether a run meets its bar.

Examples
--------
>>> import bayescale as bs
>>> runs = bs.demo_loss_runs()
>>> sorted(runs["group"].unique())
['books', 'code', 'web']
"""

from importlib import import_module
from typing import TYPE_CHECKING

from bayescale.version import __version__

if TYPE_CHECKING:
    from bayescale.accuracy import (
        AccuracyFit,
        accuracy_draws,
        fit_accuracy,
        simulate_accuracy_table,
    )
    from bayescale.accuracy_data import AccuracyData, AccuracyPriors, load_accuracy_table
    from bayescale.accuracy_pipeline import AccuracyOptions, AccuracyResult, run_accuracy
    from bayescale.config import configure
    from bayescale.data import LossColumns, LossData, load_loss_runs
    from bayescale.decision import (
        ComputeChoice,
        Decision,
        Requirement,
        best_compute,
        parse_requirement,
    )
    from bayescale.diagnostics import Diagnostics
    from bayescale.errors import BayescaleError, ConvergenceError, InputError
    from bayescale.forecast import (
        LossForecast,
        forecast_loss,
        parameter_table,
        score_held_out,
        with_exact_loo,
    )
    from bayescale.loss_fit import LossFit, fit_loss, fit_loss_batch
    from bayescale.loss_plots import plot_ppc
    from bayescale.nd import (
        NDData,
        NDFit,
        NDPriors,
        fit_nd,
        load_nd_runs,
        nd_loss_draws,
        optimal_allocation,
        optimal_draws,
        required_params,
    )
    from bayescale.nd_pipeline import NDResult, run_nd
    from bayescale.pass_data import PassColumns, load_pass_table
    from bayescale.pass_fit import PassFit, fit_pass
    from bayescale.pass_forecast import PassForecast, forecast_pass
    from bayescale.pass_pipeline import (
        PassOptions,
        PassResult,
        decide_pass,
        result_from_pass_fit,
        run_pass,
    )
    from bayescale.pass_plots import plot_buckets
    from bayescale.pipeline import (
        LossOptions,
        LossResult,
        decide_loss,
        result_from_fit,
        run_loss,
    )
    from bayescale.plots import plot_decision, plot_forecast
    from bayescale.point_fits import bootstrap_forecast
    from bayescale.prior_predictive import add_prior_predictive
    from bayescale.priors import LossPriors, PassPriors
    from bayescale.result_files import write_loss_outputs, write_pass_outputs
    from bayescale.sampling import SamplerSettings
    from bayescale.saved import SavedFit, load_fit, load_loss_fit, save_fit, save_loss_fit
    from bayescale.simulate import demo_loss_runs, simulate_loss_runs

#: Every public name and the module it comes from. Imported on first use (PEP 562), so that
#: ``import bayescale`` costs next to nothing and each command loads only what it runs: the
#: forecast from a saved fit never imports the sampler stack, and ``--help`` nothing at all.
_PUBLIC = {
    "accuracy_draws": "bayescale.accuracy",
    "AccuracyData": "bayescale.accuracy_data",
    "AccuracyFit": "bayescale.accuracy",
    "AccuracyOptions": "bayescale.accuracy_pipeline",
    "AccuracyPriors": "bayescale.accuracy_data",
    "AccuracyResult": "bayescale.accuracy_pipeline",
    "add_prior_predictive": "bayescale.prior_predictive",
    "BayescaleError": "bayescale.errors",
    "best_compute": "bayescale.decision",
    "bootstrap_forecast": "bayescale.point_fits",
    "ComputeChoice": "bayescale.decision",
    "configure": "bayescale.config",
    "ConvergenceError": "bayescale.errors",
    "decide_loss": "bayescale.pipeline",
    "decide_pass": "bayescale.pass_pipeline",
    "Decision": "bayescale.decision",
    "demo_loss_runs": "bayescale.simulate",
    "Diagnostics": "bayescale.diagnostics",
    "fit_accuracy": "bayescale.accuracy",
    "fit_loss": "bayescale.loss_fit",
    "fit_loss_batch": "bayescale.loss_fit",
    "fit_nd": "bayescale.nd",
    "fit_pass": "bayescale.pass_fit",
    "forecast_loss": "bayescale.forecast",
    "forecast_pass": "bayescale.pass_forecast",
    "InputError": "bayescale.errors",
    "load_accuracy_table": "bayescale.accuracy_data",
    "load_fit": "bayescale.saved",
    "load_loss_fit": "bayescale.saved",
    "load_loss_runs": "bayescale.data",
    "load_nd_runs": "bayescale.nd",
    "load_pass_table": "bayescale.pass_data",
    "LossColumns": "bayescale.data",
    "LossData": "bayescale.data",
    "LossFit": "bayescale.loss_fit",
    "LossForecast": "bayescale.forecast",
    "LossOptions": "bayescale.pipeline",
    "LossPriors": "bayescale.priors",
    "LossResult": "bayescale.pipeline",
    "nd_loss_draws": "bayescale.nd",
    "NDData": "bayescale.nd",
    "NDFit": "bayescale.nd",
    "NDPriors": "bayescale.nd",
    "NDResult": "bayescale.nd_pipeline",
    "optimal_allocation": "bayescale.nd",
    "optimal_draws": "bayescale.nd",
    "parameter_table": "bayescale.forecast",
    "parse_requirement": "bayescale.decision",
    "PassColumns": "bayescale.pass_data",
    "PassFit": "bayescale.pass_fit",
    "PassForecast": "bayescale.pass_forecast",
    "PassOptions": "bayescale.pass_pipeline",
    "PassPriors": "bayescale.priors",
    "PassResult": "bayescale.pass_pipeline",
    "plot_buckets": "bayescale.pass_plots",
    "plot_decision": "bayescale.plots",
    "plot_forecast": "bayescale.plots",
    "plot_ppc": "bayescale.loss_plots",
    "required_params": "bayescale.nd",
    "Requirement": "bayescale.decision",
    "result_from_fit": "bayescale.pipeline",
    "result_from_pass_fit": "bayescale.pass_pipeline",
    "run_accuracy": "bayescale.accuracy_pipeline",
    "run_loss": "bayescale.pipeline",
    "run_nd": "bayescale.nd_pipeline",
    "run_pass": "bayescale.pass_pipeline",
    "SamplerSettings": "bayescale.sampling",
    "save_fit": "bayescale.saved",
    "save_loss_fit": "bayescale.saved",
    "SavedFit": "bayescale.saved",
    "score_held_out": "bayescale.forecast",
    "with_exact_loo": "bayescale.forecast",
    "simulate_accuracy_table": "bayescale.accuracy",
    "simulate_loss_runs": "bayescale.simulate",
    "write_loss_outputs": "bayescale.result_files",
    "write_pass_outputs": "bayescale.result_files",
}


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value  # found once
        return value
    raise AttributeError(f"module 'bayescale' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


__all__ = [
    "AccuracyData",
    "AccuracyFit",
    "AccuracyOptions",
    "AccuracyPriors",
    "AccuracyResult",
    "BayescaleError",
    "ComputeChoice",
    "ConvergenceError",
    "Decision",
    "Diagnostics",
    "InputError",
    "LossColumns",
    "LossData",
    "LossFit",
    "LossForecast",
    "LossOptions",
    "LossPriors",
    "LossResult",
    "NDData",
    "NDFit",
    "NDPriors",
    "NDResult",
    "PassColumns",
    "PassFit",
    "PassForecast",
    "PassOptions",
    "PassPriors",
    "PassResult",
    "Requirement",
    "SamplerSettings",
    "SavedFit",
    "__version__",
    "accuracy_draws",
    "add_prior_predictive",
    "best_compute",
    "bootstrap_forecast",
    "configure",
    "decide_loss",
    "decide_pass",
    "demo_loss_runs",
    "fit_accuracy",
    "fit_loss",
    "fit_loss_batch",
    "fit_nd",
    "fit_pass",
    "forecast_loss",
    "forecast_pass",
    "load_accuracy_table",
    "load_fit",
    "load_loss_fit",
    "load_loss_runs",
    "load_nd_runs",
    "load_pass_table",
    "nd_loss_draws",
    "optimal_allocation",
    "optimal_draws",
    "parameter_table",
    "parse_requirement",
    "plot_buckets",
    "plot_decision",
    "plot_forecast",
    "plot_ppc",
    "required_params",
    "result_from_fit",
    "result_from_pass_fit",
    "run_accuracy",
    "run_loss",
    "run_nd",
    "run_pass",
    "save_fit",
    "save_loss_fit",
    "score_held_out",
    "simulate_accuracy_table",
    "simulate_loss_runs",
    "with_exact_loo",
    "write_loss_outputs",
    "write_pass_outputs",
]

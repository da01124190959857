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

from bayescale.accuracy import (
    AccuracyFit,
    AccuracyOptions,
    AccuracyResult,
    accuracy_draws,
    fit_accuracy,
    run_accuracy,
    simulate_accuracy_table,
)
from bayescale.accuracy_data import (
    AccuracyData,
    AccuracyPriors,
    load_accuracy_table,
)
from bayescale.config import configure
from bayescale.data import LossColumns, LossData, load_loss_runs
from bayescale.decision import ComputeChoice, Decision, Requirement, best_compute, parse_requirement
from bayescale.diagnostics import Diagnostics
from bayescale.errors import BayescaleError, ConvergenceError, InputError
from bayescale.fit import LossFit, PassFit, fit_loss, fit_loss_batch, fit_pass
from bayescale.forecast import (
    LossForecast,
    forecast_loss,
    parameter_table,
    score_held_out,
)
from bayescale.nd import (
    NDData,
    NDFit,
    NDPriors,
    NDResult,
    fit_nd,
    load_nd_runs,
    nd_loss_draws,
    optimal_allocation,
    optimal_draws,
    required_params,
    run_nd,
)
from bayescale.pass_data import PassColumns, load_pass_table
from bayescale.pass_forecast import PassForecast, forecast_pass
from bayescale.pass_pipeline import (
    PassOptions,
    PassResult,
    decide_pass,
    result_from_pass_fit,
    run_pass,
)
from bayescale.pipeline import (
    LossOptions,
    LossResult,
    decide_loss,
    result_from_fit,
    run_loss,
)
from bayescale.prior_predictive import add_prior_predictive
from bayescale.priors import LossPriors, PassPriors
from bayescale.result_files import write_loss_outputs, write_pass_outputs
from bayescale.sampling import SamplerSettings
from bayescale.saved import SavedFit, load_fit, load_loss_fit, save_fit, save_loss_fit
from bayescale.simulate import demo_loss_runs, simulate_loss_runs
from bayescale.version import __version__

if TYPE_CHECKING:
    from bayescale.plots import plot_buckets, plot_decision, plot_forecast, plot_ppc
    from bayescale.point_fits import bootstrap_forecast

#: Public names imported on first use, so that ``import bayescale`` loads neither matplotlib
#: nor scipy (the command line starts faster).
_LAZY = {
    "plot_buckets": "bayescale.plots",
    "plot_decision": "bayescale.plots",
    "plot_forecast": "bayescale.plots",
    "plot_ppc": "bayescale.plots",
    "bootstrap_forecast": "bayescale.point_fits",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bayescale' has no attribute {name!r}")


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
    "write_loss_outputs",
    "write_pass_outputs",
]

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

from importlib.metadata import PackageNotFoundError, version

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
from bayescale.pass_pipeline import PassOptions, PassResult, result_from_pass_fit, run_pass
from bayescale.pipeline import (
    LossOptions,
    LossResult,
    decide_loss,
    result_from_fit,
    run_loss,
    write_loss_outputs,
)
from bayescale.priors import LossPriors, PassPriors
from bayescale.sampling import SamplerSettings
from bayescale.saved import load_fit, load_loss_fit, save_fit, save_loss_fit
from bayescale.simulate import demo_loss_runs, simulate_loss_runs

try:
    __version__ = version("bayescale")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
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
    "PassFit",
    "PassOptions",
    "PassPriors",
    "PassResult",
    "Requirement",
    "SamplerSettings",
    "__version__",
    "best_compute",
    "configure",
    "decide_loss",
    "demo_loss_runs",
    "fit_loss",
    "fit_loss_batch",
    "fit_pass",
    "forecast_loss",
    "load_fit",
    "load_loss_fit",
    "load_loss_runs",
    "parameter_table",
    "parse_requirement",
    "result_from_fit",
    "result_from_pass_fit",
    "run_loss",
    "run_pass",
    "save_fit",
    "save_loss_fit",
    "score_held_out",
    "simulate_loss_runs",
    "write_loss_outputs",
]

from bayescale.accuracy import (
    AccuracyData,
    AccuracyFit,
    AccuracyOptions,
    AccuracyPriors,
    AccuracyResult,
    accuracy_draws,
    fit_accuracy,
    load_accuracy_table,
    run_accuracy,
    simulate_accuracy_table,
)

__all__ += [
    "AccuracyData",
    "AccuracyFit",
    "AccuracyOptions",
    "AccuracyPriors",
    "AccuracyResult",
    "accuracy_draws",
    "fit_accuracy",
    "load_accuracy_table",
    "run_accuracy",
    "simulate_accuracy_table",
]

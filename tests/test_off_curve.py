"""Tier 1 and 3: the warning about a fitted run far off the curve of the others
(``forecast.off_curve_warnings``, a leave-one-out PIT by importance sampling)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from arviz_base import from_dict
from scipy.stats import norm

from bayescale.cli import main
from bayescale.data import load_loss_runs
from bayescale.diagnostics import Diagnostics
from bayescale.fit import LossFit
from bayescale.forecast import OFF_CURVE_TAIL, off_curve_warnings
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings

SIGMA = 0.01


def flat_fit(log_losses: np.ndarray, draws: int = 200_000, seed: int = 0, **priors) -> LossFit:
    """A one-group fit whose curve is flat (no reducible loss) at a level with the posterior of
    a normal mean under a flat prior and a known scatter: ln level ~ N(mean, SIGMA^2 / n)."""
    n = log_losses.size
    table = pd.DataFrame(
        {
            "compute": np.logspace(18, 21, n),
            "loss": np.exp(log_losses),
            "name": [f"r{i}" for i in range(n)],
        }
    )
    data = load_loss_runs(table)
    rng = np.random.default_rng(seed)
    log_level = rng.normal(log_losses.mean(), SIGMA / np.sqrt(n), size=(1, draws, 1))
    posterior = {
        "level": np.exp(log_level),
        "reducible": np.zeros((1, draws, 1)),
        "exponent": np.full((1, draws, 1), 0.2),
        "sigma": np.full((1, draws), SIGMA),
    }
    idata = from_dict(
        {"posterior": posterior},
        dims={name: ["group"] for name in ("level", "reducible", "exponent")},
        coords={"group": list(data.groups)},
    )
    return LossFit(
        data=data,
        idata=idata,
        log_pivot=float(np.mean(np.log(data.compute))),
        priors=LossPriors(**priors),
        settings=SamplerSettings(seed=3),
        diagnostics=Diagnostics(1.0, 4000.0, 4000.0, 0, "level", 400.0, 1, draws),
    )


def exact_loo_tail(log_losses: np.ndarray, i: int) -> float:
    """The leave-one-out predictive tail of run i, in closed form for the flat fit."""
    others = np.delete(log_losses, i)
    scale = SIGMA * np.sqrt(1 + 1 / others.size)
    p = norm.cdf(log_losses[i], others.mean(), scale)
    return min(p, 1 - p)


def test_the_leave_one_out_tail_matches_the_closed_form():
    # the importance-weighted tail behind the warning, with the threshold moved to see it
    logs = np.log(2.0) + SIGMA * np.array([0.3, -0.8, 0.5, -0.1, 3.8, 0.2])
    exact = exact_loo_tail(logs, 4)
    assert 1e-4 < exact < 1e-2  # the run 3.8 scatter sds up is rare, not flagged by default
    fit = flat_fit(logs)
    assert off_curve_warnings(fit) == []
    import bayescale.forecast as forecast

    for factor, flagged in ((0.8, False), (1.25, True)):
        forecast.OFF_CURVE_TAIL = exact * factor
        try:
            warnings = off_curve_warnings(fit)
        finally:
            forecast.OFF_CURVE_TAIL = OFF_CURVE_TAIL
        assert (len(warnings) == 1) is flagged, (exact, factor)


def test_a_run_far_off_is_named_with_its_side_and_the_remedy():
    logs = np.log(2.0) + SIGMA * np.array([0.3, -0.8, 0.5, -0.1, -7.0, 0.2, 0.9])
    assert exact_loo_tail(logs, 4) < OFF_CURVE_TAIL
    (warning,) = off_curve_warnings(flat_fit(logs))
    assert warning.startswith("run r4 (compute 1e+20, loss 1.865) sits far off the curve")
    assert "a loss this low" in warning and "--likelihood student_t" in warning
    t_fit = flat_fit(logs, likelihood="student_t")
    assert all("student_t" not in w for w in off_curve_warnings(t_fit))


def test_runs_that_follow_the_law_give_no_warning():
    rng = np.random.default_rng(5)
    logs = np.log(2.0) + SIGMA * rng.standard_normal(40)
    assert off_curve_warnings(flat_fit(logs)) == []


@pytest.mark.slow
def test_a_diverged_run_is_warned_about_in_the_result_document(tmp_path, demo_runs, capsys):
    def off_curve(runs: pd.DataFrame, name: str) -> list[str]:
        table, doc = tmp_path / f"{name}.csv", tmp_path / f"{name}.json"
        runs.to_csv(table, index=False)
        argv = ["loss", str(table), "--target-compute", "1e23", "--json", str(doc), "--quiet"]
        assert main(argv) == 0, capsys.readouterr().err
        return [w for w in json.loads(doc.read_text())["warnings"] if "far off the curve" in w]

    assert off_curve(demo_runs, "demo") == []  # the demo's runs follow the law
    runs = demo_runs.copy()
    web = np.flatnonzero(runs["group"] == "web")
    runs.loc[web[-2], "loss"] *= 1.2  # the second-largest web run diverged
    (warning,) = off_curve(runs, "diverged")
    assert warning.startswith(f"run {runs.loc[web[-2], 'name']} of group 'web'")
    assert "a loss this high" in warning


def test_the_warning_is_kept_when_not_logged(caplog):
    from bayescale.forecast import forecast_loss

    logs = np.log(2.0) + SIGMA * np.array([0.3, -0.8, 0.5, -0.1, -7.0, 0.2, 0.9])
    forecast = forecast_loss(flat_fit(logs, draws=20_000), 1e22, warn=False, warn_fit=False)
    assert sum("far off the curve" in w for w in forecast.warnings) == 1
    assert "far off the curve" not in caplog.text

"""L(N, D)'s additive law discrepancy: its math (zero inside the fitted ranges, an sd that grows
per e-fold beyond them), that it widens the loss at the optimum without moving N*, its own
random stream, the option's plumbing, the Student-t default and the rule for saved fits that
predate either."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import bayescale.nd
from bayescale.errors import InputError
from bayescale.nd import (
    NDPriors,
    additive_discrepancy,
    nd_draws,
    nd_loss_draws,
    optimal_draws,
)
from bayescale.nd_data import ND_DISCREPANCY_LOG_LOSS_SD
from bayescale.priors import Likelihood
from bayescale.saved import load_fit, save_fit
from tests.test_nd import fake_draws
from tests.test_nd_saved import OPTIONS, fake_fit

DATA = Path(__file__).parent / "data"
# fake_draws' largest fitted N and D: 4e8 and 1e10
N_MAX, D_MAX = 4e8, 1e10


def shifted(samples: int = 4000, s_add: float = 0.02, seed: int = 0):
    """fake_draws (every draw Epoch's law) with the additive discrepancy at ``s_add``."""
    xi = np.random.default_rng(seed).standard_normal((2, samples))
    return replace(fake_draws(samples=samples), shift_n=s_add * xi[0], shift_d=s_add * xi[1])


def test_the_term_is_zero_inside_and_linear_in_the_e_folds_beyond():
    ln_n = np.log([1e8, N_MAX, N_MAX * np.e, N_MAX * np.e**3])
    ln_d = np.log([1e9, D_MAX, D_MAX, D_MAX * np.e**2])
    delta = additive_discrepancy(ln_n, ln_d, np.log(N_MAX), np.log(D_MAX), 0.1, 0.01)
    np.testing.assert_allclose(delta, [0.0, 0.0, 0.1, 0.3 + 0.02], atol=1e-12)


def test_curve_is_the_law_inside_the_data_and_widens_beyond():
    draws = shifted()
    plain = fake_draws(samples=draws.level.shape[0])
    # inside: every draw the law; beyond N, D or both: the law times e^delta, sd growing
    ln_n = np.log([1e8, N_MAX * np.e, N_MAX * np.e, N_MAX * np.e**2])
    ln_d = np.log([1e9, D_MAX / 2, D_MAX * np.e, D_MAX * np.e**2])
    log_ratio = np.log(draws.curve(ln_n, ln_d) / plain.curve(ln_n, ln_d))[:, 0, :]
    assert np.all(log_ratio[:, 0] == 0)
    sd = log_ratio.std(axis=0)
    # one xi each: sd = s_add x sqrt(e-folds beyond N ^ 2 + e-folds beyond D ^ 2)
    np.testing.assert_allclose(sd[1:], 0.02 * np.sqrt([1, 2, 8]), rtol=0.05)
    assert abs(np.median(log_ratio[:, 3])) < 0.003  # centred on the law


def test_optimum_is_not_moved_but_its_loss_is_widened():
    budgets = [1e19, 1e22, 1e24]  # inside, beyond D only, beyond both
    draws = shifted()
    plain = fake_draws(samples=draws.level.shape[0])
    with_term, without = optimal_draws(draws, budgets), optimal_draws(plain, budgets)
    np.testing.assert_array_equal(with_term["params"].values, without["params"].values)
    spread = np.log(with_term["curve"].values[:, 0, :]).std(axis=0)
    assert spread[0] < 1e-12 and spread[1] > 0.005 and spread[2] > spread[1]
    assert np.all(without["curve"].values.std(axis=0) < 1e-12)


def test_its_own_stream_leaves_the_other_draws_as_they_were():
    fit = fake_fit()
    off = replace(fit, priors=replace(fit.priors, discrepancy_log_loss_sd=0.0))
    on = replace(fit, priors=replace(fit.priors, discrepancy_log_loss_sd=0.03))
    a, b = nd_draws(off), nd_draws(on)
    assert a.shift_n is None and a.shift_d is None
    np.testing.assert_array_equal(a.eps, b.eps)
    np.testing.assert_array_equal(a.stretch_n, b.stretch_n)
    assert b.shift_n is not None and b.shift_n.std() == pytest.approx(0.03, rel=0.2)
    np.testing.assert_array_equal(b.shift_n, nd_draws(on).shift_n)  # seeded
    assert not np.array_equal(b.shift_n, nd_draws(on, seed=7).shift_n)
    assert not bayescale.nd.ADDITIVE_SHARED  # one xi each, independent
    assert b.shift_d is not None and abs(np.corrcoef(b.shift_n, b.shift_d)[0, 1]) < 0.2
    # the held-out scoring and forecasts carry it: wider beyond the data, equal inside
    wide = nd_loss_draws(on, [1e8, 1e11], [2e9, 1e13])["loss"].values
    narrow = nd_loss_draws(off, [1e8, 1e11], [2e9, 1e13])["loss"].values
    np.testing.assert_array_equal(wide[..., 0], narrow[..., 0])
    assert np.log(wide[..., 1]).std() > 1.5 * np.log(narrow[..., 1]).std()


def test_the_option_is_a_prior_with_a_checked_scale():
    assert NDPriors().discrepancy_log_loss_sd == ND_DISCREPANCY_LOG_LOSS_SD == 0.0  # docs/nd.md
    assert NDPriors(discrepancy_log_loss_sd=0).discrepancy_log_loss_sd == 0
    for bad in (-0.01, float("nan"), True):
        with pytest.raises(InputError, match="'discrepancy_log_loss_sd' must be a number >= 0"):
            NDPriors(discrepancy_log_loss_sd=bad)  # type: ignore[arg-type]


def test_a_spec_sets_it_in_priors(tmp_path):
    from bayescale.nd import simulate_nd_runs
    from bayescale.nd_pipeline import NDOptions
    from bayescale.spec import load_spec, spec_options

    simulate_nd_runs(0, budgets=[1e18, 1e19, 1e20]).to_csv(tmp_path / "runs.csv", index=False)
    spec = 'schema_version = 1\nlaw = "nd"\n[data]\npath = "runs.csv"\n'
    spec += "[forecast]\ntargets = [1e21]\n[priors]\ndiscrepancy_log_loss_sd = 0.01\n"
    (tmp_path / "nd.toml").write_text(spec)
    options = spec_options(load_spec(tmp_path / "nd.toml"))
    assert isinstance(options, NDOptions) and options.priors.discrepancy_log_loss_sd == 0.01


def test_a_saved_fit_keeps_its_scale_and_older_files_have_none(tmp_path):
    fit = replace(fake_fit(), priors=NDPriors(discrepancy_log_loss_sd=0.013))
    saved = load_fit(save_fit(fit, tmp_path / "fit.nc", OPTIONS.forecast_options()))
    assert saved.fit.priors.discrepancy_log_loss_sd == 0.013
    # a file written before the field: no additive discrepancy, its answers unchanged
    # (tests/test_nd_saved.py checks them against the answers stored with the file)
    old = load_fit(DATA / "nd_fit_v0.2.0.dev0.nc")
    assert "discrepancy_log_loss_sd" not in json.dumps(old.fit.idata.attrs.get("priors", ""))
    assert old.fit.priors.discrepancy_log_loss_sd == 0.0
    assert nd_draws(old.fit).shift_n is None


@dataclass(frozen=True)
class LaterPriors(NDPriors):
    """NDPriors as a later version might default them: the rule must not follow defaults."""

    discrepancy_log_loss_sd: float = 0.05
    likelihood: Likelihood = "student_t"


def test_priors_without_the_fields_read_what_the_fit_was_made_with(monkeypatch):
    import bayescale.nd_saved
    from bayescale.nd_saved import nd_priors_of

    monkeypatch.setattr(bayescale.nd_saved, "NDPriors", LaterPriors)
    new_fields = ("discrepancy_log_loss_sd", "likelihood")
    values = {k: v for k, v in NDPriors().__dict__.items() if k not in new_fields}
    tree = xr.DataTree()
    tree.attrs["priors"] = json.dumps(values)
    read = nd_priors_of(tree, Path("fit.nc"))
    assert read.discrepancy_log_loss_sd == 0.0 and read.likelihood == "normal"
    tree.attrs["priors"] = json.dumps(NDPriors(discrepancy_log_loss_sd=0.01).__dict__)
    read = nd_priors_of(tree, Path("fit.nc"))  # saved with the fields: as saved
    assert read.discrepancy_log_loss_sd == 0.01 and read.likelihood == "student_t"


def test_the_nd_command_and_backtest_default_to_student_t_and_take_normal(tmp_path, monkeypatch):
    """No --likelihood: NDPriors' default (student_t); --likelihood normal: normal."""
    import bayescale.cli
    from bayescale.cli import build_parser

    seen = []
    monkeypatch.setattr(bayescale.cli, "_run_law", lambda args, runs, options: seen.append(options))
    parser = build_parser()
    for extra, expected in (([], "student_t"), (["--likelihood", "normal"], "normal")):
        args = parser.parse_args(["nd", "runs.csv", "--budget", "1e21", *extra])
        bayescale.cli._run_nd_command(args)
        assert seen[-1].priors.likelihood == expected
    loss = parser.parse_args(["loss", "runs.csv", "--target-compute", "1e21"])
    assert loss.likelihood == "normal"  # the loss law keeps its own default
    bt = parser.parse_args(["backtest", "nd", "runs.csv", "--ratio", "10"])
    assert bt.likelihood is None and bayescale.cli._likelihood_given(bt) == {}

"""The exit-3 message names what failed in the words of the model that failed (no sampler)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bayescale.accuracy import ACCURACY_ADVICE
from bayescale.buckets import Buckets
from bayescale.diagnostics import Attempt, Diagnostics
from bayescale.ladder import advice_message
from bayescale.loss_fit import ADVICE
from bayescale.nd import ND_ADVICE
from bayescale.pass_fit import PASS_ADVICE, _pass_context


def _failed(worst: str, divergences: int = 0, r_hat: float = 1.2) -> Diagnostics:
    return Diagnostics(
        r_hat_max=r_hat,
        ess_bulk_min=13.0,
        ess_tail_min=24.0,
        divergences=divergences,
        worst=worst,
        ess_threshold=400.0,
        chains=4,
        draws=1000,
        worst_ess=worst,
        attempts=(Attempt("first fit", "first fit", 1.0),) * 4,
    )


def test_a_pass_exponent_gets_pass_advice_not_more_draws():
    message = advice_message(_failed("log_exponent", divergences=41), PASS_ADVICE)
    assert "'log_exponent' is how fast a bucket's pass rate rises" in message
    assert "--buckets" in message and "--draws 4000" not in message


def test_pass_variables_are_not_read_as_the_loss_models():
    # 'sigma_problem' contains 'sigma', 'tau_level' contains 'level': the loss model's words
    # (run-to-run scatter, a group's loss) were given for them
    problem = advice_message(_failed("sigma_problem"), PASS_ADVICE)
    assert "problems of one bucket" in problem and "run-to-run" not in problem
    level = advice_message(_failed("tau_level"), PASS_ADVICE)
    assert "-ln(pass rate)" in level and "group's loss" not in level


def test_the_loss_advice_is_unchanged():
    message = advice_message(_failed("sigma"), ADVICE)
    assert "'sigma' is the run-to-run scatter" in message and "add runs (5 or more" in message
    only_divergences = advice_message(
        replace(_failed("sigma", divergences=9, r_hat=1.0), ess_bulk_min=900.0, ess_tail_min=900.0),
        ADVICE,
    )
    assert "--likelihood student_t" in only_divergences


def test_nd_and_accuracy_fits_get_their_own_advice():
    nd = advice_message(_failed("sigma"), ND_ADVICE)
    assert "5 parameters" in nd and "5 or more a group" not in nd
    diverging = replace(
        _failed("x", divergences=9, r_hat=1.0), ess_bulk_min=900.0, ess_tail_min=900.0
    )
    assert "run off the surface" in advice_message(diverging, ND_ADVICE)
    # bayescale nd is Student-t by default: the advice names the choice it already made
    assert "Student-t likelihood weighs such a run less" in advice_message(diverging, ND_ADVICE)
    assert "--likelihood" not in advice_message(
        diverging, ACCURACY_ADVICE
    )  # bayescale accuracy not
    accuracy = advice_message(_failed("log_exponent_bench"), ACCURACY_ADVICE)
    assert "above the chance floor" in accuracy
    assert "chance rate" in advice_message(_failed("floor_fraction"), ACCURACY_ADVICE)


def test_a_per_problem_fit_names_buckets_of_one_problem():
    class _Fit:
        buckets = Buckets(
            labels=tuple("123456"),
            index=np.array([0, 0, 1, 1, 2, 3, 4, 5]),
            kept=np.arange(8),
            difficulty=np.linspace(1, 0, 8),
            reference_models=("m0",),
            rank_correlation=None,  # type: ignore[arg-type]
            eligibility="all",
        )

    assert _pass_context(_Fit()) == (  # type: ignore[arg-type]
        "The 8 problems are split into 6 buckets of 2, 2, 1, 1, 1, 1 problems."
    )


def test_the_command_says_the_remedy_once(capsys):
    from bayescale.cli import _unconverged
    from bayescale.errors import ConvergenceError

    assert (
        _unconverged(ConvergenceError(advice_message(_failed("sigma"), ADVICE), result=None)) == 3
    )
    printed = capsys.readouterr().err
    assert printed.count("--allow-unconverged") == 1 and ".." not in printed
    _unconverged(ConvergenceError("R-hat 1.2", result=None))
    assert "Run longer (--draws/--tune)" in capsys.readouterr().err


def test_a_variable_without_an_entry_mixes_slowly_in_every_table():
    for advice in (ADVICE, PASS_ADVICE, ND_ADVICE, ACCURACY_ADVICE):
        message = advice_message(_failed("model_effect_raw"), advice)
        assert "'model_effect_raw' mixes slowly" in message and " is ." not in message

"""Tier 1: requirements, go/no-go decisions on fake predictive draws, and JSON cleaning."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayescale.decision import (
    QUANTITIES,
    SEARCH_FACTOR,
    Decision,
    Requirement,
    compute_grid,
    decide,
    parse_requirement,
)
from bayescale.errors import InputError
from bayescale.laws import loss_law
from bayescale.report import clean_json, markdown_table

# --- parse_requirement --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scope", "quantity", "op", "threshold"),
    [
        ("loss<=2.1", None, "loss", "<=", 2.1),
        (" loss <= 2.1 ", None, "loss", "<=", 2.1),
        ("web.loss<=2.1", "web", "loss", "<=", 2.1),
        ("web.loss <= 2.1", "web", "loss", "<=", 2.1),
        ("my.mix.loss<2", "my.mix", "loss", "<", 2.0),
        ("pass_rate>=0.3", None, "pass_rate", ">=", 0.3),
        ("3.pass_rate>0.25", "3", "pass_rate", ">", 0.25),
        ("loss<=1e-1", None, "loss", "<=", 0.1),
        ("loss<=2E+0", None, "loss", "<=", 2.0),
        ("loss<=.5", None, "loss", "<=", 0.5),
        ("loss<=2.", None, "loss", "<=", 2.0),
        ("loss<=+3", None, "loss", "<=", 3.0),
        ("pass_rate>=5e-2", None, "pass_rate", ">=", 0.05),
    ],
)
def test_parse_valid(text, scope, quantity, op, threshold):
    r = parse_requirement(text)
    assert r.scope == scope
    assert r.quantity == quantity
    assert r.op == op
    assert r.threshold == pytest.approx(threshold, rel=1e-15)
    assert r.text == text.strip()
    assert isinstance(r.threshold, float)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("loss\u22642.1", "Write \u2264 as <=."),
        ("pass_rate\u22650.3", "Write \u2265 as >="),
        ("loss=<2.1", "Write =< as <=."),
        ("loss==2.1", "Write == as <= or >=."),
    ],
)
def test_a_typeset_or_reversed_operator_is_named(text, hint):
    # 'loss\u22642.1' copied from a document was only "cannot be parsed"
    with pytest.raises(InputError, match=hint):
        parse_requirement(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "loss",
        "loss<=",
        "<=2.1",
        "loss=2.1",
        "loss==2.1",
        "loss=<2.1",
        "loss<<2.1",
        "loss<=abc",
        "loss<=2.1.3",
        "loss<=nan",
        "loss<=inf",
        "loss <= 2.1 extra",
        "pass-rate>=0.3",
        "2.1>=loss",
    ],
)
def test_parse_invalid_explains_the_form(text):
    with pytest.raises(InputError) as info:
        parse_requirement(text)
    message = str(info.value)
    assert f"'{text}'" in message
    assert "cannot be parsed" in message
    assert "loss<=2.1" in message  # an example of the valid form
    assert "pass_rate>=0.3" in message
    for op in ("<=", "<", ">=", ">"):
        assert op in message


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("los<=2.1", "loss"),
        ("Loss<=2.1", "loss"),
        ("pass_rat>=0.3", "pass_rate"),
        ("passrate>=0.3", "pass_rate"),
        ("web.lose<=2", "loss"),
    ],
)
def test_parse_unknown_quantity_has_hint(text, hint):
    with pytest.raises(InputError) as info:
        parse_requirement(text)
    message = str(info.value)
    assert "unknown quantity" in message
    assert f"Did you mean '{hint}'?" in message
    assert "loss, pass_rate" in message  # the valid choices


def test_parse_unknown_quantity_without_close_match():
    with pytest.raises(InputError) as info:
        parse_requirement("perplexity<=8")
    message = str(info.value)
    assert "unknown quantity 'perplexity'" in message
    assert "Did you mean" not in message
    assert "loss, pass_rate" in message


def test_parse_restricted_quantities():
    with pytest.raises(InputError, match="Choose one of: loss"):
        parse_requirement("pass_rate>=0.3", quantities=("loss",))
    assert parse_requirement("acc>=0.3", quantities=("acc",)).quantity == "acc"


def test_input_error_is_value_error():
    with pytest.raises(ValueError):
        parse_requirement("nonsense")


# --- Requirement.holds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "expected", "lower_is_better"),
    [
        ("<=", [True, True, False], True),
        ("<", [True, False, False], True),
        (">=", [False, True, True], False),
        (">", [False, False, True], False),
    ],
)
def test_holds(op, expected, lower_is_better):
    r = Requirement(quantity="loss", op=op, threshold=2.0)
    values = np.array([1.5, 2.0, 2.5])
    np.testing.assert_array_equal(r.holds(values), expected)
    assert r.lower_is_better is lower_is_better


def test_holds_keeps_shape():
    r = parse_requirement("loss<=2.0")
    values = np.array([[1.0, 3.0], [2.0, 2.5], [4.0, 0.5]])
    out = r.holds(values)
    assert out.shape == values.shape
    assert out.dtype == bool
    np.testing.assert_array_equal(out, [[True, False], [True, False], [False, True]])


# --- decide on fake predictive draws ------------------------------------------------------

A, B, FLOOR = 100.0, -0.1, 1.5  # L(C) = 100 C^-0.1 + 1.5: 2.5 at 1e20, 2.0 at 1e23
NOISE = 0.03  # lognormal run-to-run scatter
N_DRAWS = 4000


def curve(compute):
    return loss_law(np.log(compute), A, B, FLOOR)


def compute_for(loss):
    """Inverse of :func:`curve`."""
    return float(np.exp(np.log((loss - FLOOR) / A) / B))


def loss_draws_at(compute):
    """Predictive draws of a new run's loss, shape (sample, n): one scatter draw per sample at
    every compute, as the laws' forecasts share them."""
    compute = np.asarray(compute, dtype=float)
    rng = np.random.default_rng(20240601)
    noise = rng.lognormal(0.0, NOISE, size=(N_DRAWS, 1))
    return curve(compute)[None, :] * noise


def pass_draws_at(compute):
    """Pass-rate draws rising with compute, in (0, 1)."""
    compute = np.asarray(compute, dtype=float)
    rng = np.random.default_rng(7)
    logit = 0.8 * (np.log10(compute) - 22.0)[None, :] + rng.normal(0, 0.3, (N_DRAWS, 1))
    return 1.0 / (1.0 + np.exp(-logit))


def one(requirement, target=1e22, confidence=0.9, draws_at=loss_draws_at, search_from=1e18):
    [decision] = decide(parse_requirement(requirement), draws_at, [target], confidence, search_from)
    return decision


def test_decide_returns_one_decision_per_target():
    targets = np.array([1e21, 1e22, 1e24])
    decisions = decide(parse_requirement("loss<=2.1"), loss_draws_at, targets, 0.9, 1e18)
    assert [d.target_compute for d in decisions] == list(targets)
    assert all(isinstance(d, Decision) for d in decisions)
    assert all(d.confidence == 0.9 for d in decisions)
    assert all(isinstance(d.probability, float) for d in decisions)
    # The search does not depend on the target it is reported with.
    assert len({d.compute_needed_at_confidence for d in decisions}) == 1
    assert len({d.compute_needed_median for d in decisions}) == 1
    # A lower-is-better requirement gets likelier with more compute.
    probs = [d.probability for d in decisions]
    assert probs == sorted(probs)
    assert probs[0] < 0.05
    assert probs[-1] > 0.95


def test_probability_matches_the_draws():
    d = one("loss<=2.1", target=1e22)
    expected = float(np.mean(loss_draws_at(np.array([1e22])) <= 2.1))
    assert d.probability == expected
    # The curve is above 2.1 at 1e22, so the chance is below one half, but not zero.
    assert curve(1e22) > 2.1
    assert 0.0 < d.probability < 0.5
    assert not d.go


def test_loosening_raises_and_tightening_lowers_probability():
    thresholds = [1.85, 2.0, 2.05, 2.1, 2.13, 2.15, 2.2, 2.4]
    probs = [one(f"loss<={t}", target=1e22).probability for t in thresholds]
    assert probs == sorted(probs)
    assert probs[0] == 0.0
    assert probs[-1] == 1.0
    # Upper bounds on pass rate work the other way round.
    lower = [one(f"pass_rate>={t}", draws_at=pass_draws_at).probability for t in (0.3, 0.5, 0.7)]
    assert lower == sorted(lower, reverse=True)


@pytest.mark.parametrize("confidence", [0.5, 0.6, 0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("requirement", ["loss<=2.1", "loss<2.0", "loss<=1.9"])
def test_go_is_probability_at_least_confidence(requirement, confidence):
    targets = [1e21, 1e22, 3e22, 1e23, 1e24, 1e26]
    decisions = decide(parse_requirement(requirement), loss_draws_at, targets, confidence, 1e18)
    for d in decisions:
        assert d.go == (d.probability >= d.confidence)
    # Both outcomes occur over these targets.
    assert {d.go for d in decisions} == {True, False}


def test_go_at_exactly_the_confidence():
    d = Decision(parse_requirement("loss<=2"), 1e22, 0.9, 0.9, 1e21, 1e22)
    assert d.go
    d = Decision(parse_requirement("loss<=2"), 1e22, 0.8999, 0.9, 1e21, 1e22)
    assert not d.go


def test_a_compute_needed_near_the_target_is_told_apart_from_it():
    # "NO-GO: 89.2% chance ... at 1e+22 FLOPs; 90% confidence needs 1e+22 FLOPs" (1.047e22)
    d = Decision(parse_requirement("loss<=2.2"), 1e22, 0.892, 0.9, 4.4e21, 1.0471e22)
    assert "at 1e+22 FLOPs; 90% confidence needs 1.05e+22 FLOPs." in d.sentence()
    d = Decision(parse_requirement("loss<=2.2"), 1e22, 0.95, 0.9, 4.4e21, 3.16e21)
    assert "needs 3.2e+21 FLOPs." in d.sentence()  # apart already: two digits as before
    d = Decision(parse_requirement("loss<=2.2"), 1e22, 0.9, 0.9, 4.4e21, 1e22)
    assert "at 1e+22 FLOPs; 90% confidence needs 1e+22 FLOPs." in d.sentence()


def test_go_and_no_go_on_both_sides_of_the_curve():
    assert one("loss<=2.1", target=1e24).go  # curve 1.90 at 1e24
    assert not one("loss<=2.1", target=1e21).go  # curve 2.29 at 1e21
    assert one("pass_rate>=0.5", target=1e24, draws_at=pass_draws_at).go
    assert not one("pass_rate>=0.5", target=1e21, draws_at=pass_draws_at).go


@pytest.mark.parametrize("threshold", [1.9, 2.0, 2.1, 2.3, 2.6])
@pytest.mark.parametrize("confidence", [0.6, 0.9, 0.99])
def test_compute_needed_at_confidence_not_below_median(threshold, confidence):
    # The search reaches 1e26 FLOPs, where even loss<=1.9 holds with 99% confidence.
    d = one(f"loss<={threshold}", target=1e23, confidence=confidence)
    assert d.compute_needed_median is not None
    assert d.compute_needed_at_confidence is not None
    assert d.compute_needed_at_confidence >= d.compute_needed_median


def test_compute_needed_is_near_the_inverse_curve():
    d = one("loss<=2.0", target=1e22, confidence=0.9)
    truth = compute_for(2.0)  # 1e23
    # The median search hits the first grid point past the true crossing (50 per decade).
    step = 10 ** (1 / 50)
    assert truth / step <= d.compute_needed_median <= truth * step**2
    # 90% confidence needs the 90% quantile of the noise to sit below the threshold.
    q90 = math.exp(NOISE * 1.2816)
    truth90 = compute_for(2.0 / q90)
    assert d.compute_needed_at_confidence == pytest.approx(truth90, rel=0.25)
    assert d.compute_needed_at_confidence > d.compute_needed_median


def test_compute_needed_for_pass_rate():
    d = one("pass_rate>=0.5", target=1e22, draws_at=pass_draws_at, confidence=0.9)
    assert d.compute_needed_median == pytest.approx(1e22, rel=0.1)
    assert d.compute_needed_at_confidence > d.compute_needed_median


def test_requirement_met_everywhere_needs_the_search_start():
    d = one("loss<=10", target=1e22, search_from=1e18)
    assert d.probability == 1.0
    assert d.compute_needed_median == pytest.approx(1e18, rel=1e-9)
    assert d.compute_needed_at_confidence == pytest.approx(1e18, rel=1e-9)


def test_unreachable_below_the_floor():
    d = one("loss<=1.4", target=1e22)  # the curve never goes below 1.5
    assert d.probability < d.confidence
    assert not d.go
    assert d.compute_needed_median is None
    assert d.compute_needed_at_confidence is None


def test_unreachable_within_search_factor():
    # loss 1.9 needs ~2.5e23 FLOPs on the curve: beyond 1000x a 1e20 target.
    threshold = 1.9
    needed = compute_for(threshold)
    assert needed > 1e20 * SEARCH_FACTOR
    d = one(f"loss<={threshold}", target=1e20, search_from=1e18)
    assert d.compute_needed_median is None
    assert d.compute_needed_at_confidence is None
    # From a larger target the search reaches it (and its 90% point, ~7e24).
    d = one(f"loss<={threshold}", target=1e22, search_from=1e18)
    assert d.compute_needed_median == pytest.approx(needed, rel=0.1)
    assert d.compute_needed_at_confidence is not None


def test_search_starts_at_the_smaller_of_search_from_and_targets():
    grid = compute_grid(1e18, 1e22)
    assert grid[0] == pytest.approx(1e18)
    assert grid[-1] == pytest.approx(1e22 * SEARCH_FACTOR)
    assert np.all(np.diff(np.log(grid)) > 0)
    # A requirement met everywhere is met at a target below search_from.
    d = one("loss<=10", target=1e17, search_from=1e19)
    assert d.compute_needed_median == pytest.approx(1e17, rel=1e-9)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_confidence_outside_unit_interval_rejected(confidence):
    with pytest.raises(InputError, match="--confidence"):
        one("loss<=2.1", confidence=confidence)


@settings(max_examples=30, deadline=None)  # ~0.15 s an example, over 0.2 s on a loaded machine
@given(
    st.floats(1.6, 3.0),
    st.floats(0.5, 0.999),
    st.floats(19.0, 25.0),
)
def test_decide_properties(threshold, confidence, log10_target):
    d = one(f"loss<={threshold:.4f}", target=10.0**log10_target, confidence=confidence)
    assert 0.0 <= d.probability <= 1.0
    assert d.go == (d.probability >= confidence)
    if d.compute_needed_at_confidence is not None:
        assert d.compute_needed_median is not None
        assert d.compute_needed_at_confidence >= d.compute_needed_median


# --- Decision.sentence and to_dict --------------------------------------------------------


def test_sentence_go_and_no_go():
    go = one("loss<=2.1", target=1e24)
    assert go.sentence().startswith("GO: ")
    no = one("loss<=2.1", target=1e21)
    assert no.sentence().startswith("NO-GO: ")
    for d in (go, no):
        s = d.sentence()
        assert "loss" in s
        assert "at or below 2.1" in s
        assert "90% confidence" in s
        assert s.endswith(".")


def test_sentence_mentions_scope_and_unreachable():
    d = decide(parse_requirement("web.loss<=1.4"), loss_draws_at, [1e22], 0.9, 1e18)[0]
    s = d.sentence()
    assert s.startswith("NO-GO: ")
    assert "for web" in s
    assert "not reached within 1000x" in s


def test_sentence_for_pass_rate():
    d = one("pass_rate>=0.5", target=1e24, draws_at=pass_draws_at)
    s = d.sentence()
    assert s.startswith("GO: ")
    assert "mean pass@1" in s
    assert "at or above 0.5" in s


def test_to_dict_is_the_contract_block():
    d = one("loss<=2.1", target=1e22)
    block = d.to_dict()
    assert block["requirement"] == "loss<=2.1"
    assert block["probability"] == d.probability
    assert block["confidence"] == 0.9
    assert block["go"] is d.go
    assert block["compute_needed"] == {
        "median": d.compute_needed_median,
        "at_confidence": d.compute_needed_at_confidence,
        "lower": d.compute_needed_lower,
        "upper": d.compute_needed_upper,
        "search_from": 1e18,
    }
    json.dumps(clean_json(block), allow_nan=False)


def test_a_bar_met_where_the_search_starts_is_an_upper_bound():
    # 'pass_rate>=0.03' on the demo pass table holds at its smallest model: the command said
    # "90% confidence needs 1e+20 FLOPs" and "the curve meets it at 1e+20 to 1e+20 FLOPs",
    # where 1e+20 is only where the search started
    d = one("loss<=5.0", target=1e22, search_from=1e18)
    assert d.compute_needed_at_confidence == d.compute_needed_upper == 1e18
    assert "needs at most 1e+18 FLOPs (met already at the smallest compute searched" in (
        d.sentence()
    )
    assert d.needed_span() == "at or below 1e+18 FLOPs"
    assert d.to_dict()["compute_needed"]["search_from"] == 1e18
    assert "at most 1e+18 FLOPs" in repr(d)
    # a bar never met: "at ? to beyond the search FLOPs"
    d = one("loss<=1.4")
    assert d.needed_span() == "only beyond where the search ends, 1000x the largest target"
    # a bar met above the start is not a bound
    d = one("loss<=2.1", target=1e22)
    assert "at most" not in d.sentence() + d.needed_span() + repr(d)


def test_to_dict_unreachable_is_null_in_json():
    block = one("loss<=1.4").to_dict()
    text = json.dumps(clean_json(block), allow_nan=False)
    assert json.loads(text)["compute_needed"] == {
        "median": None,
        "at_confidence": None,
        "lower": None,
        "upper": None,
        "search_from": 1e18,
    }


# --- clean_json ---------------------------------------------------------------------------


def test_clean_json_non_finite_to_none():
    value = {
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": -math.inf,
        "np_nan": np.float64("nan"),
        "np32_inf": np.float32("inf"),
        "ok": 1.5,
    }
    assert clean_json(value) == {
        "nan": None,
        "inf": None,
        "ninf": None,
        "np_nan": None,
        "np32_inf": None,
        "ok": 1.5,
    }


def test_clean_json_numpy_scalars_to_python():
    out = clean_json(
        {
            "f64": np.float64(2.5),
            "f32": np.float32(0.5),
            "i64": np.int64(3),
            "i8": np.int8(-2),
            "u32": np.uint32(7),
            "b": np.bool_(True),
        }
    )
    assert out == {"f64": 2.5, "f32": 0.5, "i64": 3, "i8": -2, "u32": 7, "b": True}
    assert type(out["f64"]) is float
    assert type(out["f32"]) is float
    assert type(out["i64"]) is int
    assert type(out["i8"]) is int
    assert type(out["u32"]) is int
    assert type(out["b"]) is bool


def test_clean_json_nested_containers():
    value = {
        1: (np.int64(1), [np.float64("nan"), {"x": np.array([1.0, np.inf, 2.0])}]),
        "arr": np.array([[1, 2], [3, 4]], dtype=np.int32),
        "flags": np.array([True, False]),
        "text": "ok",
        "none": None,
        "plain": [1, 2.0, True],
    }
    out = clean_json(value)
    assert out == {
        "1": [1, [None, {"x": [1.0, None, 2.0]}]],
        "arr": [[1, 2], [3, 4]],
        "flags": [True, False],
        "text": "ok",
        "none": None,
        "plain": [1, 2.0, True],
    }
    assert type(out["arr"][0][0]) is int
    assert type(out["plain"][2]) is bool
    json.dumps(out, allow_nan=False)


def test_clean_json_output_is_strict_json():
    rng = np.random.default_rng(0)
    values = rng.normal(size=20)
    values[[2, 5]] = [np.nan, np.inf]
    doc = {"draws": values, "max": values.max(), "n": np.int64(values.size)}
    text = json.dumps(clean_json(doc), allow_nan=False)
    back = json.loads(text)
    assert back["draws"][2] is None
    assert back["draws"][5] is None
    assert back["max"] is None  # max over a NaN is NaN
    assert back["n"] == 20


def test_clean_json_zero_dimensional_array():
    assert clean_json({"x": np.array(2.5), "y": np.array(np.nan)}) == {"x": 2.5, "y": None}


# --- markdown_table -----------------------------------------------------------------------


def test_markdown_table():
    frame = pd.DataFrame(
        {
            "group": ["web", "code"],
            "compute": [2.1e23, 1e20],
            "median": [2.12345, float("nan")],
            "tiny": [0.0001234, 0.0],
            "n": [3, 4],
        }
    )
    lines = markdown_table(frame).splitlines()
    assert lines[0] == "| group | compute | median | tiny | n |"
    assert lines[1] == "| --- | --- | --- | --- | --- |"
    assert lines[2] == "| web | 2.1e+23 | 2.123 | 0.000123 | 3 |"
    assert lines[3] == "| code | 1e+20 | \u2013 | 0 | 4 |"  # en dash for NaN
    assert len(lines) == 4


@pytest.mark.parametrize("text", ["pass@1>=0.5", "humaneval.pass_at_1>=0.3"])
def test_pass_at_1_in_a_requirement_is_named_pass_rate(text):
    # was only "cannot be parsed"
    with pytest.raises(InputError, match="pass@1 is 'pass_rate' here"):
        parse_requirement(text)


@pytest.mark.parametrize(
    ("text", "quantities", "meant"),
    [
        ("web.loss>=2.6", QUANTITIES, "'web.loss<=2.6'"),
        ("loss>2", QUANTITIES, "'loss<2'"),
        ("pass_rate<=0.3", QUANTITIES, "'pass_rate>=0.3'"),
        ("mmlu.accuracy<0.7", ("accuracy",), "'mmlu.accuracy>0.7'"),
    ],
)
def test_a_bar_compute_cannot_help_meet_is_refused(text, quantities, meant):
    # 'web.loss>=2.6' said "NO-GO ...; 90% confidence needs at most 1e+17 FLOPs (met already
    # at the smallest compute searched)": a compute needed for a bar more compute only misses
    with pytest.raises(InputError, match="more compute never helps") as info:
        parse_requirement(text, quantities)
    assert f"write {meant}" in str(info.value)


def test_a_confidence_keeps_the_digits_it_was_given():
    # --confidence 0.975 read "98% confidence needs ..." and "(98% interval)", and the
    # summary of --interval 0.995 "median [100% interval]"
    d = one("loss<=2.1", target=1e22, confidence=0.975)
    assert "97.5% confidence" in d.sentence()
    assert "curve meets it (97.5%)" in repr(d)
    assert "90% confidence" in one("loss<=2.1", target=1e22).sentence()


def test_the_summary_names_the_interval_it_was_given():
    from pathlib import Path

    import bayescale as bs
    from bayescale.loss_report import loss_summary_text

    saved = bs.load_fit(Path(__file__).parent / "data" / "loss_fit_v0.1.0.nc")
    text = loss_summary_text(saved.result(targets=[1e23], interval=0.995))
    assert "median [99.5% interval]" in text and "100%" not in text


def test_the_summary_shows_a_tiny_loss_with_its_digits():
    # losses of 1e-6 (a table in other units; LOSS_RANGE reads down to 1e-12) read
    # "0.000 [0.000, 0.000]" on the command line, while the report gave 2.58e-06
    from types import SimpleNamespace

    import pandas as pd

    from bayescale.loss_report import loss_summary_text

    table = pd.DataFrame(
        {"target_compute": [1e22], "group": ["all"], "median": [2.58e-6], "lower": [2.24e-6]}
    ).assign(upper=2.84e-6)
    forecast = SimpleNamespace(interval=0.9, targets=[1e22], table=lambda: table)
    text = loss_summary_text(SimpleNamespace(forecast=forecast, held_out=pd.DataFrame()))
    assert "2.58e-06 [2.24e-06, 2.84e-06]" in text


def test_the_pass_summary_never_rounds_a_rate_up_to_one():
    # a saturated bucket read "easy 1 [1, 1]": a perfect pass rate, certain, which no draw was
    from types import SimpleNamespace

    import pandas as pd

    from bayescale.pass_report import pass_summary_text

    buckets = pd.DataFrame(
        {
            "bucket": ["easy"],
            "target_compute": [1e23],
            "pass_rate_median": [0.99990],
            "pass_rate_lower": [0.99952],
            "pass_rate_upper": [0.999998],
            "neg_log_pass_median": [9.7e-5],
        }
    )
    forecast = SimpleNamespace(interval=0.9, targets=[1e23], buckets=lambda: buckets, pooled=None)
    text = pass_summary_text(SimpleNamespace(forecast=forecast, held_out=pd.DataFrame()))
    assert "easy    0.9999 [0.9995, 0.999998]" in text


def test_pass_at_k_and_the_report_tables_never_round_a_rate_up_to_one():
    # pass@k cells used :.3g ("1 [0.999, 1]") and report.md's tables _fmt (0.99996 -> "1")
    from types import SimpleNamespace

    import pandas as pd

    from bayescale.pass_report import pass_summary_text
    from bayescale.report import markdown_table

    overall = pd.DataFrame(
        {
            "target_compute": [1e23],
            "median": [0.9],
            "lower": [0.8],
            "upper": [0.95],
            "pass_at_10_median": [0.9996],
            "pass_at_10_lower": [0.9989],
            "pass_at_10_upper": [0.99998],
        }
    )
    forecast = SimpleNamespace(
        interval=0.9,
        targets=[1e23],
        buckets=lambda: pd.DataFrame(columns=["bucket", "target_compute"]),
        pooled="mean pass@1",
        overall=lambda: overall,
    )
    text = pass_summary_text(SimpleNamespace(forecast=forecast, held_out=pd.DataFrame()))
    assert "0.9996 [0.999, 0.99998]" in text.split("pass@10")[1]
    table = markdown_table(overall, rates=["pass_at_10_median", "pass_at_10_upper"])
    assert table.splitlines()[-1].endswith("| 0.9996 | 0.9989 | 0.99998 |")

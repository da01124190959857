"""Tier 1: validation of pass-result tables (docs/formats.md), no sampler."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale.errors import InputError
from bayescale.pass_data import (
    MIN_MODELS,
    PassColumns,
    is_aggregate,
    load_pass_aggregate,
    load_pass_counts,
)

# Rows out of compute order; p3 is only run on the large model.
COUNTS_CSV = """\
model,compute,problem,n,k
large,1e22,p1,10,9
small,1e20,p1,10,2
medium,1e21,p1,10,5
small,1e20,p2,10,0
medium,1e21,p2,10,1
large,1e22,p2,10,3
large,1e22,p3,5,5
"""
COUNTS_N = [[10, 10, 0], [10, 10, 0], [10, 10, 5]]
COUNTS_K = [[2, 0, 0], [5, 1, 0], [9, 3, 5]]

AGGREGATE_CSV = """\
model,compute,pass_rate
large,1e22,0.6
small,1e20,0.1
medium,1e21,0.35
"""

BUCKETED_CSV = """\
model,compute,bucket,pass_rate,n_problems
small,1e20,easy,0.5,40
medium,1e21,easy,0.7,40
large,1e22,easy,0.9,40
small,1e20,hard,0.01,20
medium,1e21,hard,0.05,20
large,1e22,hard,0.2,20
"""


def write(tmp_path: Path, text: str, name: str = "pass.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def counts_error(source, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_pass_counts(source, **kwargs)
    return str(info.value)


def aggregate_error(source, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_pass_aggregate(source, **kwargs)
    return str(info.value)


def with_row(text: str, row: int, line: str) -> str:
    """Replace data row ``row`` (1-based) of a CSV text."""
    lines = text.splitlines()
    lines[row] = line
    return "\n".join(lines) + "\n"


def check_counts(data) -> None:
    assert data.models.names == ("small", "medium", "large")
    np.testing.assert_allclose(data.models.compute, [1e20, 1e21, 1e22])
    assert data.problems == ("p1", "p2", "p3")
    np.testing.assert_array_equal(data.n, COUNTS_N)
    np.testing.assert_array_equal(data.k, COUNTS_K)
    assert data.n.dtype == np.int64
    assert data.k.dtype == np.int64
    np.testing.assert_array_equal(data.observed, np.array(COUNTS_N) > 0)


# --- per problem: valid tables ------------------------------------------------------------


def test_valid_counts_csv(tmp_path):
    path = write(tmp_path, COUNTS_CSV)
    data = load_pass_counts(path)
    check_counts(data)
    assert data.source == str(path)
    assert not data.models.held_out.any()
    assert data.models.fitted.all()
    assert data.fit_max_compute is None
    assert data.columns == PassColumns()


def test_missing_pairs_have_zero_samples(tmp_path):
    data = load_pass_counts(write(tmp_path, COUNTS_CSV))
    p3 = data.problems.index("p3")
    assert data.n[0, p3] == 0
    assert data.n[1, p3] == 0
    assert data.k[0, p3] == 0
    assert not data.observed[:2, p3].any()
    assert data.observed[2, p3]


def test_valid_counts_parquet(tmp_path):
    path = tmp_path / "pass.parquet"
    pd.read_csv(write(tmp_path, COUNTS_CSV)).to_parquet(path)
    data = load_pass_counts(path)
    check_counts(data)
    assert data.source == str(path)


def test_valid_counts_dataframe_with_odd_index(tmp_path):
    frame = pd.read_csv(write(tmp_path, COUNTS_CSV))
    frame.index = pd.Index(range(100, 100 + len(frame)))
    data = load_pass_counts(frame)
    check_counts(data)
    assert data.source == "<DataFrame>"


def test_counts_accept_whole_floats(tmp_path):
    text = COUNTS_CSV.replace("small,1e20,p1,10,2", "small,1e20,p1,10.0,2.0")
    check_counts(load_pass_counts(write(tmp_path, text)))


def test_counts_labels_are_stripped(tmp_path):
    text = COUNTS_CSV.replace("small,1e20,p1", " small ,1e20, p1 ")
    check_counts(load_pass_counts(write(tmp_path, text)))


def test_counts_renamed_columns(tmp_path):
    header = "checkpoint,flops,task,samples,passed"
    text = header + "\n" + COUNTS_CSV.split("\n", 1)[1]
    columns = PassColumns(
        model="checkpoint", compute="flops", problem="task", n="samples", k="passed"
    )
    data = load_pass_counts(write(tmp_path, text), columns=columns)
    check_counts(data)
    assert data.columns == columns


def test_counts_extra_columns_are_allowed(tmp_path):
    frame = pd.read_csv(write(tmp_path, COUNTS_CSV)).assign(note="x")
    check_counts(load_pass_counts(frame))


def test_counts_fit_max_compute_holds_out_models(tmp_path):
    text = COUNTS_CSV + "xl,1e23,p1,10,10\n"
    data = load_pass_counts(write(tmp_path, text), fit_max_compute=1e22)
    assert data.models.names == ("small", "medium", "large", "xl")
    assert list(data.models.held_out) == [False, False, False, True]
    assert list(data.models.fitted) == [True, True, True, False]
    assert data.fit_max_compute == 1e22
    # Held-out models keep their counts (for scoring).
    assert data.n[3, 0] == 10


# --- per problem: missing columns ---------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "typo", "option"),
    [
        ("model", "modle", "--model-col"),
        ("compute", "computes", "--compute-col"),
        ("problem", "problems", "--problem-col"),
        ("k", "kk", "--k-col"),
    ],
)
def test_counts_missing_column_did_you_mean(tmp_path, column, typo, option):
    header, body = COUNTS_CSV.split("\n", 1)
    header = ",".join(typo if c == column else c for c in header.split(","))
    path = write(tmp_path, header + "\n" + body)
    message = counts_error(path)
    assert message.startswith(f"{path}: missing column '{column}'.")
    assert f"Did you mean '{typo}'?" in message
    assert option in message


def test_counts_missing_n_column_lists_present_columns(tmp_path):
    path = write(tmp_path, "model,compute,problem,k\na,1e20,p1,1\n")
    message = counts_error(path)
    assert "missing column 'n'" in message
    assert "model, compute, problem, k" in message
    assert "--n-col" in message


def test_counts_missing_renamed_column_suggests_default(tmp_path):
    path = write(tmp_path, COUNTS_CSV)
    message = counts_error(path, columns=PassColumns(problem="problm"))
    assert "missing column 'problm'" in message
    assert "Did you mean 'problem'?" in message


# --- per problem: bad values --------------------------------------------------------------

# Row 2 of COUNTS_CSV is "small,1e20,p1,10,2"; each case replaces it.
BAD_COUNTS = [
    # (replacement row, column, words expected in the message)
    ("small,1e20,p1,10,11", "k", ["11 passes out of 10", "k must be <= n", "'n'"]),
    ("small,1e20,p1,10,-1", "k", ["-1", "whole number >= 0"]),
    ("small,1e20,p1,-10,0", "n", ["-10", "whole number >= 1"]),
    ("small,1e20,p1,0,0", "n", ["0 must be a whole number >= 1"]),
    ("small,1e20,p1,2.5,1", "n", ["2.5", "whole number"]),
    ("small,1e20,p1,10,1.5", "k", ["1.5", "whole number"]),
    # a rate in the k column had no hint that k counts samples
    ("small,1e20,p1,10,0.3", "k", ["0.3 must be a whole", "It looks like a pass rate", "= 3"]),
    ("small,1e20,p1,ten,1", "n", ["'ten'", "not a number"]),
    ("small,1e20,p1,10,", "k", ["missing"]),
    ("small,0,p1,10,2", "compute", ["must be > 0"]),
    (",1e20,p1,10,2", "model", ["label is missing"]),
    ("small,1e20,,10,2", "problem", ["label is missing"]),
]


@pytest.mark.parametrize(("line", "column", "words"), BAD_COUNTS)
def test_bad_count_in_csv_names_file_row_line_and_column(tmp_path, line, column, words):
    path = write(tmp_path, with_row(COUNTS_CSV, 2, line))
    message = counts_error(path)
    assert message.startswith(f"{path}, row 2 (line 3), column '{column}':")
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("line", "column", "words"), [case for case in BAD_COUNTS if case[1] in ("n", "k")][:6]
)
def test_bad_count_in_parquet_names_file_row_and_column(tmp_path, line, column, words):
    frame = pd.read_csv(write(tmp_path, with_row(COUNTS_CSV, 2, line)))
    path = tmp_path / "pass.parquet"
    frame.to_parquet(path)
    message = counts_error(path)
    assert message.startswith(f"{path}, row 2, column '{column}':")
    assert "line" not in message
    for word in words:
        assert word in message


def test_bad_count_in_dataframe_counts_rows_from_one(tmp_path):
    frame = pd.read_csv(write(tmp_path, COUNTS_CSV))
    frame.index = pd.Index(range(50, 50 + len(frame)))
    frame.loc[53, "k"] = 12
    message = counts_error(frame)
    assert message.startswith("<DataFrame>, row 4, column 'k':")
    assert "k must be <= n" in message


def test_bad_count_line_number_counts_blank_lines(tmp_path):
    lines = COUNTS_CSV.splitlines()
    text = "\n".join([*lines[:4], "", "small,1e20,p2,10,-3", *lines[5:]]) + "\n"
    path = write(tmp_path, text)
    # The bad row is on line 6 of the file, after a blank line 5.
    assert counts_error(path).startswith(f"{path}, row 5 (line 6), column 'k':")


def test_bad_count_in_renamed_column(tmp_path):
    text = COUNTS_CSV.replace("model,compute,problem,n,k", "model,compute,problem,tries,k")
    text = text.replace("medium,1e21,p2,10,1", "medium,1e21,p2,0,0")
    path = write(tmp_path, text)
    message = counts_error(path, columns=PassColumns(n="tries"))
    assert message.startswith(f"{path}, row 5 (line 6), column 'tries':")


# --- per problem: table-level errors ------------------------------------------------------


def test_duplicate_model_problem_names_the_second_row(tmp_path):
    path = write(tmp_path, COUNTS_CSV + "medium,1e21,p2,10,4\n")
    message = counts_error(path)
    assert message.startswith(f"{path}, row 8 (line 9):")
    assert "model 'medium'" in message
    assert "problem 'p2'" in message
    assert "twice" in message


def test_duplicate_model_problem_in_dataframe():
    frame = pd.DataFrame(
        [("a", 1e20, "p", 1, 0), ("b", 1e21, "p", 1, 0), ("a", 1e20, "p", 2, 1)],
        columns=["model", "compute", "problem", "n", "k"],
    )
    message = counts_error(frame)
    assert message.startswith("<DataFrame>, row 3:")
    assert "model 'a'" in message


def test_model_with_two_computes_names_both(tmp_path):
    text = COUNTS_CSV.replace("medium,1e21,p2,10,1", "medium,3e21,p2,10,1")
    path = write(tmp_path, text)
    message = counts_error(path)
    assert message.startswith(f"{path}, row 5 (line 6), column 'compute':")
    assert "model 'medium'" in message
    assert "3e+21" in message
    assert "1e+21" in message
    assert "row 3" in message  # where the first compute was given


@pytest.mark.parametrize("n_models", [1, 2])
def test_counts_fewer_than_three_models(tmp_path, n_models):
    rows = [f"m{i},1e2{i},p1,10,1" for i in range(n_models)]
    path = write(tmp_path, "model,compute,problem,n,k\n" + "\n".join(rows) + "\n")
    message = counts_error(path)
    assert message.startswith(f"{path}: {n_models} model(s);")
    assert f"at least {MIN_MODELS} models" in message


def test_counts_fewer_than_three_models_after_fit_max_compute(tmp_path):
    path = write(tmp_path, COUNTS_CSV)
    message = counts_error(path, fit_max_compute=5e21)
    assert message.startswith(f"{path}: 2 model(s) with compute <= 5e+21;")
    assert f"at least {MIN_MODELS}" in message


def test_counts_three_models_two_computes(tmp_path):
    text = COUNTS_CSV.replace("1e22", "1e21")
    message = counts_error(write(tmp_path, text))
    assert "only 2 distinct compute" in message


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_counts_fit_max_compute_must_be_positive(tmp_path, bad):
    message = counts_error(write(tmp_path, COUNTS_CSV), fit_max_compute=bad)
    assert "--fit-max-compute must be > 0" in message


def test_counts_empty_and_missing_files(tmp_path):
    assert "no rows" in counts_error(write(tmp_path, "model,compute,problem,n,k\n"))
    assert "not found" in counts_error(tmp_path / "nowhere.csv")


# --- aggregate: valid tables --------------------------------------------------------------


def test_valid_aggregate_without_bucket(tmp_path):
    path = write(tmp_path, AGGREGATE_CSV)
    data = load_pass_aggregate(path)
    assert data.models.names == ("small", "medium", "large")
    np.testing.assert_allclose(data.models.compute, [1e20, 1e21, 1e22])
    assert data.buckets == ("all",)
    np.testing.assert_allclose(data.pass_rate, [[0.1], [0.35], [0.6]])
    assert data.n_problems == (None,)
    assert data.source == str(path)


def test_valid_aggregate_with_bucket_and_n_problems(tmp_path):
    data = load_pass_aggregate(write(tmp_path, BUCKETED_CSV))
    assert data.buckets == ("easy", "hard")
    assert data.n_problems == (40, 20)
    np.testing.assert_allclose(data.pass_rate, [[0.5, 0.01], [0.7, 0.05], [0.9, 0.2]])


def test_valid_aggregate_parquet_and_dataframe(tmp_path):
    frame = pd.read_csv(write(tmp_path, BUCKETED_CSV))
    path = tmp_path / "pass.parquet"
    frame.to_parquet(path)
    for source in (path, frame.set_index(pd.Index([5, 6, 7, 8, 9, 10]))):
        data = load_pass_aggregate(source)
        assert data.buckets == ("easy", "hard")
        np.testing.assert_allclose(data.pass_rate[:, 1], [0.01, 0.05, 0.2])


def test_aggregate_pass_rate_of_one_is_allowed(tmp_path):
    text = AGGREGATE_CSV.replace("0.6", "1")
    assert load_pass_aggregate(write(tmp_path, text)).pass_rate[2, 0] == 1.0


def test_aggregate_missing_model_bucket_is_nan(tmp_path):
    text = BUCKETED_CSV + "xl,1e23,easy,0.95,40\n"
    data = load_pass_aggregate(write(tmp_path, text))
    assert data.models.names == ("small", "medium", "large", "xl")
    assert data.pass_rate[3, 0] == 0.95
    assert np.isnan(data.pass_rate[3, 1])


def test_aggregate_renamed_columns(tmp_path):
    text = "ckpt,flops,split,pass1,size\n" + BUCKETED_CSV.split("\n", 1)[1].replace(
        ",easy,", ",e,"
    ).replace(",hard,", ",h,")
    columns = PassColumns(
        model="ckpt", compute="flops", bucket="split", pass_rate="pass1", n_problems="size"
    )
    data = load_pass_aggregate(write(tmp_path, text), columns=columns)
    assert data.buckets == ("e", "h")
    assert data.n_problems == (40, 20)
    assert data.columns == columns


def test_aggregate_fit_max_compute(tmp_path):
    text = BUCKETED_CSV + "xl,1e23,easy,0.95,40\nxl,1e23,hard,0.4,20\n"
    data = load_pass_aggregate(write(tmp_path, text), fit_max_compute=1e22)
    assert list(data.models.held_out) == [False, False, False, True]
    assert data.fit_max_compute == 1e22


# --- aggregate: errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        ("0", ["0 must be in (0, 1]", "carries no information"]),
        ("1.5", ["1.5 must be in (0, 1]"]),
        ("35", ["35 must be in (0, 1]", "percentages must be divided by 100"]),
        ("-0.2", ["-0.2 must be in (0, 1]"]),
        ("high", ["'high'", "not a number"]),
        ("", ["missing"]),
    ],
)
def test_aggregate_pass_rate_outside_unit_interval(tmp_path, rate, words):
    path = write(tmp_path, AGGREGATE_CSV.replace("0.35", rate))
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 3 (line 4), column 'pass_rate':")
    for word in words:
        assert word in message


def test_aggregate_bad_pass_rate_in_parquet(tmp_path):
    path = tmp_path / "pass.parquet"
    pd.read_csv(write(tmp_path, AGGREGATE_CSV.replace("0.35", "35"))).to_parquet(path)
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 3, column 'pass_rate':")
    assert "line" not in message


def test_aggregate_bad_pass_rate_in_renamed_column():
    frame = pd.DataFrame({"model": list("abc"), "compute": [1e20, 1e21, 1e22], "p": [0.1, 2, 0.3]})
    message = aggregate_error(frame, columns=PassColumns(pass_rate="p"))
    assert message.startswith("<DataFrame>, row 2, column 'p':")


def test_aggregate_missing_pass_rate_column_did_you_mean(tmp_path):
    path = write(tmp_path, AGGREGATE_CSV.replace("pass_rate", "passrate"))
    message = aggregate_error(path)
    assert message.startswith(f"{path}: missing column 'pass_rate'.")
    assert "Did you mean 'passrate'?" in message
    assert "--pass-rate-col" in message


def test_aggregate_duplicate_model_without_bucket(tmp_path):
    path = write(tmp_path, AGGREGATE_CSV + "medium,1e21,0.4\n")
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 4 (line 5):")
    assert "model 'medium' appears twice" in message
    assert "bucket '" not in message


def test_aggregate_duplicate_model_bucket(tmp_path):
    path = write(tmp_path, BUCKETED_CSV + "large,1e22,hard,0.3,20\n")
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 7 (line 8):")
    assert "model 'large' appears twice in bucket 'hard'" in message


def test_aggregate_missing_bucket_label(tmp_path):
    path = write(tmp_path, BUCKETED_CSV.replace("medium,1e21,hard", "medium,1e21,"))
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 5 (line 6), column 'bucket':")
    assert "label is missing" in message


def test_aggregate_bucket_with_too_few_models(tmp_path):
    lines = BUCKETED_CSV.splitlines()
    text = "\n".join(line for line in lines if not line.startswith("medium,1e21,hard")) + "\n"
    path = write(tmp_path, text)
    message = aggregate_error(path)
    assert message.startswith(f"{path}: bucket 'hard' has 2 fitted model(s);")
    assert f"at least {MIN_MODELS}" in message
    # as a loss group of too few runs: how to forecast the other buckets
    assert "leave it out with --where \"bucket != 'hard'\"" in message


def test_aggregate_bucket_with_too_few_fitted_models(tmp_path):
    # 'hard' has four models, but the held-out one does not count.
    text = BUCKETED_CSV + "xl,1e23,easy,0.95,40\nxl,1e23,hard,0.4,20\n"
    text = "\n".join(line for line in text.splitlines() if line != "small,1e20,hard,0.01,20")
    message = aggregate_error(write(tmp_path, text + "\n"), fit_max_compute=1e22)
    assert "bucket 'hard' has 2 fitted model(s)" in message


def test_aggregate_fewer_than_three_models(tmp_path):
    lines = AGGREGATE_CSV.splitlines()
    path = write(tmp_path, "\n".join(lines[:3]) + "\n")
    assert aggregate_error(path).startswith(f"{path}: 2 model(s);")
    message = aggregate_error(write(tmp_path, AGGREGATE_CSV), fit_max_compute=1e20)
    assert "1 model(s) with compute <= 1e+20" in message


def test_aggregate_model_with_two_computes(tmp_path):
    text = BUCKETED_CSV.replace("large,1e22,hard", "large,2e22,hard")
    path = write(tmp_path, text)
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 6 (line 7), column 'compute':")
    assert "2e+22" in message
    assert "1e+22" in message


@pytest.mark.parametrize(("value", "words"), [("0", ["must be > 0"]), ("many", ["not a number"])])
def test_aggregate_bad_n_problems(tmp_path, value, words):
    path = write(
        tmp_path, BUCKETED_CSV.replace("medium,1e21,hard,0.05,20", f"medium,1e21,hard,0.05,{value}")
    )
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 5 (line 6), column 'n_problems':")
    for word in words:
        assert word in message


def test_aggregate_fractional_n_problems_is_refused(tmp_path):
    path = write(
        tmp_path, BUCKETED_CSV.replace("medium,1e21,hard,0.05,20", "medium,1e21,hard,0.05,20.5")
    )
    message = aggregate_error(path)
    assert message.startswith(f"{path}, row 5 (line 6), column 'n_problems':")


def test_aggregate_conflicting_n_problems_in_a_bucket_is_refused(tmp_path):
    path = write(
        tmp_path, BUCKETED_CSV.replace("medium,1e21,hard,0.05,20", "medium,1e21,hard,0.05,25")
    )
    message = aggregate_error(path)
    assert "n_problems" in message
    assert "bucket 'hard'" in message


# --- telling the formats apart ------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["model", "compute", "problem", "n", "k"], False),
        (["model", "compute", "pass_rate"], True),
        (["model", "compute", "bucket", "pass_rate", "n_problems"], True),
        # Counts win when both formats' columns are present.
        (["model", "compute", "problem", "n", "k", "pass_rate"], False),
        # A lone n or k does not make a per-problem table.
        (["model", "compute", "pass_rate", "n"], True),
        (["model", "compute", "pass_rate", "k"], True),
        (["model", "compute"], False),
    ],
)
def test_is_aggregate(names, expected):
    assert is_aggregate(pd.DataFrame(columns=names), PassColumns()) is expected


def test_is_aggregate_uses_renamed_columns():
    columns = PassColumns(pass_rate="pass1", n="tries", k="passed")
    assert is_aggregate(pd.DataFrame(columns=["model", "compute", "pass1"]), columns)
    assert not is_aggregate(pd.DataFrame(columns=["pass1", "tries", "passed"]), columns)
    assert not is_aggregate(pd.DataFrame(columns=["model", "compute", "pass_rate"]), columns)
    # The default names mean nothing once renamed.
    assert is_aggregate(pd.DataFrame(columns=["pass1", "n", "k"]), columns)


@pytest.mark.parametrize(("k", "what"), [("0", "no sample passed"), ("n", "every sample passed")])
def test_counts_where_every_sample_fails_or_every_sample_passes_are_refused(tmp_path, k, what):
    # all-zero passes were sampled for minutes and answered 0.0004 [3e-15, 0.045] with
    # "Diagnostics: ok": a forecast from the priors alone, most often the wrong k column
    flat, other = ("0", "1") if k == "0" else ("10", "9")
    rows = [f"m{i},1e2{i},p{j},10,{flat}" for i in range(4) for j in range(5)]
    path = write(tmp_path, "model,compute,problem,n,k\n" + "\n".join(rows))
    message = counts_error(path)
    assert what in message and "column 'k'" in message and "--k-col" in message
    # one other count, on the largest model: a table the law reads, unless that model is held out
    rows[-1] = rows[-1][: -len(flat)] + other
    path = write(tmp_path, "model,compute,problem,n,k\n" + "\n".join(rows))
    assert load_pass_counts(path).k.shape == (4, 5)
    assert what in counts_error(path, fit_max_compute=5e22)


@pytest.mark.parametrize("text", [COUNTS_CSV, AGGREGATE_CSV])
def test_a_table_of_sizes_and_tokens_without_compute_says_how_to_get_compute(tmp_path, text):
    # a bare "missing column 'compute'" (the loss command said how to make it)
    frame = pd.read_csv(write(tmp_path, text)).drop(columns="compute").assign(N=1e9, D=2e10)
    with pytest.raises(InputError, match=r"'compute' = 6 \* N \* D"):
        (load_pass_counts if "k" in frame else load_pass_aggregate)(frame)


@pytest.mark.parametrize(
    ("column", "warned"),
    [
        ("pass_at_1_pct", True),
        ("pass@1 (%)", True),
        ("Percent", True),
        ("pass_rate", False),
        ("pass_rate_percentile_50", False),
    ],
)
def test_rates_in_a_column_named_as_percentages_are_warned(tmp_path, caplog, column, warned):
    # 0.6% and 0.1% read as 60% and 10%: only the column's name can tell
    text = AGGREGATE_CSV.replace("pass_rate", f'"{column}"')
    with caplog.at_level(logging.WARNING, logger="bayescale"):
        data = load_pass_aggregate(write(tmp_path, text), PassColumns(pass_rate=column))
    np.testing.assert_allclose(data.pass_rate, [[0.1], [0.35], [0.6]])  # still fractions
    messages = [r.getMessage() for r in caplog.records]
    assert bool(messages) == warned
    if warned:
        assert f"column '{column}' is named as percentages" in messages[0]
        assert "largest 0.6" in messages[0] and "divide them by 100" in messages[0]


def test_aggregate_bucket_column_named_or_in_another_case_is_required(tmp_path):
    # A renamed --bucket-col missing from the table, or 'Bucket' beside the default 'bucket',
    # were ignored: every row one bucket, refused only as a duplicate model.
    path = write(tmp_path, BUCKETED_CSV.replace("bucket", "Bucket", 1))
    assert "no column 'bucket', but a column 'Bucket'" in aggregate_error(path)
    message = aggregate_error(path, columns=PassColumns(bucket="benchmark"))
    assert "missing column 'benchmark'" in message and "--bucket-col" in message
    loaded = load_pass_aggregate(path, columns=PassColumns(bucket="Bucket"))
    assert loaded.buckets == ("easy", "hard")
    unnamed = write(tmp_path, BUCKETED_CSV.replace("bucket", "benchmark", 1), "b.csv")
    assert "Name the column that tells its rows apart" in aggregate_error(unnamed)


def test_a_bucket_typed_two_ways_is_named_as_such():
    from bayescale.pass_data import load_pass_aggregate

    table = pd.DataFrame(
        {
            "model": ["a", "b", "c", "d"],
            "compute": [1e20, 1e21, 1e22, 1e22],
            "bucket": ["HumanEval", "HumanEval", "humaneval", "HumanEval"],
            "pass_rate": [0.1, 0.2, 0.3, 0.3],
        }
    )
    with pytest.raises(InputError, match="'humaneval' and 'HumanEval' differ only in case"):
        load_pass_aggregate(table)

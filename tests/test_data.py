"""Tier 1: validation of loss-run tables (docs/formats.md), no sampler."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale.data import (
    DEFAULT_GROUP,
    MIN_COMPUTES_PER_GROUP,
    LossColumns,
    load_loss_runs,
    read_table,
)
from bayescale.errors import InputError

GOOD_CSV = """\
name,group,compute,loss
a1,web,1e18,3.2
a2,web,1e19,2.9
a3,web,1e20,2.7
b1,code,1e18,2.5
b2,code,1e19,2.2
b3,code,1e20,2.0
b4,code,1e21,1.9
"""


def write(tmp_path: Path, text: str, name: str = "runs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(source, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_loss_runs(source, **kwargs)
    return str(info.value)


def three_runs(**extra) -> pd.DataFrame:
    return pd.DataFrame({"compute": [1e18, 1e19, 1e20], "loss": [3.2, 2.9, 2.7], **extra})


# --- valid tables -------------------------------------------------------------------------


def test_valid_csv_with_group(tmp_path):
    path = write(tmp_path, GOOD_CSV)
    data = load_loss_runs(path)
    assert data.groups == ("web", "code")
    assert data.source == str(path)
    np.testing.assert_allclose(data.compute, [1e18, 1e19, 1e20, 1e18, 1e19, 1e20, 1e21])
    np.testing.assert_allclose(data.loss, [3.2, 2.9, 2.7, 2.5, 2.2, 2.0, 1.9])
    assert data.compute.dtype == np.float64
    assert data.loss.dtype == np.float64
    assert list(data.group) == ["web"] * 3 + ["code"] * 4
    assert list(data.group_index) == [0, 0, 0, 1, 1, 1, 1]
    assert list(data.name) == ["a1", "a2", "a3", "b1", "b2", "b3", "b4"]
    assert not data.held_out.any()
    assert data.fitted.all()
    assert data.fit_max_compute is None
    frame = data.to_frame()
    assert list(frame.columns) == ["name", "group", "compute", "loss", "held_out"]
    assert len(frame) == 7


def test_valid_csv_without_group(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    data = load_loss_runs(path)
    assert data.groups == (DEFAULT_GROUP,)
    assert list(data.group) == [DEFAULT_GROUP] * 3
    assert list(data.group_index) == [0, 0, 0]
    assert list(data.name) == ["row 1", "row 2", "row 3"]


def test_csv_with_byte_order_mark_and_crlf(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffcompute,loss\r\n1e18,3.2\r\n1e19,2.9\r\n1e20,2.7\r\n".encode())
    np.testing.assert_allclose(load_loss_runs(path).compute, [1e18, 1e19, 1e20])


def test_invisible_characters_around_column_names_are_dropped(tmp_path):
    # a zero-width space (copied from a web page) or a second byte-order mark (two files
    # joined) before 'compute': "missing column 'compute'. Did you mean '\u200bcompute'?"
    for mark in ("\u200b", "\ufeff\ufeff", "\u2060"):
        path = write(tmp_path, mark + GOOD_CSV.replace("loss\n", "loss\u200b\n", 1))
        assert load_loss_runs(path).groups == ("web", "code")


def test_valid_tsv(tmp_path):
    path = write(tmp_path, "compute\tloss\n1e18\t3.2\n1e19\t2.9\n1e20\t2.7\n", "runs.tsv")
    np.testing.assert_allclose(load_loss_runs(path).loss, [3.2, 2.9, 2.7])


@pytest.mark.parametrize(
    ("name", "text", "fix"),
    [
        ("runs.csv", "compute;loss\n1e18;3,2\n1e19;2,9\n", "comma-separated, with decimal points"),
        ("runs.csv", "compute\tloss\n1e18\t3.2\n1e19\t2.9\n", "name it .tsv"),
        ("runs.tsv", "compute,loss\n1e18,3.2\n1e19,2.9\n", "name it .csv"),
    ],
)
def test_wrong_delimiter_is_named(tmp_path, name, text, fix):
    # A semicolon-separated .csv (Excel in many locales) used to be refused as "missing
    # column 'compute'. Did you mean 'compute;loss'?".
    message = error_of(write(tmp_path, text, name))
    assert "the header is one column" in message
    assert "looks separated by" in message
    assert fix in message


@pytest.mark.parametrize(
    ("cell", "hint"),
    [
        ("45%", "Write percentages as fractions (0.45), without '%'."),
        ('"1,000,000"', "without thousands separators, with a decimal point (1000000)."),
        ('"3,2"', "(32 or 3.2)"),
        ("\u22123.5", "Use the ASCII minus sign '-' (-3.5)."),
        ("0x10", "Hexadecimal is not read"),
        ("abc", "'abc' is not a number."),
        # sizes as model cards write them, and numbers with their unit, had no hint
        ("7B", "Write 7B as a plain number (7e+09: B = 1e+09)."),
        ("1.4T", "(1.4e+12: T = 1e+12)"),
        ("6e21 FLOPs", "Write a plain number, without the unit 'FLOPs': compute in FLOPs"),
        ("1.2 PF-days", "without the unit 'PF-days': compute in FLOPs (convert other units)"),
    ],
)
def test_almost_numbers_say_how_to_write_them(tmp_path, cell, hint):
    message = error_of(write(tmp_path, f"compute,loss\n1e18,{cell}\n1e19,2.9\n1e20,2.7\n"))
    assert "row 1 (line 2), column 'loss'" in message
    assert hint in message


@pytest.mark.parametrize(
    ("name", "hint"),
    [("runs.xlsx", "save the sheet as 'CSV UTF-8"), ("runs.json", "bayescale import")],
)
def test_other_file_types_say_how_to_convert(tmp_path, name, hint):
    message = error_of(write(tmp_path, "x", name))
    assert "unknown file type" in message and hint in message


def test_valid_parquet(tmp_path):
    path = tmp_path / "runs.parquet"
    pd.read_csv(write(tmp_path, GOOD_CSV)).to_parquet(path)
    data = load_loss_runs(path)
    assert data.groups == ("web", "code")
    assert data.source == str(path)
    np.testing.assert_allclose(data.loss, [3.2, 2.9, 2.7, 2.5, 2.2, 2.0, 1.9])


def test_valid_dataframe_with_odd_index():
    frame = three_runs(group=["g"] * 3).set_index(pd.Index([10, 20, 30]))
    data = load_loss_runs(frame)
    assert data.groups == ("g",)
    assert data.source == "<DataFrame>"
    np.testing.assert_allclose(data.compute, [1e18, 1e19, 1e20])


def test_renamed_columns(tmp_path):
    text = "run,family,flops,final_loss\nx,f,1e18,3.2\ny,f,1e19,2.9\nz,f,1e20,2.7\n"
    columns = LossColumns(compute="flops", loss="final_loss", group="family", name="run")
    data = load_loss_runs(write(tmp_path, text), columns=columns)
    assert data.groups == ("f",)
    assert list(data.name) == ["x", "y", "z"]
    np.testing.assert_allclose(data.loss, [3.2, 2.9, 2.7])
    assert data.columns == columns


def test_renamed_column_missing_names_it_and_the_option(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path, columns=LossColumns(compute="flops"))
    assert str(path) in message
    assert "'flops'" in message
    assert "--compute-col" in message


def test_renamed_group_column_missing_is_an_error(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path, columns=LossColumns(group="family"))
    assert str(path) in message
    assert "missing column 'family'" in message
    assert "--group-col" in message


def test_renamed_name_column_missing_is_an_error(tmp_path):
    # --name-col nope was ignored: runs named "row N" without a word
    path = write(tmp_path, GOOD_CSV)
    assert "missing column 'nope'" in error_of(path, columns=LossColumns(name="nope"))
    from bayescale.nd import NDColumns, load_nd_runs

    runs = pd.DataFrame({"params": [1.0], "tokens": [1.0], "loss": [1.0]})
    with pytest.raises(InputError, match=r"missing column 'nope'.*--name-col"):
        load_nd_runs(runs, NDColumns(name="nope"))


@pytest.mark.parametrize("spec", ["", " ", ","])
def test_empty_group_column_option_is_an_error(tmp_path, spec):
    # "--group-col ''" used to end in an IndexError traceback.
    path = write(tmp_path, "compute,loss\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path, columns=LossColumns(group=spec))
    assert f"--group-col '{spec}' names no column" in message


def test_extra_columns_are_allowed(tmp_path):
    text = "compute,loss,params,tokens\n1e18,3.2,1e8,1e9\n1e19,2.9,3e8,3e9\n1e20,2.7,1e9,1e10\n"
    assert load_loss_runs(write(tmp_path, text)).groups == (DEFAULT_GROUP,)


# --- empty tables and files ---------------------------------------------------------------


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    message = error_of(path)
    assert str(path) in message
    assert "empty" in message


def test_header_only_file(tmp_path):
    path = write(tmp_path, "compute,loss\n")
    message = error_of(path)
    assert str(path) in message
    assert "no rows" in message


def test_empty_dataframe():
    message = error_of(pd.DataFrame({"compute": [], "loss": []}))
    assert "<DataFrame>" in message
    assert "no rows" in message


def test_unknown_suffix(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n", name="runs.xlsx")
    message = error_of(path)
    assert str(path) in message
    assert "'.xlsx'" in message
    assert ".csv" in message
    assert ".parquet" in message


@pytest.mark.parametrize("module", ["gzip", "bz2", "lzma"])
def test_compressed_tables_read_as_the_plain_file(tmp_path, module):
    import importlib

    text = "compute,loss,group\n1e18,3.2,a\n1e19,2.9,a\n1e20,2.7,a\n"
    compress = importlib.import_module(module).compress
    suffix = {"gzip": ".gz", "bz2": ".bz2", "lzma": ".xz"}[module]
    packed = tmp_path / f"runs.csv{suffix}"
    packed.write_bytes(compress(text.encode()))
    plain, _ = read_table(write(tmp_path, text))
    frame, label = read_table(packed)
    pd.testing.assert_frame_equal(frame, plain)
    assert label == str(packed)
    # cut short: refused, naming the file
    packed.write_bytes(compress(text.encode())[:-8])
    message = error_of(packed)
    assert str(packed) in message and ("decompress" in message or "cannot be read" in message)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.csv"
    message = error_of(path)
    assert str(path) in message
    assert "not found" in message


def test_standard_input_is_named(tmp_path, monkeypatch):
    # `cat runs.csv | bayescale loss - ...` said "-: file not found"
    monkeypatch.chdir(tmp_path)
    assert error_of("-").startswith("-: standard input is not read; save the table to a file")


def test_directory_is_not_a_file(tmp_path):
    message = error_of(tmp_path)
    assert str(tmp_path) in message
    assert "is a folder" in message


def test_not_utf8_csv(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes("compute,loss,name\n1e18,3.2,caf\xe9\n".encode("latin-1"))
    message = error_of(path)
    assert str(path) in message
    assert "not UTF-8" in message
    assert "UTF-16" not in message


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"PAR1\x15\x04\xff\xfe", "It is a Parquet file: name it .parquet."),
        (b"PK\x03\x04\x14\x00\xff\xfe", "It is a ZIP archive, as an Excel workbook (.xlsx) is"),
        (b"\x1f\x8b\x08\x00\xff\xfe", "It is gzip-compressed: name it .csv.gz"),
    ],
)
def test_a_binary_file_named_csv_says_what_it_is(tmp_path, head, what):
    # a Parquet file, a workbook or a gzip named runs.csv: "not UTF-8 text (byte 19: ...)"
    path = tmp_path / "runs.csv"
    path.write_bytes(head + b"\x00" * 10)
    message = error_of(path)
    assert "is not UTF-8 text" in message
    assert what in message and "Save it as UTF-8" not in message


def test_utf16_csv_is_named(tmp_path):
    # Excel's 'Unicode Text' export: "byte 0: invalid start byte" said nothing of the encoding
    path = tmp_path / "runs.csv"
    path.write_text(GOOD_CSV, encoding="utf-16")
    message = error_of(path)
    assert "is not UTF-8 text" in message and "It is UTF-16 text" in message
    assert message.endswith("Save it as UTF-8 CSV.")


def test_a_nul_character_is_refused_naming_its_cell(tmp_path):
    # a group label 'w\x00eb' was fitted, then writing fit.nc raised a ValueError traceback
    path = tmp_path / "runs.csv"
    rows = "".join(f"w\x00eb,{c},{3 - i / 10}\n" for i, c in enumerate([1e18, 1e19, 1e20]))
    path.write_text("group,compute,loss\n" + rows)
    message = error_of(path)
    assert "row 1 (line 2), column 'group'" in message and "NUL character" in message
    frame = pd.DataFrame({"compute\x00": [1e18], "loss": [3.0]})
    with pytest.raises(InputError, match=r"column name 'compute\\x00' contains a NUL"):
        load_loss_runs(frame)


def test_an_integer_beyond_float64_is_refused_as_not_finite(tmp_path):
    # a DataFrame holding the Python int 10**400 raised OverflowError (a traceback)
    message = error_of(three_runs().astype(object).assign(compute=[10**400, 10**19, 10**20]))
    assert "row 1, column 'compute': 10000000000000000000... (401 characters) is not finite" in (
        message
    )
    path = write(tmp_path, "compute,loss\n" + "9" * 400 + ",3.2\n1e19,2.9\n1e20,2.7\n")
    assert "99999999999999999999... (400 characters) is not finite" in error_of(path)


def test_parquet_with_a_column_name_twice_names_it(tmp_path):
    # pyarrow's "Multiple matches for FieldRef.Name(loss) in compute: double ..." and its schema
    # over seven lines; now the CSV reader's message
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "runs.parquet"
    values = pa.array([1e18, 1e19, 1e20])
    pq.write_table(pa.table([values, values, values], names=["compute", "loss", "loss"]), path)
    message = error_of(path)
    assert message == (
        f"{path}: column 'loss' appears twice in the header (columns 2 and 3); each column "
        "needs its own name."
    )


def test_parquet_decimal_columns_are_numbers(tmp_path):
    # a decimal128 column (databases, Spark) reaches pandas as Decimal objects: "'3.20' is not a
    # number"
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "runs.parquet"
    loss = pa.array([Decimal("3.20"), Decimal("2.90"), Decimal("2.70")], type=pa.decimal128(5, 2))
    pq.write_table(pa.table({"compute": pa.array([1e18, 1e19, 1e20]), "loss": loss}), path)
    np.testing.assert_array_equal(load_loss_runs(path).loss, [3.2, 2.9, 2.7])
    bad = three_runs().astype(object).assign(loss=[Decimal("sNaN"), 2.9, 2.7])
    assert "row 1, column 'loss': 'sNaN' is not a number" in error_of(bad)


def test_a_named_index_is_read_as_columns(tmp_path):
    # df.set_index("compute").to_parquet(...), or a groupby's result given to the API:
    # "missing column 'compute'. Columns present: loss"
    runs = three_runs()
    path = tmp_path / "runs.parquet"
    runs.set_index("compute").to_parquet(path)
    np.testing.assert_array_equal(load_loss_runs(path).compute, runs["compute"])
    both = runs.assign(x=1).set_index(["compute", "loss"])
    np.testing.assert_array_equal(load_loss_runs(both).loss, runs["loss"])
    filtered = pd.concat([runs, runs.iloc[[0]].assign(loss=-1.0)]).iloc[[3, 0, 1, 2]]
    assert "row 1, column 'loss': -1.0 must be > 0" in error_of(filtered)  # unnamed: positions
    runs.index = pd.Index(runs["compute"], name="compute")  # a level repeating a column
    np.testing.assert_array_equal(load_loss_runs(runs).compute, runs["compute"])
    mixed = runs.set_index([runs["loss"].rename(None), runs["compute"].rename("c")])
    np.testing.assert_array_equal(load_loss_runs(mixed).compute, runs["compute"])


def test_unreadable_parquet(tmp_path):
    path = write(tmp_path, "this is not parquet", name="runs.parquet")
    message = error_of(path)
    assert str(path) in message
    assert "cannot be read" in message


# --- missing columns ----------------------------------------------------------------------


def test_missing_column_suggests_close_present_column(tmp_path):
    path = write(tmp_path, "compute,los\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path)
    assert str(path) in message
    assert "missing column 'loss'" in message
    assert "Did you mean 'los'?" in message
    assert "compute, los" in message  # the columns present
    assert "--loss-col" in message


def test_a_table_of_sizes_and_tokens_without_compute_says_how_to_get_compute(tmp_path):
    # a Pythia-like ladder (size, tokens, loss) was met with a bare "missing column 'compute'"
    path = write(tmp_path, "params,tokens,loss\n7e7,3e11,3.0\n1.6e8,3e11,2.7\n4.1e8,3e11,2.4\n")
    message = error_of(path)
    assert "missing column 'compute'. The table has 'params' and 'tokens'" in message
    assert "6 * params * tokens" in message and "--compute-col" in message
    # one token count: L(N, D) cannot see the token exponent, so nd is not suggested
    assert "bayescale nd" not in message
    path = write(tmp_path, "params,tokens,loss\n7e7,3e11,3.0\n1.6e8,6e11,2.7\n4.1e8,3e11,2.4\n")
    assert f"use 'bayescale nd {path}'" in error_of(path)


@pytest.mark.parametrize(
    ("header", "missing", "option", "named"),
    [
        ("params,tokens,FLOPs,loss", "compute", "--compute-col", "FLOPs"),  # Cerebras-GPT's
        ("Training FLOPs,loss", "compute", "--compute-col", "Training FLOPs"),
        ("compute,pile_test_loss", "loss", "--loss-col", "pile_test_loss"),
    ],
)
def test_missing_column_names_a_column_holding_it_under_another_name(
    tmp_path, header, missing, option, named
):
    # a table with 'FLOPs' was told only to add 'compute' = 6 * params * tokens
    rows = ["7e7,3e11,1.3e20,3.0", "1.6e8,3e11,2.9e20,2.7", "4.1e8,3e11,7.4e20,2.4"]
    width = header.count(",") + 1
    text = header + "\n" + "\n".join(",".join(r.split(",")[-width:]) for r in rows) + "\n"
    message = error_of(write(tmp_path, text))
    assert f"missing column '{missing}'" in message
    assert f"The table has '{named}': if it holds {missing}, pass {option} '{named}'." in message


def test_missing_column_suggests_a_column_differing_only_in_case(tmp_path):
    # an upper-case header (COMPUTE,LOSS) got no hint: difflib finds 'compute' far from it
    path = write(tmp_path, "COMPUTE,LOSS\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    assert "Did you mean 'COMPUTE'?" in error_of(path)


def test_one_column_for_two_quantities_is_refused():
    message = error_of(three_runs(), columns=LossColumns(loss="compute"))
    assert "column 'compute' is named by both --compute-col and --loss-col" in message


def test_missing_renamed_column_suggests_default_name(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path, columns=LossColumns(loss="los"))
    assert "missing column 'los'" in message
    assert "Did you mean 'loss'?" in message


def test_missing_column_without_close_match_has_no_hint(tmp_path):
    path = write(tmp_path, "compute,zzz\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path)
    assert "missing column 'loss'" in message
    assert "Did you mean" not in message


def test_missing_compute_column_is_reported_first(tmp_path):
    path = write(tmp_path, "flop,lss\n1e18,3.2\n")
    message = error_of(path)
    assert "missing column 'compute'" in message
    assert "--compute-col" in message


# --- bad values ---------------------------------------------------------------------------

BAD_VALUES = [
    # (compute cell, loss cell, bad column, words expected in the message)
    ("1e19", "abc", "loss", ["'abc'", "not a number"]),
    ("ten", "2.9", "compute", ["'ten'", "not a number"]),
    ("1e19", "", "loss", ["missing"]),
    ("", "2.9", "compute", ["missing"]),
    ("1e19", "NaN", "loss", ["missing"]),
    ("0", "2.9", "compute", ["must be > 0"]),
    ("-1e19", "2.9", "compute", ["must be > 0"]),
    ("1e19", "0", "loss", ["must be > 0"]),
    ("1e19", "-2.9", "loss", ["must be > 0"]),
    ("1e19", "inf", "loss", ["not finite"]),
]


@pytest.mark.parametrize(("compute", "loss", "column", "words"), BAD_VALUES)
def test_bad_value_in_csv_names_file_row_line_and_column(tmp_path, compute, loss, column, words):
    path = write(tmp_path, f"compute,loss\n1e18,3.2\n{compute},{loss}\n1e20,2.7\n1e21,2.6\n")
    message = error_of(path)
    assert message.startswith(f"{path}, row 2 (line 3), column '{column}':")
    for word in words:
        assert word in message


# In a string column of a Parquet file, "NaN" is text, not a missing value; see the numeric
# Parquet test below for a real NaN.
@pytest.mark.parametrize(
    ("compute", "loss", "column", "words"), [v for v in BAD_VALUES if v[1] != "NaN"]
)
def test_bad_value_in_parquet_names_file_row_and_column(tmp_path, compute, loss, column, words):
    frame = pd.DataFrame(
        {"compute": ["1e18", compute, "1e20", "1e21"], "loss": ["3.2", loss, "2.7", "2.6"]}
    ).replace({"": None})
    path = tmp_path / "runs.parquet"
    frame.to_parquet(path)
    message = error_of(path)
    assert message.startswith(f"{path}, row 2, column '{column}':")
    assert "line" not in message
    for word in words:
        assert word in message


def test_bad_value_in_numeric_parquet(tmp_path):
    path = tmp_path / "runs.parquet"
    pd.DataFrame({"compute": [1e18, 1e19, 1e20], "loss": [3.2, np.nan, 2.7]}).to_parquet(path)
    message = error_of(path)
    assert message.startswith(f"{path}, row 2, column 'loss':")
    assert "missing" in message


def test_bad_value_in_dataframe_counts_rows_from_one():
    frame = three_runs().set_index(pd.Index([7, 8, 9]))
    frame.loc[9, "compute"] = -5.0
    message = error_of(frame)
    assert message.startswith("<DataFrame>, row 3, column 'compute':")
    assert "must be > 0" in message


def test_crlf_line_numbers(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes(b"compute,loss\r\n1e18,3.2\r\n1e19,x\r\n1e20,2.7\r\n")
    assert error_of(path).startswith(f"{path}, row 2 (line 3), column 'loss':")


def test_first_bad_row_is_reported(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n1e19,2.9\n1e20,x\n1e21,y\n")
    assert "row 3 (line 4)" in error_of(path)


def test_row_in_renamed_column(tmp_path):
    path = write(tmp_path, "flops,loss\n1e18,3.2\n1e19,2.9\n1e20,2.7\n1e21,-1\n")
    message = error_of(path, columns=LossColumns(compute="flops"))
    assert message.startswith(f"{path}, row 4 (line 5), column 'loss':")


def test_missing_group_label(tmp_path):
    path = write(tmp_path, "compute,loss,group\n1e18,3.2,a\n1e19,2.9,\n1e20,2.7,a\n")
    message = error_of(path)
    assert message.startswith(f"{path}, row 2 (line 3), column 'group':")
    assert "missing" in message


def test_line_number_counts_blank_lines(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n\n1e19,abc\n1e20,2.7\n")
    # 'abc' is on line 4 of the file.
    assert "(line 4)" in error_of(path)


#: Row 2's note spans lines 3-4, so rows 3 and 4 are on lines 5 and 6.
QUOTED = (
    'name,compute,loss,note\na,1e18,3.2,ok\nb,1e19,2.9,"two\nlines"\nc,1e20,{c},ok\nd,1e21,2.5,ok\n'
)


def test_a_quoted_cell_over_two_lines_is_one_row(tmp_path):
    message = error_of(write(tmp_path, QUOTED.format(c="x")))
    assert "runs.csv, row 3 (line 5), column 'loss'" in message  # was row 4: lines were rows
    # after a row selection too, and the row with the cell is named by its first line
    message = error_of(write(tmp_path, QUOTED.format(c="x")), where="name != 'a'")
    assert "row 3 (line 5)" in message
    text = QUOTED.format(c="2.7").replace("b,1e19,2.9", "b,1e19,-2.9")
    assert "row 2 (line 3), column 'loss'" in error_of(write(tmp_path, text))
    ragged = QUOTED.format(c="2.7,extra")
    assert "runs.csv, line 5: 5 fields" in error_of(write(tmp_path, ragged))
    no_names = write(tmp_path, QUOTED.format(c="2.7").replace("name,", "id,"))
    assert list(load_loss_runs(no_names).name) == ["row 1", "row 2", "row 3", "row 4"]


def test_blank_lines_before_the_header_are_not_rows(tmp_path):
    path = write(tmp_path, "\n\ncompute,loss\n1e18,3.2\n1e19,x\n1e20,2.7\n")
    assert "row 2 (line 5), column 'loss'" in error_of(path)


# --- too few computes per group -----------------------------------------------------------


def test_group_with_too_few_distinct_computes(tmp_path):
    text = GOOD_CSV + "c1,tiny,1e18,3.0\nc2,tiny,1e18,2.9\nc3,tiny,1e19,2.8\n"
    path = write(tmp_path, text)
    message = error_of(path)
    assert str(path) in message
    assert "group 'tiny'" in message
    assert "2 distinct compute" in message
    assert str(MIN_COMPUTES_PER_GROUP) in message


def test_ungrouped_table_with_too_few_computes(tmp_path):
    path = write(tmp_path, "compute,loss\n1e18,3.2\n1e19,2.9\n1e19,2.8\n")
    message = error_of(path)
    assert str(path) in message
    assert "the table has 2 distinct compute" in message


# --- fit_max_compute ----------------------------------------------------------------------


def test_fit_max_compute_holds_out_runs(tmp_path):
    data = load_loss_runs(write(tmp_path, GOOD_CSV), fit_max_compute=1e20)
    assert list(data.held_out) == [False] * 6 + [True]
    assert list(data.fitted) == [True] * 6 + [False]
    assert data.fit_max_compute == 1e20
    # Held-out runs stay in the data (for plots and scoring).
    assert len(data.compute) == 7
    assert list(data.to_frame()["held_out"]) == [False] * 6 + [True]


def test_fit_max_compute_keeps_runs_at_the_cut(tmp_path):
    data = load_loss_runs(write(tmp_path, GOOD_CSV), fit_max_compute=1e21)
    assert not data.held_out.any()


def test_fit_max_compute_makes_a_group_too_small(tmp_path):
    path = write(tmp_path, GOOD_CSV)
    message = error_of(path, fit_max_compute=5e19)
    assert str(path) in message
    assert "group 'web'" in message
    assert "2 distinct compute" in message
    assert "compute <= 5e+19" in message


def test_fit_max_compute_below_every_run(tmp_path):
    message = error_of(write(tmp_path, GOOD_CSV), fit_max_compute=1e10)
    assert "0 distinct compute" in message


@pytest.mark.parametrize("bad", [0.0, -1e20, float("nan")])
def test_fit_max_compute_must_be_positive(tmp_path, bad):
    message = error_of(write(tmp_path, GOOD_CSV), fit_max_compute=bad)
    assert "--fit-max-compute" in message
    assert re.search(r"must be > 0", message)


def test_a_table_without_a_header_line_says_so(tmp_path):
    # the first data row was taken as the header: "Columns present: 1e+18, 3.2" and no hint
    path = write(tmp_path, "1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path)
    assert "missing column 'compute'" in message
    assert "the table has no header line" in message
    assert "no header line" not in error_of(write(tmp_path, "flop,1\n1e18,3.2\n"))
    unnamed = error_of(pd.DataFrame([[1e18, 3.2], [1e19, 2.9]]))  # DataFrame(array): 0, 1
    assert "The column names are numbers: name the table's columns." in unnamed
    assert "header line" not in unnamed


def test_a_header_repeated_inside_the_table_is_named(tmp_path):
    # two CSV files joined with `cat`: "'compute' is not a number." and no more
    path = write(tmp_path, GOOD_CSV + GOOD_CSV.replace("a1", "c1"))
    message = error_of(path)
    assert "row 8 (line 9), column 'compute': 'compute' is not a number." in message
    assert "The row repeats the header (two tables joined?): delete it." in message


def test_a_comment_line_above_the_header_says_to_delete_it(tmp_path):
    # '# runs' became a one-column header and the message spoke only of delimiters
    path = write(tmp_path, "# runs of 2024\ncompute,loss\n1e18,3.2\n1e19,2.9\n1e20,2.7\n")
    message = error_of(path)
    assert "line 2: 2 fields, but the header (line 1) has 1" in message
    assert "Line 1 ('# runs of 2024') was read as the header" in message
    assert "delete it" in message


def test_a_group_column_in_another_case_is_not_silently_one_curve():
    # A W&B export's "Group" column was ignored and both curves fitted as one group 'all'.
    runs = pd.DataFrame(
        {"compute": [1e18, 1e19, 1e20] * 2, "loss": [3.2, 2.9, 2.7, 1.9, 1.7, 1.6]}
    ).assign(Group=["web"] * 3 + ["code"] * 3)
    with pytest.raises(InputError, match=r"no column 'group', but a column 'Group'.*--group-col"):
        load_loss_runs(runs)
    assert load_loss_runs(runs, LossColumns(group="Group")).groups == ("web", "code")
    assert load_loss_runs(runs.drop(columns="Group")).groups == (DEFAULT_GROUP,)


def test_a_group_of_two_runs_says_how_to_leave_it_out(tmp_path):
    # a table whose one group had 2 runs was refused whole, with no way on for the others
    text = "group,compute,loss\n" + "".join(
        f"web,{c},{3.5 - 0.2 * i}\n" for i, c in enumerate([1e18, 1e19, 1e20, 1e21])
    )
    text += "code,1e18,2.0\ncode,1e19,1.8\n"
    message = error_of(write(tmp_path, text), columns=LossColumns(group="group"))
    assert message.endswith(
        "To forecast the other groups, leave it out with --where \"group != 'code'\" (in a "
        "spec: [data] where)."
    )
    data = load_loss_runs(write(tmp_path, text), where="group != 'code'")
    assert data.groups == ("web",)


def test_a_group_typed_two_ways_is_named_as_such(tmp_path):
    # 'Web' (1 run) beside 'web' was told to leave 'Web' out with --where, not that it is
    # the same group typed two ways
    text = "group,compute,loss\n" + "".join(
        f"web,{c},{3.5 - 0.2 * i}\n" for i, c in enumerate([1e18, 1e19, 1e20, 1e21])
    )
    message = error_of(write(tmp_path, text + "Web,1e22,2.6\n"), columns=LossColumns())
    assert message.endswith(
        "'Web' and 'web' differ only in case, spaces, dashes or underscores: one group typed two "
        "ways? Spell it one way."
    )
    assert "--where" not in message


def test_a_one_letter_column_is_looked_for_as_a_whole_word():
    from bayescale.data import named_like

    # 'n' is in 'benchmark' and 'k' in 'task_id': not what a user means
    assert named_like("n", ["model", "benchmark", "task_id"], "--n-col") == ""
    assert "'n_samples'" in named_like("n", ["benchmark", "n_samples"], "--n-col")


@pytest.mark.parametrize(
    "source", [pd.Series([1.0, 2.0]), {"compute": [1e18], "loss": [3.0]}, np.ones((2, 2))]
)
def test_a_table_that_is_neither_frame_nor_path_is_an_input_error(source):
    # a notebook user's Series, dict of columns or array: named, with the conversion to use
    import bayescale as bs

    for load in (bs.load_loss_runs, bs.load_pass_table, bs.load_nd_runs, bs.load_accuracy_table):
        with pytest.raises(InputError, match="expected a pandas DataFrame or the path"):
            load(source)


@pytest.mark.parametrize("bound", ["3e19", 3e19, np.float32(3e19)])
def test_fit_max_compute_may_be_a_string_as_targets_may(bound):
    # load_loss_runs(..., fit_max_compute="3e19") failed with TypeError '>' str and int
    import bayescale as bs

    runs = bs.demo_loss_runs()
    data = bs.load_loss_runs(runs, fit_max_compute=bound)
    assert data.fit_max_compute == pytest.approx(3e19, rel=1e-6)
    assert data.held_out.sum() == 6


@pytest.mark.parametrize("bound", ["lots", float("nan"), -1.0, [3e19]])
def test_a_bad_fit_max_compute_is_an_input_error(bound):
    import bayescale as bs

    with pytest.raises(InputError, match="--fit-max-compute must be > 0"):
        bs.load_loss_runs(bs.demo_loss_runs(), fit_max_compute=bound)
    with pytest.raises(InputError, match="--fit-max-compute must be > 0"):
        bs.load_accuracy_table(bs.simulate_accuracy_table(), fit_max_compute=bound)


def test_labels_that_print_alike_are_twins():
    # 'web' and 'web\u200b' (a zero-width space pasted with it), or 'Bücher' in two Unicode
    # forms, were two groups with no warning, shown as two identical rows
    from bayescale.targets import label_twin_warnings

    (warning,) = label_twin_warnings(["web", "web\u200b", "code"], "group")
    assert "'web' and 'web\\u200b' differ only in case" in warning
    assert len(label_twin_warnings(["B\u00fccher", "Bu\u0308cher", "\ufeffcode", "code"], "g")) == 2
    assert label_twin_warnings(["web", "code", "books"], "group") == []


def test_a_benchmark_typed_with_an_invisible_character_is_refused():
    from bayescale.accuracy_data import load_accuracy_table

    rows = [("m1", 1e21, 0.3), ("m2", 1e22, 0.4), ("m3", 1e23, 0.5)]
    frame = pd.DataFrame(
        [(m, "f", c, b, a) for m, c, a in rows for b in ("mmlu", "mmlu\u200b")],
        columns=["model", "family", "compute", "benchmark", "accuracy"],
    )
    with pytest.raises(InputError, match=r"benchmark 'mmlu\\u200b' and 'mmlu'"):
        load_accuracy_table(frame)

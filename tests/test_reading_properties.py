"""Property tests of strict reading: CSV tables full of junk (extra and missing fields, labels
that look like numbers, quoted and unicode fields, missing values, extreme floats). Each one is
either read back exactly as written or refused with an InputError; nothing else escapes."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bayescale.data import load_loss_runs
from bayescale.errors import InputError
from bayescale.pass_data import load_pass_counts

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Labels a careless reader turns into numbers or missing values.
TRICKY_LABELS = ["1.1", "1.10", "007", "7", "NA", "nan", "None", "", " ", "1e5", "-0", "TRUE"]

labels = st.one_of(
    st.sampled_from(TRICKY_LABELS),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=8,
    ),
)

numbers = st.one_of(
    st.floats(min_value=1e-3, max_value=1e3).map(repr),
    st.integers(min_value=1, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),  # extreme: 1e-310, -0.0, inf
    st.sampled_from(["", "NA", "nan", "abc", "1_000", "0x10", "1e400", "-1", "0", " 2.5 "]),
)

counts = st.one_of(
    st.integers(min_value=0, max_value=20).map(str),
    st.sampled_from(["", "1.5", "-1", str(2**63), "1e30", "NA"]),
)


def _render(rows: list[list[str]], header: list[str], shape: list[int]) -> str:
    """CSV text of ``rows`` (csv.writer quotes commas, quotes and newlines), then drop or add
    a field on the rows ``shape`` marks (-1: one field fewer, +1: one more)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row, change in zip(rows, shape, strict=True):
        writer.writerow(row[:-1] if change < 0 else [*row, "extra"] if change > 0 else row)
    return buffer.getvalue()


def _blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _read(text: str, loader):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        path.write_text(text, encoding="utf-8")
        try:
            data = loader(path)
        except InputError:
            event("refused with InputError")
            return None
        event("read back")
        return data
        # anything else (ValueError, KeyError, OverflowError, csv.Error, ...) fails the test


def _shape(n: int):
    return st.lists(st.sampled_from([0, 0, 0, 0, 0, 0, -1, 1]), min_size=n, max_size=n)


@st.composite
def loss_tables(draw):
    n = draw(st.integers(min_value=3, max_value=10))
    groups = draw(st.lists(labels, min_size=1, max_size=2))
    rows = [
        [draw(numbers), draw(numbers), draw(st.sampled_from(groups)), draw(labels)]
        for _ in range(n)
    ]
    # mostly well-formed tables, so that many are read back
    if draw(st.booleans()):
        for i, row in enumerate(rows):
            row[0] = f"{10.0 ** (18 + i):g}"
            row[1] = repr(3.0 - 0.1 * i)
    shape = draw(_shape(n)) if draw(st.booleans()) else [0] * n
    return rows, shape


@SETTINGS
@given(loss_tables())
def test_loss_tables_read_exactly_or_refuse(table):
    rows, shape = table
    text = _render(rows, ["compute", "loss", "group", "name"], shape)
    data = _read(text, load_loss_runs)
    kept = [(r, s) for r, s in zip(rows, shape, strict=True) if not _blank(r)]
    if any(s != 0 for _, s in kept):
        assert data is None, "a row with extra or missing fields was read"
    if data is None:
        return
    assert len(data.compute) == len(kept)
    for i, (row, _) in enumerate(kept):
        assert data.compute[i] == float(row[0].strip())
        assert data.loss[i] == float(row[1].strip())
        # verbatim but for padding (selection._label strips it): "1.10" is not "1.1", "NA" is
        # not missing, "0 " is "0"
        assert data.group[i] == row[2].strip()
        assert data.name[i] == row[3]
    assert all(math.isfinite(v) for v in [*data.compute, *data.loss])


@st.composite
def count_tables(draw):
    models = draw(st.lists(labels, min_size=3, max_size=4, unique=True))
    problems = draw(st.lists(labels, min_size=1, max_size=3, unique=True))
    clean = draw(st.booleans())  # half the tables well-formed apart from their labels
    rows = []
    for m, model in enumerate(models):
        compute = f"{10.0 ** (20 + m):g}" if clean else draw(numbers)
        for problem in problems:
            n = "10" if clean else draw(counts)
            k = str(draw(st.integers(0, 10))) if clean else draw(counts)
            rows.append([model, compute, problem, n, k])
    shape = draw(_shape(len(rows))) if draw(st.booleans()) else [0] * len(rows)
    return rows, shape


@SETTINGS
@given(count_tables())
def test_count_tables_read_exactly_or_refuse(table):
    rows, shape = table
    text = _render(rows, ["model", "compute", "problem", "n", "k"], shape)
    data = _read(text, load_pass_counts)
    kept = [(r, s) for r, s in zip(rows, shape, strict=True) if not _blank(r)]
    if any(s != 0 for _, s in kept):
        assert data is None, "a row with extra or missing fields was read"
    if data is None:
        return
    assert int(data.observed.sum()) == len(kept)
    for row, _ in kept:
        model, compute, problem, n, k = row
        m = data.models.names.index(model.strip())
        p = data.problems.index(problem.strip())
        assert data.models.compute[m] == float(compute.strip())
        assert data.n[m, p] == int(float(n)) and data.k[m, p] == int(float(k))

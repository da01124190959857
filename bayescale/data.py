"""Input tables to validated datasets.

Reads CSV or Parquet files (or takes a pandas DataFrame), maps the user's column names, and
refuses bad input with an :class:`~bayescale.errors.InputError` that names the source, the row
and the column. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

import csv
import lzma
import os
import re
import stat
import unicodedata
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.display import html_summary, text_summary
from bayescale.errors import InputError, did_you_mean
from bayescale.selection import group_columns, group_labels, select_rows

#: Distinct compute values a group needs: the loss law has three parameters (a, b, c).
MIN_COMPUTES_PER_GROUP = 3

#: Label used for the single curve when the table has no group column.
DEFAULT_GROUP = "all"

#: Most rows a table may have. A larger table is refused while it is read (before it is all
#: in memory): no scaling-law fit needs it, and it would cost minutes and gigabytes.
MAX_ROWS = 500_000
#: Key of ``DataFrame.attrs`` holding the line each row of a CSV file starts on, by row index,
#: when a row is not on line index + 2 (:func:`row_label`).
ROW_LINES = "bayescale_row_lines"

#: Texts that mean "no value" in a numeric column (in a label column they are labels).
MISSING_TEXT = frozenset({"", "na", "nan", "n/a", "null", "none", "-"})

#: Suffixes read as delimited text, and their delimiter.
_DELIMITED = {".csv": ",", ".txt": ",", ".tsv": "\t"}
#: Compressed delimited files (``runs.csv.gz``): the outer suffix and its stdlib module.
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}
#: Suffixes read as Parquet.
_PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class LossColumns:
    """Names of the columns of a loss-runs table (docs/formats.md defaults)."""

    compute: str = "compute"
    loss: str = "loss"
    group: str = "group"
    name: str = "name"
    loss_sd: str | None = None


class GroupedRuns:
    """What every table of grouped runs with a held-out mask offers (``LossData``, ``NDData``)."""

    groups: tuple[str, ...]
    group: np.ndarray
    held_out: np.ndarray

    @property
    def group_index(self) -> np.ndarray:
        """Integer position of each run's group in :attr:`groups`."""
        lookup = {g: i for i, g in enumerate(self.groups)}
        return np.array([lookup[g] for g in self.group], dtype=np.int64)

    @property
    def fitted(self) -> np.ndarray:
        """Boolean mask of the runs the model is fitted on."""
        return ~self.held_out


@dataclass(frozen=True)
class LossData(GroupedRuns):
    """A validated table of finished training runs.

    Attributes
    ----------
    compute, loss
        Training compute in FLOPs and final loss, one entry per run, both > 0.
    group
        Group label of each run (``"all"`` when the table has no group column).
    groups
        The distinct group labels in order of first appearance; the model's ``group`` dim.
    name
        Run names (from the ``name`` column, else ``"row N"``).
    held_out
        True for runs above ``fit_max_compute``: shown and scored, not fitted.
    source
        Where the table came from, for messages and reports.
    """

    compute: np.ndarray
    loss: np.ndarray
    group: np.ndarray
    groups: tuple[str, ...]
    name: np.ndarray
    held_out: np.ndarray
    source: str = "<DataFrame>"
    fit_max_compute: float | None = None
    columns: LossColumns = field(default_factory=LossColumns)
    loss_sd: np.ndarray | None = None

    def __repr__(self) -> str:
        return text_summary(*_data_summary(self))

    def _repr_html_(self) -> str:
        return html_summary(*_data_summary(self))

    def to_frame(self) -> pd.DataFrame:
        """Return the runs as a DataFrame with the default column names."""
        return pd.DataFrame(
            {
                "name": self.name,
                "group": self.group,
                "compute": self.compute,
                "loss": self.loss,
                "held_out": self.held_out,
            }
        )


def read_table(
    source: str | Path | pd.DataFrame, label: str | None = None, *, max_rows: int = MAX_ROWS
) -> tuple[pd.DataFrame, str]:
    """Read a CSV or Parquet file, or pass a DataFrame through.

    CSV (and TSV) files are read strictly: every cell comes back as the exact string in the
    file (``NA``, ``007`` and ``1.10`` stay as written; an empty cell is ``""``), so labels are
    never parsed as numbers and numbers are parsed only where a numeric column is read
    (:func:`numeric_column`). A row with more or fewer fields than the header is refused with
    its line number, as are duplicate column names. Lines that are blank (or only commas) are
    skipped but counted as rows, as spreadsheets show them; the frame's index is the row's
    number after the header, from 0, and a quoted cell that spans lines is one row (the
    first line of each row is kept for :func:`row_label` in ``frame.attrs``).

    Parameters
    ----------
    source
        Path to a ``.csv``, ``.tsv`` or ``.parquet`` file, or a DataFrame.
    label
        How messages and reports name a DataFrame (default ``<DataFrame>``).
    max_rows
        Refuse a table with more data rows (default :data:`MAX_ROWS`).

    Returns
    -------
    The table and a label naming its source for messages.

    Raises
    ------
    InputError
        When the file is missing, not a regular file, unreadable, of an unknown type, not
        UTF-8, malformed (ragged rows, duplicate or missing header), too long, or has no rows.
    """
    if not isinstance(source, (pd.DataFrame, str, os.PathLike)):
        raise InputError(
            f"the table is a {type(source).__name__}: expected a pandas DataFrame or the path of "
            "a CSV or Parquet file (a dict of columns: pd.DataFrame(d); a Series: "
            "series.to_frame())."
        )
    if isinstance(source, pd.DataFrame):
        label = label or "<DataFrame>"
        frame = _index_as_columns(source)
    else:
        path = Path(source)
        label = str(path)
        _check_readable(path, label)
        suffix = path.suffix.lower()
        inner = Path(path.stem).suffix.lower()
        if suffix in _COMPRESSED and inner in _DELIMITED:
            frame = _read_delimited(path, label, _DELIMITED[inner], max_rows, _COMPRESSED[suffix])
        elif suffix in _PARQUET:
            frame = _read_parquet(path, label)
        elif suffix in _DELIMITED:
            frame = _read_delimited(path, label, _DELIMITED[suffix], max_rows)
        else:
            raise InputError(
                f"{label}: unknown file type '{suffix}'. Expected .csv, .tsv or .parquet "
                f"(.csv.gz, .csv.bz2 and .csv.xz are read too).{_OTHER_TYPES.get(suffix, '')}"
            )
    if len(frame) > max_rows:
        raise InputError(
            f"{label}: {len(frame)} rows; at most {max_rows:,} are read. Aggregate the table "
            "(one row per run, or per model and problem) before forecasting."
        )
    if frame.empty:
        raise InputError(f"{label}: the table has no rows. Expected one row per training run.")
    names = [str(c).strip(_INVISIBLE) for c in frame.columns]
    _check_header(names, label)
    frame.columns = names
    _refuse_nul(frame, label)
    return frame, label


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    """Read a Parquet file, refusing duplicate column names by name (as in CSV files)."""
    import pyarrow.parquet as pq

    def refuse(exc: Exception) -> InputError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return InputError(f"{label}: cannot be read as Parquet: {first}")

    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError) as exc:
        raise refuse(exc) from None
    _check_header([str(n).strip() for n in names], label)
    try:
        return _index_as_columns(pd.read_parquet(path))
    except (OSError, ValueError) as exc:
        raise refuse(exc) from None


def _index_as_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a named index (``df.set_index("model")``, a groupby) back as columns.

    An unnamed index (row numbers, a filtered frame's) is dropped; rows are then numbered
    from 0 as :func:`row_label` counts them.
    """
    names = list(frame.index.names)
    columns = {str(c) for c in frame.columns}
    # a level named like a column (df.index = df["compute"]) repeats it; unnamed ones number rows
    drop = [i for i, n in enumerate(names) if n is None or str(n) in columns]
    if len(drop) == len(names):
        return frame.reset_index(drop=True)
    if drop:
        frame = frame.reset_index(level=drop, drop=True)
    return frame.reset_index()


#: Characters stripped from the ends of column names: whitespace, and the invisible ones that
#: copying from web pages and joining files leave (zero-width space and joiners, word joiner,
#: a byte-order mark not at the file's start).
_INVISIBLE = " \t\n\r\f\v\u00a0\u200b\u200c\u200d\u2060\ufeff"


def _refuse_nul(frame: pd.DataFrame, label: str) -> None:
    """Refuse a NUL character in the header or a text cell.

    In a table it is a sign of a damaged or binary file, and a saved fit (NetCDF) cannot
    store it in a label.
    """
    fix = "the file is damaged or not plain text; remove the character or export the table again"
    for name in frame.columns:
        if "\x00" in name:
            raise InputError(f"{label}: column name {name!r} contains a NUL character; {fix}.")
        values = frame[name]
        if values.dtype != object:
            continue
        hit = values.map(lambda v: isinstance(v, str) and "\x00" in v).to_numpy(dtype=bool)
        if hit.any():
            first = int(np.argmax(hit))
            where = row_label(label, int(frame.index[first]), frame)
            raise InputError(
                f"{where}, column '{name}': {values.iloc[first]!r} contains a NUL character; {fix}."
            )


_SPREADSHEET = " Spreadsheets are not read: save the sheet as 'CSV UTF-8 (comma delimited)'."
#: How to turn files of other types into a table bayescale reads.
_OTHER_TYPES = {
    ".xlsx": _SPREADSHEET,
    ".xls": _SPREADSHEET,
    ".ods": _SPREADSHEET,
    ".numbers": _SPREADSHEET,
    ".json": " Write the table as CSV or Parquet (pandas: DataFrame.to_csv); harness outputs "
    "are converted by 'bayescale import'.",
    ".jsonl": " Harness outputs are converted by 'bayescale import'.",
}

#: Suffixes of data tables, those :func:`read_table` reads and the spreadsheets it names: a
#: file given where a spec is expected is refused as a table by these.
TABLE_SUFFIXES = (
    *_DELIMITED,
    *_COMPRESSED,
    *_PARQUET,
    *(suffix for suffix, why in _OTHER_TYPES.items() if why is _SPREADSHEET),
)


def _check_readable(path: Path, label: str) -> None:
    """Refuse a missing path, a folder, or a FIFO/device before opening it (a FIFO blocks)."""
    if str(path) == "-":
        raise InputError(
            "-: standard input is not read; save the table to a file (runs.csv) and give its path."
        )
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():  # a link whose target is gone (a moved or deleted table)
            raise InputError(
                f"{label}: is a symbolic link to {os.readlink(path)}, which does not exist. "
                "Point it at the table, or give the table's own path."
            ) from None
        raise InputError(f"{label}: file not found. Expected a CSV or Parquet file.") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot be read ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(mode):
        raise InputError(
            f"{label}: is a folder, not a file. Give the path of a CSV or Parquet table."
        )
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{label}: is not a regular file (a FIFO, device or socket). Give the path of a "
            "CSV or Parquet table saved on disk."
        )


def _check_header(names: list[str], label: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(
                f"{label}: column '{name}' appears twice in the header (columns {seen[name] + 1} "
                f"and {i + 1}); each column needs its own name."
            )
        seen[name] = i


def _read_delimited(
    path: Path, label: str, delimiter: str, max_rows: int, compression: str | None = None
) -> pd.DataFrame:
    """Read a delimited text file as strings, refusing ragged rows (see :func:`read_table`).

    ``compression`` names the stdlib module (``gzip``, ``bz2``, ``lzma``) that opens it.
    """
    import importlib

    kind = "TSV" if delimiter == "\t" else "CSV"
    opener = importlib.import_module(compression).open if compression else open
    rows: list[list[str]] = []
    numbers: list[int] = []  # each kept row's number after the header, from 0
    starts: list[int] = []  # the line each row (kept or blank) starts on
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            header = next(reader, None)
            while header is not None and not any(c.strip() for c in header):
                header = next(reader, None)  # blank lines before the header
            if header is None:
                raise InputError(f"{label}: the file is empty. Expected a header and rows.")
            width = len(header)
            header_line = reader.line_num
            _check_delimiter(header, delimiter, label, kind)
            end = header_line
            for row in reader:
                start, end = end + 1, reader.line_num  # a quoted cell may span lines
                starts.append(start)
                if not any(c.strip() for c in row):
                    continue  # a blank line, or one of empty fields only
                if len(row) != width:
                    raise InputError(
                        f"{label}, line {start}: {len(row)} fields, but the header "
                        f"(line {header_line}) has {width}. Every row needs exactly one value "
                        "per column: check for a stray or missing delimiter, or quote values "
                        f"that contain one.{_comment_hint(header, header_line)}"
                    )
                if len(rows) >= max_rows:
                    raise InputError(
                        f"{label}: more than {max_rows:,} rows; at most {max_rows:,} are read. "
                        "Aggregate the table (one row per run, or per model and problem) "
                        "before forecasting."
                    )
                rows.append(row)
                numbers.append(len(starts) - 1)
    except UnicodeDecodeError as exc:
        fix = _binary_hint(path, compression) or f"{_utf16_hint(exc)} Save it as UTF-8 {kind}."
        raise InputError(
            f"{label}: is not UTF-8 text (byte {exc.start}: {exc.reason}).{fix}"
        ) from None
    except csv.Error as exc:
        raise InputError(f"{label}: cannot be read as {kind}: {exc}.") from None
    except InputError:
        raise
    except (EOFError, lzma.LZMAError, zlib.error) as exc:  # truncated or corrupt compressed data
        raise InputError(f"{label}: cannot be decompressed ({exc}).") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot be read ({exc.strerror or exc}).") from None
    names = [c if c.strip() else f"Unnamed: {i}" for i, c in enumerate(header)]
    _check_header([n.strip() for n in names], label)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    frame = pd.DataFrame(columns, index=pd.Index(numbers, dtype=np.int64), dtype=object)
    if starts != list(range(2, len(starts) + 2)):  # row N is not on line N + 1
        frame.attrs[ROW_LINES] = np.array(starts, dtype=np.int64)
    return frame


def _utf16_hint(exc: UnicodeDecodeError) -> str:
    """Name UTF-16 text (Excel's 'Unicode Text', PowerShell's default) by its byte-order mark."""
    if exc.start == 0 and bytes(exc.object[:2]) in (b"\xff\xfe", b"\xfe\xff"):
        return " It is UTF-16 text (as Excel's 'Unicode Text' and PowerShell write)."
    return ""


#: The first bytes of binary files saved with a text table's name, and what they are.
_MAGIC = {
    b"PAR1": "It is a Parquet file: name it .parquet.",
    b"PK\x03\x04": "It is a ZIP archive, as an Excel workbook (.xlsx) is: save the sheet as "
    "'CSV UTF-8 (comma delimited)'.",
    b"\x1f\x8b": "It is gzip-compressed: name it .csv.gz (or .tsv.gz).",
    b"BZh": "It is bzip2-compressed: name it .csv.bz2.",
    b"\xfd7zXZ": "It is xz-compressed: name it .csv.xz.",
    b"\xd0\xcf\x11\xe0": "It is an old Excel workbook (.xls): save the sheet as 'CSV UTF-8'.",
}


def _binary_hint(path: Path, compression: str | None) -> str:
    """What a binary file given as a plain text table is, by its first bytes (else ``""``)."""
    if compression is not None:
        return ""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return ""
    return next((f" {what}" for magic, what in _MAGIC.items() if head.startswith(magic)), "")


def _comment_hint(header: list[str], line: int) -> str:
    """What to do when the line read as the header is a comment (``# runs of 2024``)."""
    if not header[0].lstrip().startswith("#"):
        return ""
    return (
        f" Line {line} ({','.join(header)[:60]!r}) was read as the header: comment lines are "
        "not read, so delete it (the header must be the first line that is not blank)."
    )


#: Delimiters other tools write, named for messages (``;`` is Excel's in many locales).
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", ",": "commas", "|": "bars"}


def _check_delimiter(header: list[str], delimiter: str, label: str, kind: str) -> None:
    """Refuse a one-column header that holds another delimiter (a ``;``-separated ``.csv``)."""
    if len(header) != 1:
        return
    for other, name in _OTHER_DELIMITERS.items():
        if other != delimiter and other in header[0]:
            fix = {
                "\t": "name it .tsv",
                ",": "name it .csv",
            }.get(other, "save it comma-separated, with decimal points (in Excel: 'CSV UTF-8')")
            raise InputError(
                f"{label}: the header is one column, {header[0]!r}: the file looks separated "
                f"by {name}, but {kind} files are read with {_OTHER_DELIMITERS[delimiter]}. "
                f"To read it, {fix}."
            )


def label_key(name: str) -> str:
    """A label with case, spaces and dashes set aside: ``"ARC-C"`` -> ``"arc_c"``.

    Labels with one key are one label typed two ways (benchmarks, groups, families). Unicode
    forms (NFKC) and invisible format characters (a zero-width space or a BOM pasted from a
    web page) are set aside too: such labels print alike.
    """
    text = unicodedata.normalize("NFKC", name)
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return re.sub(r"[\s\-]+", "_", visible.strip().lower())


def shown_label(label: str) -> str:
    r"""A label as a message shows it, invisible format characters escaped: ``'web\u200b'``."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) == "Cf" else c for c in label)


def row_label(source: str, index: int, frame: pd.DataFrame | None = None) -> str:
    """Describe a data row by its index in ``frame``: its number after the header, from 0.

    For CSV files the line it starts on is given too: ``index + 2`` (the header is line 1),
    unless :func:`read_table` kept other lines in ``frame.attrs`` (a quoted cell spanning
    lines before it, blank lines before the header). Blank lines count as rows.
    """
    if source.lower().endswith((".csv", ".tsv", ".txt")):
        lines = frame.attrs.get(ROW_LINES) if frame is not None else None
        line = int(lines[index]) if lines is not None else index + 2
        return f"{source}, row {index + 1} (line {line})"
    return f"{source}, row {index + 1}"


def refuse_case_twin(frame: pd.DataFrame, column: str, source: str, option: str) -> None:
    """Refuse a table whose optional column ``column`` is absent but typed in another case.

    An absent optional column changes the answer without a word: no group or bucket column is
    one curve for every row (a table with ``Group`` where ``group`` is read pools its curves),
    no ``chance`` column a floor from the benchmark's name.
    """
    if column in frame.columns:
        return
    twins = [str(c) for c in frame.columns if str(c).strip().casefold() == column.casefold()]
    if twins:
        raise InputError(
            f"{source}: no column '{column}', but a column '{twins[0]}', which would be "
            f"ignored. Pass {option} '{twins[0]}' (or rename the column)."
        )


#: Parts of column names that hold a quantity under another name (``FLOPs`` or
#: ``train_compute`` for compute, ``val_loss`` for loss, ``n_params`` for params), for the
#: hint of a missing column; any other column is looked for by its own name.
COLUMN_STEMS = {
    "compute": ("flop", "compute"),
    "params": ("param",),
    "tokens": ("token",),
    "pass_rate": ("pass",),
    "accuracy": ("acc",),
}


def named_like(column: str, columns: Iterable[object], option: str) -> str:
    """A hint naming the columns that hold ``column`` under another name, or ``""``.

    A column whose name contains a stem of ``column`` (:data:`COLUMN_STEMS`, else the name
    itself), as ``FLOPs`` for ``compute`` and ``val_loss`` for ``loss``, compared without case.

    Examples
    --------
    >>> named_like("compute", ["params", "FLOPs", "loss"], "--compute-col")
    " The table has 'FLOPs': if it holds compute, pass --compute-col 'FLOPs'."
    >>> named_like("loss", ["compute", "acc"], "--loss-col")
    ''
    """
    stems = COLUMN_STEMS.get(column, (column.casefold(),))
    if len(column) < 3 and column not in COLUMN_STEMS:  # 'n', 'k': whole words only
        words = [re.split(r"[^0-9a-z]+", str(c).casefold()) for c in columns]
        like = [str(c) for c, w in zip(columns, words, strict=True) if column.casefold() in w]
    else:
        like = [str(c) for c in columns if any(s in str(c).casefold() for s in stems)]
    like = [c for c in like if c != column]
    if not like:
        return ""
    named = " or ".join(f"'{c}'" for c in like[:3])
    return f" The table has {named}: if it holds {column}, pass {option} '{like[0]}'."


def spelling_twin_hint(label: str, labels: Iterable[str], what: str) -> str:
    """A hint when ``label`` is another label typed differently (``Web``, ``web ``), or ``""``.

    Labels are compared as :func:`label_key` compares them (``--family`` and ``--require``
    scopes): such a twin is most often one group, bucket or benchmark typed two ways, each
    then too small to fit.

    Examples
    --------
    >>> spelling_twin_hint("Web", ["web", "code", "Web"], "group")[:50]
    " 'Web' and 'web' differ only in case, spaces, dash"
    """
    twins = [other for other in labels if other != label and label_key(other) == label_key(label)]
    if not twins:
        return ""
    return (
        f" '{shown_label(label)}' and '{shown_label(twins[0])}' differ only in case, spaces, "
        "dashes or underscores: one "
        f"{what} typed two ways? Spell it one way."
    )


def require_column(frame: pd.DataFrame, column: str, source: str, option: str) -> None:
    """Raise an :class:`InputError` naming the missing column and the columns present."""
    if column not in frame.columns:
        present = ", ".join(map(str, frame.columns))
        hint = did_you_mean(column, map(str, frame.columns)) or named_like(
            column, frame.columns, option
        )
        if all(_number(c) is not None for c in frame.columns):
            text = source.lower().endswith((".csv", ".tsv", ".txt", ".gz", ".bz2", ".xz"))
            hint += (
                " The column names are numbers: the table has no header line (its first row "
                "was read as one). Add a first line that names the columns."
                if text
                else " The column names are numbers: name the table's columns."
            )
        sizes = [(n, d) for n, d in SIZE_COLUMNS if {n, d} <= set(frame.columns)]
        if option == "--compute-col" and sizes:
            n, d = sizes[0]
            hint += (
                f" The table has '{n}' and '{d}': add training compute in FLOPs as a column "
                f"'{column}' = 6 * {n} * {d} (the usual estimate for a dense transformer)."
            )
        raise InputError(
            f"{source}: missing column '{column}'.{hint} Columns present: {present}. "
            f"Rename the column or pass {option} NAME."
        )


def refuse_shared_columns(roles: dict[str, str | None], source: str) -> None:
    """Refuse one column named for two quantities (``{"--params-col": "tokens", ...}``).

    ``roles`` maps each option to the column it names (``None``: not used). Read twice, the
    column would be fitted as two quantities (N = D on every run, a loss equal to N).
    """
    seen: dict[str, str] = {}
    for option, column in roles.items():
        if column is None:
            continue
        if column in seen:
            raise InputError(
                f"{source}: column '{column}' is named by both {seen[column]} and {option}; "
                "each quantity needs its own column. Check the column options (or "
                "[data.columns] in a spec)."
            )
        seen[column] = option


def numeric_column(
    frame: pd.DataFrame, column: str, source: str, *, positive: bool = True
) -> np.ndarray:
    """Return a column as finite float64, or raise naming the first bad row.

    Parameters
    ----------
    frame, column, source
        The table, the column to read and the source label for messages.
    positive
        Also require every value to be > 0.
    """
    raw = frame[column]
    values = np.empty(len(raw), dtype=float)
    for pos, (i, orig) in enumerate(zip(frame.index, raw.tolist(), strict=True)):
        where = f"{row_label(source, int(i), frame)}, column '{column}'"
        if _is_missing(orig):
            raise InputError(f"{where}: value is missing. Expected a number.")
        val = _number(orig)
        if val is None:
            again = (
                " The row repeats the header (two tables joined?): delete it."
                if str(orig).strip() == column
                else _number_hint(orig)
            )
            raise InputError(f"{where}: '{orig}' is not a number.{again}")
        if not np.isfinite(val):
            text = str(orig)
            shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
            raise InputError(f"{where}: {shown} is not finite. Expected a finite number.")
        if positive and val <= 0:
            raise InputError(f"{where}: {orig} must be > 0.")
        values[pos] = val
    return values


def _is_missing(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in MISSING_TEXT
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _number_hint(value: object) -> str:
    """How to write a cell that is almost a number (``45%``, ``1,000``, ``−3``), else ``""``."""
    text = str(value).strip()
    percent = _number(text[:-1]) if text.endswith("%") else None
    if percent is not None:
        return f" Write percentages as fractions ({percent / 100:g}), without '%'."
    if "," in text and _number(text.replace(",", "")) is not None:
        plain = text.replace(",", "")
        if text.count(",") == 1:  # 3,2 may be a decimal comma
            plain += f" or {text.replace(',', '.')}"
        return f" Write numbers without thousands separators, with a decimal point ({plain})."
    if "_" in text and _number(text.replace("_", "")) is not None:
        return f" Write numbers without separators ({text.replace('_', '')})."
    if text[:1] in "\u2212\u2013\u2014" and _number("-" + text[1:]) is not None:
        return f" Use the ASCII minus sign '-' ({'-' + text[1:]})."
    if text.lower().startswith(("0x", "-0x")):
        return " Hexadecimal is not read; write the number in decimal (e.g. 1e21)."
    short = re.fullmatch(r"([0-9.eE+\-]+)\s*([kKMBGT])", text)
    scale = _SCALE.get(short.group(2)) if short else None
    if short and scale is not None and _number(short.group(1)) is not None:
        value = float(short.group(1)) * scale
        return f" Write {text} as a plain number ({value:g}: {short.group(2)} = {scale:g})."
    unit = re.fullmatch(r"([0-9.eE+\-]+)\s+([^\W\d][\w\-/ ]*)", text)
    if unit and _number(unit.group(1)) is not None:
        return (
            f" Write a plain number, without the unit '{unit.group(2)}': compute in FLOPs "
            "(convert other units), sizes and tokens as counts."
        )
    return ""


#: Suffixes of sizes as model cards write them (7B, 1.4T): the factor of each.
_SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


def _number(value: object) -> float | None:
    """A cell as a float (text parsed exactly as Python does), or None when it is not one."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, str):
        text = value.strip()
        if "_" in text:  # float() would take 1_000; a table should not
            return None
        try:
            return float(text)
        except ValueError:
            return None
    if isinstance(value, int | float | np.integer | np.floating | Decimal | Fraction):
        try:
            return float(value)
        except OverflowError:  # a Python int beyond float64, as float('1' + '0' * 400) reads
            return np.inf if value > 0 else -np.inf
        except ValueError:  # Decimal('sNaN')
            return None
    return None


#: Losses are nats or bits per token (or a perplexity): anything outside this range is a unit
#: or parsing mistake, and its powers would overflow float64 in forecasts and plots.
LOSS_RANGE = (1e-12, 1e12)
#: Compute in FLOPs (or any unit the user keeps consistent): beyond these edges the law's
#: powers leave float64.
COMPUTE_RANGE = (1e-30, 1e60)


def check_range(
    values: np.ndarray,
    frame: pd.DataFrame,
    column: str,
    source: str,
    bounds: tuple[float, float],
    what: str,
) -> None:
    """Refuse the first value outside ``bounds`` (inclusive), naming its row and column."""
    low, high = bounds
    refuse_first(
        (values < low) | (values > high),
        values,
        frame,
        column,
        source,
        f"is outside the range bayescale accepts for {what} ({low:g} to {high:g}); check the "
        "unit, or rescale the column.",
    )


def refuse_first(
    bad: np.ndarray, values: np.ndarray, frame: pd.DataFrame, column: str, source: str, what: str
) -> None:
    """Refuse the first row where ``bad`` holds: "<row>, column '<column>': <value> <what>"."""
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{row_label(source, int(frame.index[i]), frame)}, column '{column}': "
            f"{values[i]:g} {what}"
        )


def run_names(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Run names from ``column``, else ``"row N"`` (the data row, counted from 1)."""
    if column in frame.columns:
        return np.array([str(v) for v in frame[column].tolist()], dtype=object)
    return np.array([f"row {int(i) + 1}" for i in frame.index], dtype=object)


def fit_bound(fit_max_compute: Any) -> float | None:
    """``fit_max_compute`` as a positive finite float (``"3e19"`` too), or ``None``."""
    if fit_max_compute is None:
        return None
    try:
        bound = float(fit_max_compute)
    except (TypeError, ValueError):
        bound = float("nan")
    if not (np.isfinite(bound) and bound > 0):
        raise InputError(
            f"--fit-max-compute must be > 0 (a number of FLOPs such as 3e19), got "
            f"{fit_max_compute!r}."
        )
    return bound


def held_out_mask(compute: np.ndarray, fit_max_compute: Any) -> np.ndarray:
    """True for runs above ``fit_max_compute`` (none without it); refuses a bound <= 0."""
    bound = fit_bound(fit_max_compute)
    if bound is None:
        return np.zeros(len(compute), bool)
    return compute > bound


def read_group_labels(frame: pd.DataFrame, spec: str, default: str, label: str) -> np.ndarray:
    """One group label per row, from the group option ``spec`` (loss and L(N, D) tables).

    ``spec`` names one column or several joined by commas (``"dataset,mult"``: labels
    ``c4/1``); a renamed group column (``spec`` other than ``default``) must exist, and without
    it every row is in :data:`DEFAULT_GROUP`. A missing label is refused with its row.
    """
    columns = group_columns(spec)
    for col in columns:
        if spec != default:
            require_column(frame, col, label, "--group-col")
        refuse_case_twin(frame, col, label, "--group-col")
    if not all(col in frame.columns for col in columns):
        return np.full(len(frame), DEFAULT_GROUP, dtype=object)
    for col in columns:
        for i, value in zip(frame.index, frame[col].tolist(), strict=True):
            if pd.isna(value) or not str(value).strip():
                raise InputError(
                    f"{row_label(label, int(i), frame)}, column '{col}': group label is missing."
                )
    return np.array(group_labels(frame, columns).tolist(), dtype=object)


def load_loss_runs(
    source: str | Path | pd.DataFrame,
    columns: LossColumns | None = None,
    fit_max_compute: float | None = None,
    label: str | None = None,
    *,
    where: str | None = None,
    drop_missing: bool = False,
) -> LossData:
    """Read and validate a table of loss runs (docs/formats.md).

    Parameters
    ----------
    source
        CSV or Parquet path, or a DataFrame.
    columns
        Column names; defaults ``compute``, ``loss``, ``group``, ``name``. The group and name
        columns are optional; ``group="a,b"`` joins several columns into one label
        (``"x/y"``); ``loss_sd`` names per-run standard errors of the loss, or two columns
        ``"lo,hi"`` of a central 95% interval (standard error ``(hi - lo) / 3.92``).
    fit_max_compute
        Fit only on runs with compute <= this value; the others are held out.
    label
        Name of a DataFrame source in messages and reports.
    where
        Keep only the rows this expression selects, e.g. ``"multiplier == 1"``
        (:mod:`bayescale.selection`).
    drop_missing
        Drop rows missing a value the forecast reads, instead of refusing them.

    Returns
    -------
    LossData

    Raises
    ------
    InputError
        On a missing column, a missing, non-numeric or non-positive value, or a group with
        fewer than three distinct fitted compute values.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"compute": [1e18, 1e19, 1e20], "loss": [3.2, 2.9, 2.7]})
    >>> load_loss_runs(runs).groups
    ('all',)
    """
    columns = columns or LossColumns()
    frame, label = read_table(source, label)
    group_cols = group_columns(columns.group)
    sd_cols = group_columns(columns.loss_sd, "--loss-sd-col") if columns.loss_sd else ()
    used = [columns.compute, columns.loss, *group_cols, *sd_cols]
    frame = select_rows(frame, label, used, where=where, drop_missing=drop_missing)
    refuse_shared_columns({"--compute-col": columns.compute, "--loss-col": columns.loss}, label)
    _suggest_compute(frame, columns.compute, label)
    require_column(frame, columns.compute, label, "--compute-col")
    if columns.loss not in frame.columns:
        _suggest_pass(frame, label)
    require_column(frame, columns.loss, label, "--loss-col")
    compute = numeric_column(frame, columns.compute, label)
    loss = numeric_column(frame, columns.loss, label)
    check_range(compute, frame, columns.compute, label, COMPUTE_RANGE, "compute")
    check_range(loss, frame, columns.loss, label, LOSS_RANGE, "a loss")
    loss_sd = None
    if columns.loss_sd is not None:
        loss_sd = _loss_sd(frame, columns.loss_sd, label)

    group = read_group_labels(frame, columns.group, LossColumns.group, label)

    if columns.name != LossColumns.name:  # a renamed name column must exist
        require_column(frame, columns.name, label, "--name-col")
    name = run_names(frame, columns.name)
    fit_max_compute = fit_bound(fit_max_compute)
    held_out = held_out_mask(compute, fit_max_compute)
    groups = tuple(dict.fromkeys(group.tolist()))
    for g in groups:
        in_group = (group == g) & ~held_out
        distinct = np.unique(compute[in_group]).size
        if distinct < MIN_COMPUTES_PER_GROUP:
            where = f"group '{g}'" if len(groups) > 1 else "the table"
            cut = f" with compute <= {fit_max_compute:.3g}" if fit_max_compute else ""
            drop = spelling_twin_hint(str(g), map(str, groups), "group")
            if (
                not drop
                and len(groups) > 1
                and len(group_cols) == 1
                and group_cols[0].isidentifier()
            ):
                drop = (
                    f" To forecast the other groups, leave it out with "
                    f'--where "{group_cols[0]} != {g!r}" (in a spec: [data] where).'
                )
            raise InputError(
                f"{label}: {where} has {distinct} distinct compute value(s){cut}; the loss law "
                f"L(C) = a*C^b + c has 3 parameters, so each group needs runs at >= "
                f"{MIN_COMPUTES_PER_GROUP} different computes.{drop}"
            )
    return LossData(
        compute=compute,
        loss=loss,
        group=group,
        groups=groups,
        name=name,
        held_out=held_out,
        source=label,
        fit_max_compute=fit_max_compute,
        columns=columns,
        loss_sd=loss_sd,
    )


#: Column names of model size and training tokens, for the hint of a table without compute.
SIZE_COLUMNS = (("params", "tokens"), ("N", "D"), ("n_params", "n_tokens"))


def _suggest_compute(frame: pd.DataFrame, column: str, label: str) -> None:
    """Refuse a table of sizes and tokens without compute, saying how to get compute."""
    if column in frame.columns:
        return
    for n, d in SIZE_COLUMNS:
        if n in frame.columns and d in frame.columns:
            both_vary = frame[n].nunique() > 1 and frame[d].nunique() > 1
            nd = (
                f"; to fit the loss in parameters and tokens instead, use 'bayescale nd {label}'"
                if both_vary
                else ""
            )
            like = named_like(column, frame.columns, "--compute-col")
            raise InputError(
                f"{label}: missing column '{column}'.{like} The table has '{n}' and '{d}': add "
                f"training compute in FLOPs as a column '{column}' = 6 * {n} * {d} (the usual "
                f"estimate for a dense transformer) and run again, or name another compute "
                f"column with --compute-col NAME{nd}."
            )


#: Columns that mark a pass-results table (docs/formats.md), for the hint of ``bayescale loss``.
PASS_MARKERS = ("pass_rate", "problem", "k", "n")


def _suggest_pass(frame: pd.DataFrame, label: str) -> None:
    """Refuse a pass-results table given to the loss command, pointing to ``bayescale pass``."""
    if sum(c in frame.columns for c in PASS_MARKERS) >= 1 and "model" in frame.columns:
        raise InputError(
            f"{label}: this looks like a table of pass results (columns "
            f"{', '.join(map(str, frame.columns))}), not of loss runs. Forecast pass rates with "
            f"'bayescale pass {label} --target-compute C' (Python: bayescale.run_pass), or name "
            "the loss column with --loss-col NAME."
        )


def _data_summary(data: LossData) -> tuple[str, list[tuple[str, str]]]:
    fitted = data.fitted
    rows = [
        ("source", data.source),
        (
            "runs",
            f"{len(data.compute)} ({int(fitted.sum())} fitted, {int(data.held_out.sum())} "
            "held out)",
        ),
        ("groups", ", ".join(data.groups)),
        ("compute", f"{data.compute.min():.3g} to {data.compute.max():.3g} FLOPs"),
        ("loss", f"{data.loss.min():.4g} to {data.loss.max():.4g}"),
    ]
    if data.loss_sd is not None:
        rows.append(("loss sd", "per run, from column " + str(data.columns.loss_sd)))
    return "LossData", rows


#: Width of a central 95% normal interval in standard deviations (``--loss-sd-col lo,hi``).
WIDTH_95 = 2 * 1.959963984540054


def _loss_sd(frame: pd.DataFrame, spec: str, label: str) -> np.ndarray:
    """Per-run standard errors: one column of them, or ``lo,hi`` columns of a 95% interval."""
    cols = group_columns(spec, "--loss-sd-col")
    if len(cols) not in (1, 2):
        raise InputError(
            f"--loss-sd-col '{spec}': give one column of standard errors or two columns "
            "'lo,hi' of a central 95% interval."
        )
    for col in cols:
        require_column(frame, col, label, "--loss-sd-col")
    values = [numeric_column(frame, col, label, positive=False) for col in cols]
    sd = values[0] if len(cols) == 1 else (values[1] - values[0]) / WIDTH_95
    bad = np.flatnonzero(sd < 0)
    if bad.size:
        what = "a standard error" if len(cols) == 1 else f"'{cols[1]}' - '{cols[0]}'"
        raise InputError(
            f"{row_label(label, int(frame.index[bad[0]]), frame)}, column '{cols[-1]}': "
            f"{what} must be >= 0."
        )
    return sd

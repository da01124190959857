"""Input tables to validated datasets.

Reads CSV or Parquet files (or takes a pandas DataFrame), maps the user's column names, and
refuses bad input with an :class:`~bayescale.errors.InputError` that names the source, the row
and the column. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.display import html_summary, text_summary
from bayescale.errors import InputError, did_you_mean
from bayescale.selection import group_columns, group_labels, select_rows

#: Distinct compute values a group needs: the loss law has three parameters (a, b, c).
MIN_COMPUTES_PER_GROUP = 3

#: Label used for the single curve when the table has no group column.
DEFAULT_GROUP = "all"


@dataclass(frozen=True)
class LossColumns:
    """Names of the columns of a loss-runs table (CONTRACT §2 defaults)."""

    compute: str = "compute"
    loss: str = "loss"
    group: str = "group"
    name: str = "name"
    loss_sd: str | None = None


@dataclass(frozen=True)
class LossData:
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

    @property
    def group_index(self) -> np.ndarray:
        """Integer position of each run's group in :attr:`groups`."""
        lookup = {g: i for i, g in enumerate(self.groups)}
        return np.array([lookup[g] for g in self.group], dtype=np.int64)

    @property
    def fitted(self) -> np.ndarray:
        """Boolean mask of the runs the model is fitted on."""
        return ~self.held_out

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
    source: str | Path | pd.DataFrame, label: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Read a CSV or Parquet file, or pass a DataFrame through.

    Parameters
    ----------
    source
        Path to a ``.csv`` or ``.parquet`` file, or a DataFrame.
    label
        How messages and reports name a DataFrame (default ``<DataFrame>``).

    Returns
    -------
    The table and a label naming its source for messages.

    Raises
    ------
    InputError
        When the file is missing, unreadable, of an unknown type, or has no rows.
    """
    if isinstance(source, pd.DataFrame):
        label = label or "<DataFrame>"
        frame = source.reset_index(drop=True)
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise InputError(f"{label}: file not found. Expected a CSV or Parquet file.")
        suffix = path.suffix.lower()
        try:
            if suffix in {".parquet", ".pq"}:
                frame = pd.read_parquet(path)
            elif suffix in {".csv", ".txt", ".tsv"}:
                # Keep blank lines while reading so that the index is the file's line
                # number minus 2 (header on line 1), then drop them.
                frame = pd.read_csv(
                    path, sep="\t" if suffix == ".tsv" else ",", skip_blank_lines=False
                ).dropna(how="all")
            else:
                raise InputError(
                    f"{label}: unknown file type '{suffix}'. Expected .csv or .parquet."
                )
        except pd.errors.EmptyDataError:
            raise InputError(f"{label}: the file is empty. Expected a header and rows.") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{label}: cannot be read as {suffix[1:]}: {exc}") from None
    if frame.empty:
        raise InputError(f"{label}: the table has no rows. Expected one row per training run.")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, label


def row_label(source: str, index: int) -> str:
    """Describe a data row by its 0-based position, counting blank lines in CSV files.

    For CSV files the line number is given too (the header is line 1).
    """
    if source.lower().endswith((".csv", ".tsv", ".txt")):
        return f"{source}, row {index + 1} (line {index + 2})"
    return f"{source}, row {index + 1}"


def require_column(frame: pd.DataFrame, column: str, source: str, option: str) -> None:
    """Raise an :class:`InputError` naming the missing column and the columns present."""
    if column not in frame.columns:
        present = ", ".join(map(str, frame.columns))
        hint = did_you_mean(column, map(str, frame.columns))
        raise InputError(
            f"{source}: missing column '{column}'.{hint} Columns present: {present}. "
            f"Rename the column or pass {option} NAME."
        )


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
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    for i, orig, val in zip(frame.index, raw.tolist(), values, strict=True):
        where = f"{row_label(source, int(i))}, column '{column}'"
        if pd.isna(orig) or (isinstance(orig, str) and not orig.strip()):
            raise InputError(f"{where}: value is missing. Expected a number.")
        if np.isnan(val):
            raise InputError(f"{where}: '{orig}' is not a number.")
        if not np.isfinite(val):
            raise InputError(f"{where}: {orig} is not finite. Expected a finite number.")
        if positive and val <= 0:
            raise InputError(f"{where}: {orig} must be > 0.")
    return values


def load_loss_runs(
    source: str | Path | pd.DataFrame,
    columns: LossColumns | None = None,
    fit_max_compute: float | None = None,
    label: str | None = None,
    *,
    where: str | None = None,
    drop_missing: bool = False,
) -> LossData:
    """Read and validate a table of loss runs (CONTRACT §2).

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
    sd_cols = group_columns(columns.loss_sd) if columns.loss_sd else ()
    used = [columns.compute, columns.loss, *group_cols, *sd_cols]
    frame = select_rows(frame, label, used, where=where, drop_missing=drop_missing)
    require_column(frame, columns.compute, label, "--compute-col")
    if columns.loss not in frame.columns:
        _suggest_pass(frame, label)
    require_column(frame, columns.loss, label, "--loss-col")
    compute = numeric_column(frame, columns.compute, label)
    loss = numeric_column(frame, columns.loss, label)
    loss_sd = None
    if columns.loss_sd is not None:
        loss_sd = _loss_sd(frame, columns.loss_sd, label)

    if columns.group != LossColumns.group:  # a renamed group column must exist
        for col in group_cols:
            require_column(frame, col, label, "--group-col")
    if all(col in frame.columns for col in group_cols):
        for col in group_cols:
            for i, value in zip(frame.index, frame[col].tolist(), strict=True):
                if pd.isna(value) or not str(value).strip():
                    raise InputError(
                        f"{row_label(label, int(i))}, column '{col}': group label is missing."
                    )
        group = np.array(group_labels(frame, group_cols).tolist(), dtype=object)
    else:
        group = np.full(len(frame), DEFAULT_GROUP, dtype=object)

    if columns.name in frame.columns:
        name = np.array([str(v) for v in frame[columns.name].tolist()], dtype=object)
    else:
        name = np.array([f"row {int(i) + 1}" for i in frame.index], dtype=object)

    if fit_max_compute is not None and not fit_max_compute > 0:
        raise InputError(f"--fit-max-compute must be > 0, got {fit_max_compute}.")
    held_out = (
        compute > fit_max_compute if fit_max_compute is not None else np.zeros(len(frame), bool)
    )
    groups = tuple(dict.fromkeys(group.tolist()))
    for g in groups:
        in_group = (group == g) & ~held_out
        distinct = np.unique(compute[in_group]).size
        if distinct < MIN_COMPUTES_PER_GROUP:
            where = f"group '{g}'" if len(groups) > 1 else "the table"
            cut = f" with compute <= {fit_max_compute:.3g}" if fit_max_compute else ""
            raise InputError(
                f"{label}: {where} has {distinct} distinct compute value(s){cut}; the loss law "
                f"L(C) = a*C^b + c has 3 parameters, so each group needs runs at >= "
                f"{MIN_COMPUTES_PER_GROUP} different computes."
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


#: Columns that mark a pass-results table (CONTRACT §2), for the hint of ``bayescale loss``.
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
    cols = group_columns(spec)
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
            f"{row_label(label, int(frame.index[bad[0]]))}, column '{cols[-1]}': {what} must "
            "be >= 0."
        )
    return sd

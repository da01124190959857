"""Pass-rate tables to validated datasets (docs/formats.md).

Two formats, told apart by their columns:

- **per problem**: ``model``, ``compute``, ``problem``, ``n`` (samples drawn), ``k`` (samples
  that passed): one row per (model, problem);
- **aggregate**: ``model``, ``compute``, ``pass_rate`` (0 < p <= 1) and optionally ``bucket``
  and ``n_problems``: one row per (model[, bucket]).

Every refusal names the source, the row and the column. Nothing here imports PyMC.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.data import (
    COMPUTE_RANGE,
    check_range,
    fit_bound,
    numeric_column,
    read_table,
    refuse_case_twin,
    require_column,
    row_label,
    spelling_twin_hint,
)
from bayescale.display import Summarised
from bayescale.errors import InputError
from bayescale.selection import select_rows

log = logging.getLogger("bayescale")

#: A pass-rate column whose name matches this (``pass_at_1_pct``, ``Percent``, ``pass@1 (%)``,
#: not ``percentile_50``) is named as percentages.
PERCENT_NAME = re.compile(r"pct|percent(?!ile)|%", re.IGNORECASE)

#: Distinct fitted models the pass law needs (two parameters per bucket plus scatter).
MIN_MODELS = 3

#: Counts from 2^53 on are not exact in float64 (and overflow int64 from 2^63).
MAX_COUNT = 2.0**53


@dataclass(frozen=True)
class PassColumns:
    """Names of the columns of a pass-results table (docs/formats.md defaults)."""

    model: str = "model"
    compute: str = "compute"
    problem: str = "problem"
    n: str = "n"
    k: str = "k"
    pass_rate: str = "pass_rate"
    bucket: str = "bucket"
    n_problems: str = "n_problems"


@dataclass(frozen=True)
class ModelTable:
    """The models of a pass table, smallest compute first; ``held_out`` above the cut."""

    names: tuple[str, ...]
    compute: np.ndarray
    held_out: np.ndarray

    @property
    def fitted(self) -> np.ndarray:
        """Mask of the models the law is fitted on."""
        return ~self.held_out


@dataclass(frozen=True, repr=False)
class PassCounts(Summarised):
    """Validated per-problem counts.

    Attributes
    ----------
    models
        The models (names, compute in FLOPs, held-out mask), ordered by compute.
    problems
        Problem labels in order of first appearance.
    n, k
        Samples drawn and passed, shape ``(model, problem)``; ``n == 0`` marks a missing pair.
    """

    models: ModelTable
    problems: tuple[str, ...]
    n: np.ndarray
    k: np.ndarray
    source: str = "<DataFrame>"
    fit_max_compute: float | None = None
    columns: PassColumns = field(default_factory=PassColumns)

    @property
    def observed(self) -> np.ndarray:
        """Mask of (model, problem) pairs that have data."""
        return self.n > 0

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        return "PassCounts", [
            ("source", self.source),
            *_model_rows(self.models),
            (
                "problems",
                f"{len(self.problems)}; {int(self.n.sum())} samples, {int(self.k.sum())} passed",
            ),
        ]


@dataclass(frozen=True, repr=False)
class PassAggregate(Summarised):
    """Validated aggregate pass rates, one row per (model, bucket).

    Attributes
    ----------
    models
        The models, ordered by compute.
    buckets
        Bucket labels (``("all",)`` without a bucket column).
    pass_rate
        Shape ``(model, bucket)``; NaN where a model has no row for a bucket.
    n_problems
        Problems per bucket when the table gives them, else ``None``.
    """

    models: ModelTable
    buckets: tuple[str, ...]
    pass_rate: np.ndarray
    n_problems: tuple[int | None, ...]
    source: str = "<DataFrame>"
    fit_max_compute: float | None = None
    columns: PassColumns = field(default_factory=PassColumns)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        sizes = [
            f"{b} ({n} problems)" if n else b
            for b, n in zip(self.buckets, self.n_problems, strict=True)
        ]
        return "PassAggregate", [
            ("source", self.source),
            *_model_rows(self.models),
            ("buckets", ", ".join(sizes)),
        ]


def _model_rows(models: ModelTable) -> list[tuple[str, str]]:
    fitted = models.fitted
    held = [n for n, h in zip(models.names, models.held_out, strict=True) if h]
    return [
        (
            "models",
            f"{len(models.names)} ({int(fitted.sum())} fitted"
            + (f"; held out: {', '.join(held)})" if held else ")"),
        ),
        ("compute", f"{models.compute.min():.3g} to {models.compute.max():.3g} FLOPs"),
    ]


def is_aggregate(frame: pd.DataFrame, columns: PassColumns) -> bool:
    """True when the table has a pass-rate column and no per-problem count columns."""
    return columns.pass_rate in frame.columns and not (
        columns.k in frame.columns and columns.n in frame.columns
    )


def _labels(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    for i, value in zip(frame.index, frame[column].tolist(), strict=True):
        if pd.isna(value) or not str(value).strip():
            raise InputError(
                f"{row_label(source, int(i), frame)}, column '{column}': label is missing."
            )
    return np.array([str(v).strip() for v in frame[column].tolist()], dtype=object)


def _models(
    frame: pd.DataFrame,
    model: np.ndarray,
    compute: np.ndarray,
    columns: PassColumns,
    source: str,
    fit_max_compute: float | None,
) -> ModelTable:
    first: dict[str, tuple[float, int]] = {}
    for i, name, c in zip(frame.index, model, compute, strict=True):
        if name in first and first[name][0] != c:
            raise InputError(
                f"{row_label(source, int(i), frame)}, column '{columns.compute}': model "
                f"'{name}' has compute {c:g} here but {first[name][0]:g} in row "
                f"{first[name][1] + 1}; a model has one training compute."
            )
        first.setdefault(name, (float(c), int(i)))
    names = sorted(first, key=lambda m: first[m][0])
    values = np.array([first[m][0] for m in names])
    fit_max_compute = fit_bound(fit_max_compute)
    held = values > fit_max_compute if fit_max_compute is not None else np.zeros(len(names), bool)
    fitted = int((~held).sum())
    if fitted < MIN_MODELS:
        cut = f" with compute <= {fit_max_compute:.3g}" if fit_max_compute else ""
        raise InputError(
            f"{source}: {fitted} model(s){cut}; the pass-rate law needs at least {MIN_MODELS} "
            "models of different compute to fit."
        )
    if np.unique(values[~held]).size < MIN_MODELS:
        raise InputError(
            f"{source}: the fitted models span only {np.unique(values[~held]).size} distinct "
            f"compute value(s); at least {MIN_MODELS} are needed."
        )
    return ModelTable(names=tuple(names), compute=values, held_out=held)


def load_pass_counts(
    source: str | Path | pd.DataFrame,
    columns: PassColumns | None = None,
    fit_max_compute: float | None = None,
    *,
    where: str | None = None,
    drop_missing: bool = False,
) -> PassCounts:
    """Read and validate per-problem pass counts.

    Raises
    ------
    InputError
        On a missing column, bad number, ``k > n``, negative counts, a duplicate
        (model, problem), a model with two computes, or fewer than three models.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [(m, c, p, 10, k) for m, c in [("s", 1e20), ("m", 1e21), ("l", 1e22)]
    ...         for p, k in [("p1", 2), ("p2", 0)]]
    >>> table = pd.DataFrame(rows, columns=["model", "compute", "problem", "n", "k"])
    >>> load_pass_counts(table).k.tolist()
    [[2, 0], [2, 0], [2, 0]]
    """
    columns = columns or PassColumns()
    frame, label = read_table(source)
    used = [columns.model, columns.compute, columns.problem, columns.n, columns.k]
    frame = select_rows(frame, label, used, where=where, drop_missing=drop_missing)
    for col, option in [
        (columns.model, "--model-col"),
        (columns.compute, "--compute-col"),
        (columns.problem, "--problem-col"),
        (columns.n, "--n-col"),
        (columns.k, "--k-col"),
    ]:
        require_column(frame, col, label, option)
    model = _labels(frame, columns.model, label)
    problem = _labels(frame, columns.problem, label)
    compute = numeric_column(frame, columns.compute, label)
    check_range(compute, frame, columns.compute, label, COMPUTE_RANGE, "compute")
    n = numeric_column(frame, columns.n, label, positive=False)
    k = numeric_column(frame, columns.k, label, positive=False)
    for i, ni, ki in zip(frame.index, n, k, strict=True):
        where = row_label(label, int(i), frame)
        if ni >= MAX_COUNT or ki >= MAX_COUNT:
            column = columns.n if ni >= MAX_COUNT else columns.k
            raise InputError(
                f"{where}, column '{column}': {max(ni, ki):g} samples is beyond any evaluation; "
                f"counts must be below 2^53 ({MAX_COUNT:.3g}) to be exact."
            )
        if ni < 1 or ni != int(ni):
            raise InputError(f"{where}, column '{columns.n}': {ni:g} must be a whole number >= 1.")
        if ki < 0 or ki != int(ki):
            rate = (
                f" It looks like a pass rate: '{columns.k}' counts the passing samples "
                f"({ki:g} x {ni:g} = {ki * ni:g} here, if that is what it means); a table of "
                f"rates has a '{columns.pass_rate}' column instead of '{columns.n}' and "
                f"'{columns.k}'."
                if 0 < ki < 1
                else ""
            )
            raise InputError(
                f"{where}, column '{columns.k}': {ki:g} must be a whole number >= 0.{rate}"
            )
        if ki > ni:
            raise InputError(
                f"{where}, column '{columns.k}': {int(ki)} passes out of {int(ni)} samples; "
                f"k must be <= n (column '{columns.n}')."
            )
    pairs = pd.Series(list(zip(model, problem, strict=True)), index=frame.index)
    dup = pairs.duplicated()
    if dup.any():
        pos = int(dup.to_numpy().argmax())
        m, p = pairs.iloc[pos]
        raise InputError(
            f"{row_label(label, int(frame.index[pos]), frame)}: model '{m}' and problem '{p}' "
            "appear twice; one row per (model, problem) is expected (sum the counts first)."
        )
    models = _models(frame, model, compute, columns, label, fit_max_compute)
    problems = tuple(dict.fromkeys(problem.tolist()))
    mi = {m: i for i, m in enumerate(models.names)}
    pi = {p: i for i, p in enumerate(problems)}
    n_arr = np.zeros((len(models.names), len(problems)), dtype=np.int64)
    k_arr = np.zeros_like(n_arr)
    rows = [mi[m] for m in model]
    cols = [pi[p] for p in problem]
    n_arr[rows, cols] = n.astype(np.int64)
    k_arr[rows, cols] = k.astype(np.int64)
    _refuse_flat_counts(n_arr[~models.held_out], k_arr[~models.held_out], columns, label)
    return PassCounts(
        models=models,
        problems=problems,
        n=n_arr,
        k=k_arr,
        source=label,
        fit_max_compute=fit_max_compute,
        columns=columns,
    )


def _refuse_flat_counts(n: np.ndarray, k: np.ndarray, columns: PassColumns, label: str) -> None:
    """Refuse counts where every fitted sample failed, or every one passed.

    Then no model differs from another: the table holds no trend in compute, and a forecast
    would be the priors' alone (an all-zero ``k`` is most often the wrong column).
    """
    if k.any() and (k < n).any():
        return
    what = "no sample passed" if not k.any() else "every sample passed"
    value = "0" if not k.any() else f"equal to column '{columns.n}'"
    raise InputError(
        f"{label}: {what}: column '{columns.k}' is {value} in every row of the fitted models, "
        f"so the table shows no change of the pass rate with compute and the law cannot be "
        f"fitted to it (a forecast would be the priors' alone). Check that '{columns.k}' counts "
        f"the passing samples of '{columns.n}' (--k-col, --n-col), or add models (or problems) "
        "where some samples pass and some fail."
    )


def load_pass_aggregate(
    source: str | Path | pd.DataFrame,
    columns: PassColumns | None = None,
    fit_max_compute: float | None = None,
    *,
    where: str | None = None,
    drop_missing: bool = False,
) -> PassAggregate:
    """Read and validate aggregate pass rates (one row per model and optional bucket).

    Raises
    ------
    InputError
        On a missing column, a pass rate outside (0, 1], a duplicate (model, bucket), a
        model with two computes, or fewer than three models.
    """
    columns = columns or PassColumns()
    frame, label = read_table(source)
    used = [columns.model, columns.compute, columns.pass_rate, columns.bucket]
    frame = select_rows(frame, label, used, where=where, drop_missing=drop_missing)
    for col, option in [
        (columns.model, "--model-col"),
        (columns.compute, "--compute-col"),
        (columns.pass_rate, "--pass-rate-col"),
    ]:
        require_column(frame, col, label, option)
    model = _labels(frame, columns.model, label)
    compute = numeric_column(frame, columns.compute, label)
    check_range(compute, frame, columns.compute, label, COMPUTE_RANGE, "compute")
    rate = numeric_column(frame, columns.pass_rate, label, positive=False)
    for i, r in zip(frame.index, rate, strict=True):
        if not 0 < r <= 1:
            raise InputError(
                f"{row_label(label, int(i), frame)}, column '{columns.pass_rate}': {r:g} must be "
                "in (0, 1]; a pass rate of 0 carries no information for this law (give per-problem "
                "counts instead), and percentages must be divided by 100."
            )
    _note_percent_name(columns.pass_rate, rate, label)
    if columns.bucket != PassColumns.bucket:  # a renamed bucket column must exist
        require_column(frame, columns.bucket, label, "--bucket-col")
    refuse_case_twin(frame, columns.bucket, label, "--bucket-col")
    if columns.bucket in frame.columns:
        bucket = _labels(frame, columns.bucket, label)
    else:
        bucket = np.full(len(frame), "all", dtype=object)
    keys = pd.Series(list(zip(model, bucket, strict=True)), index=frame.index)
    if keys.duplicated().any():
        pos = int(keys.duplicated().to_numpy().argmax())
        m, b = keys.iloc[pos]
        raise InputError(
            f"{row_label(label, int(frame.index[pos]), frame)}: model '{m}' appears twice"
            + (
                f" in bucket '{b}'; one row per (model, bucket) is expected."
                if columns.bucket in frame.columns
                else f"; the table has no bucket column '{columns.bucket}', so one row per model "
                "is expected. Name the column that tells its rows apart (a benchmark, a "
                "difficulty bucket) with --bucket-col COL."
            )
        )
    models = _models(frame, model, compute, columns, label, fit_max_compute)
    buckets = tuple(dict.fromkeys(bucket.tolist()))
    mi = {m: i for i, m in enumerate(models.names)}
    bi = {b: i for i, b in enumerate(buckets)}
    rates = np.full((len(models.names), len(buckets)), np.nan)
    rates[[mi[m] for m in model], [bi[b] for b in bucket]] = rate
    for b, name in enumerate(buckets):
        fitted = np.isfinite(rates[models.fitted, b]).sum()
        if fitted < MIN_MODELS:
            drop = spelling_twin_hint(str(name), map(str, buckets), "bucket")
            if not drop and len(buckets) > 1 and columns.bucket.isidentifier():
                drop = (
                    " To forecast the other buckets, leave it out with "
                    f'--where "{columns.bucket} != {name!r}" (in a spec: [data] where).'
                )
            raise InputError(
                f"{label}: bucket '{name}' has {fitted} fitted model(s); each bucket needs at "
                f"least {MIN_MODELS}.{drop}"
            )
    n_problems: list[int | None] = [None] * len(buckets)
    if columns.n_problems in frame.columns:
        counts = numeric_column(frame, columns.n_problems, label)
        for i, b, c in zip(frame.index, bucket, counts, strict=True):
            where = f"{row_label(label, int(i), frame)}, column '{columns.n_problems}'"
            if c != int(c):
                raise InputError(f"{where}: {c:g} must be a whole number of problems.")
            known = n_problems[bi[b]]
            if known is not None and known != int(c):
                raise InputError(
                    f"{where}: {int(c)} problems, but an earlier row of bucket '{b}' says "
                    f"{known}; a bucket has one problem count."
                )
            n_problems[bi[b]] = int(c)
    return PassAggregate(
        models=models,
        buckets=buckets,
        pass_rate=rates,
        n_problems=tuple(n_problems),
        source=label,
        fit_max_compute=fit_max_compute,
        columns=columns,
    )


def _note_percent_name(column: str, rate: np.ndarray, label: str) -> None:
    """Warn when the pass-rate column is named as percentages and its values read as fractions.

    Percentages above 1 are refused, but a table of percentages that are all <= 1 (a hard
    benchmark: 0.3 for 0.3%) reads as fractions (30%) with nothing in the numbers to tell; a
    column's name is the one sign.
    """
    if PERCENT_NAME.search(column):
        log.warning(
            "%s: column '%s' is named as percentages, but every value is <= 1 (largest %.3g), "
            "so they are read as fractions (0.3 = 30%%). If they are percentages (0.3 = 0.3%%), "
            "divide them by 100.",
            label,
            column,
            float(rate.max()),
        )


def load_pass_table(
    source: str | Path | pd.DataFrame,
    columns: PassColumns | None = None,
    fit_max_compute: float | None = None,
    *,
    where: str | None = None,
    drop_missing: bool = False,
) -> PassCounts | PassAggregate:
    """Read either pass format, told apart by its columns (docs/formats.md), and validate it.

    ``where`` and ``drop_missing`` select rows first (:func:`bayescale.selection.select_rows`).

    Returns
    -------
    PassCounts | PassAggregate
        Per-problem counts or an aggregate table of pass rates, validated (frozen).
    """
    columns = columns or PassColumns()
    frame, label = read_table(source)
    if is_aggregate(frame, columns):
        return load_pass_aggregate(
            source, columns, fit_max_compute, where=where, drop_missing=drop_missing
        )
    if "loss" in frame.columns and columns.problem not in frame.columns:
        raise InputError(
            f"{label}: this looks like a table of loss runs (columns "
            f"{', '.join(map(str, frame.columns))}), not of pass results. Forecast the loss with "
            f"'bayescale loss {label} --target-compute C' (Python: bayescale.run_loss); pass "
            "results need model, compute, problem, n, k or model, compute, pass_rate."
        )
    return load_pass_counts(
        source, columns, fit_max_compute, where=where, drop_missing=drop_missing
    )

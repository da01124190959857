"""Benchmark-accuracy tables, chance rates, the accuracy law and its priors (no PyMC).

The data half of :mod:`bayescale.accuracy`, which the PyMC model (:mod:`bayescale.accuracy_model`)
imports too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.data import (
    COMPUTE_RANGE,
    PASS_MARKERS,
    check_range,
    fit_bound,
    label_key,
    numeric_column,
    read_table,
    refuse_case_twin,
    refuse_first,
    refuse_shared_columns,
    require_column,
    row_label,
    shown_label,
)
from bayescale.display import Summarised
from bayescale.errors import InputError, did_you_mean
from bayescale.nd_data import FLOPS_PER_PARAM_TOKEN
from bayescale.selection import select_rows

log = logging.getLogger("bayescale")

#: Chance rates of named benchmarks, keyed by :func:`benchmark_key` (lower case, ``-`` and
#: spaces as ``_``). Each is 1 / the number of answer options of the benchmark's questions as
#: its paper defines them: MMLU 4 options (Hendrycks et al. 2021, "Measuring Massive Multitask
#: Language Understanding"); ARC-Challenge 4 options for nearly all questions (Clark et al.
#: 2018; a few have 3 or 5); HellaSwag 4 endings (Zellers et al. 2019); WinoGrande and
#: Winograd/WSC 2 options (Sakaguchi et al. 2020; Levesque et al. 2012), XWinograd 2 options
#: (Tikhonov and Ryabinin 2021); PIQA 2 solutions (Bisk et al. 2020); BoolQ yes/no (Clark et
#: al. 2019). Generated answers have no guessing floor: GSM8K (Cobbe et al. 2021, exact match
#: of a number), MATH (Hendrycks et al. 2021), HumanEval (Chen et al. 2021) and MBPP (Austin
#: et al. 2021) pass@1. The ObsScaling table's SOURCE.md names the benchmarks but not their
#: chance rates; its ``Winograd`` column is the Open LLM Leaderboard's WinoGrande (binary).
#: TruthfulQA is left out: the leaderboard's MC2 score is a probability mass whose chance
#: level depends on each question's answer counts; give it with ``--chance``.
DEFAULT_CHANCE: dict[str, float] = {
    "mmlu": 0.25,
    "arc_challenge": 0.25,
    "arc_c": 0.25,
    "arc": 0.25,
    "arc_easy": 0.25,
    "arc_e": 0.25,
    "hellaswag": 0.25,
    "winogrande": 0.5,
    "winograd": 0.5,
    "wsc": 0.5,
    "xwinograd": 0.5,
    "piqa": 0.5,
    "boolq": 0.5,
    "gsm8k": 0.0,
    "math": 0.0,
    "humaneval": 0.0,
    "mbpp": 0.0,
}

#: The requirement quantity of this law (``mmlu.accuracy>=0.7``).
QUANTITY = "accuracy"

#: Fewest distinct fitted computes a ladder needs for its own exponent; with fewer the
#: exponent comes from pooling and the result carries a warning.
MIN_SIZES = 3


def benchmark_key(name: str) -> str:
    """The key of a benchmark name in :data:`DEFAULT_CHANCE`: ``"ARC-C"`` -> ``"arc_c"``."""
    return label_key(name)


#: A shot count after a benchmark's name, as leaderboards write it: ``MMLU (5-shot)``.
_SHOTS = re.compile(r"_*\(?\d+_?shots?\)?$")


def default_chance(name: str) -> float | None:
    """The chance rate of a named benchmark (:data:`DEFAULT_CHANCE`), shot count ignored.

    Examples
    --------
    >>> default_chance("MMLU (5-shot)"), default_chance("ARC-C"), default_chance("mybench")
    (0.25, 0.25, None)
    """
    key = benchmark_key(name)
    return DEFAULT_CHANCE.get(key, DEFAULT_CHANCE.get(_SHOTS.sub("", key)))


@dataclass(frozen=True)
class AccuracyColumns:
    """Names of the columns of an accuracy table (CONTRACT §7 defaults)."""

    model: str = "model"
    family: str = "family"
    compute: str = "compute"
    benchmark: str = "benchmark"
    accuracy: str = "accuracy"
    n_questions: str = "n_questions"
    chance: str = "chance"
    params: str = "params"
    tokens: str = "tokens"


@dataclass(frozen=True, repr=False)
class AccuracyData(Summarised):
    """A validated accuracy table: one row per (model, benchmark).

    Attributes
    ----------
    model, family, benchmark
        Labels per row (strings).
    compute, accuracy
        Training compute (FLOPs, > 0) and accuracy in [0, 1] per row.
    n_questions
        Questions per row (float; NaN where unknown).
    chance
        Chance rate per benchmark, in :attr:`benchmarks` order; NaN where it is learned.
    chance_source
        Where each benchmark's chance rate came from (``option``, ``column`` or ``default``),
        or ``learned``: no rate is known (or ``--chance BENCH=learn``), and the model learns
        the benchmark's floor (:func:`floor_bounds`).
    families, benchmarks
        Distinct labels in order of first appearance: the model's dims.
    held_out
        Rows above ``fit_max_compute``: shown and scored, not fitted.
    params, tokens
        Parameters and training tokens per row (counts; NaN where unknown), from the
        optional ``params`` and ``tokens`` columns; None when the table has neither. The
        ``chinchilla`` axis of the law needs both on every row (:func:`law_compute`).
    """

    model: np.ndarray
    family: np.ndarray
    benchmark: np.ndarray
    compute: np.ndarray
    accuracy: np.ndarray
    n_questions: np.ndarray
    chance: np.ndarray
    chance_source: tuple[str, ...]
    families: tuple[str, ...]
    benchmarks: tuple[str, ...]
    held_out: np.ndarray
    source: str = "<DataFrame>"
    fit_max_compute: float | None = None
    params: np.ndarray | None = None
    tokens: np.ndarray | None = None

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        held = int(self.held_out.sum())
        chance = [
            f"{b} {'learned' if np.isnan(c) else f'{c:g}'}"
            for b, c in zip(self.benchmarks, self.chance, strict=True)
        ]
        return "AccuracyData", [
            ("source", self.source),
            ("rows", f"{len(self.accuracy)} ({len(self.accuracy) - held} fitted, {held} held out)"),
            ("families", ", ".join(self.families)),
            ("benchmarks", ", ".join(self.benchmarks)),
            ("chance", ", ".join(chance)),
            ("compute", f"{self.compute.min():.3g} to {self.compute.max():.3g} FLOPs"),
            ("accuracy", f"{self.accuracy.min():.3g} to {self.accuracy.max():.3g}"),
        ]

    @property
    def fitted(self) -> np.ndarray:
        """Rows the model is fitted on."""
        return ~self.held_out

    @property
    def family_index(self) -> np.ndarray:
        """Position of each row's family in :attr:`families`."""
        lookup = {f: i for i, f in enumerate(self.families)}
        return np.array([lookup[f] for f in self.family], dtype=np.int64)

    @property
    def benchmark_index(self) -> np.ndarray:
        """Position of each row's benchmark in :attr:`benchmarks`."""
        lookup = {b: i for i, b in enumerate(self.benchmarks)}
        return np.array([lookup[b] for b in self.benchmark], dtype=np.int64)

    @property
    def row_chance(self) -> np.ndarray:
        """Chance rate of each row's benchmark."""
        return self.chance[self.benchmark_index]

    def ladders(self) -> list[tuple[str, str]]:
        """(family, benchmark) pairs with at least one fitted row, in table order."""
        seen: dict[tuple[str, str], None] = {}
        for f, b, fit in zip(self.family, self.benchmark, self.fitted, strict=True):
            if fit:
                seen.setdefault((str(f), str(b)), None)
        return list(seen)

    def sizes(self, family: str, benchmark: str) -> int:
        """Distinct fitted computes of one ladder."""
        mask = self.fitted & (self.family == family) & (self.benchmark == benchmark)
        return int(np.unique(self.compute[mask]).size)

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with the default column names."""
        return pd.DataFrame(
            {
                "model": self.model,
                "family": self.family,
                "compute": self.compute,
                "benchmark": self.benchmark,
                "accuracy": self.accuracy,
                "n_questions": self.n_questions,
                "chance": self.row_chance,
                "held_out": self.held_out,
                **({"params": self.params} if self.params is not None else {}),
                **({"tokens": self.tokens} if self.tokens is not None else {}),
            }
        )

    def subset(self, rows: np.ndarray, *, held_out: np.ndarray | None = None) -> AccuracyData:
        """The rows selected by a boolean mask (labels and chance kept for those present)."""
        rows = np.asarray(rows, dtype=bool)
        families = tuple(f for f in self.families if (self.family[rows] == f).any())
        benchmarks = tuple(b for b in self.benchmarks if (self.benchmark[rows] == b).any())
        keep = [self.benchmarks.index(b) for b in benchmarks]
        return replace(
            self,
            model=self.model[rows],
            family=self.family[rows],
            benchmark=self.benchmark[rows],
            compute=self.compute[rows],
            accuracy=self.accuracy[rows],
            n_questions=self.n_questions[rows],
            chance=self.chance[keep],
            chance_source=tuple(self.chance_source[i] for i in keep),
            families=families,
            benchmarks=benchmarks,
            held_out=self.held_out[rows] if held_out is None else np.asarray(held_out)[rows],
            params=None if self.params is None else self.params[rows],
            tokens=None if self.tokens is None else self.tokens[rows],
        )


#: ``--chance BENCH=learn``: the benchmark's floor is learned (its value ``None`` in
#: :attr:`AccuracyOptions.chance <bayescale.accuracy_pipeline.AccuracyOptions>`).
LEARN = "learn"


def parse_chance(texts: Iterable[str]) -> dict[str, float | None]:
    """Parse ``--chance BENCH=G`` options into ``{benchmark: g}``; ``BENCH=learn`` gives None.

    Raises
    ------
    InputError
        When an option is not ``NAME=NUMBER`` with the number in [0, 1), nor ``NAME=learn``.
    """
    out: dict[str, float | None] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if sep and name.strip() and value.strip().lower() == LEARN:
            _set_chance(out, name.strip(), None)
            continue
        try:
            g = float(value) if sep else float("nan")
        except ValueError:
            g = float("nan")
        if not sep or not name.strip() or not 0 <= g < 1:
            raise InputError(
                f"--chance '{text}': expected BENCHMARK=RATE with the rate in [0, 1), "
                "e.g. --chance mmlu=0.25 (1 / the number of answer options; 0 for generated "
                "answers), or BENCHMARK=learn to learn the benchmark's floor."
            )
        _set_chance(out, name.strip(), g)
    return out


def _set_chance(out: dict[str, float | None], name: str, g: float | None) -> None:
    """Record one ``--chance``; a benchmark given two different floors is refused.

    Names are compared as :func:`benchmark_key` compares them (``MMLU`` is ``mmlu``); the
    first spelling is kept.
    """
    earlier = next((n for n in out if benchmark_key(n) == benchmark_key(name)), None)
    if earlier is not None and out[earlier] != g:

        def shown(v: float | None) -> str:
            return LEARN if v is None else f"{v:g}"

        also = "" if earlier == name else f" (as '{earlier}')"
        raise InputError(
            f"--chance gives benchmark '{name}' two floors, {shown(out[earlier])}{also} and "
            f"{shown(g)}; give each benchmark one --chance."
        )
    if earlier is None:
        out[name] = g


def _refuse_spelling_twins(
    labels: np.ndarray, frame: pd.DataFrame, column: str, source: str
) -> None:
    """Refuse two benchmark labels that differ only in case, spaces or dashes (``mmlu``, ``MMLU``).

    Chance rates and ``--require`` scopes read a benchmark by :func:`benchmark_key`, so such
    labels would be one benchmark to them and two to the fit.
    """
    first: dict[str, tuple[str, int]] = {}
    for pos, label in enumerate(labels.tolist()):
        earlier, at = first.setdefault(benchmark_key(label), (label, pos))
        if earlier != label:
            here, there = (row_label(source, int(frame.index[r]), frame) for r in (pos, at))
            raise InputError(
                f"{here}, column '{column}': benchmark '{shown_label(label)}' and "
                f"'{shown_label(earlier)}' ({there}) differ "
                "only in case, spaces or dashes: chance rates and --require read them as one "
                "benchmark, the fit would take two. Spell each benchmark one way."
            )


def _labels(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    values = []
    for i, value in zip(frame.index, frame[column].tolist(), strict=True):
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else value
        text = str(text).strip()
        if not text:
            raise InputError(
                f"{row_label(source, int(i), frame)}, column '{column}': label is missing. "
                "Every row needs one."
            )
        values.append(text)
    return np.array(values, dtype=object)


def _optional_numbers(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """A column whose empty cells mean "unknown": NaN there, numbers read strictly elsewhere."""
    from bayescale.data import MISSING_TEXT

    raw = frame[column].tolist()
    present = np.array(
        [
            not (
                v is None
                or (isinstance(v, float) and np.isnan(v))
                or (isinstance(v, str) and v.strip().lower() in MISSING_TEXT)
            )
            for v in raw
        ]
    )
    out = np.full(len(raw), np.nan)
    if present.any():
        out[present] = numeric_column(frame[present], column, source, positive=False)
    return out


def _chance_rates(
    benchmarks: tuple[str, ...],
    row_benchmark: np.ndarray,
    column: np.ndarray | None,
    chance: Mapping[str, float | None],
    frame: pd.DataFrame,
    columns: AccuracyColumns,
    source: str,
) -> tuple[np.ndarray, tuple[str, ...]]:
    spelled = {benchmark_key(b): b for b in benchmarks}  # --chance MMLU=0.25 sets 'mmlu'
    unknown = [name for name in chance if benchmark_key(name) not in spelled]
    if unknown:
        raise InputError(
            f"--chance names benchmark '{unknown[0]}', which {source} does not have."
            f"{did_you_mean(unknown[0], benchmarks)} Benchmarks: {', '.join(benchmarks)}."
        )
    by_label: dict[str, float | None] = {}
    for name, g in chance.items():
        _set_chance(by_label, spelled[benchmark_key(name)], g)
    chance = by_label
    rates, sources = [], []
    for b in benchmarks:
        if b in chance:
            given_rate = chance[b]
            rates.append(float("nan") if given_rate is None else given_rate)
            sources.append("learned" if given_rate is None else "option")
            continue
        if column is not None:
            values = column[row_benchmark == b]
            given = values[~np.isnan(values)]
            if given.size:
                rows = np.flatnonzero(row_benchmark == b)
                bad = (values != given[0]) & ~np.isnan(values)
                if bad.any():
                    i = int(frame.index[rows[int(np.argmax(bad))]])
                    raise InputError(
                        f"{row_label(source, i, frame)}, column '{columns.chance}': chance rate "
                        f"{values[bad][0]:g} differs from {given[0]:g} given for '{b}' "
                        "earlier. A benchmark has one chance rate."
                    )
                if not 0 <= given[0] < 1:
                    i = int(frame.index[rows[0]])
                    raise InputError(
                        f"{row_label(source, i, frame)}, column '{columns.chance}': "
                        f"{given[0]:g} is not a chance rate; expected a number in [0, 1)."
                    )
                rates.append(float(given[0]))
                sources.append("column")
                continue
        default = default_chance(b)
        if default is not None:
            rates.append(default)
            sources.append("default")
            continue
        log.warning(
            "%s: benchmark '%s' has no known chance rate: its floor is learned (prior in "
            "docs/accuracy.md). Give it with --chance '%s=G' (1 / the number of answer "
            "options, 0 for generated answers) or a '%s' column when it is known.",
            source,
            b,
            b,
            columns.chance,
        )
        rates.append(float("nan"))
        sources.append("learned")
    return np.array(rates, dtype=float), tuple(sources)


def _refuse_wide(frame: pd.DataFrame, cols: AccuracyColumns, source: str) -> None:
    """Refuse a leaderboard-style table, one column of scores per benchmark, saying how to melt it.

    Only when both the benchmark and the accuracy column are missing and other columns hold
    fractions in [0, 1] only (the scores; empty cells for benchmarks a model was not run on).
    """
    if cols.benchmark in frame.columns or cols.accuracy in frame.columns:
        return
    if any(c in frame.columns for c in PASS_MARKERS):  # pass results, not scores
        return
    known = {getattr(cols, name) for name in AccuracyColumns.__dataclass_fields__} | {"name"}

    def holds_scores(values: pd.Series) -> bool:  # fractions, or empty cells (not run)
        given = values.notna() & values.astype(str).str.strip().ne("")
        numbers = pd.to_numeric(values.where(given), errors="coerce")
        fractions = numbers.between(0, 1)
        return bool(fractions.any() and fractions.sum() == given.sum())

    scores = [str(c) for c in frame.columns if c not in known and holds_scores(frame[c])]
    if not scores:
        return
    ids = [str(c) for c in frame.columns if c not in scores]
    raise InputError(
        f"{source}: no '{cols.benchmark}' and '{cols.accuracy}' columns; the table looks wide, "
        f"one column of scores per benchmark ({', '.join(scores)}). Give one row per model and "
        f"benchmark, with the benchmark's name in '{cols.benchmark}' and its score in "
        f"'{cols.accuracy}' (pandas: table.melt(id_vars={ids}, var_name='{cols.benchmark}', "
        f"value_name='{cols.accuracy}'))."
    )


def load_accuracy_table(
    source: str | Path | pd.DataFrame,
    *,
    chance: Mapping[str, float | None] | None = None,
    columns: AccuracyColumns | None = None,
    fit_max_compute: float | None = None,
    label: str | None = None,
    where: str | None = None,
    drop_missing: bool = False,
) -> AccuracyData:
    """Read and validate a table ``model, family, compute, benchmark, accuracy[, ...]``.

    Parameters
    ----------
    source
        CSV or Parquet path, or a DataFrame (read with :func:`bayescale.data.read_table`).
    chance
        Chance rate per benchmark name; overrides a ``chance`` column and the defaults
        (:data:`DEFAULT_CHANCE`). None learns the benchmark's floor, as for a benchmark
        without any known rate (source ``learned``, :func:`floor_bounds`).
    columns
        Column names (defaults: :class:`AccuracyColumns`).
    fit_max_compute
        Rows with larger compute are held out (not fitted).
    label
        How messages name a DataFrame.
    where, drop_missing
        Row selection before validation (:func:`bayescale.selection.select_rows`): keep the
        rows ``where`` selects; drop rows missing a model, family, compute, benchmark or
        accuracy instead of refusing them (empty ``n_questions``, ``chance``, ``params`` and
        ``tokens`` cells mean "unknown" and are kept).

    Raises
    ------
    InputError
        Naming the file, row and column: a missing column or label, a compute that is not a
        positive number, an accuracy outside [0, 1], ``n_questions`` that is not a positive
        integer, a model with two computes, a (model, benchmark) given twice, two benchmark
        labels that differ only in case, spaces or dashes, or nothing left to fit. A
        benchmark without a chance rate is not refused: its floor is learned (logged as a
        warning).

    Returns
    -------
    AccuracyData
        The validated table (frozen), with its ladders, chance floors and held-out rows.
    """
    cols = columns or AccuracyColumns()
    frame, source = read_table(source, label)
    required = ("model", "family", "compute", "benchmark", "accuracy")
    used = [getattr(cols, name) for name in required]
    derived = _compute_is_derived(frame, cols)
    used += [cols.params, cols.tokens] if derived else []
    frame = select_rows(frame, source, used, where=where, drop_missing=drop_missing)
    if derived:
        frame = _compute_from_sizes(frame, cols, source)
    quantities = ("compute", "accuracy", "n_questions", "chance", "params", "tokens")
    refuse_shared_columns(
        {f"--{q.replace('_', '-')}-col": getattr(cols, q) for q in quantities}, source
    )
    _refuse_wide(frame, cols, source)
    for name in required:
        require_column(frame, getattr(cols, name), source, f"--{name}-col")
    for name in ("n_questions", "chance"):  # optional; a renamed one must exist
        option = f"--{name.replace('_', '-')}-col"
        if getattr(cols, name) != name:
            require_column(frame, getattr(cols, name), source, option)
        refuse_case_twin(frame, getattr(cols, name), source, option)
    model = _labels(frame, cols.model, source)
    family = _labels(frame, cols.family, source)
    benchmark = _labels(frame, cols.benchmark, source)
    _refuse_spelling_twins(benchmark, frame, cols.benchmark, source)
    compute = numeric_column(frame, cols.compute, source)
    check_range(compute, frame, cols.compute, source, COMPUTE_RANGE, "compute")
    accuracy = numeric_column(frame, cols.accuracy, source, positive=False)
    refuse_first(
        (accuracy < 0) | (accuracy > 1),
        accuracy,
        frame,
        cols.accuracy,
        source,
        "is not an accuracy; expected a fraction in [0, 1] (divide percentages by 100).",
    )
    n_questions = np.full(len(frame), np.nan)
    if cols.n_questions in frame.columns:
        n_questions = _optional_numbers(frame, cols.n_questions, source)
        refuse_first(
            ~np.isnan(n_questions) & ((n_questions < 1) | (n_questions != np.round(n_questions))),
            n_questions,
            frame,
            cols.n_questions,
            source,
            "is not a number of questions; expected a whole number >= 1 (or an empty cell "
            "when unknown).",
        )
    seen_compute: dict[str, tuple[float, int]] = {}
    seen_family: dict[str, tuple[str, int]] = {}
    seen_pair: dict[tuple[str, str], int] = {}
    for pos, (m, b, c, f) in enumerate(zip(model, benchmark, compute, family, strict=True)):
        where = row_label(source, int(frame.index[pos]), frame)
        first = seen_compute.setdefault(m, (c, pos))
        if first[0] != c:
            raise InputError(
                f"{where}, column '{cols.compute}': model '{m}' has compute {c:g} here and "
                f"{first[0]:g} in {row_label(source, int(frame.index[first[1]]), frame)}. A model "
                "has one training compute."
            )
        first_family = seen_family.setdefault(m, (f, pos))
        if first_family[0] != f:
            raise InputError(
                f"{where}, column '{cols.family}': model '{m}' is in family '{f}' here and "
                f"'{first_family[0]}' in "
                f"{row_label(source, int(frame.index[first_family[1]]), frame)}. A model belongs "
                "to one family; check the model label and the family."
            )
        if (m, b) in seen_pair:
            raise InputError(
                f"{where}: model '{m}' on benchmark '{b}' appears twice (also "
                f"{row_label(source, int(frame.index[seen_pair[m, b]]), frame)}). Give one row per "
                "model and benchmark."
            )
        seen_pair[m, b] = pos
    benchmarks = tuple(dict.fromkeys(benchmark.tolist()))
    families = tuple(dict.fromkeys(family.tolist()))
    column = _optional_numbers(frame, cols.chance, source) if cols.chance in frame.columns else None
    rates, sources = _chance_rates(
        benchmarks, benchmark, column, dict(chance or {}), frame, cols, source
    )
    sizes: dict[str, np.ndarray] = {}
    for name in ("params", "tokens"):
        column_name = getattr(cols, name)
        if column_name in frame.columns:
            values = _optional_numbers(frame, column_name, source)
            refuse_first(
                ~np.isnan(values) & ~((values > 0) & np.isfinite(values)),
                values,
                frame,
                column_name,
                source,
                f"is not a count of {name}; expected a positive number (or an empty cell when "
                "unknown).",
            )
            known = ~np.isnan(values)  # the range L(N, D) tables keep (nd_data.load_nd_runs)
            what = "a parameter count" if name == "params" else "a token count"
            check_range(values[known], frame[known], column_name, source, COMPUTE_RANGE, what)
            sizes[name] = values
    fit_max_compute = fit_bound(fit_max_compute)
    held_out = (
        compute > fit_max_compute if fit_max_compute is not None else np.zeros(compute.size, bool)
    )
    if held_out.all():
        raise InputError(
            f"{source}: every row has compute above --fit-max-compute {fit_max_compute:g}; "
            "nothing is left to fit."
        )
    return AccuracyData(
        model=model,
        family=family,
        benchmark=benchmark,
        compute=compute,
        accuracy=accuracy,
        n_questions=n_questions,
        chance=rates,
        chance_source=sources,
        families=families,
        benchmarks=benchmarks,
        held_out=held_out,
        source=source,
        fit_max_compute=fit_max_compute,
        params=sizes.get("params"),
        tokens=sizes.get("tokens"),
    )


def _compute_is_derived(frame: pd.DataFrame, cols: AccuracyColumns) -> bool:
    """True when ``frame`` has no compute column but params and tokens (see below).

    Only for the default compute column: a ``--compute-col`` that names no column is refused.
    """
    return (
        cols.compute == AccuracyColumns.compute
        and cols.compute not in frame.columns
        and {cols.params, cols.tokens} <= set(frame.columns)
    )


def _compute_from_sizes(frame: pd.DataFrame, cols: AccuracyColumns, source: str) -> pd.DataFrame:
    """``frame`` with compute = 6·N·D from its params and tokens (:func:`_compute_is_derived`).

    As ``bayescale nd`` does: a published table of model sizes (Llama-2 7B/13B/70B on 2T
    tokens) has parameters and tokens, not FLOPs. A missing size names its row.
    """
    try:
        params = numeric_column(frame, cols.params, source)
        tokens = numeric_column(frame, cols.tokens, source)
        check_range(params, frame, cols.params, source, COMPUTE_RANGE, "a parameter count")
        check_range(tokens, frame, cols.tokens, source, COMPUTE_RANGE, "a token count")
    except InputError as err:
        raise InputError(
            f"{err} The table has no '{cols.compute}' column, so training compute is taken as "
            f"{FLOPS_PER_PARAM_TOKEN:g} * {cols.params} * {cols.tokens}, which needs both on "
            f"every row; or add a '{cols.compute}' column in FLOPs (--compute-col NAME)."
        ) from None
    log.info(
        "%s: no '%s' column: training compute is %g * %s * %s (a dense transformer's estimate)",
        source,
        cols.compute,
        FLOPS_PER_PARAM_TOKEN,
        cols.params,
        cols.tokens,
    )
    out = frame.copy()
    out[cols.compute] = FLOPS_PER_PARAM_TOKEN * params * tokens
    return out


# ---------------------------------------------------------------------------------------------
# Backtest splits


def leave_largest_out(data: AccuracyData, family: str) -> AccuracyData:
    """``family``'s largest model held out, every other row fitted (one family at a time)."""
    rows = data.family == family
    largest = data.compute[rows].max()
    return replace(data, held_out=rows & (data.compute >= largest))


def accuracy_split(
    data: AccuracyData, ratio: float
) -> tuple[AccuracyData, dict[str, float], tuple[str, ...]]:
    """The backtest cut at ``ratio``: each family's models above its largest compute / ratio.

    Every family is cut at once (one fit). A family left with fewer than :data:`MIN_SIZES`
    distinct fitted computes is skipped: its rows stay fitted (they inform the pooled
    exponents) and none is scored. A ratio just above 1 holds out each family's largest
    model: leave-largest-out per family.

    Returns
    -------
    split, fitted_max, skipped
        The table with the held-out rows marked, each cut family's largest fitted compute,
        and the skipped families.
    """
    held = np.zeros(data.compute.size, dtype=bool)
    fitted_max: dict[str, float] = {}
    skipped = []
    for f in data.families:
        rows = data.family == f
        above = rows & (data.compute > data.compute[rows].max() / ratio)
        kept = np.unique(data.compute[rows & ~above])
        if kept.size < MIN_SIZES:
            skipped.append(f)
            continue
        held |= above
        fitted_max[f] = float(kept.max())
    return replace(data, held_out=held), fitted_max, tuple(skipped)


# ---------------------------------------------------------------------------------------------
# The law

#: ``A, alpha, B, beta`` of Chinchilla's loss ``E + A/N^alpha + B/D^beta`` as refitted by
#: Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt", their eq. 2, from
#: Hoffmann et al. 2022's data): the axis of :func:`chinchilla_effective_compute`.
CHINCHILLA_LOSS = (482.01, 0.3478, 2085.43, 0.3658)


#: The law's axis: ``"compute"``, training compute C (the default), or ``"chinchilla"``,
#: :func:`chinchilla_effective_compute` of each model's parameters and tokens.
AXES = ("compute", "chinchilla")


#: Fewest parameters and tokens the largest model of a table on the chinchilla axis may have:
#: below them the columns are in millions or billions, which the axis's constants misread
#: (Chinchilla's law weighs N and D by counts; compute-axis fits are unit-free).
MIN_COUNTS = (1e5, 1e7)


def chinchilla_effective_compute(parameters: Any, tokens: Any) -> np.ndarray:
    r"""The inverse of Chinchilla's reducible loss, :math:`1/(A/N^\alpha + B/D^\beta)`.

    An axis for the accuracy law in place of training compute: at the compute-optimal
    split it grows as a power of compute (:math:`C^{0.15}` or so), while at a fixed token
    budget D it saturates in the parameter count N (at :math:`D^\beta/B`), as a family
    that adds parameters at a fixed data set does. ``parameters`` and ``tokens`` are counts
    (not billions); :data:`CHINCHILLA_LOSS` gives the constants.
    """
    a, alpha, b, beta = CHINCHILLA_LOSS
    n = np.asarray(parameters, dtype=float)
    d = np.asarray(tokens, dtype=float)
    return 1.0 / (a / n**alpha + b / d**beta)


def optimal_equivalent_compute(parameters: Any, tokens: Any) -> np.ndarray:
    r"""Where the effective-compute law places a model, in FLOPs: the compute of its equal.

    The training compute :math:`6ND` of the compute-optimal model (on Chinchilla's law,
    :data:`CHINCHILLA_LOSS`; :func:`bayescale.nd.optimal_allocation`) whose reducible loss is
    this model's. Along the compute-optimal path the reducible loss is :math:`K S^{-\gamma}`
    at :math:`6ND = 6S`, with :math:`\gamma = \alpha\beta/(\alpha+\beta)` and :math:`K`
    that of the optimal model at :math:`S = 1`; so the equal's compute is
    :math:`6 (K E)^{1/\gamma}` for effective compute E. A compute-optimal model is its own
    equal; a model trained on too few or too many tokens for its size sits lower.
    """
    from bayescale.nd import optimal_allocation

    a, alpha, b, beta = CHINCHILLA_LOSS
    gamma = alpha * beta / (alpha + beta)
    n_unit, d_unit = optimal_allocation(FLOPS_PER_PARAM_TOKEN, a, alpha, b, beta)  # S = 1
    k = a / n_unit**alpha + b / d_unit**beta
    effective = chinchilla_effective_compute(parameters, tokens)
    return np.asarray(FLOPS_PER_PARAM_TOKEN * (k * effective) ** (1.0 / gamma), dtype=float)


def law_compute(data: AccuracyData, axis: str = "compute") -> np.ndarray:
    """Each row's value on the law's axis: its compute, or its Chinchilla effective compute.

    Raises
    ------
    InputError
        On an unknown axis, or ``"chinchilla"`` with a row whose parameters or tokens are
        not known (the ``params`` and ``tokens`` columns).
    """
    if axis not in AXES:
        raise InputError(f"axis '{axis}' is not one of {', '.join(AXES)}.")
    if axis == "compute":
        return data.compute
    if data.params is None or data.tokens is None:
        raise InputError(
            f"{data.source}: the chinchilla axis needs 'params' and 'tokens' columns "
            "(parameters and training tokens of every model)."
        )
    missing = np.isnan(data.params) | np.isnan(data.tokens)
    if missing.any():
        raise InputError(
            f"{data.source}: the chinchilla axis needs parameters and tokens on every row; "
            f"model '{data.model[int(np.argmax(missing))]}' lacks them."
        )
    if np.max(data.params) < MIN_COUNTS[0] or np.max(data.tokens) < MIN_COUNTS[1]:
        raise InputError(
            f"{data.source}: the largest model has {np.max(data.params):g} parameters and "
            f"the most tokens are {np.max(data.tokens):g}: Chinchilla's effective compute "
            "takes counts, not billions (7e9 parameters, not 7). Multiply the columns by "
            "their unit, or forecast on training compute (--target-compute C)."
        )
    return chinchilla_effective_compute(data.params, data.tokens)


def default_axis(data: AccuracyData) -> str:
    """The axis a backtest of ``data`` takes unless told.

    ``"chinchilla"`` when every row has its parameters and tokens (each held-out model is
    then forecast at its own N and D), else ``"compute"``.
    """
    if data.params is None or data.tokens is None:
        return "compute"
    return "compute" if (np.isnan(data.params) | np.isnan(data.tokens)).any() else "chinchilla"


def normalised_accuracy(accuracy: np.ndarray, chance: np.ndarray) -> np.ndarray:
    r"""Accuracy above chance on [0, 1]: :math:`q = (p - g) / (1 - g)` (below 0 under chance)."""
    return (np.asarray(accuracy, dtype=float) - chance) / (1.0 - np.asarray(chance, dtype=float))


def transformed_accuracy(accuracy: np.ndarray, chance: np.ndarray) -> np.ndarray:
    r"""The law's linear scale, :math:`y = \ln(-\ln q)` (NaN where :math:`q \notin (0, 1)`)."""
    q = normalised_accuracy(accuracy, chance)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(-np.log(q))
    return np.where((q > 0) & (q < 1), y, np.nan)


def accuracy_law(log_compute: Any, level: Any, exponent: Any, chance: Any, xp: Any = np) -> Any:
    r"""Accuracy of the floor-aware law at log compute relative to the pivot.

    .. math::

        p = g + (1 - g)\,\exp\!\big(-e^{\beta - k x}\big),\qquad x = \ln C - \ln C_0,

    i.e. :math:`-\ln\frac{p-g}{1-g} = \alpha C^{-k}` with :math:`\alpha = e^{\beta} C_0^{k}`.
    Works on NumPy arrays and PyTensor tensors (``xp``); always in :math:`[g, 1]`, rising in
    :math:`C` for :math:`k > 0`.
    """
    return chance + (1.0 - chance) * xp.exp(-xp.exp(level - exponent * log_compute))


def accuracy_from_transformed(y: np.ndarray, chance: Any) -> np.ndarray:
    r"""Invert :func:`transformed_accuracy`: :math:`p = g + (1 - g) e^{-e^{y}}`."""
    return chance + (1.0 - chance) * np.exp(-np.exp(y))


# ---------------------------------------------------------------------------------------------
# Priors


@dataclass(frozen=True)
class AccuracyPriors:
    r"""Priors of the accuracy model, on the doubly-logged scale :math:`y = \ln(-\ln q)`.

    Attributes
    ----------
    level_sd
        Sd of a benchmark's level around the median :math:`y` of its rows. 1.5: :math:`y`
        from -2 to 1.5 spans accuracies from 0.87 to 0.01 of the way above chance, so the
        prior covers every level the data can hold.
    level_family_sd
        Scale (half-normal) of a family's level effect shared by its benchmarks. 0.5: a
        family's models sit consistently above or below others at their own compute, by
        less than the spread across benchmarks.
    level_ladder_sd
        Median (log-normal, sd 0.5) of a ladder's level residual. 0.3: levels are pinned by
        the data, and the log-normal keeps the centred residuals off the funnel's neck.
    exponent_median, exponent_log_sd
        Log-normal prior on a benchmark's exponent :math:`k`. Median 0.2, sd 1 on the log
        scale (95%: 0.03 to 1.4): per-ladder line fits on the ObsScaling families with four
        or more sizes gave exponents of 0.13 to 0.28 at the median per benchmark, 0 to 0.52
        between the 10th and 90th percentiles.
    exponent_median_chinchilla
        The exponent prior's median on the ``chinchilla`` axis (:func:`law_compute`), where
        the law runs in effective compute, not FLOPs. 1.0: per-ladder line fits of the law on
        that axis, on the fitted rows of the ObsScaling ladders with four or more sizes that
        are not at chance (each family's largest model left out, 76 ladders), gave a median
        of 1.05 and 0.44 to 1.61 between the 10th and 90th percentiles
        (``benchmarks/accuracy_law_study.py``, ``axis_exponents``); the log sd stays
        ``exponent_log_sd``.
    exponent_family_sd
        Scale (half-normal) of the family effect on :math:`\ln k`. 0.3: a factor of 1.35 at
        one sd, smaller than the spread the per-ladder fits show, which includes their noise.
    exponent_ladder_median, exponent_ladder_log_sd
        Log-normal prior on the sd of a ladder's residual of :math:`\ln k`. Median 0.2 (the
        median of the half-normal of scale 0.3 it replaces), log sd 0.5 (95%: 0.08 to 0.5):
        log-normal, not half-normal, because a spread free to reach 0 makes a funnel with
        the ladder residuals, the slowest-mixing variable of the backtest fits.
    scatter_median, scatter_log_sd
        Log-normal prior on a benchmark's model-to-model scatter :math:`\sigma_b` about the
        law on the :math:`y` scale. Median 0.15, log sd 0.75 (95%: 0.03 to 0.65): the
        residual sd of per-ladder line fits on ObsScaling was 0.08-0.11; log-normal, not
        half-normal, because three or four sizes a ladder can almost lie on a line, and a
        scale free to reach 0 makes a funnel the sampler cannot cross.
    noise_median, noise_log_sd
        Log-normal prior on a benchmark's measurement noise :math:`s_b` on the accuracy
        scale, for rows without ``n_questions``. Median 0.01, log sd 0.5 (95%: 0.004 to
        0.027): the binomial sd of a score of 0.5 is 0.004 on MMLU's 14,042 questions and
        0.04 on HumanEval's 164; near chance, where :math:`y` is unbounded, this noise is
        what the data show. Kept off 0 for the same reason as the scatter.
    scatter_family_sd
        Log sd of a family's factor on the scatter (pooled families only). 0.5: some
        families mix generations or data sets and their models scatter more about one line
        (a factor of 1.6 at one sd), most do not.
    discrepancy_exponent_sd
        Beyond a family's largest fitted compute, its exponent is uncertain by this factor
        (log sd), one draw per family shared by its benchmarks: a predictive term, zero
        within the data, as the loss law's (``LossPriors.discrepancy_exponent_sd``). 0.25:
        the loss law's measured value; 0 with both shifts 0 gives the pure law (0 alone keeps
        the shift).
    discrepancy_exponent_shift, discrepancy_exponent_shift_chinchilla
        The log of the exponent's median factor beyond the data, :math:`m`, on training
        compute and on effective compute: the exponent there is :math:`k e^{m + s\zeta}`.
        -0.6 and -0.3 (a factor of 0.55 and 0.74), with s = 0.25, chosen by leave one family
        out on the ObsScaling backtest: the law over-predicted 67-74% of held-out largest
        models (it accelerates where the ladders rose steadily); with these shifts 52-53%,
        at 88% coverage of the 90% intervals. Calibrated on one-step extrapolations (each
        family's largest model); 0 gives the law's own exponent.
    floor_a, floor_b
        Beta prior of a learned floor's fraction of its upper bound,
        :math:`g_b = \bar g_b u_b`, :math:`u_b \sim \mathrm{Beta}(a, b)` (one per benchmark,
        shared by the families: a floor belongs to the benchmark; :func:`floor_bounds`).
        1, 1: uniform, every floor from 0 to the bound equally likely. For a benchmark
        without a known rate the bound :math:`\bar g_b` is its lowest fitted score, the
        most the data can hold (a floor above a model's score would need that model below
        chance); chance rates of common formats (0 for generated answers, 0.2 to 0.5 for
        five to two options) leave no value much likelier than another. For the effective
        floor below a known rate (``floor="below_chance"``) the bound is the rate itself,
        and the uniform prior lets the data choose anything between the line without a
        floor (:math:`u = 0`) and the floor at chance (:math:`u = 1`).
    """

    level_sd: float = 1.5
    level_family_sd: float = 0.5
    level_ladder_sd: float = 0.3
    exponent_median: float = 0.2
    exponent_median_chinchilla: float = 1.0
    exponent_log_sd: float = 1.0
    exponent_family_sd: float = 0.3
    exponent_ladder_median: float = 0.2
    exponent_ladder_log_sd: float = 0.5
    scatter_median: float = 0.15
    scatter_log_sd: float = 0.75
    noise_median: float = 0.01
    noise_log_sd: float = 0.5
    scatter_family_sd: float = 0.5
    discrepancy_exponent_sd: float = 0.25
    discrepancy_exponent_shift: float = -0.6
    discrepancy_exponent_shift_chinchilla: float = -0.3
    floor_a: float = 1.0
    floor_b: float = 1.0

    def exponent_median_on(self, axis: str) -> float:
        """The exponent prior's median on the law's ``axis`` (:data:`AXES`)."""
        return self.exponent_median_chinchilla if axis == "chinchilla" else self.exponent_median

    def discrepancy_shift_on(self, axis: str) -> float:
        """The law discrepancy's shift :math:`m` on the law's ``axis`` (:data:`AXES`)."""
        if axis == "chinchilla":
            return self.discrepancy_exponent_shift_chinchilla
        return self.discrepancy_exponent_shift

    def __post_init__(self) -> None:
        """Refuse non-positive scales (the discrepancy may be 0, as the loss law's)."""
        from bayescale.priors import require_discrepancy_sd

        for name, value in vars(self).items():
            if name == "discrepancy_exponent_sd":
                require_discrepancy_sd(value)
            elif name.startswith("discrepancy_exponent_shift"):
                if not np.isfinite(value):
                    raise InputError(
                        f"accuracy prior '{name}' must be a finite number, got {value}."
                    )
            elif not (np.isfinite(value) and value > 0):
                raise InputError(f"accuracy prior '{name}' must be a positive number, got {value}.")


PIVOTS = ("global", "family")

#: Where a benchmark's floor comes from: ``"chance"`` (the default), its chance rate where
#: known (learned only for benchmarks without one); ``"below_chance"``, learned for every
#: benchmark with a positive rate too, between 0 and that rate (:func:`floor_bounds`).
FLOORS = ("chance", "below_chance")
#: Largest upper bound of a learned floor (a floor of 1 leaves nothing above it).
MAX_FLOOR = 0.99


#: A fitted row is at chance when it is at most this many measurement sds above the chance
#: rate (:func:`within_noise_of_chance`).
CHANCE_NOISE_SDS = 2.0


def within_noise_of_chance(
    accuracy: np.ndarray, chance: np.ndarray | float, n_questions: np.ndarray, noise_sd: float
) -> np.ndarray:
    r"""Rows whose accuracy is at most :data:`CHANCE_NOISE_SDS` measurement sds above chance.

    The sd of a row with ``n_questions`` is the binomial :math:`\sqrt{m(1 - m)/n}`,
    :math:`m = \max(g, 1/n)`; of a row without (NaN), ``noise_sd`` (the prior median noise).
    The model gives ladders of such rows an exponent of their own, and their forecasts a
    warning (``accuracy_model.ladders_at_chance``, ``accuracy_forecast.accuracy_target_warnings``).
    """
    sd = chance_noise_sd(chance, n_questions, noise_sd)
    return np.asarray(accuracy - chance <= CHANCE_NOISE_SDS * sd)


def chance_noise_sd(
    chance: np.ndarray | float, n_questions: np.ndarray, noise_sd: float
) -> np.ndarray:
    """The measurement sd of a score near chance, as :func:`within_noise_of_chance` takes it."""
    counted = ~np.isnan(n_questions)
    n = np.maximum(np.nan_to_num(n_questions), 1.0)
    m = np.maximum(chance, 1.0 / n)
    return np.asarray(np.where(counted, np.sqrt(m * (1.0 - m) / n), noise_sd))


def floor_bounds(data: AccuracyData, floor: str = "chance") -> tuple[np.ndarray, np.ndarray]:
    r"""Which benchmarks learn their floor, and each floor's upper bound :math:`\bar g_b`.

    A learned floor is :math:`g_b = \bar g_b u_b`, :math:`u_b \sim \mathrm{Beta}` (the
    priors' ``floor_a``, ``floor_b``). Learned: every benchmark without a known rate
    (source ``learned``), bounded by its lowest fitted score (at most :data:`MAX_FLOOR`);
    with ``floor="below_chance"`` also every benchmark with a positive known rate, bounded
    by that rate. Elsewhere the bound is the known rate and the floor is fixed there.

    Returns
    -------
    learned, bound
        A mask and the bound per benchmark (:attr:`AccuracyData.benchmarks` order). The
        bound is also the reference floor of :func:`bayescale.accuracy_model.accuracy_inputs`
        (the level prior's centre, ladders at chance).
    """
    if floor not in FLOORS:
        raise InputError(f"floor '{floor}' is not one of {FLOORS}.")
    unknown = np.isnan(data.chance)
    learned = unknown | ((data.chance > 0) if floor == "below_chance" else False)
    bound = data.chance.copy()
    bench = data.benchmark_index
    for b in np.flatnonzero(unknown):
        rows = data.fitted & (bench == b)
        lowest = float(data.accuracy[rows].min()) if rows.any() else 0.0
        bound[b] = min(lowest, MAX_FLOOR)
    return np.asarray(learned, dtype=bool), bound


def accuracy_pivots(data: AccuracyData, pivot: str = "global", axis: str = "compute") -> np.ndarray:
    """Return ln C0 per family, the mean log compute of distinct fitted models.

    Of the family's (``pivot="family"``) or of the whole table's (``"global"``); on the
    law's ``axis`` (:func:`law_compute`).
    """
    fitted = data.fitted
    compute = law_compute(data, axis)
    if pivot not in PIVOTS:
        raise InputError(f"pivot '{pivot}' is not one of {PIVOTS}.")
    if pivot == "global":
        centre = float(np.mean(np.log(np.unique(compute[fitted]))))
        return np.full(len(data.families), centre)
    out = np.empty(len(data.families))
    for i, f in enumerate(data.families):
        rows = fitted & (data.family == f)
        if not rows.any():
            rows = data.family == f
        out[i] = float(np.mean(np.log(np.unique(compute[rows]))))
    return out

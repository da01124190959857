"""Evaluation-harness outputs to the pass-results table (docs/formats.md).

Each importer reads one file written by a widely used harness for one model and returns the
**per-problem table** ``model, compute, problem, n, k`` (one row per problem: samples drawn,
samples that passed), the table ``bayescale pass`` reads. :func:`import_files` imports several
files (one per model) into one table and checks it; :data:`IMPORTERS` maps format names to
importers. Training compute is given per model in FLOPs, or as parameters N and training
tokens D with :func:`training_compute` (C = 6·N·D).

Formats (which version each follows is in each importer's docstring):

``evalplus``
    EvalPlus ``eval_results.json`` (``evalplus.evaluate``): per task, one pass/fail status per
    sample on the base tests and on the base + extra ("plus") tests.
``lm-eval``
    lm-evaluation-harness ``samples_<task>_<date>.jsonl`` written by ``--log_samples``: one
    line per document (and per filter), with the metric the task computed on it.
``bigcode``
    bigcode-evaluation-harness. The harness itself writes generations, references and the
    aggregate ``evaluation_results.json`` (pass@k per task), but no per-problem pass/fail. Two
    shapes are read: the per-sample execution results of its ``code_eval`` metric saved as JSON
    (per problem), or ``evaluation_results.json`` (aggregate: one ``pass_rate`` row per model).

Every refusal names the file, the line or key, what is wrong and what to do. Nothing here
imports PyMC.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.data import numeric_column, read_table
from bayescale.errors import InputError, did_you_mean
from bayescale.outputs import write_text

log = logging.getLogger("bayescale")

#: Columns of the per-problem table, in order.
TABLE_COLUMNS = ("model", "compute", "problem", "n", "k")
#: Columns of the aggregate table (``bigcode`` metric files), in order.
AGGREGATE_COLUMNS = ("model", "compute", "pass_rate")

#: EvalPlus statuses of a passing sample: ``pass`` (current), ``success`` (v0.1 files).
EVALPLUS_PASS = frozenset({"pass", "success"})
#: Every status EvalPlus writes: current ``pass/fail/timeout``, v0.1 ``success/failed/timed out``.
EVALPLUS_STATUSES = EVALPLUS_PASS | {"fail", "timeout", "failed", "timed out"}

#: lm-eval keys that are bookkeeping, not metrics.
_LM_EVAL_KEYS = frozenset(
    {
        "doc_id",
        "doc",
        "target",
        "arguments",
        "resps",
        "filtered_resps",
        "filter",
        "metrics",
        "doc_hash",
        "prompt_hash",
        "target_hash",
        "length_info",  # newer lm-eval: token lengths per request
    }
)
#: Metrics tried, in order, when a samples file does not name its metrics.
_LM_EVAL_METRICS = ("pass@1", "pass_at_1", "exact_match", "acc")
#: The metrics a pass@k task logs (``pass@1``, ``pass@10``, ...).
_PASS_AT_K = re.compile(r"^pass@\d+$")
#: ``samples_<task>_<ISO date with - for :>.jsonl``, as lm-eval names the files.
_LM_EVAL_NAME = re.compile(r"^samples_(?P<task>.+)_\d{4}-\d{2}-\d{2}T[\d\-.:]+\.jsonl$")


def training_compute(params: float, tokens: float) -> float:
    """Training compute of a dense transformer, ``C = 6 N D`` FLOPs.

    Parameters
    ----------
    params
        Parameters N (non-embedding, as the user counts them).
    tokens
        Training tokens D.

    Examples
    --------
    >>> training_compute(1e9, 2e10)
    1.2e+20
    """
    return 6.0 * params * tokens


def model_computes(
    n_files: int,
    compute: Sequence[float] | None = None,
    params: Sequence[float] | None = None,
    tokens: Sequence[float] | None = None,
) -> list[float]:
    """The training compute of each file's model, in file order.

    Either ``compute`` (FLOPs) or both ``params`` and ``tokens`` (C = 6·N·D), one value per
    file.

    Raises
    ------
    InputError
        When both or neither are given, a count does not match the files, or a value is not > 0.
    """
    if compute and (params or tokens):
        raise InputError(
            "give the compute either as --compute FLOPs or as --params N --tokens D, not both."
        )
    if not compute and not (params and tokens):
        missing = "--compute (or --params N --tokens D)"
        if params or tokens:
            missing = "--tokens" if params else "--params"
        raise InputError(
            f"the training compute of each model is needed: add {missing}, once per file "
            "in the order of the files."
        )
    named = {"--compute": compute} if compute else {"--params": params, "--tokens": tokens}
    for option, values in named.items():
        assert values is not None
        if len(values) != n_files:
            raise InputError(
                f"{option} is given {len(values)} time(s) for {n_files} file(s); give it once "
                "per file, in the order of the files."
            )
        for i, value in enumerate(values):
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{option} value {i + 1} is {value:g}; it must be > 0.")
    if compute:
        return [float(c) for c in compute]
    assert params is not None and tokens is not None
    return [training_compute(n, d) for n, d in zip(params, tokens, strict=True)]


#: Columns of a mapping table (``--models``), read in any case.
_MAP_COLUMNS = ("file", "model", "compute", "params", "tokens")


def read_model_map(
    source: str | Path | pd.DataFrame,
) -> tuple[list[Path], list[str | None], list[float]]:
    """Files, model labels and computes from a small mapping table, one row per file.

    Columns (in any case: ``File``, ``Params``): ``file`` (relative to the mapping file's
    folder, or absolute), optional ``model``, and ``compute`` (FLOPs) or ``params`` and
    ``tokens`` (C = 6·N·D), per row.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"file": ["a.json", "b.json"], "model": ["a", "b"],
    ...                      "params": [1e9, 3e9], "tokens": [2e10, 6e10]})
    >>> read_model_map(rows)[2]
    [1.2e+20, 1.08e+21]
    """
    frame, label = read_table(source)
    named = {str(c).strip().casefold(): c for c in frame.columns}  # 'File', 'Params' read too
    frame = frame.rename(
        columns={
            named[key]: key
            for key in _MAP_COLUMNS
            if key not in frame.columns and key in named and named[key] not in _MAP_COLUMNS
        }
    )
    if "file" not in frame.columns:
        raise InputError(
            f"{label}: missing column 'file'.{did_you_mean('file', map(str, frame.columns))} "
            "Expected columns file, model, and compute or params and tokens."
        )
    root = Path() if isinstance(source, pd.DataFrame) else Path(label).parent
    files: list[Path] = []
    models: list[str | None] = []
    computes: list[float] = []
    for position, (_, row) in enumerate(frame.iterrows()):
        where = f"{label}, row {position + 1}"
        compute, params, tokens = (_cell(row, c, where) for c in ("compute", "params", "tokens"))
        if compute is not None and (params is not None or tokens is not None):
            raise InputError(f"{where}: give compute or params and tokens, not both.")
        if compute is None:
            if params is None or tokens is None:
                raise InputError(
                    f"{where}: no training compute; fill 'compute' (FLOPs) or both 'params' "
                    "and 'tokens' (C = 6·N·D)."
                )
            compute = training_compute(params, tokens)
        if not (math.isfinite(compute) and compute > 0):
            raise InputError(f"{where}: training compute {compute:g} must be > 0.")
        name = row["file"]
        if pd.isna(name) or not str(name).strip():
            raise InputError(f"{where}, column 'file': the file is missing.")
        path = Path(str(name).strip())
        path = path if path.is_absolute() else root / path
        if not isinstance(source, pd.DataFrame) and not path.exists():
            raise InputError(
                f"{where}, column 'file': {str(name).strip()} not found at {path} (paths are "
                f"relative to the folder of {label})."
            )
        files.append(path)
        model = row.get("model")
        models.append(None if model is None or pd.isna(model) else str(model).strip())
        computes.append(compute)
    return files, models, computes


def _cell(row: pd.Series, column: str, where: str) -> float | None:
    value = row.get(column)
    if value is None or pd.isna(value) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}, column '{column}': '{value}' is not a number.") from None


def _require_file(path: Path, expected: str) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file. Expected {expected}.")
    if not path.is_file():
        raise InputError(f"{path}: file not found. Expected {expected}.")


def _parse_json(text: str) -> Any:
    """``json.loads``, with JSON nested too deeply for Python's parser as a ``JSONDecodeError``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def _load_json(path: Path, expected: str) -> Any:
    _require_file(path, expected)
    try:
        text = path.read_text(encoding="utf-8-sig")
        return _parse_json(text)
    except json.JSONDecodeError as exc:
        first = next((line for line in text.split("\n") if line.strip()), "")
        try:  # JSON Lines: say which harness wrote them
            hint = _what_it_is(_parse_json(first))[1] if exc.lineno > 1 else ""
        except json.JSONDecodeError:
            hint = ""
        raise InputError(
            f"{path}, line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}). "
            f"Expected {expected}.{hint}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text. Expected {expected}.") from None


def _what_it_is(data: Any) -> tuple[str, str]:
    """The format whose file ``data`` looks like, and a sentence saying so (``""`` for none)."""
    if isinstance(data, dict):
        values = list(data.values())
        if isinstance(data.get("eval"), dict):
            return "evalplus", (
                " It looks like EvalPlus's eval_results.json: use `bayescale import evalplus`."
            )
        if "results" in data and ("versions" in data or "configs" in data):
            return "lm-eval", (
                " It looks like lm-eval's aggregate results file: import the "
                "samples_<task>_<date>.jsonl files that --log_samples writes beside it, with "
                "`bayescale import lm-eval`."
            )
        if "doc_id" in data:
            return "lm-eval", (
                " It looks like lm-eval's --log_samples output: use `bayescale import lm-eval`."
            )
        if "task_id" in data and ("solution" in data or "completion" in data):
            return "evalplus", (
                " It looks like generated samples not yet evaluated: run `evalplus.evaluate "
                "--samples FILE` and import the eval_results.json it writes."
            )
        if values and all(isinstance(v, list) and v and isinstance(v[0], list) for v in values):
            return "bigcode", (
                " It looks like code_eval per-sample results: use `bayescale import bigcode`."
            )
    if isinstance(data, list) and data and all(isinstance(x, list) for x in data):
        return "bigcode", (
            " It looks like bigcode-evaluation-harness's generations_<task>.json (programs, no "
            "pass/fail): run code_eval on it and its references (docs/pass-rates.md) and import "
            "the per-sample results it returns."
        )
    return "", ""


def _frame(model: str, compute: float, rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["problem", "n", "k"]).assign(model=model, compute=compute)
    frame = frame.astype({"model": object, "compute": float, "problem": object})
    return frame.astype({"n": "int64", "k": "int64"})[list(TABLE_COLUMNS)]


def _keys(mapping: dict[str, Any]) -> str:
    if not mapping:
        return "none, an empty object"
    return ", ".join(f"'{k}'" for k in list(mapping)[:12]) + (" …" if len(mapping) > 12 else "")


# --------------------------------------------------------------------------------- EvalPlus


def _evalplus_label(path: Path) -> str:
    """``…/<run>/eval_results.json`` -> ``<run>``; ``<run>.eval_results.json`` -> ``<run>``."""
    name = path.name
    if name == "eval_results.json":
        return path.resolve().parent.name
    for suffix in ("_eval_results.json", ".eval_results.json", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _evalplus_status(value: Any, where: str) -> str | None:
    status = value[0] if isinstance(value, list) and value else value
    if status is None:
        return None
    if status not in EVALPLUS_STATUSES:
        raise InputError(
            f"{where}: unknown status {status!r}. EvalPlus writes one of "
            f"{', '.join(sorted(EVALPLUS_STATUSES))}; is this an EvalPlus eval_results.json?"
        )
    return str(status)


def _evalplus_task(entry: Any, where: str) -> tuple[list[str | None], list[str | None]]:
    """Base and plus statuses of one task's samples, in either layout."""
    if isinstance(entry, list):  # current layout: one dict per sample
        base: list[str | None] = []
        plus: list[str | None] = []
        for i, sample in enumerate(entry):
            at = f"{where}[{i}]"
            if not isinstance(sample, dict) or "base_status" not in sample:
                raise InputError(
                    f"{at}: expected an object with 'base_status' and 'plus_status' (the "
                    "per-sample layout of current EvalPlus)."
                )
            base.append(_evalplus_status(sample["base_status"], f"{at}['base_status']"))
            plus.append(_evalplus_status(sample.get("plus_status"), f"{at}['plus_status']"))
        return base, plus
    if isinstance(entry, dict):  # v0.1 layout: {"nfiles", "base": [[status, details]], "plus"}
        if "base" not in entry:
            raise InputError(
                f"{where}: no 'base' key (keys: {_keys(entry)}). Expected a list of per-sample "
                "results (current EvalPlus) or an object with 'base' and 'plus' (v0.1)."
            )
        for key in ("base", "plus", "files"):
            if not isinstance(entry.get(key, []), list):
                raise InputError(f"{where}['{key}']: expected a list, got {entry[key]!r}.")
        base = [_evalplus_status(s, f"{where}['base'][{i}]") for i, s in enumerate(entry["base"])]
        plus = [
            _evalplus_status(s, f"{where}['plus'][{i}]")
            for i, s in enumerate(entry.get("plus", []))
        ]
        files = entry.get("nfiles", len(entry["files"]) if "files" in entry else None)
        if files is not None and files != len(base):
            raise InputError(
                f"{where}: 'nfiles' says {files} samples but 'base' holds {len(base)} results; "
                "the file is inconsistent (re-run evalplus.evaluate on the samples)."
            )
        if plus and len(plus) != len(base):
            raise InputError(
                f"{where}: 'plus' holds {len(plus)} results but 'base' holds {len(base)}; each "
                "sample needs both (re-run evalplus.evaluate on the samples)."
            )
        return base, plus or [None] * len(base)
    raise InputError(
        f"{where}: expected a list of per-sample results or an object, got {type(entry).__name__}."
    )


def import_evalplus(
    path: str | Path, *, model: str | None = None, compute: float, tests: str = "plus"
) -> pd.DataFrame:
    """Per-problem counts from an EvalPlus ``eval_results.json``.

    A sample passes the ``base`` tests when its base status is ``pass``; it passes ``plus`` when
    both its base and its plus status are ``pass`` (how EvalPlus itself scores HumanEval+ and
    MBPP+). ``n`` is the number of samples of the task.

    Follows ``evalplus/evaluate.py`` of current EvalPlus (commit 58571f9, 2024; layout
    ``{"date", "hash", "eval": {task_id: [{"task_id", "solution", "base_status",
    "plus_status", "base_fail_tests", "plus_fail_tests"}, …]}, "pass_at_k"}``, statuses
    ``pass``/``fail``/``timeout``, ``plus_status`` null with ``--base-only``) and the v0.1
    layout (commit 0310ad2: ``{"eval": {task_id: {"nfiles", "base": [[status, details], …],
    "plus": [...]}}}``, statuses ``success``/``failed``/``timed out``, ``files`` before
    ``nfiles``).

    Parameters
    ----------
    path
        The ``eval_results.json`` (or ``<samples>.eval_results.json``) file.
    model
        Model label; default: the run's directory name (``…/<run>/eval_results.json``) or
        the file name without ``.eval_results.json``.
    compute
        Training compute of the model in FLOPs.
    tests
        ``"plus"`` (base + extra tests, the default) or ``"base"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``model, compute, problem, n, k``; ``problem`` is the EvalPlus task id.

    Raises
    ------
    InputError
        On bad JSON, a missing key, an unknown status, inconsistent sample counts, or
        ``tests="plus"`` on a file evaluated with ``--base-only``.
    """
    if tests not in ("base", "plus"):
        raise InputError(f"--tests must be 'base' or 'plus', got '{tests}'.")
    path = Path(path)
    data = _load_json(path, "the eval_results.json written by evalplus.evaluate")
    if not isinstance(data, dict) or "eval" not in data:
        keys = _keys(data) if isinstance(data, dict) else f"a JSON {type(data).__name__}"
        raise InputError(
            f"{path}: no 'eval' key (found {keys}). Expected the eval_results.json written by "
            f"evalplus.evaluate, with per-task results under 'eval'.{_what_it_is(data)[1]}"
        )
    tasks = data["eval"]
    if not isinstance(tasks, dict) or not tasks:
        raise InputError(f"{path}, key 'eval': expected an object of task ids, got none.")
    rows = []
    for task, entry in tasks.items():
        where = f"{path}, key eval['{task}']"
        base, plus = _evalplus_task(entry, where)
        if not base:
            raise InputError(f"{where}: no samples; every task needs at least one result.")
        if tests == "plus" and any(p is None for p in plus):
            raise InputError(
                f"{where}: no plus-test results (the file was written with --base-only). "
                "Import the base tests with --tests base, or re-run evalplus without --base-only."
            )
        ok = [
            b in EVALPLUS_PASS and (tests == "base" or p in EVALPLUS_PASS)
            for b, p in zip(base, plus, strict=True)
        ]
        rows.append((str(task), len(base), sum(ok)))
    _check_evalplus_summary(path, data, tests, rows)
    return _frame(model or _evalplus_label(path), compute, rows)


def _check_evalplus_summary(
    path: Path, data: dict[str, Any], tests: str, rows: list[tuple[str, int, int]]
) -> None:
    """Warn when the file's own ``pass_at_k`` disagrees with the counts read from it.

    Current EvalPlus stores pass@1 = mean over tasks of k/n for the base and plus tests; a
    mismatch means the statuses were edited or read differently from how EvalPlus scored them.
    """
    summary = data.get("pass_at_k")
    stored = summary.get(tests, {}).get("pass@1") if isinstance(summary, dict) else None
    if not isinstance(stored, int | float):
        return
    mean = sum(k / n for _, n, k in rows) / len(rows)
    if abs(mean - stored) > 1e-9:
        log.warning(
            "%s: pass_at_k['%s']['pass@1'] is %.6g but the per-sample statuses give %.6g; "
            "check that the file was not edited after evalplus.evaluate wrote it",
            path,
            tests,
            stored,
            mean,
        )


# ------------------------------------------------------------------------- lm-eval harness


def _lm_eval_metric(line: dict[str, Any], where: str, metric: str | None) -> str:
    if metric is not None:
        return metric
    named = line.get("metrics")
    if isinstance(named, list) and named:
        if len(named) == 1:
            return str(named[0])
        # pass@k with k > 1 is never a count: beside it, pass@1 is the only choice
        if "pass@1" in named and all(_PASS_AT_K.match(str(m)) for m in named):
            return "pass@1"
        raise InputError(
            f"{where}: the task computed several metrics ({', '.join(map(str, named))}); "
            "choose the 0/1 or pass@1 one with --metric NAME."
        )
    found = [m for m in _LM_EVAL_METRICS if m in line]
    if len(found) == 1:
        return found[0]
    others = [k for k in line if k not in _LM_EVAL_KEYS]
    raise InputError(
        f"{where}: cannot tell which metric counts passes (metric keys: "
        f"{', '.join(others) or 'none'}); name it with --metric NAME."
    )


def _lm_eval_value(line: dict[str, Any], metric: str, where: str) -> float:
    value: Any = line
    for part in metric.split("."):
        if not isinstance(value, dict) or part not in value:
            keys = [k for k in line if k not in _LM_EVAL_KEYS]
            raise InputError(
                f"{where}: no metric '{metric}'.{did_you_mean(metric, keys)} Metric keys "
                f"present: {', '.join(keys) or 'none'}; choose one with --metric NAME."
            )
        value = value[part]
    if isinstance(value, dict):
        raise InputError(
            f"{where}: metric '{metric}' is an object with keys {_keys(value)}; name the "
            f"number inside it, e.g. --metric {metric}.{next(iter(value), 'KEY')}."
        )
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: metric '{metric}' is {value!r}; expected a number.")
    return float(value)


def _lm_eval_samples(line: dict[str, Any]) -> int:
    """Samples the metric saw: the repeats kept by the filter, else one answer.

    ``filtered_resps`` holds one entry per request. A generation task with ``repeats: R`` whose
    filter keeps every sample has one request whose entry is a list of R strings; a filter that
    reduces them (``take_first``, majority vote) leaves one string; loglikelihood entries are
    ``[logprob, is_greedy]`` pairs. Only the first case is R samples. lm-eval 0.4.3 and later
    write every response as a string, so a loglikelihood task of one request per document
    (``lambada_openai``) has the entry ``["-1.23", "True"]``, told apart by its raw ``resps``
    (a list of pairs, where generations are a list of strings) or by its form.
    """
    resps = line.get("filtered_resps")
    if isinstance(resps, list) and len(resps) == 1 and isinstance(resps[0], list):
        inner = resps[0]
        if inner and all(isinstance(r, str) for r in inner) and not _loglikelihood(line, inner):
            return len(inner)
    return 1


def _loglikelihood(line: dict[str, Any], entry: list[str]) -> bool:
    """Whether a filtered entry of strings is a ``[logprob, is_greedy]`` pair, not 2 samples."""
    raw = line.get("resps")
    if isinstance(raw, list) and raw and isinstance(raw[0], list) and raw[0]:
        return isinstance(raw[0][0], list)
    if len(entry) != 2 or entry[1] not in ("True", "False"):
        return False
    try:
        float(entry[0])
    except ValueError:
        return False
    return True


_LM_EVAL_EXPECTED = "the samples_<task>_<date>.jsonl written by lm_eval --log_samples"


def _lm_eval_lines(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a samples file, each with where it is (``line N`` or ``item [i]``).

    lm-eval 0.4.3 and later write one JSON object per line; 0.4.0-0.4.2 wrote the same objects
    as one indented JSON list (``<model_args>_<task>.jsonl``).
    """
    expected = _LM_EVAL_EXPECTED
    _require_file(path, expected)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text. Expected {expected}.") from None
    if text.lstrip().startswith("["):
        return _lm_eval_list(path, text, expected)
    lines = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            lines.append((f"line {number}", _lm_eval_line(path, number, line, expected)))
        except InputError:
            if not lines:  # a JSON document over several lines: lm-eval's results file?
                _refuse_json_document(path, text)
            raise
    if not lines:
        raise InputError(f"{path}: no lines. Expected {expected}.")
    return lines


def _lm_eval_list(path: Path, text: str, expected: str) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a samples file written by lm-eval 0.4.0-0.4.2: one JSON list."""
    try:
        items = _parse_json(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}, line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}). "
            f"Expected {expected} (or the JSON list of lm-eval 0.4.0-0.4.2)."
        ) from None
    if not items:
        raise InputError(f"{path}: an empty list. Expected {expected}.")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "doc_id" not in item:
            raise InputError(
                f"{path}, item [{i}]: no 'doc_id' key. Expected {expected} (or the JSON list "
                "of lm-eval 0.4.0-0.4.2): one object per document with 'doc_id', "
                f"'filtered_resps' and the metric values.{_what_it_is(items)[1]}"
            )
    return [(f"item [{i}]", item) for i, item in enumerate(items)]


def _refuse_json_document(path: Path, text: str) -> None:
    """Refuse a JSON document given as lm-eval samples: lm-eval's or another harness's.

    lm-eval's aggregate ``results_<date>.json`` is refused naming the samples files beside it.
    """
    try:
        data = _parse_json(text)
    except json.JSONDecodeError:
        return
    if not (isinstance(data, dict) and "results" in data and "doc_id" not in data):
        fmt, hint = _what_it_is(data)
        if fmt and fmt != "lm-eval":
            raise InputError(f"{path}: not {_LM_EVAL_EXPECTED}.{hint}")
        return
    samples = sorted(p.name for p in path.parent.glob("*.jsonl"))
    found = (
        f"; beside this file: {', '.join(samples[:6])}{' …' if len(samples) > 6 else ''}"
        if samples
        else "; none is beside this file: run lm_eval again with --log_samples"
    )
    raise InputError(
        f"{path}: this is lm-eval's aggregate results file (one score per task and filter), "
        "which holds no per-problem results. Import the samples_<task>_<date>.jsonl files that "
        f"lm_eval --log_samples writes beside it{found}."
    )


def _lm_eval_line(path: Path, number: int, text: str, expected: str) -> dict[str, Any]:
    try:
        line = _parse_json(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}, line {number}: not a JSON object ({exc.msg} at column {exc.colno}). "
            f"Expected {expected}: one JSON object per line."
        ) from None
    if isinstance(line, dict) and "results" in line and "doc_id" not in line:
        _refuse_json_document(path, text)
    if not isinstance(line, dict) or "doc_id" not in line:
        raise InputError(
            f"{path}, line {number}: no 'doc_id' key. Expected {expected}: one object "
            "per document with 'doc_id', 'filtered_resps' and the metric values."
            f"{_what_it_is(line)[1]}"
        )
    return line


def import_lm_eval(
    path: str | Path,
    *,
    model: str | None = None,
    compute: float,
    metric: str | None = None,
    filter: str | None = None,
    problem_field: str | None = None,
) -> pd.DataFrame:
    """Per-problem counts from an lm-evaluation-harness ``--log_samples`` file.

    Each line is one document (problem). ``n`` is the number of samples the metric saw: the
    task's ``repeats`` when its filter keeps every generation (e.g. ``humaneval`` with
    ``repeats: 20``), else 1 (one greedy answer, a majority vote, or a multiple-choice
    loglikelihood). The metric must be a 0/1 score or the pass fraction (pass@1) over those
    samples, so ``k = value · n`` is a whole number; anything else (pass@10, F1, BLEU) is
    refused.

    Follows ``lm_eval/evaluator.py`` and ``lm_eval/loggers/evaluation_tracker.py`` of
    lm-evaluation-harness 0.4.3 and later (files ``samples_<task>_<date>.jsonl``, one JSON
    object per line: ``doc_id``, ``doc``, ``target``, ``arguments``, ``resps``,
    ``filtered_resps``, hashes and one key per metric; later releases add ``filter`` and
    ``metrics``) and 0.4.0-0.4.2 (``<model_args>_<task>.jsonl``, the same objects as one
    indented JSON list; problems are labelled by ``doc_id`` alone, the task not being told
    apart in the name). Every release writes one object per document *and filter*. Code tasks:
    ``humaneval`` of PR #1992 logs ``pass_at_1`` over ``repeats: 64`` with filter ``n=64``;
    later task files use filter ``create_test`` and a ``pass_at_k`` metric function whose dict
    the task spreads into its keys (``pass@1``); name another with ``--metric``, ``a.b``
    reaching into an object. lm-eval's aggregate ``results_<date>.json`` is refused with the
    samples files beside it named.

    Parameters
    ----------
    path
        The ``samples_<task>_<date>.jsonl`` file.
    model
        Model label; default: the directory name (lm-eval writes
        ``<output_path>/<model name>/samples_…``).
    compute
        Training compute in FLOPs.
    metric
        Metric key (``exact_match``, ``acc``, ``pass@1``…; ``a.b`` reaches into an object).
        Default: the line's only ``metrics`` entry (``pass@1`` among pass@k ones), else the
        only one of ``pass@1``, ``pass_at_1``, ``exact_match``, ``acc`` present.
    filter
        Filter name (``strict-match``, ``flexible-extract``…) when the file holds several.
    problem_field
        Label problems by this field of ``doc`` (e.g. ``task_id``) instead of
        ``<task>/<doc_id>``.

    Raises
    ------
    InputError
        On a malformed line, an ambiguous filter or metric, a metric that is not a pass count,
        or a document twice.
    """
    path = Path(path)
    lines = _lm_eval_lines(path)
    filters = list(dict.fromkeys(str(line["filter"]) for _, line in lines if "filter" in line))
    if filter is not None:
        if filter not in filters:
            alone = (
                " A file of one filter needs no --filter: import it in a command of its own "
                "(-o TABLE.csv --append adds it to the same table)."
                if len(filters) <= 1
                else ""
            )
            raise InputError(
                f"{path}: no lines for filter '{filter}'.{did_you_mean(filter, filters)} Filters "
                f"present: {', '.join(filters) or 'none (this file does not name its filters)'}."
                f"{alone}"
            )
        lines = [(i, line) for i, line in lines if line.get("filter") == filter]
    elif len(filters) > 1:
        raise InputError(
            f"{path}: the file holds results for {len(filters)} filters ({', '.join(filters)}); "
            "choose one with --filter NAME."
        )
    match = _LM_EVAL_NAME.match(path.name)
    task = match.group("task") if match else None
    chosen = _lm_eval_metric(lines[0][1], f"{path}, {lines[0][0]}", metric)
    rows: list[tuple[str, int, int]] = []
    seen: dict[str, str] = {}
    for at, line in lines:
        where = f"{path}, {at}"
        if problem_field is not None:
            doc = line.get("doc")
            if not isinstance(doc, dict) or problem_field not in doc:
                fields = _keys(doc) if isinstance(doc, dict) else "none"
                raise InputError(
                    f"{where}: 'doc' has no field '{problem_field}' (fields: {fields}); choose "
                    "another --problem-field or leave it out to label problems by doc_id."
                )
            problem = str(doc[problem_field])
        else:
            problem = f"{task}/{line['doc_id']}" if task else str(line["doc_id"])
        if problem in seen:
            raise InputError(
                f"{where}: problem '{problem}' again (first on {seen[problem]}). One line per "
                "document is expected; a file from an lm-eval version that does not name its "
                "filters repeats documents once per filter: keep one filter's lines."
            )
        seen[problem] = at
        value = _lm_eval_value(line, chosen, where)
        n = _lm_eval_samples(line)
        k = value * n
        if not (abs(k - round(k)) <= 1e-6 * n and 0 <= round(k) <= n):
            raise InputError(
                f"{where}: metric '{chosen}' = {value:g} over {n} sample(s) is not a whole number "
                "of passes; it is not a 0/1 score or a pass@1 fraction (pass@k with k > 1, F1 "
                "and BLEU cannot be turned into counts). Choose another with --metric NAME."
            )
        rows.append((problem, n, round(k)))
    return _frame(model or path.resolve().parent.name, compute, rows)


# ----------------------------------------------------------------- bigcode-evaluation-harness


def _bigcode_aggregate(
    path: Path, data: dict[str, Any], model: str | None, compute: float, task: str | None
) -> pd.DataFrame:
    tasks = [t for t, v in data.items() if t != "config" and isinstance(v, dict)]
    if task is None:
        if len(tasks) > 1:
            raise InputError(
                f"{path}: metrics for {len(tasks)} tasks ({', '.join(tasks)}); choose one with "
                "--task NAME."
            )
        task = tasks[0]
    elif task not in tasks:
        raise InputError(
            f"{path}: no task '{task}'.{did_you_mean(task, tasks)} Tasks present: "
            f"{', '.join(tasks)}."
        )
    metrics = data[task]
    if "pass@1" not in metrics:
        raise InputError(
            f"{path}, key '{task}': no 'pass@1' (keys: {_keys(metrics)}); the aggregate table "
            "needs the mean pass@1 over the problems."
        )
    rate = metrics["pass@1"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise InputError(
            f"{path}, key '{task}.pass@1': {rate!r} must be a number in (0, 1]; a pass rate of 0 "
            "carries no information for the aggregate law (import per-problem execution "
            "results instead)."
        )
    config = data.get("config")
    default = config.get("model") if isinstance(config, dict) else None
    label = model or (str(default) if default else path.stem)
    row = pd.DataFrame({"model": [label], "compute": [float(compute)], "pass_rate": [float(rate)]})
    return row.astype({"model": object})[list(AGGREGATE_COLUMNS)]


def _bigcode_sample(item: Any, where: str) -> tuple[int | None, bool]:
    result = item[1] if isinstance(item, list) and len(item) == 2 else item
    if not isinstance(result, dict) or not isinstance(result.get("passed"), bool):
        raise InputError(
            f"{where}: expected [completion_id, {{'passed': true|false, …}}] as code_eval "
            "returns it, or the result object alone."
        )
    cid = result.get("completion_id", item[0] if isinstance(item, list) else None)
    return (int(cid) if isinstance(cid, int) else None), result["passed"]


def import_bigcode(
    path: str | Path,
    *,
    model: str | None = None,
    compute: float,
    task: str | None = None,
) -> pd.DataFrame:
    """Per-problem counts (or one aggregate row) from bigcode-evaluation-harness output.

    What the harness writes (``bigcode_eval/evaluator.py`` and ``main.py``, 2024 main branch;
    confirmed by the maintainers' issue #211, "Check pass/fail count for humaneval"):
    ``generations_<task>.json`` (per problem, a list of generated programs),
    ``references_<task>.json`` (per problem, the test program) and the ``--metric_output_path``
    file ``evaluation_results.json`` = ``{"<task>": {"pass@1": …, "pass@10": …}, "config":
    {…}}``. The per-sample pass/fail is computed by ``compute_code_eval`` (the HF ``code_eval``
    metric) and discarded, so there is no per-problem file to read. Two shapes are accepted,
    told apart by content:

    - **per-sample execution results**: the second value ``compute_code_eval`` returns, saved
      with ``json.dump``: ``{"<problem index>": [[completion_id, {"task_id", "passed",
      "result", "completion_id"}], …]}`` (README: how to write it from the saved generations
      and references). Gives the per-problem table; ``problem`` is the problem's position in
      the generations file (the dataset index minus ``--limit_start``), so every model must
      be evaluated on the same problems in the same order.
    - **evaluation_results.json**: gives one row ``model, compute, pass_rate`` (pass@1 of
      ``task``), the aggregate table of docs/formats.md; no per-problem information exists there.

    Parameters
    ----------
    path
        Either JSON file.
    model
        Model label; default: ``config.model`` of a metrics file, else the file name.
    compute
        Training compute in FLOPs.
    task
        Which task of a metrics file holding several.

    Raises
    ------
    InputError
        On bad JSON, an unrecognised shape, a sample without a boolean ``passed``, or a
        completion id twice.
    """
    path = Path(path)
    expected = (
        "code_eval per-sample results saved as JSON, or the evaluation_results.json of "
        "bigcode-evaluation-harness"
    )
    data = _load_json(path, expected)
    fmt, hint = _what_it_is(data)
    if not isinstance(data, dict) or not data or fmt not in ("", "bigcode"):
        lead = "expected " if hint else "expected a JSON object: "
        raise InputError(f"{path}: {lead}{expected}.{hint}")
    if any(isinstance(v, dict) for v in data.values()):  # {"<task>": {metric: value}, "config"}
        return _bigcode_aggregate(path, data, model, compute, task)
    if task is not None:
        raise InputError(
            f"{path}: --task applies to evaluation_results.json; this file holds per-sample "
            "results."
        )
    rows = []
    for problem, samples in data.items():
        where = f"{path}, key '{problem}'"
        if not isinstance(samples, list) or not samples:
            raise InputError(
                f"{where}: expected a non-empty list of per-sample results, got "
                f"{type(samples).__name__ if samples else 'nothing'}. Expected {expected}."
            )
        ids: set[int] = set()
        passed = 0
        for i, item in enumerate(samples):
            cid, ok = _bigcode_sample(item, f"{where}[{i}]")
            if cid is not None:
                if cid in ids:
                    raise InputError(
                        f"{where}[{i}]: completion_id {cid} appears twice; each sample is "
                        "counted once (was the file concatenated from two runs?)."
                    )
                ids.add(cid)
            passed += ok
        rows.append((str(problem), len(samples), passed))
    return _frame(model or path.stem, compute, rows)


#: Importers by format name: each takes ``path``, ``model=``, ``compute=`` and its options.
IMPORTERS: dict[str, Callable[..., pd.DataFrame]] = {
    "evalplus": import_evalplus,
    "lm-eval": import_lm_eval,
    "bigcode": import_bigcode,
}

#: Options each format accepts (besides ``model`` and ``compute``).
OPTIONS: dict[str, tuple[str, ...]] = {
    "evalplus": ("tests",),
    "lm-eval": ("metric", "filter", "problem_field"),
    "bigcode": ("task",),
}


def combine_tables(
    frames: Sequence[pd.DataFrame], source: str = "the imported files"
) -> pd.DataFrame:
    """Stack per-model tables into one and check it as ``bayescale pass`` will.

    Raises
    ------
    InputError
        When per-problem and aggregate tables are mixed, a (model, problem) appears twice, or a
        model has two compute values.
    """
    kinds = {tuple(f.columns) for f in frames}
    if len(kinds) > 1:
        raise InputError(
            f"{source}: per-problem counts and aggregate pass rates cannot share one table; "
            "import the aggregate files into a table of their own."
        )
    table = pd.concat(list(frames), ignore_index=True)
    key = ["model", "problem"] if "problem" in table.columns else ["model"]
    dup = table.duplicated(key)
    if dup.any():
        i = int(dup.to_numpy().argmax())
        what = " and ".join(f"{c} '{table[c].iloc[i]!s}'" for c in key)
        raise InputError(
            f"{source}: {what} appear twice. Give each file its own --model label, or remove "
            "the model from the table before importing it again."
        )
    computes = table.groupby("model", sort=False)["compute"].nunique()
    if (computes > 1).any():
        name = str(computes.index[int((computes > 1).to_numpy().argmax())])
        values = sorted(table.loc[table["model"] == name, "compute"].unique())
        raise InputError(
            f"{source}: model '{name}' has two compute values ({values[0]:g} and {values[-1]:g}); "
            "a model has one training compute."
        )
    return table


def missing_problems(table: pd.DataFrame) -> dict[str, int]:
    """How many of the table's problems each model lacks (models lacking none are left out).

    A model evaluated on a subset (``--limit``, EvalPlus ``--mini``) is legal, the pass model
    treats its missing pairs as unobserved, but it is usually a mistake worth a message.
    """
    if "problem" not in table.columns:
        return {}
    total = table["problem"].nunique()
    counts = table.groupby("model", sort=False)["problem"].nunique()
    return {str(m): int(total - c) for m, c in counts.items() if c < total}


def import_files(
    fmt: str,
    paths: Sequence[str | Path],
    computes: Sequence[float],
    models: Sequence[str | None] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Import one file per model into one table.

    Parameters
    ----------
    fmt
        A key of :data:`IMPORTERS`: ``evalplus``, ``lm-eval`` or ``bigcode``.
    paths
        The harness output files, one per model (or several per model with the same label
        and compute, e.g. one per lm-eval task or EvalPlus dataset; bigcode labels problems
        by position, so two bigcode files of one model collide and are refused).
    computes
        Training compute of each file's model, in FLOPs (see :func:`model_computes`).
    models
        Model labels, one per file; default: each importer's label from the file.
    **options
        Format options (:data:`OPTIONS`); ``None`` values are ignored.

    """
    if fmt not in IMPORTERS:
        raise InputError(
            f"unknown format '{fmt}'.{did_you_mean(fmt, IMPORTERS)} Formats: "
            f"{', '.join(IMPORTERS)}."
        )
    given = {k: v for k, v in options.items() if v is not None}
    wrong = sorted(set(given) - set(OPTIONS[fmt]))
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise InputError(
            f"{flags} does not apply to format '{fmt}' (its options: "
            f"{', '.join('--' + o.replace('_', '-') for o in OPTIONS[fmt])})."
        )
    if not paths:
        raise InputError("no files to import.")
    if models and len(models) != len(paths):
        raise InputError(
            f"--model is given {len(models)} time(s) for {len(paths)} file(s); give it once per "
            "file, in the order of the files, or leave it out to label models by their files."
        )
    if len(computes) != len(paths):
        raise InputError(f"{len(computes)} compute value(s) for {len(paths)} file(s).")
    for i, label in enumerate(models or ()):
        if label is not None and not str(label).strip():
            raise InputError(
                f"--model value {i + 1} is empty; give each file a label, or leave --model out "
                "to label models by their files."
            )
    frames = [
        IMPORTERS[fmt](Path(p), model=models[i] if models else None, compute=computes[i], **given)
        for i, p in enumerate(paths)
    ]
    return combine_tables(frames)


def write_table(table: pd.DataFrame, output: str | Path, *, append: bool = False) -> pd.DataFrame:
    """Write an imported table as CSV; with ``append``, add it to the table already there.

    Returns
    -------
    pandas.DataFrame
        The table written (the old rows first when appending).

    Raises
    ------
    InputError
        When the file exists and ``append`` is false, or the existing table has other columns,
        or appending repeats a (model, problem) or changes a model's compute.
    """
    output = Path(output)
    if output.suffix.lower() != ".csv":
        raise InputError(f"{output}: the table is written as CSV; name it *.csv.")
    if output.exists():
        if not append:
            raise InputError(
                f"{output}: already exists. Add --append to add these models to it, or choose "
                "another -o path."
            )
        header = _only_header(output)
        if header is not None:  # a table started by hand: nothing to combine
            if header != list(table.columns):
                raise InputError(
                    f"{output}: columns {', '.join(header)} differ from the imported "
                    f"{', '.join(table.columns)}; append only to a table written by bayescale "
                    "import."
                )
            write_text(output, table.to_csv(index=False))
            return table
        old, label = read_table(output)
        if tuple(old.columns) != tuple(table.columns):
            raise InputError(
                f"{label}: columns {', '.join(old.columns)} differ from the imported "
                f"{', '.join(table.columns)}; append only to a table written by bayescale import."
            )
        old = _typed(old, label)  # labels stay the strings written (NA, 007, 1.10)
        table = table.copy()
        for column in ("model", "problem"):
            if column in table.columns:
                table[column] = table[column].astype(str).astype(object)
        table = combine_tables([old, table], f"{label} with the imported files")
    # a new file beside the old one, then a rename: an interrupted append leaves the old table
    write_text(output, table.to_csv(index=False))
    return table


def _only_header(path: Path) -> list[str] | None:
    """The column names of a small CSV file that holds a header line alone, else ``None``."""
    with path.open("rb") as f:
        head = f.read(4096)
    lines = [line for line in head.decode("utf-8-sig", "replace").splitlines() if line.strip()]
    if len(head) == 4096 or len(lines) != 1:
        return None
    return [name.strip() for name in lines[0].split(",")]


def _typed(old: pd.DataFrame, label: str) -> pd.DataFrame:
    """An existing imported table (read as strings) with its numeric columns as numbers."""
    old = old.copy()
    for column in ("compute", "pass_rate"):
        if column in old.columns:
            old[column] = numeric_column(old, column, label)
    for column in ("n", "k"):
        if column in old.columns:
            values = numeric_column(old, column, label, positive=False)
            if not np.all(values == np.round(values)):
                raise InputError(f"{label}, column '{column}': counts must be whole numbers.")
            old[column] = values.astype(np.int64)
    for column in ("model", "problem"):
        if column in old.columns:
            old[column] = old[column].astype(str).astype(object)
    return old.reset_index(drop=True)


def import_command(
    fmt: str,
    files: Sequence[str | Path] = (),
    *,
    model: Sequence[str] | None = None,
    compute: Sequence[float] | None = None,
    params: Sequence[float] | None = None,
    tokens: Sequence[float] | None = None,
    models: str | Path | None = None,
    output: str | Path | None = None,
    append: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """What ``bayescale import`` does: files and per-file options, or a mapping, to a table.

    Parameters
    ----------
    fmt, files, options
        As :func:`import_files`.
    model, compute, params, tokens
        Per-file labels and compute, in file order (see :func:`model_computes`); each given
        once for several files, the files of one model (refused when their own labels name
        several models and ``model`` is not given).
    models
        A mapping table (:func:`read_model_map`) instead of ``files`` and the per-file options.
    output, append
        Where to write the table (:func:`write_table`); ``None`` only returns it.

    Returns
    -------
    pandas.DataFrame
        The table imported (with the old rows when appending).
    """
    labels: Sequence[str | None] | None = model
    shared = False
    if models is not None:
        if files or model or compute or params or tokens:
            named = ", ".join(str(f) for f in files or ())
            raise InputError(
                f"--models replaces the FILE arguments{f' ({named})' if named else ''} and "
                "--model, --compute, --params, --tokens: its rows name each model's file, "
                f"label and compute. Leave those out, or add the files to {models} (a row "
                "each: file,model,compute or file,model,params,tokens); or give the files "
                "without --models, with --model and --compute per file."
            )
        files, labels, computes = read_model_map(models)
    elif not files:
        raise InputError("name the harness output files (one per model), or give --models CSV.")
    else:
        # one value for several files: the files of one model (its tasks, or MMLU's subtasks)
        given = [v for v in (compute, params, tokens, model) if v]
        shared = len(files) > 1 and bool(given) and all(len(v) == 1 for v in given)
        count = 1 if shared and (compute or params or tokens) else len(files)
        computes = model_computes(count, compute, params, tokens) * (len(files) // count)
        labels = list(model) * len(files) if shared and model else model
    table = import_files(fmt, files, computes, labels, **options)
    labelled = list(table["model"].unique())
    if shared and not model and len(labelled) > 1:
        names = ", ".join(f"'{m}'" for m in labelled[:4]) + (" …" if len(labelled) > 4 else "")
        raise InputError(
            f"one training compute was given for {len(files)} files of {len(labelled)} models "
            f"({names}); give --compute (or --params and --tokens) once per file, or --model "
            "once to import every file as one model."
        )
    for name, missing in missing_problems(table).items():
        log.warning("model '%s' has no results for %d problem(s) the others have", name, missing)
    if output is None:
        if append:
            raise InputError("--append needs -o TABLE.csv, the table to add the models to.")
        return table
    table = write_table(table, output, append=append)
    log.info("wrote %s: %d rows, %d model(s)", output, len(table), table["model"].nunique())
    return table

"""Row selection before validation: ``where`` filters, ``drop_missing``, joined group columns.

The same three data options are spelled the same way everywhere: ``--where``,
``--drop-missing`` and ``--group-col a,b`` on the command line, ``where``, ``drop_missing`` and
``columns.group = "a,b"`` in a spec's ``[data]`` table and in the options of the Python API.

A ``where`` expression is parsed with :mod:`ast` and evaluated by a small interpreter that
knows column names, numbers, strings, ``True``/``False``/``None``, comparisons (``==``, ``!=``,
``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in`` with a list or tuple of constants), ``and``,
``or``, ``not`` and unary minus. Nothing else is accepted: no calls, attributes, subscripts or
arithmetic, and nothing is ever passed to :func:`eval`.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"m": [1, 2, 1], "ds": ["a", "b", "c"]})
>>> where_mask(frame, "m == 1 and ds in ['a', 'b']", "t.csv").tolist()
[True, False, False]
>>> where_mask(frame, "__import__('os')", "t.csv")
Traceback (most recent call last):
...
bayescale.errors.InputError: --where '__import__('os')': a call is not allowed. ...
"""

from __future__ import annotations

import ast
import logging
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.errors import InputError, did_you_mean

log = logging.getLogger("bayescale")

#: What joins the values of several group columns into one label (``--group-col a,b``).
GROUP_JOIN = "/"

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ALLOWED_HELP = (
    "Allowed: column names, numbers, strings, comparisons (== != < <= > >=), "
    "'in'/'not in' with a list of constants, and/or/not, e.g. "
    "\"multiplier == 1 and dataset in ['c4', 'rpj']\"."
)
_KIND = {
    ast.Call: "a call",
    ast.Attribute: "an attribute",
    ast.Subscript: "a subscript",
    ast.BinOp: "arithmetic",
    ast.Lambda: "a lambda",
    ast.NamedExpr: "an assignment",
}


def group_columns(spec: str, option: str = "--group-col") -> tuple[str, ...]:
    """The column names of a group option: ``"a,b"`` -> ``("a", "b")``.

    Raises
    ------
    InputError
        When ``spec`` names no column (``""``, ``" "``, ``","``).
    """
    names = tuple(part.strip() for part in spec.split(",") if part.strip())
    if not names:
        raise InputError(
            f"{option} '{spec}' names no column. Give a column name, or several joined by "
            "commas ('family,size'); leave the option out for the default."
        )
    return names


def group_labels(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One label per row from one or several columns, values joined by :data:`GROUP_JOIN`."""
    parts = [frame[c].map(_label) for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + GROUP_JOIN + part
    return joined


def _label(value: object) -> str:
    """A table value as a label: ``1.0`` -> ``'1'``, strings stripped."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _refuse(text: str, what: str) -> InputError:
    return InputError(f"--where '{text}': {what}. {_ALLOWED_HELP}")


def _constant(node: ast.expr, text: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool | None):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _constant(node.operand, text)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    raise _refuse(text, "'in' needs a list of constants")


def _eval(node: ast.expr, frame: pd.DataFrame, text: str, where: str) -> Any:
    """Evaluate an allowed node to a column (Series), a constant or a boolean mask."""
    if isinstance(node, ast.BoolOp):
        masks = [_as_mask(_eval(v, frame, text, where), text) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = masks[0]
        for mask in masks[1:]:
            out = combine(out, mask)
        return out
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return ~_as_mask(_eval(node.operand, frame, text, where), text)
        if isinstance(node.op, ast.USub):
            return _constant(node, text)
        raise _refuse(text, f"operator '{type(node.op).__name__}' is not allowed")
    if isinstance(node, ast.Compare):
        left = _eval(node.left, frame, text, where)
        result = np.ones(len(frame), dtype=bool)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right_node, ast.List | ast.Tuple | ast.Set):
                    raise _refuse(text, "'in' needs a list such as [1, 2]")
                values = [_constant(e, text) for e in right_node.elts]
                for value in values:
                    _refuse_numbers_as_text(left, value, text, equality=True)
                hit = _as_numbers(_values(left, frame), values, text).isin(values).to_numpy()
                result &= hit if isinstance(op, ast.In) else ~hit
                left = None
                continue
            fn = _COMPARE.get(type(op))
            if fn is None:
                raise _refuse(text, f"comparison '{type(op).__name__}' is not allowed")
            right = _eval(right_node, frame, text, where)
            _refuse_numbers_as_text(left, right, text, equality=isinstance(op, ast.Eq | ast.NotEq))
            if isinstance(right, pd.Series):
                right = _as_numbers(right, [left], text)
            try:
                with np.errstate(invalid="ignore"):
                    hit = np.asarray(
                        fn(_as_numbers(_values(left, frame), [right], text), right), dtype=bool
                    )
            except TypeError as exc:
                raise InputError(
                    f"--where '{text}': cannot compare ({exc}); numbers compare with numbers, "
                    "labels with quoted strings."
                ) from None
            result &= hit
            left = right
        return result
    if isinstance(node, ast.Name):
        if node.id not in frame.columns:
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            columns = list(map(str, frame.columns))
            raise InputError(
                f"{where}: --where '{text}': no column '{node.id}'."
                f"{did_you_mean(node.id, columns)} Columns present: {', '.join(columns)}. "
                "Quote labels: dataset == 'c4'."
            )
        return frame[node.id]
    if isinstance(node, ast.Constant):
        return _constant(node, text)
    kind = _KIND.get(type(node), f"'{type(node).__name__}'")
    raise _refuse(text, f"{kind} is not allowed")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _as_numbers(column: pd.Series, others: list[Any], text: str) -> pd.Series:
    """A column of text cells as numbers when it is compared with a number.

    Files are read as text (labels stay verbatim), so ``mult == 10`` parses the cells of
    ``mult``; a cell that is not a number is refused, missing cells compare as NaN.
    """
    if column.dtype != object or not any(_is_number(o) for o in others):
        return column

    def number(cell: object) -> float:
        if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell == "":
            return float("nan")
        if _is_number(cell):
            return float(cell)  # type: ignore[arg-type]
        try:
            return float(str(cell))
        except ValueError:
            raise InputError(
                f"--where '{text}': column '{column.name}' holds {str(cell)!r}, not a number; "
                "numbers compare with numbers, labels with quoted strings."
            ) from None

    return column.map(number).astype(float)


def _refuse_numbers_as_text(left: Any, right: Any, text: str, *, equality: bool = False) -> None:
    """Refuse comparing a column of numbers with quoted text (``compute >= '1e19'``).

    Files are read as text, so the cells would be ordered as strings ('1e20' < '2e17') or
    matched as strings ('1e17' is not '1e+17'), a selection that looks right and is not. For
    ``==``, ``!=``, ``in`` and ``not in`` only quoted text that reads as a number is refused,
    so a column of labels such as '1b' still matches ``size == '1b'``.
    """
    for column, other in ((left, right), (right, left)):
        if not (isinstance(column, pd.Series) and isinstance(other, str)):
            continue
        if pd.api.types.is_numeric_dtype(column):
            return  # compared as numbers by pandas, which refuses the string
        cells = [c for c in column if isinstance(c, str) and c.strip()]
        try:
            [float(c) for c in cells]
            if equality:
                float(other)
        except ValueError:
            return  # labels: compared as text, as asked
        if cells:
            why = (
                "numbers matched as text are wrong ('1e17' is not '1e+17')"
                if equality
                else "numbers ordered as text are wrong ('1e20' < '2e17')"
            )
            raise InputError(
                f"--where '{text}': column '{column.name}' holds numbers, but {other!r} is "
                f"quoted text, and {why}. Write the number without quotes: {other} instead "
                f"of {other!r}."
            )


def _values(value: Any, frame: pd.DataFrame) -> pd.Series:
    if isinstance(value, pd.Series):
        return value
    return pd.Series(np.full(len(frame), value, dtype=object), index=frame.index)


def _as_mask(value: Any, text: str) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype == bool:
        return value
    raise _refuse(text, "each part of 'and'/'or'/'not' must be a comparison")


def where_mask(frame: pd.DataFrame, text: str, where: str) -> pd.Series:
    """Rows of ``frame`` that satisfy the expression ``text`` (see the module docstring).

    Raises
    ------
    InputError
        On a syntax error, a construct that is not allowed, or an unknown column.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InputError(
            f"--where '{text}': not a valid expression ({exc.msg}). {_ALLOWED_HELP}"
        ) from None
    mask = _eval(tree.body, frame, text, where)
    if not (isinstance(mask, np.ndarray) and mask.dtype == bool):
        raise _refuse(text, "the expression must be a comparison")
    return pd.Series(mask, index=frame.index)


def _absent(frame: pd.DataFrame, text: str) -> str:
    """Name the quoted labels of ``text`` that its column never holds, with the closest one.

    ``group == 'wbe'`` selects no row because no row is 'wbe': say so, and suggest 'web'.
    """
    hints = []
    for node in ast.walk(ast.parse(text.strip(), mode="eval")):
        if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)):
            continue
        if node.left.id not in frame.columns:
            continue
        column = node.left.id
        present = {str(v).strip() for v in frame[column].dropna()}
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Eq | ast.In):
                elts = right.elts if isinstance(right, ast.List | ast.Tuple | ast.Set) else [right]
                hints += [
                    f" Column '{column}' holds no '{e.value}'."
                    + did_you_mean(e.value, sorted(present))
                    for e in elts
                    if isinstance(e, ast.Constant)
                    and isinstance(e.value, str)
                    and e.value not in present
                ]
    return "".join(dict.fromkeys(hints))


def select_rows(
    frame: pd.DataFrame,
    label: str,
    used: Sequence[str],
    *,
    where: str | None = None,
    drop_missing: bool = False,
) -> pd.DataFrame:
    """Keep the rows a ``where`` expression selects; drop rows missing a used value.

    The row index is kept, so messages about later rows still name the file's row.

    Parameters
    ----------
    frame, label
        The table and how messages name it.
    used
        The columns the forecast reads (``drop_missing`` looks only at these).
    where
        A safe expression on columns (see the module docstring), or ``None``.
    drop_missing
        Drop rows with a missing or blank value in a used column, instead of refusing them
        later with the row named.

    Raises
    ------
    InputError
        On a bad expression, or when no row is left.
    """
    kept = frame
    if where is not None and where.strip():
        kept = kept[where_mask(kept, where, label).to_numpy()]
        log.info("--where '%s': kept %d of %d rows of %s", where, len(kept), len(frame), label)
        if kept.empty:
            raise InputError(f"{label}: --where '{where}' selects no row.{_absent(frame, where)}")
    if drop_missing:
        present = [c for c in dict.fromkeys(used) if c in kept.columns]
        blank = kept[present].map(lambda v: pd.isna(v) or (isinstance(v, str) and not v.strip()))
        missing = blank.any(axis=1).to_numpy()
        if missing.any():
            log.info(
                "--drop-missing: dropped %d row(s) of %s with a missing value in %s",
                int(missing.sum()),
                label,
                ", ".join(present),
            )
        kept = kept[~missing]
        if kept.empty:
            raise InputError(f"{label}: every row misses a value in {', '.join(present)}.")
    return kept

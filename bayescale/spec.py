"""Forecast specs: one TOML file names one forecast completely (docs/specs.md).

A spec gives the data file (relative to the spec), the column mapping, the law (a registered
law with a ``spec_name``, :mod:`bayescale.registry`; a spec never imports code), the hierarchy
(groups of a loss table, difficulty buckets of a pass table), prior overrides, sampler
settings, targets, interval and decision rule. It is validated by pydantic models with
``extra="forbid"``: an unknown key is an :class:`~bayescale.errors.InputError` that names the
file, the line and the key and suggests the closest valid one.

The sections for priors, sampler settings and columns mirror the frozen dataclasses the
pipeline uses (:mod:`bayescale.spec_schema`; a law's entry names its own, e.g.
:class:`~bayescale.priors.LossPriors`, :class:`~bayescale.data.LossColumns`): their field
names are the keys and their defaults are the defaults, so the spec schema cannot drift from
the code. Only the keys a spec sets
are passed on; everything else keeps the dataclass default. ``models/README.md`` documents
every key.

Examples
--------
>>> import tomllib
>>> text = '''
... schema_version = 1
... law = "loss"
... [data]
... path = "runs.csv"
... [forecast]
... targets = [1e23]
... [sampler]
... drwas = 500
... '''
>>> validate_spec(tomllib.loads(text), "x.toml", text)
Traceback (most recent call last):
...
bayescale.errors.InputError: x.toml, line 9: unknown key 'sampler.drwas'. Did you mean 'draws'? ...
"""

from __future__ import annotations

import contextlib
import functools
import re
import tomllib
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model

from bayescale.display import percent
from bayescale.errors import InputError, did_you_mean
from bayescale.options import Options
from bayescale.registry import Law, laws
from bayescale.sampling import SamplerSettings
from bayescale.spec_schema import SpecBase, default_of, line_of, set_keys

#: The spec format this version reads and writes.
SCHEMA_VERSION = 1


def spec_laws() -> dict[str, Law]:
    """The registered laws a spec may name, by their spec word (``loss``, ``pass_rate``)."""
    return {law.spec_name: law for law in laws().values() if law.spec_name is not None}


@functools.cache
def spec_model(law: Law) -> type[SpecBase]:
    """The pydantic model of a spec of ``law``: the shared keys and the law's sections."""
    assert law.spec_name is not None and law.spec_sections is not None
    fields: dict[str, Any] = {"law": (Literal[law.spec_name], ...), **law.spec_sections()}
    return create_model(f"{law.name.capitalize()}Spec", __base__=SpecBase, **fields)


@dataclass(frozen=True)
class Spec:
    """A validated spec file.

    Attributes
    ----------
    path
        The spec file.
    text
        Its TOML text, as saved into ``fit.nc`` by ``bayescale run --out``.
    model
        The validated sections.
    """

    path: Path
    text: str
    model: Any

    @property
    def law(self) -> Law:
        """The registered law the spec names."""
        return spec_laws()[self.model.law]

    @property
    def name(self) -> str:
        """The spec's title, else its file name without extension."""
        return self.model.title or self.path.stem

    @property
    def data_path(self) -> Path:
        """The data file, resolved relative to the spec's folder."""
        return self.path.parent / self.model.data.path


# ---------------------------------------------------------------------------- reading


def _strip_index(loc: tuple[str | int, ...]) -> tuple[str, ...]:
    return tuple(str(p) for p in loc if not isinstance(p, int))


def _model_at(model: type[BaseModel], parents: tuple[str, ...]) -> type[BaseModel] | None:
    """The pydantic model of the table at ``parents``, for listing its valid keys."""
    for part in parents:
        field = model.model_fields.get(part)
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _homes(model: type[BaseModel], name: str, parents: tuple[str, ...] = ()) -> list[str]:
    """Where ``name`` is a valid key of the schema: ``[sampler]``, or a table ``[data.columns]``."""
    found = []
    if name in model.model_fields:
        table = _model_at(model, (name,)) is not None
        found.append(f"[{'.'.join((*parents, name) if table else parents)}]")
    for field_name in model.model_fields:
        nested = _model_at(model, (field_name,))
        if nested is not None:
            found += _homes(nested, name, (*parents, field_name))
    return [f for f in found if f != "[]"]


def _describe(error: Mapping[str, Any], model: type[BaseModel], where: str, text: str) -> str:
    loc = _strip_index(tuple(error["loc"]))
    key = ".".join(str(p) for p in error["loc"])
    line = line_of(text, loc)
    at = f"{where}, line {line}" if line else where
    if error["type"] == "extra_forbidden":
        table = _model_at(model, loc[:-1])
        valid = sorted(table.model_fields) if table else []
        section = f"[{'.'.join(loc[:-1])}]" if loc[:-1] else "the top level"
        homes = " or ".join(h for h in _homes(model, loc[-1]) if h != section)
        typo = did_you_mean(loc[-1], valid)  # a typo here ([bucket]) before a key elsewhere
        moved = (
            f" '{loc[-1]}' is a key of {homes}." if typo else f" '{loc[-1]}' belongs in {homes}."
        )
        return (
            f"{at}: unknown key '{key}'.{typo}{moved if homes else ''} "
            f"Valid keys in {section}: {', '.join(valid)}."
        )
    if error["type"] == "missing":
        return f"{at}: missing required key '{key}'. See models/README.md."
    got = error.get("input")
    fix = ""
    if error["type"] == "list_type" and isinstance(got, int | float | str):
        shown = f"{got:g}" if isinstance(got, float) else repr(got)
        inner = isinstance(error["loc"][-1], int)  # an item of a list of lists
        fix = (
            f" Its items are lists: {loc[-1]} = [[a, b], ...]."
            if inner
            else f" Write a list: {loc[-1]} = [{shown}]."
        )
    elif error["type"] in ("float_type", "int_type") and isinstance(got, str):
        with contextlib.suppress(ValueError):
            fix = f" Write the number without quotes: {float(got):g}."
    return f"{at}: key '{key}': {error['msg']} (got {got!r}).{fix}"


def _merge_union_branches(errors: list[Any], raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One error per key whose value matched no branch of a union (``float | 'learn'``).

    Pydantic reports each branch with its own name appended to the key's location
    (``chance.mmlu.constrained-float``, ``chance.mmlu.literal['learn']``); the location is cut
    back to the key the TOML has and the branches' messages are joined with "or".
    """
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] != "missing":
            node: Any = raw
            for depth, part in enumerate(loc):
                listed = isinstance(node, list) and isinstance(part, int) and part < len(node)
                if listed or (isinstance(node, Mapping) and part in node):
                    node = node[part]
                else:  # a branch name: the value is the node reached
                    loc = loc[:depth]
                    error = {**error, "loc": loc, "input": node}
                    break
        if loc in merged:
            merged[loc] = {**merged[loc], "msg": f"{merged[loc]['msg']}, or {error['msg']}"}
        else:
            merged[loc] = dict(error)
    return list(merged.values())


def validate_spec(raw: Mapping[str, Any], where: str, text: str = "") -> Any:
    """Validate parsed TOML against the spec schema.

    Parameters
    ----------
    raw
        The parsed TOML document.
    where
        How messages name the file.
    text
        The TOML text, to give line numbers in messages.

    Raises
    ------
    InputError
        Naming the file, line and key of every problem found, with "did you mean" hints.
    """
    version = raw.get("schema_version")
    if version is None and ("fit" in raw or "backtest" in raw):
        raise InputError(
            f"{where}: a suite file ([[fit]] or [[backtest]] tables), not a forecast spec: run "
            f"it with 'bayescale suite {where} --out DIR'. A suite's [[fit]] 'spec' names a "
            "forecast spec (such as models/demo-loss.toml); list another suite's jobs in it, "
            "or give both suite files to one 'bayescale suite'."
        )
    if version is None:
        raise InputError(
            f"{where}: missing 'schema_version'; add 'schema_version = {SCHEMA_VERSION}' at the "
            "top of the spec."
        )
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise InputError(
            f"{where}: schema_version {version!r} is not supported; this bayescale reads "
            f"schema_version = {SCHEMA_VERSION} (a newer spec needs a newer bayescale)."
        )
    known = spec_laws()
    law = raw.get("law")
    if not isinstance(law, str) or law not in known:
        line = line_of(text, ("law",))
        at = f"{where}, line {line}" if line else where
        if law is None:
            raise InputError(f"{where}: missing 'law'; choose one of {', '.join(known)}.")
        raise InputError(
            f"{at}: unknown law {law!r}.{did_you_mean(str(law), tuple(known))} Laws: "
            + "; ".join(f"'{k}' ({v.formula})" for k, v in known.items())
            + "."
        )
    model = spec_model(known[law])
    try:
        return model.model_validate(dict(raw))
    except ValidationError as err:
        errors = sorted(
            _merge_union_branches(err.errors(), raw),
            key=lambda e: line_of(text, _strip_index(tuple(e["loc"]))) or 0,
        )
        problems = [_describe(e, model, where, text) for e in errors]
        if len(problems) == 1:
            raise InputError(problems[0]) from None
        raise InputError(
            f"{where}: {len(problems)} problems:\n  " + "\n  ".join(problems)
        ) from None


#: A spec is a page of TOML; anything larger is not one.
MAX_SPEC_CHARS = 1_000_000
#: Deepest nesting of tables and arrays a spec may have (the schema needs 3).
MAX_SPEC_DEPTH = 8


def _depth(value: Any, level: int = 0) -> int:
    """How deeply tables and arrays nest in a parsed TOML value (stops past the limit)."""
    if level > MAX_SPEC_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file (does not read its data; see :func:`check_spec`).

    Raises
    ------
    InputError
        When the file is missing, is not TOML, or does not match the schema.
    """
    from bayescale.data import TABLE_SUFFIXES

    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a spec" if path.is_dir() else "spec file not found"
        raise InputError(f"{path}: {what}. Expected a TOML file such as models/x.toml.")
    if path.name.lower().endswith(TABLE_SUFFIXES):
        raise InputError(
            f"{path}: is a table, not a spec. 'bayescale run' and 'check' read a TOML spec "
            "(models/NAME.toml) whose [data] names the table; to forecast from the table itself, "
            f"run 'bayescale loss|pass|nd|accuracy {path} --target-compute C'."
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: is not UTF-8 text (byte {exc.start}: {exc.reason}); TOML specs are UTF-8."
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    if len(text) > MAX_SPEC_CHARS:
        raise InputError(
            f"{path}: {len(text):,} characters; a spec is at most {MAX_SPEC_CHARS:,}. Is this "
            "the right file?"
        )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: not valid TOML: {err}.") from None
    except RecursionError:
        raise InputError(
            f"{path}: nested too deeply to be a spec (arrays or tables inside each other "
            "hundreds of levels deep)."
        ) from None
    depth = _depth(raw)
    if depth > MAX_SPEC_DEPTH:
        raise InputError(
            f"{path}: values nested {depth} levels deep; a spec nests at most "
            f"{MAX_SPEC_DEPTH} (e.g. [data.columns])."
        )
    return Spec(path=path, text=text, model=validate_spec(raw, str(path), text))


# ---------------------------------------------------------------------------- options


#: Command-line overrides :func:`spec_options` accepts (docs/formats.md, command line).
OVERRIDES = (
    "data",
    "targets",
    "runs",
    "budgets",
    "fit_max_compute",
    "requirement",
    "confidence",
    "value",
    "cost_per_flop",
    "interval",
    "seed",
    "draws",
    "tune",
    "chains",
    "quiet",
    "allow_unconverged",
    "allow_outside_data",
    "where",
    "drop_missing",
    "allow_backcast",
)


def spec_options(spec: Spec, overrides: Mapping[str, Any] | None = None) -> Any:
    """Build the pipeline's options from a spec, command-line overrides winning.

    Parameters
    ----------
    spec
        A validated spec.
    overrides
        Keys of :data:`OVERRIDES` given on the command line (absent keys keep the spec's).

    Returns
    -------
    The options of the spec's law (``LossOptions``, ``PassOptions``, ...), built by its
    registry entry's ``spec_options`` from the values every law shares.
    """
    over = dict(overrides or {})
    unknown = set(over) - set(OVERRIDES)
    if unknown:  # pragma: no cover - a programming error in the caller
        raise ValueError(f"unknown overrides {sorted(unknown)}")
    m = spec.model
    if "runs" in over or "budgets" in over:  # --target N:D, --budget C: L(N, D)'s words
        m = _planned_runs(spec, over)
    decision = m.decision
    sampler_values = set_keys(m.sampler) | {
        k: over[k] for k in ("seed", "draws", "tune", "chains") if k in over
    }
    if over.get("quiet"):
        sampler_values["progress"] = False
    where = f"{spec.path}"
    try:
        sampler = SamplerSettings(**sampler_values)
        common: dict[str, Any] = {
            "targets": tuple(over.get("targets", m.forecast.targets)),
            "interval": over.get("interval", m.forecast.interval),
            "requirement": over.get("requirement", decision.require if decision else None),
            "confidence": over.get(
                "confidence",
                decision.confidence if decision else default_of(Options, "confidence"),
            ),
            "value": over.get("value", decision.value if decision else None),
            "cost_per_flop": over.get(
                "cost_per_flop", decision.cost_per_flop if decision else None
            ),
            "fit_max_compute": over.get("fit_max_compute", m.data.fit_max_compute),
            "where": over.get("where", m.data.where),
            "drop_missing": bool(over.get("drop_missing", m.data.drop_missing)),
            "allow_backcast": bool(over.get("allow_backcast", False)),
            "allow_unconverged": bool(over.get("allow_unconverged", False)),
            "sampler": sampler,
        }
        assert spec.law.spec_options is not None
        return spec.law.spec_options(m, common)
    except InputError as err:  # a dataclass refused a value: say which file, line and key
        named = re.search(r"(sampler setting|prior) '(\w+)'", str(err))
        if named:
            section = "sampler" if named.group(1).startswith("sampler") else "priors"
            line = None if named.group(2) in over else line_of(spec.text, (section, named[2]))
            if line:
                raise InputError(
                    f"{where}, line {line}: key '{section}.{named[2]}': {err}"
                ) from None
        raise InputError(f"{where}: {err}") from None


def _planned_runs(spec: Spec, over: dict[str, Any]) -> Any:
    """The spec's model with ``--target N:D`` as its planned runs; ``--budget`` as ``targets``.

    Planned runs go to a spec whose ``[forecast]`` has ``runs`` (L(N, D), accuracy); an
    accuracy spec takes one kind of target, so they replace its computes. Budgets are an
    L(N, D) spec's ``targets``. Another law's spec refuses them, naming what it takes.
    """
    nd = spec.law.name == "nd"
    if "budgets" in over and not nd:
        given, takes = "--budget", "L(N, D) specs"
    elif "runs" in over and "runs" not in type(spec.model.forecast).model_fields:
        given, takes = "--target N:D", "L(N, D) and accuracy specs"
    else:
        given = ""
    if given:
        raise InputError(
            f"{spec.path}: {given} is for {takes}; this spec's law "
            f"'{spec.law.spec_name}' takes --target-compute C (FLOPs)."
        )
    if "runs" in over and not nd:
        over.setdefault("targets", ())  # the planned models replace the spec's computes
    if "budgets" in over:
        if "targets" in over:
            raise InputError(
                "--budget and --target-compute both set an L(N, D) spec's budgets; give one."
            )
        over["targets"] = over.pop("budgets")
    model = spec.model
    if "runs" in over:
        runs = [[float(n), float(d)] for n, d in over.pop("runs")]
        model = model.model_copy(
            update={"forecast": model.forecast.model_copy(update={"runs": runs})}
        )
    return model


def data_source(spec: Spec, overrides: Mapping[str, Any] | None = None) -> Path:
    """The data file to read: ``--data`` if given (relative to the cwd), else the spec's.

    A spec's ``data.path`` must lie under the spec's folder (after resolving ``..`` and
    symbolic links): a spec someone else wrote cannot read an arbitrary file of this machine
    and copy it into ``fit.nc``. ``--data`` on the command line, or the override
    ``allow_outside_data`` (``--allow-outside-data``), lifts the restriction.
    """
    over = overrides or {}
    given = over.get("data")
    path = Path(given) if given is not None else spec.data_path
    where = f"{spec.path}, line {line_of(spec.text, ('data', 'path'))}: key 'data.path' = "
    if given is None and not over.get("allow_outside_data"):
        folder = spec.path.parent.resolve()
        if not path.resolve().is_relative_to(folder):
            raise InputError(
                f"{where}'{spec.model.data.path}': the data file {path.resolve()} is outside the "
                f"spec's folder {folder}. A spec reads data only under its own folder; if you "
                "trust this spec, pass --allow-outside-data (to run, check or suite; in a suite "
                "file, allow_outside_data = true in its [[fit]]), or give the table with --data "
                "PATH."
            )
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "file not found"
        if given is not None:
            beside = spec.path.parent / given
            hint = (
                f" --data is read from the current folder, not the spec's: give {beside}."
                if not path.is_absolute() and beside.is_file()
                else ""
            )
            raise InputError(f"--data {given}: {what}.{hint}")
        raise InputError(
            f"{where}'{spec.model.data.path}': {what} at {path} (paths are relative to the "
            "spec's folder)."
        )
    return path


@contextmanager
def _located(spec: Spec, loc: tuple[str, ...], from_cli: bool) -> Iterator[None]:
    """Re-raise an :class:`InputError` about a spec value with the spec's file, line and key."""
    try:
        yield
    except InputError as err:
        if from_cli:
            raise
        line = line_of(spec.text, loc)
        at = f"{spec.path}, line {line}" if line else str(spec.path)
        text = str(err).removeprefix("--require ")
        raise InputError(f"{at}: key '{'.'.join(loc)}': {text}") from None


@contextmanager
def _columns_hint(spec: Spec) -> Iterator[None]:
    try:
        yield
    except InputError as err:
        if not any(t in str(err) for t in ("missing column", "names no column", "but a column")):
            raise
        raise InputError(
            f"{err} In a spec, column names are set in [data.columns] ({spec.path})."
        ) from None


def check_spec(spec: Spec, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Validate a spec and its data without sampling; return a short description.

    Everything the law's ``run`` (:func:`~bayescale.pipeline.run_loss`,
    :func:`~bayescale.pass_pipeline.run_pass`) checks before sampling is checked here, by its
    registry entry's ``check_spec``: the options, the data file, the columns and rows, the
    buckets, and that the requirement names a group or bucket that exists.

    Raises
    ------
    InputError
        On the first problem found.
    """
    from bayescale.ladder import model_settings
    from bayescale.sampling import check_memory_before_model

    options = spec_options(spec, overrides)
    path = data_source(spec, overrides)
    from_cli = "requirement" in (overrides or {})

    def rule() -> contextlib.AbstractContextManager[None]:
        return _located(spec, ("decision", "require"), from_cli)

    law = spec.law
    assert law.check_spec is not None
    lines = [f"spec {spec.path}: '{spec.name}', law '{law.spec_name}': {law.formula}"]
    with _columns_hint(spec):
        described, warned = law.check_spec(spec, options, path, rule)
    lines += described.splitlines()
    # planned models of the accuracy law, and L(N, D)'s runs and budgets (its targets), are
    # described by the law's own check
    if isinstance(options, Options) and options.targets and not hasattr(options, "budgets"):
        targets = ", ".join(f"{t:.3g}" for t in options.targets)
        lines.append(f"targets (FLOPs): {targets}; {percent(options.interval)} intervals")
    lines += [f"warning: {w}" for w in warned]
    if options.requirement:
        lines.append(f"decision: {options.requirement} with confidence {options.confidence:g}")
    s = model_settings(options.sampler, law.sampler_model)
    check_memory_before_model(s)  # the law's check may count more (a pass table's problems)
    lines.append(
        f"sampler: {s.chains} chains x {s.draws} draws ({s.tune} tune), "
        f"target_accept {s.target_accept}, warm-up tree depth {s.warmup_tree_depth}, "
        f"seed {s.seed}"
    )
    return lines


__all__ = [
    "OVERRIDES",
    "SCHEMA_VERSION",
    "Spec",
    "check_spec",
    "data_source",
    "load_spec",
    "spec_laws",
    "spec_model",
    "spec_options",
    "validate_spec",
]

"""Forecast specs: one TOML file names one forecast completely (docs/specs.md).

A spec gives the data file (relative to the spec), the column mapping, the law (from the closed
registry :data:`LAWS`; a spec never imports code), the hierarchy (groups of a loss table,
difficulty buckets of a pass table), prior overrides, sampler settings, targets, interval and
decision rule. It is validated by pydantic models with ``extra="forbid"``: an unknown key is an
:class:`~bayescale.errors.InputError` that names the file, the line and the key and suggests
the closest valid one.

The sections for priors, sampler settings and columns mirror the frozen dataclasses the
pipeline uses (:class:`~bayescale.priors.LossPriors`, :class:`~bayescale.priors.PassPriors`,
:class:`~bayescale.sampling.SamplerSettings`, :class:`~bayescale.data.LossColumns`,
:class:`~bayescale.pass_data.PassColumns`): their field names are the keys and their defaults
are the defaults, so the spec schema cannot drift from the code. Only the keys a spec sets
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
import dataclasses
import re
import tomllib
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from bayescale.buckets import Eligibility
from bayescale.data import LossColumns
from bayescale.errors import InputError, did_you_mean
from bayescale.pass_data import PassColumns
from bayescale.pass_pipeline import PassOptions
from bayescale.pipeline import LossOptions
from bayescale.priors import LossPriors, PassPriors
from bayescale.sampling import SamplerSettings

#: The spec format this version reads and writes.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Law:
    """An entry of the closed law registry."""

    name: str
    kind: Literal["loss", "pass"]
    formula: str
    description: str


#: The closed registry of laws a spec may name. Adding a law means adding code (see
#: ARCHITECTURE.md, "How to add a law") and an entry here; a spec never imports code.
LAWS: dict[str, Law] = {
    "loss": Law(
        "loss",
        "loss",
        "L(C) = a*C^b + c",
        "final loss per group, hierarchical over groups (GPT-4 report, Figure 1)",
    ),
    "pass_rate": Law(
        "pass_rate",
        "pass",
        "-E[ln pass_rate(C)] = alpha*C^(-k)",
        "pass rate per difficulty bucket, hierarchical over buckets (GPT-4 report, Figure 2)",
    ),
}


class _Strict(BaseModel):
    """Base of every spec section: unknown keys are errors, TOML types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _default(cls: type, name: str) -> Any:
    """The default of dataclass field ``name`` (so the spec never restates a default)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    raise KeyError(name)  # pragma: no cover - a programming error


def _mirror(cls: type, name: str, exclude: tuple[str, ...] = ()) -> type[_Strict]:
    """A strict pydantic model with the fields, types and defaults of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {
        f.name: (hints[f.name], _default(cls, f.name))
        for f in dataclasses.fields(cls)
        if f.name not in exclude
    }
    return create_model(name, __base__=_Strict, **fields)


LossPriorsSpec = _mirror(LossPriors, "LossPriorsSpec")
PassPriorsSpec = _mirror(PassPriors, "PassPriorsSpec")
# progress bars are a property of the terminal, not of the forecast: --quiet decides
SamplerSpec = _mirror(SamplerSettings, "SamplerSpec", exclude=("progress",))
LossColumnsSpec = _mirror(LossColumns, "LossColumnsSpec")
PassColumnsSpec = _mirror(PassColumns, "PassColumnsSpec")


class LossDataSpec(_Strict):
    """``[data]`` of a loss spec: the runs table and its columns."""

    path: str
    fit_max_compute: float | None = Field(default=None, gt=0)
    where: str | None = None
    drop_missing: bool = False
    columns: LossColumnsSpec = LossColumnsSpec()  # type: ignore[valid-type]


class PassDataSpec(_Strict):
    """``[data]`` of a pass-rate spec: per-problem counts or aggregate rates."""

    path: str
    fit_max_compute: float | None = Field(default=None, gt=0)
    where: str | None = None
    drop_missing: bool = False
    columns: PassColumnsSpec = PassColumnsSpec()  # type: ignore[valid-type]


class ForecastSpec(_Strict):
    """``[forecast]``: where to forecast and how wide the intervals are."""

    targets: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    interval: float = Field(default=_default(LossOptions, "interval"), gt=0, lt=1)


class PassForecastSpec(ForecastSpec):
    """``[forecast]`` of a pass-rate spec: also pass@k."""

    k: int | None = Field(default=None, ge=1)


class DecisionSpec(_Strict):
    """``[decision]``: the go/no-go rule and, optionally, its economics."""

    require: str
    confidence: float = Field(default=_default(LossOptions, "confidence"), gt=0, lt=1)
    value: float | None = Field(default=None, gt=0)
    cost_per_flop: float | None = Field(default=None, gt=0)


class BucketsSpec(_Strict):
    """``[buckets]`` of a pass-rate spec with per-problem counts: the hierarchy."""

    count: int = Field(default=_default(PassOptions, "n_buckets"), ge=1)
    exclude_hardest: int = Field(default=_default(PassOptions, "exclude_hardest"), ge=0)
    order_by: list[str] | None = None
    eligibility: Eligibility = _default(PassOptions, "eligibility")


class _SpecBase(_Strict):
    schema_version: int
    law: str
    title: str | None = None
    description: str | None = None
    decision: DecisionSpec | None = None
    sampler: SamplerSpec = SamplerSpec()  # type: ignore[valid-type]


class LossSpec(_SpecBase):
    """A loss-forecast spec (``law = "loss"``)."""

    law: Literal["loss"]
    data: LossDataSpec
    forecast: ForecastSpec
    priors: LossPriorsSpec = LossPriorsSpec()  # type: ignore[valid-type]


class PassSpec(_SpecBase):
    """A pass-rate-forecast spec (``law = "pass_rate"``)."""

    law: Literal["pass_rate"]
    data: PassDataSpec
    forecast: PassForecastSpec
    buckets: BucketsSpec = BucketsSpec()
    priors: PassPriorsSpec = PassPriorsSpec()  # type: ignore[valid-type]


SPEC_MODELS: dict[str, type[LossSpec] | type[PassSpec]] = {"loss": LossSpec, "pass_rate": PassSpec}


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
    model: LossSpec | PassSpec

    @property
    def law(self) -> Law:
        """The law the spec names."""
        return LAWS[self.model.law]

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


def _line_of(text: str, loc: tuple[str, ...]) -> int | None:
    """Line number of the key or table ``loc`` in TOML ``text`` (plain keys only)."""
    table: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        header = re.fullmatch(r"\[\s*([^\[\]]+?)\s*\]", line)
        if header:
            table = tuple(p.strip().strip("\"'") for p in header.group(1).split("."))
            if table == loc:
                return number
            continue
        key = re.match(r"([A-Za-z0-9_\-\.\"' ]+?)\s*=", line)
        if key:
            path = table + tuple(p.strip().strip("\"'") for p in key.group(1).split("."))
            if path == loc or (len(path) < len(loc) and loc[: len(path)] == path):
                return number
    return None


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


def _describe(error: Mapping[str, Any], model: type[BaseModel], where: str, text: str) -> str:
    loc = _strip_index(tuple(error["loc"]))
    key = ".".join(str(p) for p in error["loc"])
    line = _line_of(text, loc)
    at = f"{where}, line {line}" if line else where
    if error["type"] == "extra_forbidden":
        table = _model_at(model, loc[:-1])
        valid = sorted(table.model_fields) if table else []
        section = f"[{'.'.join(loc[:-1])}]" if loc[:-1] else "the top level"
        return (
            f"{at}: unknown key '{key}'.{did_you_mean(loc[-1], valid)} "
            f"Valid keys in {section}: {', '.join(valid)}."
        )
    if error["type"] == "missing":
        return f"{at}: missing required key '{key}'. See models/README.md."
    got = error.get("input")
    return f"{at}: key '{key}': {error['msg']} (got {got!r})."


def validate_spec(raw: Mapping[str, Any], where: str, text: str = "") -> LossSpec | PassSpec:
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
    law = raw.get("law")
    if not isinstance(law, str) or law not in LAWS:
        line = _line_of(text, ("law",))
        at = f"{where}, line {line}" if line else where
        if law is None:
            raise InputError(f"{where}: missing 'law'; choose one of {', '.join(LAWS)}.")
        raise InputError(
            f"{at}: unknown law {law!r}.{did_you_mean(str(law), LAWS)} Laws: "
            + "; ".join(f"'{k}' ({v.formula})" for k, v in LAWS.items())
            + "."
        )
    model = SPEC_MODELS[law]
    try:
        return model.model_validate(dict(raw))
    except ValidationError as err:
        errors = sorted(
            err.errors(), key=lambda e: _line_of(text, _strip_index(tuple(e["loc"]))) or 0
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
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: spec file not found. Expected a TOML file such as models/x.toml."
        )
    try:
        text = path.read_text(encoding="utf-8")
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


def _set(section: BaseModel) -> dict[str, Any]:
    """The keys a spec section sets (the rest keep the dataclass defaults)."""
    return section.model_dump(exclude_unset=True)


def spec_options(
    spec: Spec, overrides: Mapping[str, Any] | None = None
) -> LossOptions | PassOptions:
    """Build the pipeline's options from a spec, command-line overrides winning.

    Parameters
    ----------
    spec
        A validated spec.
    overrides
        Keys of :data:`OVERRIDES` given on the command line (absent keys keep the spec's).

    Returns
    -------
    LossOptions or PassOptions
    """
    over = dict(overrides or {})
    unknown = set(over) - set(OVERRIDES)
    if unknown:  # pragma: no cover - a programming error in the caller
        raise ValueError(f"unknown overrides {sorted(unknown)}")
    m = spec.model
    decision = m.decision
    sampler_values = _set(m.sampler) | {
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
                decision.confidence if decision else _default(LossOptions, "confidence"),
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
        if isinstance(m, LossSpec):
            return LossOptions(
                **common,
                columns=LossColumns(**_set(m.data.columns)),
                priors=LossPriors(**_set(m.priors)),
            )
        order_by = m.buckets.order_by
        return PassOptions(
            **common,
            n_buckets=m.buckets.count,
            exclude_hardest=m.buckets.exclude_hardest,
            bucket_by=tuple(order_by) if order_by else None,
            eligibility=m.buckets.eligibility,
            k=m.forecast.k,
            columns=PassColumns(**_set(m.data.columns)),
            priors=PassPriors(**_set(m.priors)),
        )
    except InputError as err:  # a dataclass refused a value: say which file, line and key
        named = re.search(r"(sampler setting|prior) '(\w+)'", str(err))
        if named:
            section = "sampler" if named.group(1).startswith("sampler") else "priors"
            line = None if named.group(2) in over else _line_of(spec.text, (section, named[2]))
            if line:
                raise InputError(
                    f"{where}, line {line}: key '{section}.{named[2]}': {err}"
                ) from None
        raise InputError(f"{where}: {err}") from None


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
    where = f"{spec.path}, line {_line_of(spec.text, ('data', 'path'))}: key 'data.path' = "
    if given is None and not over.get("allow_outside_data"):
        folder = spec.path.parent.resolve()
        if not path.resolve().is_relative_to(folder):
            raise InputError(
                f"{where}'{spec.model.data.path}': the data file {path.resolve()} is outside the "
                f"spec's folder {folder}. A spec reads data only under its own folder; if you "
                "trust this spec, pass --allow-outside-data, or give the table with --data PATH."
            )
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "file not found"
        if given is not None:
            raise InputError(f"--data {given}: {what}.")
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
        line = _line_of(spec.text, loc)
        at = f"{spec.path}, line {line}" if line else str(spec.path)
        text = str(err).removeprefix("--require ")
        raise InputError(f"{at}: key '{'.'.join(loc)}': {text}") from None


@contextmanager
def _columns_hint(spec: Spec) -> Iterator[None]:
    try:
        yield
    except InputError as err:
        if "missing column" not in str(err):
            raise
        raise InputError(
            f"{err} In a spec, column names are set in [data.columns] ({spec.path})."
        ) from None


def check_spec(spec: Spec, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Validate a spec and its data without sampling; return a short description.

    Everything :func:`~bayescale.pipeline.run_loss` / :func:`~bayescale.pass_pipeline.run_pass`
    checks before sampling is checked here: the options, the data file, the columns and rows,
    the buckets, and that the requirement names a group or bucket that exists.

    Raises
    ------
    InputError
        On the first problem found.
    """
    from bayescale.data import load_loss_runs
    from bayescale.fit import model_settings
    from bayescale.forecast import loss_target_warnings
    from bayescale.options import check_options
    from bayescale.pass_data import PassAggregate
    from bayescale.pass_forecast import pass_target_warnings
    from bayescale.pass_pipeline import check_pass_options, load_pass, pass_requirement
    from bayescale.pipeline import loss_requirement
    from bayescale.targets import check_targets

    options = spec_options(spec, overrides)
    path = data_source(spec, overrides)
    from_cli = "requirement" in (overrides or {})

    def rule() -> contextlib.AbstractContextManager[None]:
        return _located(spec, ("decision", "require"), from_cli)

    law = spec.law
    lines = [f"spec {spec.path}: '{spec.name}', law '{law.name}': {law.formula}"]
    if isinstance(options, LossOptions):
        check_options(options)
        with _columns_hint(spec):
            data = load_loss_runs(
                path,
                options.columns,
                options.fit_max_compute,
                where=options.where,
                drop_missing=options.drop_missing,
            )
        if options.requirement:
            with rule():
                loss_requirement(options.requirement, data.groups)
        fitted = int(data.fitted.sum())
        warned = loss_target_warnings(
            data,
            check_targets(options.targets),
            options.priors,
            allow_backcast=options.allow_backcast,
        )
        lines.append(
            f"data {path}: {len(data.compute)} runs ({fitted} fitted, "
            f"{len(data.compute) - fitted} held out) in {len(data.groups)} group(s): "
            + ", ".join(data.groups)
        )
    else:
        with rule():
            check_pass_options(options)
        with _columns_hint(spec):
            pdata, buckets = load_pass(path, options)
        models = pdata.models
        fitted = int(models.fitted.sum())
        warned = pass_target_warnings(
            pdata, check_targets(options.targets), allow_backcast=options.allow_backcast
        )
        if isinstance(pdata, PassAggregate):
            if "buckets" in spec.model.model_fields_set:
                line = _line_of(spec.text, ("buckets",))
                raise InputError(
                    f"{spec.path}, line {line}: [buckets] applies to per-problem counts, but "
                    f"{path} holds aggregate pass rates, whose buckets are its "
                    f"'{options.columns.bucket}' column. Remove the [buckets] table."
                )
            labels = pdata.buckets
            shape = f"aggregate pass rates, {len(labels)} bucket(s): {', '.join(labels)}"
        else:
            assert buckets is not None
            labels = buckets.labels
            sizes = buckets.sizes()
            shape = (
                f"per-problem counts, {len(pdata.problems)} problems; {sum(sizes)} in "
                f"{len(labels)} buckets of sizes {', '.join(map(str, sizes))}"
            )
            if len(pdata.problems) > sum(sizes):
                shape += f", {len(pdata.problems) - sum(sizes)} set aside"
        if options.requirement:
            with rule():
                pooled = not isinstance(pdata, PassAggregate) or len(labels) == 1
                pass_requirement(options.requirement, labels, pooled)
        lines.append(
            f"data {path}: {len(models.names)} models ({fitted} fitted, "
            f"{len(models.names) - fitted} held out); {shape}"
        )
    targets = ", ".join(f"{t:.3g}" for t in options.targets)
    lines.append(f"targets (FLOPs): {targets}; {options.interval:.0%} intervals")
    lines += [f"warning: {w}" for w in warned]
    if options.requirement:
        lines.append(f"decision: {options.requirement} with confidence {options.confidence:g}")
    s = model_settings(options.sampler, law.kind)
    lines.append(
        f"sampler: {s.chains} chains x {s.draws} draws ({s.tune} tune), "
        f"target_accept {s.target_accept}, warm-up tree depth {s.warmup_tree_depth}, "
        f"seed {s.seed}"
    )
    return lines


__all__ = [
    "LAWS",
    "OVERRIDES",
    "SCHEMA_VERSION",
    "Law",
    "LossSpec",
    "PassSpec",
    "Spec",
    "check_spec",
    "data_source",
    "load_spec",
    "spec_options",
    "validate_spec",
]

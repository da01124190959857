"""The pieces of a forecast spec's schema that every law shares (docs/specs.md).

Strict pydantic sections (``extra="forbid"``, no coercion), models that mirror a frozen
dataclass (its field names are the keys and its defaults the defaults, so the schema cannot
drift from the code), the ``[data]``, ``[forecast]``, ``[decision]`` and ``[sampler]`` tables,
and :func:`law_sections`, from which a law's registry entry builds its own sections.
:mod:`bayescale.spec` reads, validates and checks specs through the registry; this module
imports no law, so a law's module may import it.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from bayescale.options import Options
from bayescale.sampling import SamplerSettings


class Strict(BaseModel):
    """Base of every spec section: unknown keys are errors, TOML types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def default_of(cls: type, name: str) -> Any:
    """The default of dataclass field ``name`` (so the spec never restates a default)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    raise KeyError(name)  # pragma: no cover - a programming error


def mirror(cls: type, name: str, exclude: tuple[str, ...] = ()) -> type[Strict]:
    """A strict pydantic model with the fields, types and defaults of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {
        f.name: (hints[f.name], default_of(cls, f.name))
        for f in dataclasses.fields(cls)
        if f.name not in exclude
    }
    return create_model(name, __base__=Strict, **fields)


def set_keys(section: BaseModel) -> dict[str, Any]:
    """The keys a spec section sets (the rest keep the dataclass defaults)."""
    return section.model_dump(exclude_unset=True)


def data_line(path: object, unit: str, fitted: Any, tail: str) -> str:
    """``bayescale check``'s line about the data: rows (``unit``) fitted and held out, ``tail``."""
    n, k = len(fitted), int(sum(fitted))
    return f"data {path}: {n} {unit} ({k} fitted, {n - k} held out){tail}"


def line_of(text: str, loc: tuple[str, ...]) -> int | None:
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


# progress bars are a property of the terminal, not of the forecast: --quiet decides
SamplerSpec = mirror(SamplerSettings, "SamplerSpec", exclude=("progress",))


class DataSpec(Strict):
    """``[data]``: the table and its row selection; a law adds its ``[data.columns]``."""

    path: str
    fit_max_compute: float | None = Field(default=None, gt=0)
    where: str | None = None
    drop_missing: bool = False


class ForecastSpec(Strict):
    """``[forecast]``: where to forecast and how wide the intervals are."""

    targets: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    interval: float = Field(default=default_of(Options, "interval"), gt=0, lt=1)


class DecisionSpec(Strict):
    """``[decision]``: the go/no-go rule and, optionally, its economics."""

    require: str
    confidence: float = Field(default=default_of(Options, "confidence"), gt=0, lt=1)
    value: float | None = Field(default=None, gt=0)
    cost_per_flop: float | None = Field(default=None, gt=0)


class SpecBase(Strict):
    """The top-level keys of every spec; a law's spec model adds its own sections."""

    schema_version: int
    law: str
    title: str | None = None
    description: str | None = None
    decision: DecisionSpec | None = None
    sampler: SamplerSpec = SamplerSpec()  # type: ignore[valid-type]


def law_sections(
    columns: type | None,
    priors: type | None,
    forecast: type[ForecastSpec] = ForecastSpec,
    **extra: tuple[type, Any],
) -> dict[str, tuple[type, Any]]:
    """A law's spec sections, for its registry entry's ``spec_sections``.

    ``[data]`` with ``[data.columns]`` mirroring dataclass ``columns``, ``[forecast]``, the
    ``extra`` sections (``name=(model, default)``) and ``[priors]`` mirroring dataclass
    ``priors`` (``None``: the law has no such table).
    """
    data: type[Strict] = DataSpec
    if columns is not None:
        columns_spec = mirror(columns, f"{columns.__name__}Spec")
        data = create_model(
            f"{columns.__name__.removesuffix('Columns')}DataSpec",
            __base__=DataSpec,
            columns=(columns_spec, columns_spec()),
        )
    sections: dict[str, tuple[type, Any]] = {"data": (data, ...), "forecast": (forecast, ...)}
    sections |= extra
    if priors is not None:
        priors_spec = mirror(priors, f"{priors.__name__}Spec")
        sections["priors"] = (priors_spec, priors_spec())
    return sections

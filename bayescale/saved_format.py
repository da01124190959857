"""The saved-fit file format that every law shares (docs/formats.md).

Format tag and version, root attributes, SHA-256 digests of every group and attribute, the
atomic write, and the readers of what every fit carries (sampler settings, diagnostics,
pivot). A law adds its data group through its registry entry
(:class:`bayescale.registry.Law`: ``encode``/``decode``); :mod:`bayescale.saved` puts the two
together. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayescale.diagnostics import Attempt, Diagnostics, diagnose
from bayescale.errors import InputError
from bayescale.sampling import MAX_TREE_DEPTH, SamplerSettings
from bayescale.seeds import FORECAST_SEED_ATTR, STREAMS_ATTR

log = logging.getLogger("bayescale")


FORMAT = "bayescale.fit"


#: Version of the file layout; bump it when the layout changes and keep readers for old ones.
#: Format 3 adds :data:`INTEGRITY_ATTR`; formats 1 and 2 are read as unverified.
FORMAT_VERSION = 3


#: Root attribute of format 3: JSON object of SHA-256 digests, one per group of the tree
#: (``group:posterior``, ``group:sample_stats``, …) and one per other root attribute
#: (``attr:priors``, ``attr:log_pivot``, …), so a load can say which part changed.
INTEGRITY_ATTR = "bayescale_sha256"


#: Root attribute holding the TOML text of the spec a run came from (``bayescale run``).
#: Optional: fits from ``bayescale loss|pass`` and files of 0.1.0 have none.
SPEC_ATTR = "spec"


#: Root attribute of a fit that comes from a file without digests (format 1 or 2): where it
#: came from (``"format 1"``). Set when such a file is loaded and written again when the fit is
#: saved, where the digests cover it, so a fit saved from an unverified one stays unverified;
#: every result from the fit says so in its ``warnings``.
UNVERIFIED_ATTR = "unverified"


#: What the writers of formats 1 and 2 (bayescale 0.1.0, before digests) put in a file, from
#: the history of this module: the root attributes, the laws, and the keys of the JSON
#: attributes that grew after them. Anything else in a file that claims one of those formats
#: was written by a newer bayescale, and its format lowered to escape its digests.
LEGACY_ATTRS = frozenset(
    {
        "bayescale_format",
        "bayescale_format_version",
        "bayescale_version",
        "kind",
        "data_sha256",
        "log_pivot",
        "priors",
        "sampler",
        "timing_s",
        "options",
        SPEC_ATTR,
        "fit_max_compute",
        "columns",
    }
)
LEGACY_KINDS = frozenset({"loss", "pass"})
LEGACY_KEYS: dict[tuple[str, str], frozenset[str]] = {
    # the scatter prior's keys came with format 3, the per-run errors' column after it
    ("loss", "priors"): frozenset(
        {
            "level_log_sd",
            "slope_median",
            "slope_log_sd",
            "slope_group_sd",
            "reducible_logit_mean",
            "reducible_logit_sd",
            "reducible_group_sd",
            "scatter_sd",
            "likelihood",
            "student_t_nu",
            "discrepancy_exponent_sd",
            "discrepancy_per_efold",
        }
    ),
    ("loss", "columns"): frozenset({"compute", "loss", "group", "name"}),
    # the pass law's discrepancy came after format 3
    ("pass", "priors"): frozenset(
        {
            "level_mean",
            "level_sd",
            "level_bucket_sd",
            "exponent_median",
            "exponent_log_sd",
            "exponent_bucket_sd",
            "problem_sd",
            "problem_slope_sd",
            "problem_slopes",
            "model_sd",
            "aggregate_sd",
        }
    ),
}
#: The first release whose files are all of format 3 (0.1.0 wrote formats 1 to 3).
FIRST_DIGESTED_RELEASE = (0, 2)


def root_attrs(
    fit: Any,
    kind: str,
    digest: str,
    options: dict[str, Any] | None,
    spec: str | None = None,
) -> dict[str, Any]:
    """Root attributes every saved fit carries (``spec`` only when the run came from one)."""
    from bayescale.version import __version__

    extra: dict[str, Any] = {SPEC_ATTR: spec} if spec is not None else {}
    own_seed = getattr(fit, "forecast_seed", None)
    if own_seed is not None:
        extra[FORECAST_SEED_ATTR] = int(own_seed)
    extra[STREAMS_ATTR] = getattr(fit, "streams", "keyed")
    origin = getattr(getattr(fit, "idata", None), "attrs", {}).get(UNVERIFIED_ATTR)
    if origin is not None:  # from a file without digests: it stays unverified
        extra[UNVERIFIED_ATTR] = str(origin)
    return extra | {
        "bayescale_format": FORMAT,
        "bayescale_format_version": FORMAT_VERSION,
        "bayescale_version": __version__,
        "kind": kind,
        "data_sha256": digest,
        "log_pivot": fit.log_pivot,
        "priors": json.dumps(asdict(fit.priors)),
        "sampler": json.dumps(asdict(fit.settings)),
        "timing_s": json.dumps(fit.timing_s),
        "options": json.dumps(options or {}),
        DIAGNOSTICS_ATTR: json.dumps(asdict(fit.diagnostics)),
    }


def _plain(value: Any) -> Any:
    """An attribute value as plain JSON-able Python (NetCDF gives NumPy scalars back)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _array_bytes(values: np.ndarray) -> bytes:
    """Canonical bytes of an array, the same before writing and after reading NetCDF."""
    values = np.asarray(values)
    kind = values.dtype.kind
    if kind in "biu":
        return np.ascontiguousarray(values, dtype="<i8").tobytes()
    if kind == "f":
        out = np.array(values, dtype="<f8")
        out[np.isnan(out)] = np.nan  # one NaN bit pattern
        return out.tobytes()
    return "\x1f".join(map(str, values.ravel().tolist())).encode("utf-8")


def _dataset_digest(ds: xr.Dataset) -> str:
    """SHA-256 of a group: every variable and coordinate (name, dims, shape, values, attrs)."""
    h = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        var = ds.variables[name]
        head: dict[str, Any] = {"name": name, "dims": list(var.dims), "shape": list(var.shape)}
        head["attrs"] = {str(k): _plain(v) for k, v in var.attrs.items()}
        h.update(json.dumps(head, sort_keys=True, default=str).encode())
        h.update(_array_bytes(var.values))
    h.update(json.dumps(_plain(dict(ds.attrs)), sort_keys=True, default=str).encode())
    return h.hexdigest()


def integrity_digests(tree: xr.DataTree) -> dict[str, str]:
    """SHA-256 of every part of a saved fit that can change an answer.

    One digest per group (the posterior, the sample stats, the observed data, the runs or
    pass table, each with its coordinates and attributes) and one per root attribute (the
    priors, sampler, options, pivot, columns, spec, …), keyed ``group:NAME`` and
    ``attr:NAME``. :data:`INTEGRITY_ATTR` itself is left out.
    """
    digests: dict[str, str] = {}
    for node in tree.subtree:
        if node is tree:
            continue
        ds = node.to_dataset(inherit=False)
        digests[f"group:{node.path.strip('/')}"] = _dataset_digest(ds)
    root = tree.to_dataset(inherit=False)
    if root.variables:
        digests["group:/"] = _dataset_digest(root.drop_attrs())
    for key, value in tree.attrs.items():
        if key == INTEGRITY_ATTR:
            continue
        digests[f"attr:{key}"] = _attr_digest(value)
    return digests


def _attr_digest(value: Any) -> str:
    text = json.dumps(_plain(value), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_as_scalar(tree: xr.DataTree, key: str, recorded: str) -> bool:
    """Whether attribute ``key`` is a one-element array that NetCDF read back as a scalar.

    An accuracy fit of one family saves its pivots as such an array; its digest was taken of
    the array, and the scalar read back is the same value.
    """
    kind, _, name = key.partition(":")
    value = tree.attrs.get(name) if kind == "attr" else None
    return value is not None and np.ndim(value) == 0 and _attr_digest([value]) == recorded


def _describe_part(key: str) -> str:
    kind, _, name = key.partition(":")
    return f"group '{name}'" if kind == "group" else f"attribute '{name}'"


def verify_integrity(tree: xr.DataTree, path: Path, version: int) -> None:
    """Refuse a saved fit whose parts do not match their recorded digests, or bad draws.

    Files of formats 1 and 2 carry no digests of their draws and settings: one that holds
    what only newer writers write (:func:`newer_content`) is refused; the others are loaded as
    unverified (their data hash is still checked), marked with :data:`UNVERIFIED_ATTR`.

    Raises
    ------
    InputError
        Naming each group or attribute that changed, was removed or was added, what a file of
        an older format holds that its writers never wrote, or the posterior variables with
        non-finite draws.
    """
    if version >= 3:
        try:
            recorded = json.loads(str(tree.attrs[INTEGRITY_ATTR]))
            if not isinstance(recorded, dict):
                raise TypeError
        except (KeyError, TypeError, json.JSONDecodeError):
            raise InputError(
                f"{path}: saved fit of format {version} lacks a valid '{INTEGRITY_ATTR}' "
                "attribute (the digests of its contents); the file was modified or damaged. "
                "Fit again."
            ) from None
        actual = integrity_digests(tree)
        changed = [
            _describe_part(k)
            for k in recorded
            if k in actual
            and actual[k] != recorded[k]
            and not _read_as_scalar(tree, k, recorded[k])
        ]
        removed = [_describe_part(k) for k in recorded if k not in actual]
        added = [_describe_part(k) for k in actual if k not in recorded]
        parts = [
            *(f"{p} changed" for p in changed),
            *(f"{p} removed" for p in removed),
            *(f"{p} added" for p in added),
        ]
        if parts:
            raise InputError(
                f"{path}: the saved fit does not match its recorded SHA-256 digests: "
                f"{'; '.join(parts)}. The file was modified or damaged after it was saved; "
                "a forecast from it cannot be trusted. Fit again."
            )
    else:
        newer = newer_content(tree)
        if newer:
            raise InputError(
                f"{path}: claims saved-fit format {version}, which records no digests, but holds "
                f"what only a newer bayescale writes ({'; '.join(newer)}): it was written by a "
                "newer bayescale and modified, its format lowered so that its digests are not "
                "checked. A forecast from it cannot be trusted. Fit again."
            )
        tree.attrs[UNVERIFIED_ATTR] = f"format {version}"
    if UNVERIFIED_ATTR in tree.attrs:
        log.warning("%s: %s", path, unverified_warning(tree.attrs[UNVERIFIED_ATTR]))
    if "posterior" in tree.children:
        posterior = tree["posterior"].to_dataset()
        bad = [
            f"{name} ({int((~np.isfinite(var.values)).sum())} draws)"
            for name, var in posterior.data_vars.items()
            if var.dtype.kind == "f" and not np.isfinite(var.values).all()
        ]
        if bad:
            raise InputError(
                f"{path}: non-finite posterior draws in {', '.join(map(str, bad))}; a sampler "
                "never writes NaN or infinity there, so the file was modified or damaged. "
                "Fit again."
            )


def newer_content(tree: xr.DataTree) -> list[str]:
    """What a file holds that no writer of formats 1 and 2 wrote (nothing, for such a file).

    Its ``bayescale_version`` from 0.2 on, a law they did not have, root attributes and keys of
    the priors or columns added since (:data:`LEGACY_ATTRS`, :data:`LEGACY_KEYS`).
    """
    found = []
    version = str(tree.attrs.get("bayescale_version", ""))
    release = re.match(r"(\d+)\.(\d+)", version)
    if release and (int(release[1]), int(release[2])) >= FIRST_DIGESTED_RELEASE:
        found.append(f"bayescale_version '{version}'")
    kind = str(tree.attrs.get("kind", "loss"))
    if kind not in LEGACY_KINDS:
        found.append(f"kind '{kind}'")
    named = [("attribute", sorted(set(map(str, tree.attrs)) - LEGACY_ATTRS))]
    for (law, key), known in LEGACY_KEYS.items():
        try:
            values = json.loads(tree.attrs[key]) if law == kind else {}
        except (KeyError, TypeError, json.JSONDecodeError):
            continue  # refused when the law reads it, naming it
        if isinstance(values, dict):
            named.append((f"{key} key", sorted(set(values) - known)))
    found += [f"{what}{'s' * (len(n) > 1)} {', '.join(map(repr, n))}" for what, n in named if n]
    return found


def unverified_warning(origin: Any) -> str:
    """The warning of a fit from a file without digests (``origin``: ``"format 1"``)."""
    return (
        f"this fit comes from a saved fit of {origin}, which records no digests of its draws "
        "and settings: a change to them cannot be detected, so this forecast is unverified. "
        "Fit again from the data for a verified one."
    )


def unverified_warnings(fit: Any) -> tuple[str, ...]:
    """The warning of a fit loaded from a file without digests, or of one saved from it."""
    attrs = getattr(getattr(fit, "idata", None), "attrs", {})
    return (unverified_warning(attrs[UNVERIFIED_ATTR]),) if UNVERIFIED_ATTR in attrs else ()


#: ``name -> (formula, posterior -> values)``: a deterministic variable of a law's posterior and
#: how the model computes it from the others (:func:`check_relations`).
Relations = dict[str, tuple[str, Callable[[xr.Dataset], Any]]]


def check_relations(tree: xr.DataTree, path: Path, relations: Relations) -> None:
    """Refuse a posterior whose deterministic variables are not what the model computes.

    A few array operations that catch one variable of a pair edited alone, also in a file
    without digests (format 1 or 2). The tolerance is 1000 machine epsilons of the stored
    variable's float width; a relation whose variables the file lacks is skipped.

    Raises
    ------
    InputError
        Naming each variable that disagrees, with its formula.
    """
    posterior = tree["posterior"].to_dataset()
    broken = []
    for name, (formula, compute) in relations.items():
        try:
            stored = posterior[name]
            expected = compute(posterior).transpose(*stored.dims)
        except (KeyError, ValueError):
            continue
        eps = np.finfo(stored.dtype if stored.dtype.kind == "f" else float).eps
        if stored.shape != expected.shape or not np.allclose(
            stored.values, expected.values, rtol=1000 * eps, atol=0
        ):
            broken.append(f"'{name}' is not {formula}")
    if broken:
        raise InputError(
            f"{path}: in the posterior, {'; '.join(broken)}, as the model computes them; the "
            "file was modified or damaged. Fit again."
        )


def format_version(tree: xr.DataTree, path: Path) -> int:
    """The file's format version, refusing one that is not a whole number."""
    raw = tree.attrs.get("bayescale_format_version", -1)
    try:
        version = int(raw)
        if version != float(raw):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(
            f"{path}: saved-fit format version {raw!r} is not a whole number; the file was "
            "modified or damaged. Fit again."
        ) from None
    return version


def write_tree(tree: xr.DataTree, path: Path) -> Path:
    """Record the digests of ``tree`` and write it atomically (temporary file, rename)."""
    from bayescale.outputs import atomic_file

    tree.attrs[INTEGRITY_ATTR] = json.dumps(integrity_digests(tree), sort_keys=True)
    with atomic_file(path) as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return path


#: Root attribute with the fit's diagnostics (JSON; optional, so no format bump): loading a fit
#: then needs no ArviZ, whose import is most of a ``bayescale forecast`` run's start-up.
DIAGNOSTICS_ATTR = "diagnostics"


def diagnostics_of(tree: xr.DataTree) -> Diagnostics:
    """The diagnostics saved with the fit, or computed again for files without them."""
    try:
        values = json.loads(tree.attrs[DIAGNOSTICS_ATTR])
        values["attempts"] = tuple(Attempt(**a) for a in values.get("attempts", ()))
        return Diagnostics(**values)
    except (KeyError, TypeError, ValueError):
        return diagnose(tree)


def attr_json(tree: xr.DataTree, key: str, path: Path) -> Any:
    """A root attribute parsed as JSON, or an error naming it."""
    try:
        return json.loads(tree.attrs[key])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise InputError(f"{path}: saved fit lacks a valid '{key}' attribute.") from None


def only_known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Refuse settings this version does not know (written by a newer bayescale)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(
            f"saved fit has {cls.__name__} settings this bayescale does not know "
            f"({', '.join(unknown)}); it was written by a newer version: upgrade bayescale."
        )
    return values


def pivot_of(tree: xr.DataTree, compute: np.ndarray, path: Path) -> float:
    """The pivot recomputed from the data, checked against the stored one."""
    pivot = float(np.mean(np.log(compute)))
    if not np.isclose(pivot, float(tree.attrs["log_pivot"]), rtol=0, atol=1e-9):
        raise InputError(f"{path}: the stored pivot does not match the data; fit again.")
    return pivot


def grouped_runs_group(
    data: Any, arrays: dict[str, np.ndarray], digest: str
) -> tuple[xr.Dataset, str, dict[str, Any]]:
    """A saved fit's runs group for a law on grouped runs (loss, L(N, D)).

    ``arrays`` are the law's numeric columns by run; the group, name and held-out flag, the
    group order, the source, ``fit_max_compute`` and the columns are the same for every such
    law. Returns the group, its data SHA-256 and the root attributes it adds.
    """
    runs = xr.Dataset(
        {
            **{name: ("run", values) for name, values in arrays.items()},
            "group": ("run", np.asarray(data.group, dtype=str)),
            "name": ("run", np.asarray(data.name, dtype=str)),
            "held_out": ("run", data.held_out.astype(np.int8)),
        },
        attrs={"groups": json.dumps(list(data.groups)), "source": data.source},
    )
    extra = {
        "fit_max_compute": json.dumps(data.fit_max_compute),
        "columns": json.dumps(asdict(data.columns)),
    }
    return runs, digest, extra


def open_tree(path: Path, data_group: Callable[[str], str]) -> xr.DataTree:
    """Open a saved fit and check its format tag, version, groups and digests.

    ``data_group`` maps the file's ``kind`` (its law) to the law's data group.
    """
    if path.is_dir() and (path / "fit.nc").is_file():
        raise InputError(
            f"{path}: is a folder. Its saved fit is {path / 'fit.nc'}: load that file."
        )
    if path.is_dir() or (path.exists() and not path.is_file()):
        raise InputError(f"{path}: not a regular file. Expected a fit.nc written with --out.")
    if not path.is_file():
        from bayescale.outputs import interrupted_hint

        raise InputError(
            f"{path}: file not found. Expected a fit.nc written with --out."
            + interrupted_hint(path.parent)
        )
    try:
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            tree = opened.load().copy()  # in memory; the file is closed on leaving
    except Exception as exc:  # h5py/netCDF raise many types for a damaged file
        raise InputError(
            f"{path}: cannot be read as NetCDF ({type(exc).__name__}). Expected a fit.nc "
            "written by 'bayescale loss|pass|nd|accuracy|run --out DIR'."
        ) from None
    if tree.attrs.get("bayescale_format") != FORMAT:
        raise InputError(f"{path}: not a bayescale saved fit (no '{FORMAT}' format tag).")
    version = format_version(tree, path)
    if version > FORMAT_VERSION or version < 1:
        raise InputError(
            f"{path}: saved-fit format {version} is not supported by this bayescale "
            f"(reads 1 to {FORMAT_VERSION}); upgrade bayescale."
        )
    group = data_group(str(tree.attrs.get("kind", "loss")))
    missing = [g for g in ("posterior", group) if g not in tree.children]
    if missing:
        raise InputError(f"{path}: saved fit is missing group(s) {', '.join(missing)}.")
    verify_integrity(tree, path, version)
    return tree


def stream_fields(tree: xr.DataTree) -> dict[str, Any]:
    """A saved fit's ``streams`` and ``forecast_seed`` (:mod:`bayescale.seeds`).

    Fits saved before keyed streams have no ``random_streams`` attribute: their forecasts keep
    the old seed offsets, so they reproduce their numbers.
    """
    own = tree.attrs.get(FORECAST_SEED_ATTR)
    return {
        "streams": str(tree.attrs.get(STREAMS_ATTR, "offsets")),
        "forecast_seed": None if own is None else int(own),
    }


def check_hash(tree: xr.DataTree, digest: str, path: Path) -> None:
    """Refuse data that do not match the SHA-256 recorded when they were saved."""
    if digest != tree.attrs.get("data_sha256"):
        raise InputError(
            f"{path}: the data stored in the file do not match their recorded SHA-256; the "
            "file was modified or damaged. Fit again."
        )


def settings_of(tree: xr.DataTree, path: Path) -> SamplerSettings:
    """The saved sampler settings (fields added since filled with their old defaults)."""
    values = only_known(SamplerSettings, attr_json(tree, "sampler", path))
    values.setdefault("initial_mass", "unit")  # fits saved before the Laplace start
    # and before warm-up trees were capped
    values.setdefault("warmup_tree_depth", MAX_TREE_DEPTH)
    return SamplerSettings.recorded(**values)  # 1 to 3 draws: what older versions ran


def priors_of[P](
    tree: xr.DataTree, path: Path, cls: type[P], older: dict[str, Any] | None = None
) -> P:
    """The saved priors of a law, with ``older`` for the fields a file predates.

    ``older`` holds the values those fits were made with (a prior added or changed since).
    """
    values = only_known(cls, attr_json(tree, "priors", path))
    return cls(**((older or {}) | values))


def fit_fields(tree: xr.DataTree, path: Path, priors: Any) -> dict[str, Any]:
    """Keyword arguments of a law's fit that every law reads back the same way.

    ``priors`` (read by the law), the sampler settings, the diagnostics and the timing.
    """
    return {
        "priors": priors,
        "settings": settings_of(tree, path),
        "diagnostics": diagnostics_of(tree),
        "timing_s": attr_json(tree, "timing_s", path),
    }

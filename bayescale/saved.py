"""Saved fits: a self-describing NetCDF ``DataTree`` that answers new questions without sampling.

``fit.nc`` holds the PyMC groups (``posterior``, ``sample_stats``, ``observed_data``); a
``bayescale_runs`` group with the whole input table of a loss fit (fitted and held-out runs),
or a ``bayescale_pass`` group with the counts or rates and the buckets of a pass-rate fit; and
in the root attributes the format tag, the bayescale version that wrote it, the SHA-256 of the
data, the priors, the sampler settings, the pivot and the forecast options. :func:`load_fit`
checks all of it and refuses a file it cannot trust with an
:class:`~bayescale.errors.InputError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.buckets import Buckets
from bayescale.data import LossColumns, LossData
from bayescale.diagnostics import Diagnostics, diagnose
from bayescale.display import html_summary, text_summary
from bayescale.errors import InputError
from bayescale.fit import LossFit, PassFit
from bayescale.pass_data import ModelTable, PassAggregate, PassColumns, PassCounts
from bayescale.pass_pipeline import PassOptions
from bayescale.pipeline import LossOptions
from bayescale.priors import LossPriors, PassPriors
from bayescale.sampling import MAX_TREE_DEPTH, SamplerSettings

if TYPE_CHECKING:
    from bayescale.pass_pipeline import PassResult
    from bayescale.pipeline import LossResult

FORMAT = "bayescale.fit"
#: Version of the file layout; bump it when the layout changes and keep readers for old ones.
#: Format 3 adds :data:`INTEGRITY_ATTR`; formats 1 and 2 are read, with a warning.
FORMAT_VERSION = 3
#: Root attribute of format 3: JSON object of SHA-256 digests, one per group of the tree
#: (``group:posterior``, ``group:sample_stats``, …) and one per other root attribute
#: (``attr:priors``, ``attr:log_pivot``, …), so a load can say which part changed.
INTEGRITY_ATTR = "bayescale_sha256"
RUNS_GROUP = "bayescale_runs"
PASS_GROUP = "bayescale_pass"
#: Root attribute holding the TOML text of the spec a run came from (``bayescale run``).
#: Optional: fits from ``bayescale loss|pass`` and files of 0.1.0 have none.
SPEC_ATTR = "spec"

log = logging.getLogger("bayescale")


def runs_hash(data: LossData) -> str:
    """SHA-256 of the runs (compute, loss, group, name, held-out flag), order included."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(data.compute, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(data.loss, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(data.held_out, dtype="u1").tobytes())
    h.update("\x1f".join(map(str, data.group)).encode())
    h.update("\x1e".join(map(str, data.name)).encode())
    return h.hexdigest()


def _root_attrs(
    fit: LossFit | PassFit,
    kind: str,
    digest: str,
    options: dict[str, Any] | None,
    spec: str | None = None,
) -> dict[str, Any]:
    """Root attributes every saved fit carries (``spec`` only when the run came from one)."""
    from bayescale.version import __version__

    extra = {SPEC_ATTR: spec} if spec is not None else {}
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


def save_loss_fit(
    fit: LossFit,
    path: str | Path,
    options: dict[str, Any] | None = None,
    spec: str | None = None,
) -> Path:
    """Write a loss fit to ``path`` (NetCDF4 via h5netcdf).

    Parameters
    ----------
    fit
        The fit to save.
    path
        Destination, conventionally ``DIR/fit.nc``.
    options
        Forecast options to remember (targets, interval, requirement, confidence).
    spec
        Text of the spec file the run came from, kept verbatim (see :func:`saved_spec`).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    data = fit.data
    runs = xr.Dataset(
        {
            "compute": ("run", data.compute),
            "loss": ("run", data.loss),
            "group": ("run", np.asarray(data.group, dtype=str)),
            "name": ("run", np.asarray(data.name, dtype=str)),
            "held_out": ("run", data.held_out.astype(np.int8)),
        },
        attrs={"groups": json.dumps(list(data.groups)), "source": data.source},
    )
    tree = fit.idata.copy()
    tree[RUNS_GROUP] = xr.DataTree(runs)
    tree.attrs = _root_attrs(fit, "loss", runs_hash(data), options, spec) | {
        "fit_max_compute": json.dumps(data.fit_max_compute),
        "columns": json.dumps(asdict(data.columns)),
    }
    return _write_tree(tree, path)


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
        text = json.dumps(_plain(value), sort_keys=True, default=str)
        digests[f"attr:{key}"] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def _describe_part(key: str) -> str:
    kind, _, name = key.partition(":")
    return f"group '{name}'" if kind == "group" else f"attribute '{name}'"


def verify_integrity(tree: xr.DataTree, path: Path, version: int) -> None:
    """Refuse a saved fit whose parts do not match their recorded digests, or bad draws.

    Files of formats 1 and 2 carry no digests of their draws and settings: they are loaded
    with a logged warning that they are unverified (their data hash is still checked).

    Raises
    ------
    InputError
        Naming each group or attribute that changed, was removed or was added, or the
        posterior variables with non-finite draws.
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
        changed = [_describe_part(k) for k in recorded if k in actual and actual[k] != recorded[k]]
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
        log.warning(
            "%s: saved-fit format %d records no digests of its draws and settings, so they "
            "are unverified (only its data are checked). Save it again with this version "
            "('bayescale forecast ... --out DIR') to protect it.",
            path,
            version,
        )
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


def _format_version(tree: xr.DataTree, path: Path) -> int:
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


def _write_tree(tree: xr.DataTree, path: Path) -> Path:
    """Record the digests of ``tree`` and write it atomically (temporary file, rename)."""
    from bayescale.outputs import atomic_file

    tree.attrs[INTEGRITY_ATTR] = json.dumps(integrity_digests(tree), sort_keys=True)
    with atomic_file(path) as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return path


#: Root attribute with the fit's diagnostics (JSON; optional, so no format bump): loading a fit
#: then needs no ArviZ, whose import is most of a ``bayescale forecast`` run's start-up.
DIAGNOSTICS_ATTR = "diagnostics"


def _diagnostics(tree: xr.DataTree) -> Diagnostics:
    """The diagnostics saved with the fit, or computed again for files without them."""
    try:
        return Diagnostics(**json.loads(tree.attrs[DIAGNOSTICS_ATTR]))
    except (KeyError, TypeError, ValueError):
        return diagnose(tree)


def _attr_json(tree: xr.DataTree, key: str, path: Path) -> Any:
    try:
        return json.loads(tree.attrs[key])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise InputError(f"{path}: saved fit lacks a valid '{key}' attribute.") from None


def _only_known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Refuse settings this version does not know (written by a newer bayescale)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(
            f"saved fit has {cls.__name__} settings this bayescale does not know "
            f"({', '.join(unknown)}); it was written by a newer version: upgrade bayescale."
        )
    return values


def _loss_priors(tree: xr.DataTree, path: Path) -> LossPriors:
    """Saved loss priors; fits written before the law discrepancy existed had none (0)."""
    values = _only_known(LossPriors, _attr_json(tree, "priors", path))
    values.setdefault("discrepancy_exponent_sd", 0.0)
    values.setdefault("scatter_prior", "halfnormal")  # the scatter prior before the log-normal
    return LossPriors(**values)


def _pivot(tree: xr.DataTree, compute: np.ndarray, path: Path) -> float:
    """The pivot recomputed from the data, checked against the stored one."""
    pivot = float(np.mean(np.log(compute)))
    if not np.isclose(pivot, float(tree.attrs["log_pivot"]), rtol=0, atol=1e-9):
        raise InputError(f"{path}: the stored pivot does not match the data; fit again.")
    return pivot


def _open(path: Path) -> xr.DataTree:
    """Open a saved fit and check its format tag and version."""
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
            "written by 'bayescale loss|pass --out DIR'."
        ) from None
    if tree.attrs.get("bayescale_format") != FORMAT:
        raise InputError(f"{path}: not a bayescale saved fit (no '{FORMAT}' format tag).")
    version = _format_version(tree, path)
    if version > FORMAT_VERSION or version < 1:
        raise InputError(
            f"{path}: saved-fit format {version} is not supported by this bayescale "
            f"(reads 1 to {FORMAT_VERSION}); upgrade bayescale."
        )
    data_group = PASS_GROUP if tree.attrs.get("kind") == "pass" else RUNS_GROUP
    missing = [g for g in ("posterior", data_group) if g not in tree.children]
    if missing:
        raise InputError(f"{path}: saved fit is missing group(s) {', '.join(missing)}.")
    verify_integrity(tree, path, version)
    return tree


def _check_hash(tree: xr.DataTree, digest: str, path: Path) -> None:
    if digest != tree.attrs.get("data_sha256"):
        raise InputError(
            f"{path}: the data stored in the file do not match their recorded SHA-256; the "
            "file was modified or damaged. Fit again."
        )


def _settings(tree: xr.DataTree, path: Path) -> SamplerSettings:
    values = _only_known(SamplerSettings, _attr_json(tree, "sampler", path))
    values.setdefault("initial_mass", "unit")  # fits saved before the Laplace start
    # and before warm-up trees were capped
    values.setdefault("warmup_tree_depth", MAX_TREE_DEPTH)
    return SamplerSettings(**values)


@dataclass(frozen=True)
class SavedFit:
    """A saved fit as loaded: the fit (with its data), the options it was run with, the spec.

    Attributes
    ----------
    fit
        The :class:`~bayescale.fit.LossFit` or :class:`~bayescale.fit.PassFit`; its ``data``
        holds the table it was fitted on (fitted and held-out rows).
    options
        The run's :class:`~bayescale.pipeline.LossOptions` or
        :class:`~bayescale.pass_pipeline.PassOptions` (targets, interval, rule, priors, sampler).
    path
        The file it was read from.
    spec
        The TOML text of the spec it was run from (``bayescale run``), else ``None``.

    Examples
    --------
    >>> saved = load_fit("out/fit.nc")  # doctest: +SKIP
    >>> saved.result(targets=5e23).decisions  # doctest: +SKIP
    """

    fit: LossFit | PassFit
    options: LossOptions | PassOptions
    path: Path
    spec: str | None = None

    @property
    def data(self) -> LossData | PassCounts | PassAggregate:
        """The table the fit was made on."""
        return self.fit.data

    @property
    def kind(self) -> str:
        """``"loss"`` or ``"pass"``."""
        return "loss" if isinstance(self.fit, LossFit) else "pass"

    def result(
        self, targets: float | list[float] | np.ndarray | None = None, **changes: Any
    ) -> LossResult | PassResult:
        """Forecast again without sampling.

        The saved options are used, with ``targets`` and any other option (``requirement``,
        ``confidence``, ``interval``, ``allow_backcast``, ...) changed.
        """
        from bayescale.pass_pipeline import result_from_pass_fit
        from bayescale.pipeline import result_from_fit

        if targets is not None:
            changes["targets"] = tuple(np.atleast_1d(np.asarray(targets, dtype=float)).tolist())
        options = replace(self.options, **changes)
        if isinstance(self.fit, LossFit):
            assert isinstance(options, LossOptions)
            return result_from_fit(self.fit, options)
        assert isinstance(options, PassOptions)
        return result_from_pass_fit(self.fit, options)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        _, rows = self.fit._summary()
        o = self.options
        rows = [
            ("file", str(self.path)),
            *rows,
            ("targets", ", ".join(f"{t:.3g}" for t in o.targets) + " FLOPs"),
            ("rule", f"{o.requirement} at confidence {o.confidence:g}" if o.requirement else "—"),
        ]
        return f"SavedFit ({self.kind})", rows

    def __repr__(self) -> str:
        return text_summary(*self._summary())

    def _repr_html_(self) -> str:
        return html_summary(*self._summary())


def _saved_options(fit: LossFit | PassFit, kept: dict[str, Any]) -> LossOptions | PassOptions:
    """The options of the run that saved ``fit``, from what the file remembers."""
    values: dict[str, Any] = {
        "targets": tuple(float(t) for t in kept.get("targets", ())),
        "interval": kept.get("interval", 0.9),
        "requirement": kept.get("requirement"),
        "confidence": kept.get("confidence", 0.9),
        "value": kept.get("value"),
        "cost_per_flop": kept.get("cost_per_flop"),
        "fit_max_compute": fit.data.fit_max_compute,
        "sampler": fit.settings,
    }
    if isinstance(fit, LossFit):
        return LossOptions(**values, priors=fit.priors, columns=fit.data.columns)
    buckets = len(fit.buckets.labels) if fit.buckets is not None else 6
    return PassOptions(
        **values,
        priors=fit.priors,
        columns=fit.data.columns,
        k=kept.get("k"),
        n_buckets=buckets,
    )


def load_fit(path: str | Path) -> SavedFit:
    """Read any saved fit (loss or pass rate), check that it is intact, and return it whole.

    Returns
    -------
    SavedFit
        The fit with its data, the options it was run with, and its spec.

    Raises
    ------
    InputError
        When the file is missing, not NetCDF, not a bayescale fit, of a newer format, or its
        data do not match their recorded hash.
    """
    fit, kept = read_fit(path)
    tree = xr.open_datatree(path, engine="h5netcdf")  # the attributes only, no second load
    try:
        spec = tree.attrs.get(SPEC_ATTR)
    finally:
        tree.close()
    return SavedFit(
        fit=fit,
        options=_saved_options(fit, kept),
        path=Path(path),
        spec=None if spec is None else str(spec),
    )


def read_fit(path: str | Path) -> tuple[LossFit | PassFit, dict[str, Any]]:
    """Read any saved fit (loss or pass rate) and check that it is intact.

    The low-level reader of :func:`load_fit`.

    Returns
    -------
    fit, options
        The fit and the forecast options it was saved with, as stored (a dict).

    Raises
    ------
    InputError
        When the file is missing, not NetCDF, not a bayescale fit, of a newer format, or its
        data do not match their recorded hash.
    """
    path = Path(path)
    tree = _open(path)
    try:
        fit: LossFit | PassFit = (
            _load_pass(tree, path) if tree.attrs.get("kind") == "pass" else _load_loss(tree, path)
        )
    except (KeyError, ValueError, TypeError) as exc:  # a damaged or hand-edited file
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"{path}: saved fit is damaged ({type(exc).__name__}: {exc}). Fit again."
        ) from None
    return fit, _attr_json(tree, "options", path)


def load_loss_fit(path: str | Path) -> tuple[LossFit, dict[str, Any]]:
    """Read a loss fit written by :func:`save_loss_fit` as ``(fit, options dict)``.

    See :func:`read_fit`; :func:`load_fit` returns the fit, its options and data as one object.
    """
    fit, options = read_fit(path)
    if not isinstance(fit, LossFit):
        raise InputError(f"{path}: this is a pass-rate fit, not a loss fit.")
    return fit, options


def _load_loss(tree: xr.DataTree, path: Path) -> LossFit:
    runs = tree[RUNS_GROUP].to_dataset()
    data = LossData(
        compute=np.asarray(runs["compute"].values, dtype=float),
        loss=np.asarray(runs["loss"].values, dtype=float),
        group=np.asarray(runs["group"].values.astype(str), dtype=object),
        groups=tuple(json.loads(runs.attrs["groups"])),
        name=np.asarray(runs["name"].values.astype(str), dtype=object),
        held_out=np.asarray(runs["held_out"].values, dtype=bool),
        source=str(runs.attrs.get("source", path)),
        fit_max_compute=_attr_json(tree, "fit_max_compute", path),
        columns=LossColumns(**_attr_json(tree, "columns", path)),
    )
    _check_hash(tree, runs_hash(data), path)
    del tree[RUNS_GROUP]
    return LossFit(
        data=data,
        idata=tree,
        log_pivot=_pivot(tree, data.compute[data.fitted], path),
        priors=_loss_priors(tree, path),
        settings=_settings(tree, path),
        diagnostics=_diagnostics(tree),
        timing_s=_attr_json(tree, "timing_s", path),
    )


def pass_hash(data: PassCounts | PassAggregate, buckets: Buckets | None = None) -> str:
    """SHA-256 of a pass table and of the buckets its problems were put in.

    The table part covers models, computes, held-out flags and the counts or rates. Files of
    format 1 hashed the table only; pass ``buckets=None`` to check those.
    """
    h = hashlib.sha256()
    m = data.models
    h.update("\x1f".join(m.names).encode())
    h.update(np.ascontiguousarray(m.compute, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(m.held_out, dtype="u1").tobytes())
    if isinstance(data, PassCounts):
        h.update("\x1f".join(data.problems).encode())
        h.update(np.ascontiguousarray(data.n, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(data.k, dtype="<i8").tobytes())
    else:
        h.update("\x1f".join(data.buckets).encode())
        h.update(np.ascontiguousarray(np.nan_to_num(data.pass_rate, nan=-1.0), "<f8").tobytes())
    if buckets is not None:
        h.update("\x1f".join(buckets.labels).encode())
        h.update(np.ascontiguousarray(buckets.kept, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(buckets.index, dtype="<i8").tobytes())
    return h.hexdigest()


def _pass_dataset(fit: PassFit) -> xr.Dataset:
    data = fit.data
    models = data.models
    base = {
        "model_compute": ("model", models.compute),
        "model_held_out": ("model", models.held_out.astype(np.int8)),
    }
    attrs: dict[str, Any] = {
        "source": data.source,
        "columns": json.dumps(asdict(data.columns)),
        "fit_max_compute": json.dumps(data.fit_max_compute),
    }
    coords: dict[str, Any] = {"model": list(models.names)}
    if isinstance(data, PassCounts):
        assert fit.buckets is not None
        b = fit.buckets
        coords["problem"] = list(data.problems)
        variables = {
            **base,
            "n": (("model", "problem"), data.n),
            "k": (("model", "problem"), data.k),
            "kept": ("kept_problem", b.kept),
            "bucket_index": ("kept_problem", b.index),
            "difficulty": ("kept_problem", b.difficulty),
        }
        attrs |= {
            "input": "per_problem",
            "bucket_labels": json.dumps(list(b.labels)),
            "reference_models": json.dumps(list(b.reference_models)),
            "eligibility": b.eligibility,
            "rank_correlation": b.rank_correlation.to_json(),
        }
    else:
        coords["bucket"] = list(data.buckets)
        variables = {**base, "pass_rate": (("model", "bucket"), data.pass_rate)}
        attrs |= {"input": "aggregate", "n_problems": json.dumps(list(data.n_problems))}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _load_pass(tree: xr.DataTree, path: Path) -> PassFit:
    ds = tree[PASS_GROUP].to_dataset()
    models = ModelTable(
        names=tuple(str(m) for m in ds["model"].values),
        compute=np.asarray(ds["model_compute"].values, dtype=float),
        held_out=np.asarray(ds["model_held_out"].values, dtype=bool),
    )
    common: dict[str, Any] = {
        "source": str(ds.attrs.get("source", path)),
        "fit_max_compute": json.loads(ds.attrs["fit_max_compute"]),
        "columns": PassColumns(**json.loads(ds.attrs["columns"])),
    }
    data: PassCounts | PassAggregate
    buckets = None
    if ds.attrs.get("input") == "per_problem":
        data = PassCounts(
            models=models,
            problems=tuple(str(p) for p in ds["problem"].values),
            n=np.asarray(ds["n"].values, dtype=np.int64),
            k=np.asarray(ds["k"].values, dtype=np.int64),
            **common,
        )
        buckets = Buckets(
            labels=tuple(json.loads(ds.attrs["bucket_labels"])),
            index=np.asarray(ds["bucket_index"].values, dtype=np.int64),
            kept=np.asarray(ds["kept"].values, dtype=np.int64),
            difficulty=np.asarray(ds["difficulty"].values, dtype=float),
            reference_models=tuple(json.loads(ds.attrs["reference_models"])),
            rank_correlation=pd.read_json(io.StringIO(ds.attrs["rank_correlation"])),
            eligibility=ds.attrs["eligibility"],
        )
    else:
        data = PassAggregate(
            models=models,
            buckets=tuple(str(b) for b in ds["bucket"].values),
            pass_rate=np.asarray(ds["pass_rate"].values, dtype=float),
            n_problems=tuple(json.loads(ds.attrs["n_problems"])),
            **common,
        )
    # format 1 hashed the table only; format 2 adds the buckets
    version = _format_version(tree, path)
    _check_hash(tree, pass_hash(data, buckets if version >= 2 else None), path)
    del tree[PASS_GROUP]
    return PassFit(
        data=data,
        buckets=buckets,
        idata=tree,
        log_pivot=_pivot(tree, models.compute[models.fitted], path),
        priors=PassPriors(**_only_known(PassPriors, _attr_json(tree, "priors", path))),
        settings=_settings(tree, path),
        diagnostics=_diagnostics(tree),
        timing_s=_attr_json(tree, "timing_s", path),
    )


def save_fit(
    fit: LossFit | PassFit,
    path: str | Path,
    options: dict[str, Any] | None = None,
    spec: str | None = None,
) -> Path:
    """Write a loss or pass-rate fit to ``path`` (see :func:`save_loss_fit`)."""
    if isinstance(fit, LossFit):
        return save_loss_fit(fit, path, options, spec)

    path = Path(path)
    tree = fit.idata.copy()
    tree[PASS_GROUP] = xr.DataTree(_pass_dataset(fit))
    tree.attrs = _root_attrs(fit, "pass", pass_hash(fit.data, fit.buckets), options, spec)
    return _write_tree(tree, path)


def saved_spec(path: str | Path) -> str | None:
    """The text of the spec a saved fit was run from, or ``None`` (no spec, or an old file)."""
    tree = _open(Path(path))
    text = tree.attrs.get(SPEC_ATTR)
    return None if text is None else str(text)

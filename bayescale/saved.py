"""Saved fits: a self-describing NetCDF ``DataTree`` that answers new questions without sampling.

``fit.nc`` holds the PyMC groups (``posterior``, ``sample_stats``, ``observed_data``), a
``bayescale_runs`` group with the whole input table (fitted and held-out runs), and in the root
attributes: the format tag, the bayescale version that wrote it, the SHA-256 of the runs, the
priors, the sampler settings, the pivot and the forecast options. :func:`load_loss_fit` checks
all of it and refuses a file it cannot trust with an :class:`~bayescale.errors.InputError`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayescale.data import LossColumns, LossData
from bayescale.diagnostics import diagnose
from bayescale.errors import InputError
from bayescale.fit import LossFit
from bayescale.priors import LossPriors
from bayescale.sampling import SamplerSettings

FORMAT = "bayescale.fit"
#: Version of the file layout; bump it when the layout changes and keep readers for old ones.
FORMAT_VERSION = 1
RUNS_GROUP = "bayescale_runs"


def runs_hash(data: LossData) -> str:
    """SHA-256 of the runs (compute, loss, group, name, held-out flag), order included."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(data.compute, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(data.loss, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(data.held_out, dtype="u1").tobytes())
    h.update("\x1f".join(map(str, data.group)).encode())
    h.update("\x1e".join(map(str, data.name)).encode())
    return h.hexdigest()


def save_loss_fit(fit: LossFit, path: str | Path, options: dict[str, Any] | None = None) -> Path:
    """Write a loss fit to ``path`` (NetCDF4 via h5netcdf).

    Parameters
    ----------
    fit
        The fit to save.
    path
        Destination, conventionally ``DIR/fit.nc``.
    options
        Forecast options to remember (targets, interval, requirement, confidence).

    Returns
    -------
    pathlib.Path
    """
    from bayescale import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    tree.attrs = {
        "bayescale_format": FORMAT,
        "bayescale_format_version": FORMAT_VERSION,
        "bayescale_version": __version__,
        "kind": "loss",
        "data_sha256": runs_hash(data),
        "log_pivot": fit.log_pivot,
        "fit_max_compute": json.dumps(data.fit_max_compute),
        "columns": json.dumps(asdict(data.columns)),
        "priors": json.dumps(asdict(fit.priors)),
        "sampler": json.dumps(asdict(fit.settings)),
        "timing_s": json.dumps(fit.timing_s),
        "options": json.dumps(options or {}),
    }
    tree.to_netcdf(path, engine="h5netcdf")
    return path


def _attr_json(tree: xr.DataTree, key: str, path: Path) -> Any:
    try:
        return json.loads(tree.attrs[key])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise InputError(f"{path}: saved fit lacks a valid '{key}' attribute.") from None


def _only_known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def load_loss_fit(path: str | Path) -> tuple[LossFit, dict[str, Any]]:
    """Read a fit written by :func:`save_loss_fit` and check that it is intact.

    Returns
    -------
    fit, options
        The fit and the forecast options it was saved with.

    Raises
    ------
    InputError
        When the file is missing, not NetCDF, not a bayescale fit, of a newer format, or its
        runs do not match their recorded hash.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found. Expected a fit.nc written with --out.")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf").load()
    except Exception as exc:  # h5py/netCDF raise many types for a damaged file
        raise InputError(
            f"{path}: cannot be read as NetCDF ({type(exc).__name__}). Expected a fit.nc "
            "written by 'bayescale loss --out DIR'."
        ) from None
    if tree.attrs.get("bayescale_format") != FORMAT:
        raise InputError(f"{path}: not a bayescale saved fit (no '{FORMAT}' format tag).")
    version = int(tree.attrs.get("bayescale_format_version", -1))
    if version > FORMAT_VERSION or version < 1:
        raise InputError(
            f"{path}: saved-fit format {version} is not supported by this bayescale "
            f"(reads 1 to {FORMAT_VERSION}); upgrade bayescale."
        )
    missing = [g for g in ("posterior", RUNS_GROUP) if g not in tree.children]
    if missing:
        raise InputError(f"{path}: saved fit is missing group(s) {', '.join(missing)}.")
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
    if runs_hash(data) != tree.attrs.get("data_sha256"):
        raise InputError(
            f"{path}: the runs stored in the file do not match their recorded SHA-256; the "
            "file was modified or damaged. Fit again."
        )
    del tree[RUNS_GROUP]
    fit = LossFit(
        data=data,
        idata=tree,
        log_pivot=float(tree.attrs["log_pivot"]),
        priors=LossPriors(**_only_known(LossPriors, _attr_json(tree, "priors", path))),
        settings=SamplerSettings(**_only_known(SamplerSettings, _attr_json(tree, "sampler", path))),
        diagnostics=diagnose(tree),
        timing_s=_attr_json(tree, "timing_s", path),
    )
    return fit, _attr_json(tree, "options", path)

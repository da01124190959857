"""The L(N, D) law's part of a saved fit: the ``bayescale_nd`` group (the whole input table).

``encode_nd`` and ``decode_nd`` are the nd entry's ``encode``/``decode`` in
:mod:`bayescale.registry`; the file layout is in docs/formats.md. The pivot is two numbers,
``(ln N0, ln D0)``, recomputed from the runs on load and checked against the stored ones.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayescale.errors import InputError
from bayescale.nd import NDFit, nd_pivot
from bayescale.nd_data import NDColumns, NDData, NDPriors, flops_per_param_token
from bayescale.saved_format import (
    attr_json,
    check_hash,
    fit_fields,
    grouped_runs_group,
    priors_of,
    stream_fields,
)

ND_GROUP = "bayescale_nd"


def nd_hash(data: NDData) -> str:
    """SHA-256 of the runs (N, D, compute, loss, held-out flag, group, name), order included."""
    h = hashlib.sha256()
    for values in (data.params, data.tokens, data.compute, data.loss):
        h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(data.held_out, dtype="u1").tobytes())
    h.update("\x1f".join(map(str, data.group)).encode())
    h.update("\x1e".join(map(str, data.name)).encode())
    return h.hexdigest()


def encode_nd(fit: NDFit) -> tuple[xr.Dataset, str, dict[str, Any]]:
    """The runs group of an L(N, D) fit, its SHA-256 and the root attributes only it carries."""
    data = fit.data
    arrays = {
        "params": data.params,
        "tokens": data.tokens,
        "compute": data.compute,
        "loss": data.loss,
    }
    runs, digest, extra = grouped_runs_group(data, arrays, nd_hash(data))
    if data.unread_compute is not None:  # for the data warning of a forecast from the fit
        runs.attrs["unread_compute"] = data.unread_compute
    return runs, digest, extra


def decode_nd(tree: xr.DataTree, path: Path) -> NDFit:
    """An L(N, D) fit back from an opened ``fit.nc``: its runs checked against their SHA-256."""
    runs = tree[ND_GROUP].to_dataset()
    params = np.asarray(runs["params"].values, dtype=float)
    tokens = np.asarray(runs["tokens"].values, dtype=float)
    compute = np.asarray(runs["compute"].values, dtype=float)
    held_out = np.asarray(runs["held_out"].values, dtype=bool)
    data = NDData(
        params=params,
        tokens=tokens,
        loss=np.asarray(runs["loss"].values, dtype=float),
        compute=compute,
        group=np.asarray(runs["group"].values.astype(str), dtype=object),
        groups=tuple(json.loads(runs.attrs["groups"])),
        name=np.asarray(runs["name"].values.astype(str), dtype=object),
        held_out=held_out,
        flops_per_param_token=flops_per_param_token(params, tokens, compute, ~held_out),
        source=str(runs.attrs.get("source", path)),
        fit_max_compute=attr_json(tree, "fit_max_compute", path),
        columns=NDColumns(**attr_json(tree, "columns", path)),
        unread_compute=_unread_compute(runs),
    )
    check_hash(tree, nd_hash(data), path)
    del tree[ND_GROUP]
    pivot = nd_pivot(data)
    stored = np.asarray(tree.attrs["log_pivot"], dtype=float).ravel()
    if stored.shape != (2,) or not np.allclose(stored, pivot, rtol=0, atol=1e-9):
        raise InputError(f"{path}: the stored pivot does not match the data; fit again.")
    return NDFit(
        data=data,
        idata=tree,
        log_pivot=pivot,
        **fit_fields(tree, path, nd_priors_of(tree, path)),
        forecast_seed=stream_fields(tree)["forecast_seed"],
    )


def _unread_compute(runs: xr.Dataset) -> float | None:
    """The saved factor of an unread ``compute`` column (fits saved before it have none)."""
    value = runs.attrs.get("unread_compute")
    return None if value is None else float(value)


def nd_priors_of(tree: xr.DataTree, path: Path) -> NDPriors:
    """Saved L(N, D) priors, with what older files were fitted and forecast with.

    Fits saved before the inverse-gamma scatter had a half-normal one, before the likelihood
    option a normal likelihood (the default then), before the additive law discrepancy none
    (``discrepancy_log_loss_sd`` 0): each answers as it did when saved.
    """
    older = {
        "scatter_prior": "halfnormal",
        "likelihood": "normal",
        "discrepancy_log_loss_sd": 0.0,
    }
    return priors_of(tree, path, NDPriors, older)

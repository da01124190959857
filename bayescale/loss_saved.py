"""The loss law's part of a saved fit: the ``bayescale_runs`` group (the whole input table).

``encode_loss`` and ``decode_loss`` are the loss entry's ``encode``/``decode`` in
:mod:`bayescale.registry`; the file layout is in docs/formats.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayescale.data import LossColumns, LossData
from bayescale.errors import InputError
from bayescale.forecast import loo_below
from bayescale.loss_fit import LossFit
from bayescale.pipeline import LossOptions
from bayescale.priors import RUN_EFFECT_PRIORS, LossPriors
from bayescale.saved_format import (
    Relations,
    attr_json,
    check_hash,
    check_relations,
    fit_fields,
    grouped_runs_group,
    pivot_of,
    priors_of,
    stream_fields,
)

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


def decode_loss(tree: xr.DataTree, path: Path) -> LossFit:
    """A loss fit back from an opened ``fit.nc``: its runs checked against their SHA-256."""
    runs = tree[RUNS_GROUP].to_dataset()
    data = LossData(
        compute=np.asarray(runs["compute"].values, dtype=float),
        loss=np.asarray(runs["loss"].values, dtype=float),
        group=np.asarray(runs["group"].values.astype(str), dtype=object),
        groups=tuple(json.loads(runs.attrs["groups"])),
        name=np.asarray(runs["name"].values.astype(str), dtype=object),
        held_out=np.asarray(runs["held_out"].values, dtype=bool),
        source=str(runs.attrs.get("source", path)),
        fit_max_compute=attr_json(tree, "fit_max_compute", path),
        columns=LossColumns(**attr_json(tree, "columns", path)),
    )
    check_hash(tree, runs_hash(data), path)
    check_relations(tree, path, loss_relations(float(np.ravel(tree.attrs["log_pivot"])[0])))
    del tree[RUNS_GROUP]
    return LossFit(
        data=data,
        idata=tree,
        log_pivot=pivot_of(tree, data.compute[data.fitted], path),
        **fit_fields(tree, path, loss_priors_of(tree, path)),
        **stream_fields(tree),
        exact_loo=exact_loo_of(tree, path),
        loo_below=loo_below_of(tree, path),
    )


def loss_relations(log_pivot: float) -> Relations:
    """The loss posterior's deterministic variables from the others (:mod:`bayescale.loss_model`).

    ``exponent = slope / reducible``, ``level = exp(log_level)``, ``b = -exponent``,
    ``c = level (1 - reducible)``, ``a = level reducible exp(exponent ln C0)`` and, with the
    shared run effect, ``run_effect = tau_run z_run``.
    """
    return {
        "run_effect": ("tau_run * z_run", lambda p: p["tau_run"] * p["z_run"]),
        "exponent": ("slope / reducible", lambda p: p["slope"] / p["reducible"]),
        "level": ("exp(log_level)", lambda p: np.exp(p["log_level"])),
        "b": ("-exponent", lambda p: -p["exponent"]),
        "c": ("level * (1 - reducible)", lambda p: p["level"] * (1 - p["reducible"])),
        "a": (
            "level * reducible * exp(exponent * log_pivot)",
            lambda p: p["level"] * p["reducible"] * np.exp(p["exponent"] * log_pivot),
        ),
    }


def loss_priors_of(tree: xr.DataTree, path: Path) -> LossPriors:
    """Saved loss priors; fits written before the law discrepancy existed had none (0)."""
    # the scatter prior before the inverse gamma; no law discrepancy before it existed
    older = {"discrepancy_exponent_sd": 0.0, "scatter_prior": "halfnormal"}
    return priors_of(tree, path, LossPriors, older)


def encode_loss(fit: LossFit) -> tuple[xr.Dataset, str, dict[str, Any]]:
    """The runs group of a loss fit, its SHA-256 and the root attributes only loss fits carry."""
    data = fit.data
    arrays = {"compute": data.compute, "loss": data.loss}
    runs, digest, extra = grouped_runs_group(data, arrays, runs_hash(data))
    if fit.exact_loo:
        extra[EXACT_LOO_ATTR] = json.dumps({str(row): p for row, p in fit.exact_loo.items()})
    extra[LOO_BELOW_ATTR] = json.dumps({str(row): p for row, p in loo_below(fit).items()})
    if not fit.priors.shared_runs:  # saved as before the run effect existed: the same file
        priors = {k: v for k, v in asdict(fit.priors).items() if k not in RUN_EFFECT_PRIORS}
        extra["priors"] = json.dumps(priors)
    return runs, digest, extra


#: Root attribute of a loss fit with refits without runs (``LossFit.exact_loo``): JSON, by
#: row. Optional (no format bump): fits without it have none.
EXACT_LOO_ATTR = "exact_loo"


#: Root attribute with every fitted run's leave-one-out probability (``LossFit.loo_below``):
#: JSON, by row. Optional (no format bump): fits saved before it compute them when asked, which
#: imports SciPy's distribution functions (0.15-0.2 s of a forecast from a saved fit).
LOO_BELOW_ATTR = "loo_below"


def exact_loo_of(tree: xr.DataTree, path: Path) -> dict[int, float]:
    """A saved loss fit's leave-one-out refits' probabilities by row (none when not saved)."""
    return _by_row(tree, EXACT_LOO_ATTR, path) or {}


def loo_below_of(tree: xr.DataTree, path: Path) -> dict[int, float] | None:
    """A saved loss fit's leave-one-out probabilities by row (``None`` when not saved)."""
    return _by_row(tree, LOO_BELOW_ATTR, path)


def _by_row(tree: xr.DataTree, key: str, path: Path) -> dict[int, float] | None:
    if key not in tree.attrs:
        return None
    values = attr_json(tree, key, path)
    try:
        return {int(row): float(p) for row, p in values.items()}
    except (AttributeError, TypeError, ValueError):
        raise InputError(f"{path}: saved fit lacks a valid '{key}' attribute.") from None


def loss_saved_options(fit: LossFit, values: dict[str, Any], kept: dict[str, Any]) -> Any:
    """The ``LossOptions`` of the run that saved ``fit`` (``values``: what every law keeps)."""
    return LossOptions(**values, priors=fit.priors, columns=fit.data.columns)

"""The pass-rate law's part of a saved fit: the ``bayescale_pass`` group.

Per-problem counts with their buckets, or aggregate rates. ``encode_pass`` and
``decode_pass`` are the pass entry's ``encode``/``decode`` in :mod:`bayescale.registry`; the
file layout is in docs/formats.md.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.buckets import Buckets
from bayescale.pass_data import ModelTable, PassAggregate, PassColumns, PassCounts
from bayescale.pass_fit import PassFit
from bayescale.pass_pipeline import PassOptions
from bayescale.priors import PassPriors
from bayescale.saved_format import (
    check_hash,
    check_relations,
    fit_fields,
    format_version,
    pivot_of,
    priors_of,
    stream_fields,
)

PASS_GROUP = "bayescale_pass"


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


def pass_dataset(fit: PassFit) -> xr.Dataset:
    """The ``bayescale_pass`` group of a fit: counts and buckets, or aggregate rates."""
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


def decode_pass(tree: xr.DataTree, path: Path) -> PassFit:
    """A pass-rate fit back from an opened ``fit.nc``: its table checked against its SHA-256."""
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
    version = format_version(tree, path)
    check_hash(tree, pass_hash(data, buckets if version >= 2 else None), path)
    # several buckets: their exponents from the free log-exponents (pass_model._bucket_lines)
    check_relations(
        tree, path, {"exponent": ("exp(log_exponent)", lambda p: np.exp(p["log_exponent"]))}
    )
    del tree[PASS_GROUP]
    return PassFit(
        data=data,
        buckets=buckets,
        idata=tree,
        log_pivot=pivot_of(tree, models.compute[models.fitted], path),
        **fit_fields(tree, path, pass_priors_of(tree, path)),
        **stream_fields(tree),
    )


def pass_priors_of(tree: xr.DataTree, path: Path) -> PassPriors:
    """Saved pass priors; fits written before the law discrepancy existed had none (0)."""
    return priors_of(tree, path, PassPriors, {"discrepancy_exponent_sd": 0.0})


def encode_pass(fit: PassFit) -> tuple[xr.Dataset, str, dict[str, Any]]:
    """The pass group of a pass-rate fit and its SHA-256 (no extra root attributes)."""
    return pass_dataset(fit), pass_hash(fit.data, fit.buckets), {}


def pass_saved_options(fit: PassFit, values: dict[str, Any], kept: dict[str, Any]) -> Any:
    """The ``PassOptions`` of the run that saved ``fit`` (``values``: what every law keeps)."""
    buckets = len(fit.buckets.labels) if fit.buckets is not None else 6
    return PassOptions(
        **values,
        priors=fit.priors,
        columns=fit.data.columns,
        k=kept.get("k"),
        n_buckets=buckets,
    )

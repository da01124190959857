"""The accuracy law's part of a saved fit: the ``bayescale_accuracy`` group (the whole table).

``encode_accuracy`` and ``decode_accuracy`` are the accuracy entry's ``encode``/``decode`` in
:mod:`bayescale.registry`; the file layout is in docs/formats.md. The group holds every row
(fitted and held out) and each benchmark's chance rate with where it came from; the pivot
(one ln C0 per family) is recomputed from the rows on load and checked against the stored
one, and the way the model was built (pooled, pivot, pooled levels, floor, axis) is a root
attribute. A table with parameters and tokens (the ``chinchilla`` axis) stores them too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayescale.accuracy import AccuracyFit
from bayescale.accuracy_data import AccuracyColumns, AccuracyData, AccuracyPriors, accuracy_pivots
from bayescale.accuracy_pipeline import AccuracyOptions
from bayescale.errors import InputError
from bayescale.saved_format import (
    attr_json,
    check_hash,
    fit_fields,
    only_known,
    priors_of,
    stream_fields,
)

ACCURACY_GROUP = "bayescale_accuracy"
#: Root attribute: how the model was built (``pooled``, ``pivot``, ``pool_levels``,
#: ``floor``, ``axis``; files without ``floor`` were fitted with the floor at chance, files
#: without ``axis`` on compute).
MODEL_ATTR = "accuracy_model"


def accuracy_hash(data: AccuracyData) -> str:
    """SHA-256 of the table: rows in order, held-out flags, chance rates and their sources.

    Parameters and tokens enter only when the table has them (earlier files stay valid).
    """
    h = hashlib.sha256()
    for values in (data.compute, data.accuracy, np.nan_to_num(data.n_questions, nan=-1.0)):
        h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    for sizes in (data.params, data.tokens):
        if sizes is not None:
            h.update(np.ascontiguousarray(np.nan_to_num(sizes, nan=-1.0), dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(data.held_out, dtype="u1").tobytes())
    for labels in (data.model, data.family, data.benchmark):
        h.update("\x1f".join(map(str, labels)).encode())
        h.update(b"\x1e")
    h.update(np.ascontiguousarray(data.chance, dtype="<f8").tobytes())
    for names in (data.chance_source, data.families, data.benchmarks):
        h.update("\x1f".join(names).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def encode_accuracy(fit: AccuracyFit) -> tuple[xr.Dataset, str, dict[str, Any]]:
    """The table group of an accuracy fit, its SHA-256 and the root attributes only it carries."""
    data = fit.data
    group = xr.Dataset(
        {
            "model": ("row", np.asarray(data.model, dtype=str)),
            "family": ("row", np.asarray(data.family, dtype=str)),
            "benchmark": ("row", np.asarray(data.benchmark, dtype=str)),
            "compute": ("row", data.compute),
            "accuracy": ("row", data.accuracy),
            "n_questions": ("row", data.n_questions),
            "held_out": ("row", data.held_out.astype(np.int8)),
            "chance": ("benchmark_label", data.chance),
            "chance_source": ("benchmark_label", np.asarray(data.chance_source, dtype=str)),
        },
        coords={"benchmark_label": list(data.benchmarks)},
        attrs={"families": json.dumps(list(data.families)), "source": data.source},
    )
    for name in ("params", "tokens"):
        if getattr(data, name) is not None:
            group[name] = ("row", getattr(data, name))
    extra = {
        "fit_max_compute": json.dumps(data.fit_max_compute),
        MODEL_ATTR: json.dumps(
            {
                "pooled": fit.pooled,
                "pivot": fit.pivot,
                "pool_levels": fit.pool_levels,
                "floor": fit.floor,
                "axis": fit.axis,
            }
        ),
    }
    return group, accuracy_hash(data), extra


#: Priors of fits saved before the law discrepancy had a shift: they forecast without one.
OLDER_PRIORS = {"discrepancy_exponent_shift": 0.0, "discrepancy_exponent_shift_chinchilla": 0.0}


def decode_accuracy(tree: xr.DataTree, path: Path) -> AccuracyFit:
    """An accuracy fit back from an opened ``fit.nc``: its table checked against its SHA-256."""
    ds = tree[ACCURACY_GROUP].to_dataset()

    def labels(name: str) -> np.ndarray:
        return np.asarray(ds[name].values.astype(str), dtype=object)

    data = AccuracyData(
        model=labels("model"),
        family=labels("family"),
        benchmark=labels("benchmark"),
        compute=np.asarray(ds["compute"].values, dtype=float),
        accuracy=np.asarray(ds["accuracy"].values, dtype=float),
        n_questions=np.asarray(ds["n_questions"].values, dtype=float),
        chance=np.asarray(ds["chance"].values, dtype=float),
        chance_source=tuple(str(s) for s in ds["chance_source"].values),
        families=tuple(json.loads(ds.attrs["families"])),
        benchmarks=tuple(str(b) for b in ds["benchmark_label"].values),
        held_out=np.asarray(ds["held_out"].values, dtype=bool),
        source=str(ds.attrs.get("source", path)),
        fit_max_compute=attr_json(tree, "fit_max_compute", path),
        params=np.asarray(ds["params"].values, dtype=float) if "params" in ds else None,
        tokens=np.asarray(ds["tokens"].values, dtype=float) if "tokens" in ds else None,
    )
    check_hash(tree, accuracy_hash(data), path)
    del tree[ACCURACY_GROUP]
    built = attr_json(tree, MODEL_ATTR, path)
    axis = str(built.get("axis", "compute"))
    pivot = accuracy_pivots(data, str(built["pivot"]), axis)
    stored = np.asarray(tree.attrs["log_pivot"], dtype=float).ravel()
    if stored.shape != pivot.shape or not np.allclose(stored, pivot, rtol=0, atol=1e-9):
        raise InputError(f"{path}: the stored pivot does not match the data; fit again.")
    return AccuracyFit(
        data=data,
        idata=tree,
        log_pivot=pivot,
        **fit_fields(tree, path, priors_of(tree, path, AccuracyPriors, OLDER_PRIORS)),
        pooled=bool(built["pooled"]),
        pivot=str(built["pivot"]),
        pool_levels=bool(built["pool_levels"]),
        floor=str(built.get("floor", "chance")),
        axis=axis,
        forecast_seed=stream_fields(tree)["forecast_seed"],
    )


def accuracy_saved_options(
    fit: AccuracyFit, values: dict[str, Any], kept: dict[str, Any]
) -> AccuracyOptions:
    """The :class:`AccuracyOptions` of the run that saved ``fit``.

    ``values`` is what every law keeps; ``kept`` adds the family, the columns and the
    planned models (``params`` and ``tokens`` lists; absent in older files).
    """
    data = fit.data
    chance: dict[str, float | None] = {
        b: float(g)
        for b, g, s in zip(data.benchmarks, data.chance, data.chance_source, strict=True)
        if s == "option"
    }
    chance |= {
        b: None for b, s in zip(data.benchmarks, data.chance_source, strict=True) if s == "learned"
    }
    columns = kept.get("columns")
    runs = tuple(
        (float(n), float(d))
        for n, d in zip(kept.get("params", ()), kept.get("tokens", ()), strict=True)
    )
    return AccuracyOptions(
        **values,
        runs=runs,
        family=kept.get("family"),
        chance=chance,
        priors=fit.priors,
        floor=fit.floor,
        columns=AccuracyColumns(**only_known(AccuracyColumns, columns))
        if columns
        else AccuracyColumns(),
    )

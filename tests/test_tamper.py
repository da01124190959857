"""Tamper-evident saved fits: every part that changes a forecast is hashed, a change is refused
with the part it hit, non-finite draws are refused, and older formats load as unverified."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.loss_saved import RUNS_GROUP
from bayescale.pass_saved import PASS_GROUP
from bayescale.saved import load_fit, read_fit, save_fit
from bayescale.saved_format import FORMAT_VERSION, INTEGRITY_ATTR, integrity_digests
from tests.helpers import edited_fit

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def saved_loss(tmp_path_factory) -> Path:
    """The 0.1.0 loss fit saved again in the current format."""
    fit, options = read_fit(DATA / "loss_fit_v0.1.0.nc")
    return save_fit(fit, tmp_path_factory.mktemp("fits") / "fit.nc", options)


@pytest.fixture(scope="module")
def saved_pass(tmp_path_factory) -> Path:
    fit, options = read_fit(DATA / "pass_fit_v0.1.0.nc")
    return save_fit(fit, tmp_path_factory.mktemp("fits") / "fit.nc", options)


def _group(tree: xr.DataTree, name: str, change) -> None:
    ds = tree[name].to_dataset(inherit=False)
    tree[name] = xr.DataTree(change(ds))


def test_current_format_records_digests_and_round_trips(saved_loss):
    tree = xr.open_datatree(saved_loss, engine="h5netcdf").load()
    assert int(tree.attrs["bayescale_format_version"]) == FORMAT_VERSION == 3
    recorded = json.loads(tree.attrs[INTEGRITY_ATTR])
    for part in ("group:posterior", "group:sample_stats", f"group:{RUNS_GROUP}", "attr:priors"):
        assert part in recorded
    assert recorded == integrity_digests(tree)
    load_fit(saved_loss)  # verifies


def _scale_level(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign(level=ds["level"] * 0.5)


@pytest.mark.parametrize(
    ("change", "part"),
    [
        # the attack: halving the level turned a NO-GO into a GO
        (lambda t: _group(t, "posterior", _scale_level), "group 'posterior' changed"),
        (
            lambda t: _group(t, "sample_stats", lambda ds: ds.assign(diverging=~ds["diverging"])),
            "group 'sample_stats' changed",
        ),
        # reordering the groups gives one group another's curve
        (
            lambda t: _group(
                t,
                RUNS_GROUP,
                lambda ds: ds.assign_attrs(groups=json.dumps(json.loads(ds.attrs["groups"])[::-1])),
            ),
            f"group '{RUNS_GROUP}' changed",
        ),
        # a discrepancy prior of 0 narrows every extrapolation
        (
            lambda t: t.attrs.update(
                priors=json.dumps(json.loads(t.attrs["priors"]) | {"discrepancy_exponent_sd": 0.5})
            ),
            "attribute 'priors' changed",
        ),
        (lambda t: t.attrs.update(log_pivot=float(t.attrs["log_pivot"]) + 0.1), "'log_pivot'"),
        (
            lambda t: t.attrs.update(
                sampler=json.dumps(json.loads(t.attrs["sampler"]) | {"seed": 12345})
            ),
            "attribute 'sampler' changed",
        ),
        (lambda t: t.attrs.update(options="{}"), "attribute 'options' changed"),
        (lambda t: t.attrs.pop("columns"), "attribute 'columns' removed"),
        (lambda t: t.attrs.update(extra="x"), "attribute 'extra' added"),
        (lambda t: t.__delitem__("observed_data"), "group 'observed_data' removed"),
    ],
    ids=[
        "posterior",
        "sample_stats",
        "groups-order",
        "priors",
        "pivot",
        "sampler",
        "options",
        "removed-attr",
        "added-attr",
        "removed-group",
    ],
)
def test_an_edited_loss_fit_is_refused_naming_the_part(saved_loss, tmp_path, change, part):
    edited = edited_fit(saved_loss, tmp_path / "edited.nc", change)
    with pytest.raises(InputError, match="does not match its recorded SHA-256") as err:
        load_fit(edited)
    assert part in str(err.value)


def test_an_edited_pass_fit_is_refused(saved_pass, tmp_path):
    def halve_theta(tree):
        _group(tree, "posterior", lambda ds: ds.assign(theta=ds["theta"] * 0.5))

    with pytest.raises(InputError, match="group 'posterior' changed"):
        load_fit(edited_fit(saved_pass, tmp_path / "theta.nc", halve_theta))

    def relabel(tree):
        _group(tree, PASS_GROUP, lambda ds: ds.assign_attrs(bucket_labels='["2", "1"]'))

    with pytest.raises(InputError, match=f"group '{PASS_GROUP}' changed"):
        load_fit(edited_fit(saved_pass, tmp_path / "labels.nc", relabel))


def test_non_finite_draws_are_refused_even_with_matching_digests(saved_loss, tmp_path):
    def nan_draw(tree):
        def poison(ds):
            level = ds["level"].copy()
            level[0, 0, 0] = np.nan
            return ds.assign(level=level)

        _group(tree, "posterior", poison)
        tree.attrs[INTEGRITY_ATTR] = json.dumps(integrity_digests(tree))  # a careful forger

    with pytest.raises(InputError, match=r"non-finite posterior draws in level \(1 draws\)"):
        load_fit(edited_fit(saved_loss, tmp_path / "nan.nc", nan_draw))


def test_missing_or_garbled_digests_are_refused(saved_loss, tmp_path):
    for value in (None, "not json", "[1, 2]"):

        def change(tree, value=value):
            if value is None:
                del tree.attrs[INTEGRITY_ATTR]
            else:
                tree.attrs[INTEGRITY_ATTR] = value

        with pytest.raises(InputError, match=f"lacks a valid '{INTEGRITY_ATTR}'"):
            load_fit(edited_fit(saved_loss, tmp_path / f"digests-{value}.nc", change))


@pytest.mark.parametrize("version", ["abc", "2.5", ""])
def test_a_format_version_that_is_not_a_number_is_refused(saved_loss, tmp_path, version):
    def change(tree):
        tree.attrs["bayescale_format_version"] = version

    path = edited_fit(saved_loss, tmp_path / "version.nc", change)
    with pytest.raises(InputError, match="is not a whole number"):
        load_fit(path)
    assert main(["forecast", str(path), "--target-compute", "1e23", "--quiet"]) == 2


def test_the_cli_refuses_a_tampered_fit_with_exit_2(saved_loss, tmp_path, capsys):
    edited = edited_fit(
        saved_loss, tmp_path / "e.nc", lambda t: _group(t, "posterior", _scale_level)
    )
    code = main(["forecast", str(edited), "--target-compute", "1e23", "--allow-unconverged"])
    err = capsys.readouterr().err
    assert code == 2
    assert "group 'posterior' changed" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["loss_fit_v0.1.0.nc", "pass_fit_v0.1.0.nc"])
def test_older_formats_load_with_an_unverified_warning(name, caplog):
    with caplog.at_level(logging.WARNING, logger="bayescale"):
        load_fit(DATA / name)
    assert "unverified" in caplog.text and "format 1" in caplog.text

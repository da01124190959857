"""Saved fits: round trip, compatibility with files written by older versions, refusal of
damaged or foreign files, and ``bayescale forecast`` reproducing a run exactly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bayescale import LossOptions
from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.loss_saved import RUNS_GROUP
from bayescale.pass_fit import PassFit
from bayescale.pass_pipeline import PassOptions, result_from_pass_fit
from bayescale.pipeline import result_from_fit
from bayescale.sampling import MAX_TREE_DEPTH
from bayescale.saved import load_fit, load_loss_fit, read_fit, save_fit, save_loss_fit

DATA = Path(__file__).parent / "data"
V010 = DATA / "loss_fit_v0.1.0.nc"


def _targets(fit, seed=None):
    if seed is not None:
        fit = replace(fit, settings=replace(fit.settings, seed=seed))
    options = LossOptions(targets=(1e23,), requirement="web.loss<=2.6")
    return result_from_fit(fit, options).document()["targets"]


def _close(a, b):
    if isinstance(a, dict):
        # keys added since (e.g. compute_needed lower/upper) may appear; old ones must agree
        return a.keys() >= b.keys() and all(_close(a[k], b[k]) for k in b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-9)
    return a == b


def test_file_from_version_0_1_0_loads_and_gives_its_numbers():
    fit, options = load_loss_fit(V010)
    assert fit.data.groups == ("web", "code")
    assert fit.data.held_out.sum() == 2
    assert options["requirement"] == "web.loss<=2.6"
    expected = json.loads((DATA / "loss_fit_v0.1.0.targets.json").read_text())
    assert _close(_targets(fit), expected)
    # written before warm-up started from a Laplace approximation: it started from the unit
    assert fit.settings.initial_mass == "unit"
    # and before warm-up trees were capped: numpyro's depth 10 throughout
    assert fit.settings.warmup_tree_depth == MAX_TREE_DEPTH


def test_round_trip_is_exact(tmp_path):
    fit, options = load_loss_fit(V010)
    path = save_loss_fit(fit, tmp_path / "fit.nc", options)
    again, again_options = load_loss_fit(path)
    assert again_options == options
    np.testing.assert_array_equal(again.draws("a"), fit.draws("a"))
    np.testing.assert_array_equal(again.data.compute, fit.data.compute)
    assert again.settings == fit.settings and again.priors == fit.priors
    assert _targets(again) == _targets(fit)
    assert _targets(again, seed=1) != _targets(again)


def test_a_fit_of_fewer_draws_than_the_minimum_loads_and_forecasts(tmp_path, capsys):
    # versions before MIN_DRAWS sampled 2 draws a chain when asked and saved the fit with
    # --allow-unconverged; loading it failed with "sampler setting 'draws' must be >= 4"
    fit, options = load_loss_fit(V010)
    posterior = fit.idata["posterior"].to_dataset().isel(draw=slice(0, 2))
    idata = fit.idata.copy()
    idata["posterior"] = xr.DataTree(posterior)
    settings = replace(fit.settings)
    object.__setattr__(settings, "draws", 2)  # what SamplerSettings refuses now
    path = save_loss_fit(replace(fit, idata=idata, settings=settings), tmp_path / "fit.nc", options)
    again, _ = load_loss_fit(path)
    assert again.settings.draws == 2 and again.idata["posterior"].sizes["draw"] == 2
    args = ["forecast", str(path), "--target-compute", "1e23", "--quiet"]
    assert main([*args, "--allow-unconverged", "--json", str(tmp_path / "f.json")]) == 0
    assert json.loads((tmp_path / "f.json").read_text())["targets"][0]["loss"]
    assert main(args) == 3  # an unconverged fit still is one
    assert "did not converge" in capsys.readouterr().err


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_loss_fit(tmp_path / "nope.nc")


def test_corrupted_file_is_refused(tmp_path):
    bad = tmp_path / "fit.nc"
    bad.write_bytes(V010.read_bytes()[:5000])
    with pytest.raises(InputError, match="cannot be read as NetCDF"):
        load_loss_fit(bad)


def test_foreign_netcdf_is_refused(tmp_path):
    path = tmp_path / "other.nc"
    xr.Dataset({"x": ("i", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(InputError, match="not a bayescale saved fit"):
        load_loss_fit(path)


def test_tampered_runs_are_refused(tmp_path):
    tree = xr.open_datatree(V010, engine="h5netcdf").load()
    runs = tree[RUNS_GROUP].to_dataset()
    runs["loss"] = runs["loss"] * 1.01
    tree[RUNS_GROUP] = xr.DataTree(runs)
    path = tmp_path / "fit.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(InputError, match="SHA-256"):
        load_loss_fit(path)


def test_newer_format_is_refused(tmp_path):
    tree = xr.open_datatree(V010, engine="h5netcdf").load()
    tree.attrs["bayescale_format_version"] = 99
    path = tmp_path / "fit.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(InputError, match="upgrade bayescale"):
        load_loss_fit(path)


def test_forecast_command_reproduces_and_refuses(tmp_path, capsys):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    args = ["forecast", str(V010), "--target-compute", "1e23", "--quiet"]
    # the fixture was sampled briefly and fails the gate: refused unless asked for
    assert main([*args, "--json", str(one)]) == 3
    assert "did not converge" in capsys.readouterr().err
    args.append("--allow-unconverged")
    assert main([*args, "--json", str(one)]) == 0
    assert main([*args, "--json", str(two), "--seed", "5"]) == 0  # the saved seed
    first, second = json.loads(one.read_text()), json.loads(two.read_text())
    assert first["targets"] == second["targets"]
    assert first["targets"][0]["decision"]["requirement"] == "web.loss<=2.6"
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"not a netcdf file")
    assert main(["forecast", str(bad), "--target-compute", "1e23"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read as NetCDF" in err and "Traceback" not in err
    assert "loss|pass|nd|accuracy" in err  # every law writes a fit.nc


@pytest.mark.parametrize("fixture", ["loss_fit_v0.1.0.nc", "pass_fit_v0.1.0.nc"])
@pytest.mark.parametrize(
    "given", [["--target", "7e10:1.4e12"], ["--budget", "1e23"]], ids=["target", "budget"]
)
def test_forecast_refuses_nd_targets_on_a_compute_fit(tmp_path, capsys, fixture, given):
    # they were ignored without a word next to --target-compute (exit 0)
    out = tmp_path / "out.json"
    args = ["forecast", str(DATA / fixture), "--target-compute", "1e23", *given, "--quiet"]
    assert main([*args, "--json", str(out)]) == 2  # before the convergence gate (exit 3)
    err = capsys.readouterr().err
    assert f"{given[0]}" in err and "is for L(N, D) fits" in err and "--target-compute" in err
    assert not out.exists()


PASS_V010 = DATA / "pass_fit_v0.1.0.nc"


def test_pass_fit_from_version_0_1_0_loads_and_gives_its_numbers():
    fit, options = read_fit(PASS_V010)
    assert isinstance(fit, PassFit)
    assert fit.buckets.labels == ("1", "2")
    assert fit.data.models.held_out.sum() == 1
    assert options["k"] == 10
    opts = PassOptions(targets=(1e23,), requirement="pass_rate>=0.3", k=10)
    expected = json.loads((DATA / "pass_fit_v0.1.0.targets.json").read_text())
    assert _close(result_from_pass_fit(fit, opts).document()["targets"], expected)


def test_pass_fit_round_trip(tmp_path):
    fit, options = read_fit(PASS_V010)
    again, again_options = read_fit(save_fit(fit, tmp_path / "fit.nc", options))
    assert again_options == options
    np.testing.assert_array_equal(again.data.k, fit.data.k)
    np.testing.assert_array_equal(again.buckets.index, fit.buckets.index)
    np.testing.assert_array_equal(again.draws("theta"), fit.draws("theta"))
    assert again.buckets.rank_correlation.equals(fit.buckets.rank_correlation)


def test_pass_fit_is_not_a_loss_fit():
    with pytest.raises(InputError, match="pass-rate fit, not a loss fit"):
        load_loss_fit(PASS_V010)


def test_forecast_command_on_a_pass_fit(tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    args = ["forecast", str(PASS_V010), "--target-compute", "1e23", "--quiet"]
    args.append("--allow-unconverged")  # the fixture was sampled briefly
    assert main([*args, "--json", str(one)]) == 0
    assert main([*args, "--json", str(two), "--require", "pass_rate>=0.9"]) == 0
    first, second = json.loads(one.read_text()), json.loads(two.read_text())
    assert first["kind"] == "pass" and "pass_at_10" in first["targets"][0]
    p_loose = first["targets"][0]["decision"]["probability"]
    p_tight = second["targets"][0]["decision"]["probability"]
    assert p_tight <= p_loose


def test_tampered_buckets_and_pivot_are_refused(tmp_path):
    """Format 2 hashes the buckets too; the pivot is recomputed from the data and checked."""
    fit, options = read_fit(PASS_V010)
    path = save_fit(fit, tmp_path / "fit.nc", options)
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    assert tree.attrs["bayescale_format_version"] == 3
    ds = tree["bayescale_pass"].to_dataset()
    ds["bucket_index"] = ds["bucket_index"][::-1]
    tree["bayescale_pass"] = xr.DataTree(ds)
    tree.to_netcdf(tmp_path / "buckets.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="SHA-256"):
        read_fit(tmp_path / "buckets.nc")
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    tree.attrs["log_pivot"] = float(tree.attrs["log_pivot"]) + 0.5
    tree.to_netcdf(tmp_path / "pivot.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="pivot"):
        read_fit(tmp_path / "pivot.nc")


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--target-compute", "0"], "target compute must be a positive"),
        (["--target-compute", "1e23", "--require", "nope.loss<=2"], "no group 'nope'"),
        (["--target-compute", "1e10"], "a backcast, not a forecast"),
    ],
)
def test_forecast_of_an_unconverged_fit_refuses_bad_options_first(capsys, option, fragment):
    # a bad option on an unconverged saved fit exited 3 ("did not converge"); the user fixed
    # the fit and only then learned the option was wrong. Bad input is exit 2 first.
    assert main(["forecast", str(V010), *option, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "did not converge" not in err


def test_loading_a_result_folder_names_its_fit_file(tmp_path):
    # load_fit("out") on an --out folder said only "not a regular file"
    import shutil

    import bayescale as bs

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match="not a regular file"):
        bs.load_fit(out)  # an empty folder: no fit to point at
    shutil.copy(DATA / "loss_fit_v0.1.0.nc", out / "fit.nc")
    with pytest.raises(InputError, match=r"is a folder\. Its saved fit is .*out/fit\.nc"):
        bs.load_fit(out)


@pytest.mark.parametrize(
    ("targets", "message"),
    [("abc", "must be numbers of FLOPs"), (np.array([[1e22, 1e23]]), "array of shape \\(1, 2\\)")],
)
def test_saved_result_refuses_targets_that_are_not_a_list_of_numbers(targets, message):
    # 'abc' raised a bare ValueError from NumPy, a 2-d array a TypeError from a format string
    saved = load_fit(Path(__file__).parent / "data" / "loss_fit_v0.1.0.nc")
    with pytest.raises(InputError, match=message):
        saved.result(targets=targets)

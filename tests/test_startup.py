"""Tier 1-2: what each command imports. ``bayescale forecast`` from a saved fit samples
nothing, so it loads neither the sampler stack (PyMC, PyTensor, numpyro, JAX) nor ArviZ, nor
the modules of laws other than the file's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bayescale.cli import main
from bayescale.saved import read_fit, save_fit
from bayescale.saved_format import DIAGNOSTICS_ATTR

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"

#: Modules a forecast from a saved fit must not load (jax and numpyro may sit in sys.modules
#: as lazy stubs that arviz_base registers; these submodules are only there once imported).
HEAVY = (
    "pymc",
    "pytensor",
    "numpyro.infer",
    "jax._src",
    "arviz_stats",
    "scipy.stats",
    "scipy.special",
)

RUN_CLI = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print("MODULES", json.dumps([m for m in heavy if m in sys.modules])))
from bayescale.cli import main
sys.exit(main(sys.argv[1:]))
"""


#: The other laws' modules, which a saved fit's forecast does not load (the registry imports
#: only the law of the file).
OTHER_LAWS = {
    "loss_fit_v0.1.0.nc": (
        "bayescale.pass_pipeline",
        "bayescale.pass_saved",
        "bayescale.pass_report",
        "bayescale.pass_fit",
        "bayescale.pass_forecast",
        "bayescale.pass_data",
        "bayescale.buckets",
    ),
    "pass_fit_v0.1.0.nc": ("bayescale.pipeline", "bayescale.loss_saved"),
}
EVERY_OTHER_LAW = (
    "bayescale.nd",
    "bayescale.nd_pipeline",
    "bayescale.nd_report",
    "bayescale.nd_saved",
    "bayescale.accuracy",
    "bayescale.accuracy_forecast",
    "bayescale.accuracy_pipeline",
    "bayescale.accuracy_report",
    "bayescale.accuracy_saved",
)


def _cli_in_new_process(*args: str, heavy: tuple[str, ...] = HEAVY) -> tuple[int, list[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "BAYESCALE_FLOAT32"}
    out = subprocess.run(
        [sys.executable, "-c", RUN_CLI.format(heavy=heavy), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("MODULES ")][-1]
    return out.returncode, json.loads(line.removeprefix("MODULES ")), out.stdout


@pytest.mark.parametrize("saved", ["loss_fit_v0.1.0.nc", "pass_fit_v0.1.0.nc"])
def test_forecast_from_a_saved_fit_loads_no_sampler_and_gives_the_same_numbers(tmp_path, saved):
    fit, options = read_fit(DATA / saved)
    path = save_fit(fit, tmp_path / "fit.nc", options)  # this version keeps the diagnostics
    again, _ = read_fit(path)
    assert again.diagnostics == fit.diagnostics
    args = ["forecast", str(path), "--target-compute", "1e23", "--allow-unconverged", "--quiet"]
    assert main([*args, "--json", str(tmp_path / "here.json")]) == 0
    heavy = (*HEAVY, *OTHER_LAWS[saved], *EVERY_OTHER_LAW)
    code, loaded, _ = _cli_in_new_process(
        *args, "--json", str(tmp_path / "there.json"), heavy=heavy
    )
    assert code == 0
    assert loaded == []
    here = json.loads((tmp_path / "here.json").read_text())
    there = json.loads((tmp_path / "there.json").read_text())
    assert here["targets"] == there["targets"] and here["diagnostics"] == there["diagnostics"]


def test_a_fit_saved_without_diagnostics_has_them_computed_on_load(tmp_path):
    import xarray as xr

    old = DATA / "loss_fit_v0.1.0.nc"  # format 1: saved without them
    assert DIAGNOSTICS_ATTR not in xr.open_datatree(old, engine="h5netcdf").attrs
    fit, options = read_fit(old)
    path = save_fit(fit, tmp_path / "fit.nc", options)
    assert DIAGNOSTICS_ATTR in xr.open_datatree(path, engine="h5netcdf").attrs
    assert read_fit(path)[0].diagnostics == fit.diagnostics  # computed on load, then kept


def test_help_loads_no_sampler_and_no_arviz():
    code, loaded, out = _cli_in_new_process("--help")
    assert code == 0 and "forecast" in out
    assert loaded == []


LAZY_LAWS = """
import sys
from bayescale.registry import BUILTIN, get_law, laws
loaded = lambda: [m for m in ("bayescale.pipeline", "bayescale.pass_pipeline", "bayescale.nd",
                              "bayescale.accuracy") if m in sys.modules]
get_law("loss")
print(loaded())
assert list(laws()) == list(BUILTIN)
print(loaded())
"""


def test_the_registry_imports_a_law_on_its_first_lookup_and_no_other():
    out = subprocess.run(
        [sys.executable, "-c", LAZY_LAWS], cwd=ROOT, capture_output=True, text=True, check=True
    )
    first, every = out.stdout.splitlines()
    assert first == "['bayescale.pipeline']"
    assert every == str(
        ["bayescale.pipeline", "bayescale.pass_pipeline", "bayescale.nd", "bayescale.accuracy"]
    )


def test_a_law_registered_under_a_built_in_name_before_its_lookup_is_kept():
    from bayescale import registry

    stub = replace(registry.get_law("loss"), formula="stub")
    registry.unregister("loss")
    try:
        registry.register(stub)
        assert registry.get_law("loss") is stub and registry.laws()["loss"] is stub
        assert next(iter(registry.laws())) == "loss"
    finally:
        registry.unregister("loss")
    assert registry.get_law("loss").formula == "L(C) = a*C^b + c"


def test_the_command_collects_less_often_and_freezes_its_objects_before_exit(monkeypatch):
    """``run`` (the command): fewer collections, and none of its objects at its exit."""
    import gc

    from bayescale import cli

    calls = []
    monkeypatch.setattr(cli, "main", lambda: calls.append("main") or 3)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(t))
    assert cli.run() == 3
    assert calls == [cli.COMMAND_GC_THRESHOLDS, "main", "freeze"]


def test_the_command_in_a_new_process_writes_everything_before_it_exits(tmp_path):
    import gc

    fit, options = read_fit(DATA / "loss_fit_v0.1.0.nc")
    path = save_fit(fit, tmp_path / "fit.nc", options)
    args = ["forecast", str(path), "--target-compute", "1e23", "--allow-unconverged"]
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    assert main([*args, "--quiet", "--json", str(tmp_path / "here.json")]) == 0
    # main from Python: the collector untouched
    assert gc.get_freeze_count() == frozen and gc.get_threshold() == thresholds
    env = {k: v for k, v in os.environ.items() if k != "BAYESCALE_FLOAT32"}
    out = subprocess.run(
        [sys.executable, "-m", "bayescale.cli", *args, "--json", str(tmp_path / "there.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "from the saved fit, nothing sampled" in out.stdout
    here = json.loads((tmp_path / "here.json").read_text())
    there = json.loads((tmp_path / "there.json").read_text())
    assert here["targets"] == there["targets"]

"""Tier 1-3: bayescale is a guest in the user's process; only configure() changes settings.

Each check runs in a fresh Python process, where nothing but the code under test has touched
JAX, XLA or PyTensor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bayescale import sampling
from bayescale.config import Configuration, configure
from bayescale.errors import InputError

ROOT = Path(__file__).resolve().parents[1]

#: What a user's process looks like: its settings, and whether its own programs were retraced.
SNAPSHOT = """
import json, os
def snapshot():
    import jax, pytensor
    return {
        "jax": {k: repr(v) for k, v in sorted(jax.config.values.items())},
        "XLA_FLAGS": os.environ.get("XLA_FLAGS"),
        "PYTENSOR_FLAGS": os.environ.get("PYTENSOR_FLAGS"),
        "JAX_env": sorted(k for k in os.environ if k.startswith("JAX_")),
        "pytensor": {k: repr(getattr(pytensor.config, k))
                     for k in pytensor.config._config_var_dict},
    }
"""


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a new process; it prints one JSON object as its last line."""
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PYTENSOR_FLAGS")}
    environment = {k: v for k, v in environment.items() if not k.startswith("JAX_")}
    environment.update(env)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_pymcs_jax_module_through_bayescale_leaves_xla_and_x64_alone():
    """pymc.sampling.jax asks XLA for 100 CPU devices, PyTensor switches on 64-bit JAX."""
    result = run_python(
        """
        import json, os
        import jax
        from bayescale.config import import_pymc_jax
        import_pymc_jax()
        print(json.dumps({"flags": os.environ.get("XLA_FLAGS"), "devices": jax.device_count(),
                          "x64": jax.config.jax_enable_x64}))
        """
    )
    assert result == {"flags": None, "devices": 1, "x64": False}


def test_import_and_a_mocked_fit_change_no_process_setting():
    result = run_python(
        SNAPSHOT
        + """
import jax, pytensor
from pymc.testing import mock_sample_setup_and_teardown
before = snapshot()
import bayescale
import bayescale.sampling
after_import = snapshot()
bayescale.sampling.run_numpyro = bayescale.sampling.run_pm_sample
bayescale.sampling.laplace_inverse_mass = lambda model, dense: None
mock = mock_sample_setup_and_teardown()
next(mock)
runs = bayescale.load_loss_runs(bayescale.demo_loss_runs())
bayescale.fit_loss(runs, settings=bayescale.SamplerSettings(draws=10, tune=10, progress=False),
                   allow_unconverged=True)
print(json.dumps({"import": after_import == before, "fit": snapshot() == before}))
"""
    )
    assert result == {"import": True, "fit": True}


@pytest.mark.sampling
def test_a_real_fit_changes_no_process_setting_and_keeps_the_users_programs():
    result = run_python(
        SNAPSHOT
        + """
# the libraries bayescale samples with, imported first: their own import-time changes (PyMC
# sets PyTensor's gcc.cxxflags; numpyro adds options to JAX's trace context, so every jitted
# function is traced once more) come with them in any program
import jax, numpy as np, numpyro, pymc, pytensor
traces = []
@jax.jit
def users_jit(x):
    traces.append("jit")
    return x * 3.0
def users_function(x):
    traces.append("pmap")
    return x + 1.0
users_pmap = jax.pmap(users_function)
users_jit(1.0), users_pmap(np.ones(1))
before = snapshot()
import bayescale
runs = bayescale.load_loss_runs(bayescale.demo_loss_runs())
settings = bayescale.SamplerSettings(draws=20, tune=20, chains=2, progress=False)
fit = bayescale.fit_loss(runs, settings=settings, allow_unconverged=True)
users_jit(2.0), users_pmap(np.ones(1))
print(json.dumps({"same": snapshot() == before, "traces": traces,
                  "draws": int(fit.idata["posterior"].sizes["draw"]),
                  "dtype": str(fit.idata["posterior"]["sigma"].dtype)}))
"""
    )
    assert result.pop("draws") >= 20  # the convergence ladder may have drawn more
    assert result == {"same": True, "traces": ["jit", "pmap"], "dtype": "float64"}


def test_configure_sets_devices_cache_and_float32_before_jax_starts(tmp_path):
    result = run_python(
        f"""
        import json, os
        import bayescale
        done = bayescale.configure(devices=3, compilation_cache={str(tmp_path / "jax")!r},
                                   float32=True)
        import jax, pytensor
        print(json.dumps({{"devices": jax.local_device_count(), "done": repr(done),
                          "cache": jax.config.jax_compilation_cache_dir,
                          "min_time": jax.config.jax_persistent_cache_min_compile_time_secs,
                          "max_size": jax.config.jax_compilation_cache_max_size,
                          "floatX": pytensor.config.floatX}}))
        """
    )
    folder = str(tmp_path / "jax")
    assert result == {
        "devices": 3,
        "done": repr(Configuration(devices=3, compilation_cache=folder, float_width="float32")),
        "cache": folder,
        "min_time": 0.0,
        "max_size": 512 * 2**20,
        "floatX": "float32",
    }
    assert (tmp_path / "jax").is_dir()


def test_configure_on_a_running_jax_sets_it_directly_and_refuses_another_device_count(tmp_path):
    result = run_python(
        f"""
        import json
        import jax, jax.numpy as jnp
        import bayescale
        jnp.ones(1).block_until_ready()  # the backend starts with one CPU device
        same = bayescale.configure(devices=1, compilation_cache={str(tmp_path)!r})
        try:
            bayescale.configure(devices=4)
            refused = ""
        except RuntimeError as error:
            refused = str(error)
        print(json.dumps({{"cache": jax.config.jax_compilation_cache_dir,
                          "devices": same.devices, "refused": refused}}))
        """
    )
    assert result["cache"] == str(tmp_path) and result["devices"] == 1
    assert "JAX already runs with 1 CPU devices" in result["refused"]
    assert "before any JAX computation" in result["refused"]


@pytest.mark.parametrize("devices", [0, -2, 2.0, True])
def test_configure_refuses_a_device_count_that_is_not_a_positive_integer(devices):
    with pytest.raises(InputError, match="'devices' must be a positive integer"):
        configure(devices=devices)


def test_the_command_configures_its_process_from_the_environment(tmp_path):
    """What the bayescale command sets up: a device per chain or core, cache, float32."""
    result = run_python(
        """
        import argparse, json, os
        from bayescale import cli
        cli._configure_process(argparse.Namespace(chains=6))
        import jax, pytensor
        print(json.dumps({"devices": jax.local_device_count(),
                          "cache": jax.config.jax_compilation_cache_dir,
                          "floatX": pytensor.config.floatX}))
        """,
        BAYESCALE_JAX_CACHE=str(tmp_path / "cache"),
        BAYESCALE_FLOAT32="1",
    )
    assert result == {
        "devices": max(6, os.cpu_count() or 1),
        "cache": str(tmp_path / "cache"),
        "floatX": "float32",
    }


def test_the_float32_variable_alone_changes_nothing_for_a_library_user():
    result = run_python(
        """
        import json, os
        import bayescale, bayescale.sampling, pytensor
        print(json.dumps({"floatX": pytensor.config.floatX,
                          "flags": os.environ.get("PYTENSOR_FLAGS")}))
        """,
        BAYESCALE_FLOAT32="1",
    )
    assert result == {"floatX": "float64", "flags": None}


def test_pmap_programs_made_in_a_fit_are_released_and_the_users_are_kept():
    import jax

    traces = []

    def users(x):
        traces.append("user")
        return x * 2.0

    def ours(x):
        traces.append("ours")
        return x + 1.0

    users_pmap, ours_pmap = jax.pmap(users), jax.pmap(ours)
    users_pmap(np.ones(1))
    with sampling.pmap_programs_released():
        ours_pmap(np.ones(1))
        ours_pmap(np.ones(1))  # compiled once inside the block
    users_pmap(np.ones(1))
    assert traces == ["user", "ours"]
    ours_pmap(np.ones(1))  # its programs were dropped: traced again
    assert traces == ["user", "ours", "ours"]


def test_release_pmapped_drops_only_the_named_functions():
    import jax

    traces = []

    def kept(x):
        traces.append("kept")
        return x

    def dropped(x):
        traces.append("dropped")
        return x

    kept_pmap, dropped_pmap = jax.pmap(kept), jax.pmap(dropped)
    kept_pmap(np.ones(1)), dropped_pmap(np.ones(1))
    sampling.release_pmapped([dropped])
    kept_pmap(np.ones(1)), dropped_pmap(np.ones(1))
    assert traces == ["kept", "dropped", "dropped"]


def test_the_calibration_figure_leaves_the_users_matplotlib_backend():
    """Figures of the backtests are made without pyplot and without choosing a backend."""
    import matplotlib
    import pandas as pd

    from bayescale.backtest_report import calibration_figure

    before = matplotlib.get_backend()
    matplotlib.use("pdf")
    try:
        cases = pd.DataFrame({"pit": np.linspace(0.05, 0.95, 10)})
        fig = calibration_figure({"loss": {"bayescale": cases}})
        assert fig.canvas.manager is None
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)

"""Helpers shared by test modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """Path of a folder of ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (it lives beside the repository)")
    return path


def fake_fit_fields(chains: int, draws: int, diagnostics: Any = None) -> dict[str, Any]:
    """Sampler settings (seed 3), diagnostics that pass the gate, and timing of a fake fit."""
    from bayescale.diagnostics import Diagnostics
    from bayescale.sampling import SamplerSettings

    ok = Diagnostics(1.0, 400.0, 400.0, 0, "level", 100.0, chains, draws)
    return {
        "settings": SamplerSettings(seed=3, draws=draws, chains=chains),
        "diagnostics": diagnostics or ok,
        "timing_s": {"sampling": 1.0},
    }


def passing_diagnostics(**changes: Any) -> Any:
    """Diagnostics of 4 chains x 1000 draws that pass the gate, with ``changes``."""
    from bayescale.diagnostics import Diagnostics

    values: dict[str, Any] = {"r_hat_max": 1.001, "ess_bulk_min": 900.0, "ess_tail_min": 900.0}
    values |= {"divergences": 0, "worst": "level", "ess_threshold": 400.0, "chains": 4}
    return Diagnostics(**{**values, "draws": 1000, "worst_ess": "sigma", **changes})


def scripted_sampler(monkeypatch: pytest.MonkeyPatch, outcomes: list[dict[str, Any]]) -> None:
    """Sampling that returns a tiny posterior, diagnosed as each of ``outcomes`` in turn.

    Each outcome is a change of :func:`passing_diagnostics` (``{"divergences": 3}``), one per
    step of the convergence ladder; the chains are not kept (no more-draws step).
    """
    import numpy as np
    from arviz_base import from_dict

    import bayescale.ladder
    import bayescale.sampling

    steps = iter(outcomes)
    idata = from_dict({"posterior": {"sigma": np.ones((2, 5))}})
    monkeypatch.setattr(
        bayescale.sampling, "sample_chains", lambda model, settings, start=None: (idata, 0, None)
    )
    # the model may be a stand-in too: no draws kept, no memory to check
    monkeypatch.setattr(
        bayescale.sampling, "check_memory", lambda model, settings, added=0, what="": None
    )
    monkeypatch.setattr(
        bayescale.ladder,
        "diagnose",
        lambda idata, ess_chains=None: passing_diagnostics(**next(steps)),
    )


def compiles(run: Any) -> int:
    """How many XLA compilations (or persistent-cache loads) ``run()`` asks for."""
    from jax import monitoring

    count = []

    def listen(event: str, seconds: float, **kwargs: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            count.append(seconds)

    monitoring.register_event_duration_secs_listener(listen)
    try:
        run()
    finally:
        monitoring.unregister_event_duration_listener(listen)
    return len(count)


def child_json(script: str, *args: str) -> Any:
    """Run ``python -c script ARGS`` from the repository in a new process; its last line as JSON.

    For checks that need a fresh process (what a new ``bayescale`` command finds in the
    persistent compilation cache).
    """
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def log_marginal_over_scatter(y, mean, priors) -> float:
    """ln ∫ N(y | mean, sigma²) InvGamma(sigma² | priors) d sigma², by quadrature.

    The reference for the models' integrated-scatter likelihood (bayescale.scatter).
    """
    import numpy as np
    from scipy import integrate, stats

    from bayescale.priors import scatter_scale

    prior = stats.invgamma(priors.scatter_shape, scale=scatter_scale(priors))

    def joint(log_variance: float) -> float:  # over ln sigma^2, so the integrand is smooth
        variance = np.exp(log_variance)
        density = stats.norm(mean, np.sqrt(variance)).logpdf(y).sum() + prior.logpdf(variance)
        return float(np.exp(density) * variance)

    area, _ = integrate.quad(joint, -40.0, 5.0, limit=500, epsrel=1e-10)
    return float(np.log(area))


def fake_loss_fit(data: Any, posterior: dict[str, Any], priors: Any = None) -> Any:
    """A ``LossFit`` of ``data`` whose posterior is ``posterior`` (``(chain, draw[, group])``).

    ``level``, ``reducible`` and ``exponent`` by group, ``sigma`` by draw; the pivot is the
    fitted runs' mean log compute; gate-passing diagnostics (:func:`fake_fit_fields`).
    """
    import numpy as np
    from arviz_base import from_dict

    from bayescale.loss_fit import LossFit
    from bayescale.priors import LossPriors

    idata = from_dict(
        {"posterior": posterior},
        dims={name: ["group"] for name in ("level", "reducible", "exponent")},
        coords={"group": list(data.groups)},
    )
    chains, draws = np.shape(posterior["sigma"])
    return LossFit(
        data=data,
        idata=idata,
        log_pivot=float(np.mean(np.log(data.compute[data.fitted]))),
        priors=priors or LossPriors(),
        **fake_fit_fields(chains, draws),
    )


def edited_fit(source: Path, target: Path, change: Any) -> Path:
    """``source`` (a saved fit) with ``change(tree)`` applied, written to ``target`` by hand."""
    import xarray as xr

    tree = xr.open_datatree(source, engine="h5netcdf").load()
    change(tree)
    tree.to_netcdf(target, engine="h5netcdf")
    return target

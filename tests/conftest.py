"""Shared fixtures: the demo table, the mocked sampler, and the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import bayescale
from bayescale.simulate import demo_loss_runs

# the test process is a program using bayescale: it asks for what the bayescale command asks
# for (a JAX CPU device per chain, the persistent compilation cache), before JAX starts
bayescale.configure(devices=max(4, os.cpu_count() or 1), compilation_cache=True)


@pytest.fixture
def demo_runs() -> pd.DataFrame:
    return demo_loss_runs()


@pytest.fixture
def demo_csv(tmp_path: Path, demo_runs: pd.DataFrame) -> Path:
    path = tmp_path / "runs.csv"
    demo_runs.to_csv(path, index=False)
    return path


@pytest.fixture
def mock_pymc_sample(monkeypatch):
    """Replace pm.sample by prior draws (tier 2 of STYLE.md: the pipeline without MCMC).

    The seam calls ``pm.sample`` instead of PyMC's numpyro sampler directly, without the
    Laplace starting mass matrix (it would compile the model with JAX), and batched fits run
    their datasets one by one through it. Prior draws never pass the gate, so the convergence
    ladder stops after the first fit (tests/test_ladder.py runs it on a scripted sampler).
    """
    from pymc.testing import mock_sample_setup_and_teardown

    import bayescale.batch
    import bayescale.ladder
    import bayescale.sampling

    monkeypatch.setattr(bayescale.ladder, "LADDER_MAX_STEPS", 0)
    monkeypatch.setattr(bayescale.sampling, "run_numpyro", bayescale.sampling.run_pm_sample)
    monkeypatch.setattr(bayescale.sampling, "laplace_inverse_mass", lambda model, dense: None)
    monkeypatch.setattr(bayescale.batch, "sample_batched", bayescale.sampling.sample_sequential)
    yield from mock_sample_setup_and_teardown()

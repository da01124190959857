"""Sampler programs stored with ``jax.export``: read back untraced, the same draws, damage healed.

A new process is stood in for by forgetting this process's templates (``batch._jaxified``);
the lanes program must then come from the stored file, which the tests make sure of by making
any new trace of it fail.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import bayescale.batch as batch
import bayescale.stored_programs as stored
from bayescale.loss_model import build_loss_model, shape_class_runs
from tests.test_shape_classes import SHORT, _table


@pytest.fixture
def programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of stored programs of this test's own, and no templates kept from before."""
    folder = tmp_path / "programs"
    monkeypatch.setattr(stored, "programs_dir", lambda: folder)
    monkeypatch.setattr(batch, "_jaxified", [])
    return folder


def _model(seed: int = 1):
    data = _table(5, seed=seed)
    return build_loss_model(data, pad_runs=shape_class_runs(data))


def _untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the templates, and fail if the lanes program is traced again."""

    def traced(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lanes program was traced again, not read back")

    monkeypatch.setattr(batch, "_jaxified", [])
    monkeypatch.setattr(batch, "_lanes_program", traced)


def _draws(tree) -> dict[str, np.ndarray]:
    return {name: tree["posterior"][name].values for name in ("a", "b", "c", "slope_group")}


def test_a_stored_program_is_read_back_untraced_and_draws_the_same(programs, monkeypatch):
    """First run: traced, exported, written. Second (a 'new process'): read, same draws."""
    first, chains = batch.sample_one(_model(), SHORT)
    longer, _ = batch.more_draws_one(chains, 10)
    written = sorted(p.name.split("-")[0] for p in programs.iterdir())
    assert written == ["lanes", "more"]

    _untraced(monkeypatch)
    again, chains_again = batch.sample_one(_model(), SHORT)
    longer_again, _ = batch.more_draws_one(chains_again, 10)
    for name, values in _draws(first).items():
        np.testing.assert_array_equal(_draws(again)[name], values)
    for name, values in _draws(longer).items():
        np.testing.assert_array_equal(_draws(longer_again)[name], values)
    assert longer_again["posterior"].sizes["draw"] == SHORT.draws + 10
    np.testing.assert_array_equal(chains_again.inverse_mass, chains.inverse_mass)


def test_another_table_of_the_class_reads_the_same_program(programs, monkeypatch):
    """Other values, same shapes and template: no new file, no new trace."""
    batch.sample_one(_model(seed=1), SHORT)
    files = sorted(programs.iterdir())
    _untraced(monkeypatch)
    tree, _ = batch.sample_one(_model(seed=2), SHORT)
    assert sorted(programs.iterdir()) == files
    assert np.isfinite(tree["posterior"]["a"].values).all()


def test_other_settings_store_another_program(programs):
    batch.sample_one(_model(), SHORT)
    batch.sample_one(_model(), replace(SHORT, draws=SHORT.draws + 5))
    assert len(list(programs.glob("lanes-*"))) == 2


def test_a_damaged_program_is_exported_again(programs, monkeypatch, caplog):
    first, _ = batch.sample_one(_model(), SHORT)
    (path,) = programs.glob("lanes-*")
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    monkeypatch.setattr(batch, "_jaxified", [])
    with caplog.at_level(logging.INFO, logger="bayescale.stored_programs"):
        again, _ = batch.sample_one(_model(), SHORT)
    assert "damaged" in caplog.text
    assert stored._read(path) is not None  # written again, whole
    np.testing.assert_array_equal(_draws(again)["a"], _draws(first)["a"])


def test_the_fingerprint_sees_constants_and_structure():
    """Two log densities that differ only in a constant array are different programs."""
    import jax.numpy as jnp

    x = np.ones(3)
    one, two = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])
    assert stored.jaxpr_fingerprint(lambda v: jnp.sum(v * one), x) == stored.jaxpr_fingerprint(
        lambda v: jnp.sum(v * one.copy()), x
    )
    assert stored.jaxpr_fingerprint(lambda v: jnp.sum(v * one), x) != stored.jaxpr_fingerprint(
        lambda v: jnp.sum(v * two), x
    )
    assert stored.jaxpr_fingerprint(lambda v: jnp.sum(v * one), x) != stored.jaxpr_fingerprint(
        lambda v: jnp.sum(v + one), x
    )


def test_programs_are_kept_only_beside_a_compilation_cache(tmp_path):
    import jax

    before = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))
        assert stored.programs_dir() == tmp_path / stored.PROGRAMS_FOLDER
        jax.config.update("jax_compilation_cache_dir", None)
        assert stored.programs_dir() is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_the_least_recently_used_programs_are_evicted(tmp_path):
    import os

    for i in range(5):
        path = tmp_path / f"lanes-{i}.jaxexport"
        path.write_bytes(b"x")
        os.utime(path, (1000 + i, 1000 + i))
    os.utime(tmp_path / "lanes-0.jaxexport")  # read just now
    stored._evict(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lanes-0.jaxexport",
        "lanes-3.jaxexport",
        "lanes-4.jaxexport",
    ]

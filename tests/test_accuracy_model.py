"""The accuracy model's ladders at chance: found from the data, and kept out of the pooling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.accuracy import simulate_accuracy_table
from bayescale.accuracy_data import AccuracyPriors, load_accuracy_table


@pytest.fixture
def at_chance() -> pd.DataFrame:
    """The demo table with gamma's MMLU ladder at chance (within 0.02 of 0.25)."""
    table = simulate_accuracy_table(seed=3)
    rows = (table["benchmark"] == "mmlu") & (table["family"] == "gamma")
    table.loc[rows, "accuracy"] = [0.24, 0.255, 0.262]
    return table


def test_ladders_at_chance_are_those_within_noise_of_chance(at_chance):
    from bayescale.accuracy_model import accuracy_inputs, ladders_at_chance

    data = load_accuracy_table(at_chance)
    priors = AccuracyPriors()
    mask = ladders_at_chance(data, accuracy_inputs(data, priors), priors)
    assert mask.shape == (3, 3)
    families, benchmarks = np.nonzero(mask)
    assert [
        (data.families[f], data.benchmarks[b]) for f, b in zip(families, benchmarks, strict=True)
    ] == [("gamma", "mmlu")]
    # one row clear of the noise takes the ladder off the floor
    rows = (at_chance["benchmark"] == "mmlu") & (at_chance["family"] == "gamma")
    at_chance.loc[rows, "accuracy"] = [0.24, 0.255, 0.30]
    data = load_accuracy_table(at_chance)
    assert not ladders_at_chance(data, accuracy_inputs(data, priors), priors).any()


def _exponent_at(model, point: dict, shift: float) -> np.ndarray:
    """The exponents at ``point`` with the benchmark exponents moved by ``shift``."""
    (exponent,) = model.replace_rvs_by_values([model["exponent"]])
    fn = model.compile_fn(exponent, inputs=model.value_vars, on_unused_input="ignore")
    moved = {**point, "log_exponent_bench": point["log_exponent_bench"] + shift}
    return fn(moved)


def test_a_ladder_at_chance_neither_borrows_nor_informs_the_exponent(at_chance):
    """Its exponent is k0 * exp(sd * z) on its own prior; the pooled model ties it to K_b."""
    from bayescale.accuracy_model import build_accuracy_model

    data = load_accuracy_table(at_chance)
    priors = AccuracyPriors()
    gamma, mmlu = data.families.index("gamma"), data.benchmarks.index("mmlu")
    model = build_accuracy_model(data, priors)
    point = model.initial_point()
    point["z_exponent_at_chance"] = np.array([0.5])
    before, after = _exponent_at(model, point, 0.0), _exponent_at(model, point, 1.0)
    assert before[gamma, mmlu] == pytest.approx(
        priors.exponent_median * np.exp(priors.exponent_log_sd * 0.5)
    )
    assert after[gamma, mmlu] == pytest.approx(before[gamma, mmlu])
    others = np.ones_like(before, dtype=bool)
    others[gamma, mmlu] = False
    np.testing.assert_allclose(after[others], before[others] * np.e)
    # its log density is a standard normal's in z, whatever the benchmark exponent
    logp = model.compile_logp(vars=[model["z_exponent_at_chance"]])
    assert logp(point) == pytest.approx(-0.5 * np.log(2 * np.pi) - 0.125)

    pooled = build_accuracy_model(data, priors, pool_at_chance=True)
    assert "z_exponent_at_chance" not in pooled.named_vars
    point = pooled.initial_point()
    ratio = _exponent_at(pooled, point, 1.0) / _exponent_at(pooled, point, 0.0)
    np.testing.assert_allclose(ratio, np.e)


def test_unpooled_model_has_no_separate_at_chance_exponents(at_chance):
    from bayescale.accuracy_model import build_accuracy_model

    model = build_accuracy_model(load_accuracy_table(at_chance), pooled=False)
    assert "z_exponent_at_chance" not in model.named_vars

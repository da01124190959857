"""Keyed random streams from one root seed, and a forecast's seed recorded apart from the
sampler's (bayescale.seeds)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from bayescale.cli import main
from bayescale.saved import load_fit, read_fit, save_fit
from bayescale.seeds import forecast_root, forecast_stream, key_seed, stream

DATA = Path(__file__).parent / "data"


def _first(rng: np.random.Generator) -> float:
    return float(rng.standard_normal())


def test_streams_with_different_keys_or_roots_differ_and_repeat():
    assert _first(stream(0, "pass.forecast")) == _first(stream(0, "pass.forecast"))
    assert _first(stream(0, "pass.forecast")) != _first(stream(0, "pass.held_out"))
    assert _first(stream(0, "pass.forecast")) != _first(stream(1, "pass.forecast"))
    assert key_seed(7, "lsq_bootstrap", "web") != key_seed(7, "lsq_bootstrap", "code")


def test_keyed_streams_do_not_collide_where_the_old_offsets_did():
    fit, _ = read_fit(DATA / "pass_fit_v0.1.0.nc")
    assert fit.streams == "offsets"  # saved before keyed streams: the old derivation
    seed0 = replace(fit, settings=replace(fit.settings, seed=0))
    seed1 = replace(fit, settings=replace(fit.settings, seed=1))
    # old: the held-out draws of seed 0 were the forecast draws of seed 1
    assert _first(forecast_stream(seed0, "pass.held_out")) == _first(
        forecast_stream(seed1, "pass.forecast")
    )
    keyed0, keyed1 = replace(seed0, streams="keyed"), replace(seed1, streams="keyed")
    assert _first(forecast_stream(keyed0, "pass.held_out")) != _first(
        forecast_stream(keyed1, "pass.forecast")
    )


def test_the_forecast_root_is_its_own_seed_else_the_samplers():
    fit, _ = read_fit(DATA / "loss_fit_v0.1.0.nc")
    assert forecast_root(fit) == fit.settings.seed
    assert forecast_root(replace(fit, forecast_seed=5)) == 5
    assert forecast_root(replace(fit, forecast_seed=5), seed=9) == 9


def test_forecast_seed_is_recorded_apart_from_the_sampler_seed(tmp_path):
    saved = DATA / "loss_fit_v0.1.0.nc"
    fit, _ = read_fit(saved)
    base = ["forecast", str(saved), "--target-compute", "1e23", "--allow-unconverged", "--quiet"]
    assert main([*base, "--json", str(tmp_path / "plain.json")]) == 0
    out = tmp_path / "out"
    args = [*base, "--seed", "11", "--json", str(tmp_path / "a.json"), "--out", str(out)]
    assert main(args) == 0
    plain = json.loads((tmp_path / "plain.json").read_text())
    doc = json.loads((tmp_path / "a.json").read_text())
    assert "forecast_seed" not in plain
    assert doc["forecast_seed"] == 11
    assert doc["sampler"]["seed"] == fit.settings.seed  # not overwritten by --seed
    assert doc["targets"] != plain["targets"]

    # the saved fit keeps both seeds and its streams, and answers the same again
    again = load_fit(out / "fit.nc")
    assert again.fit.settings.seed == fit.settings.seed
    assert again.fit.forecast_seed == 11 and again.fit.streams == "offsets"
    assert again.result(targets=1e23).document()["targets"] == doc["targets"]


def test_a_fit_saved_now_has_keyed_streams(tmp_path):
    fit, options = read_fit(DATA / "loss_fit_v0.1.0.nc")
    path = save_fit(replace(fit, streams="keyed"), tmp_path / "fit.nc", options)
    assert read_fit(path)[0].streams == "keyed"

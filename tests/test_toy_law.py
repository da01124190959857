"""A third law added through the registry alone: a pure power law ``L = a·C^b`` (no floor).

Everything the law brings is in this file (data, a tiny PyMC model, forecast, decisions,
documents, the saved data group, the backtest split); the shared stages (``save_fit``,
``load_fit``, ``SavedFit.result``, ``write_outputs``, ``run_backtests``, ``law_of``) find it
through :mod:`bayescale.registry` without a change. The sampler is the mocked one
(tests/conftest.py), so this checks the plumbing, not the posterior.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayescale.backtest import load_for_backtest, run_backtests
from bayescale.backtest_report import Backtest, backtest_document, fit_diagnostics
from bayescale.backtest_scoring import score_draws, with_meta
from bayescale.decision import Decision, decide_with_curve, parse_requirement
from bayescale.diagnostics import Diagnostics, diagnose
from bayescale.draws import stacked_draws, summarise
from bayescale.options import Options, check_options
from bayescale.registry import Law, get_law, law_of, register, unregister
from bayescale.result_files import write_outputs
from bayescale.sampling import SamplerSettings
from bayescale.saved import load_fit, save_fit
from bayescale.saved_format import attr_json, check_hash, diagnostics_of, pivot_of, settings_of
from bayescale.spec_schema import law_sections
from bayescale.targets import check_targets

GROUP = "toy_runs"


@dataclass(frozen=True)
class ToyData:
    compute: np.ndarray
    loss: np.ndarray
    held_out: np.ndarray
    source: str = "<toy>"
    fit_max_compute: float | None = None

    @property
    def fitted(self) -> np.ndarray:
        return ~self.held_out


@dataclass(frozen=True)
class ToyPriors:
    slope_sd: float = 0.5


@dataclass(frozen=True)
class ToyFit:
    data: ToyData
    idata: xr.DataTree
    log_pivot: float
    priors: ToyPriors
    settings: SamplerSettings
    diagnostics: Diagnostics
    timing_s: dict[str, float]

    def draws(self, name: str) -> np.ndarray:
        return stacked_draws(self.idata, name)


@dataclass(frozen=True)
class ToyOptions(Options):
    sampler: SamplerSettings = field(default_factory=lambda: SamplerSettings(progress=False))


@dataclass(frozen=True)
class ToyResult:
    fit: ToyFit
    draws: np.ndarray  # (sample, target)
    decisions: tuple[Decision, ...]
    options: ToyOptions
    choice: None = None
    curve: Any = None
    warnings: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        return toy_document(self, "test")


def load_toy(source: pd.DataFrame | Path, columns: Any = None, cut: float | None = None) -> ToyData:
    table = source if isinstance(source, pd.DataFrame) else pd.read_csv(source)
    compute = table["compute"].to_numpy(float)
    return ToyData(
        compute=compute,
        loss=table["loss"].to_numpy(float),
        held_out=compute > cut if cut is not None else np.zeros(compute.size, bool),
        fit_max_compute=cut,
    )


def fit_toy(data: ToyData, settings: SamplerSettings) -> ToyFit:
    import pymc as pm

    from bayescale.sampling import sample

    x = np.log(data.compute[data.fitted])
    pivot = float(x.mean())
    with pm.Model() as model:
        log_a = pm.Normal("log_a", 0.0, 2.0)
        b = pm.Normal("b", 0.0, ToyPriors().slope_sd)
        sigma = pm.HalfNormal("sigma", 0.1)
        pm.Normal(
            "log_loss", log_a + b * (x - pivot), sigma, observed=np.log(data.loss[data.fitted])
        )
    idata, seconds = sample(model, settings)
    return ToyFit(data, idata, pivot, ToyPriors(), settings, diagnose(idata), {"sampling": seconds})


def toy_draws(fit: ToyFit, compute: np.ndarray, curve: bool = False) -> np.ndarray:
    """New-run draws of L at ``compute``: the law plus the scatter, seeded by the fit."""
    x = np.log(np.asarray(compute, float))[None, :] - fit.log_pivot
    log_l = fit.draws("log_a")[:, None] + fit.draws("b")[:, None] * x
    if not curve:
        rng = np.random.default_rng(fit.settings.seed)
        log_l = log_l + fit.draws("sigma")[:, None] * rng.standard_normal(log_l.shape)
    return np.asarray(np.exp(log_l))


def toy_result(fit: ToyFit, options: ToyOptions, *, warn: bool = True) -> ToyResult:
    check_options(options)
    targets = check_targets(options.targets)
    decisions: list[Decision] = []
    curve = None
    if options.requirement:
        req = parse_requirement(options.requirement, quantities=("loss",))
        decisions, curve = decide_with_curve(
            req,
            lambda c: toy_draws(fit, c),
            targets,
            options.confidence,
            float(fit.data.compute[fit.data.fitted].min()),
            curve_at=lambda c: toy_draws(fit, c, curve=True),
        )
    return ToyResult(fit, toy_draws(fit, targets), tuple(decisions), options, curve=curve)


def run_toy(source: pd.DataFrame | Path, options: ToyOptions) -> ToyResult:
    return toy_result(fit_toy(load_toy(source), options.sampler), options)


def toy_spec_options(model: Any, common: dict[str, Any]) -> ToyOptions:
    return ToyOptions(**common)


def check_toy_spec(spec: Any, options: ToyOptions, path: Path, rule: Any) -> tuple[str, list[str]]:
    check_options(options)
    data = load_toy(path)
    if options.requirement:
        with rule():
            parse_requirement(options.requirement, quantities=("loss",))
    return f"data {path}: {data.compute.size} runs", []


def toy_document(result: ToyResult, version: str) -> dict[str, Any]:
    s = summarise(result.draws, result.options.interval)
    return {
        "bayescale_version": version,
        "kind": "toy",
        "targets": list(result.options.targets),
        "median": s["median"].tolist(),
        "decisions": [d.go for d in result.decisions],
    }


def toy_hash(data: ToyData) -> str:
    h = hashlib.sha256(np.ascontiguousarray(data.compute, "<f8").tobytes())
    h.update(np.ascontiguousarray(data.loss, "<f8").tobytes())
    return h.hexdigest()


def encode_toy(fit: ToyFit) -> tuple[xr.Dataset, str, dict[str, Any]]:
    d = fit.data
    ds = xr.Dataset(
        {
            "compute": ("run", d.compute),
            "loss": ("run", d.loss),
            "held_out": ("run", d.held_out.astype(np.int8)),
        }
    )
    return ds, toy_hash(d), {"fit_max_compute": json.dumps(d.fit_max_compute)}


def decode_toy(tree: xr.DataTree, path: Path) -> ToyFit:
    ds = tree[GROUP].to_dataset()
    data = ToyData(
        compute=np.asarray(ds["compute"].values, float),
        loss=np.asarray(ds["loss"].values, float),
        held_out=np.asarray(ds["held_out"].values, bool),
        fit_max_compute=attr_json(tree, "fit_max_compute", path),
    )
    check_hash(tree, toy_hash(data), path)
    del tree[GROUP]
    return ToyFit(
        data=data,
        idata=tree,
        log_pivot=pivot_of(tree, data.compute[data.fitted], path),
        priors=ToyPriors(**attr_json(tree, "priors", path)),
        settings=settings_of(tree, path),
        diagnostics=diagnostics_of(tree),
        timing_s=attr_json(tree, "timing_s", path),
    )


def backtest_toy(
    data: ToyData, ratios: list[float], *, settings: SamplerSettings
) -> list[Backtest]:
    out = []
    for ratio in ratios:
        cut = data.compute.max() / ratio
        split = replace(data, held_out=data.compute > cut, fit_max_compute=cut)
        fit = fit_toy(split, settings)
        held = np.flatnonzero(split.held_out)
        scored = score_draws(data.loss[held], toy_draws(fit, data.compute[held]))
        cases = with_meta(
            scored,
            [f"run{i}" for i in held],
            ["all"] * held.size,
            data.compute[held],
            np.full(held.size, data.compute[~split.held_out].max()),
        )
        out.append(
            Backtest(
                kind="toy",
                ratio=ratio,
                source=data.source,
                interval=0.9,
                cases=cases,
                baselines={},
                fit_max_compute={"all": float(cut)},
                diagnostics={"bayescale": fit_diagnostics(fit)},
            )
        )
    return out


TOY = Law(
    name="toy",
    formula="L(C) = a*C^b",
    fit_type=ToyFit,
    options_type=ToyOptions,
    result_type=ToyResult,
    data_types=(ToyData,),
    run=run_toy,
    result_from_fit=toy_result,
    document=toy_document,
    markdown=lambda result, version, figures: f"# toy law\n\nbayescale {version}\n",
    figures=lambda result: [],
    summary=lambda result: "toy forecast",
    data_group=GROUP,
    encode=encode_toy,
    decode=decode_toy,
    saved_options=lambda fit, values, kept: ToyOptions(**values),
    load_for_backtest=load_toy,
    backtest=backtest_toy,
    spec_name="toy",
    spec_sections=lambda: law_sections(columns=None, priors=None),
    spec_options=toy_spec_options,
    check_spec=check_toy_spec,
)


@pytest.fixture
def toy_law():
    register(TOY)
    yield TOY
    unregister("toy")


def _runs() -> pd.DataFrame:
    compute = np.geomspace(1e18, 1e21, 8)
    rng = np.random.default_rng(0)
    loss = 40.0 * compute**-0.05 * np.exp(0.01 * rng.standard_normal(compute.size))
    return pd.DataFrame({"compute": compute, "loss": loss})


def test_the_built_in_laws_are_registry_entries():
    assert get_law("loss").data_group == "bayescale_runs"
    assert get_law("pass").data_group == "bayescale_pass"
    with pytest.raises(Exception, match="unknown law 'toy'"):
        get_law("toy")


def test_a_toy_law_fits_forecasts_decides_saves_loads_and_backtests(
    toy_law, mock_pymc_sample, tmp_path
):
    options = ToyOptions(targets=(1e22, 1e23), requirement="loss<=100")
    result = run_toy(_runs(), options)
    assert law_of(result) is toy_law and law_of(result.fit) is toy_law
    assert result.draws.shape[1] == 2 and len(result.decisions) == 2

    # save and load through the shared reader: the same numbers again, no sampling
    path = save_fit(result.fit, tmp_path / "fit.nc", options.forecast_options())
    saved = load_fit(path)
    assert saved.kind == "toy"
    again = saved.result()
    np.testing.assert_array_equal(again.draws, result.draws)
    assert [d.go for d in again.decisions] == [d.go for d in result.decisions]
    assert again.document() == result.document()

    # the shared folder writer: report, JSON, the shared decision figure, fit.nc
    names = sorted(p.name for p in write_outputs(result, tmp_path / "out"))
    assert names == ["decision.png", "fit.nc", "forecast.json", "report.md"]
    assert load_fit(tmp_path / "out" / "fit.nc").kind == "toy"

    # the shared backtest entry point dispatches on the data's law
    data = load_for_backtest("toy", _runs())
    (bt,) = run_backtests(data, [10.0], settings=options.sampler)
    doc = backtest_document(bt)
    assert doc["kind"] == "toy" and len(doc["cases"]) == int((data.compute > 1e20).sum())


def test_plot_forecast_draws_the_forecast_figure_of_the_fits_entry(toy_law, mock_pymc_sample):
    from matplotlib.figure import Figure

    from bayescale.errors import InputError
    from bayescale.plots import plot_forecast

    fit = run_toy(_runs(), ToyOptions(targets=(1e22,))).fit
    with pytest.raises(InputError, match="got ToyFit"):  # the entry has no forecast figure
        plot_forecast(fit, targets=1e22)
    drawn = []

    def figure(fit: ToyFit, targets: np.ndarray, interval: float) -> Figure:
        drawn.append((fit, list(targets), interval))
        return Figure()

    register(replace(TOY, forecast_figure=figure))
    assert isinstance(plot_forecast(fit, targets=1e22), Figure)
    assert len(drawn) == 1 and drawn[0][0] is fit and drawn[0][1:] == ([1e22], 0.9)
    register(replace(TOY, figure_calls="toy_figure(fit)"))
    with pytest.raises(InputError, match=r"got a ToyFit\. Its figures: toy_figure\(fit\)"):
        plot_forecast(fit, targets=1e22)


def test_a_saved_fit_of_an_unregistered_law_is_refused(toy_law, mock_pymc_sample, tmp_path):
    result = run_toy(_runs(), ToyOptions(targets=(1e22,)))
    path = save_fit(result.fit, tmp_path / "fit.nc")
    unregister("toy")
    with pytest.raises(Exception, match="law 'toy', which this bayescale does not know"):
        load_fit(path)


TOY_SPEC = """\
schema_version = 1
law = "toy"
[data]
path = "runs.csv"
[forecast]
targets = [1e22]
[decision]
require = "loss<=100"
"""


def test_a_toy_law_runs_through_a_spec(toy_law, mock_pymc_sample, tmp_path, capsys):
    from bayescale.cli import main
    from bayescale.spec import load_spec, spec_options

    _runs().to_csv(tmp_path / "runs.csv", index=False)
    spec = tmp_path / "toy.toml"
    spec.write_text(TOY_SPEC)
    options = spec_options(load_spec(spec))
    assert isinstance(options, ToyOptions) and options.requirement == "loss<=100"

    assert main(["check", str(spec)]) == 0
    out = capsys.readouterr().out
    assert f"law 'toy': {toy_law.formula}" in out and "8 runs" in out

    doc = tmp_path / "r.json"
    args = ["run", str(spec), "--json", str(doc), "--allow-unconverged", "--quiet"]
    assert main([*args, "--draws", "50", "--tune", "50", "--chains", "2"]) == 0
    assert json.loads(doc.read_text())["kind"] == "toy"

    # an unknown key in the toy's sections is named like any law's
    spec.write_text(TOY_SPEC + "[priors]\nslope_sd = 1.0\n")
    with pytest.raises(Exception, match="unknown key 'priors'"):
        load_spec(spec)

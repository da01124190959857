"""The pass law's discrepancy scale, scored on the real pass backtests and the Codex table.

:func:`bayescale.pass_forecast.discrepancy_stretch` makes a draw's exponent ``k exp(s zeta)``
beyond the largest fitted compute. The term is predictive only (the fit does not depend on
it), so each split is fitted once (4 chains x 1000 draws, seed 1, as
``benchmarks/calibration_real.py``) and its held-out statistics are scored with every ``s``:

- Pythia x MATH per-problem counts at ratios 2 and 10, ObsScaling HumanEval families at
  ratios 2 and 4 (the pass datasets of ``calibration_real.py``; bayescale's own cases, no
  baselines);
- Codex pass@1 by size (Chen et al. 2021, Table 1; tests/test_first_contact.py), fitted up to
  679M (4.1e20 FLOPs): the 2.5B and 12B models held out, and the decision
  ``pass_rate>=0.3`` at 12B's compute (7.2e21), whose true pass@1 was 0.288.

    python benchmarks/pass_discrepancy.py --json benchmarks/results/pass_discrepancy.json

``--calibration PATH`` also puts bayescale's cases of the default scale into that
``calibration.json`` (pass datasets only; the baselines, which take an hour to re-run on
Pythia, are kept as they were) and rewrites its summary, ``calibration.md`` and
``calibration.png`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from calibration_real import DATA, DATASETS  # noqa: E402

from bayescale.backtest import load_for_backtest  # noqa: E402
from bayescale.backtest_report import (  # noqa: E402
    backtest_document,
    backtest_from_document,
    calibration_figure,
    calibration_markdown,
    calibration_rows,
    split_backtest,
)
from bayescale.backtest_scoring import summarise_cases  # noqa: E402
from bayescale.buckets import make_buckets  # noqa: E402
from bayescale.config import configure  # noqa: E402
from bayescale.drawing import save_figure  # noqa: E402
from bayescale.pass_backtest import _pass_bayes_cases, pass_split  # noqa: E402
from bayescale.pass_data import PassCounts, load_pass_table  # noqa: E402
from bayescale.pass_fit import PassFit, fit_pass  # noqa: E402
from bayescale.pass_forecast import forecast_pass, score_held_out_models  # noqa: E402
from bayescale.pass_pipeline import decide_pass  # noqa: E402
from bayescale.priors import PassPriors  # noqa: E402
from bayescale.sampling import SamplerSettings  # noqa: E402

configure(devices=max(4, os.cpu_count() or 1), compilation_cache=True)

SCALES = (0.0, 0.15, 0.25, 0.4)
CODEX_RATES = [0.02, 0.0321, 0.0506, 0.0822, 0.1317, 0.1622, 0.2136, 0.2881]
CODEX_SIZES = [12e6, 25e6, 42e6, 85e6, 300e6, 679e6, 2.5e9, 12e9]


def with_scale(fit: PassFit, s: float) -> PassFit:
    """The same posterior with discrepancy scale ``s``."""
    return replace(fit, priors=replace(fit.priors, discrepancy_exponent_sd=s))


def codex_table() -> pd.DataFrame:
    """Codex pass@1 by size, compute 6 N D with D = 100B tokens (as the test writes it)."""
    return pd.DataFrame(
        {
            "model": [f"m{i}" for i in range(len(CODEX_SIZES))],
            "compute": [6 * n * 1e11 for n in CODEX_SIZES],
            "pass_rate": CODEX_RATES,
        }
    )


def codex(settings: SamplerSettings) -> dict:
    """The Codex forecast of 12B and its decision at each scale."""
    data = load_pass_table(codex_table(), fit_max_compute=4.1e20)
    fit = fit_pass(data, None, settings=settings, allow_unconverged=True)
    out = {"diagnostics": {"r_hat_max": fit.diagnostics.r_hat_max, "ok": fit.diagnostics.ok}}
    for s in SCALES:
        f = with_scale(fit, s)
        row = forecast_pass(f, 7.2e21, 0.9, warn=False).overall().iloc[0]
        (d,) = decide_pass(f, "pass_rate>=0.3", 7.2e21)
        held = score_held_out_models(f, 0.9)
        out[str(s)] = {
            "12B_pass_rate": {
                "median": row["median"],
                "lower": row["lower"],
                "upper": row["upper"],
            },
            "12B_observed": 0.2881,
            "12B_covered": bool(row["lower"] <= 0.2881 <= row["upper"]),
            "probability": d.probability,
            "go": d.go,
            "compute_needed_at_confidence": d.compute_needed_at_confidence,
            "held_out_covered": f"{int(held['covered'].sum())}/{len(held)}",
        }
        print(f"codex s={s}: {out[str(s)]}", flush=True)
    return out


def splice_calibration(path: Path, docs: dict[str, list]) -> None:
    """Replace bayescale's part of the pass backtests in ``path``; rewrite its summaries."""
    cal = json.loads(path.read_text())
    for entry in cal["datasets"]:
        fresh = {d["ratio"]: d for d in docs.get(entry["dataset"], [])}
        for doc in entry["backtests"] if fresh else []:
            new = fresh[doc["ratio"]]
            for key in ("bayescale_version", "cases", "n_cases", "coverage", "skipped"):
                doc[key] = new[key]
            for key in ("median_abs_rel_error", "mean_crps_rel", "median_rel_width"):
                doc[key] = new[key]
            doc["fit_max_compute"] = new["fit_max_compute"]
            doc["diagnostics"]["bayescale"] = new["diagnostics"]["bayescale"]
            doc["timing_s"]["bayescale"] = new["timing_s"]["bayescale"]
    results = {
        e["dataset"]: [backtest_from_document(d) for d in e["backtests"]] for e in cal["datasets"]
    }
    cal["summary"] = calibration_rows(results)
    path.write_text(json.dumps(cal, indent=1, allow_nan=False) + "\n")
    (path.parent / "calibration.md").write_text(calibration_markdown(cal["summary"]) + "\n")
    empty = pd.DataFrame({"pit": []})
    panels = {
        name: {
            method: pd.concat(
                [
                    bt.cases if method == "bayescale" else bt.baselines.get(method, empty)
                    for bt in bts
                ],
                ignore_index=True,
            )
            for method in ("bayescale", "lsq_bootstrap", "separate_bayes")
        }
        for name, bts in results.items()
    }
    title = "Held-out coverage, all ratios pooled per dataset"
    save_figure(calibration_figure(panels, title), path.parent / "calibration.png")
    print(calibration_markdown(cal["summary"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--calibration", type=Path, help="calibration.json to update")
    parser.add_argument("--docs", type=Path, help="reuse bayescale's backtest documents from here")
    parser.add_argument("--default", type=float, default=PassPriors().discrepancy_exponent_sd)
    parser.add_argument("--datasets", default="codex,pythia_math,obsscaling_humaneval")
    args = parser.parse_args()
    settings = SamplerSettings(draws=1000, tune=1000, seed=1, progress=False)
    wanted = args.datasets.split(",")
    result: dict = {"machine": platform.platform(), "scales": list(SCALES), "splits": []}
    docs: dict[str, list] = {}
    start_all = time.perf_counter()
    if "codex" in wanted:
        result["codex"] = codex(settings)
    for ds in DATASETS:
        if ds.kind != "pass" or ds.name not in wanted:
            continue
        data = load_for_backtest("pass", ds.table(), ds.pass_columns)
        for ratio in ds.ratios:
            split, cuts, skipped = pass_split(data, ratio)
            buckets = make_buckets(split) if isinstance(split, PassCounts) else None
            start = time.perf_counter()
            fit = fit_pass(split, buckets, PassPriors(), settings, allow_unconverged=True)
            seconds = time.perf_counter() - start
            entry = {
                "dataset": ds.name,
                "ratio": ratio,
                "fit_s": seconds,
                "r_hat_max": fit.diagnostics.r_hat_max,
                "divergences": fit.diagnostics.divergences,
                "scores": {},
            }
            for s in SCALES:
                cases = _pass_bayes_cases(with_scale(fit, s), cuts, 0.9)
                summary = summarise_cases(cases)
                summary["covered_90"] = f"{int(cases['covered'].sum())}/{len(cases)}"
                summary["extrapolations"] = sorted(
                    {round(float(c), 2) for c in cases["extrapolation"]}
                )
                entry["scores"][str(s)] = summary
                print(f"{ds.name} ratio {ratio:g} s={s}: {summary}", flush=True)
                if s == args.default:
                    bt = split_backtest(
                        "pass",
                        ratio,
                        data.source,
                        0.9,
                        (cuts, skipped),
                        (fit, cases, seconds),
                        ({}, {}, {}),
                    )
                    docs.setdefault(ds.name, []).append(backtest_document(bt))
            result["splits"].append(entry)
            result["wall_s"] = time.perf_counter() - start_all
            args.json.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    result["wall_s"] = time.perf_counter() - start_all
    args.json.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    if args.docs and not docs:
        docs = json.loads(args.docs.read_text())
    elif args.docs:
        args.docs.write_text(json.dumps(docs, allow_nan=False) + "\n")
    if args.calibration:
        splice_calibration(args.calibration, docs)
    print(f"total {result['wall_s']:.0f} s; wrote {args.json}")


if __name__ == "__main__":
    if not (DATA / "pythia_math_monkeys").is_dir():
        sys.exit(f"{DATA} holds no pythia_math_monkeys")
    main()

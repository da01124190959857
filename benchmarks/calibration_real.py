"""Backtests of bayescale and three baselines on every suitable public dataset.

Reads the datasets beside the repository (``../shared/data``, each with a ``SOURCE.md``), runs
:func:`bayescale.backtest.run_backtests` at the ratios below, and writes

- ``benchmarks/results/calibration.json``: every per-ratio backtest document (docs/formats.md
  form, with the baselines and every scored case), the summary rows and the pooled summary;
- ``benchmarks/results/calibration.md``: the table README.md and docs/calibration.md show;
- ``benchmarks/results/calibration.png``: nominal against observed coverage per dataset.

    python benchmarks/calibration_real.py [--datasets olmo_1xc,pythia_math] [--draws 500]
    python benchmarks/calibration_real.py --executor local --workers 2   # via bayescale suite

With ``--executor`` (``inline``, ``local`` or ``ray``) every dataset becomes one job of the
suite runner (:mod:`bayescale.suite`): its table is written to ``--suite-out/tables/`` and run
as ``bayescale backtest``, and a rerun reuses the datasets whose table and settings are
unchanged. Without it (``loop``) the datasets run one after the other in this process.

Datasets left out, and why: LiveCodeBench families have three sizes, so leaving the largest
out leaves two models for a two-parameter law with scatter; EvalPlus has no compute column
(sizes only); Chinchilla (Epoch digitisation) and "misfitting" carry no licence.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bayescale.backtest import load_for_backtest, run_backtests  # noqa: E402
from bayescale.backtest_report import (  # noqa: E402
    Backtest,
    backtest_document,
    backtest_from_document,
    calibration_figure,
    calibration_markdown,
    calibration_rows,
)
from bayescale.config import configure  # noqa: E402
from bayescale.data import LossColumns  # noqa: E402
from bayescale.drawing import save_figure  # noqa: E402
from bayescale.outputs import write_text  # noqa: E402
from bayescale.pass_data import PassColumns  # noqa: E402
from bayescale.sampling import SamplerSettings  # noqa: E402
from bayescale.suite import Job, format_progress, run_suite  # noqa: E402

# set up as the bayescale command does: a JAX CPU device per chain or core, the cache
configure(devices=max(4, os.cpu_count() or 1), compilation_cache=True)

DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
EMPTY = pd.DataFrame({"pit": []})


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str
    folder: str
    description: str
    ratios: tuple[float, ...]
    table: Callable[[], pd.DataFrame]
    loss_columns: LossColumns | None = None
    pass_columns: PassColumns | None = None


def olmo_1xc() -> pd.DataFrame:
    wide = pd.read_csv(DATA / "olmo_ladder" / "olmo_ladder_final.csv")
    wide = wide[wide["role"] == "ladder"]
    wide = wide[pd.to_numeric(wide["multiplier_xC"], errors="coerce") == 1.0]
    loss_cols = [c for c in wide.columns if c.startswith("loss_")]
    long = wide.melt(
        id_vars=["run", "train_flops"], value_vars=loss_cols, var_name="group", value_name="loss"
    )
    return long.rename(columns={"run": "name", "train_flops": "compute"})


def gadre_20tpp() -> pd.DataFrame:
    table = pd.read_csv(DATA / "gadre_overtrain" / "gadre_losses.csv")
    table = table[table["chinchilla_multiplier"].astype(float) == 1.0]
    return pd.DataFrame(
        {
            "name": table["name"],
            "group": table["dataset"],
            "compute": table["compute_6ND"],
            "loss": table["loss_c4_val"],
        }
    )


def porian_optimal() -> pd.DataFrame:
    table = pd.read_csv(DATA / "porian_isoflop" / "porian_optimal.csv")
    table = table[table["loss_opt"].notna()]
    return pd.DataFrame(
        {
            "name": table["paper_label"] + " @ " + table["flops"].map("{:.3g}".format),
            "group": table["paper_label"],
            "compute": table["flops"],
            "loss": table["loss_opt"],
        }
    )


def datablations_single_epoch() -> pd.DataFrame:
    table = pd.read_csv(DATA / "datablations" / "datablations_contour_losses.csv")
    table = table[table["epochs"] == 1]
    return pd.DataFrame(
        {"name": table["model_args"], "compute": table["flops"], "loss": table["openLM_loss"]}
    )


def pythia_math() -> pd.DataFrame:
    return pd.read_csv(DATA / "pythia_math_monkeys" / "pythia_math_counts.csv")


#: ObsScaling families with >= 4 sizes of one recipe and a non-zero HumanEval pass rate.
OBS_FAMILIES = ("CodeLlama", "Llama", "Qwen1.5", "Pythia", "StarCoder", "GPT-Neo/J")


def obsscaling_humaneval() -> pd.DataFrame:
    table = pd.read_csv(DATA / "obsscaling_base_llm" / "base_llm_benchmark_eval.csv")
    table = table[table["Model Family"].isin(OBS_FAMILIES)]
    table = table[table["FLOPs (1E21)"].notna() & (table["HumanEval"] > 0)]
    return pd.DataFrame(
        {
            "model": table["Model"],
            "compute": table["FLOPs (1E21)"] * 1e21,
            "pass_rate": table["HumanEval"],
            "bucket": table["Model Family"],
            "n_problems": 164,
        }
    )


DATASETS = (
    Dataset(
        "olmo_1xc",
        "loss",
        "olmo_ladder",
        "OLMo-2 ladder, 1xC runs 190M-3B (with reruns), 11 eval sets as groups",
        (4.0, 10.0),
        olmo_1xc,
    ),
    Dataset(
        "gadre_20tpp",
        "loss",
        "gadre_overtrain",
        "Gadre et al. open_lm, 20 tokens/param, 11M-6.9B, C4 eval loss, 3 corpora as groups",
        (10.0, 30.0, 300.0),
        gadre_20tpp,
    ),
    Dataset(
        "porian_optimal",
        "loss",
        "porian_isoflop",
        "Porian et al. compute-optimal loss per budget, 15 configurations as groups",
        (10.0, 100.0),
        porian_optimal,
    ),
    Dataset(
        "datablations_1epoch",
        "loss",
        "datablations",
        "datablations single-epoch C4 runs (33, not one ladder: mixed N/D), one group",
        (10.0, 100.0, 1000.0),
        datablations_single_epoch,
    ),
    Dataset(
        "pythia_math",
        "pass",
        "pythia_math_monkeys",
        "Pythia 70M-12B x 128 MATH problems x 10,000 samples, 6 difficulty buckets",
        (2.0, 10.0),
        pythia_math,
        pass_columns=PassColumns(
            compute="train_flops", problem="problem_idx", n="n_samples", k="n_correct"
        ),
    ),
    Dataset(
        "obsscaling_humaneval",
        "pass",
        "obsscaling_base_llm",
        "ObsScaling HumanEval greedy pass@1, families with >= 4 sizes as buckets",
        (2.0, 4.0),
        obsscaling_humaneval,
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--json", type=Path, default=RESULTS / "calibration.json")
    parser.add_argument(
        "--resume", action="store_true", help="reuse datasets already in --json (same settings)"
    )
    parser.add_argument("--executor", choices=("loop", "inline", "local", "ray"), default="loop")
    parser.add_argument("--workers", type=int, help="suite workers (default: cores / 2)")
    parser.add_argument(
        "--suite-out", type=Path, default=ROOT / "bayescale-out" / "calibration-suite"
    )
    args = parser.parse_args()
    if args.executor != "loop":
        run_as_suite(args)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    wanted = set(args.datasets.split(",")) if args.datasets else None
    settings = SamplerSettings(draws=args.draws, tune=args.tune, seed=args.seed, progress=False)
    results: dict[str, list[Backtest]] = {}
    entries = []
    start_all = time.perf_counter()
    done = {}
    if args.resume and args.json.is_file():
        done = {e["dataset"]: e for e in json.loads(args.json.read_text())["datasets"]}
    for ds in DATASETS:
        if wanted and ds.name not in wanted:
            continue
        if ds.name in done:
            entries.append(done[ds.name])
            results[ds.name] = [backtest_from_document(d) for d in done[ds.name]["backtests"]]
            print(f"{ds.name}: reused from {args.json}", flush=True)
            continue
        if not (DATA / ds.folder).is_dir():
            print(f"{ds.name}: {DATA / ds.folder} absent, skipped", flush=True)
            continue
        start = time.perf_counter()
        columns = ds.loss_columns if ds.kind == "loss" else ds.pass_columns
        data = load_for_backtest(ds.kind, ds.table(), columns)
        backtests = run_backtests(data, list(ds.ratios), settings=settings, n_boot=args.bootstrap)
        results[ds.name] = backtests
        entries.append(
            {
                "dataset": ds.name,
                "kind": ds.kind,
                "source": f"../shared/data/{ds.folder}",
                "description": ds.description,
                "wall_s": time.perf_counter() - start,
                "backtests": [backtest_document(bt) for bt in backtests],
            }
        )
        print(f"{ds.name}: {time.perf_counter() - start:.0f} s", flush=True)
        for bt in backtests:
            print(bt.summary().to_string(index=False), flush=True)
        write(args, settings, results, entries, start_all)
        import jax

        jax.clear_caches()  # a long run compiles ~100 models; keep their memory bounded
    write(args, settings, results, entries, start_all, final=True)


def suite_job(ds: Dataset, table: Path, args: argparse.Namespace) -> Job:
    """The ``bayescale backtest`` job of one dataset, with the loop's settings."""
    argv = ["backtest", ds.kind, str(table), *(f"--ratio={r!r}" for r in ds.ratios)]
    argv += ["--draws", str(args.draws), "--tune", str(args.tune), "--seed", str(args.seed)]
    argv += ["--bootstrap", str(args.bootstrap), "--allow-unconverged"]
    columns = ds.loss_columns if ds.kind == "loss" else ds.pass_columns
    if columns is not None:
        for field, name in asdict(columns).items():
            if name != field:
                argv += [f"--{field.replace('_', '-')}-col", name]
    return Job(ds.name, tuple(argv), (str(table),), source="benchmarks/calibration_real.py")


def run_as_suite(args: argparse.Namespace) -> None:
    """Run every dataset as one job of ``bayescale suite`` and write the same outputs."""
    wanted = set(args.datasets.split(",")) if args.datasets else None
    settings = SamplerSettings(draws=args.draws, tune=args.tune, seed=args.seed, progress=False)
    start_all = time.perf_counter()
    jobs, selected = [], {}
    for ds in DATASETS:
        if (wanted and ds.name not in wanted) or not (DATA / ds.folder).is_dir():
            continue
        table = args.suite_out / "tables" / f"{ds.name}.csv"
        write_text(table, ds.table().to_csv(index=False))
        jobs.append(suite_job(ds, table, args))
        selected[ds.name] = ds
    suite = run_suite(
        jobs,
        args.suite_out,
        executor=args.executor,
        workers=args.workers,
        progress=lambda p: print(format_progress(p), flush=True) if p.last else None,
    )
    results: dict[str, list[Backtest]] = {}
    entries = []
    for run in suite.runs:
        if run["result"] is None:
            print(f"{run['name']}: failed ({run['status']}): {run['message']}", flush=True)
            continue
        docs = run["result"].get("backtests", [run["result"]])
        ds = selected[run["name"]]
        results[ds.name] = [backtest_from_document(d) for d in docs]
        entries.append(
            {
                "dataset": ds.name,
                "kind": ds.kind,
                "source": f"../shared/data/{ds.folder}",
                "description": ds.description,
                "wall_s": run["seconds"],
                "backtests": docs,
            }
        )
    write(args, settings, results, entries, start_all, final=True)


def write(args, settings, results, entries, start_all, final=False) -> None:
    """Write the JSON (after every dataset, so a crash loses one dataset), table and plot."""
    rows = calibration_rows(results)
    document = {
        "machine": platform.platform(),
        "settings": {
            "chains": settings.chains,
            "draws": settings.draws,
            "tune": settings.tune,
            "seed": settings.seed,
            "bootstrap": args.bootstrap,
        },
        "wall_s": time.perf_counter() - start_all,
        "datasets": entries,
        "summary": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
    if not final:
        return
    (args.json.parent / "calibration.md").write_text(calibration_markdown(rows) + "\n")
    panels = {
        name: {
            method: pd.concat(
                [
                    bt.cases if method == "bayescale" else bt.baselines.get(method, EMPTY)
                    for bt in bts
                ],
                ignore_index=True,
            )
            for method in ("bayescale", "lsq_bootstrap", "separate_bayes")
        }
        for name, bts in results.items()
    }
    fig = calibration_figure(panels, "Held-out coverage, all ratios pooled per dataset")
    save_figure(fig, args.json.parent / "calibration.png")
    print(calibration_markdown(rows))
    print(f"total {time.perf_counter() - start_all:.0f} s; wrote {args.json}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

"""The LiveCodeBench pass fit with its chains in turn against a device per chain.

The slow test's fit (DeepSeek-Coder base, 3 models x 400 problems, 10 samples each; 4 JAX CPU
devices, 500 warm-up steps and 1000 draws, seed 1, the persistent cache off), once per way of
placing the chains, each in its own process, back to back:

- ``turn``: what a CPU with fewer cores than chains does (``sampling.chains_on_devices``):
  a device per core, its chains one after another;
- ``parallel``: numpyro's ``pmap``, a device per chain (4 devices on 2 cores), what ran before
  the memory bound.

Reports each one's wall and CPU seconds, peak RSS, the fit's sampling seconds and its
diagnostics (the draws are the same). Needs ``../shared/data/livecodebench_code_families``.

The ways differ only while the table is above ``pass_model.PAD_MAX_COST`` (PyMC's numpyro
path). Since problems with the same counts share a quadrature (``integrated_rows``) it is
under the cap and samples padded, its chains in turn on a CPU either way
(``batch.sample_one``); ``results/lcb_chains.json`` is from before.

    python benchmarks/lcb_chains.py --json benchmarks/results/lcb_chains.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bayescale.outputs import write_text  # noqa: E402

TABLE = ROOT.parent / "shared/data/livecodebench_code_families/lcb_codegen_family_counts.csv"
WAYS = ("turn", "parallel")


def child(way: str) -> None:
    """Fit in this process, chains placed ``way``; print one JSON line of the fit's numbers."""
    import bayescale

    bayescale.configure(devices=4, compilation_cache=False)
    import pandas as pd

    import bayescale.sampling
    from bayescale.pass_data import PassColumns
    from bayescale.pass_pipeline import PassOptions, run_pass
    from bayescale.sampling import SamplerSettings

    if way == "parallel":  # as if there were a core per chain: numpyro's pmap
        bayescale.sampling.usable_cores = lambda: 4  # type: ignore[attr-defined]
    table = pd.read_csv(TABLE)
    family = table[table["family"] == "deepseek-coder-base"]
    largest = float(family["train_flops"].max())
    options = PassOptions(
        targets=(largest, largest * 10),
        columns=PassColumns(
            compute="train_flops", problem="question_id", n="n_samples", k="n_correct"
        ),
        sampler=SamplerSettings(seed=1, progress=False),
    )
    fit = run_pass(family, options).fit
    d = fit.diagnostics
    method = bayescale.sampling.chains_on_devices("parallel", 4)
    print(
        json.dumps(
            {
                "chain_method": method if isinstance(method, str) else "in turn",
                "sampling_s": round(fit.timing_s["sampling"], 1),
                "r_hat_max": round(d.r_hat_max, 4),
                "ess_bulk_min": round(d.ess_bulk_min),
                "divergences": d.divergences,
                "peak_rss_gib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2
                ),
            }
        )
    )


def measure(way: str) -> dict:
    """Run :func:`child` in a new process: its wall, CPU, peak RSS and the fit's numbers."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", way],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "way": way,
        "wall_s": round(wall, 1),
        "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **json.loads(done.stdout.strip().splitlines()[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--ways", default="turn,parallel", help="in this order")
    parser.add_argument("--json", type=Path, help="write the timing document here")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not TABLE.is_file():
        sys.exit(f"skipped: {TABLE} is absent")
    runs = [measure(way) for way in args.ways.split(",")]
    document = {"machine": platform.platform(), "cpu_count": os.cpu_count(), "runs": runs}
    print(json.dumps(document, indent=1))
    if args.json:
        write_text(args.json, json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()

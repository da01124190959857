"""Many fits through the suite runner: one simulated task per fit.

Simulates ``--tasks`` pass-count tables (``bayescale.simulate.simulate_pass_counts``, one seed
per task, so each task has its own bucket law), runs each as ``bayescale pass TABLE`` through
:func:`bayescale.suite.run_suite`, and reports the wall time and the largest peak RSS of a
worker process. ``--executor inline`` is the in-process loop to compare against. With
``--law loss`` the tasks are loss tables instead (3 groups x 8 runs, truths drawn by
``random_loss_truth``): the many-fits memory check, e.g. 200 fits in one worker that is never
replaced (``--workers 1 --max-fits-per-worker 200``).

    python benchmarks/suite_pass_tasks.py --tasks 100 --executor inline --out /tmp/tasks-loop
    python benchmarks/suite_pass_tasks.py --tasks 100 --executor local --workers 2 \\
        --out /tmp/tasks-2

A rerun with the same ``--out`` reuses every finished fit (use a fresh folder to time it).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bayescale.cli import main as cli_main  # noqa: E402
from bayescale.outputs import write_text  # noqa: E402
from bayescale.simulate import (  # noqa: E402
    random_loss_truth,
    simulate_loss_runs,
    simulate_pass_counts,
)
from bayescale.suite import Job, format_progress, run_suite  # noqa: E402


def task_jobs(args: argparse.Namespace) -> list[Job]:
    """Write one simulated table per task and return its ``bayescale pass`` job."""
    jobs = []
    for task in range(args.tasks):
        if args.law == "loss":
            truth = random_loss_truth(np.random.default_rng([7, task]))
            runs = simulate_loss_runs(truth, runs_per_group=8, seed=1000 + task)
            path = args.out / "tables" / f"task{task:03d}.csv"
            write_text(path, runs.to_csv(index=False))
            argv = ["loss", str(path), "--target-compute", "1e22", "--draws", str(args.draws)]
            argv += ["--tune", str(args.tune), "--seed", str(task), "--allow-unconverged"]
            jobs.append(Job(f"task{task:03d}", tuple(argv), (str(path),), "suite_pass_tasks"))
            continue
        table, _ = simulate_pass_counts(
            n_models=6, n_problems=args.problems, n_buckets=args.buckets, seed=1000 + task
        )
        path = args.out / "tables" / f"task{task:03d}.csv"
        write_text(path, table.to_csv(index=False))
        argv = ["pass", str(path), "--target-compute", "1e23", "--buckets", str(args.buckets)]
        argv += ["--draws", str(args.draws), "--tune", str(args.tune), "--chains", "2"]
        argv += ["--seed", str(task), "--allow-unconverged"]
        jobs.append(Job(f"task{task:03d}", tuple(argv), (str(path),), source="suite_pass_tasks"))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--law", choices=("pass", "loss"), default="pass")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--problems", type=int, default=60)
    parser.add_argument("--buckets", type=int, default=3)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--executor", choices=("inline", "local", "ray"), default="local")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-fits-per-worker", type=int, default=50)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path, help="write the timing document here")
    args = parser.parse_args()
    jobs = task_jobs(args)
    start = time.perf_counter()
    result = run_suite(
        jobs,
        args.out,
        entry=cli_main,
        executor=args.executor,
        workers=args.workers,
        max_fits_per_worker=args.max_fits_per_worker,
        progress=lambda p: print(format_progress(p), flush=True) if p.last else None,
    )
    wall = time.perf_counter() - start
    who = resource.RUSAGE_SELF if args.executor == "inline" else resource.RUSAGE_CHILDREN
    peak_mib = resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB
    document = {
        "machine": platform.platform(),
        "law": args.law,
        "executor": args.executor,
        "workers": 1 if args.executor == "inline" else args.workers,
        "tasks": args.tasks,
        "wall_s": round(wall, 1),
        "peak_rss_mib_per_process": round(peak_mib),
        "failed": [r["name"] for r in result.failed],
        "reused": sum(r["skipped"] for r in result.runs),
    }
    print(json.dumps(document, indent=1))
    if args.json:
        write_text(args.json, json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()

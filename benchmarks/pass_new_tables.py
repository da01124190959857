"""A new per-problem pass table fitted by ``bayescale pass`` in a new process, warm cache.

The persistent compilation cache (a fresh folder) is warmed by one ``bayescale pass`` fit of
a table of the same size (problems x models) with other counts; then each new table is fitted
in a new process and timed (wall and CPU of the whole command: interpreter, imports, model
building, tracing, compilation or cache loads, sampling, outputs). Run it against two
checkouts back to back to compare them (the machine's cores are shared, so only ratios
measured together mean much):

    python benchmarks/pass_new_tables.py --root /path/to/checkout --json out.json

Tables: :func:`bayescale.simulate.simulate_pass_counts` with ``--problems`` problems and
``--models`` models (default 60 x 6) and ``--seeds`` (the first the warm-up table's; by
default 101, 106 and 108, whose tables are all of shape class (6, 64, 16),
:func:`bayescale.pass_model.pass_shape` of this checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from processes import timed_command  # noqa: E402


def _cli(root: Path, cache: str, *args: str) -> dict:
    """``bayescale ARGS`` from ``root`` in a new process: wall and CPU seconds, exit code."""
    return timed_command(args, root, {"BAYESCALE_JAX_CACHE": cache})


def main(argv: list[str] | None = None) -> int:
    """Warm the cache with one table, then time ``--tables`` new ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to run")
    parser.add_argument("--problems", type=int, default=60)
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--seeds", default="101,106,108", help="warm-up table's first")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bayescale.buckets import make_buckets
    from bayescale.pass_data import load_pass_counts
    from bayescale.pass_model import pass_shape
    from bayescale.simulate import simulate_pass_counts

    folder = Path(tempfile.mkdtemp(prefix="pass-new-tables-"))
    cache = str(folder / "cache")
    common = ["--target-compute", "1e23", "--quiet", "--allow-unconverged", "--seed", "1"]
    runs = []
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        table, _ = simulate_pass_counts(n_models=args.models, n_problems=args.problems, seed=seed)
        counts = load_pass_counts(table)
        shape = pass_shape(counts, make_buckets(counts))
        path = folder / f"table{i}.csv"
        table.to_csv(path, index=False)
        row = _cli(args.root, cache, "pass", str(path), "--out", str(folder / f"out{i}"), *common)
        row["table"] = "warm-up" if i == 0 else f"new {i}"
        row["seed"] = seed
        row["shape_class"] = shape and [shape.models, shape.pinned, shape.integrated]
        runs.append(row)
        print(json.dumps(row), flush=True)
    document = {
        "root": str(args.root),
        "problems": args.problems,
        "models": args.models,
        "load_average": os.getloadavg(),
        "runs": runs,
    }
    if args.json:
        args.json.write_text(json.dumps(document, indent=1))
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

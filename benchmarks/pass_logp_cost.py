"""The per-problem pass model's log density and gradient: milliseconds a call, on one core.

For the real per-problem tables (each LiveCodeBench family, Pythia x MATH as its test fits it)
and a simulated greedy 164 x 4 table, the model padded to its shape class (when
:func:`bayescale.pass_model.pass_shape` gives one) and unpadded: PyMC's JAX log density,
``jax.value_and_grad`` under ``jit``, 300 calls at the initial point after one to compile.
PyMC's JAX function folds the padded model's data containers in as constants, where a fit
passes them as arguments (``batch.sample_one``): the padded column times the padded
arithmetic, not the fit's program. Run with one XLA thread on one core for numbers that compare:

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        taskset -c 1 python benchmarks/pass_logp_cost.py --json out.json

bayescale is imported from ``PYTHONPATH``, so pointing it at another checkout times that
checkout's model with this script.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CALLS = 300


def tables():
    """(name, counts, buckets) of every table timed."""
    from bayescale.buckets import make_buckets
    from bayescale.pass_data import PassColumns, load_pass_counts
    from bayescale.simulate import simulate_pass_counts

    lcb = DATA / "livecodebench_code_families" / "lcb_codegen_family_counts.csv"
    if lcb.is_file():
        columns = PassColumns(
            compute="train_flops", problem="question_id", n="n_samples", k="n_correct"
        )
        for family, rows in pd.read_csv(lcb).groupby("family"):
            counts = load_pass_counts(rows, columns)
            yield f"livecodebench {family}", counts, make_buckets(counts)
    pythia = DATA / "pythia_math_monkeys" / "pythia_math_counts.csv"
    if pythia.is_file():
        columns = PassColumns(
            compute="train_flops", problem="problem_idx", n="n_samples", k="n_correct"
        )
        counts = load_pass_counts(pd.read_csv(pythia), columns, fit_max_compute=1.5e22)
        yield "pythia x math, fitted to 1.5e22", counts, make_buckets(counts)
    table, _ = simulate_pass_counts(n_models=4, n_problems=164, samples=1, seed=3)
    counts = load_pass_counts(table)
    yield "simulated 164 x 4 greedy", counts, make_buckets(counts)


def milliseconds(model) -> float:
    """Mean wall milliseconds of one log density and gradient, compiled, at the initial point."""
    import jax
    from pymc.sampling.jax import get_jaxified_logp

    logp = get_jaxified_logp(model)
    step = jax.jit(jax.value_and_grad(logp))
    point = model.initial_point()
    values = [jax.numpy.asarray(point[v.name]) for v in model.value_vars]
    jax.block_until_ready(step(values))
    start = time.perf_counter()
    for _ in range(CALLS):
        out = step(values)
    jax.block_until_ready(out)
    return round((time.perf_counter() - start) / CALLS * 1e3, 4)


def main() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import bayescale
    from bayescale.pass_model import build_pass_model, pass_shape

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name, counts, buckets in tables():
        shape = pass_shape(counts, buckets)
        row = {
            "table": name,
            "shape_class": shape and [shape.models, shape.pinned, shape.integrated],
            "unpadded_ms": milliseconds(build_pass_model(counts, buckets)),
            "padded_ms": shape and milliseconds(build_pass_model(counts, buckets, shape=shape)),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    document = {
        "bayescale": str(Path(bayescale.__file__).parent),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "calls": CALLS,
        "tables": rows,
    }
    if args.json:
        from bayescale.outputs import write_text

        write_text(args.json, json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()

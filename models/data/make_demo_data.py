"""Write the seeded demo tables in models/data/ from bayescale.simulate.

    python models/data/make_demo_data.py

tests/test_spec.py checks that the shipped files equal what this writes, so the demo specs
and the simulation cannot drift apart. The LLaMA file is transcribed by hand (see
models/README.md) and is not written here.
"""

from pathlib import Path

from bayescale.accuracy import simulate_accuracy_table
from bayescale.nd import simulate_nd_runs
from bayescale.simulate import demo_loss_runs, demo_pass_counts

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write the demo tables next to this script."""
    for name, frame in DEMO_TABLES.items():
        frame().to_csv(HERE / name, index=False, float_format="%.10g")


#: Each shipped demo table and the seeded simulation that writes it.
DEMO_TABLES = {
    "demo_loss.csv": demo_loss_runs,
    "demo_pass_counts.csv": demo_pass_counts,
    "demo_nd.csv": lambda: simulate_nd_runs(seed=0),
    "demo_accuracy.csv": lambda: simulate_accuracy_table(seed=0),
}


if __name__ == "__main__":
    main()

"""Write the seeded demo tables in models/data/ from bayescale.simulate.

    python models/data/make_demo_data.py

tests/test_spec.py checks that the shipped files equal what this writes, so the demo specs
and the simulation cannot drift apart. The LLaMA file is transcribed by hand (see
models/README.md) and is not written here.
"""

from pathlib import Path

from bayescale.simulate import demo_loss_runs, demo_pass_counts

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write both demo tables next to this script."""
    demo_loss_runs().to_csv(HERE / "demo_loss.csv", index=False, float_format="%.10g")
    demo_pass_counts().to_csv(HERE / "demo_pass_counts.csv", index=False, float_format="%.10g")


if __name__ == "__main__":
    main()

"""Seeded simulations the project owns: the embedded demo data and calibration studies.

The demo (:func:`demo_loss_runs`) is three evaluation groups of one hypothetical model family,
12 runs each, log-spaced over three decades of compute (1e17 to 1e20 FLOPs), drawn from the
loss law with the parameters in :data:`DEMO_TRUTH` and independent lognormal run-to-run scatter
of 0.6% (``sigma = 0.006`` on log loss), seed 2026. The demo target, 1e23 FLOPs, is 1000x
beyond the largest run. The numbers are invented for illustration; they are in the range of
published LLM scaling curves (losses 2–4.5 nats/token) but describe no real model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescale.laws import loss_law


@dataclass(frozen=True)
class LossTruth:
    """True parameters of one group's curve ``L = a C^b + c``."""

    a: float
    b: float
    c: float

    def __call__(self, compute: np.ndarray | float) -> np.ndarray:
        """The true curve at ``compute`` FLOPs."""
        return np.asarray(
            loss_law(np.log(np.asarray(compute, dtype=float)), self.a, self.b, self.c)
        )


DEMO_TRUTH: dict[str, LossTruth] = {
    "web": LossTruth(a=70.0, b=-0.10, c=2.2),
    "code": LossTruth(a=45.0, b=-0.11, c=1.1),
    "books": LossTruth(a=90.0, b=-0.095, c=2.0),
}
DEMO_SCATTER = 0.006
DEMO_SEED = 2026
DEMO_TARGET = 1e23
DEMO_REQUIREMENT = "web.loss<=2.6"
DEMO_LABEL = "embedded demo: seeded simulation, bayescale.simulate.demo_loss_runs"


def simulate_loss_runs(
    truth: dict[str, LossTruth],
    *,
    min_compute: float = 1e17,
    max_compute: float = 1e20,
    runs_per_group: int = 12,
    scatter: float = DEMO_SCATTER,
    seed: int = DEMO_SEED,
    student_t_nu: float | None = None,
) -> pd.DataFrame:
    """Draw a table of finished runs from known curves.

    Parameters
    ----------
    truth
        Group label to true curve.
    min_compute, max_compute
        Range of the runs' compute (FLOPs), log-spaced.
    runs_per_group
        Runs per group.
    scatter
        Standard deviation of the run-to-run scatter on log loss.
    seed
        Seed of the scatter.
    student_t_nu
        Heavier-tailed scatter (Student-t with these degrees of freedom) when given.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``group``, ``compute``, ``loss``.
    """
    rng = np.random.default_rng(seed)
    compute = np.logspace(np.log10(min_compute), np.log10(max_compute), runs_per_group)
    rows = []
    for group, curve in truth.items():
        if student_t_nu is None:
            noise = rng.standard_normal(compute.size)
        else:
            noise = rng.standard_t(student_t_nu, compute.size)
        loss = curve(compute) * np.exp(scatter * noise)
        for i, (c, y) in enumerate(zip(compute, loss, strict=True)):
            rows.append(
                {
                    "name": f"{group}-{i + 1:02d}",
                    "group": group,
                    "compute": c,
                    "loss": y,
                }
            )
    return pd.DataFrame(rows)


def demo_loss_runs() -> pd.DataFrame:
    """The embedded demo table (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        36 runs with columns ``name``, ``group``, ``compute`` (FLOPs) and ``loss``; a new
        copy each call.
    """
    return simulate_loss_runs(DEMO_TRUTH)


def random_loss_truth(rng: np.random.Generator, n_groups: int = 3) -> dict[str, LossTruth]:
    """Draw group curves for calibration studies, broader than the model's prior mode.

    Exponents ``-b`` are uniform on [0.05, 0.25] around a family value (groups within ±15%),
    irreducible losses uniform on [0.8, 2.5], and the reducible loss at 1e17 FLOPs uniform on
    [0.6, 2.0] nats.
    """
    family_k = rng.uniform(0.05, 0.25)
    truth = {}
    for g in range(n_groups):
        k = family_k * rng.uniform(0.85, 1.15)
        c = rng.uniform(0.8, 2.5)
        reducible_at_1e17 = rng.uniform(0.6, 2.0)
        a = reducible_at_1e17 / (1e17) ** (-k)
        truth[f"g{g + 1}"] = LossTruth(a=float(a), b=float(-k), c=float(c))
    return truth


@dataclass(frozen=True)
class PassTruth:
    """Known truth of a per-problem pass-rate simulation.

    ``ln(-ln p_j(C)) = theta_j - k_{b(j)} (ln C - ln pivot) + eps_model``.
    """

    theta: np.ndarray
    exponent: np.ndarray
    bucket: np.ndarray
    pivot: float
    model_sd: float

    def pass_rates(self, compute: float, model_effect: float = 0.0) -> np.ndarray:
        """True pass rate of every problem for a model at ``compute`` FLOPs."""
        x = np.log(compute) - np.log(self.pivot)
        return np.exp(-np.exp(self.theta - self.exponent[self.bucket] * x + model_effect))


def simulate_pass_counts(
    *,
    n_models: int = 6,
    n_problems: int = 120,
    n_buckets: int = 6,
    samples: int = 200,
    min_compute: float = 1e20,
    max_compute: float = 1e22,
    model_sd: float = 0.1,
    seed: int = DEMO_SEED,
) -> tuple[pd.DataFrame, PassTruth]:
    """Draw per-problem pass counts from the report's law with known truth.

    Problem difficulties ``theta`` are spread so that bucket means of -ln p span roughly
    0.3 to 8 at the pivot (the geometric mean of the models' compute); the exponent falls from
    0.35 (easy) to 0.15 (hard) across ``n_buckets`` latent difficulty groups; each model sits
    off the law by ``N(0, model_sd)``. Hard problems often get zero passes in ``samples``
    tries, as in real data.

    Returns
    -------
    table, truth
        Columns ``model``, ``compute``, ``problem``, ``n``, ``k``; and the truth.
    """
    rng = np.random.default_rng(seed)
    compute = np.logspace(np.log10(min_compute), np.log10(max_compute), n_models)
    theta = np.sort(rng.uniform(-1.2, 2.6, n_problems))
    bucket = np.minimum((np.arange(n_problems) * n_buckets) // n_problems, n_buckets - 1)
    truth = PassTruth(
        theta=theta,
        exponent=np.linspace(0.35, 0.15, n_buckets),
        bucket=bucket,
        pivot=float(np.exp(np.log(compute).mean())),
        model_sd=model_sd,
    )
    rows = []
    for m, c in enumerate(compute):
        p = truth.pass_rates(c, model_effect=rng.normal(0, model_sd))
        k = rng.binomial(samples, p)
        for j in range(n_problems):
            rows.append(
                {
                    "model": f"m{m + 1}",
                    "compute": c,
                    "problem": f"p{j + 1:03d}",
                    "n": samples,
                    "k": int(k[j]),
                }
            )
    return pd.DataFrame(rows), truth


def demo_pass_counts() -> pd.DataFrame:
    """Per-problem counts of the demo pass-rate spec (``models/demo-pass-rate.toml``).

    :func:`simulate_pass_counts` with its defaults: 6 models log-spaced over 1e20–1e22 FLOPs,
    120 problems in 6 latent difficulty groups, 200 samples per problem, model scatter 0.1,
    seed 2026. Invented for illustration; no real model or benchmark.
    """
    table, _ = simulate_pass_counts()
    return table

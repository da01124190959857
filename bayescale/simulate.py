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
    """The embedded demo table (see the module docstring)."""
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

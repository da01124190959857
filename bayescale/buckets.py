"""Difficulty buckets, as in the GPT-4 report's HumanEval prediction.

Problems are ordered by their pass rate on reference models (all fitted models by default;
``bucket_by`` picks others, since the smallest models rank problems badly), the
``exclude_hardest`` hardest are set aside, and the rest are split into ``n_buckets`` of
near-equal size, bucket 1 the easiest: by default the report's 6, fewer for a table of under
60 problems (:func:`default_buckets`). Excluded problems stay in the model (in an internal
``excluded`` bucket) so that the overall pass rate covers every problem. The
``solved-by-all`` eligibility rule reproduces the report's filter: problems that some fitted
model never solved are dropped before bucketing. Nothing here imports PyMC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from bayescale.errors import InputError, did_you_mean
from bayescale.pass_data import ModelTable, PassCounts

Eligibility = Literal["all", "solved-by-all"]
EXCLUDED = "excluded"

#: The report's number of difficulty buckets, the default for a table with enough problems.
DEFAULT_BUCKETS = 6
#: Problems a bucket holds at least when the number of buckets is left to the default.
MIN_PROBLEMS_PER_BUCKET = 10


def default_buckets(problems: int) -> int:
    """The report's 6 buckets, fewer so that each holds at least 10 problems (at least one).

    A bucket's line is pooled from its problems; with one or two a bucket it is barely
    identified. Measured on an 8-problem x 4-model table (10 samples each): 6 buckets of 1-2
    problems and 2 of 4 both ended in exit 3 after the whole convergence ladder (584 s and
    770 s at load 7-10); one bucket of 8 converged (R-hat 1.002, 0 divergences, 160 s).
    """
    return max(1, min(DEFAULT_BUCKETS, problems // MIN_PROBLEMS_PER_BUCKET))


@dataclass(frozen=True)
class Buckets:
    """Problems assigned to difficulty buckets.

    Attributes
    ----------
    labels
        Reported buckets, ``"1"`` (easiest) to ``"B"`` (hardest).
    index
        Internal bucket of each *kept* problem: ``0..B-1``, or ``B`` for excluded ones.
    kept
        Problems kept by the eligibility rule (positions in ``PassCounts.problems``).
    difficulty
        Pass rate of each kept problem on the reference models.
    reference_models
        Models whose pass rates ordered the problems.
    rank_correlation
        Spearman correlation of per-problem pass rates between each pair of reference models.
    """

    labels: tuple[str, ...]
    index: np.ndarray
    kept: np.ndarray
    difficulty: np.ndarray
    reference_models: tuple[str, ...]
    rank_correlation: pd.DataFrame
    eligibility: Eligibility = "all"

    @property
    def n_internal(self) -> int:
        """Buckets the model has: the reported ones plus ``excluded`` when any."""
        return len(self.labels) + int((self.index == len(self.labels)).any())

    @property
    def internal_labels(self) -> tuple[str, ...]:
        """Labels of the model's ``bucket`` dim."""
        extra = (EXCLUDED,) if self.n_internal > len(self.labels) else ()
        return self.labels + extra

    def sizes(self) -> list[int]:
        """Problems per reported bucket."""
        return [int((self.index == b).sum()) for b in range(len(self.labels))]

    def summary(self) -> pd.DataFrame:
        """One row per bucket: problems and their pass-rate range on the reference models."""
        rows = []
        for b, label in enumerate(self.internal_labels):
            sel = self.index == b
            rows.append(
                {
                    "bucket": label,
                    "n_problems": int(sel.sum()),
                    "pass_rate_min": float(self.difficulty[sel].min()),
                    "pass_rate_max": float(self.difficulty[sel].max()),
                }
            )
        return pd.DataFrame(rows)

    def mean_rank_correlation(self) -> float:
        """Mean pairwise Spearman correlation between reference models (NaN with one)."""
        values = self.rank_correlation.to_numpy()
        off = values[~np.eye(len(values), dtype=bool)]
        off = off[np.isfinite(off)]
        return float(off.mean()) if off.size else float("nan")


def held_out_reference_warnings(models: ModelTable, buckets: Buckets | None) -> list[str]:
    """A warning when held-out models order the problems (``bucket_by`` names them).

    Allowed (the largest models rank problems best), but the buckets then hold results the
    forecast is asked to predict, so scores of the held-out models are not out of sample.
    """
    if buckets is None:
        return []
    held = [name for name in buckets.reference_models if models.held_out[models.names.index(name)]]
    if not held:
        return []
    names = ", ".join(f"'{name}'" for name in held)
    return [
        f"the difficulty buckets are ordered by the pass rates of held-out "
        f"{'model' if len(held) == 1 else 'models'} {names} (--bucket-by / [buckets] order_by): "
        "the buckets use results the forecast is asked to predict, so the held-out scores are "
        "not out of sample. Order by fitted models for a fair check."
    ]


def intercepts_drawn(buckets: Buckets | None, problem_slopes: bool) -> int:
    """Problem intercepts a pass fit draws after sampling, per draw: one per kept problem.

    None for an aggregate table (``buckets`` is ``None``) or with per-problem slopes, whose
    fit samples them. :func:`bayescale.pass_fit.fit_pass` adds them to its draws, and
    :func:`bayescale.sampling.check_memory` counts them.
    """
    return 0 if buckets is None or problem_slopes else int(buckets.index.size)


def make_buckets(
    counts: PassCounts,
    n_buckets: int | None = None,
    exclude_hardest: int = 0,
    bucket_by: tuple[str, ...] | None = None,
    eligibility: Eligibility = "all",
) -> Buckets:
    """Split problems into difficulty buckets.

    Parameters
    ----------
    counts
        Validated per-problem counts.
    n_buckets
        Reported buckets (the report used 6); ``None``: :func:`default_buckets` of the problems
        left to split.
    exclude_hardest
        Hardest problems set aside before splitting (the report used 15).
    bucket_by
        Names of the reference models; default all fitted models.
    eligibility
        ``"all"`` keeps every problem; ``"solved-by-all"`` keeps only problems every fitted
        model solved at least once (the report's rule).

    Returns
    -------
    Buckets

    Raises
    ------
    InputError
        On an unknown model name, a bucket that would be empty, or a negative count.
    """
    models = counts.models
    if n_buckets is not None and n_buckets < 1:
        raise InputError(f"--buckets must be >= 1, got {n_buckets}.")
    if exclude_hardest < 0:
        raise InputError(f"--exclude-hardest must be >= 0, got {exclude_hardest}.")
    if eligibility not in ("all", "solved-by-all"):
        raise InputError(f"--eligibility must be 'all' or 'solved-by-all', got '{eligibility}'.")
    if bucket_by:
        unknown = [m for m in bucket_by if m not in models.names]
        if unknown:
            raise InputError(
                f"--bucket-by: no model '{unknown[0]}'.{did_you_mean(unknown[0], models.names)}"
                f" Models: {', '.join(models.names)}."
            )
        ref = np.array([models.names.index(m) for m in bucket_by])
    else:
        ref = np.flatnonzero(models.fitted)
    fitted = np.flatnonzero(models.fitted)
    kept_mask = np.ones(len(counts.problems), dtype=bool)
    if eligibility == "solved-by-all":
        seen = counts.observed[fitted]
        kept_mask = ((counts.k[fitted] > 0) | ~seen).all(axis=0) & seen.any(axis=0)
    kept = np.flatnonzero(kept_mask)
    n_ref = counts.n[np.ix_(ref, kept)].sum(axis=0)
    k_ref = counts.k[np.ix_(ref, kept)].sum(axis=0)
    difficulty = np.where(n_ref > 0, k_ref / np.maximum(n_ref, 1), np.nan)
    order = np.argsort(-np.nan_to_num(difficulty, nan=-1.0), kind="stable")  # easiest first
    keep_n = len(kept) - exclude_hardest
    if n_buckets is None:
        n_buckets = default_buckets(keep_n)
    if keep_n < n_buckets:
        raise InputError(
            f"{len(kept)} eligible problem(s) minus {exclude_hardest} excluded leave {keep_n}; "
            f"{n_buckets} buckets would leave some empty. Use fewer --buckets or exclude fewer."
        )
    index = np.full(len(kept), n_buckets, dtype=np.int64)
    for b, chunk in enumerate(np.array_split(order[:keep_n], n_buckets)):
        index[chunk] = b
    rates = pd.DataFrame(
        {
            # a (model, problem) pair without data is left out, not counted as zero passes
            models.names[m]: np.where(
                counts.n[m, kept] > 0, counts.k[m, kept] / np.maximum(counts.n[m, kept], 1), np.nan
            )
            for m in ref
        }
    )
    return Buckets(
        labels=tuple(str(b + 1) for b in range(n_buckets)),
        index=index,
        kept=kept,
        difficulty=difficulty,
        reference_models=tuple(models.names[m] for m in ref),
        rank_correlation=rates.corr(method="spearman"),
        eligibility=eligibility,
    )

"""The pass forecast's slope shift: how often a draw's law falls, and two monotone forms.

:func:`bayescale.pass_forecast.line_shift` moves every bucket line by an intercept and a slope
shift drawn from the model-to-model scatter. The slope part, ``delta_1 ~ N(0, sigma_m^2 /
sum x^2)``, is added to ``ln(-ln p)`` times x, so a draw's law has exponents ``k_j - delta_1``,
which a positive ``k_j`` does not keep positive. This script fits the two Pythia x MATH
backtest splits (``bayescale backtest pass --ratio 2,10``: the models above max C / R held
out; default buckets; 4 chains x 1000 draws, seed 1) and scores the held-out models, on the
same posterior draws, with three forms of the shift:

- ``additive``: the shipped one;
- ``truncated``: ``delta_1`` from its normal truncated to ``delta_1 < min_j k_j`` of the draw
  (a draw beyond is mapped to ``Phi^-1(v Phi(b))``, v its tail probability beyond the bound);
- ``multiplicative``: the exponents scaled by ``exp(-delta_1 / kbar)``, kbar the draw's mean
  bucket exponent (to first order ``k_j - delta_1 k_j / kbar``).

Reported per split and form: the backtest summary (coverage at 50/80/90%, median |relative
error|, mean CRPS / truth, median relative width) over the held-out statistics, the share of
draws whose law falls with compute (per bucket and for the overall pass rate, between the
largest fitted model and 10x the largest model), and the 5/50/95% of a new model's mean pass@1
at the largest model's compute. Results: ``benchmarks/results/pass_line_shift.json``.

    python benchmarks/pass_line_shift.py --json benchmarks/results/pass_line_shift.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bayescale.pass_forecast as pf  # noqa: E402
from bayescale.backtest_scoring import summarise_cases  # noqa: E402
from bayescale.buckets import make_buckets  # noqa: E402
from bayescale.config import configure  # noqa: E402
from bayescale.laws import pass_law_log  # noqa: E402
from bayescale.pass_backtest import _pass_bayes_cases, pass_split  # noqa: E402
from bayescale.pass_data import PassColumns, PassCounts, load_pass_counts  # noqa: E402
from bayescale.pass_fit import PassFit, fit_pass  # noqa: E402
from bayescale.priors import PassPriors  # noqa: E402
from bayescale.sampling import SamplerSettings  # noqa: E402
from bayescale.seeds import forecast_stream  # noqa: E402

PYTHIA = ROOT.parent / "shared" / "data" / "pythia_math_monkeys" / "pythia_math_counts.csv"
COLUMNS = PassColumns(compute="train_flops", problem="problem_idx", n="n_samples", k="n_correct")
FORMS = ("additive", "truncated", "multiplicative")


def _truncated(z: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Standard normal draws made draws of the normal truncated to ``z < bound``."""
    from scipy.special import log_ndtr, ndtri_exp

    out = np.array(z, dtype=float)
    beyond = out >= bound
    if beyond.any():
        b = bound[beyond]
        log_v = log_ndtr(-out[beyond]) - log_ndtr(-b)
        out[beyond] = np.minimum(ndtri_exp(log_v + log_ndtr(b)), np.nextafter(b, -np.inf))
    return out


@contextmanager
def shift_form(form: str) -> Iterator[None]:
    """Swap the forecast's line shift (and its use in ``_eta``) for ``form`` while inside."""
    shipped_shift, shipped_eta = pf.line_shift, pf._eta

    def line_shift(fit: PassFit, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        d0, d1 = shipped_shift(fit, rng)
        if form != "truncated" or not d1.any():
            return d0, d1
        models = fit.data.models
        x = np.log(models.compute[models.fitted]) - fit.log_pivot
        sd = fit.draws("sigma_model") / np.sqrt(np.sum(x**2))
        return d0, sd * _truncated(d1 / sd, pf._lines(fit)[1].min(axis=1) / sd)

    def eta(
        fit: PassFit, x: np.ndarray, new: np.ndarray | None, shift: tuple[np.ndarray, np.ndarray]
    ) -> np.ndarray:
        if form != "multiplicative":
            return shipped_eta(fit, x, new, shift)
        intercept, exponent, _ = pf._lines(fit)
        scale = np.exp(-shift[1] / fit.draws("exponent").mean(axis=1))
        out = pass_law_log(
            x[None, :, None], intercept[:, None, :], (exponent * scale[:, None])[:, None, :]
        )
        out = out + shift[0][:, None, None]
        return out if new is None else out + new[:, None, :]

    pf.line_shift, pf._eta = line_shift, eta
    try:
        yield
    finally:
        pf.line_shift, pf._eta = shipped_shift, shipped_eta


def falling(fit: PassFit, form: str) -> dict[str, object]:
    """Shares of draws whose law falls with compute, and the pass rate at the largest model."""
    models = fit.data.models
    lo = float(models.compute[models.fitted].max())
    hi = float(models.compute.max())
    computes = np.geomspace(lo, 10 * hi, 13)
    with shift_form(form):
        draws = pf.pass_draws(fit, computes)
        slope = pf.line_shift(fit, forecast_stream(fit, "pass.forecast"))[1]
        at_largest = pf.pass_draws(fit, np.array([hi]))["pass_rate"].values[:, 0]
    bucket = np.diff(draws["curve_bucket_pass_rate"].values, axis=-1) < 0
    overall = np.diff(draws["curve_pass_rate"].values, axis=-1) < 0
    law = fit.draws("exponent") - (slope[:, None] if form != "multiplicative" else 0.0)
    return {
        "exponent_below_zero_per_bucket": np.round((law < 0).mean(axis=0), 4).tolist(),
        "bucket_pass_rate_falls_per_bucket": np.round(bucket.any(axis=-1).mean(axis=0), 4).tolist(),
        "overall_pass_rate_falls": round(float(overall.any(axis=-1).mean()), 4),
        "computes": [lo, 10 * hi],
        "pass_rate_at_largest_5_50_95": np.round(
            np.quantile(at_largest, [0.05, 0.5, 0.95]), 5
        ).tolist(),
    }


def one_split(counts: PassCounts, ratio: float, settings: SamplerSettings) -> dict[str, object]:
    """Fit one split and score it under every form of the shift."""
    split, cuts, _ = pass_split(counts, ratio)
    assert isinstance(split, PassCounts)
    buckets = make_buckets(split)
    start = time.perf_counter()
    fit = fit_pass(split, buckets, PassPriors(), settings, allow_unconverged=True)
    wall = time.perf_counter() - start
    forms = {}
    for form in FORMS:
        with shift_form(form):
            cases = _pass_bayes_cases(fit, cuts, 0.9)
        forms[form] = {
            **summarise_cases(cases),
            **falling(fit, form),
            "cases": cases[["case", "truth", "median", "lower", "upper", "covered"]]
            .round(5)
            .to_dict("records"),
        }
    d = fit.diagnostics
    return {
        "ratio": ratio,
        "fitted": [n for n, f in zip(split.models.names, split.models.fitted, strict=True) if f],
        "diagnostics": {"r_hat_max": d.r_hat_max, "divergences": d.divergences, "ok": d.ok},
        "sampling_wall_s": round(wall, 1),
        "forms": forms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", default="2,10")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    configure(devices=4, compilation_cache=True)
    counts = load_pass_counts(pd.read_csv(PYTHIA), columns=COLUMNS)
    settings = SamplerSettings(seed=1, draws=args.draws, progress=False)
    splits = [one_split(counts, float(r), settings) for r in args.ratios.split(",")]
    out = {"data": "pythia_math_monkeys", "splits": splits, "load_average": os.getloadavg()}
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    for s in splits:
        for form, r in s["forms"].items():  # type: ignore[attr-defined]
            print(
                f"ratio {s['ratio']:g} {form:14s} coverage {r['coverage']} "
                f"|rel err| {r['median_abs_rel_error']:.3f} crps {r['mean_crps_rel']:.3f} "
                f"width {r['median_rel_width']:.3f} falls {r['overall_pass_rate_falls']:.4f} "
                f"pass@largest {r['pass_rate_at_largest_5_50_95']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Which parameterisation of L(N, D) NUTS samples well: the pivot form against the textbook.

Both models have the same likelihood (normal on log loss) on the same simulated isoFLOP
designs (Epoch's Chinchilla law, :func:`bayescale.nd.simulate_nd_runs`); the textbook form
samples ``ln E, ln A, ln B, alpha, beta`` directly. Reported per seed: leapfrog steps per
kept draw, divergences, smallest bulk ESS and largest R-hat (load-independent measures).

Usage: ``python benchmarks/nd_geometry.py [--seeds 3] [--draws 500] [--chains 2]``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def textbook_model(data):
    import pymc as pm
    import pytensor.tensor as pt

    ln_n, ln_d = np.log(data.params), np.log(data.tokens)
    log_loss = np.log(data.loss)
    with pm.Model() as model:
        log_e = pm.Normal("log_E", np.log(0.5 * np.median(data.loss)), 1.0)
        log_a = pm.Normal("log_A", 5.0, 3.0)
        log_b = pm.Normal("log_B", 7.0, 3.0)
        alpha = pm.LogNormal("alpha", np.log(0.35), 0.5)
        beta = pm.LogNormal("beta", np.log(0.35), 0.5)
        sigma = pm.HalfNormal("sigma", 0.05)
        mean = pt.log(pt.exp(log_e) + pt.exp(log_a - alpha * ln_n) + pt.exp(log_b - beta * ln_d))
        pm.Normal("log_loss", mean, sigma, observed=log_loss)
    return model


def measure(model, settings):
    from bayescale.diagnostics import diagnose
    from bayescale.sampling import sample

    idata, _ = sample(model, settings)
    steps = float(np.asarray(idata["sample_stats"]["n_steps"]).mean())
    d = diagnose(idata)
    return {
        "steps_per_draw": steps,
        "divergences": d.divergences,
        "ess_bulk_min": d.ess_bulk_min,
        "r_hat_max": d.r_hat_max,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()
    import bayescale
    from bayescale.ladder import model_settings
    from bayescale.nd import NDPriors, load_nd_runs, simulate_nd_runs
    from bayescale.nd_model import build_nd_model
    from bayescale.sampling import SamplerSettings

    bayescale.configure(devices=args.chains, compilation_cache=True)
    rows = []
    for seed in range(args.seeds):
        data = load_nd_runs(simulate_nd_runs(seed, budgets=np.geomspace(1e18, 1e18 * 3**4, 5)))
        settings = model_settings(
            SamplerSettings(draws=args.draws, tune=args.draws, chains=args.chains, seed=seed),
            "loss",
        )
        rows.append(
            {
                "seed": seed,
                # the textbook's likelihood: sigma sampled with a half-normal prior
                "pivot": measure(
                    build_nd_model(data, NDPriors(scatter_prior="halfnormal")), settings
                ),
                "textbook": measure(textbook_model(data), settings),
            }
        )
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()

"""PSIS-LOO of L(C) against L(N, D) on the same runs (ArviZ's ``loo`` / ``compare``).

Both models are fitted to the same table with the same likelihood (normal on log loss), so
their pointwise log densities of the observed log losses are comparable: L(C) sees compute
only (6·N·D), L(N, D) sees N and D. Cases: the OLMo-2 ladder (C4-en, 30 runs), Gadre et al.
(11M-411M, three corpora) and a simulated isoFLOP design (Epoch's law).

Usage: ``python benchmarks/nd_loo.py [--draws 500 --chains 2]``; writes
``benchmarks/results/nd_loo.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

DATA = Path(os.environ.get("BAYESCALE_DATA", "/work/shared/data"))
OUT = Path(__file__).parent / "results" / "nd_loo.json"


def tables() -> dict[str, pd.DataFrame]:
    from bayescale.nd import simulate_nd_runs

    olmo = pd.read_csv(DATA / "olmo_ladder" / "olmo_ladder_final.csv")
    olmo = olmo[olmo["role"] == "ladder"]
    gadre = pd.read_csv(DATA / "gadre_overtrain" / "gadre_losses.csv")
    gadre = gadre[~gadre["model"].isin(["open_lm_1b", "open_lm_7b"])]
    return {
        "olmo_c4": pd.DataFrame(
            {
                "params": olmo["params_nonembed"],
                "tokens": olmo["tokens"],
                "loss": olmo["loss_c4_en"],
                "group": "c4_en",
            }
        ),
        "gadre": pd.DataFrame(
            {
                "params": gadre["params"].astype(float),
                "tokens": gadre["tokens"].astype(float),
                "loss": gadre["loss_c4_val"],
                "group": gadre["dataset"],
            }
        ),
        "simulated": simulate_nd_runs(0).assign(group="all"),
    }


def with_log_likelihood(model, idata):
    import pymc as pm

    with model:
        return pm.compute_log_likelihood(idata, extend_inferencedata=False, progressbar=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()
    import arviz_stats
    import xarray as xr

    import bayescale
    from bayescale.data import load_loss_runs
    from bayescale.loss_fit import fit_loss
    from bayescale.loss_model import build_loss_model
    from bayescale.nd import NDPriors, fit_nd, load_nd_runs
    from bayescale.nd_model import build_nd_model
    from bayescale.sampling import SamplerSettings

    bayescale.configure(devices=args.chains, compilation_cache=True)
    settings = SamplerSettings(draws=args.draws, tune=args.draws, chains=args.chains, seed=1)
    out = {}
    for name, frame in tables().items():
        nd_data = load_nd_runs(frame)
        lc_data = load_loss_runs(
            pd.DataFrame({"compute": nd_data.compute, "loss": nd_data.loss, "group": nd_data.group})
        )
        nd = fit_nd(nd_data, settings=settings, allow_unconverged=True)
        lc = fit_loss(lc_data, settings=settings, allow_unconverged=True)
        trees = {}
        for label, fit, model in (
            # sigma sampled (not integrated out): a pointwise likelihood given the drawn sigma
            ("L(N, D)", nd, build_nd_model(nd_data, NDPriors(scatter_prior="halfnormal"))),
            ("L(C)", lc, build_loss_model(lc_data)),
        ):
            ll = with_log_likelihood(model, fit.idata)
            tree = fit.idata.copy()
            if isinstance(ll, xr.DataTree):
                ll = ll["log_likelihood"].to_dataset()
            tree["log_likelihood"] = xr.DataTree(ll)
            trees[label] = tree
        comparison = arviz_stats.compare(trees)
        out[name] = {
            "runs": int(nd_data.fitted.sum()),
            "compare": json.loads(comparison.to_json(orient="index")),
            "diagnostics_ok": {"L(N, D)": nd.diagnostics.ok, "L(C)": lc.diagnostics.ok},
        }
        print(name, comparison[["elpd", "p", "elpd_diff", "dse", "weight"]], flush=True)
        OUT.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()

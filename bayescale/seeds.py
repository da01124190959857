"""Every random stream of a fit and its forecasts, from one root seed by name.

A stream is ``SeedSequence([root, *key])`` with the key's words (integers as they are,
strings by CRC-32), so two streams with different keys never share draws, however the roots
are chosen (``seed + 1`` offsets could: the held-out draws of seed 0 were the forecast draws
of seed 1). The sampler uses the root itself (PyMC's numpyro path derives its chains from it).

A forecast's root is the fit's ``forecast_seed`` when one was given (``bayescale forecast
--seed``), else the sampler's seed; the two are recorded apart. Fits saved before keyed
streams (no ``random_streams`` attribute) keep their old derivation, ``streams="offsets"``, so
they reproduce their numbers. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

import zlib
from typing import Any, Literal

import numpy as np

Streams = Literal["keyed", "offsets"]
#: Root attribute of a saved fit naming its streams (absent in fits saved before them).
STREAMS_ATTR = "random_streams"
#: Root attribute of a saved fit with the seed of its forecasts, when not the sampler's.
FORECAST_SEED_ATTR = "forecast_seed"
#: The offsets from the seed of fits saved before keyed streams, per forecast stream.
LEGACY_OFFSETS = {
    "loss.forecast": 0,
    "loss.held_out": 1,  # drawn since; such fits keep no loss_sd, so only the API reaches it
    "pass.forecast": 0,
    "pass.held_out": 1,
    "pass.parameters": 0,
    "pass.discrepancy": 2,  # not drawn: such fits predate the law discrepancy (s = 0)
}


def key_seed(root: int, *key: int | str) -> int:
    """An integer seed of its own for the stream ``key`` of ``root``.

    ``key`` names the stream independently of any position (a backtest uses the method, the
    ratio and the group), so it draws the same way whatever else runs with it.

    Examples
    --------
    >>> key_seed(0, "a") == key_seed(0, "a") != key_seed(0, "b")
    True
    """
    words = [root, *(k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key)]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def stream(root: int, *key: int | str) -> np.random.Generator:
    """The random stream ``key`` of ``root`` (see :func:`key_seed`)."""
    words = [root, *(k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key)]
    return np.random.default_rng(np.random.SeedSequence(words))


def forecast_root(fit: Any, seed: int | None = None) -> int:
    """The root of a fit's forecast streams: ``seed``, its ``forecast_seed``, or the sampler's."""
    if seed is not None:
        return int(seed)
    own = getattr(fit, "forecast_seed", None)
    return int(fit.settings.seed if own is None else own)


def forecast_stream(fit: Any, key: str, seed: int | None = None) -> np.random.Generator:
    """The forecast stream ``key`` of a fit (the old offsets for fits saved before keys)."""
    root = forecast_root(fit, seed)
    if getattr(fit, "streams", "keyed") == "offsets":
        return np.random.default_rng(root + LEGACY_OFFSETS[key])
    return stream(root, key)

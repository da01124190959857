r"""Scaling laws as small pure functions.

Each law is written once and evaluated the same way on NumPy arrays (forecasts, plots, least
squares baselines) and on PyTensor tensors (inside the PyMC model): the array namespace is an
argument, ``xp=numpy`` by default, ``xp=pytensor.tensor`` in the model. Nothing here imports
PyMC or JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ArrayLike = Any


def loss_law(log_compute: ArrayLike, a: ArrayLike, b: ArrayLike, c: ArrayLike, xp: Any = np) -> Any:
    r"""Final loss of a run as a power law in compute plus an irreducible loss.

    .. math::

        L(C) = a \, C^{b} + c, \qquad a > 0,\; b < 0,\; c \ge 0,

    the form of the GPT-4 technical report (OpenAI 2023, §3.1). ``C`` is training compute in
    FLOPs; it is passed as ``log_compute = ln C`` so that ``C^b = exp(b ln C)`` stays finite for
    any compute.

    Parameters
    ----------
    log_compute
        Natural log of training compute in FLOPs.
    a, b, c
        Scale, exponent (negative) and irreducible loss, broadcastable against ``log_compute``.
    xp
        Array namespace providing ``exp`` (``numpy`` or ``pytensor.tensor``).

    Returns
    -------
    Loss at that compute, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(loss_law(np.log(1e20), a=100.0, b=-0.1, c=1.5)), 9)
    2.5
    """
    return a * xp.exp(b * log_compute) + c


def loss_law_pivot(
    x: ArrayLike,
    level: ArrayLike,
    reducible: ArrayLike,
    exponent: ArrayLike,
    xp: Any = np,
) -> Any:
    r"""The loss law centred at a pivot compute, the parameterisation the model samples.

    .. math::

        L(C) = \ell \left[(1 - f) + f \, e^{-k x}\right], \qquad x = \ln C - \ln C_0,

    with :math:`\ell > 0` the loss at the pivot :math:`C_0`, :math:`f \in (0, 1)` the reducible
    share of that loss and :math:`k > 0` the exponent. It is the same curve as
    :func:`loss_law` with

    .. math::

        a = \ell f \, C_0^{k}, \qquad b = -k, \qquad c = \ell (1 - f).

    The data pin down :math:`\ell` (the level where runs are dense) almost exactly, so the
    posterior has no long ridge between ``a`` and ``c``, which is what makes NUTS fast here.

    Parameters
    ----------
    x
        Log compute relative to the pivot, ``ln C - ln C0``.
    level, reducible, exponent
        :math:`\ell`, :math:`f` and :math:`k`.
    xp
        Array namespace providing ``exp``.

    Returns
    -------
    Loss at that compute.

    Examples
    --------
    >>> float(loss_law_pivot(0.0, level=3.0, reducible=0.5, exponent=0.1))
    3.0
    """
    return level * ((1.0 - reducible) + reducible * xp.exp(-exponent * x))


def pivot_to_user(
    level: ArrayLike, reducible: ArrayLike, exponent: ArrayLike, log_pivot: float
) -> tuple[Any, Any, Any]:
    r"""Convert pivot parameters to the report's ``(a, b, c)`` in FLOPs.

    Parameters
    ----------
    level, reducible, exponent
        :math:`\ell`, :math:`f`, :math:`k` of :func:`loss_law_pivot` (NumPy arrays).
    log_pivot
        :math:`\ln C_0`.

    Returns
    -------
    a, b, c
        Arrays such that ``loss_law(ln C, a, b, c) == loss_law_pivot(ln C - ln C0, ...)``.
    """
    level = np.asarray(level)
    reducible = np.asarray(reducible)
    exponent = np.asarray(exponent)
    a = level * reducible * np.exp(exponent * log_pivot)
    return a, -exponent, level * (1.0 - reducible)


def pass_law_log(log_compute: ArrayLike, log_alpha: ArrayLike, k: ArrayLike) -> Any:
    r"""The GPT-4 report's capability law in log space: :math:`\ln(-E[\ln p])`.

    .. math::

        -E[\ln p(C)] = \alpha C^{-k}
        \quad\Longleftrightarrow\quad
        \ln(-E[\ln p]) = \ln\alpha - k \ln C

    ``log_compute`` may be centred (:math:`\ln C - \ln C_0`), ``log_alpha`` is then the level at
    the pivot. Works on NumPy and PyTensor alike (no namespace needed: a line).

    Examples
    --------
    >>> float(pass_law_log(2.0, log_alpha=1.0, k=0.5))
    0.0
    """
    return log_alpha - k * log_compute


def pass_law(log_compute: ArrayLike, log_alpha: ArrayLike, k: ArrayLike, xp: Any = np) -> Any:
    r""":math:`-E[\ln p] = \alpha C^{-k}` (the exponential of :func:`pass_law_log`).

    Examples
    --------
    >>> round(float(pass_law(np.log(1e20), np.log(3.0) + 0.2 * np.log(1e20), 0.2)), 9)
    3.0
    """
    return xp.exp(pass_law_log(log_compute, log_alpha, k))


def pass_logit(eta: ArrayLike, xp: Any = np) -> Any:
    r"""Logit of the pass probability for :math:`\ln(-\ln p) = \eta`.

    :math:`\operatorname{logit} p = \ln p - \ln(1 - p)` with :math:`\ln p = -e^\eta`, stable for
    :math:`p` near 0 and 1.

    Examples
    --------
    >>> p = np.exp(-np.exp(0.3))
    >>> bool(np.isclose(pass_logit(0.3), np.log(p / (1 - p))))
    True
    """
    neg_log_p = xp.exp(eta)
    log1mexp = getattr(xp, "log1mexp", None)
    if log1mexp is None:
        return -neg_log_p - xp.log(-xp.expm1(-neg_log_p))
    return -neg_log_p - log1mexp(-neg_log_p)


def nd_law(
    log_params: Any, log_tokens: Any, E: Any, A: Any, alpha: Any, B: Any, beta: Any, xp: Any = np
) -> Any:
    r"""Loss of a run with ``N`` parameters trained on ``D`` tokens (Hoffmann et al. 2022).

    .. math::

        L(N, D) = E + A\,N^{-\alpha} + B\,D^{-\beta}

    Parameters
    ----------
    log_params, log_tokens
        :math:`\ln N`, :math:`\ln D`.
    E, A, alpha, B, beta
        Irreducible loss, scales and exponents (broadcastable).
    xp
        Array namespace providing ``exp`` (``numpy`` or ``pytensor.tensor``).

    Examples
    --------
    >>> round(float(nd_law(np.log(1e9), np.log(2e10), 1.82, 482.0, 0.348, 2085.0, 0.366)), 4)
    2.5296
    """
    return E + A * xp.exp(-alpha * log_params) + B * xp.exp(-beta * log_tokens)


def nd_law_pivot(
    x: Any,
    y: Any,
    level: Any,
    reducible: Any,
    share: Any,
    alpha: Any,
    beta: Any,
    xp: Any = np,
) -> Any:
    r"""The law at a pivot ``(N0, D0)``, the parameterisation the model samples.

    .. math::

        L = \ell\left[(1 - f) + f\left(w\,e^{-\alpha x} + (1 - w)\,e^{-\beta y}\right)\right],
        \quad x = \ln N - \ln N_0,\; y = \ln D - \ln D_0,

    with :math:`\ell` the loss at the pivot, :math:`f` its reducible share and :math:`w` the
    share of that reducible loss owed to finite N. The same surface as :func:`nd_law` with
    :math:`E = \ell(1-f)`, :math:`A = \ell f w N_0^\alpha`, :math:`B = \ell f (1-w) D_0^\beta`
    (:func:`nd_pivot_to_user`).

    Examples
    --------
    >>> float(nd_law_pivot(0.0, 0.0, level=3.0, reducible=0.5, share=0.5, alpha=0.3, beta=0.3))
    3.0
    """
    return level * (
        (1.0 - reducible)
        + reducible * (share * xp.exp(-alpha * x) + (1.0 - share) * xp.exp(-beta * y))
    )


def nd_pivot_to_user(
    level: Any, reducible: Any, share: Any, alpha: Any, beta: Any, log_pivot: tuple[float, float]
) -> tuple[Any, Any, Any]:
    r"""``(E, A, B)`` of :func:`nd_law` from the pivot parameters and :math:`(\ln N_0, \ln D_0)`."""
    level, reducible, share = np.asarray(level), np.asarray(reducible), np.asarray(share)
    E = level * (1.0 - reducible)
    A = level * reducible * share * np.exp(np.asarray(alpha) * log_pivot[0])
    B = level * reducible * (1.0 - share) * np.exp(np.asarray(beta) * log_pivot[1])
    return E, A, B

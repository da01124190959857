"""Saved fits: a self-describing NetCDF ``DataTree`` that answers new questions without sampling.

``fit.nc`` holds the PyMC groups (``posterior``, ``sample_stats``; accuracy fits also
``observed_data`` and ``constant_data``); a
``bayescale_runs`` group with the whole input table of a loss fit (fitted and held-out runs),
or a ``bayescale_pass`` group with the counts or rates and the buckets of a pass-rate fit; and
in the root attributes the format tag, the bayescale version that wrote it, the SHA-256 of the
data, the priors, the sampler settings, the pivot and the forecast options. :func:`load_fit`
checks all of it and refuses a file it cannot trust with an
:class:`~bayescale.errors.InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from bayescale.display import Summarised
from bayescale.errors import InputError
from bayescale.registry import Law, get_law, law_of, laws
from bayescale.saved_format import SPEC_ATTR, attr_json, open_tree, root_attrs, write_tree
from bayescale.targets import check_targets

if TYPE_CHECKING:
    from bayescale.data import LossData
    from bayescale.loss_fit import LossFit
    from bayescale.pass_data import PassAggregate, PassCounts
    from bayescale.pass_fit import PassFit
    from bayescale.pass_pipeline import PassOptions, PassResult
    from bayescale.pipeline import LossOptions, LossResult


def save_fit(
    fit: Any,
    path: str | Path,
    options: dict[str, Any] | None = None,
    spec: str | None = None,
) -> Path:
    """Write a fit of any registered law to ``path`` (NetCDF4 via h5netcdf).

    Parameters
    ----------
    fit
        The fit to save (:class:`~bayescale.loss_fit.LossFit`,
        :class:`~bayescale.pass_fit.PassFit`, or another registered law's).
    path
        Destination, conventionally ``DIR/fit.nc``.
    options
        Forecast options to remember (targets, interval, requirement, confidence).
    spec
        Text of the spec file the run came from, kept verbatim (see :func:`saved_spec`).

    Returns
    -------
    pathlib.Path
    """
    law = law_of(fit)
    group, digest, extra = law.encode(fit)
    tree = fit.idata.copy()
    tree[law.data_group] = xr.DataTree(group)
    tree.attrs = root_attrs(fit, law.name, digest, options, spec) | extra
    return write_tree(tree, Path(path))


def save_loss_fit(
    fit: LossFit,
    path: str | Path,
    options: dict[str, Any] | None = None,
    spec: str | None = None,
) -> Path:
    """Write a loss fit to ``path``: :func:`save_fit`, refusing any other law's fit.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if law_of(fit).name != "loss":
        raise InputError(f"save_loss_fit: a {law_of(fit).name} fit; use save_fit.")
    return save_fit(fit, path, options, spec)


@dataclass(frozen=True, repr=False)
class SavedFit(Summarised):
    """A saved fit as loaded: the fit (with its data), the options it was run with, the spec.

    Attributes
    ----------
    fit
        The :class:`~bayescale.loss_fit.LossFit` or :class:`~bayescale.pass_fit.PassFit`; its
        ``data`` holds the table it was fitted on (fitted and held-out rows).
    options
        The run's :class:`~bayescale.pipeline.LossOptions` or
        :class:`~bayescale.pass_pipeline.PassOptions` (targets, interval, rule, priors, sampler).
    path
        The file it was read from.
    spec
        The TOML text of the spec it was run from (``bayescale run``), else ``None``.

    Examples
    --------
    >>> saved = load_fit("out/fit.nc")  # doctest: +SKIP
    >>> saved.result(targets=5e23).decisions  # doctest: +SKIP
    """

    fit: LossFit | PassFit
    options: LossOptions | PassOptions
    path: Path
    spec: str | None = None

    @property
    def data(self) -> LossData | PassCounts | PassAggregate:
        """The table the fit was made on."""
        return self.fit.data

    @property
    def kind(self) -> str:
        """The fit's law: ``"loss"``, ``"pass"``, or another registered law's name."""
        return law_of(self.fit).name

    def result(
        self, targets: float | list[float] | np.ndarray | None = None, **changes: Any
    ) -> LossResult | PassResult:
        """Forecast again without sampling.

        The saved options are used, with ``targets`` and any other option (``requirement``,
        ``confidence``, ``interval``, ``allow_backcast``, ...) changed.
        """
        if targets is not None:
            # none is an answer for laws with other targets (planned L(N, D) runs)
            changes["targets"] = tuple(check_targets(targets).tolist()) if np.size(targets) else ()
        options = replace(self.options, **changes)
        return law_of(self.fit).result_from_fit(self.fit, options)

    def _summary(self) -> tuple[str, list[tuple[str, str]]]:
        _, rows = self.fit._summary()
        o = self.options
        rows = [
            ("file", str(self.path)),
            *rows,
            *_targets_rows(o),
            ("rule", f"{o.requirement} at confidence {o.confidence:g}" if o.requirement else "—"),
        ]
        return f"SavedFit ({self.kind})", rows


def _targets_rows(options: Any) -> list[tuple[str, str]]:
    """Summary rows of a saved run's targets, each kind when given.

    Computes in FLOPs (an L(N, D) fit's budgets), and the ``N:D`` pairs of planned runs
    (L(N, D) and accuracy fits).
    """
    computes = ", ".join(f"{t:.3g}" for t in options.targets)
    runs = ", ".join(":".join(f"{v:.3g}" for v in r) for r in getattr(options, "runs", ()))
    named = "budgets" if hasattr(options, "budgets") else "targets"
    rows = [(named, f"{computes} FLOPs")] if computes else []
    rows += [("planned runs", runs)] if runs else []
    return rows or [("targets", "—")]


def _saved_options(fit: Any, kept: dict[str, Any]) -> Any:
    """The options of the run that saved ``fit``, from what the file remembers."""
    values: dict[str, Any] = {
        "targets": tuple(float(t) for t in kept.get("targets", ())),
        "interval": kept.get("interval", 0.9),
        "requirement": kept.get("requirement"),
        "confidence": kept.get("confidence", 0.9),
        "value": kept.get("value"),
        "cost_per_flop": kept.get("cost_per_flop"),
        "fit_max_compute": fit.data.fit_max_compute,
        "sampler": fit.settings,
    }
    return law_of(fit).saved_options(fit, values, kept)


def load_fit(path: str | Path) -> SavedFit:
    """Read any saved fit (loss or pass rate), check that it is intact, and return it whole.

    Returns
    -------
    SavedFit
        The fit with its data, the options it was run with, and its spec.

    Raises
    ------
    InputError
        When the file is missing, not NetCDF, not a bayescale fit, of a newer format, or its
        data do not match their recorded hash.
    """
    fit, kept, spec = _read(Path(path))
    return SavedFit(
        fit=fit,
        options=_saved_options(fit, kept),
        path=Path(path),
        spec=None if spec is None else str(spec),
    )


def read_fit(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Read any saved fit (loss or pass rate) and check that it is intact.

    The low-level reader of :func:`load_fit`.

    Returns
    -------
    fit, options
        The fit and the forecast options it was saved with, as stored (a dict).

    Raises
    ------
    InputError
        When the file is missing, not NetCDF, not a bayescale fit, of a newer format, or its
        data do not match their recorded hash.
    """
    fit, options, _ = _read(Path(path))
    return fit, options


def _read(path: Path) -> tuple[Any, dict[str, Any], str | None]:
    """The fit, its stored options and its spec text, from one opening of the file."""
    tree = open_tree(path, lambda kind: _law_of_file(kind, path).data_group)
    law = _law_of_file(str(tree.attrs.get("kind", "loss")), path)
    try:
        fit = law.decode(tree, path)
    except (KeyError, ValueError, TypeError) as exc:  # a damaged or hand-edited file
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"{path}: saved fit is damaged ({type(exc).__name__}: {exc}). Fit again."
        ) from None
    spec = tree.attrs.get(SPEC_ATTR)
    return fit, attr_json(tree, "options", path), None if spec is None else str(spec)


def load_loss_fit(path: str | Path) -> tuple[LossFit, dict[str, Any]]:
    """Read a loss fit written by :func:`save_loss_fit` as ``(fit, options dict)``.

    See :func:`read_fit`; :func:`load_fit` returns the fit, its options and data as one object.

    Returns
    -------
    tuple[LossFit, dict]
        The fit and the options it was saved with.
    """
    fit, options = read_fit(path)
    kind = law_of(fit).name
    if kind != "loss":
        what = "pass-rate" if kind == "pass" else kind
        raise InputError(f"{path}: this is a {what} fit, not a loss fit.")
    return fit, options


def _law_of_file(kind: str, path: Path) -> Law:
    """The registered law of a saved fit's ``kind`` (that law's modules alone imported)."""
    try:
        return get_law(kind)
    except InputError:
        raise InputError(
            f"{path}: a saved fit of law '{kind}', which this bayescale does not know "
            f"(known: {', '.join(laws())}); register the law first, or upgrade bayescale."
        ) from None


def saved_spec(path: str | Path) -> str | None:
    """The text of the spec a saved fit was run from, or ``None`` (no spec, or an old file)."""
    path = Path(path)
    tree = open_tree(path, lambda kind: _law_of_file(kind, path).data_group)
    text = tree.attrs.get(SPEC_ATTR)
    return None if text is None else str(text)

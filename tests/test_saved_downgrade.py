"""A saved fit cannot escape its digests by claiming an older format.

Formats 1 and 2 (bayescale 0.1.0) record no digests of the draws and settings. A current file
lowered to format 2, with its digests removed and its draws edited, is refused because it holds
what only newer writers write; a genuine old file loads, but every result from it (and every
fit saved from it) says in its ``warnings`` that it is unverified; and a loss posterior whose
deterministic variables disagree with the variables they are computed from is refused.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import xarray as xr

from bayescale.cli import main
from bayescale.errors import InputError
from bayescale.saved import load_fit, read_fit, save_fit
from bayescale.saved_format import integrity_digests
from tests.helpers import edited_fit

DATA = Path(__file__).parent / "data"
V010 = DATA / "loss_fit_v0.1.0.nc"
RULE = "web.loss<=2.6"
#: The root attribute that marks a fit from a file without digests (docs/formats.md).
UNVERIFIED = "unverified"


@pytest.fixture(scope="module")
def verified(tmp_path_factory) -> Path:
    """A loss fit in the current format, as a freshly sampled fit is saved (no marker)."""
    fit, options = read_fit(V010)
    fit.idata.attrs.pop(UNVERIFIED, None)  # a sampled fit has none
    return save_fit(fit, tmp_path_factory.mktemp("fits") / "fit.nc", options)


def _json_attr(tree: xr.DataTree, key: str, change) -> None:
    values = json.loads(tree.attrs[key])
    change(values)
    tree.attrs[key] = json.dumps(values)


def _posterior(tree: xr.DataTree, change) -> None:
    ds = tree["posterior"].to_dataset(inherit=False)
    tree["posterior"] = xr.DataTree(change(ds))


def _reviewer(tree: xr.DataTree) -> None:
    """The review's attack: format 2, no digests, no law discrepancy, a steeper exponent."""
    tree.attrs["bayescale_format_version"] = "2"
    del tree.attrs["bayescale_sha256"]
    _json_attr(tree, "priors", lambda p: p.update(discrepancy_exponent_sd=0.0))
    _posterior(tree, lambda ds: ds.assign(exponent=ds["exponent"] * 1.5))


def _as_format_2(tree: xr.DataTree) -> None:
    """What a format-2 writer (bayescale 0.1.0) wrote: none of the newer attributes or keys."""
    tree.attrs["bayescale_format_version"] = 2
    tree.attrs["bayescale_version"] = "0.1.0"
    for key in ("bayescale_sha256", "random_streams", "diagnostics", "loo_below", UNVERIFIED):
        tree.attrs.pop(key, None)
    for key in ("scatter_prior", "scatter_median", "scatter_shape"):
        _json_attr(tree, "priors", lambda p, key=key: p.pop(key))
    _json_attr(tree, "columns", lambda c: c.pop("loss_sd", None))


def test_the_reviewers_downgrade_is_refused(verified, tmp_path, capsys):
    path = edited_fit(verified, tmp_path / "fit_v2.nc", _reviewer)
    with pytest.raises(InputError, match="claims saved-fit format 2") as err:
        load_fit(path)
    message = str(err.value)
    assert "newer bayescale" in message and "modified" in message
    assert "bayescale_version '0.2.0.dev0'" in message and "'random_streams'" in message
    out = tmp_path / "x.json"
    args = ["forecast", str(path), "--target-compute", "1e23", "--require", RULE, "--quiet"]
    assert main([*args, "--allow-unconverged", "--json", str(out)]) == 2
    assert "claims saved-fit format 2" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("newer", "named"),
    [
        (lambda t: t.attrs.update(bayescale_version="0.2.0.dev0"), "bayescale_version"),
        (lambda t: t.attrs.update(random_streams="keyed"), "'random_streams'"),
        (lambda t: t.attrs.update(loo_below="{}"), "'loo_below'"),
        (lambda t: t.attrs.update(diagnostics="{}"), "'diagnostics'"),
        (lambda t: t.attrs.update(bayescale_sha256="{}"), "'bayescale_sha256'"),
        (lambda t: t.attrs.update(unverified="saved-fit format 1"), f"'{UNVERIFIED}'"),
        (
            lambda t: _json_attr(t, "priors", lambda p: p.update(scatter_prior="inverse_gamma")),
            "priors key 'scatter_prior'",
        ),
        (
            lambda t: _json_attr(t, "columns", lambda c: c.update(loss_sd=None)),
            "columns key 'loss_sd'",
        ),
    ],
    ids=["version", "streams", "loo", "diagnostics", "digests", "marker", "prior", "column"],
)
def test_anything_only_newer_writers_write_betrays_a_lowered_format(
    verified, tmp_path, newer, named
):
    path = edited_fit(verified, tmp_path / "v2.nc", lambda t: (_as_format_2(t), newer(t)))
    with pytest.raises(InputError, match="claims saved-fit format 2") as err:
        load_fit(path)
    assert named in str(err.value)


def test_a_file_as_format_2_wrote_it_loads_and_its_results_say_unverified(
    verified, tmp_path, caplog
):
    with caplog.at_level(logging.WARNING, logger="bayescale"):
        saved = load_fit(edited_fit(verified, tmp_path / "v2.nc", _as_format_2))
    assert "format 2" in caplog.text and "unverified" in caplog.text
    assert saved.fit.data.groups == ("web", "code")
    result = saved.result(targets=1e23, requirement=RULE)
    assert any("unverified" in w and "format 2" in w for w in result.warnings)
    assert result.document()["warnings"] == list(result.warnings)


def test_a_verified_fit_gives_no_such_warning(verified):
    result = load_fit(verified).result(targets=1e23, requirement=RULE)
    assert not any("unverified" in w for w in result.warnings)


def test_an_edited_exponent_is_caught_in_a_file_without_digests(verified, tmp_path):
    def steeper(tree):
        _as_format_2(tree)
        _posterior(tree, lambda ds: ds.assign(exponent=ds["exponent"] * 1.5))

    with pytest.raises(InputError, match=r"'exponent' is not slope / reducible"):
        load_fit(edited_fit(verified, tmp_path / "v2.nc", steeper))


def test_an_edited_exponent_is_caught_under_rewritten_digests(verified, tmp_path):
    # the review's laundered file: a format-3 file whose digests were written after the edit
    def launder(tree):
        _posterior(tree, lambda ds: ds.assign(exponent=ds["exponent"] * 1.5))
        tree.attrs["bayescale_sha256"] = json.dumps(integrity_digests(tree))

    with pytest.raises(InputError, match=r"'b' is not -exponent"):
        load_fit(edited_fit(verified, tmp_path / "laundered.nc", launder))


@pytest.mark.parametrize("name", ["b", "c", "a", "level"])
def test_each_deterministic_is_checked_against_its_inputs(verified, tmp_path, name):
    def edit(tree):
        _as_format_2(tree)
        _posterior(tree, lambda ds: ds.assign({name: ds[name] * 1.01}))

    with pytest.raises(InputError, match=f"in the posterior, .*'{name}' is not"):
        load_fit(edited_fit(verified, tmp_path / "v2.nc", edit))


def test_an_edited_bucket_exponent_is_caught_in_a_pass_file_without_digests(tmp_path):
    def steeper(tree):
        _posterior(tree, lambda ds: ds.assign(exponent=ds["exponent"] * 1.5))

    path = edited_fit(DATA / "pass_fit_v0.1.0.nc", tmp_path / "pass.nc", steeper)
    with pytest.raises(InputError, match=r"'exponent' is not exp\(log_exponent\)"):
        load_fit(path)


def test_an_old_file_warns_in_the_document_and_report_and_its_saved_fit_stays_unverified(
    tmp_path, capsys
):
    out, doc = tmp_path / "out", tmp_path / "f.json"
    args = ["forecast", str(V010), "--target-compute", "1e23", "--require", RULE, "--quiet"]
    assert main([*args, "--allow-unconverged", "--json", str(doc), "--out", str(out)]) == 0
    document = json.loads(doc.read_text())
    warned = [w for w in document["warnings"] if "unverified" in w]
    assert len(warned) == 1 and "format 1" in warned[0]
    # "ok" is the convergence gate (CONTRACT §3-4): this fixture fails it, by its draws alone
    assert document["diagnostics"]["ok"] is False
    assert "unverified" in (out / "report.md").read_text()
    # no laundering: the fit saved from it is format 3 and still says where it came from
    resaved = xr.open_datatree(out / "fit.nc", engine="h5netcdf")
    assert int(resaved.attrs["bayescale_format_version"]) == 3
    assert "format 1" in resaved.attrs[UNVERIFIED]
    again = load_fit(out / "fit.nc").result(targets=1e23, requirement=RULE)
    assert [w for w in again.warnings if "unverified" in w] == warned
    # and the marker is digested: removing it is refused
    stripped = edited_fit(
        out / "fit.nc", tmp_path / "stripped.nc", lambda t: t.attrs.pop(UNVERIFIED)
    )
    with pytest.raises(InputError, match=f"attribute '{UNVERIFIED}' removed"):
        load_fit(stripped)

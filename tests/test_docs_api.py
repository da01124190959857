"""docs/api.md runs as a notebook: its ``python`` cells in order, in one namespace.

Cells fenced as ``py`` are shown but not run (they would sample a second model).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
CELLS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_api_doc_has_the_notebook_cells():
    text = "\n".join(CELLS)
    for call in ("fit_loss", "forecast_loss", "decide_loss", "plot_forecast", "load_fit"):
        assert f"bs.{call}(" in text
    assert "write_loss_outputs" in text


@pytest.mark.sampling
def test_api_doc_runs_as_a_notebook(tmp_path, monkeypatch, capsys):
    import bayescale as bs

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for i, cell in enumerate(CELLS):
        exec(compile(cell, f"docs/api.md cell {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "GO" in out and "refused:" in out and "point-fit bootstrap" in out
    assert (tmp_path / "out" / "fit.nc").is_file() and (tmp_path / "forecast.png").is_file()
    assert isinstance(namespace["saved"], bs.SavedFit)
    assert namespace["chosen"].groups == ("c4/1", "rpj/1")  # type: ignore[attr-defined]
    assert "beyond the largest fitted run" in namespace["far"].warnings[0]  # type: ignore[attr-defined]

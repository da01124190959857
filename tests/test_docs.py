"""The documentation stays true: links resolve, generated tables match, no change diary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bayescale.backtest_report import calibration_markdown

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "models" / "README.md", *DOCS]
# [text](target) outside code spans; images too
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", flags=re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def _prose(text: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _links(page: Path) -> list[str]:
    return LINK.findall(_prose(page.read_text()))


def test_docs_exist_and_index_lists_them():
    names = {p.name for p in DOCS}
    assert {"index.md", "formats.md", "model.md", "calibration.md"} <= names
    index = (ROOT / "docs" / "index.md").read_text()
    unlisted = [n for n in names - {"index.md"} if f"]({n})" not in index]
    assert not unlisted, f"docs/index.md does not link {unlisted}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        missing_anchor = anchor and dest.suffix == ".md" and anchor not in _anchors(dest)
        if not dest.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_link_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [gone](missing.md) `[code](also-missing.md)`\n")
    assert _links(page) == ["page.md", "missing.md"]


# Phrases of a change diary: the docs say what is true now, history lives in commits.
DIARY = re.compile(
    r"until this version|in this version|the last version|the version before|"
    r"\bsession \d|\bissue \d|\bissue #\d|\(was \d",
    flags=re.I,
)


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *DOCS], ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_change_diary(page):
    found = DIARY.findall(page.read_text())
    assert not found, f"{page.relative_to(ROOT)} reads like a change diary: {found}"


def test_calibration_page_table_matches_results_json():
    path = ROOT / "benchmarks" / "results" / "calibration.json"
    if not path.is_file():
        pytest.skip("benchmarks/results/calibration.json not written yet (make bench)")
    summary = json.loads(path.read_text())["summary"]
    assert calibration_markdown(summary) in (ROOT / "docs" / "calibration.md").read_text()


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


PYTHON_PAGES = [  # docs/api.md runs as one notebook in tests/test_docs_api.py
    page for page in DOCS if "```python" in page.read_text() and page.name != "api.md"
]


@pytest.mark.slow
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=[p.name for p in PYTHON_PAGES])
def test_docs_python_examples_run(page, tmp_path, monkeypatch, capsys):
    # a page's ``python`` blocks run in order in one namespace (``py`` blocks are only shown)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S):
        exec(compile(block, str(page), "exec"), namespace)
    assert "GO" in capsys.readouterr().out


def test_module_constants_named_in_the_docs_exist():
    # docs/reliability.md named `forecast.MAX_TARGETS`, which lives in bayescale.targets
    import importlib
    import pkgutil

    import bayescale

    modules = {m.name for m in pkgutil.iter_modules(bayescale.__path__)} - {"__main__"}
    named = {
        (page.name, module, constant)
        for page in [
            ROOT / "README.md",
            ROOT / "ARCHITECTURE.md",
            ROOT / "models" / "README.md",
            *DOCS,
        ]
        for module, constant in re.findall(
            r"`(?:bayescale\.)?([a-z_]+)\.([A-Z][A-Z0-9_]+)`", page.read_text()
        )
        if module in modules
    }
    missing = [
        f"{page}: {module}.{constant}"
        for page, module, constant in sorted(named)
        if not hasattr(importlib.import_module(f"bayescale.{module}"), constant)
    ]
    assert not missing, missing

"""ARCHITECTURE.md's module map stays true: one row per module of the package, no stale rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
PACKAGE = ROOT / "bayescale"


def module_table_rows(text: str) -> list[str]:
    """First-column names (``x.py``) of the table under the ``## Module map`` heading."""
    match = re.search(r"^## Module map\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        raise AssertionError("ARCHITECTURE.md has no '## Module map' section")
    rows = []
    for line in match.group(1).splitlines():
        cell = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if cell is not None and cell.group(1).endswith(".py"):
            rows.append(cell.group(1))
        elif line.startswith("|") and not re.match(r"^\|\s*(module|-+)\s*\|", line):
            rows.append(line.split("|")[1].strip())  # a row that names no module file
        if rows and not line.strip():
            break  # the module table ends at the first blank line after it
    return rows


def package_modules() -> set[str]:
    return {p.name for p in PACKAGE.glob("*.py")}


def test_every_module_has_a_row():
    rows = module_table_rows(ARCHITECTURE.read_text())
    missing = sorted(package_modules() - set(rows))
    assert not missing, f"ARCHITECTURE.md's module map has no row for {missing}"


def test_every_row_names_an_existing_module():
    rows = module_table_rows(ARCHITECTURE.read_text())
    stale = sorted(set(rows) - package_modules())
    assert not stale, f"ARCHITECTURE.md's module map names modules that do not exist: {stale}"


def test_no_module_has_two_rows():
    rows = module_table_rows(ARCHITECTURE.read_text())
    assert len(rows) == len(set(rows))


HEAD = "| module | stage |\n| --- | --- |\n"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (HEAD + "| `a.py` | x |\n| `b.py` | y |\n\nText.\n", ["a.py", "b.py"]),
        (HEAD + "| `a.py` | x |\n| c | y |\n", ["a.py", "c"]),
    ],
)
def test_module_table_parser(table, expected):
    assert module_table_rows(f"# A\n\n## Module map\n\n{table}\n## Next\n| `z.py` | no |\n") == (
        expected
    )

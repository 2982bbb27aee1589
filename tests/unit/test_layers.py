"""The house's layering, read from the sources: ``strategies/`` and ``meta/`` are pure
(numpy/torch, no app, no database, no Streamlit), and pages never import one another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("package", ["strategies", "meta"])
def test_the_pure_packages_import_no_app_database_or_ui(package: str) -> None:
    banned = ("annotator", "streamlit", "sqlalchemy", "alembic")
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = {n for n in _imports(path) if n.split(".")[0] in banned}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_pages_never_import_another_page() -> None:
    for path in sorted((ROOT / "annotator/ui/pages").glob("*.py")):
        bad = {n for n in _imports(path) if n.startswith("annotator.ui.pages")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: use annotator.ui.widgets"

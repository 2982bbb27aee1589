"""The house's layering, read from the sources: ``strategies/`` and ``meta/`` are pure
(numpy/torch, no app, no database, no Streamlit); pages call the services, never the store
or another page."""

from __future__ import annotations

import ast
import re
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


def test_pages_call_services_never_the_store_or_another_page() -> None:
    for path in sorted((ROOT / "annotator/ui/pages").glob("*.py")):
        names = _imports(path)
        pages = {n for n in names if n.startswith("annotator.ui.pages")}
        assert not pages, f"{path.relative_to(ROOT)} imports {sorted(pages)}: use ui.widgets"
        store = {n for n in names if n.split(".")[0] == "sqlalchemy" or "annotator.store" in n}
        assert not store, f"{path.relative_to(ROOT)} imports {sorted(store)}: call a service"
        opens = re.search(r"\bstore\.(read|write)\(", path.read_text(encoding="utf-8"))
        assert opens is None, f"{path.relative_to(ROOT)} opens a database session"


def test_sql_lives_in_the_store() -> None:
    """Outside ``annotator/store/`` no module builds or runs a statement: SQLAlchemy appears
    only as the session type and its errors."""
    allowed = {"sqlalchemy.orm", "sqlalchemy.orm.Session", "sqlalchemy.exc"}
    for path in sorted((ROOT / "annotator").rglob("*.py")):
        if "store" in path.relative_to(ROOT / "annotator").parts[:1]:
            continue
        names = {n for n in _imports(path) if n.split(".")[0] == "sqlalchemy"}
        bad = {n for n in names if n not in allowed and not n.startswith("sqlalchemy.exc.")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: SQL goes in store/"
        runs = re.search(r"\.(execute|scalars?)\(", path.read_text(encoding="utf-8"))
        assert runs is None, f"{path.relative_to(ROOT)} runs a statement: SQL goes in store/"


def test_every_package_is_in_the_distribution() -> None:
    """pyproject.toml lists the packages (a flat layout): a new one left out would be missing
    from an installed wheel while an editable install still finds it."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    for top in ("annotator", "strategies", "meta"):
        for init in (ROOT / top).rglob("__init__.py"):
            name = ".".join(init.parent.relative_to(ROOT).parts)
            assert name in listed, f"{name} is not in pyproject.toml's packages"

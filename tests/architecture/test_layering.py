"""The layering of docs/adr/0001-layering.md, checked on every import statement of the tree.

Lazy imports inside functions count too: a layer that may not import another may not do it
late either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "connectors", "mappings", "reconciliation", "hub")

# package -> the top-level packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "core": {"connectors", "mappings", "reconciliation", "hub", "sandbox", "dags", "bench"},
    "connectors": {"mappings", "reconciliation", "hub", "sandbox", "dags"},
    "mappings": {"connectors", "reconciliation", "hub", "sandbox", "dags"},
    "reconciliation": {"connectors", "hub", "sandbox", "dags"},
    "hub": {"sandbox", "dags"},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``path``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, root: Path = ROOT) -> list[str]:
    return [f"{path.relative_to(root)}:{line} imports {target}"
            for path in sorted((root / package).rglob("*.py"))
            for line, target in imported_packages(path) if target in FORBIDDEN[package]]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_layer_imports_one_it_must_not(package: str) -> None:
    assert violations(package) == []


def test_the_walker_sees_a_late_import(tmp_path: Path) -> None:
    """The check itself can fail: a function-level import of hub/ in connectors/ is caught."""
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "bad.py").write_text(
        "def connect():\n    from hub.connections import get_connection\n    return get_connection\n",
        encoding="utf-8")
    assert violations("connectors", tmp_path) == ["connectors/bad.py:2 imports hub"]


def test_every_product_package_is_checked() -> None:
    assert set(PRODUCT) <= set(FORBIDDEN)

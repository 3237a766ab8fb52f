"""reconciliation/ decides with plain values: it never reaches a store (no SQLAlchemy session,
no ORM model); hub/ loads the inputs, calls the decisions and stores what they return."""

from __future__ import annotations

from pathlib import Path

from tests.architecture.test_layering import ROOT, imported_packages

STORE_LIBRARIES = {"sqlalchemy", "alembic", "psycopg", "psycopg2", "pymysql", "pyodbc", "sqlite3"}


def store_imports(root: Path = ROOT) -> list[str]:
    return [f"{path.relative_to(root)}:{line} imports {target}"
            for path in sorted((root / "reconciliation").rglob("*.py"))
            for line, target in imported_packages(path) if target in STORE_LIBRARIES]


def test_reconciliation_never_imports_a_store_library() -> None:
    assert store_imports() == []


def test_the_check_sees_a_session_import(tmp_path: Path) -> None:
    (tmp_path / "reconciliation").mkdir()
    (tmp_path / "reconciliation" / "bad.py").write_text("from sqlalchemy.orm import Session\n", encoding="utf-8")
    assert store_imports(tmp_path) == ["reconciliation/bad.py:1 imports sqlalchemy"]

"""After a crash, the accounting connector names the writes its import table already received."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import Settleable, Write
from connectors.sql import SqlViewConnector, SqlViewSettings
from sandbox import accounting_db
from tests.fixtures.databases import SqlDatabase

pytestmark = pytest.mark.integration

SINCE = datetime(2026, 12, 7, tzinfo=UTC)
WRITES = [Write("k-1", "ACC1", {"email": "ucetni@firma.cz"}), Write("k-2", "ACC2", {"city": "Brno"})]


def test_settle_finds_the_received_keys_before_and_after_the_import_job(
        any_sql_db: SqlDatabase) -> None:
    accounting_db.drop_schema(any_sql_db.engine)
    accounting_db.create_schema(any_sql_db.engine)
    with SqlViewConnector("accounting", SqlViewSettings(), any_sql_db.conn) as connector:
        assert isinstance(connector, Settleable)
        assert connector.settle(WRITES, SINCE).applied == []  # nothing arrived: send it
        connector.write(WRITES[:1], "run1-accounting")  # the crash came after the first
        assert connector.settle(WRITES, SINCE).applied == ["k-1"]
        assert accounting_db.apply_imports(any_sql_db.engine) == 1
        assert connector.settle(WRITES, SINCE).applied == ["k-1"]  # applied rows stay there

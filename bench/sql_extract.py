"""SQL extraction: rows per second and peak memory reading 1,000,000 view rows (SQLite).

The rows are generated inside SQLite (a recursive CTE), so the process's memory before
the read holds none of them; the read goes through SqlViewConnector.read_pages as the
hub's extract step does, pages of 10,000 rows.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr

from bench._rss import PeakRss
from connectors.sql import SqlViewConnector, SqlViewSettings
from core.connections import ConnectionInfo
from sandbox import accounting_db

ROWS = 1_000_000
_FILL = """
INSERT INTO customers (customer_no, company_name, ico, dic, street, city, zip, country, email,
                       phone, payment_terms_days, credit_limit, updated_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
SELECT printf('ACC%08d', i), 'Firma ' || i || ' s.r.o.', printf('%08d', i), 'CZ' || i,
       'Dlouhá ' || i, 'Praha', '110 00', 'CZ', 'info' || i || '@firma.cz', '+420 601 123 456',
       14, 150000.50, datetime('2026-01-01', '+' || (i / 7) || ' seconds')
FROM n
"""


def _database(path: Path, rows: int) -> ConnectionInfo:
    engine = sa.create_engine(f"sqlite:///{path}")
    accounting_db.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(_FILL), {"rows": rows})
    engine.dispose()
    return ConnectionInfo(conn_id="bench", conn_type="sqlite", host=str(path), port=None,
                          login=None, password=SecretStr(""), schema=None, extra={})


def run(scale: float = 1.0) -> dict[str, float]:
    rows = max(1000, int(ROWS * scale))
    with tempfile.TemporaryDirectory(prefix="custhub-bench-") as tmp:
        conn = _database(Path(tmp) / "accounting.db", rows)
        with SqlViewConnector("accounting", SqlViewSettings(chunk_size=10_000), conn) as sql, \
                PeakRss() as memory:
            started = time.perf_counter()
            read = sum(len(page.records) for page in sql.read_pages(None))
            seconds = time.perf_counter() - started
    assert read == rows, (read, rows)
    return {"rows": rows, "rows_per_second": rows / seconds, "seconds": seconds,
            "rss_before_mb": memory.before, "rss_peak_mb": memory.peak,
            "rss_growth_mb": memory.peak - memory.before}

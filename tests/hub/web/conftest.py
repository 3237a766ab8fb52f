"""A small hub store with one company in conflict and one match candidate, and the app over it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.store.db import make_engine, migrate, session_scope
from hub.store.models import CanonicalRecord, GoldenRecord, ReviewItem, Xref
from hub.web.app import create_app
from hub.web.auth import PasswordUsers, hash_password

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def review_password() -> str:
    return PASSWORD


@pytest.fixture(scope="session")
def steward_hash() -> str:
    return hash_password(PASSWORD)  # scrypt is slow on purpose: once per session


@pytest.fixture
def review_store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    with session_scope(engine) as session:
        _company(session)
        session.add(ReviewItem(kind="conflict", fingerprint="f1", hub_id="H00000001", system="crm",
                               record_id="CRM-1", other_system="accounting", other_record_id="ACC1",
                               field="street", candidates={"crm": "Nová 5", "accounting": "Hlavní 1"},
                               reason="CRM refused the correction: a person edited the account",
                               run_id="r2", created_at=T0 + timedelta(days=1)))
        session.add(ReviewItem(kind="match_candidate", fingerprint="f2", hub_id="H00000001",
                               system="crm", record_id="CRM-1", other_system="erp", other_record_id="P9",
                               candidates={"score": 0.91, "material": ["legal_name", "city"]},
                               reason="same name and city, no shared IČO", run_id="r2",
                               created_at=T0 + timedelta(days=1)))
    return engine


def _company(session) -> None:  # type: ignore[no-untyped-def]
    base = {"legal_name": "<script>alert(1)</script> Kovo s.r.o.", "company_id": "25596641",
            "city": "Praha", "payment_terms_days": 30}
    records = {("crm", "CRM-1"): {**base, "street": "Nová 5"},
               ("accounting", "ACC1"): {**base, "street": "Hlavní 1"},
               ("erp", "P9"): {"legal_name": "Kovo", "city": "Praha"}}
    for (system, record_id), values in records.items():
        session.add(CanonicalRecord(system=system, record_id=record_id, values=values,
                                    source_hash="h", run_id="r1"))
        if system != "erp":
            session.add(Xref(system=system, record_id=record_id, hub_id="H00000001", rule="company_id",
                             run_id="r1", linked_at=T0))
    lineage = {f: {"source": "accounting", "record_id": "ACC1", "rule": "source_priority"} for f in base}
    session.add(GoldenRecord(hub_id="H00000001", version=1, values={**base, "street": "Stará 1"},
                             lineage={**lineage, "street": {"source": "crm", "record_id": "CRM-1",
                                                            "rule": "source_priority"}},
                             is_current=False, run_id="r1", created_at=T0))
    session.add(GoldenRecord(hub_id="H00000001", version=2, values={**base, "street": "Hlavní 1"},
                             lineage={**lineage, "street": {"source": "accounting", "record_id": "ACC1",
                                                            "rule": "source_priority"}},
                             is_current=True, run_id="r2", created_at=T0 + timedelta(days=1)))


@pytest.fixture
def client(review_store: Engine, steward_hash: str) -> Iterator[TestClient]:
    app = create_app(review_store, PasswordUsers({"steward": steward_hash}), secret_key="test-secret")
    with TestClient(app, base_url="http://review.test") as c:
        yield c

"""``custhub review resolve`` as a process: a typed value is read by its field's normalizer, a
refused one is one line (exit 1) and reaches neither the decisions nor the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select

from hub import review
from hub.config import HubConfig
from hub.pipeline.reconcile import reconcile_run
from hub.store.db import session_scope
from hub.store.models import Outbox, ReviewItem, StewardDecision
from tests.fixtures.hubstore import company, new_run, open_seeded, put, store_config
from tests.hub.test_cli_errors import assert_one_line_error, custhub


@pytest.fixture
def conflict(tmp_path: Path) -> tuple[HubConfig, Engine, Path, int]:
    """A company whose CRM and accounting changed the e-mail differently: a conflict to resolve."""
    config = store_config(tmp_path)
    engine = open_seeded(config, 2)
    reconcile_run(new_run(config, engine))
    put(engine, "crm", "crm-1", company(1, email="obchod@firma1.cz"))
    put(engine, "accounting", "accounting-1", company(1, email="ucetni@firma1.cz"))
    reconcile_run(new_run(config, engine))
    [item] = review.list_items(engine, kind="conflict")
    assert item.field == "email"
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return config, engine, path, item.id


def _resolve(path: Path, item_id: int, value: str):  # type: ignore[no-untyped-def]
    return custhub("review", "resolve", str(item_id), value, "--reason", "called them", "--by", "eva",
                   "--config", str(path), cwd=path.parent)


def _ask_about(engine: Engine, item_id: int, field: str) -> None:
    with session_scope(engine) as session:
        session.get(ReviewItem, item_id).field = field


def _decisions(engine: Engine) -> list[object]:
    with session_scope(engine) as session:
        return [d.value["value"] for d in session.scalars(select(StewardDecision))]


def _outbox_values(engine: Engine) -> list[dict]:
    with session_scope(engine) as session:
        return [dict(o.values) for o in session.scalars(select(Outbox))]


@pytest.mark.parametrize(("field", "typed", "reason"), [
    ("email", "not-an-email", "email: 'not-an-email' refused: not an e-mail address"),
    ("company_id", "12345678", "company_id: '12345678' refused: invalid checksum (ICO)"),
    ("phone", "call me", "phone: 'call me' refused: not a phone number"),
    ("country", "Narnia", "country: 'Narnia' refused: unknown country"),
])
def test_a_bad_value_is_one_line_and_nothing_is_stored(conflict: tuple[HubConfig, Engine, Path, int],
                                                       field: str, typed: str, reason: str) -> None:
    config, engine, path, item_id = conflict
    _ask_about(engine, item_id, field)
    assert_one_line_error(_resolve(path, item_id, typed), reason)
    assert _decisions(engine) == [] and review.get_item(engine, item_id).status == "open"


def test_a_refused_email_never_reaches_the_outbox_and_a_good_one_is_stored_normalized(
        conflict: tuple[HubConfig, Engine, Path, int]) -> None:
    config, engine, path, item_id = conflict
    assert_one_line_error(_resolve(path, item_id, "not-an-email"), "not an e-mail address")
    reconcile_run(new_run(config, engine))  # the next run: the question is still open, nothing sent
    assert not any("not-an-email" in str(v) for v in _outbox_values(engine))
    assert review.get_item(engine, item_id).status == "open"

    result = _resolve(path, item_id, " Nakup@Firma1.CZ ")
    assert result.returncode == 0, result.stderr
    assert _decisions(engine) == ["nakup@firma1.cz"]
    reconcile_run(new_run(config, engine))
    sent = [v.get("email") for v in _outbox_values(engine) if "email" in v]
    assert "nakup@firma1.cz" in sent and "not-an-email" not in sent


def test_czech_money_is_accepted(conflict: tuple[HubConfig, Engine, Path, int]) -> None:
    config, engine, path, item_id = conflict
    _ask_about(engine, item_id, "credit_limit")
    result = _resolve(path, item_id, "1 000,50")
    assert result.returncode == 0, result.stderr
    assert _decisions(engine) == ["1000.50"]

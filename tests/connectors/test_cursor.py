"""connectors.cursor.Cursor: the store's JSON (old shapes too), moving, and its SQL WHERE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import product

import pytest
import sqlalchemy as sa

from connectors.cursor import Cursor
from connectors.errors import ConnectorConfigError

T = datetime(2026, 3, 1, 8, 30, 0, 250_000)


@pytest.mark.parametrize(("stored", "expected"), [
    # the CRM connector's shape before this cursor: UTC instant and the last AccountId
    ({"modified_at": "2024-05-01T10:00:00+00:00", "id": "CRM-000003"},
     Cursor(start=datetime(2024, 5, 1, 10, tzinfo=UTC), key="CRM-000003")),
    ({"modified_at": "2024-05-01T10:00:00", "id": ""},  # a cursor_at() cursor: every id
     Cursor(start=datetime(2024, 5, 1, 10))),
    # the SQL view's ViewCursor: naive watermark (a column without a time zone), key as text
    ({"watermark": T.isoformat(), "key": "ACC2"}, Cursor(start=T, key="ACC2")),
    ({"watermark": T.isoformat(), "key": 17}, Cursor(start=T, key="17")),
    # the current shape
    ({"field": "updated_at", "start": T.isoformat(), "key": "ACC2", "end": None},
     Cursor(field="updated_at", start=T, key="ACC2")),
    (None, Cursor()), ({}, Cursor()),
], ids=["crm", "crm-window", "sql", "sql-int-key", "current", "none", "empty"])
def test_stores_old_and_new_read_the_same(stored, expected) -> None:
    assert Cursor.from_json(stored) == expected


@pytest.mark.parametrize("stored", [
    {"watermark": "yesterday", "key": "A"}, {"watermark": T.isoformat()},
    {"modified_at": "not a time", "id": "x"}, {"start": 1700000000, "key": "A"},
    {"start": T.isoformat(), "key": "A", "colour": "red"},
    {"start": T.isoformat(), "end": (T - timedelta(days=1)).isoformat()},
    {"start": T.isoformat(), "end": datetime(2026, 4, 1, tzinfo=UTC).isoformat()},
], ids=["bad-time", "half-sql", "bad-crm", "epoch-number", "extra-key", "end-before-start",
        "naive-start-aware-end"])
def test_a_malformed_stored_cursor_is_a_config_error(stored) -> None:
    with pytest.raises(ConnectorConfigError, match="cursor") as err:
        Cursor.from_json(stored, system="accounting")
    assert err.value.system == "accounting"


def test_round_trip_keeps_the_old_text_of_an_instant() -> None:
    aware = Cursor(field="ModifiedAt", start=datetime(2024, 5, 1, 10, tzinfo=UTC), key="C1",
                   end=datetime(2024, 5, 2, tzinfo=UTC))
    assert aware.to_json() == {"field": "ModifiedAt", "start": "2024-05-01T10:00:00+00:00",
                               "key": "C1", "end": "2024-05-02T00:00:00+00:00"}
    assert Cursor.from_json(aware.to_json()) == aware
    naive = Cursor(field="updated_at", start=T, key="ACC2")
    assert naive.to_json()["start"] == T.isoformat()  # what the SQL view wrote before
    assert Cursor().to_json() is None  # "from the beginning" is stored as no cursor


def test_a_cursor_taken_on_another_field_is_refused() -> None:
    stored = Cursor(field="updated_at", start=T).to_json()
    assert Cursor.from_json(stored, field="updated_at").field == "updated_at"
    with pytest.raises(ConnectorConfigError, match="'updated_at'.*'modified_at'"):
        Cursor.from_json(stored, field="modified_at")
    # an old cursor did not record its field: it is taken to be the one asked for
    assert Cursor.from_json({"watermark": T.isoformat(), "key": "A"}, field="x").field == "x"


def test_after_moves_forward_only() -> None:
    cursor = Cursor(start=T, key="B")
    assert cursor.after(T, "C") == Cursor(start=T, key="C")
    assert cursor.after(T + timedelta(seconds=1), "A").key == "A"
    assert cursor.after(T, "A") is cursor  # re-delivered from an overlap: never back
    assert cursor.after(T - timedelta(seconds=1), "Z") is cursor
    assert cursor.after(None, "Z") is cursor  # a row without a value moves nothing
    assert Cursor().after(T, "A") == Cursor(start=T, key="A")


def test_reopened_and_rewound_read_the_whole_boundary() -> None:
    cursor = Cursor(start=T, key="B", end=T + timedelta(days=1))
    assert cursor.reopened() == Cursor(start=T, end=T + timedelta(days=1))
    assert cursor.rewound(timedelta(seconds=10)).start == T - timedelta(seconds=10)
    assert cursor.rewound(timedelta(seconds=10)).key == ""
    assert cursor.rewound(timedelta(0)) is cursor
    assert Cursor().rewound(timedelta(seconds=10)) == Cursor()


def test_zoned_puts_instants_in_the_sources_convention() -> None:
    prague = timezone(timedelta(hours=1))
    window = Cursor.window("x", datetime(2026, 3, 1, 9, 30, tzinfo=prague),
                           datetime(2026, 3, 2, 9, 30, tzinfo=prague))
    naive = window.zoned(aware=False)
    assert (naive.start, naive.end) == (datetime(2026, 3, 1, 8, 30), datetime(2026, 3, 2, 8, 30))
    assert window.zoned(aware=True) == window  # already aware: left as it is
    assert Cursor(start=T).zoned(aware=True).start == T.replace(tzinfo=UTC)


def test_closed_start_key_tiebreak_open_end() -> None:
    cursor = Cursor(start=T, key="B", end=T + timedelta(seconds=1))
    assert not cursor.admits(T, "A") and not cursor.admits(T, "B")  # read before
    assert cursor.admits(T, "C")
    assert cursor.admits(T + timedelta(microseconds=1), "A")
    assert not cursor.admits(T + timedelta(seconds=1), "A")  # the end is open
    assert Cursor(start=T).admits(T, "A")  # the empty key: the whole start instant


def _rows() -> list[tuple[datetime, str]]:
    instants = [T - timedelta(seconds=1), T, T + timedelta(microseconds=1),
                T + timedelta(seconds=1)]
    return [(when, key) for when, key in product(instants, ["A", "B", "C"])]


CURSORS = [Cursor(), Cursor(start=T), Cursor(start=T, key="B"), Cursor(end=T),
           Cursor(start=T, key="B", end=T + timedelta(seconds=1)),
           Cursor(start=T, end=T)]


@pytest.mark.parametrize("cursor", CURSORS, ids=[str(c.to_json()) for c in CURSORS])
def test_the_sql_where_selects_exactly_what_admits_says(cursor: Cursor) -> None:
    """The condition pushed into SQL and the one a client-side source applies agree, row by row,
    through a real database."""
    engine = sa.create_engine("sqlite://")
    table = sa.Table("t", sa.MetaData(), sa.Column("wm", sa.DateTime), sa.Column("k", sa.Text))
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), [{"wm": w, "k": k} for w, k in _rows()])
        selected = conn.execute(sa.select(table.c.wm, table.c.k)
                                .where(cursor.where(table.c.wm, table.c.k))
                                .order_by(table.c.wm, table.c.k)).all()
    assert [tuple(row) for row in selected] == [row for row in _rows() if cursor.admits(*row)]

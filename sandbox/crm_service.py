"""The sandbox CRM: a SOAP service speaking connectors/soap/wsdl/crm.wsdl over a loopback socket.

State lives in a SQLite file, so a demo can stop and start the CRM and find its accounts again.
Requests are parsed with a hardened lxml parser and must carry a WS-Security UsernameToken with a
password digest; everything else gets a SOAP fault, as a real CRM would answer.

    crm = CrmService("/tmp/crm.sqlite", "hub", "s3cret")
    port = crm.start()          # http://127.0.0.1:<port>/crm/soap, WSDL at ...?wsdl
    crm.load([{"AccountId": "CRM-000001", "Name": "Dvořák a syn s.r.o.", ...}])
    crm.stop()
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import sqlite3
import threading
from collections import deque
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from sandbox.soap_server import (
    SOAP_ENV,
    Response,
    SoapService,
    XmlRejected,
    envelope,
    fault,
    parse_xml,
    soap_body_child,
)

# The sandbox serves the very contract the connector ships (a file, not an import).
WSDL_FILE = Path(__file__).resolve().parent.parent / "connectors" / "soap" / "wsdl" / "crm.wsdl"
NS = "urn:custhub:crm:accounts:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
          "#PasswordDigest")
WRITABLE = ("Name", "CompanyId", "VatId", "Street", "City", "PostalCode", "CountryCode",
            "Email", "Phone")
COLUMNS = ("AccountId", *WRITABLE, "ModifiedAt", "Version")
MAX_PAGE = 5000  # accounts a page may hold (the WSDL's pageSize)
MAX_BATCH = 200  # items an UpsertAccounts call may hold
T = ElementMaker(namespace=NS, nsmap={"crm": NS})


def _stamp(value: datetime | str | None = None) -> str:
    """Fixed-width UTC text, so SQLite's text order is time order."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    when = when or datetime.now(UTC)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row(account: dict[str, Any]) -> dict[str, Any]:
    """A loaded account: missing text fields empty, ModifiedAt now, Version 1 unless given."""
    row: dict[str, Any] = {c: str(account.get(c) or "") for c in ("AccountId", *WRITABLE)}
    row["ModifiedAt"] = _stamp(account.get("ModifiedAt"))
    row["Version"] = int(account.get("Version") or 1)
    return row


class VersionConflict(Exception):
    def __init__(self, account_id: str, current: dict[str, Any] | None):
        super().__init__(account_id)
        self.account_id, self.current = account_id, current


class AccountStore:
    """Accounts in SQLite; one lock serialises writers so Version checks are atomic."""

    def __init__(self, path: str):
        self._path = path
        self._lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        cols = ", ".join(f"{c} TEXT NOT NULL DEFAULT ''" for c in WRITABLE)
        with closing(self._db()) as db, db:
            # A write-ahead log, synced at checkpoints: a call's commit costs no fsync (a CRM
            # on its own server would not make each upsert wait for the disk either).
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"CREATE TABLE IF NOT EXISTS accounts (AccountId TEXT PRIMARY KEY, {cols},"
                       " ModifiedAt TEXT NOT NULL, Version INTEGER NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS accounts_cursor"
                       " ON accounts (ModifiedAt, AccountId)")

    def _db(self, **options: Any) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=10, **options)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def load(self, accounts: list[dict[str, Any]]) -> None:
        # A generator of rows: a million accounts are not copied into a second list first.
        rows = ([row[c] for c in COLUMNS] for row in map(_row, accounts))
        with self._lock, closing(self._db()) as db, db:
            db.executemany(f"INSERT OR REPLACE INTO accounts ({', '.join(COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(COLUMNS))})", rows)

    def all(self) -> list[dict[str, Any]]:
        with closing(self._db()) as db:
            return [dict(r) for r in db.execute("SELECT * FROM accounts ORDER BY AccountId")]

    def some(self, ids: list[str]) -> list[dict[str, Any]]:
        """The accounts of ``ids`` that exist (for the bench's changes; loading, not the API)."""
        with closing(self._db()) as db:
            return [dict(r) for start in range(0, len(ids), 500) for r in db.execute(
                f"SELECT * FROM accounts WHERE AccountId IN ({', '.join('?' * len(ids[start:start + 500]))})",
                ids[start:start + 500])]

    def page(self, after: str | None, after_id: str,
             size: int) -> tuple[list[tuple[Any, ...]], bool]:
        """Rows (values in ``COLUMNS`` order) strictly after (after, after_id) in (ModifiedAt,
        AccountId) order, and whether more follow."""
        with closing(self._db()) as db:
            db.row_factory = None  # plain tuples: a page is thousands of rows
            # A row value, so SQLite walks the (ModifiedAt, AccountId) index instead of scanning.
            rows = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM accounts WHERE (ModifiedAt, AccountId) > (?, ?)"
                " ORDER BY ModifiedAt, AccountId LIMIT ?",
                (after or "", after_id, size + 1)).fetchall()
        return rows[:size], len(rows) > size

    def upsert(self, values: dict[str, str], expected: int | None) -> int:
        result = self.upsert_many([(values, expected)])[0]
        if isinstance(result, VersionConflict):
            raise result
        return result

    def upsert_many(self, items: list[tuple[dict[str, str], int | None]]
                    ) -> list[int | VersionConflict]:
        """Each item on its own, in order, in one transaction: its new Version or its conflict."""
        with self._lock:
            # One connection kept for writes: closing the last connection to a WAL database
            # checkpoints it, which made every call wait for the disk.
            if self._writer is None:
                self._writer = self._db(check_same_thread=False)
            with self._writer as db:
                return [_upsert_one(db, values, expected) for values, expected in items]

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def _upsert_one(db: sqlite3.Connection, values: dict[str, str],
                expected: int | None) -> int | VersionConflict:
    account_id = values["AccountId"]
    row = db.execute("SELECT * FROM accounts WHERE AccountId = ?", (account_id,)).fetchone()
    current = dict(row) if row else None
    # With expectedVersion the account must be at it; without, it must not exist yet.
    if (current["Version"] != expected) if current else (expected is not None):
        return VersionConflict(account_id, current)
    merged = {**{c: "" for c in WRITABLE}, **(current or {}), **values}
    merged.update(ModifiedAt=_stamp(), Version=(current or {"Version": 0})["Version"] + 1)
    db.execute(f"INSERT OR REPLACE INTO accounts ({', '.join(COLUMNS)}) VALUES "
               f"({', '.join('?' * len(COLUMNS))})", [merged[c] for c in COLUMNS])
    return int(merged["Version"])


class DigestAuth:
    """WS-Security UsernameToken profile 1.0 with PasswordDigest: fresh Created, unused Nonce."""

    def __init__(self, username: str, password: str, max_age: timedelta = timedelta(minutes=5)):
        self._username, self._password, self._max_age = username, password, max_age
        self._seen: deque[str] = deque(maxlen=10_000)
        self._lock = threading.Lock()

    def verify(self, env: etree._Element) -> bool:
        token = env.find(f"{{*}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        password = token.find(f"{{{WSSE}}}Password")
        nonce, created = token.findtext(f"{{{WSSE}}}Nonce"), token.findtext(f"{{{WSU}}}Created")
        if password is None or password.get("Type") != DIGEST or not nonce or not created:
            return False
        if not self._fresh(created) or not self._digest_ok(nonce, created, password.text or ""):
            return False
        return hmac.compare_digest(token.findtext(f"{{{WSSE}}}Username") or "", self._username) \
            and self._first_use(nonce)

    def _fresh(self, created: str) -> bool:
        try:
            when = datetime.fromisoformat(created)
        except ValueError:
            return False
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return abs(datetime.now(UTC) - when) <= self._max_age

    def _digest_ok(self, nonce: str, created: str, digest: str) -> bool:
        try:
            raw = base64.b64decode(nonce, validate=True)
        except binascii.Error:
            return False
        expected = hashlib.sha1(raw + created.encode() + self._password.encode()).digest()
        return hmac.compare_digest(base64.b64encode(expected).decode(), digest)

    def _first_use(self, nonce: str) -> bool:
        with self._lock:  # a replayed request (same nonce) is refused
            if nonce in self._seen:
                return False
            self._seen.append(nonce)
            return True


class CrmService(SoapService):
    WSDL_FILE = WSDL_FILE
    PATH = "/crm/soap"

    def __init__(self, db_path: str, username: str, password: str):
        super().__init__()
        self.store = AccountStore(db_path)
        self._auth = DigestAuth(username, password)
        # (operation, accounts in it) of every authenticated call, for tests to see what came
        self.calls: list[tuple[str, int]] = []

    def stop(self) -> None:
        super().stop()
        self.store.close()

    def load(self, accounts: list[dict[str, Any]]) -> None:
        self.store.load(accounts)

    def accounts(self) -> list[dict[str, Any]]:
        return self.store.all()

    def answer(self, body: bytes) -> Response:
        try:
            env = parse_xml(body)
            operation = soap_body_child(env)
        except XmlRejected as exc:
            return fault("env:Client", str(exc))
        if not self._auth.verify(env):
            return fault("wsse:FailedAuthentication",
                         "The security token could not be authenticated or authorized",
                         nsmap={"wsse": WSSE})
        handlers = {"GetAccountsModifiedSince": self._get_page, "UpsertAccount": self._upsert,
                    "UpsertAccounts": self._upsert_batch}
        name = etree.QName(operation)
        handler = handlers.get(name.localname)
        if handler is None or name.namespace != NS:
            return fault("env:Client", f"unknown operation {operation.tag}")
        self.calls.append((name.localname, len(operation.findall(f"{{{NS}}}item")) or 1))
        return handler(operation)

    def _get_page(self, op: etree._Element) -> Response:
        after_text = op.findtext(f"{{{NS}}}modifiedAfter")
        try:
            after = _stamp(after_text) if after_text else None
            size = int(op.findtext(f"{{{NS}}}pageSize") or "")
        except ValueError:
            return fault("env:Client", "modifiedAfter or pageSize is not valid")
        if not 1 <= size <= MAX_PAGE:
            return fault("env:Client", f"pageSize must be between 1 and {MAX_PAGE}")
        rows, more = self.store.page(after, op.findtext(f"{{{NS}}}afterId") or "", size)
        return Response(200, _page_xml(rows, more))

    def _upsert(self, op: etree._Element) -> Response:
        item = _item(op)
        if item is None:
            return fault("env:Client", "InvalidAccount")
        result = self.store.upsert_many([item])[0]
        if isinstance(result, VersionConflict):
            current = [_account_xml(result.current, "current")] if result.current else []
            detail = T.VersionConflict(T.AccountId(result.account_id), *current)
            return fault("env:Client", "VersionConflict", detail)
        return Response(200, envelope(T.UpsertAccountResponse(T.AccountId(item[0]["AccountId"]),
                                                              T.Version(str(result)))))

    def _upsert_batch(self, op: etree._Element) -> Response:
        """Each item on its own: an invalid or conflicting one is answered, the others applied."""
        nodes = op.findall(f"{{{NS}}}item")
        if not 1 <= len(nodes) <= MAX_BATCH:
            return fault("env:Client", f"UpsertAccounts takes 1 to {MAX_BATCH} items")
        items = [_item(node) for node in nodes]
        applied = iter(self.store.upsert_many([i for i in items if i is not None]))
        results = [_batch_result(node, next(applied) if item else None)
                   for node, item in zip(nodes, items, strict=True)]
        return Response(200, envelope(T.UpsertAccountsResponse(*results)))


def _item(op: etree._Element) -> tuple[dict[str, str], int | None] | None:
    """An upsert's account values and expected Version; None when the account is invalid."""
    account = op.find(f"{{{NS}}}account")
    children = list(account) if account is not None else []
    values = {etree.QName(c).localname: c.text or "" for c in children
              if etree.QName(c).localname in ("AccountId", *WRITABLE)}
    # The WSDL's length facets, enforced here because zeep does not check facets on send.
    too_long = any(len(v) > 255 for v in values.values())
    if not 0 < len(values.get("AccountId", "")) <= 40 or too_long:
        return None
    expected = op.findtext(f"{{{NS}}}expectedVersion")
    return values, int(expected) if expected else None


def _batch_result(node: etree._Element, outcome: int | VersionConflict | None) -> etree._Element:
    account_id = T.AccountId(node.findtext(f"{{{NS}}}account/{{{NS}}}AccountId") or "")
    if isinstance(outcome, int):
        return T.result(account_id, T.success("true"), T.Version(str(outcome)))
    if outcome is None:
        error = T.error(T.code("InvalidAccount"), T.message("AccountId missing or over 40 "
                                                              "characters, or a value over 255"))
    else:
        current = [_account_xml(outcome.current, "current")] if outcome.current else []
        error = T.error(T.code("VersionConflict"), T.message("the account is not at the "
                                                               "expected Version"), *current)
    return T.result(account_id, T.success("false"), error)


def _account_xml(row: dict[str, Any], tag: str) -> etree._Element:
    return getattr(T, tag)(*(getattr(T, c)(str(row[c])) for c in COLUMNS))


# A page is written as text, not built element by element: lxml's builder cost ~80 µs an
# account, which made the sandbox, not the client, the limit of an extraction. The envelope is
# byte for byte what ``envelope()`` writes, so the misbehaviour transforms apply to it too.
_ACCOUNT = "<crm:account>" + "".join(f"<crm:{c}>{{}}</crm:{c}>" for c in COLUMNS) + "</crm:account>"
_PAGE = ("<?xml version='1.0' encoding='UTF-8'?>\n"
         f'<env:Envelope xmlns:env="{SOAP_ENV}"><env:Header/><env:Body>'
         f'<crm:GetAccountsModifiedSinceResponse xmlns:crm="{NS}">'
         "<crm:accounts>{accounts}</crm:accounts><crm:hasMore>{more}</crm:hasMore>"
         "</crm:GetAccountsModifiedSinceResponse></env:Body></env:Envelope>")


def _page_xml(rows: list[tuple[Any, ...]], more: bool) -> bytes:
    accounts = "".join(_ACCOUNT.format(*map(_escaped, row)) for row in rows)
    return _PAGE.format(accounts=accounts, more="true" if more else "false").encode()


def _escaped(value: object) -> str:
    """XML character data: the three markup characters, and CR, which a parser would fold."""
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))

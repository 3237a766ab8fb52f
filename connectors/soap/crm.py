"""CRM accounts over SOAP (zeep): pages of accounts modified since a cursor; conditional upserts.

The contract is our packaged ``wsdl/crm.wsdl``. The cursor (``connectors.cursor.Cursor`` on
ModifiedAt) is the pair (ModifiedAt, AccountId) of the last record stored. Within a run, pages
are keyset-paged strictly after that pair, so records sharing a ModifiedAt (several per second
is normal) are neither lost nor read twice at a page boundary. A run *resumes* with a closed start, ModifiedAt >= the stored instant, whatever the id:
a record the CRM commits late with the same timestamp and a smaller id is still found. The few
boundary records read again are the same content, and the hub's stage step skips them by hash.
A cursor with an end (a backfill window) stops at the first account modified at or after it.

A page's accounts are read by lxml out of the reply zeep received and parsed, not by zeep's
type system (``connectors.soap.bulk_reply``: ten times faster, same records, same hardening);
zeep keeps the envelope, WS-Security, the faults and the rest of the answer. Pages hold up to
5,000 accounts, and the next one is fetched while the hub stores the last.

Writes go in ``UpsertAccounts`` calls of up to 200 accounts, with one result per account, and are
conditional on the Version the hub read. A ``VersionConflict`` (a per-account result, or the fault
of the single ``UpsertAccount``) becomes a refusal with ``conflict=True`` of that write alone,
never an overwrite. It carries the current account: if that already holds the values we are
writing (a replayed batch, or a retry after a lost response), the write counts as applied, which
keeps ``write`` idempotent. After a crash, ``settle`` reads the accounts modified since the claim
and names the writes they already hold.

Airflow connection: host, port, login, password (WS-Security UsernameToken, digest), schema
"http"/"https" (or ``extra.scheme``; default https), ``extra.endpoint`` (overrides
``Settings.endpoint``), ``extra.verify`` (CA bundle path or bool), ``extra.proxy``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

import zeep
from lxml import etree
from pydantic import Field
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy

from connectors.base import JsonDict, Page, Progress, RawRecord, Write, WriteRefusal, WriteResult
from connectors.errors import (
    Action,
    BadRecordError,
    ConnectorConfigError,
    ConnectorError,
    Kind,
    RemoteRefusedError,
    WriteConflictError,
)
from connectors.classify import Rule, Rules
from connectors.cursor import Cursor
from connectors.soap import (
    HttpSettings,
    call,
    endpoint_url,
    http_session,
    rules,
    zeep_client,
)
from connectors.soap.bulk_reply import BulkTaker, TypedRecords
from connectors.soap.bulk_request import BulkGiver, ItemWriter
from connectors.soap.security import username_token
from core.connections import ConnectionInfo

T = TypeVar("T")

WSDL = Path(__file__).parent / "wsdl" / "crm.wsdl"
NS = "urn:custhub:crm:accounts:v1"
_BINDING = f"{{{NS}}}CrmAccountBinding"
WRITABLE = frozenset({"Name", "CompanyId", "VatId", "Street", "City", "PostalCode",
                      "CountryCode", "Email", "Phone"})

# The CRM's own fault codes; the shared HTTP and SOAP rows follow (connectors.soap.rules).
RULES: Rules = rules((
    Rule(Action.QUARANTINE, Kind.CONFLICT, "SOAP fault {code}", exception=Fault,
         fault="VersionConflict"),
    Rule(Action.QUARANTINE, Kind.DATA, "SOAP fault {code}", exception=Fault,
         fault="InvalidAccount"),
    # WS-Security 1.0 fault codes: the credentials, not the request
    Rule(Action.FAIL, Kind.CONFIG, "SOAP fault {code}", exception=Fault,
         fault={"FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken"}),
))
CURSOR_FIELD = "ModifiedAt"
_RESULT = f"{{{NS}}}result"  # an UpsertAccounts reply's element per account
# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/FFFF)
_NOT_XML_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# How far before a claim settling looks for the CRM's changes: the CRM stamps ModifiedAt by
# its own clock, which may be behind ours.
CLOCK_SKEW = timedelta(minutes=15)


class Settings(HttpSettings):
    wsdl_path: Path | None = None  # default: the packaged crm.wsdl
    endpoint: str = "/crm/soap"
    page_size: int = Field(2000, ge=1, le=5000)
    write_batch_size: int = Field(200, ge=1, le=200)  # accounts an UpsertAccounts call holds
    # UpsertAccount: one call per account, for a CRM that serves only the single upsert
    write_operation: Literal["UpsertAccounts", "UpsertAccount"] = "UpsertAccounts"


class CrmSoapConnector:
    Settings = Settings
    cursor_field = CURSOR_FIELD

    def __init__(self, system: str, settings: Settings, conn: ConnectionInfo, **_extras: Any):
        self.system = system
        self.settings = settings
        self.address = endpoint_url(conn, settings.endpoint)
        self._conn = conn

    @cached_property
    def _client(self) -> zeep.Client:
        # Built on first use: constructing a connector (config validation) stays cheap.
        wsdl = self.settings.wsdl_path or WSDL
        if not wsdl.is_file():
            raise ConnectorConfigError(f"CRM WSDL not found: {wsdl}", system=self.system)
        wsse = username_token(self._conn.login, self._conn.password)
        return zeep_client(wsdl, http_session(self._conn), self.settings, wsse=wsse,
                           plugins=[self._taker, self._giver, self._upserted])

    @cached_property
    def _taker(self) -> BulkTaker:
        return BulkTaker("GetAccountsModifiedSince", f"{{{NS}}}GetAccountsModifiedSinceResponse",
                         f"{{{NS}}}accounts")

    @cached_property
    def _giver(self) -> BulkGiver:
        return BulkGiver("UpsertAccounts", f"{{{NS}}}UpsertAccounts")

    @cached_property
    def _upserted(self) -> BulkTaker:
        return BulkTaker("UpsertAccounts", f"{{{NS}}}UpsertAccountsResponse")

    @cached_property
    def _items(self) -> tuple[ItemWriter, Any]:
        """How an UpsertItem's account is written, and its expectedVersion's type."""
        item = dict(self._client.get_type(f"{{{NS}}}UpsertItem").elements)
        account = ItemWriter(NS, self._client.get_type(f"{{{NS}}}Account"))
        return account, item["expectedVersion"].type

    @cached_property
    def _accounts(self) -> TypedRecords:
        return TypedRecords(f"{{{NS}}}account", self._client.get_type(f"{{{NS}}}Account"))

    @cached_property
    def _service(self) -> ServiceProxy:
        return self._client.create_service(_BINDING, self.address)

    def _call(self, fn: Callable[[], T]) -> T:
        return call(fn, system=self.system, table=RULES, settings=self.settings)

    # --- reading ------------------------------------------------------------------------------

    def read_pages(self, cursor: JsonDict | None) -> Iterator[Page]:
        stored = Cursor.from_json(cursor, system=self.system, field=CURSOR_FIELD).zoned(
            aware=True)  # the CRM speaks UTC: a naive instant is UTC
        # Closed start, every id at the stored instant: see the module docstring.
        position = stored.reopened()
        # One page is fetched ahead, while the hub stores the one before: the CRM builds a page
        # while we read one. It is the page the loop would ask for next, and no other.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.system}-page") as pool:
            ahead: Future[tuple[bool, list[dict[str, Any]]]] | None = pool.submit(
                self._call, lambda p=position: self._page(p))
            while ahead is not None:
                more, accounts = ahead.result()
                records = [_raw_record(account) for account in accounts]
                # The CRM has no upper bound: it pages in (ModifiedAt, AccountId) order, so the
                # first record at or past the end closes the window.
                inside = records if position.end is None else \
                    [r for r in records if not position.past_end(_modified(r))]
                if inside:
                    last = inside[-1]
                    position = position.after(_modified(last), last.record_id)
                ahead = pool.submit(self._call, lambda p=position: self._page(p)) \
                    if more and records and len(inside) == len(records) else None
                if inside:
                    yield Page(records=inside, cursor=position.to_json(),
                               source_name="GetAccountsModifiedSince")

    def _page(self, position: Cursor) -> tuple[bool, list[dict[str, Any]]]:
        """Whether more pages follow (zeep's reply) and the accounts (read by lxml, as zeep's
        plugin took them out of the reply, in this thread)."""
        reply = self._service.GetAccountsModifiedSince(
            modifiedAfter=position.start, afterId=position.key or None,
            pageSize=self.settings.page_size)
        return bool(reply.hasMore), self._accounts.read(self._taker.take())

    def acknowledge(self, page: Page) -> None:
        """Nothing to release: the CRM keeps its accounts; the cursor is the hub's."""

    # --- writing ------------------------------------------------------------------------------

    def write(self, writes: Sequence[Write], batch_id: str,
              progress: Progress | None = None) -> WriteResult:
        send = self._upsert_each if self.settings.write_operation == "UpsertAccount" \
            else self._upsert_batch
        size = self.settings.write_batch_size
        result = WriteResult()
        for start in range(0, len(writes), size):
            batch = writes[start:start + size]
            for one, refusal in zip(batch, send(batch), strict=True):
                if refusal is None:
                    result.applied.append(one.idempotency_key)
                else:
                    result.refused.append(refusal)
            if progress is not None:
                progress(start + len(batch))
        return result

    def _upsert_batch(self, writes: Sequence[Write]) -> list[WriteRefusal | None]:
        """One ``UpsertAccounts`` call for the writes the CRM may take; one answer per write."""
        answers = [_unwritable(w) for w in writes]
        sent = [w for w, answer in zip(writes, answers) if answer is None]
        if not sent:
            return answers
        # zeep renders the first item (typed and checked by the WSDL); the others are written
        # by lxml from the same types and added on the way out (connectors.soap.bulk_request)
        first, rest = sent[0], [self._item(w) for w in sent[1:]]
        try:
            with self._giver.giving(rest):
                self._call(lambda: self._service.UpsertAccounts(
                    item=[{"account": _account(first), "expectedVersion": _expected(first)}]))
        except BadRecordError:  # zeep refused a value on send: find which, one at a time
            return self._upsert_each(writes)
        taken = iter(self._answers(sent, self._results(self._upserted.take())))
        return [next(taken) if answer is None else answer for answer in answers]

    def _item(self, write: Write) -> etree._Element:
        account, version = self._items
        item = etree.Element(f"{{{NS}}}item")
        account.fill(etree.SubElement(item, f"{{{NS}}}account"), _account(write))
        expected = _expected(write)
        if expected is not None:
            etree.SubElement(item, f"{{{NS}}}expectedVersion").text = version.xmlvalue(expected)
        return item

    def _results(self, reply: etree._Element | None) -> list[tuple[str | None, bool, Any]]:
        """(AccountId, success, error) of each ``result`` of an UpsertAccounts reply, read by
        lxml; only an error (a refusal: few) is parsed by zeep, by its WSDL type."""
        found = []
        for node in () if reply is None else reply:
            if node.tag != _RESULT:
                raise RemoteRefusedError(f"UpsertAccounts answered an unexpected {node.tag!r}",
                                         system=self.system)
            parts = {child.tag.rpartition("}")[2]: child for child in node}
            error = parts.get("error")
            success = _text(parts.get("success")) in ("true", "1")
            found.append((_text(parts.get("AccountId")), success, None if error is None
                          else self._error_type.parse_xmlelement(error, self._client.wsdl.types)))
        return found

    @cached_property
    def _error_type(self) -> Any:
        return self._client.get_type(f"{{{NS}}}UpsertError")

    def _answers(self, sent: Sequence[Write],
                 results: list[tuple[str | None, bool, Any]]) -> list[WriteRefusal | None]:
        if [account for account, _, _ in results] != [w.record_id for w in sent]:
            raise RemoteRefusedError("UpsertAccounts answered for other accounts than it was "
                                     "sent", system=self.system)
        return [None if success else self._refusal(w, error)
                for w, (_, success, error) in zip(sent, results)]

    def _refusal(self, write: Write, error: Any) -> WriteRefusal | None:
        if error.code == "VersionConflict":
            current = serialize_object(error.current, dict) if error.current is not None else None
            return self._conflict(write, current)
        return WriteRefusal(write.idempotency_key,
                            f"refused by the CRM: {error.code}: {error.message}")

    def _upsert_each(self, writes: Sequence[Write]) -> list[WriteRefusal | None]:
        return [self._upsert(one) for one in writes]

    def _upsert(self, write: Write) -> WriteRefusal | None:
        refusal = _unwritable(write)
        if refusal is not None:
            return refusal
        try:
            self._call(lambda: self._service.UpsertAccount(account=_account(write),
                                                           expectedVersion=_expected(write)))
        except WriteConflictError as exc:
            return self._conflict(write, self._current_account(exc.__cause__))
        except BadRecordError as exc:
            return WriteRefusal(write.idempotency_key, f"refused by the CRM: {exc.args[0]}")
        return None

    def settle(self, writes: Sequence[Write], since: datetime) -> WriteResult:
        """The writes the CRM already holds: the account changed since the claim (a moved
        Version) and holds exactly the values sent. Reads only: the accounts modified since
        ``since`` (less ``CLOCK_SKEW``), through the same paged read as an extract."""
        wanted = {w.record_id for w in writes}
        since = since if since.tzinfo else since.replace(tzinfo=UTC)  # naive: UTC, as stored
        start = Cursor(field=CURSOR_FIELD, start=since - CLOCK_SKEW)
        current = {r.record_id: r.payload for page in self.read_pages(start.to_json())
                   for r in page.records if r.record_id in wanted}
        return WriteResult(applied=[w.idempotency_key for w in writes
                                    if _received(w, current.get(w.record_id))])

    def _conflict(self, write: Write, current: dict[str, Any] | None) -> WriteRefusal | None:
        if current is None:
            return WriteRefusal(write.idempotency_key, "conflict: account does not exist in the "
                                "CRM (or already exists, for a create)", conflict=True)
        if _holds(current, write):
            return None  # the CRM already holds exactly these values: applied before
        # The reason starts with "conflict:" so that the outbox row says why it was refused.
        return WriteRefusal(write.idempotency_key, f"conflict: changed in the CRM since read (now "
                            f"version {current.get('Version')}, expected "
                            f"{write.expected_version})", conflict=True)

    def _current_account(self, fault: BaseException | None) -> dict[str, Any] | None:
        """The ``current`` account in a VersionConflict fault detail, parsed by the WSDL type."""
        if not isinstance(fault, Fault) or fault.detail is None:
            return None
        node = fault.detail.find(f"{{{NS}}}VersionConflict")
        if node is None:
            return None
        element = self._client.get_element(f"{{{NS}}}VersionConflict")
        parsed = element.parse(node, self._client.wsdl.types)
        return serialize_object(parsed.current, dict) if parsed.current is not None else None

    # --- health -------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        try:
            self._call(lambda: self._service.GetAccountsModifiedSince(pageSize=1))
        except ConnectorError as exc:
            return False, str(exc)
        return True, f"CRM answered and accepted the credentials at {self.address}"


def _unwritable(write: Write) -> WriteRefusal | None:
    """Why the CRM cannot take this write, found before sending: one bad record must not sink
    the batch it travels in."""
    unknown = sorted(set(write.values) - WRITABLE)
    if unknown:
        return WriteRefusal(write.idempotency_key, f"fields not writable in the CRM: {unknown}")
    fields = {"AccountId": write.record_id, **write.values}
    not_text = sorted(k for k, v in fields.items() if v is not None and (
        isinstance(v, (dict, list, tuple, set)) or _NOT_XML_TEXT.search(str(v))))
    if not_text:
        return WriteRefusal(write.idempotency_key, f"values that are not XML text: {not_text}")
    return None


def _text(node: etree._Element | None) -> str | None:
    return None if node is None else (node.text or "").strip()


def _account(write: Write) -> dict[str, Any]:
    # None means "leave unchanged": zeep omits the element, and the CRM keeps the value.
    return {"AccountId": write.record_id,
            **{k: v for k, v in write.values.items() if v is not None}}


def _expected(write: Write) -> int | None:
    return int(write.expected_version) if write.expected_version is not None else None


def _holds(account: dict[str, Any], write: Write) -> bool:
    """The account has every value the write sets (None sets nothing; the CRM keeps "")."""
    return all((account.get(k) or "") == str(v) for k, v in write.values.items()
               if v is not None)


def _received(write: Write, account: dict[str, Any] | None) -> bool:
    """Changed since the claim, past the version the write expected, to the values it sets."""
    if account is None:
        return False
    moved = write.expected_version is None or int(account["Version"]) > int(write.expected_version)
    return moved and _holds(account, write)


def _modified(record: RawRecord) -> datetime:
    return datetime.fromisoformat(record.payload["ModifiedAt"])


def _raw_record(payload: dict[str, Any]) -> RawRecord:
    """An account as ``serialize_object`` gives it (``TypedRecords`` does the same)."""
    modified = payload["ModifiedAt"]
    payload["ModifiedAt"] = modified.astimezone(UTC).isoformat()
    return RawRecord(record_id=payload["AccountId"], payload=payload,
                     version=str(payload["Version"]))

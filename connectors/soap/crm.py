"""CRM accounts over SOAP (zeep): pages of accounts modified since a cursor; conditional upserts.

The contract is our packaged ``wsdl/crm.wsdl``. The cursor is the pair (ModifiedAt, AccountId) of
the last record stored. Within a run, pages are keyset-paged strictly after that pair, so records
sharing a ModifiedAt (several per second is normal) are neither lost nor read twice at a page
boundary. A run *resumes* with a closed start, ModifiedAt >= the stored instant, whatever the id:
a record the CRM commits late with the same timestamp and a smaller id is still found. The few
boundary records read again are the same content, and the hub's stage step skips them by hash.

Writes are conditional on the Version the hub read. A ``VersionConflict`` fault becomes a
refusal with ``conflict=True``, never an overwrite. The fault carries the current account: if it
already holds the values we are writing (a replayed batch, or a retry after a lost response),
the write counts as applied, which keeps ``write`` idempotent.

Airflow connection: host, port, login, password (WS-Security UsernameToken, digest), schema
"http"/"https" (or ``extra.scheme``; default https), ``extra.endpoint`` (overrides
``Settings.endpoint``), ``extra.verify`` (CA bundle path or bool), ``extra.proxy``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import zeep
from pydantic import Field
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy

from connectors.base import JsonDict, Page, RawRecord, Write, WriteRefusal, WriteResult
from connectors.errors import (
    BadRecordError,
    ConnectorConfigError,
    ConnectorError,
    WriteConflictError,
)
from connectors.soap import FaultTable, HttpSettings, call, endpoint_url, http_session, zeep_client
from connectors.soap.security import username_token
from core.connections import ConnectionInfo

T = TypeVar("T")

WSDL = Path(__file__).parent / "wsdl" / "crm.wsdl"
NS = "urn:custhub:crm:accounts:v1"
_BINDING = f"{{{NS}}}CrmAccountBinding"
WRITABLE = frozenset({"Name", "CompanyId", "VatId", "Street", "City", "PostalCode",
                      "CountryCode", "Email", "Phone"})

FAULTS: FaultTable = {
    "VersionConflict": WriteConflictError,
    "InvalidAccount": BadRecordError,
    "FailedAuthentication": ConnectorConfigError,  # WS-Security 1.0 fault codes
    "InvalidSecurity": ConnectorConfigError,
    "InvalidSecurityToken": ConnectorConfigError,
}


class Settings(HttpSettings):
    wsdl_path: Path | None = None  # default: the packaged crm.wsdl
    endpoint: str = "/crm/soap"
    page_size: int = Field(200, ge=1, le=1000)


@dataclass(frozen=True)
class Cursor:
    """Position after the last stored record; (None, "") means from the beginning."""

    modified_at: datetime | None = None
    id: str = ""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Cursor:
        if not raw:
            return cls()
        try:
            when = datetime.fromisoformat(str(raw["modified_at"]))
        except (KeyError, ValueError) as exc:
            raise ConnectorConfigError(f"invalid CRM cursor {dict(raw)!r}") from exc
        when = when if when.tzinfo else when.replace(tzinfo=UTC)  # the CRM speaks UTC
        return cls(when.astimezone(UTC), str(raw.get("id") or ""))

    def to_json(self) -> JsonDict | None:
        if self.modified_at is None:
            return None
        return {"modified_at": self.modified_at.isoformat(), "id": self.id}


class CrmSoapConnector:
    Settings = Settings

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
        return zeep_client(wsdl, http_session(self._conn), self.settings, wsse=wsse)

    @cached_property
    def _service(self) -> ServiceProxy:
        return self._client.create_service(_BINDING, self.address)

    def _call(self, fn: Callable[[], T]) -> T:
        return call(fn, system=self.system, faults=FAULTS, settings=self.settings)

    # --- reading ------------------------------------------------------------------------------

    def read_pages(self, cursor: JsonDict | None) -> Iterator[Page]:
        # Closed start: no afterId on the first page means "ModifiedAt >= the stored instant".
        position = replace(Cursor.from_json(cursor), id="")
        while True:
            reply = self._call(lambda p=position: self._service.GetAccountsModifiedSince(
                modifiedAfter=p.modified_at, afterId=p.id or None,
                pageSize=self.settings.page_size))
            # zeep gives None for an empty <accounts/>, a list otherwise.
            accounts = reply.accounts.account if reply.accounts is not None else []
            records = [_raw_record(account) for account in accounts]
            if not records:
                return
            last = records[-1]
            position = Cursor(datetime.fromisoformat(last.payload["ModifiedAt"]), last.record_id)
            yield Page(records=records, cursor=position.to_json(),
                       source_name="GetAccountsModifiedSince")
            if not reply.hasMore:
                return

    def cursor_at(self, moment: datetime) -> JsonDict | None:
        """The cursor that makes ``read_pages`` start at ``moment`` (a backfill window's start):
        accounts with ModifiedAt >= ``moment`` (naive means UTC, as the CRM speaks)."""
        return Cursor.from_json({"modified_at": moment.isoformat(), "id": ""}).to_json()

    def acknowledge(self, page: Page) -> None:
        """Nothing to release: the CRM keeps its accounts; the cursor is the hub's."""

    # --- writing ------------------------------------------------------------------------------

    def write(self, writes: Sequence[Write], batch_id: str) -> WriteResult:
        result = WriteResult()
        for one in writes:
            refusal = self._upsert(one)
            if refusal is None:
                result.applied.append(one.idempotency_key)
            else:
                result.refused.append(refusal)
        return result

    def _upsert(self, write: Write) -> WriteRefusal | None:
        unknown = sorted(set(write.values) - WRITABLE)
        if unknown:
            return WriteRefusal(write.idempotency_key, f"fields not writable in the CRM: {unknown}")
        # None means "leave unchanged": zeep omits the element, and the CRM keeps the value.
        account = {"AccountId": write.record_id,
                   **{k: v for k, v in write.values.items() if v is not None}}
        expected = int(write.expected_version) if write.expected_version is not None else None
        try:
            self._call(lambda: self._service.UpsertAccount(account=account,
                                                           expectedVersion=expected))
        except WriteConflictError as exc:
            return self._conflict(write, exc)
        except BadRecordError as exc:
            return WriteRefusal(write.idempotency_key, f"refused by the CRM: {exc.args[0]}")
        return None

    def _conflict(self, write: Write, exc: ConnectorError) -> WriteRefusal | None:
        current = self._current_account(exc.__cause__)
        if current is None:
            return WriteRefusal(write.idempotency_key, "conflict: account does not exist in the "
                                "CRM (or already exists, for a create)", conflict=True)
        if all((current.get(k) or "") == (v or "") for k, v in write.values.items()):
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


def _raw_record(account: Any) -> RawRecord:
    payload: dict[str, Any] = serialize_object(account, dict)
    modified = payload["ModifiedAt"]
    payload["ModifiedAt"] = modified.astimezone(UTC).isoformat()
    return RawRecord(record_id=payload["AccountId"], payload=payload,
                     version=str(payload["Version"]))

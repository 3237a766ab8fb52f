"""The CRM at its protocol limit, checked for sameness, not speed: pages read by lxml give the
records zeep gives, unsafe pages are refused as before, and upserts go in batches of up to 200
with one answer per account (seen in the calls the sandbox CRM received)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from zeep.helpers import serialize_object

from connectors.base import Write
from connectors.errors import RemoteRefusedError, SecurityError
from connectors.soap import http_session, zeep_client
from connectors.soap.crm import NS, WSDL, CrmSoapConnector, Settings, _raw_record
from connectors.soap.security import username_token

pytestmark = pytest.mark.integration

TIE = "2024-05-01T10:00:00Z"
TRICKY = {
    "Name": "Dvořák & syn <s.r.o.> \"Žluťoučký kůň\" 'a'",
    "Street": "  Budějovická 778/3a  ",  # spaces kept as they are
    "City": "Praha\r\n4",  # a CR survives the wire
    "Email": "",
    "Phone": "",
    "CompanyId": "]]> <![CDATA[ &amp; 𝔘",
}


def _connector(conn, **settings) -> CrmSoapConnector:
    return CrmSoapConnector("crm", Settings(retry_attempts=2, retry_initial_wait=0.01,
                                            retry_max_wait=0.02, **settings), conn)


def _zeep_records(conn) -> list:
    """The accounts as zeep alone deserialises them (the reading before lxml)."""
    client = zeep_client(WSDL, http_session(conn), Settings(),
                         wsse=username_token(conn.login, conn.password))
    service = client.create_service(f"{{{NS}}}CrmAccountBinding",
                                    f"http://127.0.0.1:{conn.port}/crm/soap")
    reply = service.GetAccountsModifiedSince(pageSize=5000)
    accounts = reply.accounts.account if reply.accounts is not None else []
    return [_raw_record(serialize_object(account, dict)) for account in accounts]


def _tricky_accounts() -> list[dict]:
    accounts = [{"AccountId": f"CRM-{i:03d}", **TRICKY, "ModifiedAt": TIE} for i in range(7)]
    accounts += [{"AccountId": "CRM-EMPTY", "ModifiedAt": TIE},  # every text field empty
                 {"AccountId": "CRM-LATER", "Name": "Ä", "ModifiedAt": "2024-05-01T10:00:00.5Z",
                  "Version": 41}]
    return accounts


def test_lxml_reads_the_records_zeep_reads(crm_service, crm_conn):
    crm_service.load(_tricky_accounts())
    pages = list(_connector(crm_conn, page_size=3).read_pages(None))  # ties across pages
    fast = [record for page in pages for record in page.records]
    assert fast == _zeep_records(crm_conn)
    assert [len(p.records) for p in pages] == [3, 3, 3]
    assert fast[0].payload["Name"] == TRICKY["Name"]
    assert fast[0].payload["City"] == "Praha\r\n4"
    assert fast[7].payload["Email"] is None and fast[7].payload["Name"] is None
    assert (fast[8].version, fast[8].payload["ModifiedAt"]) == ("41",
                                                              "2024-05-01T10:00:00.500000+00:00")


RECORDED = f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><s:Body>
 <!-- another CRM's habits: a comment, nil and absent elements, an offset, no fraction -->
 <c:GetAccountsModifiedSinceResponse xmlns:c="{NS}"><c:accounts>
  <c:account><c:AccountId>CRM-NIL</c:AccountId><c:Name xsi:nil="true"/>
   <c:City>Plze&#328;</c:City><c:ModifiedAt>2024-05-01T12:00:00+02:00</c:ModifiedAt>
   <c:Version>3</c:Version></c:account>
  <c:account><c:AccountId>CRM-BARE</c:AccountId>
   <c:ModifiedAt>2024-05-01T10:00:00.123Z</c:ModifiedAt><c:Version>1</c:Version></c:account>
 </c:accounts><c:hasMore>false</c:hasMore></c:GetAccountsModifiedSinceResponse>
</s:Body></s:Envelope>"""


def test_nil_absent_and_offset_values_read_as_zeep_reads_them(crm_service, crm_conn, tmp_path):
    sample = tmp_path / "page.xml"
    sample.write_text(RECORDED, encoding="utf-8")
    crm_service.fail_next(f"sample:{sample}", f"sample:{sample}")
    [page] = list(_connector(crm_conn).read_pages(None))
    assert page.records == _zeep_records(crm_conn)
    nil, bare = page.records
    assert (nil.payload["Name"], nil.payload["City"]) == (None, "Plzeň")
    assert nil.payload["ModifiedAt"] == "2024-05-01T10:00:00+00:00"
    assert bare.payload["Street"] is None and bare.version == "1"


@pytest.mark.parametrize(("mode", "error"), [
    ("doctype", SecurityError), ("entity_bomb", SecurityError)])
def test_a_page_with_a_dtd_is_refused_before_any_account_is_read(crm_service, crm_conn, mode,
                                                                 error):
    crm_service.load(_tricky_accounts())
    crm_service.fail_next(mode)
    with pytest.raises(error):
        list(_connector(crm_conn, page_size=3).read_pages(None))
    assert crm_service.requests_served == 1


@pytest.mark.parametrize("account", [
    "<c:account><c:AccountId>X</c:AccountId><c:Name>&xxe;</c:Name></c:account>",
    "<c:account><c:AccountId>X</c:AccountId><c:Secret>1</c:Secret></c:account>",
    "<c:other><c:AccountId>X</c:AccountId></c:other>",
], ids=["undeclared-entity", "element-not-in-the-wsdl", "not-an-account"])
def test_a_page_the_contract_does_not_allow_is_refused(crm_service, crm_conn, tmp_path, account):
    sample = tmp_path / "page.xml"
    sample.write_text(RECORDED.replace("<c:accounts>", "<c:accounts>" + account),
                      encoding="utf-8")
    crm_service.fail_next(f"sample:{sample}")
    with pytest.raises(RemoteRefusedError):
        list(_connector(crm_conn).read_pages(None))


# --- writing in batches -------------------------------------------------------------------------

def _accounts(n: int) -> list[dict]:
    return [{"AccountId": f"CRM-{i:04d}", "Name": f"Firma {i}", "City": "Praha",
             "ModifiedAt": TIE} for i in range(n)]


def _writes(n: int, city: str = "Brno") -> list[Write]:
    return [Write(f"k-{i}", f"CRM-{i:04d}", {"City": city}, "1") for i in range(n)]


def test_one_conflict_in_a_batch_refuses_only_that_account(crm_service, crm_conn):
    crm_service.load(_accounts(5))
    crm_service.store.upsert({"AccountId": "CRM-0002", "City": "Ostrava"}, 1)  # someone else
    result = _connector(crm_conn).write(_writes(5), "b1")
    assert result.applied == ["k-0", "k-1", "k-3", "k-4"]
    [refusal] = result.refused
    assert (refusal.idempotency_key, refusal.conflict) == ("k-2", True)
    assert refusal.reason.startswith("conflict: changed in the CRM since read (now version 2")
    assert {a["AccountId"]: (a["City"], a["Version"]) for a in crm_service.accounts()} == {
        "CRM-0000": ("Brno", 2), "CRM-0001": ("Brno", 2), "CRM-0002": ("Ostrava", 2),
        "CRM-0003": ("Brno", 2), "CRM-0004": ("Brno", 2)}
    assert crm_service.calls == [("UpsertAccounts", 5)]


def test_450_writes_go_in_three_calls_and_a_replay_changes_nothing(crm_service, crm_conn):
    crm_service.load(_accounts(450))
    connector, told = _connector(crm_conn), []
    first = connector.write(_writes(450), "b1", progress=told.append)
    assert first.applied == [f"k-{i}" for i in range(450)] and first.refused == []
    assert told == [200, 400, 450]  # a person watching the publish sees each call answered
    assert crm_service.calls == [("UpsertAccounts", 200), ("UpsertAccounts", 200),
                                 ("UpsertAccounts", 50)]
    again = connector.write(_writes(450), "b1")  # the CRM holds these values: applied before
    assert again.applied == first.applied and again.refused == []
    assert {a["Version"] for a in crm_service.accounts()} == {2}


def test_batch_size_is_configurable_up_to_200(crm_service, crm_conn):
    crm_service.load(_accounts(5))
    _connector(crm_conn, write_batch_size=2).write(_writes(5), "b1")
    assert [n for _, n in crm_service.calls] == [2, 2, 1]
    with pytest.raises(ValidationError):
        Settings(write_batch_size=201)


def test_single_upserts_for_a_crm_without_the_batch_operation(crm_service, crm_conn):
    crm_service.load(_accounts(3))
    conflict = Write("k-stale", "CRM-0001", {"City": "Zlín"}, "7")
    result = _connector(crm_conn, write_operation="UpsertAccount").write(
        [*_writes(1), conflict, *_writes(3)[2:]], "b1")
    assert (result.applied, [r.idempotency_key for r in result.refused]) == \
        (["k-0", "k-2"], ["k-stale"])
    assert crm_service.calls == [("UpsertAccount", 1)] * 3


def test_a_value_xml_cannot_carry_is_refused_alone(crm_service, crm_conn):
    crm_service.load(_accounts(2))
    bad = Write("k-bad", "CRM-0000", {"Name": "Firma\x01"}, "1")
    result = _connector(crm_conn).write([bad, *_writes(2)[1:]], "b1")
    assert result.applied == ["k-1"]
    assert [(r.idempotency_key, r.conflict) for r in result.refused] == [("k-bad", False)]
    assert crm_service.calls == [("UpsertAccounts", 1)]


def test_two_writes_for_one_account_in_a_batch_apply_in_order(crm_service, crm_conn):
    crm_service.load(_accounts(1))
    first = Write("k-a", "CRM-0000", {"City": "Brno"}, "1")
    second = Write("k-b", "CRM-0000", {"Name": "Nová"}, "1")  # read before the first landed
    result = _connector(crm_conn).write([first, second], "b1")
    assert result.applied == ["k-a"] and [r.idempotency_key for r in result.refused] == ["k-b"]
    assert result.refused[0].conflict


def _upsert_body(connector: CrmSoapConnector, writes: list[Write], giver: bool) -> list[tuple]:
    """The UpsertAccounts request's body as (tag, text) pairs, with the items written by lxml
    through the giver or all of them by zeep; nothing is sent."""
    from connectors.soap.crm import _account, _expected  # the request as the connector forms it

    items = [{"account": _account(w), "expectedVersion": _expected(w)} for w in writes]
    binding = connector._service._binding
    if giver:
        with connector._giver.giving([connector._item(w) for w in writes[1:]]):
            envelope, _ = binding._create("UpsertAccounts", [], {"item": items[:1]},
                                          client=connector._client)
    else:
        envelope, _ = binding._create("UpsertAccounts", [], {"item": items}, client=connector._client)
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    return [(node.tag, node.text) for node in body.iter()]


def test_items_written_by_lxml_are_the_items_zeep_writes(crm_conn):
    connector = _connector(crm_conn)
    writes = [Write(f"k{i}", f"CRM-{i:03d}", {k: v for k, v in TRICKY.items() if v}, str(i) if i else None)
              for i in range(4)] + [Write("k-city", "CRM-009", {"City": "Brno", "Phone": None}, "7")]
    assert _upsert_body(connector, writes, giver=True) == _upsert_body(connector, writes, giver=False)

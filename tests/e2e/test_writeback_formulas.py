"""Formula-like company names through the real publish path (issue 12): escaped in the ERP's
CSV import file, read back to the original text by the ERP's own import job; data over SOAP."""

from __future__ import annotations

import csv
import io

import pytest

from core.clock import utcnow
from hub.config import HubConfig
from hub.pipeline.context import RunContext, open_store
from hub.pipeline.publish import publish
from hub.pipeline.runs import start_run
from hub.store.db import session_scope
from hub.store.models import Outbox
from mappings.engine import load_spec
from sandbox.erp_system import import_errors
from sandbox.estate import SandboxEstate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

LINK = '=HYPERLINK("http://x","Klikni")'  # reconcile holds it; a row made by hand may still carry it
MINUS, PLUS = "-ZERO- a.s.", "+Plus s.r.o."


def _queue(ctx: RunContext, system: str, names: dict[str, str], versions: dict[str, str] | None = None) -> None:
    with session_scope(ctx.engine) as session:
        for record_id, name in names.items():
            session.add(Outbox(idempotency_key=f"formula-{system}-{record_id}", run_id=ctx.run_id, system=system,
                               record_id=record_id, hub_id=f"H-{record_id}"[:32], values={"legal_name": name},
                               expected_version=(versions or {}).get(record_id), status="pending", attempts=0,
                               created_at=utcnow()))


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_the_erp_file_holds_escaped_cells_and_the_erp_stores_the_original_text(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    engine = open_store(hub_config)
    ctx = RunContext(hub_config, engine, start_run(engine, "test"))
    ids = [p["PARTNER_ID"] for p in sandbox_estate.generated.erp_partners[:3]]
    names = dict(zip(ids, (LINK, MINUS, PLUS), strict=True))
    _queue(ctx, "erp", names)
    assert publish(ctx, "erp") == {"sent": 3}

    fmt = load_spec("erp").format
    assert fmt is not None
    [path] = (sandbox_estate.root / "erp" / "import").glob(f"*{ctx.run_id}*")
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode(fmt.encoding), newline=""),
                               delimiter=fmt.delimiter))
    cells = {row["PARTNER_ID"]: row["NAZEV"] for row in rows}
    assert cells == {i: "'" + name for i, name in names.items()}  # never raw: no cell starts a formula

    assert sandbox_estate.process_inbound()["erp"] == 3
    assert import_errors(sandbox_estate.erp.files_root) == {}
    stored = {p["PARTNER_ID"]: p["NAZEV"] for p in sandbox_estate.erp.partners()}
    assert {i: stored[i] for i in ids} == names


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_the_crm_gets_a_name_starting_with_a_minus_as_data(
        hub_config: HubConfig, sandbox_estate: SandboxEstate) -> None:
    engine = open_store(hub_config)
    ctx = RunContext(hub_config, engine, start_run(engine, "test"))
    account = sandbox_estate.crm.accounts()[0]
    _queue(ctx, "crm", {account["AccountId"]: MINUS}, {account["AccountId"]: str(account["Version"])})
    assert publish(ctx, "crm") == {"sent": 1}
    stored = {a["AccountId"]: a["Name"] for a in sandbox_estate.crm.accounts()}
    assert stored[account["AccountId"]] == MINUS

"""No raw secret in any log, DEBUG included: marker secrets on every connection of the sandbox
estate (CRM password, SFTP password, SFTP private key and its passphrase, ODBC password, webhook
token); `custhub run nightly` and `airflow dags test nightly_batch` run as processes with logging
at DEBUG; then every line they printed, every file they wrote (reports, Airflow's logs) and every
text column of the hub store is searched for the markers."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sandbox.estate import SandboxEstate
from tests.fixtures.airflow import write_test_config
from tests.fixtures.databases import PG_ADMIN_URL, PG_ODBC_DRIVER, _add_dsn, _database, \
    _server_database

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WEBHOOK = "custhub_alerts_webhook"  # config/hub.yaml's orchestration.alerts.webhook_conn_id


def _marker(what: str) -> str:
    return f"{what}-marker-{secrets.token_hex(8)}"


class Secrets:
    def __init__(self) -> None:
        self.crm, self.sftp, self.odbc = _marker("crm"), _marker("sftp"), _marker("odbc")
        self.passphrase, self.webhook = _marker("passphrase"), _marker("webhook")
        self.private_key = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(self.passphrase.encode())).decode()

    def needles(self) -> dict[str, str]:
        """What must not be found: each marker, and each line of the key's body (a key may be
        logged whole, escaped, or line by line)."""
        body = [line for line in self.private_key.splitlines() if "-----" not in line]
        return {"crm password": self.crm, "sftp password": self.sftp, "odbc password": self.odbc,
                "key passphrase": self.passphrase, "webhook token": self.webhook,
                **{f"private key line {i}": line for i, line in enumerate(body) if len(line) > 16}}


@pytest.fixture
def marked(tmp_path: Path, odbc_ini: Path) -> Iterator[tuple[Secrets, dict[str, str]]]:
    """The estate (accounting on PostgreSQL through psqlODBC) with marker secrets, and the
    environment a process needs to run the hub against it at DEBUG."""
    marks = Secrets()
    root = tmp_path / "estate"
    root.mkdir()
    (root / "secrets.json").write_text(json.dumps({"crm": marks.crm, "erp": marks.sftp}))
    with _server_database(PG_ADMIN_URL, "PostgreSQL", "CUSTHUB_TEST_PG_ADMIN_URL") as name, \
            _database("postgresql", "postgres", PG_ADMIN_URL, name) as db:
        dsn = _add_dsn(odbc_ini, PG_ODBC_DRIVER, db, "Servername")
        accounting = {"conn_type": "odbc", "login": db.conn.login, "password": marks.odbc,
                      "extra": {"dsn": dsn, "sqlalchemy_scheme": "postgresql+pyodbc"}}
        with SandboxEstate(root, n_companies=60, seed=11, accounting=(db.engine, accounting)) as estate:
            yield marks, _environment(tmp_path, estate, marks)


def _environment(tmp_path: Path, estate: SandboxEstate, marks: Secrets) -> dict[str, str]:
    conns = estate.connections()
    conns["custhub_erp"]["extra"].update(private_key=marks.private_key,
                                         private_key_passphrase=marks.passphrase)
    conns[WEBHOOK] = {"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http",
                      "password": marks.webhook}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUSTHUB_CONFIG": str(write_test_config(tmp_path)),
           "CUSTHUB_STORE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG", "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags")}
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()})
    return env


def _run(command: list[str], env: dict[str, str], out: Path) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    out.write_text(done.stdout + "\n" + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout + done.stderr


def _store_text(url: str) -> str:
    """Every row of every table of the hub store, as text."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as c:
            return "\n".join(str(row) for table in meta.sorted_tables
                             for row in c.execute(sa.select(table)))
    finally:
        engine.dispose()


def _found(marks: Secrets, places: dict[str, str]) -> list[str]:
    return [f"{what} in {where}" for where, text in places.items()
            for what, needle in marks.needles().items() if needle in text]


def _files(*roots: Path) -> dict[str, str]:
    return {str(path): path.read_text(errors="replace") for root in roots
            for path in root.rglob("*") if path.is_file() and path.suffix != ".db"}


def test_a_nightly_run_at_debug_logs_and_stores_no_secret(marked, tmp_path: Path) -> None:
    marks, env = marked
    printed = _run([str(BIN / "custhub"), "run", "nightly"], env, tmp_path / "cli.out")
    assert "debug" in printed.lower() and "SOAP request" in printed  # DEBUG really was on
    places = {"the CLI's output": printed, "the store": _store_text(env["CUSTHUB_STORE_URL"]),
              **_files(tmp_path / "reports")}
    assert len(places) > 3, "the run wrote its reports"
    assert _found(marks, places) == []


@pytest.mark.airflow
def test_a_dag_test_at_debug_logs_and_stores_no_secret(marked, tmp_path: Path,
                                                       airflow_db: Path) -> None:
    marks, env = marked
    printed = _run([str(BIN / "airflow"), "dags", "test", "nightly_batch"], env,
                   tmp_path / "airflow.out")
    assert "Sending request" in printed and "state:success" in printed  # DEBUG on, run green
    places = {"airflow dags test's output": printed,
              "the store": _store_text(env["CUSTHUB_STORE_URL"]),
              **_files(tmp_path / "reports", airflow_db / "logs")}
    assert _found(marks, places) == []


def test_an_alert_sent_at_debug_logs_no_token(marked, tmp_path: Path) -> None:
    """The webhook is only called when a task fails for good: here it is called directly, in a
    process at DEBUG, against a closed port (so its failure is logged too)."""
    marks, env = marked
    script = ("import logging; logging.basicConfig(level=logging.DEBUG)\n"
              "from hub.alerts import Alert, send\nfrom hub.orchestration_config import AlertConfig\n"
              f"print(send(Alert('d', 't', 'r', 1, None, 'boom'), AlertConfig(webhook_conn_id={WEBHOOK!r}, timeout_seconds=2)))")
    printed = _run([sys.executable, "-c", script], env, tmp_path / "alert.out")
    assert "alert webhook" in printed and "[]" in printed
    assert _found(marks, {"the alert's output": printed}) == []

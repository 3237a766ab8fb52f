"""What `make airflow` relies on: the estate served on fixed ports with its connections written
out, and those connections and hub.yaml's pools stored in Airflow's database by code."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from sandbox import airflow_setup, serve

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_estate_serves_on_the_configured_ports_and_writes_its_connections(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = {name: _free_port() for name in serve.DEFAULT_PORTS}
    for name, port in ports.items():
        monkeypatch.setenv(f"CUSTHUB_SANDBOX_{name.upper()}_PORT", str(port))
    written, stop = tmp_path / "connections.json", threading.Event()
    thread = threading.Thread(target=serve.serve, args=(tmp_path / "estate", written, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not written.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        connections = json.loads(written.read_text())
        assert written.stat().st_mode & 0o077 == 0, "the file holds passwords: owner only"
        assert connections["custhub_crm"]["port"] == ports["crm"]
        assert connections["custhub_erp"]["port"] == ports["erp"]
        assert connections["custhub_isir"]["port"] == ports["isir"]
        with socket.create_connection(("127.0.0.1", ports["vies"]), timeout=5):
            pass  # listening
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not written.exists(), "a stopped estate leaves no connections pointing at nothing"


def test_pools_and_connections_are_created_by_code(airflow_db: Path, dag_config: Path) -> None:
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    assert airflow_setup.sync_pools() == ["custhub_ares", "custhub_hub_store", "custhub_isir",
                                          "custhub_vies"]
    conn = {"conn_type": "sftp", "host": "127.0.0.1", "port": 18022, "login": "erp",
            "password": "pw", "extra": {"host_key": "AAAA"}}
    airflow_setup.import_connections({"custhub_test_erp": conn})
    airflow_setup.import_connections({"custhub_test_erp": {**conn, "password": "rotated"}})
    with create_session() as session:
        assert session.query(Pool).filter(Pool.pool == "custhub_hub_store").one().slots == 1
        stored = session.query(Connection).filter(Connection.conn_id == "custhub_test_erp").all()
        assert len(stored) == 1 and stored[0].password == "rotated"
        assert stored[0].extra_dejson == {"host_key": "AAAA"}

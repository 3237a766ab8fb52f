"""A user's mistake is one line on stderr and exit 1, through the installed ``custhub`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest
import yaml
from sqlalchemy import select

from hub.config import HubConfig
from hub.pipeline.context import open_store
from hub.store.db import make_engine, migrate, session_scope
from hub.store.models import Run
from sandbox.estate import SandboxEstate

CUSTHUB = [sys.executable, "-c", "from hub.cli import main; main()"]


def custhub(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CUSTHUB, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for text in expected:
        assert text in lines[0], lines[0]


def test_a_missing_config_is_one_line(tmp_path: Path) -> None:
    result = custhub("status", "--config", "missing.yaml", cwd=tmp_path)
    assert_one_line_error(result, "missing.yaml", "No such file")
    assert not list(tmp_path.iterdir())  # nothing created where the user stood


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = custhub("--debug", "status", "--config", "missing.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_match_on_a_file_without_the_id_column_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("Name,City\nAlfa s.r.o.,Brno\n", encoding="utf-8")
    result = custhub("match", "x.csv=crm", "--out", "out.csv", cwd=tmp_path)
    assert_one_line_error(result, "x.csv", "AccountId")
    assert not (tmp_path / "out.csv").exists()


def test_a_store_that_cannot_be_opened_is_one_line_without_its_password(tmp_path: Path) -> None:
    env_url = "postgresql+psycopg2://custhub:s3cret-pw@127.0.0.1:9/hub"
    result = subprocess.run([*CUSTHUB, "status"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CUSTHUB_STORE_URL": env_url})
    assert_one_line_error(result, "cannot open the hub store", "127.0.0.1:9")
    assert "s3cret-pw" not in result.stderr + result.stdout


@pytest.mark.integration
@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_nightly_with_a_changed_sftp_host_key_is_one_line(hub_config: HubConfig, sandbox_estate: SandboxEstate,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    erp = json.loads(os.environ["AIRFLOW_CONN_CUSTHUB_ERP"])
    other = paramiko.RSAKey.generate(2048)  # the server now shows a key we were never told of
    erp["extra"]["host_key"] = f"{other.get_name()} {other.get_base64()}"
    monkeypatch.setenv("AIRFLOW_CONN_CUSTHUB_ERP", json.dumps(erp))
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(hub_config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    result = custhub("run", "nightly", "--config", str(config), cwd=tmp_path)
    assert_one_line_error(result, "[erp]", "host key")
    assert erp["password"] not in result.stderr + result.stdout
    with session_scope(open_store(hub_config)) as session:
        (run,) = session.scalars(select(Run)).all()
        assert run.status == "failed" and "host key" in (run.message or "")


def test_an_undefined_airflow_connection_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["CUSTHUB_STORE_URL"] = f"sqlite:///{tmp_path / 'hub.db'}"
    result = subprocess.run([*CUSTHUB, "run", "nightly"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env=env)
    assert_one_line_error(result, "custhub_crm", "AIRFLOW_CONN_CUSTHUB_CRM")


@pytest.mark.parametrize("args", [["xref", "split", "H1", "abc", "--reason", "typo"],
                                  ["review", "decide", "3", "maybe", "--reason", "typo"]])
def test_a_malformed_argument_is_a_usage_error_not_a_traceback(tmp_path: Path, args: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(make_engine(url))  # a steward command needs a store: only `custhub run nightly` creates one
    result = subprocess.run([*CUSTHUB, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CUSTHUB_STORE_URL": url})
    assert_one_line_error(result, "Invalid value", "--help")

"""The CLI as a person uses it: from another folder, in an 80-column terminal, with typos.

Every check runs ``custhub`` as a process (``python -m hub.cli``), with no CUSTHUB_* variable
set: the configuration file alone says where the store is.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from sqlalchemy import text

from hub.cli import app
from hub.config import DEFAULT_CONFIG, load_config
from hub.pipeline.context import open_store
from hub.pipeline.runs import finish_run, start_run
from sandbox.estate import SandboxEstate

CUSTHUB = [sys.executable, "-m", "hub.cli"]


def user_env() -> dict[str, str]:
    """A person's terminal: 80 columns, no custhub or Airflow connection variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTHUB_", "AIRFLOW_CONN_"))}
    return env | {"COLUMNS": "80", "TERM": "dumb"}


def custhub(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CUSTHUB, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=user_env())


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The project's hub.yaml in a folder of its own, its store and reports given relative to it."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["store"] = {"url": "sqlite:///state/hub.db"}
    raw["report_dir"] = "state/reports"
    path = tmp_path / "project" / "hub.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_relative_store_and_report_paths_are_read_from_the_configs_folder(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.store_url == f"sqlite:///{config_file.parent / 'state' / 'hub.db'}"
    assert Path(config.report_dir) == config_file.parent / "state" / "reports"


@pytest.mark.parametrize("command", [["status"], ["xref", "show", "H00000001"], ["review", "list"],
                                     ["approve", "20261207T113021-abcdef"]])
def test_a_command_on_a_missing_store_names_it_and_creates_nothing(config_file: Path, elsewhere: Path,
                                                                   command: list[str]) -> None:
    result = custhub(*command, "--config", str(config_file), cwd=elsewhere)
    assert_one_line_error(result, str(config_file.parent / "state" / "hub.db"), "custhub run nightly")
    assert not list(elsewhere.iterdir())
    assert not (config_file.parent / "state").exists()


def test_match_against_the_golden_records_of_a_missing_store_creates_none(config_file: Path,
                                                                          elsewhere: Path) -> None:
    listing = config_file.parent / "list.csv"
    listing.write_text("id,name\n1,Alfa s.r.o.\n", encoding="utf-8")
    result = custhub("match", f"{listing}=crm", "--golden", "--out", "clusters.csv",
                     "--config", str(config_file), cwd=elsewhere)
    assert_one_line_error(result, str(config_file.parent / "state" / "hub.db"), "custhub run nightly")
    assert not list(elsewhere.iterdir())
    assert not (config_file.parent / "state").exists()


def test_status_from_another_folder_shows_whole_run_ids_in_80_columns(config_file: Path, elsewhere: Path) -> None:
    engine = open_store(load_config(config_file))
    held = start_run(engine, "nightly")
    failed = start_run(engine, "nightly")
    finish_run(engine, failed, "failed", "Airflow connection 'custhub_crm' is not defined: " * 3)
    result = custhub("status", "--config", str(config_file), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert held in result.stdout and failed in result.stdout  # whole, as `custhub approve` needs them
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "is not defined" in result.stdout  # the run's message, wrapped, not cut away
    assert not list(elsewhere.iterdir())


def test_an_unknown_run_id_is_one_line(config_file: Path, elsewhere: Path) -> None:
    open_store(load_config(config_file))
    result = custhub("approve", "20991231T000000-000000", "--config", str(config_file), cwd=elsewhere)
    assert_one_line_error(result, "20991231T000000-000000")


def test_a_store_a_newer_custhub_migrated_is_one_line(config_file: Path, elsewhere: Path) -> None:
    engine = open_store(load_config(config_file))
    with engine.begin() as connection:  # as a later release's migration leaves it
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_later'"))
    result = custhub("status", "--config", str(config_file), cwd=elsewhere)
    assert_one_line_error(result, "cannot open the hub store", "9999_later")


@pytest.mark.parametrize(("args", "expected"), [
    (["run", "nightly", "--wait-timeout", "-1"], "--wait-timeout"),
    (["run", "nightly", "--dry-rn"], "--dry-rn"),
    (["xref", "show", "H1", "--at", "yesterday"], "--at"),
    (["review", "decide", "3", "maybe", "--reason", "typo"], "match or not-match"),
    (["statuss"], "statuss"),
])
def test_a_command_line_mistake_is_one_line_naming_the_help(elsewhere: Path, args: list[str],
                                                           expected: str) -> None:
    line = assert_one_line_error(custhub(*args, cwd=elsewhere), expected)
    assert "--help" in line
    assert not list(elsewhere.iterdir())


def test_a_missing_config_file_is_one_line_and_debug_shows_the_traceback(elsewhere: Path) -> None:
    assert_one_line_error(custhub("status", "--config", "nowhere.yaml", cwd=elsewhere), "nowhere.yaml")
    debug = custhub("--debug", "status", "--config", "nowhere.yaml", cwd=elsewhere)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_an_undefined_connection_says_how_to_reach_the_demo(config_file: Path, elsewhere: Path) -> None:
    result = custhub("run", "nightly", "--dry-run", "--config", str(config_file), cwd=elsewhere)
    assert_one_line_error(result, "custhub_crm", "AIRFLOW_CONN_CUSTHUB_CRM", "make demo-shell")
    assert "alembic" not in result.stdout + result.stderr  # the store was created quietly
    assert "extract crm" not in result.stdout  # no progress display in a pipe (or a task log)


def on_a_terminal(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """custhub with its output on a pseudo-terminal: what a person's terminal receives."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([*CUSTHUB, *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=terminal,
                               stderr=terminal, env=user_env() | {"TERM": "xterm"} | (env or {}))
    os.close(terminal)
    received = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process is gone and its terminal closed
            break
        if not chunk:
            break
        received.append(chunk)
    os.close(controller)
    return process.wait(timeout=300), b"".join(received).decode("utf-8", "replace")


def test_a_run_on_a_terminal_shows_its_progress(config_file: Path, elsewhere: Path) -> None:
    code, shown = on_a_terminal("run", "nightly", "--dry-run", "--config", str(config_file), cwd=elsewhere)
    assert code == 1 and "custhub_crm" in shown
    assert "extract crm" in shown and "0/12" in shown  # the step it stopped in, of the run's twelve


def test_a_long_step_shows_its_records_as_they_go(config_file: Path, elsewhere: Path,
                                                  sandbox_estate: SandboxEstate) -> None:
    connections = {f"AIRFLOW_CONN_{c.upper()}": json.dumps(v) for c, v in sandbox_estate.connections().items()}
    code, shown = on_a_terminal("run", "nightly", "--config", str(config_file), cwd=elsewhere, env=connections)
    assert code == 0, shown
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", " ", shown)  # the terminal's redraws, as text
    # The registry checks (paced: seconds) show their records against the run's due total.
    assert re.search(r"registries\b.*?records\s.*?\d+/\d+", frames, re.S), frames[-2000:]


def test_library_log_lines_only_with_verbose(config_file: Path, elsewhere: Path) -> None:
    open_store(load_config(config_file))
    quiet = custhub("status", "--config", str(config_file), cwd=elsewhere)
    verbose = custhub("-v", "status", "--config", str(config_file), cwd=elsewhere)
    assert quiet.returncode == verbose.returncode == 0
    assert "alembic" not in quiet.stdout + quiet.stderr and "INFO" not in quiet.stderr
    assert "alembic" in verbose.stderr  # Alembic's migration check, at INFO


def _commands(command: typer.core.TyperGroup | typer.core.TyperCommand, path: str):  # type: ignore[no-untyped-def]
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_command_argument_and_option_has_help() -> None:
    missing = []
    for path, command in _commands(typer.main.get_command(app), "custhub"):
        if not (command.help or "").strip():
            missing.append(path)
        missing += [f"{path} {param.name}" for param in command.params
                    if not (getattr(param, "help", None) or "").strip()]
    assert not missing, f"without help: {missing}"

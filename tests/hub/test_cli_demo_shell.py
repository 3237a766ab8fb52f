"""`make demo-shell` (python -m sandbox.demo_shell): custhub reaches the demo's estate from any folder.

The terminal a person has after `make demo`: no AIRFLOW_CONN_* or CUSTHUB_* variable, 80 columns,
another current folder. The estate is the demo's (sandbox.estate), started by the demo shell.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub.test_cli_habits import user_env

pytestmark = [pytest.mark.integration]
DEMO_SHELL = [sys.executable, "-m", "sandbox.demo_shell"]
NOISE = ("paramiko", "alembic", "[info", "INFO", "Warning", "Traceback")


def test_the_demo_shell_runs_custhub_against_the_demo_estate(tmp_path: Path) -> None:
    demo, elsewhere = tmp_path / "demo", tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([*DEMO_SHELL, "--dir", str(demo), "custhub", "run", "nightly", "--dry-run"],
                         cwd=elsewhere, capture_output=True, text=True, timeout=600, env=user_env())
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Dry run:" in run.stdout
    for noise in NOISE:
        assert noise not in run.stdout + run.stderr, noise
    run_id = re.search(r"custhub run (\S+) \(", run.stdout).group(1)
    assert (demo / "hub.db").is_file() and (demo / "reports" / run_id).is_dir()
    assert not list(elsewhere.iterdir())

    # `make demo-shell` itself: an interactive shell, where a person types commands
    shell = subprocess.run([*DEMO_SHELL, "--dir", str(demo)], cwd=elsewhere, capture_output=True, text=True,
                           timeout=300, env=user_env() | {"SHELL": "/bin/bash"},
                           input="custhub status\necho conn=${AIRFLOW_CONN_CUSTHUB_CRM:+set}\nexit\n")
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert "custhub demo shell" in shell.stdout and "conn=set" in shell.stdout
    assert run_id in shell.stdout  # whole, in 80 columns
    assert "Store lease: free" in shell.stdout

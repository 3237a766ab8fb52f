"""Fault points kill the process exactly where and when a test names them, and nowhere else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

SCRIPT = ("from core.faults import fault_point\n"
          "for i in range(3):\n"
          "    print('before', i, flush=True)\n"
          "    fault_point('step.a')\n"
          "fault_point('step.b')\n"
          "print('done', flush=True)\n")


def run(points: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CUSTHUB_FAULT_POINTS"}
    if points is not None:
        env["CUSTHUB_FAULT_POINTS"] = points
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)


def test_without_the_variable_nothing_happens() -> None:
    result = run(None)
    assert result.returncode == 0 and result.stdout.endswith("done\n")


def test_a_named_point_kills_the_process_with_sigkill() -> None:
    result = run("step.b")
    assert result.returncode == -signal.SIGKILL
    assert "done" not in result.stdout and "before 2" in result.stdout


def test_the_nth_time_a_point_is_reached() -> None:
    result = run("other, step.a@2")
    assert result.returncode == -signal.SIGKILL
    assert result.stdout.splitlines() == ["before 0", "before 1"]

"""Waiting for a real OpenSSH sshd started on a loopback port (the tests' and the bench's)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable


def wait_for_ssh_banner(proc: subprocess.Popen, port: int, log: Callable[[], str] = str,
                        seconds: float = 15) -> None:
    """Return once the server on ``port`` greets with its SSH banner; raise with ``log()`` (the
    server's own output, when it keeps one) if it exits or stays silent for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}:\n{log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not answer on port {port}:\n{log()}")

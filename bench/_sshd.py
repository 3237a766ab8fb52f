"""A throw-away OpenSSH sshd on a loopback port (internal-sftp, key login, its own host key),
for the SFTP bench: the same server set-up as the tests' ``sshd`` fixture, in a directory
the caller gives (as root the session is chrooted, which sshd allows only under a root-owned
path: /run).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.ssh_banner import wait_for_ssh_banner

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    login: str
    root: Path  # what the session sees as "/"
    key_file: Path  # the user's private key
    host_key_base64: str
    known_hosts: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True,
                   capture_output=True)


def _config(base: Path, root: Path, port: int, login: str, as_root: bool) -> str:
    where = [f"ChrootDirectory {root}", "ForceCommand internal-sftp -d /"] if as_root \
        else [f"ForceCommand internal-sftp -d {root}"]
    return "\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {base / 'host_key'}",
        f"PidFile {base / 'sshd.pid'}", f"AuthorizedKeysFile {base / 'user_key.pub'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "PermitRootLogin prohibit-password", f"AllowUsers {login}",
        "Subsystem sftp internal-sftp", *where, ""])


@contextmanager
def running_sshd() -> Iterator[Sshd]:
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="custhub-bench-sshd-", dir="/run" if as_root else None))
    try:
        os.chmod(base, 0o755)
        _keygen(base / "host_key")
        _keygen(base / "user_key")
        root = base / "root"
        root.mkdir(mode=0o755)
        if as_root:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        login, port = getpass.getuser(), _free_port()
        (base / "sshd_config").write_text(_config(base, root, port, login, as_root))
        host_key = (base / "host_key.pub").read_text().split()[1]
        (base / "known_hosts").write_text(f"[127.0.0.1]:{port} ssh-ed25519 {host_key}\n")
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_ssh_banner(proc, port)
            yield Sshd(port, login, root, base / "user_key", host_key, base / "known_hosts")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def openssh_sftp(server: Sshd, commands: str) -> None:
    """Run OpenSSH's ``sftp`` client in batch mode (host key verified against known_hosts)."""
    subprocess.run(["sftp", "-q", "-b", "-", "-P", str(server.port), "-i", str(server.key_file),
                    "-o", f"UserKnownHostsFile={server.known_hosts}",
                    "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                    f"{server.login}@127.0.0.1"], input=commands.encode(), check=True,
                   capture_output=True)

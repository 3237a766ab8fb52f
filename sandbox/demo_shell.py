"""`make demo-shell`: the demo's estate started again, and a shell in which `custhub` reaches it.

    python -m sandbox.demo_shell [--dir .demo] [COMMAND ...]

`make demo` stops its sandbox estate when it ends, and the estate's systems listen on ports the
OS chose: nothing outside that process knows how to reach them. This starts the same estate
(the same folder, data and passwords as `make demo`), and opens your shell with the demo's
``AIRFLOW_CONN_*`` connections, ``CUSTHUB_CONFIG``, ``CUSTHUB_STORE_URL`` and ``CUSTHUB_REPORT_DIR``
set, so that
``custhub run nightly``, ``custhub status`` or ``custhub serve`` work on the demo's store.
Leaving the shell (``exit``) stops the estate. With a COMMAND, that command runs in the same
environment instead of a shell, and its exit code is this one's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from sandbox.estate import SandboxEstate

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "(custhub demo) "


def demo_environment(estate: SandboxEstate, demo_dir: Path) -> dict[str, str]:
    """What `make demo` sets for the hub, and where the estate listens now."""
    env = dict(os.environ)
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)
                for conn_id, conn in estate.connections().items()})
    env.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
    env["CUSTHUB_CONFIG"] = str(ROOT / "config" / "hub.yaml")
    env["CUSTHUB_STORE_URL"] = f"sqlite:///{demo_dir / 'hub.db'}"
    env["CUSTHUB_REPORT_DIR"] = str(demo_dir / "reports")
    env["CUSTHUB_DEMO"] = str(demo_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # custhub itself
    return env


def _shell_command(rc_dir: Path) -> list[str]:
    """The user's shell; bash gets its own rc file (theirs, then a prompt that says where it is)."""
    shell = os.environ.get("SHELL") or "/bin/bash"
    if Path(shell).name != "bash":
        return [shell]
    rc = rc_dir / "bashrc"
    rc.write_text(f'[ -f ~/.bashrc ] && . ~/.bashrc\nPS1="{PROMPT}$PS1"\n', encoding="utf-8")
    return [shell, "--rcfile", str(rc), "-i"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo",
                        help="the demo's folder (its estate, store and reports); default .demo")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="run this command instead of an interactive shell")
    args = parser.parse_args(argv)
    demo_dir = args.dir.resolve()
    with SandboxEstate(demo_dir / "estate") as estate, tempfile.TemporaryDirectory() as rc_dir:
        env = demo_environment(estate, demo_dir)
        command = args.command or _shell_command(Path(rc_dir))
        if not args.command:
            print(f"custhub demo shell: the sandbox estate runs, the store is {demo_dir / 'hub.db'}.\n"
                  "Try: custhub status · custhub run nightly --dry-run · custhub serve. "
                  "`exit` stops the estate.", flush=True)
        code = _run(command, env, ending=signal.SIGTERM if args.command else signal.SIGHUP)
    # An interactive shell ends with the status of the last command typed: not a failure of this.
    return code if args.command else 0


def _run(command: list[str], env: dict[str, str], ending: signal.Signals) -> int:
    """Signals are set after the start: an ignored one would be inherited, and Ctrl-C in the
    shell belongs to what runs there. SIGTERM ends the child with ``ending`` (an interactive bash
    ignores SIGTERM, not SIGHUP); the estate stops once it has."""
    child = subprocess.Popen(command, env=env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(ending))
    return child.wait()


if __name__ == "__main__":
    raise SystemExit(main())

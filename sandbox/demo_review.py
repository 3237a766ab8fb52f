"""`make demo-review`: the review page on the demo's store, with a steward login of the demo.

    python -m sandbox.demo_review [--dir .demo] [--port 8750]

Runs ``custhub serve`` in the demo's environment (``sandbox.demo_shell``: its store, config and
estate). The first start makes the demo's steward a password, kept in ``.demo/review-login.json``
(readable by you only, like the estate's own passwords) and only its hash goes to the page, as
``CUSTHUB_REVIEW_USERS``; every start prints the address and the login.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from pathlib import Path

from sandbox import demo_shell

USER = "steward"


def demo_login(demo_dir: Path) -> tuple[str, str, str]:
    """The demo steward's name, password and password hash, made on first use."""
    from hub.web.auth import hash_password

    path = demo_dir / "review-login.json"
    if not path.exists():
        password = secrets.token_urlsafe(12)
        demo_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"user": USER, "password": password, "hash": hash_password(password)}))
        path.chmod(0o600)
    login = json.loads(path.read_text())
    return login["user"], login["password"], login["hash"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=demo_shell.ROOT / ".demo",
                        help="the demo's folder (its estate, store and reports); default .demo")
    parser.add_argument("--port", type=int, default=8750, help="port of the page (default 8750)")
    args = parser.parse_args(argv)
    demo_dir = args.dir.resolve()
    if not (demo_dir / "hub.db").exists():
        print(f"No demo store in {demo_dir}: run `make demo` first.")
        return 1
    user, password, hashed = demo_login(demo_dir)
    os.environ["CUSTHUB_REVIEW_USERS"] = json.dumps({user: hashed})  # demo_shell passes it on
    print(f"Review page of the demo: http://127.0.0.1:{args.port}/  log in as {user!r}, "
          f"password {password!r} (kept in {demo_dir / 'review-login.json'}). Ctrl+C stops it.",
          flush=True)
    return demo_shell.main(["--dir", str(demo_dir), "custhub", "serve", "--port", str(args.port)])


if __name__ == "__main__":
    raise SystemExit(main())

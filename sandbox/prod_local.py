"""`make prod-local`: the production topology of docker-compose.yml on this machine, without Docker.

    python -m sandbox.prod_local            # start, print where the UI is; Ctrl-C or SIGTERM stops it
    python -m sandbox.prod_local --check    # start, wait until every process is healthy, stop

docker-compose.yml is the one description of the topology: this module reads each service's
command and environment from it and runs the same on loopback. Only addresses change (a
service's name becomes 127.0.0.1 and a port of this machine; a container path becomes the
checkout, or a folder under the home for a named volume), plus what one host needs that
containers get for free (``LOCAL_ONLY``: a port or a hostname per process). Where compose
runs an image, this machine runs what is installed:

- postgres: the PostgreSQL already running (``--pg-admin-url``); the two databases are created
  in it under ``<name>_airflow`` and ``<name>_custhub`` and kept between starts, as a volume is;
- redis: Debian's ``redis-server`` on a free loopback port, without persistence;
- erp-sftp: the sandbox estate serves the ERP's files over SFTP itself (sandbox.serve);
- airflow-worker: two of them (``WORKERS``), told apart by their Celery and task hostnames.

The estate's connections reach Airflow as ``AIRFLOW_CONN_*`` variables, as compose's ``.env``
hands them over. Every process runs in its own process group; on exit, SIGTERM or SIGINT the
ones this module started are stopped by process id (sandbox.airflow_setup's stop), newest first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from sandbox.airflow_setup import (BIN, Stopped, ignore_signals, stop_group, stop_on_signals,
                                   wait_for_file)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
INIT, SANDBOX, WORKER = "airflow-init", "sandbox", "airflow-worker"
# Started in this order (workers last: compose makes them wait for the api-server).
LONG_RUNNING = ("sandbox", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                "airflow-triggerer", WORKER)
WORKERS = 2
# Served by something of this machine instead of a container of their own.
REPLACED = {"postgres": "the running PostgreSQL", "redis": "redis-server started here",
            "erp-sftp": "the sandbox estate's own SFTP server"}
# Settings a process gets here that compose has no need for: containers have their own ports,
# hostnames and HOME. Every name is listed, so that the test can tell them from a drift.
LOCAL_ONLY = {
    "AIRFLOW_HOME": "one Airflow home for every process (a container has its own /opt/airflow)",
    "AIRFLOW__API__HOST": "the api-server listens on loopback only",
    "AIRFLOW__API__PORT": "the api-server's port on this machine",
    "AIRFLOW__API__BASE_URL": "the UI's address on this machine",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "the scheduler's /health on loopback",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": "the scheduler's /health port",
    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "each worker's task instances name their worker",
    "CUSTHUB_NODE": "the worker's name in its hostname (node_hostname)",
    "CUSTHUB_REPORT_DIR": "the reports volume's folder here",
    "PATH": "the virtual environment's airflow and python first",
    "PYTHONPATH": "the checkout, as the image's /opt/custhub",
}
# Arguments added to a compose command here: two workers of one host need their own Celery
# names; the processes share one log folder, so no log server (it would listen on every interface).
LOCAL_ARGS = {WORKER: ["--celery-hostname", "{node}@{host}", "--skip-serve-logs"],
              "airflow-triggerer": ["--skip-serve-logs"]}


def node_hostname() -> str:
    """A worker's hostname in its task instances (``[core] hostname_callable``): this machine's
    name and the worker's, so that two workers of one host are told apart, as containers are."""
    node = os.environ.get("CUSTHUB_NODE")
    return f"{socket.getfqdn()}-{node}" if node else socket.getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves anchors and merges


@dataclass(frozen=True)
class Site:
    """Where the topology lives on this machine: its folder, database names and ports."""

    home: Path
    name: str = "custhub_prod_local"
    pg_admin_url: str = PG_ADMIN_URL
    api_port: int = 8080
    ports: dict[str, int] = field(default_factory=dict)  # redis, the scheduler's health

    def port(self, what: str) -> int:
        return self.ports[what]

    def database(self, compose_name: str) -> str:
        return f"{self.name}_{compose_name}"

    def volume(self, name: str) -> Path:
        return self.home / "volumes" / name

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def connections_file(self) -> Path:
        """Where the estate writes its connections: the sandbox command's ``--connections``."""
        return self._sandbox_option("--connections")

    @property
    def estate_root(self) -> Path:
        return self._sandbox_option("--root")

    def _sandbox_option(self, option: str) -> Path:
        service = load_compose()["services"][SANDBOX]
        argv = compose_argv(service)
        return translate_path(argv[argv.index(option) + 1], service, self)


def make_site(home: Path, name: str, pg_admin_url: str = PG_ADMIN_URL, api_port: int | None = None) -> Site:
    """A site whose ports are free now; ``api_port`` fixed when given (the UI's address)."""
    ports = {"redis": free_port(), "scheduler_health": free_port()}
    return Site(home, name, pg_admin_url, api_port or free_port(), ports)


# -- compose, translated ------------------------------------------------------------------

@dataclass(frozen=True)
class Process:
    name: str  # "airflow-worker-2"
    service: str  # the compose service it runs
    argv: list[str]
    env: dict[str, str]  # compose's environment, translated, plus LOCAL_ONLY


def _variables(site: Site) -> dict[str, str]:
    """What compose's ${VARIABLES} (from .env) are here: keys made once and kept in the home;
    database passwords none (PostgreSQL on loopback trusts; the URLs name its admin user)."""
    from cryptography.fernet import Fernet  # Airflow's own dependency

    path = site.home / "secrets.json"
    kept = json.loads(path.read_text()) if path.exists() else {}
    made = {"AIRFLOW_FERNET_KEY": lambda: Fernet.generate_key().decode(),
            "AIRFLOW_API_SECRET_KEY": lambda: secrets.token_urlsafe(64),
            "AIRFLOW_API_SESSION_KEY": lambda: secrets.token_urlsafe(64)}
    if set(made) - set(kept):
        kept = {**{name: make() for name, make in made.items()}, **kept}
        site.home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(kept))
    return {**kept, "AIRFLOW_DB_PASSWORD": "", "CUSTHUB_DB_PASSWORD": "", "POSTGRES_PASSWORD": ""}


def _substitute(value: str, variables: dict[str, str]) -> str:
    """compose's ${NAME} and ${NAME:-default}; $$ is a literal $."""
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        found = variables.get(name) or os.environ.get(name)
        return found if found else (default or "")
    return re.sub(r"(?<!\$)\$\{(\w+)(:-([^}]*))?\}", one, value).replace("$$", "$")


def translate_address(value: str, site: Site) -> str:
    """A compose service's address becomes loopback and a port here; a PostgreSQL URL names the
    admin user of the running server and this site's database."""
    pg = sa.make_url(site.pg_admin_url)
    user = pg.username or "postgres"
    value = re.sub(r"([\w+]+)://[^@/\s]*@postgres:5432/(\w+)",
                   lambda m: f"{m.group(1)}://{user}@{pg.host}:{pg.port or 5432}/{site.database(m.group(2))}",
                   value)
    value = value.replace("redis://redis:6379", f"redis://127.0.0.1:{site.port('redis')}")
    return value.replace("http://airflow-api-server:8080", f"http://127.0.0.1:{site.api_port}")


def translate_path(value: str, service: dict[str, Any], site: Site) -> Path:
    """A container path: a mount's source (./dags is the checkout's, a named volume a folder of
    the home), or else the image's WORKDIR /opt/custhub, which is the checkout."""
    mounts = sorted(((m.split(":")[1], m.split(":")[0]) for m in service.get("volumes", [])),
                    key=lambda m: -len(m[0]))
    for target, source in [*mounts, ("/opt/custhub", ".")]:
        if value == target or value.startswith(target + "/"):
            base = ROOT / source if source.startswith(".") else site.volume(source)
            return (base / value[len(target):].lstrip("/")).resolve()
    return Path(value)


def _translate(value: str, service: dict[str, Any], site: Site, variables: dict[str, str]) -> str:
    value = translate_address(_substitute(value, variables), site)
    if value == "0.0.0.0":  # a container listens on all its interfaces; this machine on loopback
        return "127.0.0.1"
    return str(translate_path(value, service, site)) if value.startswith("/") else value


def compose_argv(service: dict[str, Any]) -> list[str]:
    """The service's command as the image's entrypoint runs it: bash and python as they are,
    anything else as an airflow sub-command."""
    argv = shlex.split(service["command"]) if isinstance(service["command"], str) else list(service["command"])
    return argv if argv[0] in ("bash", "python") else ["airflow", *argv]


def plan(site: Site, connections: dict[str, dict[str, Any]] | None = None) -> list[Process]:
    """Every process of the topology, in start order, airflow-init first."""
    services, variables = load_compose()["services"], _variables(site)
    plans = []
    for name in (INIT, *LONG_RUNNING):
        service = services[name]
        argv = [_translate(a, service, site, variables) for a in compose_argv(service)]
        env = {k: _translate(str(v), service, site, variables)
               for k, v in (service.get("environment") or {}).items()}
        env.update(_local_env(site, name, service, connections or {}))
        if name != WORKER:
            plans.append(Process(name, name, [*argv, *LOCAL_ARGS.get(name, [])], env))
            continue
        for i in range(1, WORKERS + 1):
            node = f"worker-{i}"
            extra = [a.format(node=node, host=socket.gethostname()) for a in LOCAL_ARGS[WORKER]]
            plans.append(Process(f"{name}-{i}", name, [*argv, *extra],
                                 {**env, "CUSTHUB_NODE": node,
                                  "AIRFLOW__CORE__HOSTNAME_CALLABLE": "sandbox.prod_local.node_hostname"}))
    return plans


def _local_env(site: Site, name: str, service: dict[str, Any],
               connections: dict[str, dict[str, Any]]) -> dict[str, str]:
    env = {"AIRFLOW_HOME": str(site.airflow_home),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "CUSTHUB_REPORT_DIR": str(site.volume("reports"))}
    if name == "airflow-api-server":
        env.update({"AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(site.api_port),
                    "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{site.api_port}"})
    if name == "airflow-scheduler":
        env.update({"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(site.port("scheduler_health"))})
    # compose's .env hands every Airflow container its connections (AIRFLOW_CONN_*).
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in connections.items()})
    return env


def base_environment() -> dict[str, str]:
    """This process's environment without any Airflow or custhub setting: a container starts
    from the image's environment, not from the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CUSTHUB_"))
            or k.startswith("CUSTHUB_SANDBOX_")}


# -- running it ---------------------------------------------------------------------------

@dataclass
class Topology:
    """The topology started by ``start``: its processes by name, stopped by ``stop``."""

    site: Site
    overrides: dict[str, str] = field(default_factory=dict)  # on every process (tests)
    adjust_connections: Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]] | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    plans: dict[str, Process] = field(default_factory=dict)
    started_seconds: float = 0.0

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.site.api_port}"

    @property
    def password_file(self) -> Path:
        return self.site.airflow_home / "simple_auth_manager_passwords.json.generated"

    def log(self, name: str) -> Path:
        return self.site.home / "logs" / f"{name}.log"

    def start(self, timeout: float = 600) -> Topology:
        began = time.monotonic()
        (self.site.home / "logs").mkdir(parents=True, exist_ok=True)
        self.site.airflow_home.mkdir(parents=True, exist_ok=True)
        create_databases(self.site)
        self._spawn("redis", [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.site.port("redis")),
                              "--save", "", "--appendonly", "no", "--dir", str(self.site.home)], base_environment())
        planned = {p.name: p for p in plan(self.site)}
        self.site.connections_file.unlink(missing_ok=True)
        self._spawn_planned(planned[SANDBOX])
        wait_for_file(self.site.connections_file, self.processes[SANDBOX], timeout=120)
        connections = json.loads(self.site.connections_file.read_text())
        if self.adjust_connections:
            connections = self.adjust_connections(connections)
        self.plans = {p.name: p for p in plan(self.site, connections)}
        _wait_redis(self.site, self.processes["redis"], timeout=30)
        self._run_init()
        for name, process in self.plans.items():
            if process.service not in (INIT, SANDBOX):
                self._spawn_planned(process)
        self.wait_healthy(time.monotonic() + timeout - (time.monotonic() - began))
        self.started_seconds = time.monotonic() - began
        return self

    def _environment(self, process: Process) -> dict[str, str]:
        return {**base_environment(), **process.env, **self.overrides}

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """An ``airflow`` command run as the scheduler's node runs it (its environment: the
        metadata database, the DAGs, hub.yaml), e.g. ``airflow backfill create``."""
        return subprocess.run(["airflow", *args], cwd=ROOT, env=self._environment(self.plans["airflow-scheduler"]),
                              capture_output=True, text=True, timeout=timeout)

    def _spawn_planned(self, process: Process) -> None:
        self._spawn(process.name, process.argv, self._environment(process))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with self.log(name).open("ab") as sink:  # the child keeps its own descriptor
            self.processes[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink,
                                                    stderr=subprocess.STDOUT, start_new_session=True)

    def _run_init(self) -> None:
        init = self.plans[INIT]
        with self.log(INIT).open("ab") as sink:
            done = subprocess.run(init.argv, cwd=ROOT, env=self._environment(init), stdout=sink,
                                  stderr=subprocess.STDOUT, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"{INIT} failed (exit {done.returncode}); see {self.log(INIT)}")

    def wait_healthy(self, deadline: float) -> None:
        """Each process's compose health check, asked here: the api-server's version, the
        scheduler's /health, the DAG processor and triggerer as the api-server reports them, a
        Celery ping to each worker."""
        pending = dict(HEALTH)
        while pending:
            for name, check in list(pending.items()):
                if check(self):
                    del pending[name]
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise SystemExit(f"{', '.join(dead)} stopped; see {self.site.home / 'logs'}")
            if pending and time.monotonic() > deadline:
                raise SystemExit(f"not healthy in time: {', '.join(pending)}; see {self.site.home / 'logs'}")
            time.sleep(1)

    def worker_names(self) -> list[str]:
        return [n for n, p in self.plans.items() if p.service == WORKER]

    def kill(self, name: str) -> list[int]:
        """SIGKILL to the process and everything it started, at once: a host or container that
        dies. Returns the ids killed."""
        import psutil

        leader = psutil.Process(self.processes[name].pid)
        victims = [leader, *leader.children(recursive=True)]
        for victim in victims:
            try:
                victim.kill()
            except psutil.NoSuchProcess:
                pass
        self.processes[name].wait(timeout=30)
        return [v.pid for v in victims]

    def respawn(self, name: str, timeout: float = 300) -> None:
        """Start a planned process again (after ``kill``), and wait until all are healthy."""
        self._spawn_planned(self.plans[name])
        self.wait_healthy(time.monotonic() + timeout)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            stop_group(self.processes[name], timeout=60)
        self.processes.clear()


def _http_ok(url: str) -> bytes | None:
    """The body of a 200 answer, or None (not listening yet, or not well)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _monitor(topology: Topology, part: str) -> bool:
    health = json.loads(_http_ok(f"{topology.ui}/api/v2/monitor/health") or b"{}")
    return (health.get(part) or {}).get("status") == "healthy"


def _workers_answer(topology: Topology) -> bool:
    from celery import Celery

    nodes = [p.argv[p.argv.index("--celery-hostname") + 1] for p in topology.plans.values()
             if p.service == WORKER]
    app = Celery(broker=f"redis://127.0.0.1:{topology.site.port('redis')}/0")
    try:
        answered = {name for reply in app.control.ping(destination=nodes, timeout=2) for name in reply}
    finally:
        app.close()
    return answered == set(nodes)


HEALTH: dict[str, Callable[[Topology], bool]] = {
    "postgres": lambda t: databases_answer(t.site),
    "sandbox": lambda t: t.site.connections_file.exists(),
    "airflow-api-server": lambda t: _http_ok(f"{t.ui}/api/v2/version") is not None,
    "airflow-scheduler": lambda t: _http_ok(f"http://127.0.0.1:{t.site.port('scheduler_health')}/health") is not None,
    "airflow-dag-processor": lambda t: _monitor(t, "dag_processor"),
    "airflow-triggerer": lambda t: _monitor(t, "triggerer"),
    "airflow-worker": _workers_answer,
}


def _wait_redis(site: Site, process: subprocess.Popen[bytes], timeout: float) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=site.port("redis"))
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"redis-server did not answer on port {site.port('redis')}")
        time.sleep(0.2)


def create_databases(site: Site) -> list[str]:
    """The two databases of compose's postgres/init.sh, created when missing."""
    admin = sa.create_engine(site.pg_admin_url, isolation_level="AUTOCOMMIT")
    names = [site.database("airflow"), site.database("custhub")]
    try:
        with admin.connect() as conn:
            present = set(conn.exec_driver_sql("SELECT datname FROM pg_database").scalars())
            for name in names:
                if name not in present:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return names


def drop_databases(site: Site) -> None:
    admin = sa.create_engine(site.pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in (site.database("airflow"), site.database("custhub")):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def databases_answer(site: Site) -> bool:
    for name in (site.database("airflow"), site.database("custhub")):
        engine = sa.create_engine(sa.make_url(site.pg_admin_url).set(database=name))
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="start, wait until healthy, then stop")
    parser.add_argument("--home", type=Path, default=ROOT / ".prod-local")
    parser.add_argument("--name", default="custhub_prod_local", help="prefix of the two databases")
    parser.add_argument("--pg-admin-url", default=os.environ.get("CUSTHUB_PG_ADMIN_URL", PG_ADMIN_URL))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("CUSTHUB_AIRFLOW_PORT", "8080")))
    args = parser.parse_args(argv)
    stop_on_signals()
    topology = Topology(make_site(args.home.resolve(), args.name, args.pg_admin_url, args.api_port))
    try:
        topology.start()
        print(f"up in {topology.started_seconds:.0f} s: {', '.join(topology.processes)}")
        print(f"Airflow UI on {topology.ui} (user admin, password in {topology.password_file}); "
              f"logs in {topology.site.home / 'logs'}")
        if args.check:
            return 0
        print("Ctrl-C or SIGTERM stops it")
        while all(p.poll() is None for p in topology.processes.values()):
            time.sleep(2)
        print("stopped: " + ", ".join(n for n, p in topology.processes.items() if p.poll() is not None))
        return 1
    except Stopped as stopped:
        print(f"{stopped}: stopping the topology")
        return 0
    finally:
        ignore_signals()
        topology.stop()


if __name__ == "__main__":
    sys.exit(main())

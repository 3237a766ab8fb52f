"""docker-compose.yml, checked without a Docker engine: every reference resolves, every image is
pinned, every service is health-checked, the DAGs and config are mounted, and every secret comes
from the uncommitted .env (whose committed template names them all)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
AIRFLOW_COMPONENTS = {"airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                      "airflow-triggerer", "airflow-worker"}
# A pinned reference carries a version number (or a digest), never a moving tag alone.
PINNED = re.compile(r"^[\w./-]+:(?!latest$)[\w.-]*\d[\w.-]*$|@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves anchors and << merges


def _dockerfile_bases(service: dict[str, Any]) -> list[str]:
    build = service["build"]
    dockerfile = ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
    if "dockerfile" in build:
        dockerfile = ROOT / build["dockerfile"]
    return re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(encoding="utf-8"), flags=re.M)


def test_the_whole_stack_is_there(compose: dict[str, Any]) -> None:
    services = set(compose["services"])
    assert AIRFLOW_COMPONENTS | {"postgres", "redis", "airflow-init", "sandbox", "erp-sftp"} <= services


def test_every_reference_resolves(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], set(compose.get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for other in depends:
            assert other in services, f"{name} depends on unknown service {other}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} mounts undeclared volume {source}"


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        refs = _dockerfile_bases(service) if "build" in service else [service["image"]]
        for ref in refs:
            assert PINNED.search(ref), f"{name}: {ref} is not pinned to a version"
        if "build" in service:
            assert PINNED.search(service["image"]), f"{name}: tag the built image with a version"


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_the_dags_and_config_are_mounted_into_airflow(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_COMPONENTS | {"airflow-init"}:
        mounts = {m.split(":")[0]: m.split(":")[1] for m in compose["services"][name]["volumes"]}
        assert mounts.get("./dags") == "/opt/custhub/dags", name
        assert mounts.get("./config") == "/opt/custhub/config", name
        assert mounts.get("./plugins") == "/opt/custhub/plugins", name  # the review page
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/custhub/dags"
        assert env["CUSTHUB_STORE_URL"].startswith("postgresql"), "the hub store is PostgreSQL here"


def test_secrets_come_from_the_uncommitted_env_file(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{(\w+)(?::-[^}]*)?\}", text))  # $${X}: the container's own
    template = (ROOT / ".env.example").read_text(encoding="utf-8")
    declared = set(re.findall(r"^(\w+)=", template, flags=re.M))
    defaults = {"AIRFLOW__CORE__EXECUTOR"}  # has a default in the file itself
    assert used - declared - defaults == set(), "variables missing from .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text().split()
    # No literal secret in the compose file: every password is a ${VARIABLE}.
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|FERNET)\w*\s*:", line):
            assert "${" in line, f"literal secret in docker-compose.yml: {line.strip()}"


def test_the_env_template_has_a_connection_for_every_conn_id() -> None:
    raw = yaml.safe_load((ROOT / "config" / "hub.yaml").read_text(encoding="utf-8"))
    conn_ids = {b["conn_id"] for section in ("systems", "registries")
                for b in (raw.get(section) or {}).values() if b.get("enabled", True)}
    alerts = (raw.get("orchestration") or {}).get("alerts") or {}
    conn_ids |= {alerts[k] for k in ("webhook_conn_id", "email_conn_id") if alerts.get(k)}
    template = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = [c for c in conn_ids if f"AIRFLOW_CONN_{c.upper()}=" not in template]
    assert missing == [], f".env.example lacks connections {missing}"


def test_the_image_copies_every_package_the_project_installs() -> None:
    """A package left out of the Dockerfile imports on a laptop and fails in the container."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY\s+(?:--\S+\s+)*(\w+)\s+\./\1\s*$",
                            (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8"), flags=re.M))
    assert packages - copied == set()


# -- make prod-local runs the same topology (sandbox.prod_local reads this file) --------------

def _local_plan(tmp_path: Path) -> dict[str, Any]:
    from sandbox.prod_local import make_site, plan

    site = make_site(tmp_path / "home", "custhub_plan_check")
    return {"site": site, "processes": plan(site, {"custhub_crm": {"conn_type": "http"}})}


def test_prod_local_runs_every_service_of_the_compose_file(compose: dict[str, Any], tmp_path: Path) -> None:
    from sandbox.prod_local import REPLACED, WORKER, WORKERS

    processes = _local_plan(tmp_path)["processes"]
    started = [p.service for p in processes]
    assert set(started) | set(REPLACED) == set(compose["services"]), "a service not run here"
    assert started.count(WORKER) == WORKERS >= 2
    assert len({p.env["CUSTHUB_NODE"] for p in processes if p.service == WORKER}) == WORKERS


def test_prod_local_runs_the_compose_commands(compose: dict[str, Any], tmp_path: Path) -> None:
    """The same argv, bar loopback for 0.0.0.0, this checkout for a container path and the
    arguments LOCAL_ARGS names (a worker's own Celery name, no log server)."""
    from sandbox.prod_local import LOCAL_ARGS, compose_argv, translate_path

    planned = _local_plan(tmp_path)
    for process in planned["processes"]:
        expected = compose_argv(compose["services"][process.service])
        added = [a for a in LOCAL_ARGS.get(process.service, []) if not a.startswith("{")]
        argv = [a for a in process.argv if a not in added and "@" not in a]
        assert len(argv) == len(expected), (process.name, argv, expected)
        for local, theirs in zip(argv, expected):
            if theirs.startswith("/"):  # a mount's source: the checkout's folder, or a volume's
                service = compose["services"][process.service]
                assert local == str(translate_path(theirs, service, planned["site"]))
                assert local.startswith((str(planned["site"].home), str(ROOT))), local
            elif theirs == "0.0.0.0":
                assert local == "127.0.0.1"
            else:
                assert local == theirs, (process.name, local, theirs)


def test_prod_local_has_the_compose_settings_and_no_others(compose: dict[str, Any], tmp_path: Path) -> None:
    """Every setting of a service's environment, with the same value bar addresses: a service's
    host becomes 127.0.0.1, a container path the checkout's, a database the site's own; a
    secret is this machine's own, never compose's placeholder. Nothing added but LOCAL_ONLY."""
    from sandbox.prod_local import LOCAL_ONLY

    planned = _local_plan(tmp_path)
    for process in planned["processes"]:
        theirs = compose["services"][process.service].get("environment") or {}
        extra = set(process.env) - set(theirs) - set(LOCAL_ONLY)
        assert {k for k in extra if not k.startswith("AIRFLOW_CONN_")} == set(), (process.name, extra)
        assert set(theirs) <= set(process.env), (process.name, set(theirs) - set(process.env))
        for key, value in theirs.items():
            local = process.env[key]
            assert not re.search(r"\b(postgres|redis|airflow-api-server):\d+|/opt/custhub|\$\{", local), (key, local)
            if "${" not in str(value) and "/" not in str(value):
                assert local == str(value), (process.name, key)  # a plain setting is the same
            if str(value).startswith(("postgresql", "db+postgresql")):
                scheme, database = str(value).split("://")[0], str(value).rsplit("/", 1)[1]
                assert local.startswith(scheme + "://") and local.endswith(f"_{database}"), (key, local)
        assert process.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_airflow_processes_share_the_keys_and_the_addresses(tmp_path: Path) -> None:
    """One JWT secret, one Fernet key, one broker, one metadata database, and the workers reach
    the api-server that runs here."""
    planned = _local_plan(tmp_path)
    airflow = [p for p in planned["processes"] if p.service.startswith("airflow")]
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY",
                "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CORE__PLUGINS_FOLDER",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"):
        values = {p.env[key] for p in airflow}
        assert len(values) == 1 and "change-me" not in values.pop(), key
    site = planned["site"]
    assert airflow[0].env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://127.0.0.1:{site.api_port}/execution/"
    assert airflow[0].env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://127.0.0.1:{site.port('redis')}/0"

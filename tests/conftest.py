"""Shared fixtures. Server-starting fixtures live in tests/fixtures/, loaded here as plugins."""

import json

import pytest

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.sshd",
    "tests.fixtures.soap",
    "tests.fixtures.estate",
    "tests.fixtures.airflow",
    "tests.fixtures.browser",
    "tests.fixtures.crash",
]


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """The fault-injection counts (lost, doubled, left running) of every crash case run."""
    from tests.fixtures.crash import print_results

    print_results(terminalreporter.write_line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, a worker hands the crash cases it ran to the controller."""
    from tests.fixtures.crash import RESULTS

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["crash_results"] = json.dumps(RESULTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    """The controller collects each worker's crash cases for the summary."""
    from tests.fixtures.crash import RESULTS

    RESULTS.extend(json.loads(getattr(node, "workeroutput", {}).get("crash_results", "[]")))

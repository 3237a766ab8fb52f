"""Shared fixtures. Server-starting fixtures live in tests/fixtures/, loaded here as plugins."""

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

"""Shared fixtures. Server-starting fixtures live in tests/fixtures/, loaded here as plugins."""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.sshd",
    "tests.fixtures.soap",
    "tests.fixtures.estate",
    "tests.fixtures.airflow",
    "tests.fixtures.browser",
]

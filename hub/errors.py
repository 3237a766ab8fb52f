"""The hub's own errors. Connector errors live in connectors/errors.py."""


class CusthubError(Exception):
    """Root of the hub's errors."""


class ConfigError(CusthubError):
    """The configuration is wrong; the message names the file and every bad key."""


class RunFailed(CusthubError):
    """A run stopped on purpose (too many quarantined records, a guard)."""

"""What a person sees of the libraries under the CLI: their warnings and failures, not their chatter.

paramiko logs every SFTP login at INFO, Alembic every migration check, Airflow (imported on the
first connection look-up) configures logging at INFO for itself and everything else; libraries
warn about their own deprecations. Useful in a task log, noise in a terminal: the CLI shows
WARNING and above and no deprecation warnings, unless ``-v`` or ``--debug`` asks for everything.
"""

from __future__ import annotations

import logging
import os
import warnings

AIRFLOW_LOG_LEVEL = "AIRFLOW__LOGGING__LOGGING_LEVEL"
QUIET_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def configure_output(verbose: bool) -> None:
    """WARNING and above; INFO with ``verbose``; an operator's own AIRFLOW__LOGGING__LOGGING_LEVEL
    (DEBUG, say, to see every SOAP request) is kept when it asks for more."""
    level = min(logging.INFO if verbose else logging.WARNING, _asked_level())
    chatty = level < logging.WARNING
    # Read by Airflow when it is first imported, which configures logging from it: set before.
    os.environ[AIRFLOW_LOG_LEVEL] = logging.getLevelName(level)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name in ("paramiko", "alembic", "zeep", "httpx"):
        logging.getLogger(name).setLevel(logging.NOTSET if chatty else logging.WARNING)
    if not chatty:
        quiet_deprecations()


def _asked_level() -> int:
    """The level the environment asks for (WARNING when none, or not a level's name)."""
    asked = logging.getLevelName(os.environ.get(AIRFLOW_LOG_LEVEL, "WARNING").strip().upper())
    return asked if isinstance(asked, int) else logging.WARNING


def quiet_deprecations() -> None:
    """Deprecation warnings, whatever their class (Starlette's is a UserWarning)."""
    for category in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=".*deprecat")  # case-insensitive, from the start

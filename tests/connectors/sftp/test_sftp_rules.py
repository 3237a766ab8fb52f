"""The SFTP connector's failure table, row by row, with real paramiko and socket exceptions."""

from __future__ import annotations

import errno
import socket

import paramiko
import pytest

from connectors.errors import (
    Action,
    ConnectorConfigError,
    ConnectorError,
    RemoteRefusedError,
    SecurityError,
    TransientError,
)
from connectors.sftp.remote import RULES, classify


def _refused_connection() -> paramiko.ssh_exception.NoValidConnectionsError:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect("127.0.0.1", port=port, username="u", password="p", timeout=2,
                       allow_agent=False, look_for_keys=False)
    except paramiko.ssh_exception.NoValidConnectionsError as e:
        return e
    finally:
        client.close()
    raise AssertionError("nothing should listen there")


def _changed_host_key() -> paramiko.BadHostKeyException:
    got, expected = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    return paramiko.BadHostKeyException("sftp.example", got, expected)


ROWS: list[tuple[str, BaseException, type[ConnectorError], Action, str]] = [
    ("host-key-changed", _changed_host_key(), SecurityError, Action.FAIL, "CHANGED"),
    ("auth", paramiko.AuthenticationException("Authentication failed."), ConnectorConfigError,
     Action.FAIL, "authentication failed"),
    ("no-common-algorithm", paramiko.IncompatiblePeer("no acceptable kex"),
     ConnectorConfigError, Action.FAIL, "no SSH algorithm in common"),
    ("no-such-file", FileNotFoundError(errno.ENOENT, "No such file"), RemoteRefusedError,
     Action.FAIL, "no such file"),
    ("permission", PermissionError(errno.EACCES, "Permission denied"), RemoteRefusedError,
     Action.FAIL, "permission denied"),
    ("timeout", socket.timeout("timed out"), TransientError, Action.RETRY, "timed out"),
    ("refused", _refused_connection(), TransientError, Action.RETRY, "cannot connect"),
    # paramiko's SFTP client: a bare IOError(text) for the server's SSH_FX_FAILURE
    ("server-failure", OSError("Failure"), RemoteRefusedError, Action.FAIL,
     "the server refused (Failure)"),
    ("ssh", paramiko.SSHException("Error reading SSH protocol banner"), TransientError,
     Action.RETRY, "SSH session failed"),
    ("eof", EOFError(), TransientError, Action.RETRY, "connection closed"),
    ("reset", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
     TransientError, Action.RETRY, "network error"),
]


@pytest.mark.parametrize(("error", "cls", "action", "words"), [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_each_row(error: BaseException, cls: type[ConnectorError], action: Action,
                  words: str) -> None:
    classified = classify(error, "sftp.example:22", "erp")
    assert type(classified) is cls and classified.action is action
    assert str(classified).startswith("[erp] SFTP sftp.example:22: ") and words in str(classified)
    assert classified.rule in RULES


def test_a_connector_error_passes_through_and_a_bug_shows_as_itself() -> None:
    already = ConnectorConfigError("host key not trusted", system="erp")
    assert classify(already, "h:22", "erp") is already
    with pytest.raises(KeyError):
        classify(KeyError("a bug"), "h:22", "erp")

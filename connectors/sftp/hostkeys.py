"""Who the SFTP server must be (pinned host keys) and who we are (the client key).

Both come from the Airflow connection's extras, read here into a typed model rather than
picked out of a dict by hand. A host key is always verified: an unknown or changed key
refuses the connection with ``SecurityError``; there is no "accept new keys" mode.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from connectors.errors import ConnectorConfigError, SecurityError


class SftpExtras(BaseModel):
    """The extras of an SFTP Airflow connection that custhub reads (others are ignored)."""

    # Airflow's UI stores extras we do not use (compress, ciphers, ...): ignore, do not fail.
    model_config = ConfigDict(extra="ignore")

    host_key: str | None = None  # base64 public key, optionally "ssh-ed25519 AAAA..."
    known_hosts: Path | None = None  # an OpenSSH known_hosts file
    private_key: SecretStr | None = None  # PEM / OpenSSH private key text
    key_file: Path | None = None
    private_key_passphrase: SecretStr | None = None
    no_host_key_check: bool = False
    allow_host_key_change: bool = False

    @model_validator(mode="after")
    def _verified(self) -> SftpExtras:
        if self.no_host_key_check or self.allow_host_key_change:
            raise ValueError("custhub always verifies SFTP host keys; remove "
                             "no_host_key_check / allow_host_key_change")
        if not self.host_key and not self.known_hosts:
            raise ValueError("set extra 'host_key' (base64 public key) or 'known_hosts' (a path)")
        return self


def parse_extras(extra: dict[str, Any], *, system: str | None = None) -> SftpExtras:
    try:
        return SftpExtras.model_validate(extra)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, i['loc'])) or 'extra'}: {i['msg']}"
                             for i in e.errors(include_input=False))
        raise ConnectorConfigError(f"SFTP connection extras: {problems}", system=system) from None


def public_key_from_base64(text: str) -> paramiko.PKey:
    """A public key from "AAAA..." or "ssh-ed25519 AAAA... comment" (the blob names its type)."""
    parts = text.split()
    blob_text = parts[1] if len(parts) > 1 and parts[0].startswith(("ssh-", "ecdsa-")) else parts[0]
    try:
        blob = base64.b64decode(blob_text, validate=True)
        key_type = paramiko.Message(blob).get_text()
        return paramiko.PKey.from_type_string(key_type, blob)
    except (binascii.Error, paramiko.SSHException, paramiko.UnknownKeyType, ValueError,
            IndexError) as e:
        raise ConnectorConfigError(f"extra 'host_key' is not a public key ({e.__class__.__name__})"
                                   ) from None


def host_key_entry(host: str, port: int) -> str:
    """The name OpenSSH and paramiko file a host key under ("[host]:port" off port 22)."""
    return host if port == 22 else f"[{host}]:{port}"


def pin_host_keys(client: paramiko.SSHClient, extras: SftpExtras, host: str, port: int) -> None:
    """Load the trusted keys into ``client`` and refuse anything else."""
    keys = client.get_host_keys()
    if extras.known_hosts:
        try:
            keys.load(str(extras.known_hosts))
        except OSError as e:
            raise ConnectorConfigError(f"cannot read known_hosts {extras.known_hosts}: "
                                       f"{e.strerror}") from None
    if extras.host_key:
        key = public_key_from_base64(extras.host_key)
        keys.add(host_key_entry(host, port), key.get_name(), key)
    client.set_missing_host_key_policy(RefuseUnknownHostKey())


class RefuseUnknownHostKey(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising our SecurityError so it is never mistaken for a
    transient SSHException and retried."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise SecurityError(f"host key of {hostname} ({key.get_name()} "
                            f"{key.fingerprint}) is not trusted; pin it in extra 'host_key' "
                            "or 'known_hosts'")


def client_key(extras: SftpExtras) -> paramiko.PKey | None:
    """The client's private key from extra 'private_key' (text) or 'key_file' (a path)."""
    passphrase = extras.private_key_passphrase.get_secret_value() \
        if extras.private_key_passphrase else None
    if extras.private_key:
        return _load_private_key(extras.private_key.get_secret_value().encode(), passphrase)
    if extras.key_file:
        try:
            data = extras.key_file.read_bytes()
        except OSError as e:
            raise ConnectorConfigError(f"cannot read key_file {extras.key_file}: {e.strerror}"
                                       ) from None
        return _load_private_key(data, passphrase)
    return None


_KEY_CLASSES: list[tuple[type, type[paramiko.PKey]]] = [
    (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
    (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    (rsa.RSAPrivateKey, paramiko.RSAKey),
]


def _load_private_key(data: bytes, passphrase: str | None) -> paramiko.PKey:
    """Like ``PKey.from_path`` but from memory, so the key never touches the disk."""
    password = passphrase.encode() if passphrase else None
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=password)
        except ValueError:  # not OpenSSH format: try legacy PEM, as OpenSSH does
            loaded = serialization.load_pem_private_key(data, password=password)
        key_class = next(k for c, k in _KEY_CLASSES if isinstance(loaded, c))
        return key_class.from_private_key(io.StringIO(data.decode()), password=passphrase)
    except (ValueError, TypeError, StopIteration, paramiko.SSHException) as e:
        # The message says what is wrong, never the key or the passphrase.
        raise ConnectorConfigError(f"the SFTP private key cannot be loaded "
                                   f"({e.__class__.__name__}; wrong passphrase or format?)"
                                   ) from None

"""Host key pinning and client keys read from an Airflow connection's extras."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from connectors.errors import ConnectorConfigError
from connectors.sftp.hostkeys import client_key, parse_extras, public_key_from_base64

PIN = {"host_key": "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"}


def _pem(key, fmt=serialization.PrivateFormat.OpenSSH, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password \
        else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


def test_host_key_with_or_without_its_type_prefix() -> None:
    bare = public_key_from_base64(PIN["host_key"])
    prefixed = public_key_from_base64(f"ssh-ed25519 {PIN['host_key']} someone@host")
    assert bare == prefixed and bare.get_name() == "ssh-ed25519"


@pytest.mark.parametrize("text", ["not base64!", "AAAA", "c3NoLWZvbw=="])
def test_a_host_key_that_is_not_a_key_is_a_config_error(text: str) -> None:
    with pytest.raises(ConnectorConfigError, match="host_key"):
        public_key_from_base64(text)


@pytest.mark.parametrize("extra", [{}, {**PIN, "no_host_key_check": True},
                                   {**PIN, "allow_host_key_change": "true"}])
def test_host_key_verification_cannot_be_switched_off(extra: dict) -> None:
    with pytest.raises(ConnectorConfigError, match="host"):
        parse_extras(extra, system="erp")


def test_unused_airflow_extras_are_ignored() -> None:
    assert parse_extras({**PIN, "compress": "true", "ciphers": ["aes256-ctr"]}).host_key


@pytest.mark.parametrize("key,fmt", [
    (ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH),
    (rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.TraditionalOpenSSL),
])
def test_private_key_text_of_any_type(key, fmt) -> None:
    loaded = client_key(parse_extras({**PIN, "private_key": _pem(key, fmt)}))
    assert isinstance(loaded, paramiko.PKey)


def test_encrypted_key_file_with_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "id"
    path.write_text(_pem(ed25519.Ed25519PrivateKey.generate(), password=b"hunter22"))
    extras = parse_extras({**PIN, "key_file": str(path), "private_key_passphrase": "hunter22"})
    assert isinstance(client_key(extras), paramiko.Ed25519Key)


def test_wrong_passphrase_is_a_config_error_without_secrets() -> None:
    pem = _pem(ed25519.Ed25519PrivateKey.generate(), password=b"right-one")
    extras = parse_extras({**PIN, "private_key": pem, "private_key_passphrase": "wrong-one"})
    with pytest.raises(ConnectorConfigError) as caught:
        client_key(extras)
    text = f"{caught.value} {caught.value.detail} {caught.value.__cause__}"
    assert "wrong-one" not in text and "PRIVATE KEY" not in text
    assert "private_key" not in repr(extras) or "**" in repr(extras)

"""TLS and API keys for naiad targets with ``tls = true`` or ``token = true``: throwaway material
made at run time, the ``naiad serve`` flags that use it, and how clients then connect.

Nothing secret is kept: the CA's private key never leaves memory, the keys file holds only the
secret's SHA-256, and the secret itself travels to the load processes inside their Job.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench.scenario import TargetSpec

SERVER_HOST = "127.0.0.1"
"""The address naiad targets listen on, and the certificate's name (an IP SAN)."""
KEY_ID = "bench"
VALID_FOR = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Access:
    """How clients reach a target; plain values, so a Job can carry it to a load process."""

    root_certificates: bytes | None = None
    """PEM of the CA the server's certificate chains to; None: plain text."""
    token: str | None = None
    """API key sent as ``authorization: Bearer <token>`` on every call; None: none sent."""

    def client_args(self) -> dict[str, Any]:
        """``credentials`` and ``metadata`` for naiad_client's Client and AsyncClient."""
        credentials = None
        if self.root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(self.root_certificates)
        metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()
        return {"credentials": credentials, "metadata": metadata}


PLAIN = Access()


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    """The server's certificate (PEM), for SERVER_HOST, signed by the CA."""
    key: Path
    """Its private key (PEM, unencrypted, mode 0600)."""
    ca_pem: bytes
    """The throwaway CA's certificate: the clients' root of trust."""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, public_key: Any, issuer: str, signing_key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
    )


def make_tls(directory: Path) -> TlsFiles:
    """Writes a server certificate for SERVER_HOST, signed by a fresh CA, into ``directory``.

    Keys are P-256 ECDSA, as a deployment would likely choose; a key type only changes the
    handshake, which a measurement (one channel per load process) does once.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = "naiad bench throwaway CA"
    ca = (
        _certificate(ca_name, ca_key.public_key(), ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(SERVER_HOST))])
    server = (
        _certificate(SERVER_HOST, key.public_key(), ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "server.crt", directory / "server.key", _pem(ca))
    files.cert.write_bytes(_pem(server))
    _write_private(
        files.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    (directory / "ca.crt").write_bytes(files.ca_pem)
    return files


def make_api_key(directory: Path) -> tuple[Path, str]:
    """Writes an ``--api-keys`` file with one key of every scope; returns it and the secret."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = "naiad_" + secrets.token_urlsafe(32)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    path = directory / "api-keys.toml"
    _write_private(path, f'[[keys]]\nid = "{KEY_ID}"\nsha256 = "{digest}"\nscopes = ["*"]\n')
    return path, secret


def prepare(spec: TargetSpec, directory: Path) -> tuple[list[str], Access]:
    """The ``naiad serve`` flags a target's ``tls`` and ``token`` ask for, with the material
    they name written under ``directory``, and the Access clients of that server need."""
    flags: list[str] = []
    root_certificates = token = None
    if spec.tls:
        tls = make_tls(directory)
        flags += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        root_certificates = tls.ca_pem
    if spec.token:
        keys, token = make_api_key(directory)
        flags += ["--api-keys", str(keys)]
    return flags, Access(root_certificates, token)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, content: bytes | str) -> None:
    data = content.encode() if isinstance(content, str) else content
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(data)

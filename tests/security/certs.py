"""Certificates made at test time with `cryptography`: nothing secret lives in the repository.

    pki = make_pki(tmp_path)
    TlsFiles(pki.server.cert, pki.server.key, client_ca=pki.ca)   # the server's side
    grpc.ssl_channel_credentials(pki.ca_pem, pki.client.key_pem, pki.client.cert_pem)

`make_pki` writes, under one directory, a CA, a server certificate for 127.0.0.1 and localhost,
a client certificate signed by the CA, an unrelated second CA with a client certificate of its
own (a "wrong CA"), and expired server and client certificates signed by the CA. Every file is
PEM. `Authority.issue` makes more (a renewed server certificate for reload tests, say). Keys are
P-256 ECDSA: quick to generate, and every TLS stack used here accepts them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = ("localhost", "127.0.0.1")
"""Subject alternative names of server certificates: tests dial 127.0.0.1 or localhost."""

_HOUR = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class CertPair:
    """A certificate (PEM, leaf first) and its private key (PEM, unencrypted), as files."""

    cert: Path
    key: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key.read_bytes()

    @property
    def serial(self) -> int:
        return x509.load_pem_x509_certificate(self.cert_pem).serial_number

    def copy_to(self, cert: Path, key: Path) -> CertPair:
        """Writes this pair over `cert` and `key` (as a deployment's files would change)."""
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return CertPair(cert, key)


class Authority:
    """A certificate authority: its certificate is written to `cert`; it signs with its key."""

    def __init__(self, directory: Path, name: str) -> None:
        self._directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"naiad test CA {name}")])
        now = _now()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _HOUR)
            .not_valid_after(now + 24 * _HOUR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )  # fmt: skip
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert = directory / f"{name}.crt"
        self.cert.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    def issue(
        self,
        name: str,
        *,
        common_name: str | None = None,
        server: bool = True,
        expired: bool = False,
    ) -> CertPair:
        """Signs a new leaf certificate and writes `<name>.crt` and `<name>.key`.

        server=True: serverAuth with SERVER_NAMES as SANs; False: a clientAuth certificate.
        expired=True: it stopped being valid an hour ago. Each call makes a new key and serial.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        start, end = (now - 48 * _HOUR, now - _HOUR) if expired else (now - _HOUR, now + 24 * _HOUR)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if server:
            names: list[x509.GeneralName] = [x509.DNSName("localhost")]
            names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        pair = CertPair(self._directory / f"{name}.crt", self._directory / f"{name}.key")
        pair.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        pair.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return pair


@dataclass(frozen=True)
class Pki:
    """What make_pki wrote; every path is a PEM file in `directory`."""

    directory: Path
    authority: Authority
    """Signs server, client, expired_server and expired_client; issue() makes more."""
    other_authority: Authority
    """Unrelated to `authority`: what it signs must be refused."""
    server: CertPair
    """serverAuth for localhost and 127.0.0.1, signed by `authority`."""
    client: CertPair
    """clientAuth, signed by `authority`."""
    other_client: CertPair
    """clientAuth, signed by `other_authority`."""
    expired_server: CertPair
    expired_client: CertPair

    @property
    def ca(self) -> Path:
        return self.authority.cert

    @property
    def ca_pem(self) -> bytes:
        return self.authority.cert_pem

    @property
    def other_ca(self) -> Path:
        return self.other_authority.cert

    @property
    def other_ca_pem(self) -> bytes:
        return self.other_authority.cert_pem


def make_pki(directory: Path) -> Pki:
    """Writes a fresh CA, an unrelated CA and their certificates into `directory` (which must
    exist). Takes a few milliseconds."""
    authority = Authority(directory, "ca")
    other = Authority(directory, "other-ca")
    return Pki(
        directory=directory,
        authority=authority,
        other_authority=other,
        server=authority.issue("server"),
        client=authority.issue("client", server=False),
        other_client=other.issue("other-client", server=False),
        expired_server=authority.issue("expired-server", expired=True),
        expired_client=authority.issue("expired-client", server=False, expired=True),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)

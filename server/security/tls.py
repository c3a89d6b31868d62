"""The server's TLS certificate, read from PEM files and re-read when they change.

One ServerTls serves both front ends: gRPC through grpc's dynamic SSL credentials, whose fetcher
grpc calls on every new handshake, and HTTP through an ssl.SSLContext whose SNI callback (which
OpenSSL calls on every handshake, whether or not the client sends a name) moves the connection
onto the context built from the newest files. Neither front end restarts for a renewed
certificate: the app calls reload() on SIGHUP, and each new handshake compares the files'
(inode, mtime, size) with those last loaded -- a few stat calls per connection, none per
request. Files that fail to load (half-written, mismatched, expired) are logged and the
certificate in service stays in service until the files change again.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

log = logging.getLogger("naiad.tls")

_Stamp = tuple[tuple[int, int, int] | None, ...]
"""(inode, mtime_ns, size) of each file, None for a file that cannot be stat'ed."""

_READ_ATTEMPTS = 3
"""Reads retried when a file changes while it is being read (a renewal caught half-way)."""


@dataclass(frozen=True)
class TlsFiles:
    """Where the server's TLS material lives; the paths stay, their contents may change."""

    cert: Path
    """PEM certificate chain, the server's own certificate first."""
    key: Path
    """PEM private key of that certificate, unencrypted."""
    client_ca: Path | None = None
    """PEM bundle of the CAs that client certificates must chain to; set = mutual TLS."""


@dataclass(frozen=True)
class _Material:
    """One consistent generation of the files, checked, with the HTTP context built from it."""

    cert_pem: bytes
    key_pem: bytes
    client_ca_pem: bytes | None
    stamp: _Stamp
    context: ssl.SSLContext
    summary: str


class ServerTls:
    """Owns the server's certificate; both front ends read it, reload() re-reads the files.

    Thread-safe: grpc calls its fetcher on its own threads, HTTP handshakes run on the event loop.
    """

    def __init__(self, files: TlsFiles) -> None:
        """Loads the files now; raises ValueError, saying which file and why, when one is missing,
        unreadable or unparsable, when the key does not match the certificate, or when the
        certificate has expired."""
        self.files = files
        self._lock = threading.Lock()
        self._material = _load(files, self.mutual)
        self._failed: _Stamp | None = None
        self._generation = 0
        # The first generation's context stays the listeners' entry point; its SNI callback
        # moves each handshake onto the newest generation's context.
        self._front = self._material.context
        self._front.sni_callback = self._select_context
        log.info("TLS: %s", self._material.summary)

    @property
    def mutual(self) -> bool:
        """Whether clients are asked for a certificate signed by `files.client_ca`."""
        return self.files.client_ca is not None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials for grpc's add_secure_port. Each new connection's handshake asks for the
        newest certificate. With a client CA the handshake requires a client certificate, so
        every gRPC service on the port (grpc.health.v1 included) is closed to clients without
        one; HTTP, which kubelet probes reach, keeps its health paths open instead."""
        material, generation = self._current()
        served = [generation]

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            try:
                material, generation = self._current()
            except Exception:  # grpc would only log it; say what failed
                log.exception("TLS: could not check the certificate files")
                return None
            if generation == served[0]:
                return None
            served[0] = generation
            return _grpc_configuration(material)

        return grpc.dynamic_ssl_server_credentials(
            _grpc_configuration(material),
            fetch,
            require_client_authentication=self.mutual,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The context for HTTP listeners (server side, TLS 1.2 or later). Always the same
        object: each handshake is moved onto the context of the newest files. With a client CA,
        client certificates are optional at the handshake (probes have none) but one that is
        presented must verify; the listener decides per path what needs one."""
        return self._front

    def reload(self) -> bool:
        """Re-reads the files now (SIGHUP). On failure the current certificate stays in service,
        a warning says why, and the result is False."""
        with self._lock:
            return self._load_locked(_stamp(self.files))

    def _current(self) -> tuple[_Material, int]:
        """The material to serve, re-read first when the files changed since the last load (or
        the last failed attempt)."""
        stamp = _stamp(self.files)
        with self._lock:
            if stamp != self._material.stamp and stamp != self._failed:
                self._load_locked(stamp)
            return self._material, self._generation

    def _load_locked(self, stamp: _Stamp) -> bool:
        try:
            material = _load(self.files, self.mutual)
        except ValueError as exc:
            self._failed = stamp
            current = self._material.summary
            log.warning("TLS: the new files do not load (%s); keeping %s", exc, current)
            return False
        self._material, self._failed = material, None
        self._generation += 1
        log.info("TLS: now serving %s", material.summary)
        return True

    def _select_context(
        self, connection: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _front: ssl.SSLContext
    ) -> None:
        try:
            context = self._current()[0].context
            if connection.context is not context:
                connection.context = context
        except Exception:  # an exception here would fail the handshake with no word why
            log.exception("TLS: could not switch a connection to the newest certificate")


def _load(files: TlsFiles, mutual: bool) -> _Material:
    for _ in range(_READ_ATTEMPTS):
        before = _stamp(files)
        material = _read_material(files, mutual, before)
        if _stamp(files) == before:
            return material
    raise ValueError(f"{files.cert}: the files kept changing while being read")


def _read_material(files: TlsFiles, mutual: bool, stamp: _Stamp) -> _Material:
    cert_pem, key_pem = _read(files.cert), _read(files.key)
    ca_pem = _read(files.client_ca) if files.client_ca is not None else None
    leaf = _certificates(cert_pem, files.cert)[0]
    key = _private_key(key_pem, files.key)
    if _public(leaf.public_key()) != _public(key.public_key()):
        raise ValueError(f"{files.key}: this key does not belong to the certificate {files.cert}")
    expires = leaf.not_valid_after_utc
    now = datetime.datetime.now(datetime.UTC)
    if expires <= now:
        raise ValueError(f"{files.cert}: the certificate expired on {expires:%Y-%m-%d %H:%M} UTC")
    if leaf.not_valid_before_utc > now:
        log.warning("TLS: %s only becomes valid at %s UTC", files.cert, leaf.not_valid_before_utc)
    if ca_pem is not None:
        assert files.client_ca is not None
        _certificates(ca_pem, files.client_ca)
    summary = (
        f"certificate {leaf.subject.rfc4514_string()} (serial {leaf.serial_number:x}, valid"
        f" until {expires:%Y-%m-%d %H:%M} UTC), client certificates "
        + (f"required, CA {files.client_ca}" if mutual else "not asked for")
    )
    context = _http_context(files, ca_pem)
    return _Material(cert_pem, key_pem, ca_pem, stamp, context, summary)


def _http_context(files: TlsFiles, client_ca_pem: bytes | None) -> ssl.SSLContext:
    """A server context, the certificate chain loaded from the files (the ssl module reads
    chains only from files, hence the stamp checked around the reads)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION  # client-started renegotiation costs the server
    try:
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{files.cert} / {files.key}: {exc}") from None
    if client_ca_pem is not None:
        # OPTIONAL: a certificate that is sent must verify, but probes send none (see listener).
        context.verify_mode = ssl.CERT_OPTIONAL
        try:
            context.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
        except (ValueError, ssl.SSLError) as exc:
            raise ValueError(f"{files.client_ca}: {exc}") from None
    return context


def _grpc_configuration(material: _Material) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.key_pem, material.cert_pem)], root_certificates=material.client_ca_pem
    )


def _stamp(files: TlsFiles) -> _Stamp:
    paths = [files.cert, files.key] + ([files.client_ca] if files.client_ca else [])
    return tuple(_file_stamp(path) for path in paths)


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _certificates(pem: bytes, path: Path) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ValueError(f"{path}: not a PEM certificate file: {exc}") from None
    return certificates


def _private_key(pem: bytes, path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ValueError(f"{path}: encrypted private keys are not supported") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"{path}: not a PEM private key: {exc}") from None


def _public(key: CertificatePublicKeyTypes | PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

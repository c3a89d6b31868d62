"""The test PKI (security.certs) laid out as a kubernetes.io/tls Secret names its keys."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from security.certs import make_pki


@dataclass(frozen=True)
class TlsFiles:
    """PEM files, named as a kubernetes.io/tls Secret names its keys."""

    ca: Path
    """ca.crt: the CA that signed both certificates."""
    cert: Path
    """tls.crt: the server's certificate, for 127.0.0.1 and localhost."""
    key: Path
    """tls.key"""
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    pki = make_pki(_scratch(directory))
    files = TlsFiles(
        ca=directory / "ca.crt",
        cert=directory / "tls.crt",
        key=directory / "tls.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )
    shutil.copyfile(pki.ca, files.ca)
    pki.server.copy_to(files.cert, files.key)
    pki.client.copy_to(files.client_cert, files.client_key)
    return files


def _scratch(directory: Path) -> Path:
    # The PKI writes its own file names; only the Secret's names go into `directory`.
    scratch = directory.parent / f".{directory.name}-pki"
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch

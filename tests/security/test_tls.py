"""TLS and mutual TLS on both front ends, in process, with certificates made at test time; a
renewed certificate is served to the next connection without a restart; bad files never
replace good ones."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health_pb2, health_pb2_grpc

from naiad.engine.layers import EngineLayer
from naiad.security.tls import ServerTls, TlsFiles
from naiad.transport.grpc_server import INT32_MAX, GrpcFrontEnd
from naiad.transport.http.messages import HttpRequest, HttpResponse
from naiad.transport.http.server import HttpServer
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc
from security.certs import CertPair, Pki, make_pki

LOCAL_POOL = [("grpc.use_local_subchannel_pool", 1)]
"""Each test channel makes its own connection, so each call below is a fresh handshake."""


class LiveEngine(EngineLayer):
    """Enough engine for ServerLive, ServerReady and grpc.health.v1."""

    def __init__(self) -> None:
        super().__init__(inner=None)  # type: ignore[arg-type]

    def server_ready(self) -> bool:
        return True


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def served_files(pki: Pki, *, mutual: bool) -> TlsFiles:
    """The server's own copy of its files, which the tests overwrite to renew it."""
    live = pki.server.copy_to(pki.directory / "live.crt", pki.directory / "live.key")
    return TlsFiles(live.cert, live.key, client_ca=pki.ca if mutual else None)


def renew(pair: CertPair, files: TlsFiles) -> None:
    """Replaces the served files as Kubernetes does a secret volume: new files moved in place."""
    for source, target in ((pair.cert, files.cert), (pair.key, files.key)):
        staged = target.with_suffix(".new")
        staged.write_bytes(source.read_bytes())
        os.replace(staged, target)


@asynccontextmanager
async def grpc_front(tls: ServerTls) -> AsyncIterator[str]:
    front = GrpcFrontEnd(LiveEngine(), "127.0.0.1", 0, INT32_MAX, tls=tls)
    await front.start()
    try:
        yield front.address
    finally:
        await front.stop(0)


async def grpc_live(address: str, credentials: grpc.ChannelCredentials) -> None:
    """ServerLive and grpc.health.v1 Check over a new connection; raises AioRpcError."""
    async with grpc.aio.secure_channel(address, credentials, options=LOCAL_POOL) as channel:
        live = await pb_grpc.GRPCInferenceServiceStub(channel).ServerLive(
            pb.ServerLiveRequest(), timeout=10
        )
        assert live.live
        check = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert check.status == health_pb2.HealthCheckResponse.SERVING


async def grpc_refused(address: str, credentials: grpc.ChannelCredentials) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_live(address, credentials)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    return refused.value.details() or ""


def client(
    pki: Pki, pair: CertPair | None = None, ca: bytes | None = None
) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        ca or pki.ca_pem, pair.key_pem if pair else None, pair.cert_pem if pair else None
    )


async def test_grpc_tls_verifies_against_the_servers_ca(pki: Pki) -> None:
    tls = ServerTls(served_files(pki, mutual=False))
    assert not tls.mutual
    async with grpc_front(tls) as address:
        await grpc_live(address, client(pki))
        await grpc_live(address, client(pki, pki.client))  # an unasked-for certificate is fine
        await grpc_refused(address, client(pki, ca=pki.other_ca_pem))  # wrong CA
        async with grpc.aio.insecure_channel(address, options=LOCAL_POOL) as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await pb_grpc.GRPCInferenceServiceStub(plain).ServerLive(
                    pb.ServerLiveRequest(), timeout=10
                )


async def test_grpc_mutual_tls_refuses_clients_without_a_good_certificate(pki: Pki) -> None:
    tls = ServerTls(served_files(pki, mutual=True))
    assert tls.mutual
    async with grpc_front(tls) as address:
        await grpc_live(address, client(pki, pki.client))
        # Refused at the handshake, so grpc.health.v1 too (grpc_live checks both).
        await grpc_refused(address, client(pki))
        await grpc_refused(address, client(pki, pki.other_client))
        await grpc_refused(address, client(pki, pki.expired_client))


async def test_grpc_serves_renewed_files_to_new_connections(pki: Pki, caplog) -> None:  # type: ignore[no-untyped-def]
    files = served_files(pki, mutual=False)
    tls = ServerTls(files)
    async with grpc_front(tls) as address:
        await grpc_live(address, client(pki))
        # Renewed by another CA, so which certificate a handshake got is visible to a client.
        renew(pki.other_authority.issue("renewed"), files)
        await grpc_live(address, client(pki, ca=pki.other_ca_pem))
        await grpc_refused(address, client(pki))

        with caplog.at_level(logging.WARNING, "naiad.tls"):
            files.cert.write_bytes(b"half-written")  # a bad renewal: the last good one stays
            for _ in range(3):
                await grpc_live(address, client(pki, ca=pki.other_ca_pem))
        assert sum("do not load" in r.message for r in caplog.records) == 1  # once, not per call
        assert not tls.reload()
        await grpc_live(address, client(pki, ca=pki.other_ca_pem))

        renew(pki.authority.issue("fixed"), files)
        assert tls.reload()
        await grpc_live(address, client(pki))


# HTTP


async def route(request: HttpRequest) -> HttpResponse | None:
    return HttpResponse(HTTPStatus.OK, request.path.encode())


@asynccontextmanager
async def http_front(tls: ServerTls) -> AsyncIterator[int]:
    listener = HttpServer("127.0.0.1", 0, route, "test", tls=tls)
    await listener.start()
    try:
        yield listener.port
    finally:
        await listener.stop()


def https_client(pki: Pki, pair: CertPair | None = None, ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca or pki.ca)
    if pair is not None:
        context.load_cert_chain(pair.cert, pair.key)
    return context


async def https_get(port: int, path: str, context: ssl.SSLContext) -> tuple[int, bytes, int]:
    """(status, body, the serial of the server's certificate) over a new connection."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"), 10
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 10)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    return status, body, x509.load_der_x509_certificate(der).serial_number


async def https_refused(request: Awaitable[tuple[int, bytes, int]]) -> None:
    """The handshake fails, or (TLS 1.3 checks the client's certificate after the client's side
    of the handshake is done) the connection ends without an answer."""
    try:
        status, _, _ = await request
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
        return
    assert status == 0, "the server answered a client it should have refused"


async def test_https_serves_tls_and_picks_up_renewed_files(pki: Pki) -> None:
    files = served_files(pki, mutual=False)
    tls = ServerTls(files)
    async with http_front(tls) as port:
        assert await https_get(port, "/x", https_client(pki)) == (200, b"/x", pki.server.serial)
        await https_refused(https_get(port, "/x", https_client(pki, ca=pki.other_ca)))

        renewed = pki.authority.issue("renewed")
        renew(renewed, files)
        assert (await https_get(port, "/x", https_client(pki)))[2] == renewed.serial

        files.key.write_bytes(pki.client.key_pem)  # a key that does not match: refused
        assert not tls.reload()
        assert (await https_get(port, "/x", https_client(pki)))[2] == renewed.serial


async def test_https_mutual_tls_leaves_only_health_open(pki: Pki) -> None:
    tls = ServerTls(served_files(pki, mutual=True))
    async with http_front(tls) as port:
        anonymous = https_client(pki)
        for path in ("/v2/health/live", "/v2/health/ready"):  # kubelet probes send no certificate
            assert (await https_get(port, path, anonymous))[:2] == (200, path.encode())
        for path in ("/metrics", "/v2/models/m/ready", "/v2/health/live/", "/v2/health/%6Cive"):
            status, body, _ = await https_get(port, path, anonymous)
            assert (status, body) == (401, b"a client certificate is required\n"), path
        certified = https_client(pki, pki.client)
        assert (await https_get(port, "/metrics", certified))[:2] == (200, b"/metrics")
        await https_refused(https_get(port, "/metrics", https_client(pki, pki.other_client)))
        await https_refused(https_get(port, "/metrics", https_client(pki, pki.expired_client)))


async def test_https_mutual_tls_follows_a_renewed_client_ca(pki: Pki) -> None:
    files = served_files(pki, mutual=True)
    ca = pki.directory / "live-ca.crt"
    ca.write_bytes(pki.ca_pem)
    files = TlsFiles(files.cert, files.key, client_ca=ca)
    tls = ServerTls(files)
    async with http_front(tls) as port:
        assert (await https_get(port, "/m", https_client(pki, pki.client)))[0] == 200
        staged = ca.with_suffix(".new")
        staged.write_bytes(pki.other_ca_pem)
        os.replace(staged, ca)
        assert (await https_get(port, "/m", https_client(pki, pki.other_client)))[0] == 200
        await https_refused(https_get(port, "/m", https_client(pki, pki.client)))


# Loading


def _encrypted_key(directory: Path) -> Path:
    path = directory / "encrypted.key"
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return path


def test_unusable_files_are_refused_with_the_reason(pki: Pki) -> None:
    garbage = pki.directory / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    missing = pki.directory / "missing.pem"
    server, key = pki.server.cert, pki.server.key
    cases = [
        (TlsFiles(missing, key), "missing.pem: cannot be read"),
        (TlsFiles(garbage, key), "garbage.pem: not a PEM certificate"),
        (TlsFiles(server, garbage), "garbage.pem: not a PEM private key"),
        (TlsFiles(server, _encrypted_key(pki.directory)), "encrypted private keys"),
        (TlsFiles(server, pki.client.key), "does not belong to the certificate"),
        (TlsFiles(pki.expired_server.cert, pki.expired_server.key), "certificate expired on"),
        (TlsFiles(server, key, client_ca=garbage), "garbage.pem: not a PEM certificate"),
        (TlsFiles(server, key, client_ca=missing), "missing.pem: cannot be read"),
    ]
    for files, reason in cases:
        with pytest.raises(ValueError, match=reason):
            ServerTls(files)
    assert ServerTls(TlsFiles(server, key, client_ca=pki.ca)).mutual

"""TLS channels and call metadata: both clients and streams, against a fake service that speaks
TLS only and records what each call carried."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from client_fakes import FakeServer
from security.certs import make_pki

from naiad_client import AsyncClient, Client, InferenceServerError

TOKEN = (("authorization", "Bearer s3cret"),)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki):
    credentials = grpc.ssl_server_credentials([(pki.server.key_pem, pki.server.cert_pem)])
    server = FakeServer(credentials).start()
    yield server
    server.stop()


def test_sync_client_over_tls_sends_metadata_with_every_call(tls_server, pki):
    credentials = grpc.ssl_channel_credentials(pki.ca_pem)
    del tls_server.calls[:]
    with Client(tls_server.url, credentials=credentials, metadata=TOKEN) as client:
        assert client.server_live()
        assert client.statistics("echo").model_stats[0].inference_count == 7
        assert client.infer("echo", {"x": np.ones(2)}).as_numpy("OUT_x").tolist() == [1, 1]
    assert [method for method, _ in tls_server.calls] == [
        "ServerLive",
        "ModelStatistics",
        "ModelInfer",
    ]
    assert all(meta["authorization"] == "Bearer s3cret" for _, meta in tls_server.calls)


async def test_async_client_and_its_stream_over_tls(tls_server, pki):
    credentials = grpc.ssl_channel_credentials(pki.ca_pem)
    del tls_server.calls[:]
    async with AsyncClient(tls_server.url, credentials=credentials, metadata=TOKEN) as client:
        payload = client.prepare("echo", {"x": np.arange(3)}).SerializeToString()
        assert (await client.infer_prepared(payload)).as_numpy("OUT_x").tolist() == [0, 1, 2]
        async with client.stream() as session:
            results = [await session.send(payload) for _ in range(4)]
        assert all(r.as_numpy("OUT_x").tolist() == [0, 1, 2] for r in results)
    # A stream carries the metadata once, when it opens, however many requests it sends.
    assert [(method, meta.get("authorization")) for method, meta in tls_server.calls] == [
        ("ModelInfer", "Bearer s3cret"),
        ("ModelStreamInfer", "Bearer s3cret"),
    ]


def test_no_metadata_unless_asked(fake_server):
    del fake_server.calls[:]
    with Client(fake_server.url) as client:
        client.server_ready()
    assert "authorization" not in fake_server.calls[0][1]


@pytest.mark.parametrize("trusted", ["wrong CA", "plain text"])
def test_a_tls_server_refuses_what_it_cannot_verify_or_read(tls_server, pki, trusted):
    credentials = grpc.ssl_channel_credentials(pki.other_ca_pem) if trusted == "wrong CA" else None
    with Client(tls_server.url, credentials=credentials) as client:
        with pytest.raises(InferenceServerError) as caught:
            client.server_live(timeout_s=5)
    assert caught.value.status == grpc.StatusCode.UNAVAILABLE

"""TLS and mutual TLS through tritonclient's own SSL options (grpc and http) against a real
`naiad serve`, with certificates made at test time; renewal on SIGHUP without a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import gevent.ssl
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from geventhttpclient.response import HTTPConnectionClosed
from helpers import tensor, wait_until
from modelgen import mlp, write_repository
from security.certs import CertPair, Pki, make_pki
from server_process import ServerProcess
from tritonclient.utils import InferenceServerException

MODEL = "mlp"

# tritonclient's HTTP transport (geventhttpclient 2.0) checks the server's name with the
# deprecated ssl.match_hostname; the check still runs, only its warning is let through.
pytestmark = pytest.mark.filterwarnings(r"ignore:ssl\.match_hostname\(\) is deprecated")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    (tmp_path / "pki").mkdir()
    return make_pki(tmp_path / "pki")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repository(tmp_path / "repo", {MODEL: {1: lambda p: mlp(p, 8, 16, 4)}})


def tls_args(pki: Pki, *, mutual: bool, pair: CertPair | None = None) -> list[str]:
    pair = pair or pki.server
    args = ["--tls-cert", str(pair.cert), "--tls-key", str(pair.key)]
    return args + (["--tls-client-ca", str(pki.ca)] if mutual else [])


def grpc_client(
    server: ServerProcess, ca: Path, pair: CertPair | None = None
) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(
        server.url,
        ssl=True,
        root_certificates=str(ca),
        private_key=str(pair.key) if pair else None,
        certificate_chain=str(pair.cert) if pair else None,
        # a fresh connection per client, so each client's handshake is its own
        channel_args=[("grpc.use_local_subchannel_pool", 1)],
    )


def http_client(
    server: ServerProcess, ca: Path, pair: CertPair | None = None
) -> httpclient.InferenceServerClient:
    def context() -> gevent.ssl.SSLContext:
        made = gevent.ssl.create_default_context(cafile=str(ca))
        if pair is not None:
            made.load_cert_chain(str(pair.cert), str(pair.key))
        return made

    return httpclient.InferenceServerClient(
        server.address("http"), ssl=True, ssl_context_factory=context, network_timeout=10
    )


def infer(client: grpcclient.InferenceServerClient) -> np.ndarray:
    x = np.ones((1, 8), dtype=np.float32)
    result = client.infer(MODEL, [tensor("INPUT0", x, "FP32")], client_timeout=30)
    return result.as_numpy("OUTPUT0")


def refused(call: Callable[[], object]) -> str:
    """Runs `call`, expecting the TLS handshake (or the first read after it) to fail."""
    try:
        outcome = call()
    except InferenceServerException as exc:
        assert str(exc.status()) == "StatusCode.UNAVAILABLE", exc
        return exc.message() or ""
    except (OSError, HTTPConnectionClosed) as exc:
        # From the http client: ssl.SSLError, a reset, or (TLS 1.3 checks a client's certificate
        # after the client's side of the handshake) the connection closed before an answer.
        return str(exc)
    raise AssertionError(f"the server was reachable: {outcome!r}")


def test_tls_through_tritonclient_grpc_and_http(serve, repo: Path, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    with serve(repo, *tls_args(pki, mutual=False)) as server:
        with grpc_client(server, pki.ca) as client:
            assert client.is_server_live() and client.is_server_ready()
            assert infer(client).shape == (1, 4)
        with http_client(server, pki.ca) as client:
            assert client.is_server_live() and client.is_server_ready()
            assert client.is_model_ready(MODEL)
        # A client that trusts another CA does not talk to this server.
        refused(lambda: grpc_client(server, pki.other_ca).is_server_live())
        refused(lambda: http_client(server, pki.other_ca).is_server_live())
        # Plain text on the TLS port is refused; metrics stay plain HTTP.
        with grpcclient.InferenceServerClient(server.url) as plain:
            refused(plain.is_server_live)
        assert server.metric("nv_inference_count", MODEL) == 1


def test_mutual_tls_through_tritonclient(serve, repo: Path, pki: Pki) -> None:  # type: ignore[no-untyped-def]
    with serve(repo, *tls_args(pki, mutual=True)) as server:
        with grpc_client(server, pki.ca, pki.client) as client:
            assert infer(client).shape == (1, 4)
        with http_client(server, pki.ca, pki.client) as client:
            assert client.is_model_ready(MODEL)
        for stranger in (None, pki.other_client, pki.expired_client):
            refused(lambda s=stranger: grpc_client(server, pki.ca, s).is_server_live())
        for stranger in (pki.other_client, pki.expired_client):
            refused(lambda s=stranger: http_client(server, pki.ca, s).is_server_live())
        # Probes present no certificate: the health endpoints answer them, nothing else does.
        with http_client(server, pki.ca) as anonymous:
            assert anonymous.is_server_live() and anonymous.is_server_ready()
            assert not anonymous.is_model_ready(MODEL)  # 401: a client certificate is required


def test_sighup_serves_a_renewed_certificate_without_a_restart(
    serve, repo: Path, pki: Pki, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    live = pki.server.copy_to(tmp_path / "live.crt", tmp_path / "live.key")
    with serve(repo, *tls_args(pki, mutual=False, pair=live)) as server:
        with grpc_client(server, pki.ca) as client:
            assert client.is_server_live()
        renewed = pki.other_authority.issue("renewed")  # another CA: visible to a client
        for source, target in ((renewed.cert, live.cert), (renewed.key, live.key)):
            target.with_suffix(".new").write_bytes(source.read_bytes())
            os.replace(target.with_suffix(".new"), target)
        server.process.send_signal(signal.SIGHUP)
        # Read at the signal, before any handshake could have noticed the files changed.
        wait_until(lambda: "now serving certificate CN=renewed" in server.output(), "reload")
        with grpc_client(server, pki.other_ca) as client:
            assert infer(client).shape == (1, 4)
        with http_client(server, pki.other_ca) as client:
            assert client.is_server_live()
        refused(lambda: grpc_client(server, pki.ca).is_server_live())
        assert server.process.poll() is None  # the same process throughout


def test_an_expired_certificate_is_refused_at_start(repo: Path, pki: Pki) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "naiad.cli", "serve", "--model-repository", str(repo),
            "--grpc-host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0",
            "--metrics-port", "0", *tls_args(pki, mutual=False, pair=pki.expired_server),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{pki.expired_server.cert}: the certificate expired on" in result.stderr

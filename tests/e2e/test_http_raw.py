"""The REST API by hand, as curl, a browser or a language without a Triton client would call
it: the JSON shapes of requests and answers, the README's curl call, keep-alive, pipelining,
HEAD, compression negotiation and the binary extension written out byte by byte."""

from __future__ import annotations

import gzip
import http.client
import json
import socket

import numpy as np
import onnxruntime as ort
import pytest
from helpers import http_call
from modelgen import identity, write_repository
from server_process import naiad_server

from naiad.demo import write_demo_repository

FEATURES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    write_demo_repository(root)
    return write_repository(root, {"text": {1: lambda p: identity(p, "BYTES", [-1])}})


@pytest.fixture(scope="module")
def server(repo):  # type: ignore[no-untyped-def]
    with naiad_server(repo) as process:
        yield process


def classify(repo, rows: list[list[float]]) -> np.ndarray:  # type: ignore[no-untyped-def]
    session = ort.InferenceSession(str(repo / "classifier" / "1" / "model.onnx"))
    return session.run(None, {"features": np.array(rows, np.float32)})[0]


def infer(server, model: str, body: dict, headers: dict[str, str] | None = None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    status, _, reply = http_call(
        server.http_url, "POST", f"/v2/models/{model}/infer", json.dumps(body).encode(), headers
    )
    assert status == 200, reply
    return json.loads(reply)  # type: ignore[no-any-return]


def test_the_readme_curl_call(server, repo) -> None:
    # curl -d sends application/x-www-form-urlencoded; the body is JSON all the same.
    body = (
        b'{"inputs": [{"name": "features",\n  "datatype": "FP32", "shape": [1, 4], '
        b'"data": [5.1, 3.5, 1.4, 0.2]}]}'
    )
    status, headers, reply = http_call(
        server.http_url,
        "POST",
        "/v2/models/classifier/infer",
        body,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(reply)
    assert answer["model_name"] == "classifier" and answer["model_version"] == "1"
    (output,) = answer["outputs"]
    assert output["name"] == "probabilities" and output["datatype"] == "FP32"
    assert output["shape"] == [1, 3]
    np.testing.assert_allclose(output["data"], classify(repo, FEATURES[:1]).ravel(), rtol=1e-5)


def test_nested_and_flat_data_are_the_same_request(server, repo) -> None:
    def call(data: list) -> dict:  # type: ignore[type-arg]
        tensor = {"name": "features", "datatype": "FP32", "shape": [2, 4], "data": data}
        return infer(server, "classifier", {"id": "r1", "inputs": [tensor]})

    nested, flat = call(FEATURES), call([v for row in FEATURES for v in row])
    assert nested == flat and nested["id"] == "r1"
    np.testing.assert_allclose(
        nested["outputs"][0]["data"], classify(repo, FEATURES).ravel(), rtol=1e-5
    )


def test_integers_and_bytes_as_json(server) -> None:
    a, b = list(range(16)), [2] * 16
    answer = infer(
        server,
        "simple",
        {
            "inputs": [
                {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": a},
                {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": [b]},
            ],
            "outputs": [{"name": "OUTPUT1"}],
        },
    )
    assert answer["outputs"] == [
        {"name": "OUTPUT1", "datatype": "INT32", "shape": [1, 16], "data": [x - 2 for x in a]}
    ]
    words = ["naïve", "", "日本"]
    answer = infer(
        server,
        "text",
        {"inputs": [{"name": "INPUT0", "datatype": "BYTES", "shape": [1, 3], "data": words}]},
    )
    assert answer["outputs"][0]["data"] == words


def test_binary_extension_by_hand(server, repo) -> None:
    rows = np.array(FEATURES, np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [2, 4],
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    status, headers, reply = http_call(
        server.http_url,
        "POST",
        "/v2/models/classifier/infer",
        header + rows.tobytes(),
        {"Inference-Header-Content-Length": str(len(header))},
    )
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    length = int(headers["inference-header-content-length"])
    answer = json.loads(reply[:length])
    (output,) = answer["outputs"]
    assert output["parameters"] == {"binary_data_size": 2 * 3 * 4} and "data" not in output
    values = np.frombuffer(reply[length:], np.float32).reshape(2, 3)
    np.testing.assert_allclose(values, classify(repo, FEATURES), rtol=1e-5)


def test_compressed_answer_when_asked_and_large_enough(server) -> None:
    tensor = {"name": "features", "datatype": "FP32", "shape": [64, 4], "data": FEATURES * 32}
    body = json.dumps({"inputs": [tensor]}).encode()
    status, headers, reply = http_call(
        server.http_url,
        "POST",
        "/v2/models/classifier/infer",
        gzip.compress(body),
        {"Content-Encoding": "gzip", "Accept-Encoding": "br;q=1, gzip;q=0.5"},
    )
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(reply))["outputs"][0]["data"]) == 64 * 3
    # A small answer is not worth compressing.
    status, headers, _ = http_call(
        server.http_url, "GET", "/v2/health/ready", headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200 and "content-encoding" not in headers


def test_metadata_config_stats_and_error_shapes(server) -> None:
    status, _, reply = http_call(server.http_url, "GET", "/v2/models/classifier")
    metadata = json.loads(reply)
    assert status == 200 and metadata["name"] == "classifier" and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    status, _, reply = http_call(server.http_url, "GET", "/v2/models/classifier/versions/1/config")
    assert status == 200 and json.loads(reply)["max_batch_size"] == 64
    status, _, reply = http_call(server.http_url, "GET", "/v2/models/stats")
    assert status == 200 and {m["name"] for m in json.loads(reply)["model_stats"]} >= {
        "classifier",
        "simple",
        "text",
    }
    status, _, reply = http_call(server.http_url, "GET", "/v2/models/nope")
    assert status == 404 and list(json.loads(reply)) == ["error"]
    status, headers, reply = http_call(server.http_url, "DELETE", "/v2/models/classifier")
    assert status == 405 and "GET" in headers["allow"] and json.loads(reply)["error"]
    status, _, reply = http_call(server.http_url, "GET", "/v2/no/such/route")
    assert status == 404 and json.loads(reply)["error"]


def test_head_answers_without_a_body(server) -> None:
    status, headers, reply = http_call(server.http_url, "HEAD", "/v2/health/live")
    assert status == 200 and reply == b""


def test_keep_alive_serves_many_requests_on_one_connection(server) -> None:
    host, port = server.http_url.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    tensor = {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": FEATURES[0]}
    try:
        for i in range(50):
            body = json.dumps({"id": str(i), "inputs": [tensor]})
            connection.request("POST", "/v2/models/classifier/infer", body=body)
            reply = connection.getresponse()
            assert reply.status == 200 and json.loads(reply.read())["id"] == str(i)
            assert reply.getheader("connection", "keep-alive").lower() == "keep-alive"
    finally:
        connection.close()


def test_pipelined_requests_are_answered_in_order(server) -> None:
    tensor = {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": FEATURES[0]}
    wire = b""
    for i in range(8):
        body = json.dumps({"id": f"p{i}", "inputs": [tensor]}).encode()
        wire += (
            b"POST /v2/models/classifier/infer HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    wire += b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    host, port = server.http_url.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(wire)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 9 and all(a.startswith(b"200 ") for a in answers)
    ids = [json.loads(a.split(b"\r\n\r\n", 1)[1])["id"] for a in answers[:8]]
    assert ids == [f"p{i}" for i in range(8)]

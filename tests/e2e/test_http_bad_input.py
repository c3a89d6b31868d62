"""Every bad-input class of the gRPC suite, over HTTP: the status Triton gives it, an
`{"error": ...}` body that says what was wrong, and a server that keeps serving."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.http as httpclient
from heavy import ONE_INSTANCE, heavy
from helpers import http_call
from modelgen import add_sub, identity, write_repository
from server_process import naiad_server
from tritonclient.utils import InferenceServerException

OVERLOAD = f"""
max_batch_size: 4
dynamic_batching {{ default_queue_policy {{ max_queue_size: 4 }} }}
{ONE_INSTANCE}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    write_repository(
        root,
        {
            "fp32": {1: lambda p: identity(p, "FP32", [4])},
            "text": {1: lambda p: identity(p, "BYTES", [-1])},
            "add_sub": {1: lambda p: add_sub(p, "INT32", [16])},
            "overload": {1: lambda p: heavy(p, depth=100)},
        },
        configs={"overload": OVERLOAD},
    )
    with naiad_server(root, "--max-message-bytes", "1000000") as process:
        yield process


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    client = httpclient.InferenceServerClient(server.http_url)
    yield client
    client.close()


def fp32(array: np.ndarray, name: str = "INPUT0", datatype: str = "FP32") -> httpclient.InferInput:
    value = httpclient.InferInput(name, list(array.shape), datatype)
    value.set_data_from_numpy(array)
    return value


def refused(call) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value.status(), caught.value.message()


def post(server, model: str, header: object, binary: bytes = b"") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A hand-made infer body: the JSON header, then `binary` behind it when given."""
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    headers = {"Inference-Header-Content-Length": str(len(text))} if binary else {}
    status, reply_headers, body = http_call(
        server.http_url, "POST", f"/v2/models/{model}/infer", text + binary, headers
    )
    assert reply_headers["content-type"] == "application/json"
    return status, json.loads(body)["error"]


def ok(client) -> None:  # type: ignore[no-untyped-def]
    x = np.ones((1, 4), dtype=np.float32)
    np.testing.assert_array_equal(client.infer("fp32", [fp32(x)]).as_numpy("OUTPUT0"), x)


def fp32_input(shape: list[int], size: int) -> dict[str, object]:
    return {
        "name": "INPUT0",
        "datatype": "FP32",
        "shape": shape,
        "parameters": {"binary_data_size": size},
    }


def test_unknown_model_and_version(client) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    status, message = refused(lambda: client.infer("nope", [fp32(x)]))
    assert (status, message) == ("404", "Request for unknown model: 'nope' is not found")
    status, message = refused(lambda: client.infer("fp32", [fp32(x)], model_version="9"))
    assert status == "404" and "9" in message
    ok(client)


def test_wrong_datatype_shape_and_batch(client) -> None:
    status, message = refused(
        lambda: client.infer("fp32", [fp32(np.ones((1, 4), np.int32), datatype="INT32")])
    )
    assert status == "400" and "INT32" in message and "FP32" in message
    status, message = refused(lambda: client.infer("fp32", [fp32(np.ones((1, 5), np.float32))]))
    assert status == "400" and "shape" in message
    status, message = refused(lambda: client.infer("fp32", [fp32(np.ones((5, 4), np.float32))]))
    assert status == "400" and "batch" in message
    ok(client)


def test_binary_data_of_wrong_size(server, client) -> None:
    status, message = post(server, "fp32", {"inputs": [fp32_input([1, 4], 15)]}, b"\0" * 15)
    assert status == 400 and "15" in message and "16" in message
    # More bytes behind the header than the inputs claim.
    status, message = post(server, "fp32", {"inputs": [fp32_input([1, 4], 16)]}, b"\0" * 20)
    assert status == 400 and "binary_data_size" in message
    # A claim larger than the body itself.
    status, message = post(server, "fp32", {"inputs": [fp32_input([1, 4], 1 << 40)]}, b"\0" * 16)
    assert status in (400, 413)
    ok(client)


def test_header_length_that_lies(server, client) -> None:
    body = json.dumps({"inputs": [fp32_input([1, 4], 16)]}).encode() + b"\0" * 16
    for length in ("-1", "x", str(len(body) + 1), "3"):
        status, _, reply = http_call(
            server.http_url,
            "POST",
            "/v2/models/fp32/infer",
            body,
            {"Inference-Header-Content-Length": length},
        )
        assert status == 400, (length, reply)
        assert json.loads(reply)["error"]
    ok(client)


def test_element_count_does_not_match_shape(server, client) -> None:
    header = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [2, 4], "data": [1] * 4}]}
    status, message = post(server, "fp32", header)
    assert status == 400 and "INPUT0" in message
    status, _ = post(server, "fp32", {"inputs": [fp32_input([2, 4], 16)]}, b"\0" * 16)
    assert status == 400
    ok(client)


def test_malformed_bytes_length_prefix(server, client) -> None:
    raw = (3).to_bytes(4, "little") + b"abc" + (99).to_bytes(4, "little") + b"x"
    header = {
        "inputs": [
            {
                "name": "INPUT0",
                "datatype": "BYTES",
                "shape": [1, 2],
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    status, message = post(server, "text", header, raw)
    assert status == 400 and "BYTES" in message
    ok(client)


def test_data_and_binary_data_on_one_input(server, client) -> None:
    both = dict(fp32_input([1, 4], 16), data=[1, 2, 3, 4])
    status, message = post(server, "fp32", {"inputs": [both]}, b"\0" * 16)
    assert status == 400 and "data" in message
    ok(client)


def test_data_of_the_wrong_kind(server, client) -> None:
    for data in (["a", "b", "c", "d"], [True, 1.0, None, 2], [[1, 2], [3]], {"x": 1}):
        header = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": data}]}
        status, message = post(server, "fp32", header)
        assert status == 400 and "INPUT0" in message, (data, message)
    header = {"inputs": [{"name": "INPUT0", "datatype": "BYTES", "shape": [1, 1], "data": [1]}]}
    assert post(server, "text", header)[0] == 400
    ok(client)


def test_missing_unknown_input_and_output_names(client) -> None:
    x = np.ones((1, 16), dtype=np.int32)
    status, message = refused(lambda: client.infer("add_sub", [fp32(x, datatype="INT32")]))
    assert status == "400" and "INPUT1" in message
    y = np.ones((1, 4), dtype=np.float32)
    status, message = refused(lambda: client.infer("fp32", [fp32(y, name="BOGUS")]))
    assert status == "400" and "BOGUS" in message
    status, message = refused(
        lambda: client.infer("fp32", [fp32(y)], outputs=[httpclient.InferRequestedOutput("NOPE")])
    )
    assert status == "400" and "NOPE" in message
    ok(client)


def test_unknown_datatype(server, client) -> None:
    header = {"inputs": [dict(fp32_input([1, 4], 16), datatype="FP8")]}
    status, message = post(server, "fp32", header, b"\0" * 16)
    assert status == 400 and "FP8" in message
    ok(client)


def test_malformed_json_and_wrong_shapes_of_the_body(server, client) -> None:
    for body in (b"{", b"[]", b'"x"', b'{"inputs": {}}', b'{"inputs": []}', b"\xff\xfe"):
        status, message = post(server, "fp32", body)
        assert status == 400 and message, body
    header = {"id": 7, "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4]}]}
    assert post(server, "fp32", header)[0] == 400
    header = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": "1,4", "data": [0]}]}
    assert post(server, "fp32", header)[0] == 400
    ok(client)


def test_reserved_parameter(client) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    status, message = refused(
        lambda: client.infer("fp32", [fp32(x)], parameters={"triton_something": 1})
    )
    assert status == "400" and "triton_something" in message
    ok(client)


def test_message_over_the_size_limit(server, client) -> None:
    x = np.ones((4, 4), dtype=np.float32)
    status, _ = refused(
        lambda: client.infer("fp32", [fp32(x)], parameters={"padding": "x" * 2_000_000})
    )
    assert status == "413"
    ok(client)


def test_unsupported_extensions_are_not_implemented(client) -> None:
    status, _ = refused(lambda: client.get_system_shared_memory_status())
    assert status == "501"
    status, _ = refused(lambda: client.get_cuda_shared_memory_status())
    assert status == "501"
    ok(client)


def test_queue_full_is_503_and_every_accepted_request_is_answered(server, client) -> None:
    x = np.ones((4, 512), dtype=np.float32)
    before = client.get_inference_statistics("overload")["model_stats"][0]

    def call(i: int) -> str:
        # tritonclient.http's gevent pool is not for threads: the same body, sent by hand.
        body, json_size = httpclient.InferenceServerClient.generate_request_body([fp32(x * i)])
        headers = {"Inference-Header-Content-Length": str(json_size)}
        status, reply_headers, reply = http_call(
            server.http_url, "POST", "/v2/models/overload/infer", body, headers
        )
        if status != 200:
            return str(status)
        result = httpclient.InferResult.from_response_body(
            reply, header_length=int(reply_headers["inference-header-content-length"])
        )
        out = result.as_numpy("OUTPUT0")
        return "OK" if out.shape == (4, 512) and (np.sign(out) == np.sign(i)).all() else "WRONG"

    with ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(call, range(48)))
    accepted, rejected = outcomes.count("OK"), outcomes.count("503")
    assert rejected > 0 and accepted + rejected == 48, outcomes
    after = client.get_inference_statistics("overload")["model_stats"][0]
    success = [
        int(s["inference_stats"].get("success", {}).get("count", 0)) for s in (before, after)
    ]
    assert success[1] - success[0] == accepted
    ok(client)

"""The REST API through tritonclient.http: sync, async_infer and aio clients, every datatype as
binary and as JSON, requested outputs, compression, model control, and gRPC and HTTP requests
sharing one batch."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient
from helpers import sample, tensor
from modelgen import add_sub, identity, mlp, mlp_reference, write_repository
from server_process import naiad_server
from tritonclient.utils import InferenceServerException

DATATYPES = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip
# Two 1-row requests fill a batch of 2; a lone one would wait the whole 30 s delay.
PAIR = """
max_batch_size: 2
dynamic_batching { max_queue_delay_microseconds: 30000000 }
instance_group [ { count: 1 kind: KIND_CPU } ]
parameters { key: "queue_delay_mode" value { string_value: "fixed" } }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    models = {f"id_{d.lower()}": {1: (lambda p, d=d: identity(p, d, [-1]))} for d in DATATYPES}
    models["add_sub"] = {1: lambda p: add_sub(p, "INT32", [16])}
    models["mlp"] = {1: lambda p: mlp(p, 8, 16, 4)}
    models["pair"] = {1: lambda p: identity(p, "FP32", [3])}
    models["spare"] = {1: lambda p: mlp(p, 8, 16, 4, seed=5)}
    write_repository(root, models, configs={"pair": PAIR})
    with naiad_server(root, "--model-control-mode", "explicit", "--load-model", "*") as process:
        yield process


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    client = httpclient.InferenceServerClient(server.http_url, concurrency=8)
    yield client
    client.close()


def http_tensor(name: str, array: np.ndarray, datatype: str, binary: bool) -> httpclient.InferInput:
    value = httpclient.InferInput(name, list(array.shape), datatype)
    value.set_data_from_numpy(array, binary_data=binary)
    return value


def assert_same(out: np.ndarray, data: np.ndarray, datatype: str) -> None:
    assert out.shape == data.shape
    if datatype == "BYTES":
        # tritonclient hands JSON strings back as str, binary ones as bytes.
        as_bytes = [v if isinstance(v, bytes) else v.encode() for v in out.ravel()]
        assert as_bytes == data.ravel().tolist()
    else:
        assert out.dtype == data.dtype
        np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("datatype", DATATYPES)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_datatype_round_trips(client, datatype: str, binary: bool) -> None:
    data = sample(datatype, (3, 5), seed=7)
    name = f"id_{datatype.lower()}"
    if datatype == "FP16" and not binary:
        # As Triton: JSON carries no FP16, in either direction.
        with pytest.raises(InferenceServerException) as refused:
            client.infer(name, [http_tensor("INPUT0", data, datatype, binary)])
        assert refused.value.status() == "400" and "FP16" in refused.value.message()
        with pytest.raises(InferenceServerException) as refused:
            client.infer(
                name,
                [http_tensor("INPUT0", data, datatype, True)],
                outputs=[httpclient.InferRequestedOutput("OUTPUT0", binary_data=False)],
            )
        assert refused.value.status() == "400" and "FP16" in refused.value.message()
        return
    result = client.infer(
        name,
        [http_tensor("INPUT0", data, datatype, binary)],
        outputs=[httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary)],
        request_id="req-9",
    )
    assert_same(result.as_numpy("OUTPUT0"), data, datatype)
    response = result.get_response()
    assert response["id"] == "req-9"
    assert response["model_name"] == name and response["model_version"] == "1"
    (output,) = response["outputs"]
    assert output["datatype"] == datatype and output["shape"] == [3, 5]
    assert ("binary_data_size" in output.get("parameters", {})) is binary
    assert ("data" in output) is not binary


def test_outputs_binary_by_default_and_requested_subset(client) -> None:
    a = np.arange(32, dtype=np.int32).reshape(2, 16)
    b = np.ones((2, 16), dtype=np.int32)
    inputs = [http_tensor("INPUT0", a, "INT32", False), http_tensor("INPUT1", b, "INT32", True)]
    both = client.infer("add_sub", inputs)
    np.testing.assert_array_equal(both.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(both.as_numpy("OUTPUT1"), a - b)
    only = client.infer(
        "add_sub", inputs, outputs=[httpclient.InferRequestedOutput("OUTPUT1", binary_data=False)]
    )
    assert [o["name"] for o in only.get_response()["outputs"]] == ["OUTPUT1"]
    assert only.get_response()["outputs"][0]["data"] == (a - b).ravel().tolist()
    assert only.as_numpy("OUTPUT0") is None


@pytest.mark.parametrize("request_algorithm", [None, "gzip", "deflate"])
@pytest.mark.parametrize("response_algorithm", [None, "gzip", "deflate"])
def test_compression_both_ways(client, request_algorithm, response_algorithm) -> None:  # type: ignore[no-untyped-def]
    # 4 x 256 floats as JSON: an answer past the 1 KiB below which naiad sends it as it is.
    x = np.random.default_rng(2).standard_normal((4, 256)).astype(np.float32)
    result = client.infer(
        "id_fp32",
        [http_tensor("INPUT0", x, "FP32", True)],
        outputs=[httpclient.InferRequestedOutput("OUTPUT0", binary_data=False)],
        request_compression_algorithm=request_algorithm,
        response_compression_algorithm=response_algorithm,
    )
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), x)


def test_async_infer_answers_each_request_its_own_rows(client) -> None:
    sent = {i: np.full((1, 8), float(i), dtype=np.float32) for i in range(24)}
    pending = {
        i: client.async_infer("mlp", [http_tensor("INPUT0", x, "FP32", True)], request_id=str(i))
        for i, x in sent.items()
    }
    for i, request in pending.items():
        result = request.get_result(timeout=60)
        assert result.get_response()["id"] == str(i)
        np.testing.assert_allclose(
            result.as_numpy("OUTPUT0"), mlp_reference(sent[i], 8, 16, 4), rtol=1e-5, atol=1e-6
        )


def test_aio_client(server) -> None:
    async def main() -> None:
        async with aioclient.InferenceServerClient(server.http_url) as client:
            assert await client.is_server_live() and await client.is_server_ready()
            assert await client.is_model_ready("mlp")
            metadata = await client.get_model_metadata("mlp")
            assert metadata["inputs"][0]["name"] == "INPUT0"
            xs = [np.full((2, 8), float(i), dtype=np.float32) for i in range(8)]

            async def one(x: np.ndarray) -> np.ndarray:
                value = aioclient.InferInput("INPUT0", list(x.shape), "FP32")
                value.set_data_from_numpy(x)
                return (await client.infer("mlp", [value])).as_numpy("OUTPUT0")

            for x, out in zip(xs, await asyncio.gather(*map(one, xs)), strict=True):
                np.testing.assert_allclose(out, mlp_reference(x, 8, 16, 4), rtol=1e-5, atol=1e-6)

    asyncio.run(main())


def test_metadata_config_statistics_and_health(client) -> None:
    assert client.is_server_live() and client.is_server_ready()
    server = client.get_server_metadata()
    assert server["name"] == "naiad" and "binary_tensor_data" in server["extensions"]
    metadata = client.get_model_metadata("add_sub", "1")
    assert metadata["versions"] == ["1"] and metadata["platform"] == "onnxruntime_onnx"
    assert [t["name"] for t in metadata["outputs"]] == ["OUTPUT0", "OUTPUT1"]
    assert metadata["inputs"][0] == {"name": "INPUT0", "datatype": "INT32", "shape": [-1, 16]}
    config = client.get_model_config("pair")
    assert config["max_batch_size"] == 2 and config["dynamic_batching"]
    x = np.zeros((1, 8), dtype=np.float32)
    client.infer("mlp", [http_tensor("INPUT0", x, "FP32", True)])
    (stats,) = client.get_inference_statistics("mlp")["model_stats"]
    assert stats["name"] == "mlp" and int(stats["inference_stats"]["success"]["count"]) >= 1
    assert isinstance(stats["inference_count"], int)
    assert client.is_model_ready("mlp", "1") and not client.is_model_ready("mlp", "2")


def test_parameters_priority_timeout_and_custom(client) -> None:
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    result = client.infer(
        "mlp",
        [http_tensor("INPUT0", x, "FP32", False)],
        request_id="with-parameters",
        priority=1,
        timeout=5_000_000,
        parameters={"custom_int": 3, "custom_str": "x", "custom_bool": True},
    )
    assert result.get_response()["id"] == "with-parameters"
    np.testing.assert_allclose(
        result.as_numpy("OUTPUT0"), mlp_reference(x, 8, 16, 4), rtol=1e-5, atol=1e-6
    )


def test_repository_index_load_and_unload(client) -> None:
    x = np.zeros((1, 8), dtype=np.float32)
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index["spare"]["state"] == "READY"
    client.unload_model("spare")
    assert not client.is_model_ready("spare")
    with pytest.raises(InferenceServerException) as gone:
        client.infer("spare", [http_tensor("INPUT0", x, "FP32", True)])
    assert gone.value.status() in ("404", "503")
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index["spare"]["state"] == "UNAVAILABLE"
    client.load_model("spare", config=json.dumps({"max_batch_size": 2}))
    assert client.is_model_ready("spare")
    assert client.get_model_config("spare")["max_batch_size"] == 2
    out = client.infer("spare", [http_tensor("INPUT0", x, "FP32", True)]).as_numpy("OUTPUT0")
    np.testing.assert_allclose(out, mlp_reference(x, 8, 16, 4, seed=5), rtol=1e-5, atol=1e-6)


def test_grpc_and_http_requests_share_one_batch(server, client) -> None:
    before = client.get_inference_statistics("pair")["model_stats"][0]
    x_grpc = np.array([[1, 2, 3]], dtype=np.float32)
    x_http = np.array([[4, 5, 6]], dtype=np.float32)
    answers: dict[str, object] = {}
    done = threading.Semaphore(0)

    def collect(result, error) -> None:  # type: ignore[no-untyped-def]
        answers["grpc"] = error if error is not None else result.as_numpy("OUTPUT0")
        done.release()

    with grpcclient.InferenceServerClient(server.url) as grpc_client:
        grpc_client.async_infer("pair", [tensor("INPUT0", x_grpc, "FP32")], callback=collect)
        answers["http"] = client.infer(
            "pair", [http_tensor("INPUT0", x_http, "FP32", True)], timeout=60_000_000
        ).as_numpy("OUTPUT0")
        assert done.acquire(timeout=60)
    np.testing.assert_array_equal(answers["grpc"], x_grpc)  # type: ignore[arg-type]
    np.testing.assert_array_equal(answers["http"], x_http)  # type: ignore[arg-type]
    after = client.get_inference_statistics("pair")["model_stats"][0]
    assert after["inference_count"] - before.get("inference_count", 0) == 2
    assert after["execution_count"] - before.get("execution_count", 0) == 1
    assert any(b["batch_size"] == 2 for b in after["batch_stats"])

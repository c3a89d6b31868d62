"""Stateful models through tritonclient on a real server: running sums per sequence on unary
and streaming calls, direct vs oldest batches, control tensors, CORRID, and Triton's errors."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from modelgen import write_repository
from onnx import TensorProto
from sequence_models import accumulator, accumulator_config, corrid, corrid_config
from server_process import ServerProcess, naiad_server
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

FLAG_START, FLAG_END, FLAG_READY = 1, 2, 4
CONFIGS = {
    "acc_direct": accumulator_config("direct { }"),
    "acc_oldest": accumulator_config("oldest { max_candidate_sequences: 4 }"),
    "acc_idle": accumulator_config(
        "direct { }", max_batch_size=1, extra="max_sequence_idle_microseconds: 200000"
    ),
    "acc_full": accumulator_config("direct { }", max_batch_size=1)
    + 'parameters { key: "max_sequence_backlog" value { string_value: "0" } }',
    "corrid_u64": corrid_config("TYPE_UINT64"),
    "corrid_str": corrid_config("TYPE_STRING"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    models = {name: {1: accumulator} for name in CONFIGS if name.startswith("acc")}
    models["corrid_u64"] = {1: lambda p: corrid(p, TensorProto.UINT64)}
    models["corrid_str"] = {1: lambda p: corrid(p, TensorProto.STRING)}
    root = write_repository(tmp_path_factory.mktemp("repo"), models, configs=CONFIGS)
    with naiad_server(root) as process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    with grpcclient.InferenceServerClient(server.url) as c:
        yield c


def _input(value: float) -> list[grpcclient.InferInput]:
    tensor = grpcclient.InferInput("INPUT", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.array([[value]], dtype=np.float32))
    return [tensor]


def _send(client, model: str, sid: int | str, value: float, *, start=False, end=False):  # type: ignore[no-untyped-def]
    return client.infer(
        model, _input(value), sequence_id=sid, sequence_start=start, sequence_end=end
    )


def _out(result, name: str = "OUTPUT") -> int | float:  # type: ignore[no-untyped-def]
    return result.as_numpy(name).item()


def test_each_sequence_keeps_its_own_running_sum_on_unary_calls(client) -> None:  # type: ignore[no-untyped-def]
    values = {101: [1, 2, 3, 4], 102: [10, 20, 30, 40], 103: [100, 200, 300, 400]}
    sums = dict.fromkeys(values, 0.0)
    for step in range(4):
        for sid, series in values.items():
            result = _send(client, "acc_direct", sid, series[step], start=step == 0, end=step == 3)
            sums[sid] += series[step]
            assert _out(result) == sums[sid]
            flags = _out(result, "FLAGS")
            assert flags & FLAG_READY
            assert bool(flags & FLAG_START) == (step == 0)
            assert bool(flags & FLAG_END) == (step == 3)


def test_interleaved_streaming_sequences_get_their_own_sums(server: ServerProcess) -> None:
    answers: queue.Queue[object] = queue.Queue()
    sequences = {f"stream-{i}": [float(i + 1)] * 5 for i in range(6)}
    with grpcclient.InferenceServerClient(server.url) as client:
        client.start_stream(callback=lambda result, error: answers.put(error or result))
        for step in range(5):
            for sid, series in sequences.items():
                client.async_stream_infer(
                    "acc_direct" if sid[-1] in "024" else "acc_oldest",
                    _input(series[step]),
                    request_id=f"{sid}:{step}",
                    sequence_id=sid,
                    sequence_start=step == 0,
                    sequence_end=step == 4,
                )
        got = [answers.get(timeout=30) for _ in range(30)]
        client.stop_stream()
    by_id: dict[str, float] = {}
    for result in got:
        assert not isinstance(result, InferenceServerException), result
        by_id[result.get_response().id] = _out(result)  # type: ignore[attr-defined]
    for sid, series in sequences.items():
        for step in range(5):
            assert by_id[f"{sid}:{step}"] == series[0] * (step + 1)


def test_direct_puts_a_sequence_in_its_slot_row_and_oldest_packs_rows(client) -> None:  # type: ignore[no-untyped-def]
    for model, expected_rows in (("acc_direct", 3), ("acc_oldest", 1)):
        for sid in (201, 202, 203):  # slots 0, 1, 2 of the one instance
            _send(client, model, sid, 1.0, start=True)
        third = _send(client, model, 203, 1.0)  # alone in its batch
        assert _out(third, "ROWS") == expected_rows
        assert _out(third) == 2.0
        for sid in (201, 202, 203):
            _send(client, model, sid, 0.0, end=True)


def test_statistics_count_requests_not_padded_rows(client) -> None:  # type: ignore[no-untyped-def]
    def counts() -> tuple[int, int]:
        stats = client.get_inference_statistics("acc_direct", "1", as_json=True)["model_stats"][0]
        return int(stats.get("inference_count", 0)), int(
            stats["inference_stats"]["success"].get("count", 0)
        )

    before = counts()
    _send(client, "acc_direct", 301, 1.0, start=True)
    _send(client, "acc_direct", 302, 1.0, start=True)
    _send(client, "acc_direct", 302, 1.0, end=True)  # a two-row batch holding one request
    _send(client, "acc_direct", 301, 1.0, end=True)
    after = counts()
    assert (after[0] - before[0], after[1] - before[1]) == (4, 4)


def test_a_sequence_must_start_with_the_start_flag(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceServerException) as caught:
        _send(client, "acc_direct", 999, 1.0)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert (
        "inference request for sequence 999 to model 'acc_direct' must specify the START flag"
        " on the first request of the sequence" in caught.value.message()
    )
    _send(client, "acc_direct", 998, 1.0, start=True, end=True)
    with pytest.raises(InferenceServerException, match="START flag"):
        _send(client, "acc_direct", 998, 1.0)  # ended: a new request must start again


def test_a_sequence_model_needs_a_sequence_id(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceServerException) as caught:
        client.infer("acc_direct", _input(1.0))
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "must specify a non-zero or non-empty correlation ID" in caught.value.message()


def test_requests_of_a_sequence_carry_one_row(client) -> None:  # type: ignore[no-untyped-def]
    tensor = grpcclient.InferInput("INPUT", [2, 1], "FP32")
    tensor.set_data_from_numpy(np.ones((2, 1), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="must specify batch-size 1"):
        client.infer("acc_direct", [tensor], sequence_id=5, sequence_start=True)


def test_corrid_is_fed_as_uint64_or_string(server: ServerProcess, client) -> None:  # type: ignore[no-untyped-def]
    result = _send(client, "corrid_u64", 2**63 - 1, 1.0, start=True, end=True)  # int64_param
    assert result.as_numpy("CORRID_OUT").tolist() == [[2**63 - 1]]
    assert result.as_numpy("CORRID_OUT").dtype == np.uint64
    # The C++ client (perf_analyzer) sends uint64_param, which reaches the top of the range.
    big = 2**64 - 2
    request = service_pb2.ModelInferRequest(model_name="corrid_u64", id="big")
    request.parameters["sequence_id"].uint64_param = big
    request.parameters["sequence_start"].bool_param = True
    request.parameters["sequence_end"].bool_param = True
    request.inputs.add(name="INPUT", datatype="FP32", shape=[1, 1])
    request.raw_input_contents.append(np.float32(1.0).tobytes())
    with grpc.insecure_channel(server.url) as channel:
        reply = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    index = [o.name for o in reply.outputs].index("CORRID_OUT")
    assert np.frombuffer(reply.raw_output_contents[index], dtype=np.uint64).tolist() == [big]
    result = _send(client, "corrid_str", "session-ä", 1.0, start=True, end=True)
    assert result.as_numpy("CORRID_OUT").tolist() == [["session-ä".encode()]]


def test_a_sequence_id_of_the_wrong_kind_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceServerException) as caught:
        _send(client, "corrid_u64", "text", 1.0, start=True)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "expects integer correlation IDs" in caught.value.message()
    with pytest.raises(InferenceServerException, match="expects string correlation IDs"):
        _send(client, "corrid_str", 7, 1.0, start=True)


def test_string_and_integer_ids_name_different_sequences(client) -> None:  # type: ignore[no-untyped-def]
    _send(client, "acc_direct", 77, 5.0, start=True)
    assert _out(_send(client, "acc_direct", "77", 1.0, start=True)) == 1.0
    assert _out(_send(client, "acc_direct", 77, 1.0, end=True)) == 6.0
    assert _out(_send(client, "acc_direct", "77", 1.0, end=True)) == 2.0


def test_a_new_sequence_beyond_the_backlog_is_unavailable(client) -> None:  # type: ignore[no-untyped-def]
    _send(client, "acc_full", 1, 1.0, start=True)
    with pytest.raises(InferenceServerException) as caught:
        _send(client, "acc_full", 2, 1.0, start=True)
    assert caught.value.status() == "StatusCode.UNAVAILABLE"
    assert "every sequence slot is taken" in caught.value.message()
    assert _out(_send(client, "acc_full", 1, 1.0, end=True)) == 2.0
    assert _out(_send(client, "acc_full", 2, 1.0, start=True, end=True)) == 1.0


def test_an_idle_sequence_frees_its_slot_for_a_waiting_one(client) -> None:  # type: ignore[no-untyped-def]
    _send(client, "acc_idle", 11, 1.0, start=True)  # holds the only slot, then goes idle
    # 12 waits for the slot; once 11 idled out (200 ms), 12 runs from a fresh state.
    assert _out(_send(client, "acc_idle", 12, 3.0, start=True)) == 3.0
    with pytest.raises(InferenceServerException, match="START flag"):
        _send(client, "acc_idle", 11, 1.0)
    _send(client, "acc_idle", 12, 0.0, end=True)


def test_http_sends_sequence_parameters_in_the_json_header(server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("INPUT", [1, 1], "FP32")
    total = 0.0
    for step, value in enumerate([2.0, 3.0, 4.0]):
        tensor.set_data_from_numpy(np.array([[value]], dtype=np.float32))
        result = client.infer(
            "acc_direct", [tensor], sequence_id=4242, sequence_start=step == 0,
            sequence_end=step == 2,
        )  # fmt: skip
        total += value
        assert result.as_numpy("OUTPUT").item() == total
    client.close()

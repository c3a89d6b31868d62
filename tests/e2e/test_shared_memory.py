"""System shared memory through tritonclient on gRPC and HTTP: registration, tensors read from
and written to regions, bounds checks, and what a server without --allow-client-shm says."""

from __future__ import annotations

import queue
import uuid

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from helpers import needs_perf_analyzer, run_perf_analyzer, status_of
from modelgen import add_sub, write_repository
from server_process import naiad_server
from tritonclient.utils import InferenceServerException

ROWS, WIDTH = 2, 16
NBYTES = ROWS * WIDTH * 4
"""One INT32 [2, 16] tensor."""


@pytest.fixture(scope="module")
def repository(tmp_path_factory):  # type: ignore[no-untyped-def]
    return write_repository(
        tmp_path_factory.mktemp("repo"),
        {"add_sub": {1: lambda p: add_sub(p, "INT32", [WIDTH])}},
        configs={"add_sub": "max_batch_size: 8"},
    )


@pytest.fixture(scope="module")
def server(repository):  # type: ignore[no-untyped-def]
    with naiad_server(repository, "--allow-client-shm") as process:
        yield process


@pytest.fixture
def regions():  # type: ignore[no-untyped-def]
    """Creates named /dev/shm objects (name, byte size) -> handle; unlinks them after."""
    made: list[object] = []

    def make(byte_size: int) -> tuple[str, object]:
        key = f"/naiad-test-{uuid.uuid4().hex[:12]}"
        handle = shm.create_shared_memory_region(key[1:], key, byte_size)
        made.append(handle)
        return key, handle

    yield make
    for handle in made:
        shm.destroy_shared_memory_region(handle)


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    a = np.arange(ROWS * WIDTH, dtype=np.int32).reshape(ROWS, WIDTH)
    return a, np.full((ROWS, WIDTH), 3, dtype=np.int32)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_inputs_and_outputs_travel_in_shared_memory(server, regions, protocol) -> None:  # type: ignore[no-untyped-def]
    module = grpcclient if protocol == "grpc" else httpclient
    url = server.url if protocol == "grpc" else server.http_url
    client = module.InferenceServerClient(url)
    a, b = _inputs()
    in_key, in_handle = regions(2 * NBYTES)
    out_key, out_handle = regions(2 * NBYTES + 100)
    shm.set_shared_memory_region(in_handle, [a, b])
    client.register_system_shared_memory("in", in_key, 2 * NBYTES)
    # An offset that no page boundary matches: the server maps the page below it.
    client.register_system_shared_memory("out", out_key, 2 * NBYTES, offset=100)
    try:
        inputs = [module.InferInput(n, [ROWS, WIDTH], "INT32") for n in ("INPUT0", "INPUT1")]
        inputs[0].set_shared_memory("in", NBYTES)
        inputs[1].set_shared_memory("in", NBYTES, offset=NBYTES)
        outputs = [module.InferRequestedOutput(n) for n in ("OUTPUT0", "OUTPUT1")]
        outputs[0].set_shared_memory("out", NBYTES)
        outputs[1].set_shared_memory("out", NBYTES, offset=NBYTES)
        result = client.infer("add_sub", inputs, outputs=outputs)
        shape = [ROWS, WIDTH]
        added = shm.get_contents_as_numpy(out_handle, np.int32, shape, offset=100)
        subtracted = shm.get_contents_as_numpy(out_handle, np.int32, shape, offset=100 + NBYTES)
        np.testing.assert_array_equal(added, a + b)
        np.testing.assert_array_equal(subtracted, a - b)
        placed = result.get_output("OUTPUT1")
        if protocol == "grpc":
            assert list(placed.shape) == shape
            assert placed.parameters["shared_memory_region"].string_param == "out"
            assert placed.parameters["shared_memory_offset"].int64_param == NBYTES
            # An empty entry per placed output, as Triton: clients find data by position.
            assert list(result.get_response().raw_output_contents) == [b"", b""]
        else:
            assert placed["shape"] == shape
            assert "data" not in placed and "parameters" not in placed

        status = client.get_system_shared_memory_status()
        if protocol == "grpc":
            found = {name: (r.key, r.offset, r.byte_size) for name, r in status.regions.items()}
        else:
            found = {r["name"]: (r["key"], r["offset"], r["byte_size"]) for r in status}
        assert found == {"in": (in_key, 0, 2 * NBYTES), "out": (out_key, 100, 2 * NBYTES)}
    finally:
        client.unregister_system_shared_memory()
    try:
        status = client.get_system_shared_memory_status()
        assert len(status.regions if protocol == "grpc" else status) == 0
    finally:
        client.close()


def test_one_tensor_in_shared_memory_and_one_in_the_message(server, regions) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    a, b = _inputs()
    key, handle = regions(2 * NBYTES)
    shm.set_shared_memory_region(handle, [a])
    client.register_system_shared_memory("mixed", key, 2 * NBYTES)
    try:
        first = grpcclient.InferInput("INPUT0", [ROWS, WIDTH], "INT32")
        first.set_shared_memory("mixed", NBYTES)
        second = grpcclient.InferInput("INPUT1", [ROWS, WIDTH], "INT32")
        second.set_data_from_numpy(b)
        placed = grpcclient.InferRequestedOutput("OUTPUT0")
        placed.set_shared_memory("mixed", NBYTES, offset=NBYTES)
        result = client.infer(
            "add_sub", [first, second], outputs=[placed, grpcclient.InferRequestedOutput("OUTPUT1")]
        )
        # The output in the message keeps its data, whatever order the outputs were asked in.
        np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)
        written = shm.get_contents_as_numpy(handle, np.int32, [ROWS, WIDTH], offset=NBYTES)
        np.testing.assert_array_equal(written, a + b)
    finally:
        client.unregister_system_shared_memory("mixed")


def test_streamed_requests_write_their_outputs_into_shared_memory(server, regions) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    a, b = _inputs()
    key, handle = regions(4 * NBYTES)
    shm.set_shared_memory_region(handle, [a, b])
    client.register_system_shared_memory("stream", key, 4 * NBYTES)
    answers: queue.Queue = queue.Queue()  # type: ignore[type-arg]
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        inputs = [grpcclient.InferInput(n, [ROWS, WIDTH], "INT32") for n in ("INPUT0", "INPUT1")]
        inputs[0].set_shared_memory("stream", NBYTES)
        inputs[1].set_shared_memory("stream", NBYTES, offset=NBYTES)
        good = grpcclient.InferRequestedOutput("OUTPUT0")
        good.set_shared_memory("stream", NBYTES, offset=2 * NBYTES)
        client.async_stream_infer("add_sub", inputs, outputs=[good], request_id="good")
        result, error = answers.get(timeout=30)
        assert error is None and result.get_response().id == "good"
        written = shm.get_contents_as_numpy(handle, np.int32, [ROWS, WIDTH], offset=2 * NBYTES)
        np.testing.assert_array_equal(written, a + b)
        small = grpcclient.InferRequestedOutput("OUTPUT0")
        small.set_shared_memory("stream", 8, offset=3 * NBYTES)
        client.async_stream_infer("add_sub", inputs, outputs=[small], request_id="small")
        result, error = answers.get(timeout=30)
        assert error is not None and "at least 128 bytes" in str(error)
    finally:
        client.stop_stream()
        client.unregister_system_shared_memory("stream")


def test_ranges_outside_a_region_and_bad_registrations_are_refused(server, regions) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    key, _ = regions(NBYTES)
    client.register_system_shared_memory("small", key, NBYTES)
    try:

        def infer(size: int, offset: int = 0, region: str = "small"):  # type: ignore[no-untyped-def]
            given = grpcclient.InferInput("INPUT0", [ROWS, WIDTH], "INT32")
            given.set_shared_memory(region, size, offset=offset)
            other = grpcclient.InferInput("INPUT1", [ROWS, WIDTH], "INT32")
            other.set_data_from_numpy(np.zeros((ROWS, WIDTH), np.int32))
            return lambda: client.infer("add_sub", [given, other])

        code, message = status_of(infer(NBYTES, offset=4))
        assert code == "INVALID_ARGUMENT" and "do not fit" in message
        code, message = status_of(infer(NBYTES + 4))
        assert code == "INVALID_ARGUMENT" and "do not fit" in message
        code, message = status_of(infer(NBYTES - 4))
        assert code == "INVALID_ARGUMENT" and "expecting 128" in message
        code, message = status_of(infer(NBYTES, region="nowhere"))
        assert code == "INVALID_ARGUMENT" and "'nowhere'" in message

        code, _ = status_of(lambda: client.register_system_shared_memory("small", key, NBYTES))
        assert code == "ALREADY_EXISTS"
        code, message = status_of(
            lambda: client.register_system_shared_memory("big", key, NBYTES, offset=4)
        )
        assert code == "INVALID_ARGUMENT" and "past the end" in message
        code, _ = status_of(
            lambda: client.register_system_shared_memory("gone", "/naiad-no-such-key", 8)
        )
        assert code == "INVALID_ARGUMENT"
        code, _ = status_of(lambda: client.register_system_shared_memory("up", "/../etc", 8))
        assert code == "INVALID_ARGUMENT"
        code, _ = status_of(lambda: client.get_system_shared_memory_status("nowhere"))
        assert code == "NOT_FOUND"
    finally:
        client.unregister_system_shared_memory("small")
    with pytest.raises(InferenceServerException, match="'small'"):
        infer(NBYTES)()


def test_metadata_lists_system_shared_memory_and_cuda_is_unimplemented(server) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    assert "system_shared_memory" in client.get_server_metadata().extensions
    http = httpclient.InferenceServerClient(server.http_url)
    assert "system_shared_memory" in http.get_server_metadata()["extensions"]
    code, message = status_of(lambda: client.get_cuda_shared_memory_status())
    assert code == "UNIMPLEMENTED" and "CUDA shared memory" in message
    try:
        with pytest.raises(InferenceServerException) as refused:
            http.get_cuda_shared_memory_status()
        assert refused.value.status() == "501"
        # No CUDA region can exist, so unregistering them all succeeds (perf_analyzer's clean-up).
        client.unregister_cuda_shared_memory()
        http.unregister_cuda_shared_memory()
    finally:
        http.close()


def test_without_the_flag_shared_memory_is_off(repository, regions) -> None:  # type: ignore[no-untyped-def]
    with naiad_server(repository) as plain:
        client = grpcclient.InferenceServerClient(plain.url)
        assert "system_shared_memory" not in client.get_server_metadata().extensions
        key, _ = regions(NBYTES)
        code, _ = status_of(lambda: client.register_system_shared_memory("r", key, NBYTES))
        assert code == "UNIMPLEMENTED"
        given = grpcclient.InferInput("INPUT0", [ROWS, WIDTH], "INT32")
        given.set_shared_memory("r", NBYTES)
        other = grpcclient.InferInput("INPUT1", [ROWS, WIDTH], "INT32")
        other.set_data_from_numpy(np.zeros((ROWS, WIDTH), np.int32))
        code, _ = status_of(lambda: client.infer("add_sub", [given, other]))
        assert code == "UNIMPLEMENTED"


@needs_perf_analyzer
@pytest.mark.parametrize("mode", ["grpc", "http", "streaming"])
def test_perf_analyzer_runs_clean_with_system_shared_memory(server, mode) -> None:  # type: ignore[no-untyped-def]
    protocol = "http" if mode == "http" else "grpc"
    url = server.http_url if protocol == "http" else server.url
    output = run_perf_analyzer(
        "-m", "add_sub", "-i", protocol, "-u", url,
        "--shared-memory", "system", "--concurrency-range", "2",
        *(["--streaming"] if mode == "streaming" else []),
    )  # fmt: skip
    assert "throughput" in output
    # perf_analyzer unregisters what it registered: nothing is left behind.
    client = grpcclient.InferenceServerClient(server.url)
    assert len(client.get_system_shared_memory_status().regions) == 0

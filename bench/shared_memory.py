"""What system shared memory saves on large tensors: the same requests through registered
regions vs carried in the gRPC message, on one naiad, in alternating windows.

    python -m bench.shared_memory [--mb 16] [--rounds 6] [--window-s 2] [--protocol grpc]

Serves two models with an FP32 input of `--mb` MB: `sum` (ReduceSum: a 4-byte answer, so the
input's transfer dominates) and `copy` (Identity: the answer is as large as the input). Each
window runs one client back to back (concurrency 1) on one path:

- copy: tritonclient sends the array in the message and reads the answer out of it;
- shm:  the client writes the array into its input region (one memcpy per request, as a real
  client must), the server reads it in place and writes the answer into the output region,
  which the client copies out.

Windows alternate (copy, shm, shm, copy, ...) so that drift on a shared machine cancels in the
median of the paired ratios. Prints one line per model and path, then the shm/copy ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from onnx import TensorProto, helper


def _write_model(root: Path, name: str, op: str, elements: int) -> None:
    out_dims: list[int | str] = ["batch", 1] if op == "ReduceSum" else ["batch", elements]
    nodes = (
        [helper.make_node("ReduceSum", ["INPUT0", "AXES"], ["OUTPUT0"], keepdims=1)]
        if op == "ReduceSum"
        else [helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])]
    )
    initializers = (
        [helper.make_tensor("AXES", TensorProto.INT64, [1], [1])] if op == "ReduceSum" else []
    )
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["batch", elements])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, out_dims)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    (root / name / "1").mkdir(parents=True)
    onnx.save(model, str(root / name / "1" / "model.onnx"))
    (root / name / "config.pbtxt").write_text(
        "max_batch_size: 1\ninstance_group [ { count: 1 kind: KIND_CPU } ]\n"
    )


class _Paths:
    """One model's two request paths over one client, regions made once."""

    def __init__(self, client, module, model: str, x: np.ndarray, out_bytes: int) -> None:  # type: ignore[no-untyped-def]
        self.client, self.module, self.model, self.x = client, module, model, x
        self.out_bytes = out_bytes
        tag = uuid.uuid4().hex[:8]
        self.in_key, self.out_key = f"/bench-in-{tag}", f"/bench-out-{tag}"
        self.in_handle = shm.create_shared_memory_region(self.in_key[1:], self.in_key, x.nbytes)
        self.out_handle = shm.create_shared_memory_region(self.out_key[1:], self.out_key, out_bytes)
        client.register_system_shared_memory(self.in_key[1:], self.in_key, x.nbytes)
        client.register_system_shared_memory(self.out_key[1:], self.out_key, out_bytes)

    def copy(self) -> np.ndarray:
        given = self.module.InferInput("INPUT0", list(self.x.shape), "FP32")
        given.set_data_from_numpy(self.x)
        return self.client.infer(self.model, [given]).as_numpy("OUTPUT0")

    def shared(self) -> np.ndarray:
        shm.set_shared_memory_region(self.in_handle, [self.x])
        given = self.module.InferInput("INPUT0", list(self.x.shape), "FP32")
        given.set_shared_memory(self.in_key[1:], self.x.nbytes)
        wanted = self.module.InferRequestedOutput("OUTPUT0")
        wanted.set_shared_memory(self.out_key[1:], self.out_bytes)
        self.client.infer(self.model, [given], outputs=[wanted])
        shape = [1, self.out_bytes // 4]
        return np.array(shm.get_contents_as_numpy(self.out_handle, np.float32, shape))

    def close(self) -> None:
        self.client.unregister_system_shared_memory(self.in_key[1:])
        self.client.unregister_system_shared_memory(self.out_key[1:])
        shm.destroy_shared_memory_region(self.in_handle)
        shm.destroy_shared_memory_region(self.out_handle)


@contextlib.contextmanager
def _naiad(repository: Path) -> Iterator[dict[str, str]]:
    """`naiad serve --allow-client-shm` on free loopback ports; yields front end -> address.

    Started by hand rather than through bench.targets: tritonclient and naiad's own stubs
    register the same protobuf names, which one process refuses (see the tests' README)."""
    naiad = str(Path(sys.executable).with_name("naiad"))
    command = [
        naiad, "serve", "--model-repository", str(repository), "--grpc-host", "127.0.0.1",
        "--grpc-port", "0", "--http-port", "0", "--no-metrics", "--allow-client-shm",
    ]  # fmt: skip
    log = (repository / "server.log").open("w")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("naiad ready "):
                yield dict(pair.split("=", 1) for pair in line.split()[2:])
                break
        else:
            raise RuntimeError(f"naiad exited before ready; see {repository / 'server.log'}")
    finally:
        process.terminate()
        process.wait(60)
        log.close()


def _window(call: Callable[[], np.ndarray], seconds: float) -> list[int]:
    latencies: list[int] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter_ns()
        call()
        latencies.append(time.perf_counter_ns() - start)
    return latencies


def _measure(paths: _Paths, args: argparse.Namespace) -> None:
    expected = paths.copy()
    np.testing.assert_allclose(paths.shared(), expected, rtol=1e-5)  # both paths agree
    rates: dict[str, list[float]] = {"copy": [], "shm": []}
    p50s: dict[str, list[float]] = {"copy": [], "shm": []}
    for round_number in range(args.rounds):
        order = ("copy", "shm") if round_number % 2 == 0 else ("shm", "copy")
        for path in order:
            done = _window(paths.copy if path == "copy" else paths.shared, args.window_s)
            rates[path].append(len(done) / args.window_s)
            p50s[path].append(statistics.median(done) / 1e6)
    for path in ("copy", "shm"):
        print(
            f"{paths.model} {args.mb:g} MB {args.protocol} {path}: median"
            f" {statistics.median(rates[path]):,.1f} req/s over {args.rounds} windows of"
            f" {args.window_s:g} s, p50 {statistics.median(p50s[path]):.2f} ms",
            flush=True,
        )
    ratios = [s / c for c, s in zip(rates["copy"], rates["shm"], strict=True)]
    print(
        f"ratio {paths.model} shm/copy throughput: median {statistics.median(ratios):.2f}"
        f" (windows {min(ratios):.2f}..{max(ratios):.2f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shared_memory", description=__doc__)
    parser.add_argument("--mb", type=float, default=16.0, help="input size in MB (default 16)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--window-s", type=float, default=2.0)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    args = parser.parse_args()
    elements = int(args.mb * 1024 * 1024) // 4
    root = Path(tempfile.mkdtemp(prefix="bench-shm-"))
    _write_model(root, "sum", "ReduceSum", elements)
    _write_model(root, "copy", "Identity", elements)
    with _naiad(root) as addresses:
        module = grpcclient if args.protocol == "grpc" else httpclient
        client = module.InferenceServerClient(addresses[args.protocol])
        x = np.random.default_rng(0).standard_normal((1, elements)).astype(np.float32)
        for model, out_bytes in (("sum", 4), ("copy", x.nbytes)):
            paths = _Paths(client, module, model, x, out_bytes)
            try:
                _measure(paths, args)
            finally:
                paths.close()


if __name__ == "__main__":
    main()

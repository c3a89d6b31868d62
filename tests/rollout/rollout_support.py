"""A real NaiadServer on 127.0.0.1 for rollout tests, candidate models with known faults, a
concurrent load of real gRPC clients (naiad_client's asyncio client), and admin calls.

Every model has FP32 INPUT0 -> OUTPUT0 of dims [2]. Stable versions add 100 * version, so an
answer tells which version ran; candidates differ in a way a test can predict.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import modelgen
import numpy as np
from live_server import running  # noqa: F401  (re-exported for the tests here)
from onnx import TensorProto, helper, numpy_helper

from naiad.app import NaiadServer
from naiad_client.aio import AsyncClient
from naiad_client.errors import InferenceServerError

DIMS = (2,)
CONFIG = """
max_batch_size: 8
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [2] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [2] }]
dynamic_batching { }
version_policy: { all: {} }
"""


def offset(value: float | Sequence[float]) -> modelgen.Builder:
    """OUTPUT0 = INPUT0 + value (a scalar, or one value per column)."""

    def build(path: Path) -> Path:
        constant = np.asarray(value, np.float32)
        return _graph(path, [helper.make_node("Add", ["INPUT0", "OFFSET"], ["OUTPUT0"])], constant)

    return build


def failing(path: Path) -> Path:
    """OUTPUT0 = TABLE[INPUT0] with a two-entry TABLE: inputs 0 and 1 answer, any other input
    fails the run (Gather out of bounds), so a test chooses which requests the version fails."""
    nodes = [
        helper.make_node("Cast", ["INPUT0"], ["INDEX"], to=TensorProto.INT64),
        helper.make_node("Gather", ["OFFSET", "INDEX"], ["OUTPUT0"]),
    ]
    return _graph(path, nodes, np.array([100.0, 101.0], np.float32))


def broken(path: Path) -> Path:
    """Loads, then fails every run: INPUT0 ([batch, 2]) reshaped to [batch, 3] has the wrong
    number of elements for any batch, a failure onnxruntime can only see at run time."""
    nodes = [
        helper.make_node("Reshape", ["INPUT0", "THREE"], ["WIDE"]),
        helper.make_node("Reshape", ["WIDE", "TWO"], ["NARROW"]),
        helper.make_node("Add", ["NARROW", "OFFSET"], ["OUTPUT0"]),
    ]
    shapes = [
        numpy_helper.from_array(np.array([0, 3], np.int64), "THREE"),
        numpy_helper.from_array(np.array([0, 2], np.int64), "TWO"),
    ]
    return _graph(path, nodes, np.array(100.0, np.float32), shapes)


def not_a_number(path: Path) -> Path:
    """OUTPUT0 = INPUT0 + NaN: every answer arrives, and every answer is wrong."""
    return offset(float("nan"))(path)


def slow(path: Path) -> Path:
    """INPUT0 + 100 after four 512x512 matrix products that depend on the input (tens of ms on
    a CPU core, so far above a few-millisecond gate, and never folded away at load)."""
    weight = np.full((512, 512), 1e-4, np.float32)
    nodes = [
        helper.make_node("ReduceSum", ["INPUT0"], ["TOTAL"], keepdims=0),
        helper.make_node("Mul", ["W", "TOTAL"], ["M0"]),
    ]
    for i in range(4):
        nodes.append(helper.make_node("MatMul", [f"M{i}", "W"], [f"M{i + 1}"]))
    nodes += [
        helper.make_node("ReduceSum", ["M4"], ["S"], keepdims=0),
        helper.make_node("Mul", ["S", "ZERO"], ["NOTHING"]),
        helper.make_node("Add", ["INPUT0", "OFFSET"], ["SHIFTED"]),
        helper.make_node("Add", ["SHIFTED", "NOTHING"], ["OUTPUT0"]),
    ]
    extra = [
        numpy_helper.from_array(weight, "W"),
        numpy_helper.from_array(np.array(0.0, np.float32), "ZERO"),
    ]
    return _graph(path, nodes, np.array(100.0, np.float32), extra)


def _graph(path: Path, nodes: list[Any], constant: np.ndarray, extra: Sequence[Any] = ()) -> Path:
    shape = ["batch", *DIMS]
    graph = helper.make_graph(
        nodes,
        "rollout",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, shape)],
        initializer=[numpy_helper.from_array(constant, "OFFSET"), *extra],
    )
    return modelgen._save(graph, path)


def write_model(root: Path, name: str, versions: dict[int, modelgen.Builder]) -> Path:
    return modelgen.write_repository(root, {name: versions}, {name: CONFIG})


def admin(server: NaiadServer, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """An HTTP call to /v2/rollout{path}: (status, decoded JSON). Blocking: use to_thread."""
    url = f"http://{server.addresses['http']}/v2/rollout{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


async def metrics(server: NaiadServer) -> str:
    """The /metrics text (fetched on a thread: the server answers on this event loop)."""

    def scrape() -> str:
        address = server.addresses["metrics"]
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=30) as reply:
            return str(reply.read().decode())

    return await asyncio.to_thread(scrape)


def sample(text: str, name: str, **labels: str) -> float:
    """One series' value from /metrics text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@dataclass
class Outcome:
    """One request: the version that answered ("" on failure), its values, and its latency."""

    version: str
    values: np.ndarray | None
    latency_s: float
    error: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


async def load(
    server: NaiadServer,
    model: str,
    num_requests: int,
    *,
    concurrency: int = 16,
    inputs: Callable[[int], np.ndarray] | None = None,
    parameters: Callable[[int], dict[str, Any]] | None = None,
    version: str = "",
) -> list[Outcome]:
    """`num_requests` requests from `concurrency` clients, each on its own channel."""
    make_input = inputs or (lambda i: np.ones((1, *DIMS), np.float32))
    make_parameters = parameters or (lambda i: {})
    counter = iter(range(num_requests))
    outcomes: list[Outcome] = []

    async def client() -> None:
        async with AsyncClient(server.grpc_address) as channel:
            for i in counter:
                params = make_parameters(i)
                start_s = time.perf_counter()
                try:
                    result = await channel.infer(
                        model, {"INPUT0": make_input(i)}, version=version, parameters=params
                    )
                except InferenceServerError as exc:
                    latency_s = time.perf_counter() - start_s
                    outcomes.append(Outcome("", None, latency_s, str(exc), params))
                    continue
                latency_s = time.perf_counter() - start_s
                values = result.as_numpy("OUTPUT0")
                outcomes.append(Outcome(result.model_version, values, latency_s, "", params))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return outcomes


async def call_admin(
    server: NaiadServer, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    return await asyncio.to_thread(admin, server, path, body)

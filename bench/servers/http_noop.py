"""http-noop: naiad's own HTTP server (transport/http: httptools, limits, pipelining) with a
handler that parses each v2 infer request's JSON header and answers a fixed output of the right
shape without computing anything — the HTTP transport limit naiad's REST API is measured
against, on the same stack.

    python -m bench.servers.http_noop --signature '<Signature JSON>' [--port 0]

Besides POST .../infer it answers GET /v2/health/{live,ready}, the model's metadata and
/v2/models/M[/versions/V]/stats (in the shape naiad writes, so the harness reads it alike).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from time import perf_counter_ns
from typing import Any

import numpy as np

from bench import event_loop
from bench.models import Signature
from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.messages import JSON, HttpRequest, HttpResponse
from naiad.transport.http.server import HttpServer
from naiad_client import tensors

SERVER_NAME = "bench-http-noop"
MAX_BODY_BYTES = 1 << 30
_MODEL_PATH = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|stats|infer))?$")
_OK = HttpResponse(200)
_STAGES = ("success", "queue", "compute_input", "compute_infer", "compute_output")


def _json(value: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(value, separators=(",", ":")).encode(), JSON)


def _error(status: int, message: str) -> HttpResponse:
    return _json({"error": message}, status)


class _BadRequest(ValueError):
    pass


class NoopApi:
    """The do-nothing handler for one model described by a Signature."""

    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        self.batching = signature.max_batch_size > 0
        self._answers: dict[tuple[int, bool], tuple[bytes, bytes]] = {}
        self.counts = dict.fromkeys(_STAGES, 0)
        self.compute_ns = 0
        self.inference_count = 0
        self.failures = 0

    async def __call__(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path
        if path in ("/v2/health/live", "/v2/health/ready"):
            return _OK
        match = _MODEL_PATH.match(path)
        if match is None:
            return None
        if match[1] != self.signature.name:
            self.failures += match[3] == "infer"
            return _error(404, f"Request for unknown model: '{match[1]}' is not found")
        if match[3] == "infer" and request.method == "POST":
            return self._timed(request)
        if match[3] == "ready":
            return _OK
        if match[3] == "stats":
            return _json({"model_stats": [self._statistics()]})
        if match[3] is None:
            return _json(self._metadata())
        return _error(405, f"{request.method} is not allowed here")

    def _timed(self, request: HttpRequest) -> HttpResponse:
        start = perf_counter_ns()
        try:
            response = self._infer(request)
        except _BadRequest as exc:
            self.failures += 1
            return _error(400, str(exc))
        self.compute_ns += perf_counter_ns() - start
        for stage in _STAGES:
            self.counts[stage] += 1
        return response

    def _infer(self, request: HttpRequest) -> HttpResponse:
        header_length = request.header("inference-header-content-length")
        try:
            header = json.loads(
                request.body[: int(header_length)] if header_length else request.body
            )
            rows = int(header["inputs"][0]["shape"][0]) if self.batching else 1
            binary = bool(header.get("parameters", {}).get("binary_data_output", False)) or any(
                bool(o.get("parameters", {}).get("binary_data", False))
                for o in header.get("outputs", ())
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise _BadRequest(f"not a v2 infer request: {exc!r}") from None
        self.inference_count += rows
        key = (rows, binary)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = self._answer(rows, binary)
        text, raw = answer
        if header.get("id"):
            # The id is echoed: only this answer's JSON header is encoded again.
            text = json.dumps({**json.loads(text), "id": str(header["id"])}).encode()
        if not raw:
            return HttpResponse(200, text, JSON)
        length = (("Inference-Header-Content-Length", str(len(text))),)
        return HttpResponse(200, text + raw, "application/octet-stream", length)

    def _answer(self, rows: int, binary: bool) -> tuple[bytes, bytes]:
        """The fixed answer for ``rows`` rows: its JSON header and the binary data after it."""
        outputs, raws = [], []
        for t in self.signature.outputs:
            shape = ([rows] if self.batching else []) + [max(d, 1) for d in t.dims]
            dtype = tensors.DTYPE_BY_DATATYPE[t.datatype]
            value = np.full(shape, b"", dtype) if t.datatype == "BYTES" else np.zeros(shape, dtype)
            datatype, shape, raw = tensors.encode(value)
            entry: dict[str, Any] = {"name": t.name, "datatype": datatype, "shape": shape}
            if binary:
                entry["parameters"] = {"binary_data_size": len(raw)}
                raws.append(raw)
            else:
                flat = value.ravel().tolist()
                entry["data"] = [v.decode() for v in flat] if t.datatype == "BYTES" else flat
            outputs.append(entry)
        doc = {"model_name": self.signature.name, "model_version": "1", "outputs": outputs}
        return json.dumps(doc, separators=(",", ":")).encode(), b"".join(raws)

    def _metadata(self) -> dict[str, Any]:
        lead = [-1] if self.batching else []

        def described(specs: Any) -> list[dict[str, Any]]:
            return [
                {"name": t.name, "datatype": t.datatype, "shape": lead + list(t.dims)}
                for t in specs
            ]

        return {
            "name": self.signature.name,
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": described(self.signature.inputs),
            "outputs": described(self.signature.outputs),
        }

    def _statistics(self) -> dict[str, Any]:
        stages = {stage: {"count": self.counts[stage], "ns": 0} for stage in _STAGES}
        stages["success"]["ns"] = stages["compute_infer"]["ns"] = self.compute_ns
        stages["fail"] = {"count": self.failures, "ns": 0}
        return {
            "name": self.signature.name,
            "version": "1",
            "inference_count": self.inference_count,
            "execution_count": self.counts["success"],
            "inference_stats": stages,
        }


async def serve(api: NoopApi, host: str, port: int) -> None:
    """Serves until SIGTERM/SIGINT, after printing ``bench-http-noop ready http=HOST:PORT``."""
    server = HttpServer(host, port, api, "http", limits=HttpLimits(max_body_bytes=MAX_BODY_BYTES))
    await server.start()
    print(f"{SERVER_NAME} ready http={server.address}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop(grace_s=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signature", required=True, help="the model's Signature as JSON")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    api = NoopApi(Signature.from_json(args.signature))
    event_loop.run(serve(api, args.host, args.port))


if __name__ == "__main__":
    main()

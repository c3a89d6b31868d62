"""Helpers for bench tests: quick scenarios, and a v2 server whose service time is known (each
request sleeps ``delay_s``).

The server can fail every other request with UNAVAILABLE, and serve at most ``max_concurrent``
requests at once (the rest wait, and that wait is reported as queue time in ModelStatistics).
"""

from __future__ import annotations

import asyncio
import threading
from time import perf_counter_ns

import grpc

from bench import scenario
from bench.models import Signature, TensorSpec
from bench.servers.common import SignatureService
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

QUICK = {"warmup_s": 0.3, "window_s": 0.5, "min_trials": 2, "max_trials": 2}


def start_recorded(monkeypatch, target, repository):
    """Starts `target` with its server process replaced by a recorder; (the running target, the
    command lines it would have run)."""
    from types import SimpleNamespace

    from bench import targets

    started: list[list[str]] = []

    class Recorder:
        def __init__(self, command, log_path):
            started.append(command)

        def start(self):
            return "127.0.0.1:1"

    monkeypatch.setattr(targets, "ServerProcess", Recorder)
    signature = SimpleNamespace(repository=str(repository))
    return targets.start(target, signature, repository), started


def quick_scenario(targets, **sections):
    """A Scenario measuring briefly (two half-second windows after a short warm-up)."""
    data = {
        "name": "test",
        "targets": targets,
        "model": sections.pop("model", {"name": "sleepy", "generate": "none"}),
        "measure": {**QUICK, **sections.pop("measure", {})},
        **sections,
    }
    return scenario.from_dict(data)


SIGNATURE = Signature(
    name="sleepy",
    max_batch_size=8,
    inputs=(TensorSpec("x", "FP32", (4,)),),
    outputs=(TensorSpec("y", "FP32", (4,)),),
)


class SleepService(SignatureService):
    def __init__(self, delay_s: float, fail_every_other: bool, max_concurrent: int | None) -> None:
        super().__init__(SIGNATURE, "sleepy")
        self.delay_s = delay_s
        self.fail_every_other = fail_every_other
        self.slots = asyncio.Semaphore(max_concurrent or 1_000_000)
        self.calls = 0
        self.peers: set[str] = set()
        """Client addresses seen (one per connection)."""

    async def _serve(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse | None:
        self.calls += 1
        if self.fail_every_other and self.calls % 2 == 0:
            return None
        arrived = perf_counter_ns()
        async with self.slots:
            started = perf_counter_ns()
            await asyncio.sleep(self.delay_s)
        self.record(request, started - arrived, perf_counter_ns() - started)
        response = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
        response.outputs.add(name="y", datatype="FP32", shape=request.inputs[0].shape)
        response.raw_output_contents.append(request.raw_input_contents[0])
        return response

    async def ModelInfer(self, request, context):
        self.peers.add(context.peer())
        response = await self._serve(request)
        if response is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "every other request fails")
        return response

    async def ModelStreamInfer(self, request_iterator, context):
        self.peers.add(context.peer())
        answers: asyncio.Queue = asyncio.Queue()

        async def answer(request: pb.ModelInferRequest) -> None:
            response = await self._serve(request)
            if response is None:
                failed = pb.ModelInferResponse(id=request.id)
                message = "UNAVAILABLE: every other request fails"
                answers.put_nowait(
                    pb.ModelStreamInferResponse(error_message=message, infer_response=failed)
                )
            else:
                answers.put_nowait(pb.ModelStreamInferResponse(infer_response=response))

        async def read() -> None:
            tasks = [asyncio.ensure_future(answer(r)) async for r in request_iterator]
            await asyncio.gather(*tasks)
            answers.put_nowait(None)

        reader = asyncio.ensure_future(read())
        while (item := await answers.get()) is not None:
            yield item
        await reader


class SleepServer:
    """SleepService on 127.0.0.1:<any port>, on its own event-loop thread."""

    def __init__(
        self,
        delay_s: float = 0.02,
        fail_every_other: bool = False,
        max_concurrent: int | None = None,
    ) -> None:
        self._args = (delay_s, fail_every_other, max_concurrent)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpc.aio.Server | None = None
        self.service: SleepService | None = None
        self.url = ""

    def __enter__(self) -> SleepServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self.service = SleepService(*self._args)
        self._server = grpc.aio.server()
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(self.service, self._server)
        self.url = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        await self._server.start()

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

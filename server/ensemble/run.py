"""One request through an ensemble's graph: each step goes to its member through the engine,
so it queues and batches in the member's own scheduler with every other request for it.

Tensors pass between steps as the numpy arrays the members answered with (no copy here). A
step starts as soon as every tensor it reads exists, so independent steps run concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np

from naiad.datatypes import DataType
from naiad.engine.context import INTERNAL
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferInput, InferOutput, InferRequest, InferResponse
from naiad.ensemble.graph import EnsembleGraph, EnsembleStep
from naiad.errors import NaiadError

Tensor = tuple[DataType, np.ndarray]


async def run_graph(
    graph: EnsembleGraph,
    engine: InferenceEngine,
    request: InferRequest,
    inputs: Mapping[str, Tensor],
    output_names: tuple[str, ...],
) -> list[InferOutput]:
    """The ensemble outputs `output_names` for `inputs` (ensemble tensor -> datatype, array).

    A step's error fails the request with the same error class, its message naming the step;
    the other steps still running are cancelled (withdrawn from their members' queues).
    """
    tensors: dict[str, Tensor] = dict(inputs)
    waiting = list(graph.steps)
    running: dict[asyncio.Future[InferResponse], EnsembleStep] = {}
    try:
        while waiting or running:
            startable = [s for s in waiting if all(t in tensors for t in s.reads)]
            for step in startable:
                waiting.remove(step)
                running[_submit(engine, step, request, tensors)] = step
            if len(running) == 1:  # a chain: no need for asyncio.wait's bookkeeping
                future = next(iter(running))
                try:
                    await future
                except NaiadError:
                    pass  # _answer raises it again, naming the step
                done = {future}
            else:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                step = running.pop(future)
                _store(step, _answer(step, future), tensors)
    except BaseException:
        for future in running:
            future.cancel()
        raise
    return [InferOutput(name, *tensors[name]) for name in output_names]


def _submit(
    engine: InferenceEngine, step: EnsembleStep, request: InferRequest, tensors: dict[str, Tensor]
) -> asyncio.Future[InferResponse]:
    inputs = []
    for member_input, tensor in step.input_map:
        datatype, array = tensors[tensor]
        inputs.append(InferInput(member_input, datatype, tuple(array.shape), array))
    member_request = InferRequest(
        model_name=step.model_name,
        model_version=step.version,
        id=request.id,
        inputs=inputs,
        requested_outputs=[member_output for member_output, _ in step.output_map],
        parameters=dict(request.parameters),
    )
    try:
        return engine.submit(member_request, INTERNAL)
    except NaiadError as exc:
        raise _in_step(step, exc) from None


def _answer(step: EnsembleStep, future: asyncio.Future[InferResponse]) -> InferResponse:
    try:
        return future.result()
    except NaiadError as exc:
        raise _in_step(step, exc) from None


def _store(step: EnsembleStep, response: InferResponse, tensors: dict[str, Tensor]) -> None:
    targets = dict(step.output_map)
    for output in response.outputs:
        tensors[targets[output.name]] = (output.datatype, output.data)


def _in_step(step: EnsembleStep, error: NaiadError) -> NaiadError:
    """An error with the member's code (so the client sees the member's status), naming the
    step."""
    return NaiadError(f"ensemble {step.where}: {error.message}", error.code)

"""Triton's classification extension: an output requested with `classification: k` is answered
as the top k classes of each batch item, as BYTES strings "score:index" or "score:index:label".

Scores print as C++'s std::to_string does (six decimals), as Triton's answers do. Labels come
from the output's label_filename (TensorSpec.labels). Applied by the core engine on the answer
of any served model, ensembles included, so every front end gets it.
"""

from __future__ import annotations

import asyncio

import numpy as np

from naiad.config.settings import ModelSettings
from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferOutput, InferRequest, InferResponse, ParameterValue
from naiad.errors import InvalidArgument

_BYTES = BY_WIRE["BYTES"]
_NOT_SCORES = ("BYTES", "BOOL")


def check_classification(request: InferRequest, settings: ModelSettings) -> dict[str, int]:
    """Output name -> k for every classification the request asks for; raises InvalidArgument
    for an output that is not requested or holds no scores, or a k that is not a positive int."""
    wanted: dict[str, int] = {}
    requested = request.requested_outputs or []
    for name, value in request.classification.items():
        spec = settings.output(name)
        if spec is None or name not in requested:
            raise InvalidArgument(
                f"classification asked for output '{name}', which is not a requested output "
                f"of model '{settings.name}'"
            )
        if spec.datatype.wire in _NOT_SCORES:
            raise InvalidArgument(
                f"classification needs a numeric output; '{name}' is {spec.datatype.wire}"
            )
        wanted[name] = _count(name, value)
    return wanted


def classify(output: InferOutput, k: int, labels: tuple[str, ...], batches: bool) -> InferOutput:
    """The top `k` classes of each batch item of `output` (of the whole tensor when the model
    does not batch), best first; ties keep the lower index first."""
    data = np.asarray(output.data)
    rows = data.reshape(data.shape[0], -1) if batches and data.ndim else data.reshape(1, -1)
    k = min(k, rows.shape[1])
    # A stable sort on the negated scores: equal scores keep index order, as Triton's do.
    order = np.argsort(-rows.astype(np.float64), axis=1, kind="stable")[:, :k]
    answer: np.ndarray = np.empty(order.shape, dtype=np.object_)
    for r, indices in enumerate(order):
        for c, index in enumerate(indices):
            text = f"{float(rows[r, index]):f}:{int(index)}"
            if index < len(labels):
                text += f":{labels[index]}"
            answer[r, c] = text.encode()
    if not batches:
        answer = answer.reshape(k)
    return InferOutput(output.name, _BYTES, answer)


def classified(
    inner: asyncio.Future[InferResponse], wanted: dict[str, int], settings: ModelSettings
) -> asyncio.Future[InferResponse]:
    """A future of `inner`'s answer with the `wanted` outputs classified; cancelling it cancels
    `inner`."""
    outer: asyncio.Future[InferResponse] = inner.get_loop().create_future()

    def settle(done: asyncio.Future[InferResponse]) -> None:
        if outer.done():
            return
        if done.cancelled():
            outer.cancel()
            return
        error = done.exception()
        if error is not None:
            outer.set_exception(error)
            return
        response = done.result()
        outputs = []
        for output in response.outputs:
            k = wanted.get(output.name)
            if k is None:
                outputs.append(output)
                continue
            spec = settings.output(output.name)
            labels = spec.labels if spec is not None else ()
            outputs.append(classify(output, k, labels, settings.batches))
        response.outputs = outputs
        outer.set_result(response)

    inner.add_done_callback(settle)
    outer.add_done_callback(lambda f: inner.cancel() if f.cancelled() else None)
    return outer


def _count(name: str, value: ParameterValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(
            f"classification of output '{name}' must be a positive integer, got {value!r}"
        )
    return value

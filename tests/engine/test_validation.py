"""admit: what a request must be for its model, and what the scheduler learns from it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from naiad.config.settings import BatchingPolicy, ExecutionOptions, ModelSettings, TensorSpec
from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferInput, InferRequest
from naiad.engine.validation import admit
from naiad.errors import InvalidArgument

FP32, INT64 = BY_WIRE["FP32"], BY_WIRE["INT64"]

MODEL = ModelSettings(
    name="m",
    version=1,
    model_path="",
    max_batch_size=4,
    inputs=(
        TensorSpec("A", FP32, (-1, 2)),
        TensorSpec("B", INT64, (6,), reshape=(2, 3)),
        TensorSpec("C", FP32, (1,), optional=True),
    ),
    outputs=(TensorSpec("Y", FP32, (1,)), TensorSpec("Z", FP32, (1,))),
    batching=BatchingPolicy(enabled=True),
    instance_groups=(),
    execution=ExecutionOptions(),
)


def tensor(name: str, shape: tuple[int, ...], dtype=FP32) -> InferInput:  # type: ignore[no-untyped-def]
    return InferInput(name, dtype, shape, np.zeros(shape, dtype.numpy))


def request(*inputs: InferInput, outputs=None, **parameters) -> InferRequest:  # type: ignore[no-untyped-def]
    return InferRequest("m", "", "r", list(inputs), outputs, dict(parameters))


def good(rows: int = 3, width: int = 5) -> list[InferInput]:
    return [tensor("A", (rows, width, 2)), tensor("B", (rows, 6), INT64)]


def test_a_valid_request_becomes_model_ready_inputs_and_scheduling_attributes() -> None:
    admission = admit(request(*good(), priority=2, timeout=1500), MODEL)
    assert admission.rows == 3 and admission.priority == 2 and admission.timeout_us == 1500
    assert admission.inputs["B"].shape == (3, 2, 3)  # config reshape applied, batch dim kept
    assert admission.output_names == ("Y", "Z")  # all outputs, in config order
    assert admit(request(*good(), outputs=["Z"]), MODEL).output_names == ("Z",)


def test_the_shape_key_separates_requests_that_cannot_share_a_batch() -> None:
    key = admit(request(*good(rows=1, width=5)), MODEL).shape_key
    assert admit(request(*good(rows=4, width=5)), MODEL).shape_key == key  # rows may differ
    assert admit(request(*good(rows=1, width=7)), MODEL).shape_key != key  # item shapes may not
    assert 0 <= key < 2**64


@pytest.mark.parametrize(
    ("inputs", "parameters", "outputs", "message"),
    [
        ([tensor("Q", (1, 1))], {}, None, "unexpected inference input 'Q' for model 'm'"),
        ([*good(), tensor("A", (3, 5, 2))], {}, None, "input 'A' is given more than once"),
        (
            [tensor("A", (3, 5, 2), INT64), good()[1]],
            {},
            None,
            "unexpected datatype INT64 for inference input 'A' of model 'm', expecting FP32",
        ),
        ([tensor("A", (3, 5, 3)), good()[1]], {}, None, "unexpected shape for input 'A'"),
        ([tensor("A", (5, 2)), good()[1]], {}, None, "Expected [-1, -1, 2], got [5, 2]"),
        ([*good(rows=5)], {}, None, "batch-size must be <= 4 for 'm', got 5"),
        ([tensor("A", (2, 5, 2)), good(rows=3)[1]], {}, None, "different batch sizes (2 and 3)"),
        ([good()[0]], {}, None, "missing: 'B'"),
        (good(), {"priority": -1}, None, "parameter 'priority' must be a non-negative integer"),
        (good(), {"timeout": True}, None, "parameter 'timeout' must be a non-negative integer"),
        (good(), {"triton_x": 1}, None, "parameter 'triton_x' is reserved"),
        (good(), {}, ["W"], "unexpected inference output 'W' for model 'm'"),
        (good(), {}, ["Y", "Y"], "an output is requested more than once"),
    ],
)
def test_a_bad_request_says_what_is_wrong(inputs, parameters, outputs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument) as refused:
        admit(request(*inputs, outputs=outputs, **parameters), MODEL)
    assert message in refused.value.message


def test_accepted_parameters_and_unbatched_models() -> None:
    admit(request(*good(), triton_enable_empty_final_response=True, custom="x"), MODEL)
    flat = dataclasses.replace(MODEL, max_batch_size=0)
    admission = admit(request(tensor("A", (5, 2)), tensor("B", (6,), INT64)), flat)
    assert admission.rows == 1 and admission.inputs["B"].shape == (2, 3)
    with pytest.raises(InvalidArgument, match="unexpected shape"):
        admit(request(*good()), flat)


def test_a_timeout_beyond_int64_is_refused_not_queued() -> None:
    with pytest.raises(InvalidArgument, match="parameter 'timeout' must be a non-negative"):
        admit(request(*good(), timeout=2**63), MODEL)
    assert admit(request(*good(), timeout=2**63 - 1), MODEL).timeout_us == 2**63 - 1


def test_an_input_that_cannot_take_a_variable_reshape_is_refused() -> None:
    model = dataclasses.replace(
        MODEL, inputs=(TensorSpec("R", FP32, (-1, 3), reshape=(2, -1)),), max_batch_size=0
    )
    model = dataclasses.replace(model, batching=BatchingPolicy(enabled=False))
    with pytest.raises(InvalidArgument, match=r"cannot take the model's reshape \[2, -1\]"):
        admit(request(tensor("R", (1, 3))), model)

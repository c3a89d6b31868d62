"""Validation of completed configs against the ONNX model: one case per rule, good and broken."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import modelgen
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from naiad.errors import ErrorCode, ModelLoadError
from naiad_protocol.model_config_pb2 import ModelConfig

Check = Callable[..., ModelConfig]


def batching(path: Path) -> Path:
    """FP32 [-1, 4] -> [-1, 4]."""
    return modelgen.identity(path, "FP32", [4])


def fixed(path: Path) -> Path:
    """FP32 [2, 3], no batch dimension."""
    return modelgen.identity(path, "FP32", [2, 3], batching=False)


def two_inputs(path: Path) -> Path:
    """Two FP32 [2, 3] inputs, two outputs, no batch dimension."""
    return modelgen.add_sub(path, "FP32", [2, 3], batching=False)


def variable(path: Path) -> Path:
    """FP32 [-1, 2, -1]."""
    return modelgen.identity(path, "FP32", [2, -1])


GOOD = {
    "no config": (batching, None),
    "full config": (
        batching,
        """
        name: "m" platform: "onnxruntime_onnx" max_batch_size: 8
        input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] }]
        output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] }]
        dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100
          priority_levels: 2 default_priority_level: 2
          default_queue_policy { max_queue_size: 10 default_timeout_microseconds: 5000 }
          priority_queue_policy { key: 1 value { timeout_action: DELAY } } }
        instance_group [{ count: 2 kind: KIND_CPU }]
        model_warmup [{ name: "w" batch_size: 8
          inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } }]
        """,
    ),
    "non-batching full dims": (fixed, 'max_batch_size: 0 input [{ name: "INPUT0" dims: [2, 3] }]'),
    "output subset": (two_inputs, 'output [{ name: "OUTPUT1" }]'),
    "config -1 matches a fixed dim": (fixed, 'input [{ name: "INPUT0" dims: [ -1, 3 ] }]'),
    "fixed config dim matches an ONNX -1": (variable, 'input [{ name: "INPUT0" dims: [ 2, 7 ] }]'),
    "reshape compared instead of dims": (
        fixed,
        'input [{ name: "INPUT0" dims: [ 6 ] reshape { shape: [ 2, 3 ] } }]',
    ),
    "reshape with batching": (
        variable,
        'max_batch_size: 2 input [{ name: "INPUT0" dims: [ -1 ] reshape { shape: [ 2, -1 ] } }]',
    ),
    "priority levels without queue policies": (
        batching,
        "dynamic_batching { priority_levels: 3 default_priority_level: 1 }",
    ),
    "specific version policy": (batching, "version_policy { specific { versions: [ 1, 3 ] } }"),
    "warmup dims that fit a variable reshape": (
        variable,
        'max_batch_size: 2 input [{ name: "INPUT0" dims: [ -1 ] reshape { shape: [ 2, -1 ] } }] '
        'model_warmup [{ name: "w" batch_size: 2 '
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 6 ] zero_data: true } } }]',
    ),
}


@pytest.mark.parametrize(("builder", "text"), list(GOOD.values()), ids=list(GOOD))
def test_good_configs_pass(check: Check, builder: Callable[[Path], Path], text: str | None) -> None:
    assert check(builder, text).name == "m"


BAD = {
    "type mismatch": (
        batching,
        'input [{ name: "INPUT0" data_type: TYPE_INT32 }]',
        "model 'm': input 'INPUT0' has data_type TYPE_INT32 in the model config "
        "but the ONNX model declares FP32",
    ),
    "output type mismatch": (
        batching,
        'output [{ name: "OUTPUT0" data_type: TYPE_STRING }]',
        "output 'OUTPUT0' has data_type TYPE_STRING in the model config",
    ),
    "unknown input": (
        batching,
        'input [{ name: "INPUT0" }, { name: "EXTRA" data_type: TYPE_FP32 dims: [ 1 ] }]',
        "input 'EXTRA' is not an input of the ONNX model (INPUT0)",
    ),
    "unknown output": (
        batching,
        'output [{ name: "NOPE" data_type: TYPE_FP32 dims: [ 4 ] }]',
        "output 'NOPE' is not an output of the ONNX model (OUTPUT0)",
    ),
    "model input missing from config": (
        two_inputs,
        'input [{ name: "INPUT0" }]',
        "ONNX model input 'INPUT1' is missing from the model config",
    ),
    "wrong fixed dim": (
        batching,
        'input [{ name: "INPUT0" dims: [ 5 ] }]',
        "input 'INPUT0' has dims [5] (batch dimension excluded) in the model config but the "
        "ONNX model declares shape [-1, 4]",
    ),
    "wrong rank": (
        fixed,
        'input [{ name: "INPUT0" dims: [ 6 ] }]',
        "input 'INPUT0' has dims [6] in the model config but the ONNX model declares shape [2, 3]",
    ),
    "batching a model with a fixed first dim": (
        fixed,
        'max_batch_size: 4 input [{ name: "INPUT0" dims: [ 3 ] }]',
        "max_batch_size is 4 but the ONNX shape [2, 3] has no variable first (batch) dimension",
    ),
    "negative max_batch_size": (batching, "max_batch_size: -1", "max_batch_size must be >= 0"),
    "zero dim": (batching, 'input [{ name: "INPUT0" dims: [ 0 ] }]', "must be positive or -1"),
    "dim below -1": (batching, 'input [{ name: "INPUT0" dims: [ -2 ] }]', "must be positive"),
    "reshape against the ONNX shape": (
        fixed,
        'input [{ name: "INPUT0" dims: [ 2, 3 ] reshape { shape: [ 3, 2 ] } }]',
        "input 'INPUT0' has reshape [3, 2] in the model config but the ONNX model declares",
    ),
    "reshape element count": (
        fixed,
        'input [{ name: "INPUT0" dims: [ 5 ] reshape { shape: [ 2, 3 ] } }]',
        "reshape [2, 3] does not hold as many elements as dims [5]",
    ),
    "reshape variable dims differ": (
        variable,
        'max_batch_size: 2 input [{ name: "INPUT0" dims: [ 4 ] reshape { shape: [ 2, -1 ] } }]',
        "differ in -1 dims",
    ),
    "data_type number without a name": (
        batching,
        'input [{ name: "INPUT0" data_type: 99 dims: [ 4 ] }]',
        "data_type TYPE_<99> is not supported",
    ),
    "priority levels beyond the scheduler's bound": (
        batching,
        "max_batch_size: 4 dynamic_batching { priority_levels: 5000 }",
        "priority_levels 5000 is more than 1024",
    ),
    "duplicate input": (
        two_inputs,
        'input [{ name: "INPUT0" }, { name: "INPUT1" }, { name: "INPUT0" }]',
        "input 'INPUT0' is listed twice",
    ),
    "required input marked optional": (
        batching,
        'input [{ name: "INPUT0" optional: true }]',
        "input 'INPUT0' is marked optional but the ONNX model requires it",
    ),
    "shape tensor": (
        batching,
        'input [{ name: "INPUT0" is_shape_tensor: true }]',
        "shape tensors are not supported",
    ),
    "unsupported config datatype": (
        batching,
        'input [{ name: "INPUT0" data_type: TYPE_BF16 }]',
        "data_type TYPE_BF16 is not supported",
    ),
    "unsupported ONNX datatype": (
        lambda p: modelgen.identity(p, "BF16", [2]),
        None,
        "input 'INPUT0': the ONNX model declares BFLOAT16, which naiad cannot serve",
    ),
    "other platform": (
        batching,
        'platform: "tensorflow_savedmodel"',
        "unsupported platform 'tensorflow_savedmodel' (naiad serves 'onnxruntime_onnx' and "
        "'ensemble')",
    ),
    "other backend": (batching, 'backend: "python"', "unsupported backend 'python'"),
    "sequence control that is no ONNX input": (
        batching,
        'sequence_batching { control_input [{ name: "NOPE" control [{'
        " kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] }] }] }",
        "sequence_batching control_input 'NOPE': 'NOPE' is not an input of the ONNX model",
    ),
    "ensemble steps on an ONNX model": (
        batching,
        "ensemble_scheduling {}",
        'ensemble_scheduling needs platform: "ensemble"',
    ),
    "decoupled": (
        batching,
        "model_transaction_policy { decoupled: true }",
        "decoupled models are not supported",
    ),
    "latest 0 versions": (
        batching,
        "version_policy { latest { num_versions: 0 } }",
        "num_versions >= 1",
    ),
    "empty specific policy": (batching, "version_policy { specific {} }", "lists no versions"),
    "preferred size above max": (
        batching,
        "max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 8 ] }",
        "preferred_batch_size 8 must be between 1 and max_batch_size (4)",
    ),
    "default priority out of range": (
        batching,
        "dynamic_batching { priority_levels: 2 default_priority_level: 3 }",
        "default_priority_level 3 must be between 1 and priority_levels (2)",
    ),
    "default priority missing": (
        batching,
        "dynamic_batching { priority_levels: 2 }",
        "default_priority_level 0 must be between 1 and priority_levels (2)",
    ),
    "priority level without levels": (
        batching,
        "dynamic_batching { default_priority_level: 1 }",
        "default_priority_level is set but priority_levels is 0",
    ),
    "queue policy for a level that does not exist": (
        batching,
        "dynamic_batching { priority_levels: 2 default_priority_level: 1 "
        "priority_queue_policy { key: 5 value { max_queue_size: 1 } } }",
        "priority_queue_policy for level 5 is outside 1..priority_levels (2)",
    ),
    "queue policy without levels": (
        batching,
        "dynamic_batching { priority_queue_policy { key: 1 value { } } }",
        "priority_queue_policy is set but priority_levels is 0",
    ),
    "absurd queue timeout": (
        batching,
        "dynamic_batching { default_queue_policy { default_timeout_microseconds: "
        "18446744073709551615 } }",
        "default_timeout_microseconds is too large",
    ),
    "negative instance count": (
        batching,
        "instance_group [{ count: -1 kind: KIND_CPU }]",
        "instance_group 'm_0': count must be >= 1, not -1",
    ),
    "gpus on a CPU group": (
        batching,
        "instance_group [{ kind: KIND_CPU gpus: [ 0 ] }]",
        "lists gpus but its kind is KIND_CPU",
    ),
    "warmup batch too large": (
        batching,
        'model_warmup [{ name: "w" batch_size: 5 '
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } }]',
        "model_warmup 'w': batch_size 5 must be between 1 and 4",
    ),
    "warmup unknown input": (
        batching,
        'model_warmup [{ name: "w" batch_size: 1 '
        'inputs { key: "X" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } }]',
        "model_warmup 'w': 'X' is not an input of the model",
    ),
    "warmup without data": (
        batching,
        'model_warmup [{ name: "w" batch_size: 1 '
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] } } }]',
        "needs zero_data, random_data or input_data_file",
    ),
    "warmup wrong type": (
        batching,
        'model_warmup [{ name: "w" batch_size: 1 '
        'inputs { key: "INPUT0" value { data_type: TYPE_INT8 dims: [ 4 ] zero_data: true } } }]',
        "input 'INPUT0' has data_type TYPE_INT8, the model input is TYPE_FP32",
    ),
    "warmup with a variable dim": (
        batching,
        'model_warmup [{ name: "w" batch_size: 1 '
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ -1 ] zero_data: true } } }]',
        "model_warmup 'w': input 'INPUT0' dims must be positive",
    ),
    "warmup without a name": (
        batching,
        "model_warmup [{ batch_size: 1 "
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } }]',
        "a model_warmup entry has no name",
    ),
    "warmup dims that do not fit the reshape": (
        fixed,
        'input [{ name: "INPUT0" dims: [ 6 ] reshape { shape: [ 2, 3 ] } }] '
        'model_warmup [{ name: "w" batch_size: 1 '
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 5 ] zero_data: true } } }]',
        "model_warmup 'w': input 'INPUT0' dims [5] do not fit reshape [2, 3]",
    ),
    "warmup dims that do not fit a variable reshape": (
        variable,
        'max_batch_size: 2 input [{ name: "INPUT0" dims: [ -1 ] reshape { shape: [ 2, -1 ] } }] '
        'model_warmup [{ name: "w" batch_size: 1 '
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 5 ] zero_data: true } } }]',
        "model_warmup 'w': input 'INPUT0' dims [5] do not fit reshape [2, -1]",
    ),
    "warmup missing an input": (
        two_inputs,
        'model_warmup [{ name: "w" batch_size: 1 '
        'inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 2, 3 ] zero_data: true } } }]',
        "gives no data for input(s) INPUT1",
    ),
}


@pytest.mark.parametrize(("builder", "text", "message"), list(BAD.values()), ids=list(BAD))
def test_broken_configs_say_why(
    check: Check, builder: Callable[[Path], Path], text: str | None, message: str
) -> None:
    with pytest.raises(ModelLoadError) as info:
        check(builder, text)
    assert message in info.value.message
    assert info.value.message.startswith("model 'm': ")
    assert info.value.code is ErrorCode.INVALID_ARGUMENT


def test_optional_input_backed_by_an_initializer(check: Check, tmp_path: Path) -> None:
    def with_bias(path: Path) -> Path:
        graph = helper.make_graph(
            [helper.make_node("Add", ["X", "BIAS"], ["Y"])],
            "g",
            [
                helper.make_tensor_value_info("X", TensorProto.FLOAT, [4]),
                helper.make_tensor_value_info("BIAS", TensorProto.FLOAT, [4]),
            ],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4])],
            initializer=[numpy_helper.from_array(np.zeros(4, dtype=np.float32), "BIAS")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", modelgen.OPSET)])
        model.ir_version = modelgen.IR_VERSION
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path

    config = check(with_bias, 'input [{ name: "X" }, { name: "BIAS" optional: true }]')
    assert config.input[1].optional and list(config.input[1].dims) == [4]
    with pytest.raises(ModelLoadError, match="'BIAS' has a default value .* mark it optional"):
        check(with_bias, 'input [{ name: "X" }, { name: "BIAS" }]')

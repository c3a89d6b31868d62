"""Stateful ONNX models for the sequence batcher tests, built with `onnx`, and their configs.

- accumulator: OUTPUT = ACC_IN + INPUT * READY (the running sum, fed back through the implicit
  state ACC_IN/ACC_OUT); FLAGS = START + 2 END + 4 READY as the model saw them; ROWS = the
  batch's number of rows, so tests can see how batches were formed.
- corrid: echoes INPUT and the CORRID control it was fed (UINT64 or STRING).
"""

from __future__ import annotations

from pathlib import Path

from modelgen import _save
from onnx import TensorProto, helper


def _batched(name: str, elem: int) -> object:
    return helper.make_tensor_value_info(name, elem, ["batch", 1])


def _int64_zero() -> TensorProto:
    return helper.make_tensor("", TensorProto.INT64, [1], [0])


def accumulator(path: Path) -> Path:
    f, i32 = TensorProto.FLOAT, TensorProto.INT32
    nodes = [
        helper.make_node("Mul", ["INPUT", "READY"], ["gated"]),
        helper.make_node("Add", ["ACC_IN", "gated"], ["OUTPUT"]),
        helper.make_node("Identity", ["OUTPUT"], ["ACC_OUT"]),
        helper.make_node("Cast", ["END"], ["end_i"], to=i32),
        helper.make_node("Cast", ["READY"], ["ready_i"], to=i32),
        helper.make_node("Constant", [], ["two"], value=helper.make_tensor("", i32, [], [2])),
        helper.make_node("Constant", [], ["four"], value=helper.make_tensor("", i32, [], [4])),
        helper.make_node("Mul", ["end_i", "two"], ["end2"]),
        helper.make_node("Mul", ["ready_i", "four"], ["ready4"]),
        helper.make_node("Add", ["START", "end2"], ["se"]),
        helper.make_node("Add", ["se", "ready4"], ["FLAGS"]),
        helper.make_node("Shape", ["INPUT"], ["shape"]),
        helper.make_node("Constant", [], ["zero"], value=_int64_zero()),
        helper.make_node("Gather", ["shape", "zero"], ["rows1"], axis=0),
        helper.make_node("Expand", ["rows1", "shape"], ["ROWS"]),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "accumulator",
        [
            _batched("INPUT", f),
            _batched("START", i32),
            _batched("END", TensorProto.BOOL),
            _batched("READY", f),
            _batched("ACC_IN", f),
        ],  # fmt: skip
        [
            _batched("OUTPUT", f),
            _batched("ACC_OUT", f),
            _batched("FLAGS", i32),
            _batched("ROWS", TensorProto.INT64),
        ],  # fmt: skip
    )
    return _save(graph, path)


def corrid(path: Path, elem: int) -> Path:
    nodes = [
        helper.make_node("Identity", ["INPUT"], ["OUTPUT"]),
        helper.make_node("Identity", ["CORRID"], ["CORRID_OUT"]),
    ]
    graph = helper.make_graph(
        nodes,
        "corrid",
        [_batched("INPUT", TensorProto.FLOAT), _batched("CORRID", elem)],
        [_batched("OUTPUT", TensorProto.FLOAT), _batched("CORRID_OUT", elem)],
    )
    return _save(graph, path)


def accumulator_config(strategy: str, *, max_batch_size: int = 4, extra: str = "") -> str:
    """`strategy`: the text of the strategy field, e.g. "direct { }" or "oldest { ... }"."""
    return f"""
max_batch_size: {max_batch_size}
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
input [ {{ name: "INPUT" data_type: TYPE_FP32 dims: [ 1 ] }} ]
output [
  {{ name: "OUTPUT" data_type: TYPE_FP32 dims: [ 1 ] }},
  {{ name: "FLAGS" data_type: TYPE_INT32 dims: [ 1 ] }},
  {{ name: "ROWS" data_type: TYPE_INT64 dims: [ 1 ] }}
]
sequence_batching {{
  {strategy}
  control_input [
    {{ name: "START" control [ {{ kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] }} ] }},
    {{ name: "END" control [ {{ kind: CONTROL_SEQUENCE_END bool_false_true: [ false, true ] }} ] }},
    {{ name: "READY" control [ {{ kind: CONTROL_SEQUENCE_READY fp32_false_true: [ 0, 1 ] }} ] }}
  ]
  state [ {{
    input_name: "ACC_IN" output_name: "ACC_OUT" data_type: TYPE_FP32 dims: [ 1 ]
    initial_state: {{ data_type: TYPE_FP32 dims: [ 1 ] zero_data: true name: "zero" }}
  }} ]
  {extra}
}}
"""


def corrid_config(data_type: str) -> str:
    return f"""
max_batch_size: 4
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
sequence_batching {{
  control_input [ {{ name: "CORRID"
    control [ {{ kind: CONTROL_SEQUENCE_CORRID data_type: {data_type} }} ] }} ]
}}
"""

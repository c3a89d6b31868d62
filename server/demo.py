"""The bundled demo repository: small models naiad generates itself, ready to call."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from onnx import GraphProto, ValueInfoProto

_OPSET = 17
_IR_VERSION = 9

_SIMPLE_CONFIG = """\
name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
  { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] }
]
output [
  { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] },
  { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] }
]
dynamic_batching { max_queue_delay_microseconds: 100 }
"""

_CLASSIFIER_CONFIG = """\
name: "classifier"
max_batch_size: 64
dynamic_batching { max_queue_delay_microseconds: 200 }
instance_group [ { count: 1 kind: KIND_CPU } ]
"""


def _save(graph: GraphProto, path: Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="naiad-demo"
    )
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, os.fspath(path))


def _simple_graph() -> GraphProto:
    """INT32 [batch, 16] x2 -> sum and difference, like Triton's classic `simple` example."""
    from onnx import TensorProto, helper

    def io(name: str) -> ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.INT32, ["batch", 16])

    return helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
        ],
        "simple",
        [io("INPUT0"), io("INPUT1")],
        [io("OUTPUT0"), io("OUTPUT1")],
    )


def mlp_graph(name: str, sizes: list[int], seed: int = 0) -> GraphProto:
    """A ReLU MLP over FP32 features with a softmax head: input 'features' -> 'probabilities'."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes = []
    inits = []
    current = "features"
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        weight = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        bias = np.zeros(fan_out, dtype=np.float32)
        inits += [numpy_helper.from_array(weight, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        out = f"h{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [out]))
        current = out
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [current], [f"{out}_relu"]))
            current = f"{out}_relu"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=-1))
    return helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", sizes[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", sizes[-1]])],
        initializer=inits,
    )


def write_demo_repository(directory: str | os.PathLike[str]) -> list[Path]:
    """Writes the demo models under `directory`; returns the model directories."""
    root = Path(directory)
    _save(_simple_graph(), root / "simple" / "1" / "model.onnx")
    (root / "simple" / "config.pbtxt").write_text(_SIMPLE_CONFIG)
    _save(mlp_graph("classifier", [4, 32, 3], seed=7), root / "classifier" / "1" / "model.onnx")
    (root / "classifier" / "config.pbtxt").write_text(_CLASSIFIER_CONFIG)
    # No config at all: naiad completes it from the ONNX file (a transport-bound 64-in/10-out MLP).
    _save(mlp_graph("tiny_mlp", [64, 64, 10], seed=1), root / "tiny_mlp" / "1" / "model.onnx")
    return [root / "simple", root / "classifier", root / "tiny_mlp"]

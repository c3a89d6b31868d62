"""A model whose run time grows with its batch: keeps an instance busy on purpose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ONE_INSTANCE = "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
"""Config for tests that keep the model's only instance busy (CPU models get two by default)."""


def heavy(path: Path, width: int = 512, depth: int = 40) -> Path:
    """FP32 [batch, width] -> `depth` chained MatMul+Tanh with one shared weight matrix."""
    weight = (np.eye(width) * 0.5).astype(np.float32)
    nodes = []
    current = "INPUT0"
    for i in range(depth):
        nodes.append(helper.make_node("MatMul", [current, "w"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"t{i}"]))
        current = f"t{i}"
    nodes.append(helper.make_node("Identity", [current], ["OUTPUT0"]))
    graph = helper.make_graph(
        nodes,
        "heavy",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["batch", width])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path

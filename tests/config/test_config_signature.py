"""The ONNX signature: inputs that are not initializers, outputs, datatypes, dims as -1."""

from __future__ import annotations

from pathlib import Path

import modelgen
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from naiad.config.signature import read_signature
from naiad.datatypes import BY_WIRE
from naiad.errors import ModelLoadError


@pytest.mark.parametrize("wire", modelgen.ALL_DATATYPES)
def test_every_datatype_maps_to_the_table(tmp_path: Path, wire: str) -> None:
    path = modelgen.identity(tmp_path / "m.onnx", wire, [3, -1])
    signature = read_signature(path, model="m")
    (tensor,) = signature.inputs
    assert tensor.name == "INPUT0"
    assert tensor.datatype is BY_WIRE[wire]
    assert tensor.type_name == wire
    assert tensor.shape == (-1, 3, -1)
    assert signature.outputs[0].datatype is BY_WIRE[wire]
    assert signature.can_batch


def test_fixed_shapes_do_not_batch(tmp_path: Path) -> None:
    signature = read_signature(
        modelgen.add_sub(tmp_path / "m.onnx", "INT32", [4], batching=False), model="m"
    )
    assert [t.name for t in signature.inputs] == ["INPUT0", "INPUT1"]
    assert [t.shape for t in signature.outputs] == [(4,), (4,)]
    assert not signature.can_batch


def test_bf16_is_reported_unsupported(tmp_path: Path) -> None:
    signature = read_signature(modelgen.identity(tmp_path / "m.onnx", "BF16", [2]), model="m")
    assert signature.inputs[0].datatype is None
    assert signature.inputs[0].type_name == "BFLOAT16"


def test_initializers_are_optional_inputs_not_required_ones(tmp_path: Path) -> None:
    bias = numpy_helper.from_array(np.zeros(4, dtype=np.float32), "BIAS")
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "BIAS"], ["Y"])],
        "g",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("BIAS", TensorProto.FLOAT, [4]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["n", 4])],
        initializer=[bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", modelgen.OPSET)])
    model.ir_version = modelgen.IR_VERSION
    onnx.save(model, str(tmp_path / "m.onnx"))
    signature = read_signature(tmp_path / "m.onnx", model="m")
    assert [t.name for t in signature.inputs] == ["X"]
    assert [t.name for t in signature.optional_inputs] == ["BIAS"]
    assert signature.any_input("BIAS") is not None and signature.input("BIAS") is None


def test_unknown_rank_is_none(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", modelgen.OPSET)])
    model.ir_version = modelgen.IR_VERSION
    onnx.save(model, str(tmp_path / "m.onnx"))
    signature = read_signature(tmp_path / "m.onnx", model="m")
    assert signature.inputs[0].shape is None
    assert not signature.can_batch


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model 'm': model file .* not found"):
        read_signature(tmp_path / "nope.onnx", model="m")


def test_garbage_file(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"this is not a protobuf \xff\xff\xff")
    with pytest.raises(ModelLoadError, match="model 'm': cannot read ONNX model"):
        read_signature(tmp_path / "m.onnx", model="m")

"""Tiny ONNX models built at test time, and a helper that lays them out as a model repository.

Every builder writes one `.onnx` file and returns its path. Dims never include the batch
dimension; with `batching=True` a symbolic leading dimension named "batch" is added. A -1 in
`dims` becomes a symbolic dimension. Models use opset 17 and IR version 9 so that every
onnxruntime from 1.15 on accepts them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9

# Wire datatype name (v2 protocol) -> ONNX element type. BF16 is here so tests can build
# models naiad must reject.
ONNX_TYPES: dict[str, int] = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
    "BF16": TensorProto.BFLOAT16,
}

ALL_DATATYPES: tuple[str, ...] = tuple(t for t in ONNX_TYPES if t != "BF16")
"""Every datatype naiad serves, as wire names."""

Builder = Callable[[Path], Path]
"""Writes one model file at the given path and returns it."""

PathLike = str | os.PathLike[str]


def _shape(dims: Sequence[int], batching: bool) -> list[int | str]:
    shape: list[int | str] = ["batch"] if batching else []
    for i, d in enumerate(dims):
        shape.append(f"d{i}" if d < 0 else int(d))
    return shape


def _save(graph: onnx.GraphProto, path: PathLike) -> Path:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="naiad-tests"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def identity(
    path: PathLike,
    datatype_wire: str,
    dims: Sequence[int],
    batching: bool = True,
    names: tuple[str, str] = ("INPUT0", "OUTPUT0"),
) -> Path:
    """One input copied to one output; works for every datatype including BYTES."""
    elem = ONNX_TYPES[datatype_wire]
    shape = _shape(dims, batching)
    graph = helper.make_graph(
        [helper.make_node("Identity", [names[0]], [names[1]])],
        "identity",
        [helper.make_tensor_value_info(names[0], elem, shape)],
        [helper.make_tensor_value_info(names[1], elem, shape)],
    )
    return _save(graph, path)


def add_sub(path: PathLike, datatype: str, dims: Sequence[int], batching: bool = True) -> Path:
    """INPUT0, INPUT1 -> OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1 (numeric types)."""
    if datatype in ("BYTES", "BOOL"):
        raise ValueError(f"add_sub needs a numeric datatype, not {datatype}")
    elem = ONNX_TYPES[datatype]
    shape = _shape(dims, batching)
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
        ],
        "add_sub",
        [helper.make_tensor_value_info(n, elem, shape) for n in ("INPUT0", "INPUT1")],
        [helper.make_tensor_value_info(n, elem, shape) for n in ("OUTPUT0", "OUTPUT1")],
    )
    return _save(graph, path)


def offset(path: PathLike, value: float, dims: Sequence[int] = (1,), batching: bool = True) -> Path:
    """FP32 INPUT0 -> OUTPUT0 = INPUT0 + `value`: versions that differ only in `value` give
    answers that tell which one ran."""
    shape = _shape(dims, batching)
    constant = numpy_helper.from_array(np.array(value, np.float32), "OFFSET")
    graph = helper.make_graph(
        [helper.make_node("Add", ["INPUT0", "OFFSET"], ["OUTPUT0"])],
        "offset",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, shape)],
        initializer=[constant],
    )
    return _save(graph, path)


def _mlp_weights(num_in: int, hidden: int, num_out: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.standard_normal((num_in, hidden)) / np.sqrt(num_in),
        "b1": rng.standard_normal(hidden) * 0.1,
        "w2": rng.standard_normal((hidden, num_out)) / np.sqrt(hidden),
        "b2": rng.standard_normal(num_out) * 0.1,
    }
    return {k: v.astype(np.float32) for k, v in weights.items()}


def mlp(
    path: PathLike,
    num_in: int,
    hidden: int,
    num_out: int,
    batching: bool = True,
    seed: int = 0,
    names: tuple[str, str] = ("INPUT0", "OUTPUT0"),
) -> Path:
    """A classifier: FP32 [num_in] -> MatMul+Add+Relu -> MatMul+Add -> Softmax [num_out].

    Weights come from `seed`, so two calls with the same arguments give the same model.
    """
    weights = _mlp_weights(num_in, hidden, num_out, seed)
    nodes = [
        helper.make_node("MatMul", [names[0], "w1"], ["h_mm"]),
        helper.make_node("Add", ["h_mm", "b1"], ["h_pre"]),
        helper.make_node("Relu", ["h_pre"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["logits_mm"]),
        helper.make_node("Add", ["logits_mm", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [names[1]], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, _shape([num_in], batching))],
        [helper.make_tensor_value_info(names[1], TensorProto.FLOAT, _shape([num_out], batching))],
        initializer=[numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    return _save(graph, path)


def mlp_reference(
    x: np.ndarray, num_in: int, hidden: int, num_out: int, seed: int = 0
) -> np.ndarray:
    """What `mlp(...)` built with the same arguments computes, in NumPy (for checking results)."""
    w = _mlp_weights(num_in, hidden, num_out, seed)
    h = np.maximum(x.astype(np.float32) @ w["w1"] + w["b1"], 0)
    logits = h @ w["w2"] + w["b2"]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def write_repository(
    root: PathLike,
    models: Mapping[str, Mapping[int, Builder]],
    configs: Mapping[str, str] | None = None,
) -> Path:
    """Lays out `<root>/<model>/<version>/model.onnx` (and `<root>/<model>/config.pbtxt`).

    `models` maps a model name to {version: builder}; a builder takes the target path, e.g.
    `lambda p: identity(p, "FP32", [4])`. A name in `configs` but not in `models` gets only
    its directory and config. Returns the root.
    """
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    for name, versions in models.items():
        for version, build in versions.items():
            build(base / name / str(version) / "model.onnx")
    for name, text in (configs or {}).items():
        (base / name).mkdir(parents=True, exist_ok=True)
        (base / name / "config.pbtxt").write_text(text)
    return base

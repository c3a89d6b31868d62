"""Pre- and post-processing steps as small ONNX models, built with `onnx.helper`.

What a FastAPI `/predict` does around the model in Python — scale the features, threshold a
score, keep the top k classes and name them — written as ONNX graphs, so they run in the
server as ensemble steps, batched like any model. Each builder returns an `onnx.ModelProto`;
save it as `<repo>/<name>/1/model.onnx` and list it as a step (README, "Pipelines").

- normaliser: Sub and Div by constants (a StandardScaler's mean_ and scale_).
- threshold: Greater and Where (a score above a cut-off becomes 1, else 0).
- top_k: TopK, then the ai.onnx.ml LabelEncoder turns class indices into label strings.

Tokenizers and other string ops come from onnxruntime-extensions' custom operators; a model
using them sets the config parameter `onnxruntime_extensions: "true"`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ML_OPSET = 3
IR_VERSION = 9
"""ONNX Runtime 1.15 and later accept these."""


def normaliser(
    mean: Sequence[float],
    scale: Sequence[float],
    *,
    input_name: str = "RAW",
    output_name: str = "NORMALISED",
) -> onnx.ModelProto:
    """FP32 [batch, n] -> (x - mean) / scale, per column."""
    width = len(mean)
    if len(scale) != width or width == 0:
        raise ValueError("mean and scale need the same, non-zero length")
    if any(s == 0 for s in scale):
        raise ValueError("a scale of 0 would divide by zero")
    nodes = [
        helper.make_node("Sub", [input_name, "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], [output_name]),
    ]
    constants = [
        numpy_helper.from_array(np.asarray(mean, np.float32), "mean"),
        numpy_helper.from_array(np.asarray(scale, np.float32), "scale"),
    ]
    graph = helper.make_graph(
        nodes,
        "normaliser",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", width])],
        initializer=constants,
    )
    return _model(graph)


def threshold(
    cut: float, *, width: int = 1, input_name: str = "SCORE", output_name: str = "LABEL"
) -> onnx.ModelProto:
    """FP32 [batch, width] -> INT64 [batch, width]: 1 where the score is above `cut`, else 0."""
    nodes = [
        helper.make_node("Greater", [input_name, "cut"], ["above"]),
        helper.make_node("Where", ["above", "one", "zero"], [output_name]),
    ]
    constants = [
        numpy_helper.from_array(np.array(cut, np.float32), "cut"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
    ]
    graph = helper.make_graph(
        nodes,
        "threshold",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.INT64, ["batch", width])],
        initializer=constants,
    )
    return _model(graph)


def top_k(
    k: int,
    labels: Sequence[str],
    *,
    input_name: str = "SCORES",
    scores_name: str = "TOP_SCORES",
    labels_name: str = "TOP_LABELS",
) -> onnx.ModelProto:
    """FP32 [batch, len(labels)] -> the k best scores (FP32 [batch, k]) and their labels
    (STRING [batch, k]), best first."""
    classes = len(labels)
    if not 1 <= k <= classes:
        raise ValueError(f"k must be within 1..{classes} (the number of labels)")
    nodes = [
        helper.make_node("TopK", [input_name, "k"], [scores_name, "indices"], axis=-1),
        helper.make_node(
            "LabelEncoder",
            ["indices"],
            [labels_name],
            domain="ai.onnx.ml",
            keys_int64s=list(range(classes)),
            values_strings=list(labels),
            default_string="",
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "top_k",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", classes])],
        [
            helper.make_tensor_value_info(scores_name, TensorProto.FLOAT, ["batch", k]),
            helper.make_tensor_value_info(labels_name, TensorProto.STRING, ["batch", k]),
        ],
        initializer=[numpy_helper.from_array(np.array([k], np.int64), "k")],
    )
    return _model(graph, ml=True)


def _model(graph: onnx.GraphProto, *, ml: bool = False) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", OPSET)]
    if ml:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="naiad")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model

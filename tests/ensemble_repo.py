"""A Triton-format ensemble repository, written as Triton users write them, and its reference.

pipeline = normalise (Sub/Div) -> classifier (a 4-in, 3-class MLP) -> top2 (TopK + LabelEncoder),
with the classifier's probabilities also an ensemble output carrying a label file, so a
request can ask Triton's classification extension for them. `reference` computes by hand,
in NumPy, what the ensemble answers.
"""

from __future__ import annotations

from pathlib import Path

import modelgen
import numpy as np
import onnx

from naiad.ensemble import processing

MEAN = (5.8, 3.0, 3.7, 1.2)
SCALE = (0.8, 0.4, 1.7, 0.7)
LABELS = ("setosa", "versicolor", "virginica")
HIDDEN = 16

NORMALISE = """
name: "normalise"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "RAW" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "NORMALISED" data_type: TYPE_FP32 dims: [ 4 ] } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
"""

CLASSIFIER = """
name: "classifier"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "features" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "probabilities" data_type: TYPE_FP32 dims: [ 3 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
dynamic_batching { }
"""

TOP2 = """
name: "top2"
backend: "onnxruntime"
max_batch_size: 8
input [ { name: "SCORES" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [
  { name: "TOP_SCORES" data_type: TYPE_FP32 dims: [ 2 ] },
  { name: "TOP_LABELS" data_type: TYPE_STRING dims: [ 2 ] }
]
"""

PIPELINE = """
name: "pipeline"
platform: "ensemble"
max_batch_size: 8
input [
  {
    name: "RAW_FEATURES"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }
]
output [
  {
    name: "PROBABILITIES"
    data_type: TYPE_FP32
    dims: [ 3 ]
    label_filename: "labels.txt"
  },
  {
    name: "BEST_SCORES"
    data_type: TYPE_FP32
    dims: [ 2 ]
  },
  {
    name: "BEST_LABELS"
    data_type: TYPE_STRING
    dims: [ 2 ]
  }
]
ensemble_scheduling {
  step [
    {
      model_name: "normalise"
      model_version: -1
      input_map {
        key: "RAW"
        value: "RAW_FEATURES"
      }
      output_map {
        key: "NORMALISED"
        value: "normalised_features"
      }
    },
    {
      model_name: "classifier"
      model_version: 1
      input_map {
        key: "features"
        value: "normalised_features"
      }
      output_map {
        key: "probabilities"
        value: "PROBABILITIES"
      }
    },
    {
      model_name: "top2"
      model_version: -1
      input_map {
        key: "SCORES"
        value: "PROBABILITIES"
      }
      output_map [
        {
          key: "TOP_SCORES"
          value: "BEST_SCORES"
        },
        {
          key: "TOP_LABELS"
          value: "BEST_LABELS"
        }
      ]
    }
  ]
}
"""


def _write(model: onnx.ModelProto) -> modelgen.Builder:
    def build(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path

    return build


def write(root: Path, extra_configs: dict[str, str] | None = None) -> Path:
    """The repository under `root`: the three members and `pipeline` (plus `extra_configs`,
    ensembles whose version directory 1/ is created empty, as Triton wants)."""
    configs = {
        "normalise": NORMALISE,
        "classifier": CLASSIFIER,
        "top2": TOP2,
        "pipeline": PIPELINE,
        **(extra_configs or {}),
    }
    modelgen.write_repository(
        root,
        {
            "normalise": {1: _write(processing.normaliser(MEAN, SCALE))},
            "classifier": {
                1: lambda p: modelgen.mlp(p, 4, HIDDEN, 3, names=("features", "probabilities"))
            },
            "top2": {1: _write(processing.top_k(2, LABELS))},
        },
        configs,
    )
    for name in configs:
        if not (root / name / "1").exists():
            (root / name / "1").mkdir(parents=True)
    (root / "pipeline" / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return root


def reference(raw: np.ndarray) -> dict[str, np.ndarray]:
    """What `pipeline` answers for `raw` (FP32 [batch, 4]), computed by hand."""
    normalised = (raw - np.asarray(MEAN, np.float32)) / np.asarray(SCALE, np.float32)
    probabilities = modelgen.mlp_reference(normalised, 4, HIDDEN, 3)
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :2]
    best = np.take_along_axis(probabilities, order, axis=1)
    labels = np.array([[LABELS[i].encode() for i in row] for row in order], dtype=np.object_)
    return {"PROBABILITIES": probabilities, "BEST_SCORES": best, "BEST_LABELS": labels}

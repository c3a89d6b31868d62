"""The model every stream test serves: a small batching MLP, its inputs, and what in-process
ONNX Runtime answers for them."""

from __future__ import annotations

from pathlib import Path

import modelgen
import numpy as np

NUM_IN, HIDDEN, NUM_OUT = 8, 16, 3
MODEL = "scorer"
CONFIG = f"""
name: "{MODEL}"
max_batch_size: 16
dynamic_batching {{ max_queue_delay_microseconds: 1000 }}
instance_group [{{ count: 1, kind: KIND_CPU }}]
"""
LONG_DELAY_CONFIG = (
    CONFIG.replace("max_queue_delay_microseconds: 1000", "max_queue_delay_microseconds: 100000")
    + 'parameters { key: "queue_delay_mode" value { string_value: "fixed" } }\n'
)
"""Requests wait the whole 100 ms for a full batch (a fixed delay: the adaptive one would close
batches soon after a burst): a stream always holds read, unanswered work."""
SMALL_QUEUE = 4
SMALL_QUEUE_CONFIG = CONFIG.replace(
    "max_queue_delay_microseconds: 1000",
    f"max_queue_delay_microseconds: 1000 default_queue_policy {{ max_queue_size: {SMALL_QUEUE} }}",
)


def write_model_repository(root: Path, config: str = CONFIG) -> Path:
    builder = {1: lambda p: modelgen.mlp(p, NUM_IN, HIDDEN, NUM_OUT)}
    return modelgen.write_repository(root, {MODEL: builder}, {MODEL: config})


def features(i: int) -> np.ndarray:
    """Message i's input row."""
    return np.random.default_rng(i).standard_normal(NUM_IN).astype(np.float32)


def onnxruntime_answer(repository: Path, rows: np.ndarray) -> np.ndarray:
    """What in-process ONNX Runtime computes for `rows`, one run per row."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(repository / MODEL / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return np.concatenate([session.run(None, {"INPUT0": row[None]})[0] for row in rows])

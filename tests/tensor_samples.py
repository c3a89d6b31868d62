"""One sample array per fixed-size datatype, with each type's extremes, for codec tests on
both sides of the wire."""

from __future__ import annotations

import numpy as np

FIXED_SIZE: dict[str, np.ndarray] = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([0, 1, 255], dtype=np.uint8),
    "UINT16": np.array([0, 65535], dtype=np.uint16),
    "UINT32": np.array([0, 2**32 - 1], dtype=np.uint32),
    "UINT64": np.array([0, 2**64 - 1], dtype=np.uint64),
    "INT8": np.array([-128, 127], dtype=np.int8),
    "INT16": np.array([-(2**15), 2**15 - 1], dtype=np.int16),
    "INT32": np.arange(-6, 6, dtype=np.int32).reshape(3, 4),
    "INT64": np.array([-(2**63), 2**63 - 1], dtype=np.int64),
    "FP16": np.array([0.5, -1.25, 65504], dtype=np.float16),
    "FP32": np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4),
    "FP64": np.array([np.pi, -np.e], dtype=np.float64),
}

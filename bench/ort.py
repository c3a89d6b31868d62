"""The one bench module that imports onnxruntime: sessions for the in-process and naive targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort


def open_session(onnx_path: str) -> ort.InferenceSession:
    """A CPU session with ONNX Runtime's default thread settings (all cores intra-op)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # provider chatter would drown the one summary line per run
    return ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])


class InprocessRunner:
    """Runs one fixed feed back to back: the compute limit the servers are measured against."""

    def __init__(self, onnx_path: str) -> None:
        self.session = open_session(onnx_path)

    def __call__(self, feed: dict[str, np.ndarray]) -> Any:
        return self.session.run(None, feed)

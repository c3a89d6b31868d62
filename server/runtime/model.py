"""The small interface the engine runs models through; tests swap in fakes."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Model(Protocol):
    """One loaded instance of a model version (for ONNX: one InferenceSession)."""

    @property
    def description(self) -> str:
        """Where and how it runs, e.g. 'CPUExecutionProvider, 2 intra-op threads'."""
        ...

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        """Runs one batch; returns outputs in `output_names` order. Releases the GIL inside."""
        ...

    def close(self) -> None:
        """Releases the session's memory. The instance is not used afterwards."""
        ...

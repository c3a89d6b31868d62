"""How configuration problems are reported: one ModelLoadError format for every check."""

from __future__ import annotations

from collections.abc import Sequence

from naiad.errors import ModelLoadError


def config_error(model: str, problem: str) -> ModelLoadError:
    """ModelLoadError("model '<model>': <problem>"), for the caller to raise."""
    return ModelLoadError(f"model '{model}': {problem}")


def show(dims: Sequence[int]) -> str:
    """Dims as messages print them: [-1, 3]."""
    return "[" + ", ".join(str(d) for d in dims) + "]"

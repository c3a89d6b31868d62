"""Size caps every front end applies while decoding a request, before allocating for it.

The message-size cap (`--max-message-bytes`) bounds what arrives; these bound what a request's
shapes may ask the server to build from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TensorLimits:
    """Caps on one input tensor; a request over one is refused with TooLarge."""

    max_elements: int = 2**28
    """Elements in one tensor (2**28 FP32 elements are 1 GiB)."""
    max_element_bytes: int = 64 * 2**20
    """Bytes in one element of a BYTES tensor."""

    def __post_init__(self) -> None:
        if self.max_elements < 1 or self.max_element_bytes < 1:
            raise ValueError("tensor limits must be positive")


DEFAULT_LIMITS = TensorLimits()

"""How far a candidate's answer is from the stable version's, for one shadowed request.

Pure functions over InferResponses: no clock, no state, so tests feed them arrays they chose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from naiad.engine.request import InferOutput, InferResponse


@dataclass(frozen=True, slots=True)
class Divergence:
    """One request's difference between the two versions, over every output they share."""

    max_abs: float
    """The largest absolute difference of any element; inf when shapes or names differ."""
    mean_abs: float
    """The mean absolute difference over every compared element; inf as max_abs."""
    argmax_disagreement: float
    """The share (0..1) of output rows whose argmax over the last axis differs."""

    def metric(self, name: str) -> float:
        """The value of one of plan.DIVERGENCE_METRICS."""
        if name == "argmax":
            return self.argmax_disagreement
        return self.max_abs if name == "max_abs" else self.mean_abs


MISMATCH = Divergence(math.inf, math.inf, 1.0)
"""Answers that cannot be compared element by element (other outputs, shapes or types)."""


def compare(stable: InferResponse, candidate: InferResponse) -> Divergence:
    """The divergence of `candidate` from `stable`. Non-numeric outputs (BYTES, BOOL) count
    as equal or fully different, element by element."""
    theirs = {output.name: output for output in candidate.outputs}
    if len(theirs) != len(stable.outputs):
        return MISMATCH
    max_abs = 0.0
    total_abs = 0.0
    num_elements = 0
    num_rows = 0
    num_disagreeing = 0
    for ours in stable.outputs:
        other = theirs.get(ours.name)
        if other is None or other.data.shape != ours.data.shape:
            return MISMATCH
        diff = _abs_difference(ours, other)
        if diff is None:
            return MISMATCH
        if diff.size:
            max_abs = max(max_abs, float(diff.max()))
            total_abs += float(diff.sum(dtype=np.float64))
            num_elements += diff.size
        rows, disagreeing = _argmax_rows(ours.data, other.data)
        num_rows += rows
        num_disagreeing += disagreeing
    mean_abs = total_abs / num_elements if num_elements else 0.0
    share = num_disagreeing / num_rows if num_rows else 0.0
    return Divergence(max_abs, mean_abs, share)


_SUM = np.add.reduce
"""The ufunc itself: ndarray.sum's Python wrapper costs more than the sum of a small answer."""


def non_finite(response: InferResponse) -> bool:
    """Whether any floating-point output holds NaN or infinity."""
    for output in response.outputs:
        data = output.data
        if data.dtype.kind != "f":
            continue
        if data.dtype.itemsize < 8:
            # One reduction answers for the whole tensor: NaN and infinity survive a sum, and
            # summed in float64 no float32 or float16 values overflow into one.
            if not math.isfinite(_SUM(data, axis=None, dtype=np.float64)):
                return True
        elif not np.isfinite(data).all():
            return True
    return False


def _abs_difference(ours: InferOutput, other: InferOutput) -> np.ndarray | None:
    a, b = ours.data, other.data
    if a.dtype.kind in "fiu" and b.dtype.kind in "fiu":
        diff: np.ndarray = np.abs(a.astype(np.float64) - b.astype(np.float64))
        # NaN on either side is as far apart as can be, not "no difference".
        return np.where(np.isnan(diff), np.inf, diff)
    if a.dtype.kind == b.dtype.kind:
        return (a != b).astype(np.float64)
    return None


def _argmax_rows(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    # Only numeric outputs with a class axis (>= 2 values) carry a meaningful argmax.
    if a.ndim == 0 or a.shape[-1] < 2 or a.dtype.kind not in "fiu" or b.dtype.kind not in "fiu":
        return 0, 0
    ours = np.argmax(a.reshape(-1, a.shape[-1]), axis=-1)
    theirs = np.argmax(b.reshape(-1, b.shape[-1]), axis=-1)
    return int(ours.size), int(np.count_nonzero(ours != theirs))

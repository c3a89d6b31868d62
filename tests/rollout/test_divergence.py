"""Shadow comparison and the NaN gate's check, on answers with known values."""

from __future__ import annotations

import numpy as np
import pytest

from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferOutput, InferResponse
from naiad.rollout.divergence import compare, non_finite


def answer(*arrays: np.ndarray) -> InferResponse:
    outputs = [
        InferOutput(f"OUTPUT{i}", BY_WIRE["FP32" if a.dtype.kind == "f" else "INT64"], a)
        for i, a in enumerate(arrays)
    ]
    return InferResponse("m", "2", "", outputs)


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ((np.ones((4, 3), np.float32),), False),
        ((np.array([[1.0, np.nan]], np.float32),), True),
        ((np.ones(2, np.float32), np.array([-np.inf], np.float32)), True),
        # finite values whose sum overflows float32: still a finite answer
        ((np.array([3e38, 3e38], np.float32),), False),
        ((np.array([1, 2], np.int64),), False),
        ((np.array([1e308, 1e308], np.float64),), False),
        ((np.array([1.0, np.nan], np.float64),), True),
    ],
)
def test_non_finite_finds_nan_and_infinity_only(arrays, expected) -> None:  # type: ignore[no-untyped-def]
    assert non_finite(answer(*arrays)) is expected


def test_a_known_difference_is_measured() -> None:
    stable = answer(np.array([[1.0, 0.0], [0.2, 0.0]], np.float32))
    candidate = answer(np.array([[1.0, 0.5], [0.2, 0.5]], np.float32))
    divergence = compare(stable, candidate)
    assert divergence.max_abs == pytest.approx(0.5)
    assert divergence.mean_abs == pytest.approx(0.25)
    assert divergence.argmax_disagreement == pytest.approx(0.5)

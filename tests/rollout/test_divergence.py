"""Shadow comparison and the NaN gate's check, on answers with known values."""

from __future__ import annotations

import numpy as np
import pytest

from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferOutput, InferResponse
from naiad.rollout.comparison import compare_many
from naiad.rollout.divergence import compare, non_finite


def answer(*arrays: np.ndarray) -> InferResponse:
    outputs = [
        InferOutput(
            f"OUTPUT{i}", BY_WIRE[{"f": "FP32", "O": "BYTES"}.get(a.dtype.kind, "INT64")], a
        )
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


def test_pairs_compared_together_get_what_each_gets_alone() -> None:
    rng = np.random.default_rng(7)
    pairs = []
    for number in range(40):
        stable = rng.normal(size=(2, 4)).astype(np.float32)
        candidate = stable + rng.normal(scale=0.1, size=(2, 4)).astype(np.float32)
        if number % 7 == 3:
            candidate[0, 1] = np.nan  # NaN is as far apart as can be
        second = rng.integers(0, 5, size=(2, 3))
        pairs.append((answer(stable, second), answer(candidate, second + number % 2)))
    # other layouts in between: shapes, output counts and types that do not stack
    pairs.insert(5, (answer(np.ones((3, 4), np.float32)), answer(np.zeros((3, 4), np.float32))))
    pairs.insert(9, (answer(np.ones((1, 2), np.float32)), answer(np.ones((1, 3), np.float32))))
    texts = np.array([[b"a", b"b"]], dtype=object)
    pairs.insert(12, (answer(texts), answer(np.array([[b"a", b"c"]], dtype=object))))
    pairs.insert(20, (answer(np.ones(3, np.float32)), answer(np.ones(3, np.float32), texts)))
    together = compare_many(pairs)
    alone = [compare(stable, candidate) for stable, candidate in pairs]
    assert len(together) == len(alone) == 44
    for ours, expected in zip(together, alone, strict=True):
        assert ours.max_abs == pytest.approx(expected.max_abs)
        assert ours.mean_abs == pytest.approx(expected.mean_abs)
        assert ours.argmax_disagreement == pytest.approx(expected.argmax_disagreement)
    assert any(d.max_abs == np.inf for d in together[:8])
    assert {d.argmax_disagreement for d in together} > {0.0}

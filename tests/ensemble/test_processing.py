"""The pre/post-processing builders run in ONNX Runtime as their NumPy equivalents; the
classification extension's answer format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from naiad.datatypes import BY_WIRE
from naiad.engine.classification import classify
from naiad.engine.request import InferOutput
from naiad.ensemble import processing
from naiad.runtime.onnx import run_on_cpu


def run(model: onnx.ModelProto, tmp_path: Path, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return run_on_cpu(str(path), inputs)


def test_normaliser_threshold_and_top_k_compute_what_numpy_does(tmp_path: Path) -> None:
    x = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)
    got = run(processing.normaliser([1.0, 2.0], [2.0, 4.0]), tmp_path, RAW=x)["NORMALISED"]
    np.testing.assert_allclose(got, (x - [1.0, 2.0]) / [2.0, 4.0])

    scores = np.array([[0.2], [0.7], [0.5]], np.float32)
    got = run(processing.threshold(0.5), tmp_path, SCORE=scores)["LABEL"]
    assert got.tolist() == [[0], [1], [0]]

    probabilities = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]], np.float32)
    answer = run(processing.top_k(2, ["a", "b", "c"]), tmp_path, SCORES=probabilities)
    np.testing.assert_allclose(answer["TOP_SCORES"], [[0.6, 0.3], [0.5, 0.3]])
    assert answer["TOP_LABELS"].tolist() == [["b", "c"], ["a", "c"]]


def test_builders_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="divide by zero"):
        processing.normaliser([0.0], [0.0])
    with pytest.raises(ValueError, match="same, non-zero length"):
        processing.normaliser([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="within 1..2"):
        processing.top_k(3, ["a", "b"])


def test_classification_strings_follow_triton_ties_first_index_and_labels() -> None:
    scores = InferOutput("p", BY_WIRE["FP32"], np.array([[0.25, 0.5, 0.25]], np.float32))
    answer = classify(scores, 3, ("x", "y"), batches=True)
    assert answer.datatype.wire == "BYTES"
    # Index 2 has no label line: it is answered without one.
    assert answer.data.tolist() == [[b"0.500000:1:y", b"0.250000:0:x", b"0.250000:2"]]
    flat = InferOutput("p", BY_WIRE["INT32"], np.array([3, 9, 1], np.int32))
    assert classify(flat, 5, (), batches=False).data.tolist() == [
        b"9.000000:1", b"3.000000:0", b"1.000000:2",
    ]  # fmt: skip

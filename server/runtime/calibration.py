"""Calibration feeds for static quantization: from NumPy files, or generated from the signature."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from naiad import datatypes

MAX_ROWS_PER_FEED = 16
"""Rows per calibration batch when the model's first dimension is variable."""


@dataclass(frozen=True)
class InputSignature:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    """-1 marks a variable (symbolic or unknown) dimension."""


def input_signature(model_path: str | Path) -> list[InputSignature]:
    """The graph inputs that are not initializers, read without loading external data."""
    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    signature = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        if tensor.elem_type not in datatypes.BY_ONNX:
            raise ValueError(f"input '{value.name}' has an element type naiad cannot feed")
        shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        signature.append(
            InputSignature(value.name, datatypes.BY_ONNX[tensor.elem_type].numpy, shape)
        )
    return signature


def load_arrays(path: str | Path, signature: list[InputSignature]) -> dict[str, np.ndarray]:
    """Arrays by input name from .npz (one array per input name) or .npy (the single input),
    cast to the input's type when only the width differs (float64 -> float32)."""
    path = Path(path)
    if path.suffix == ".npy":
        if len(signature) != 1:
            names = ", ".join(s.name for s in signature)
            raise ValueError(f"{path}: a .npy file feeds one input; the model has {names}")
        return {signature[0].name: _cast(signature[0], np.load(path, allow_pickle=False))}
    if path.suffix != ".npz":
        raise ValueError(f"{path}: expected a .npy or .npz file")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    missing = [s.name for s in signature if s.name not in arrays]
    if missing:
        raise ValueError(f"{path} has no array for input(s) {', '.join(missing)}")
    return {s.name: _cast(s, arrays[s.name]) for s in signature}


def calibration_feeds(
    signature: list[InputSignature],
    arrays: Mapping[str, np.ndarray] | None,
    num_samples: int,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Session feeds for the calibrator.

    With `arrays`: the first `num_samples` rows, either as a stack of complete inputs (one more
    dimension than the input has) or as rows of a batch, cut into batches the model accepts.
    Without: `num_samples` random feeds with every variable dimension set to 1; floats standard
    normal, integers in [0, 8), which is only a stand-in for real data.
    """
    if arrays is None:
        rng = np.random.default_rng(seed)
        return [{s.name: _random(s, rng) for s in signature} for _ in range(num_samples)]
    per_input = {s.name: _split(s, arrays[s.name][:num_samples]) for s in signature}
    counts = {name: len(feeds) for name, feeds in per_input.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"calibration inputs give different numbers of batches: {counts}")
    (count,) = set(counts.values())
    return [{name: feeds[i] for name, feeds in per_input.items()} for i in range(count)]


def _random(spec: InputSignature, rng: np.random.Generator) -> np.ndarray:
    shape = tuple(1 if d < 0 else d for d in spec.shape)
    if spec.dtype.kind == "f":
        return rng.standard_normal(shape).astype(spec.dtype)
    if spec.dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(spec.dtype)
    if spec.dtype.kind in "iu":
        return rng.integers(0, 8, size=shape).astype(spec.dtype)
    raise ValueError(f"cannot generate calibration data for input '{spec.name}' ({spec.dtype})")


def _split(spec: InputSignature, array: np.ndarray) -> list[np.ndarray]:
    rank = len(spec.shape)
    if array.ndim == rank + 1:
        feeds = list(array)
    elif array.ndim == rank and rank > 0:
        rows = spec.shape[0] if spec.shape[0] > 0 else MAX_ROWS_PER_FEED
        feeds = [array[i : i + rows] for i in range(0, len(array), rows)]
        if spec.shape[0] > 0:
            feeds = [f for f in feeds if len(f) == rows]
    else:
        raise ValueError(
            f"calibration array for '{spec.name}' has shape {array.shape}; the input has "
            f"{rank} dimension(s) {list(spec.shape)}"
        )
    if not feeds:
        raise ValueError(f"calibration array for '{spec.name}' holds no complete batch")
    for feed in feeds:
        if any(d > 0 and d != n for d, n in zip(spec.shape, feed.shape, strict=True)):
            raise ValueError(
                f"calibration batch for '{spec.name}' has shape {list(feed.shape)}; the input "
                f"has {list(spec.shape)}"
            )
    return feeds


def _cast(spec: InputSignature, array: np.ndarray) -> np.ndarray:
    if array.dtype == spec.dtype:
        return array
    if array.dtype.kind == spec.dtype.kind == "f" or (
        array.dtype.kind in "iu" and spec.dtype.kind in "iu"
    ):
        return array.astype(spec.dtype)
    raise ValueError(f"calibration array for '{spec.name}' is {array.dtype}, input is {spec.dtype}")

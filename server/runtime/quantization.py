"""INT8 quantization with ONNX Runtime's tools: dynamic (MatMul/Gemm weights) and static QDQ."""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx

from naiad.runtime.onnx import quantization_api

WEIGHT_TYPES = ("int8", "uint8")
DYNAMIC_OP_TYPES = ("MatMul", "Gemm")
STATIC_OP_TYPES = ("Conv", "MatMul", "Gemm")
"""Ops that carry weights. Quantizing every op ONNX Runtime can (its default) also quantizes
outputs such as a final Softmax, clipping them to the calibration range."""

# Protobuf cannot serialise a model of 2 GiB or more; leave room for the graph itself.
_EXTERNAL_DATA_BYTES = 1_800_000_000

Feed = dict[str, np.ndarray]


def model_bytes(path: str | Path) -> int:
    """Size of a model file plus the external data files it references."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    files = set()
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == "location":
                    files.add(path.parent / entry.value)
    return path.stat().st_size + sum(f.stat().st_size for f in files if f.exists())


def quantize_dynamic(
    source: Path,
    target: Path,
    weight_type: str,
    per_channel: bool,
    notes: list[str],
    op_types: tuple[str, ...] = DYNAMIC_OP_TYPES,
) -> None:
    """8-bit weights for `op_types`; activations quantized at run time."""
    q = quantization_api()
    external = _needs_external_data(source)
    with _preprocessed(source, external, notes) as model:
        q.quantize_dynamic(
            str(model),
            str(target),
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            weight_type=_quant_type(weight_type),
            use_external_data_format=external,
        )


def quantize_static(
    source: Path,
    target: Path,
    feeds: list[Feed],
    weight_type: str,
    per_channel: bool,
    notes: list[str],
    op_types: tuple[str, ...] = STATIC_OP_TYPES,
) -> None:
    """QDQ format around `op_types`, uint8 activations (ONNX Runtime's recommendation for x86
    CPUs), MinMax calibration over `feeds`."""
    q = quantization_api()
    external = _needs_external_data(source)
    with _preprocessed(source, external, notes) as model:
        q.quantize_static(
            str(model),
            str(target),
            _Reader(iter(feeds)),
            quant_format=q.QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            activation_type=q.QuantType.QUInt8,
            weight_type=_quant_type(weight_type),
            use_external_data_format=external,
        )


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol: get_next() until None."""

    def __init__(self, feeds: Iterator[Feed]) -> None:
        self._feeds = feeds

    def get_next(self) -> Feed | None:
        return next(self._feeds, None)


def _quant_type(weight_type: str) -> object:
    q = quantization_api()
    if weight_type not in WEIGHT_TYPES:
        raise ValueError(f"weight type '{weight_type}' is not one of {', '.join(WEIGHT_TYPES)}")
    return q.QuantType.QInt8 if weight_type == "int8" else q.QuantType.QUInt8


def _needs_external_data(source: Path) -> bool:
    model = onnx.load(str(source), load_external_data=False)
    has_external = any(
        t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer
    )
    return has_external or model_bytes(source) >= _EXTERNAL_DATA_BYTES


@contextmanager
def _preprocessed(source: Path, external: bool, notes: list[str]) -> Iterator[Path]:
    """ONNX Runtime's quant_pre_process (shape inference, basic graph optimisation) into a
    temporary file, which quantization needs to find tensor shapes. If it fails, quantization
    goes on with the original model, and a note says so."""
    q = quantization_api()
    with tempfile.TemporaryDirectory(prefix="naiad-quantize-") as tmp:
        target = Path(tmp) / "preprocessed.onnx"
        symbolic = importlib.util.find_spec("sympy") is not None
        if not symbolic:
            notes.append("sympy not installed: pre-processing skipped symbolic shape inference")
        run: Callable[..., None] = q.quant_pre_process
        try:
            run(
                str(source),
                str(target),
                skip_symbolic_shape=not symbolic,
                save_as_external_data=external,
                all_tensors_to_one_file=True,
            )
        except Exception as exc:  # pre-processing is an aid; quantization works without it
            notes.append(f"pre-processing failed ({exc}); quantizing the model as given")
            yield source
            return
        yield target

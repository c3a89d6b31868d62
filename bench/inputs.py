"""Request data for a scenario, built once: NumPy inputs and their pre-encoded requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.models import Signature, TensorSpec
from bench.scenario import RequestSpec
from naiad_client import Client, tensors
from naiad_client.tensors import DTYPE_BY_DATATYPE


def input_shape(
    tensor: TensorSpec, signature: Signature, spec: RequestSpec, rows: int
) -> list[int]:
    """The full shape sent for ``tensor``: batch dim (when batching) plus its dims."""
    dims = list(spec.shapes.get(tensor.name, tensor.dims))
    if any(d < 0 for d in dims):
        raise ValueError(
            f"input {tensor.name} has variable dims {dims}; set request.shapes.{tensor.name}"
        )
    return ([rows] if signature.max_batch_size > 0 else []) + dims


def _random(datatype: str, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    dtype = DTYPE_BY_DATATYPE[datatype]
    if datatype == "BYTES":
        flat = [
            rng.bytes(int(rng.integers(1, 16))).hex().encode() for _ in range(int(np.prod(shape)))
        ]
        return np.array(flat, dtype=np.object_).reshape(shape)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype.kind in "iu":
        return rng.integers(0, 100, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _zeros(datatype: str, shape: list[int]) -> np.ndarray:
    if datatype == "BYTES":
        return np.full(shape, b"0", dtype=np.object_)
    return np.zeros(shape, dtype=DTYPE_BY_DATATYPE[datatype])


def _from_file(path: Path, signature: Signature) -> dict[str, np.ndarray]:
    if path.suffix == ".npy":
        if len(signature.inputs) != 1:
            raise ValueError(f"{path}: a .npy file feeds a single-input model only")
        return {signature.inputs[0].name: np.load(path, allow_pickle=False)}
    data: Any = json.loads(path.read_text())
    if isinstance(data, dict) and "data" in data:  # perf_analyzer's layout: first entry
        data = data["data"][0]
    arrays = {}
    for tensor in signature.inputs:
        value = data[tensor.name]
        if isinstance(value, dict):
            value = np.reshape(value["content"], value["shape"])
        dtype = DTYPE_BY_DATATYPE[tensor.datatype]
        arrays[tensor.name] = np.asarray(value, dtype=None if tensor.datatype == "BYTES" else dtype)
    return arrays


def make_inputs(signature: Signature, spec: RequestSpec, rows: int, seed: int = 0) -> list[dict]:
    """``spec.num_distinct`` input dicts of ``rows`` rows (one for zeros or a file)."""
    if spec.data == "zeros":
        return [
            {
                t.name: _zeros(t.datatype, input_shape(t, signature, spec, rows))
                for t in signature.inputs
            }
        ]
    if spec.data != "random":
        loaded = _from_file(Path(spec.data), signature)
        return [{t.name: _fit_rows(loaded[t.name], rows, t, signature) for t in signature.inputs}]
    rng = np.random.default_rng(seed)
    return [
        {
            t.name: _random(t.datatype, input_shape(t, signature, spec, rows), rng)
            for t in signature.inputs
        }
        for _ in range(spec.num_distinct)
    ]


def _fit_rows(array: np.ndarray, rows: int, tensor: TensorSpec, signature: Signature) -> np.ndarray:
    """File data repeated or cut to ``rows`` rows (a single row gains the batch dim)."""
    if signature.max_batch_size <= 0:
        return array
    if array.ndim == len(tensor.dims):
        array = array[None]
    reps = -(-rows // array.shape[0])
    return np.concatenate([array] * reps)[:rows]


def encode_requests(
    signature: Signature, spec: RequestSpec, variants: list[dict], version: str
) -> list[bytes]:
    """Each input dict as a serialized ModelInferRequest, ready to send many times."""
    outputs = list(spec.outputs) or None
    return [
        Client.prepare(signature.name, inputs, outputs, version).SerializeToString()
        for inputs in variants
    ]


def encode_http_bodies(spec: RequestSpec, variants: list[dict]) -> list[tuple[bytes, int]]:
    """Each input dict as a v2 REST infer body with Triton's binary tensor data extension: a
    JSON header, then every input's raw bytes (those gRPC's raw_input_contents carry), outputs
    asked for as binary too. Returns (body, length of its JSON header) pairs."""
    bodies = []
    for inputs in variants:
        described, raws = [], []
        for name, value in inputs.items():
            datatype, shape, raw = tensors.encode(value)
            parameters = {"binary_data_size": len(raw)}
            described.append(
                {"name": name, "datatype": datatype, "shape": shape, "parameters": parameters}
            )
            raws.append(raw)
        header: dict[str, Any] = {"inputs": described}
        if spec.outputs:
            binary = {"binary_data": True}
            header["outputs"] = [{"name": name, "parameters": binary} for name in spec.outputs]
        else:
            header["parameters"] = {"binary_data_output": True}
        text = json.dumps(header, separators=(",", ":")).encode()
        bodies.append((b"".join([text, *raws]), len(text)))
    return bodies


def perf_analyzer_json(signature: Signature, variants: list[dict], path: Path) -> Path:
    """The same inputs in perf_analyzer's --input-data layout (first row of each variant when
    batching, since perf_analyzer builds its batches from single rows)."""
    entries = []
    for inputs in variants:
        entry = {}
        for name, array in inputs.items():
            row = array[0] if signature.max_batch_size > 0 else array
            content = [v.decode() if isinstance(v, bytes) else v for v in row.ravel().tolist()]
            entry[name] = {"content": content, "shape": list(row.shape)}
        entries.append(entry)
    path.write_text(json.dumps({"data": entries}))
    return path

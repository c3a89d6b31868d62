"""An ONNX model's inputs and outputs, read with the `onnx` package (never onnxruntime)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from naiad.datatypes import BY_ONNX, DataType
from naiad.errors import ModelLoadError


@dataclass(frozen=True)
class TensorSignature:
    """One graph input or output as the ONNX file declares it."""

    name: str
    onnx_type: int
    """onnx.TensorProto element type; 0 when the value is not a tensor."""
    shape: tuple[int, ...] | None
    """Full shape, batch dimension included; -1 for symbolic or unknown dims; None: unknown rank."""

    @property
    def datatype(self) -> DataType | None:
        """naiad's datatype, or None when naiad cannot serve this element type."""
        return BY_ONNX.get(self.onnx_type)

    @property
    def type_name(self) -> str:
        """The type as messages show it: the wire name (FP32) or the ONNX name (BFLOAT16)."""
        if self.datatype is not None:
            return self.datatype.wire
        if self.onnx_type == 0:
            return "a non-tensor type"
        return onnx.TensorProto.DataType.Name(self.onnx_type)

    @property
    def variable_first_dim(self) -> bool:
        return self.shape is not None and len(self.shape) >= 1 and self.shape[0] == -1


@dataclass(frozen=True)
class ModelSignature:
    """The model's required inputs (graph inputs that are not initializers) and its outputs."""

    inputs: tuple[TensorSignature, ...]
    outputs: tuple[TensorSignature, ...]
    optional_inputs: tuple[TensorSignature, ...] = ()
    """Graph inputs that an initializer backs: a request may override them or leave them out."""
    external_data: tuple[str, ...] = ()
    """The `location` of every tensor stored outside the model file, as written in it, relative
    to the model file's directory (ONNX Runtime reads them when it loads the model)."""

    def input(self, name: str) -> TensorSignature | None:
        return next((t for t in self.inputs if t.name == name), None)

    def optional_input(self, name: str) -> TensorSignature | None:
        return next((t for t in self.optional_inputs if t.name == name), None)

    def any_input(self, name: str) -> TensorSignature | None:
        return self.input(name) or self.optional_input(name)

    def output(self, name: str) -> TensorSignature | None:
        return next((t for t in self.outputs if t.name == name), None)

    @property
    def can_batch(self) -> bool:
        """True when every input and output has a variable first dimension."""
        return all(t.variable_first_dim for t in (*self.inputs, *self.outputs))


def _tensor(value: onnx.ValueInfoProto) -> TensorSignature:
    if value.type.WhichOneof("value") != "tensor_type":
        return TensorSignature(value.name, 0, None)
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return TensorSignature(value.name, tensor.elem_type, None)
    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
    return TensorSignature(value.name, tensor.elem_type, dims)


def signature_of(model: onnx.ModelProto) -> ModelSignature:
    """The signature of an already parsed model."""
    graph = model.graph
    initializers = {i.name for i in graph.initializer} | {
        i.values.name for i in graph.sparse_initializer
    }
    inputs = tuple(_tensor(v) for v in graph.input if v.name not in initializers)
    optional = tuple(_tensor(v) for v in graph.input if v.name in initializers)
    outputs = tuple(_tensor(v) for v in graph.output)
    return ModelSignature(inputs, outputs, optional, tuple(sorted(_external_locations(graph))))


def _external_locations(graph: onnx.GraphProto) -> set[str]:
    """External data locations of the graph's tensors, subgraphs (If, Loop...) included."""
    tensors = [*graph.initializer]
    for sparse in graph.sparse_initializer:
        tensors += [sparse.values, sparse.indices]
    locations = set()
    for node in graph.node:
        for attribute in node.attribute:
            tensors += [attribute.t, *attribute.tensors]
            for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
                tensors += [sparse.values, sparse.indices]
            for sub in [attribute.g, *attribute.graphs]:
                locations |= _external_locations(sub)
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            locations.add(entries.get("location", ""))
    return locations


def read_signature(path: Path, *, model: str) -> ModelSignature:
    """Reads the model file at `path`; external weight files are not opened."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ModelLoadError(f"model '{model}': model file '{path}' not found") from None
    except Exception as exc:  # onnx raises DecodeError, OSError and others for bad files
        raise ModelLoadError(f"model '{model}': cannot read ONNX model '{path}': {exc}") from None
    return signature_of(proto)

"""v2 REST inference bodies <-> InferRequest / InferResponse, with Triton's binary tensor
data extension both ways.

A request body is JSON, or (with `Inference-Header-Content-Length: N`) N bytes of JSON
followed by the binary data of the inputs that name a `binary_data_size`, in input order.
Binary data is decoded by the same code as gRPC's raw contents (tensor_codec.from_raw), so
both protocols check sizes and BYTES framing alike. An answer carries an output as JSON `data`
unless the request asked for it as binary (`binary_data` on the output, or
`binary_data_output` on the request); then its bytes follow the JSON header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from naiad.datatypes import DataType, from_wire
from naiad.engine.request import InferInput, InferRequest, InferResponse, ParameterValue
from naiad.errors import InvalidArgument
from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.transport.http import json_text
from naiad.transport.shm_tensors import (
    NO_SHARED_MEMORY,
    Placement,
    SharedMemoryTensors,
)
from naiad.transport.tensor_codec import element_count, from_raw, to_raw

HEADER_LENGTH = "inference-header-content-length"
BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"
_TRANSPORT_PARAMETERS = frozenset({BINARY_DATA_OUTPUT})
"""Request parameters that shape the HTTP answer, not the inference."""
_SCALARS = frozenset({bool, int, float, str})
"""The parameter value types. A decoded JSON value's type is exactly one of JSON's, so
`type(v) in _SCALARS` is isinstance(v, bool | int | float | str) at a fraction of the cost."""


@dataclass(slots=True)
class OutputForm:
    """How the answer should carry each output: binary or JSON data."""

    binary_default: bool = False
    binary: dict[str, bool] = field(default_factory=dict)
    placed: dict[str, Placement] = field(default_factory=dict)
    """Outputs the request asked to be written into shared memory, by name."""

    def is_binary(self, name: str) -> bool:
        return self.binary.get(name, self.binary_default)


def decode_request(
    body: bytes,
    header_length: str,
    model_name: str,
    model_version: str,
    limits: TensorLimits = DEFAULT_LIMITS,
    shm: SharedMemoryTensors = NO_SHARED_MEMORY,
) -> tuple[InferRequest, OutputForm]:
    """The request in `body`; raises InvalidArgument (or TooLarge) for anything malformed.
    Inputs placed in shared memory are read from their regions through `shm`."""
    json_part, binary = _split(body, header_length)
    try:
        header = json_text.loads(json_part)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"malformed JSON in request body: {exc}") from None
    if not isinstance(header, dict):
        raise InvalidArgument("the request body must be a JSON object")
    request_id = header.get("id", "")
    if not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    parameters = _parameters(header.get("parameters"), "request")
    form = OutputForm(binary_default=_flag(parameters, BINARY_DATA_OUTPUT, "request"))
    if parameters:
        for key in _TRANSPORT_PARAMETERS:
            parameters.pop(key, None)
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidArgument("'inputs' must be a non-empty list")
    inputs: list[InferInput] = []
    offset = 0
    for raw in raw_inputs:
        tensor, offset = _input(raw, binary, offset, limits, shm)
        inputs.append(tensor)
    if offset != len(binary):
        raise InvalidArgument(
            f"{len(binary) - offset} bytes of binary data follow the JSON header that no input"
            " claims (check each input's binary_data_size)"
        )
    classification: dict[str, ParameterValue] = {}
    requested = _outputs(header.get("outputs"), form, shm, classification)
    request = InferRequest(
        model_name, model_version, request_id, inputs, requested, parameters, classification
    )
    return request, form


def encode_response(response: InferResponse, form: OutputForm) -> tuple[bytes, int | None]:
    """The answer's body, and the length of its JSON header when binary data follows it
    (None: the body is all JSON)."""
    outputs: list[dict[str, Any]] = []
    binary: list[bytes] = []
    finite = True
    for output in response.outputs:
        dtype = output.datatype
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": dtype.wire,
            "shape": list(output.data.shape),
        }
        if output.name in form.placed:
            # Already in its region. No parameters, as Triton: its C++ client takes parameters
            # on an output to mean binary data and then needs binary_data_size.
            pass
        elif form.is_binary(output.name):
            raw = to_raw(dtype, output.data)
            entry["parameters"] = {BINARY_DATA_SIZE: len(raw)}
            binary.append(raw)
        else:
            entry["data"] = _json_data(output.name, dtype, output.data)
            if finite and output.data.dtype.kind == "f" and output.data.size:
                finite = bool(np.isfinite(output.data).all())
        outputs.append(entry)
    header = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id:
        header["id"] = response.id
    text = json_text.dumps(header, finite)
    if not binary:
        return text, None
    return b"".join((text, *binary)), len(text)


def _split(body: bytes, header_length: str) -> tuple[bytes, memoryview]:
    if not header_length:
        return body, memoryview(b"")
    if not (header_length.isascii() and header_length.isdigit()):
        raise InvalidArgument(f"bad Inference-Header-Content-Length '{header_length[:20]}'")
    length = int(header_length)
    if length > len(body):
        raise InvalidArgument(
            f"Inference-Header-Content-Length {length} exceeds the body's {len(body)} bytes"
        )
    view = memoryview(body)
    return body[:length], view[length:]


def _parameters(raw: object, where: str) -> dict[str, ParameterValue]:
    if raw is None:
        return {}
    if type(raw) is not dict:
        raise InvalidArgument(f"{where} 'parameters' must be a JSON object")
    for key, value in raw.items():
        if type(value) not in _SCALARS:
            raise InvalidArgument(f"{where} parameter '{key}' must be a boolean, number or string")
    return raw


def _flag(parameters: dict[str, ParameterValue], key: str, where: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise InvalidArgument(f"{where} parameter '{key}' must be a boolean")
    return value


def _input(
    raw: object, binary: memoryview, offset: int, limits: TensorLimits, shm: SharedMemoryTensors
) -> tuple[InferInput, int]:
    if type(raw) is not dict:
        raise InvalidArgument("each input must be a JSON object")
    name = raw.get("name")
    if type(name) is not str:
        raise InvalidArgument("each input needs a 'name' string")
    wire = raw.get("datatype")
    if type(wire) is not str:
        raise InvalidArgument(f"input '{name}' needs a 'datatype' string")
    dtype = from_wire(wire)
    shape_list = raw.get("shape")
    if type(shape_list) is not list or not _all_ints(shape_list):
        raise InvalidArgument(f"input '{name}' needs a 'shape' list of integers")
    shape = tuple(shape_list)
    raw_parameters = raw.get("parameters")
    if raw_parameters is None:
        parameters: dict[str, ParameterValue] = {}
        where = None
    else:
        what = f"input '{name}'"
        parameters = _parameters(raw_parameters, what)
        # Only binary_data_size (the binary extension's usual parameter) names no region.
        where = (
            shm.placement(parameters, what)
            if len(parameters) > (BINARY_DATA_SIZE in parameters)
            else None
        )
    size = parameters.get(BINARY_DATA_SIZE)
    if where is not None:
        if size is not None or "data" in raw:
            raise InvalidArgument(f"input '{name}' has both data and shared memory")
        return InferInput(
            name, dtype, shape, shm.read_input(name, dtype, shape, where, limits)
        ), offset
    if size is not None:
        if type(size) is not int or size < 0:
            raise InvalidArgument(f"input '{name}': binary_data_size must be a whole number")
        if "data" in raw:
            raise InvalidArgument(f"input '{name}' has both 'data' and binary_data_size")
        end = offset + size
        if end > len(binary):
            raise InvalidArgument(
                f"input '{name}': binary_data_size {size} runs past the end of the body"
                f" ({len(binary) - offset} bytes left)"
            )
        chunk = binary[offset:end]
        data = from_raw(
            name, dtype, shape, bytes(chunk) if dtype.wire == "BYTES" else chunk, limits
        )  # type: ignore[arg-type]
        return InferInput(name, dtype, shape, data), end
    if "data" not in raw:
        raise InvalidArgument(f"input '{name}' carries no data")
    data = _from_json(name, dtype, shape, raw["data"], limits)
    return InferInput(name, dtype, shape, data), offset


def _all_ints(values: list[Any]) -> bool:
    """Whether every item is a JSON integer (a boolean is not one)."""
    for value in values:
        if type(value) is not int:
            return False
    return True


_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}
"""Which JSON value kinds (NumPy's inference of them) each datatype kind accepts."""


def _from_json(
    name: str, dtype: DataType, shape: tuple[int, ...], data: object, limits: TensorLimits
) -> np.ndarray:
    count = element_count(name, shape, limits)
    if dtype.wire == "FP16":
        raise InvalidArgument(
            f"input '{name}': FP16 data cannot be sent as JSON; use binary_data_size"
        )
    if not isinstance(data, list):
        data = [data]
    if dtype.wire == "BYTES":
        return _bytes_from_json(name, shape, count, data)
    try:
        values = np.array(data)
    except ValueError:
        raise InvalidArgument(f"input '{name}': 'data' is a ragged nested list") from None
    if values.size != count:
        raise InvalidArgument(
            f"input '{name}': {values.size} elements in 'data', expecting {count}"
            f" for shape {list(shape)}"
        )
    if values.ndim > 1 and values.shape != shape:
        raise InvalidArgument(
            f"input '{name}': 'data' has shape {list(values.shape)}, expecting {list(shape)}"
        )
    kind = values.dtype.kind
    if count and kind in "fO" and dtype.numpy.kind in "iu":
        # Integers past int64 (a UINT64's top half) make NumPy guess float64 or object, which
        # would lose bits: convert them exactly, element by element.
        return _big_integers(name, dtype, shape, data)
    if count and kind not in _KINDS[dtype.numpy.kind]:
        raise InvalidArgument(f"input '{name}': 'data' holds values that are not {dtype.wire}")
    with np.errstate(over="ignore"):
        typed = values.astype(dtype.numpy)
    if count and dtype.numpy.kind in "iu" and not np.array_equal(typed, values):
        raise InvalidArgument(f"input '{name}': a value does not fit {dtype.wire}")
    if count and dtype.numpy.kind == "f" and (np.isinf(typed) & np.isfinite(values)).any():
        raise InvalidArgument(f"input '{name}': a value is out of {dtype.wire}'s range")
    return typed.reshape(shape)


def _big_integers(name: str, dtype: DataType, shape: tuple[int, ...], data: object) -> np.ndarray:
    flat = np.array(data, dtype=object).ravel()
    if not all(isinstance(v, int) for v in flat):
        raise InvalidArgument(f"input '{name}': 'data' holds values that are not {dtype.wire}")
    try:
        return np.array(flat.tolist(), dtype=dtype.numpy).reshape(shape)
    except OverflowError:
        raise InvalidArgument(f"input '{name}': a value does not fit {dtype.wire}") from None


def _bytes_from_json(name: str, shape: tuple[int, ...], count: int, data: list) -> np.ndarray:
    flat: list[bytes] = []
    pending: list[object] = [data]
    while pending:  # flattening by hand: NumPy would pad strings to one width
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(reversed(item))
        elif isinstance(item, str):
            flat.append(item.encode())
        else:
            raise InvalidArgument(f"input '{name}': BYTES data must be strings")
        if len(flat) > count:
            break
    if len(flat) != count:
        raise InvalidArgument(
            f"input '{name}': {len(flat)} elements in 'data', expecting {count}"
            f" for shape {list(shape)}"
        )
    array = np.empty(count, dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _outputs(
    raw: object,
    form: OutputForm,
    shm: SharedMemoryTensors,
    classification: dict[str, ParameterValue],
) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidArgument("'outputs' must be a list")
    names: list[str] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidArgument("each requested output needs a 'name' string")
        name = item["name"]
        parameters = _parameters(item.get("parameters"), f"output '{name}'")
        form.placed.update(shm.output_placements([(name, parameters)]))
        if "classification" in parameters:
            classification[name] = parameters["classification"]
        if BINARY_DATA in parameters:
            form.binary[name] = _flag(parameters, BINARY_DATA, f"output '{name}'")
        names.append(name)
    return names or None


def _json_data(name: str, dtype: DataType, data: np.ndarray) -> list[Any]:
    if dtype.wire == "FP16":
        raise InvalidArgument(
            f"output '{name}' is FP16, which JSON cannot carry; ask for it with binary_data"
        )
    if dtype.wire == "BYTES":
        try:
            return [bytes(v).decode() for v in data.ravel()]
        except UnicodeDecodeError:
            raise InvalidArgument(
                f"output '{name}' holds bytes that are not UTF-8; ask for it with binary_data"
            ) from None
    flat: list[Any] = data.ravel().tolist()
    return flat

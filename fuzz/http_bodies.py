"""Fuzz targets for what an HTTP request body goes through before the engine: the v2 JSON
infer body with Triton's binary extension, and Content-Encoding decompression.

`infer_body` builds a body field by field (mostly well formed, so that inputs reach the shape,
type and size checks), with lying binary_data_size values, wrong JSON kinds, broken JSON text
and a lying Inference-Header-Content-Length; the REST target reuses it for infer requests.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import atheris

from fuzz.targets import _DIMS, _NAMES, _WIRE_NAMES, MODELS, _check, _pick_int
from naiad.config.settings import ModelSettings
from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferOutput, InferResponse
from naiad.engine.validation import admit
from naiad.errors import NaiadError
from naiad.transport.http.compression import choose, compress, decompress
from naiad.transport.http.infer_json import decode_request, encode_response
from naiad.transport.tensor_codec import to_raw

_HUGE = [2**31, 2**32 + 4, 2**62, 2**63 - 1, -1, -(2**63)]
_PARAMETERS = ["priority", "timeout", "binary_data_output", "sequence_id", "triton_x", "custom"]


def _value(fdp: atheris.FuzzedDataProvider, datatype: str) -> Any:
    """One JSON element: mostly of the datatype's kind, sometimes of any other."""
    kind = fdp.ConsumeIntInRange(0, 12)
    if kind == 0:
        return fdp.PickValueInList([None, "x", [], {}, 1.5, True, 2**70, -(2**64)])
    if datatype == "BYTES" or kind == 1:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 6))
    if datatype == "BOOL" or kind == 2:
        return fdp.ConsumeBool()
    if datatype.startswith("FP") or kind == 3:
        return fdp.ConsumeRegularFloat()
    return _pick_int(fdp, [0, 1, -1, 255, 256, 2**63, 2**64 - 1], -(2**64), 2**64)


def _data(fdp: atheris.FuzzedDataProvider, datatype: str, shape: list[int]) -> Any:
    """`data` for a tensor: flat or nested to the shape, mostly of the right element count."""
    count = 1
    for d in shape:
        count *= d if 0 <= d <= 64 else 1
    if count > 256 or fdp.ConsumeProbability() < 0.15:
        count = fdp.ConsumeIntInRange(0, 6)
    flat = [_value(fdp, datatype) for _ in range(count)]
    if len(shape) > 1 and shape[-1] > 0 and count % shape[-1] == 0 and fdp.ConsumeBool():
        return [flat[i : i + shape[-1]] for i in range(0, count, shape[-1])]
    return flat if fdp.ConsumeProbability() < 0.95 else fdp.PickValueInList([{}, "x", 3, None])


def _binary(fdp: atheris.FuzzedDataProvider, datatype: str, shape: list[int]) -> bytes:
    count = 1
    for d in shape:
        count *= d if 0 <= d <= 64 else 1
    wire = BY_WIRE.get(datatype)
    if wire is not None and wire.wire != "BYTES" and fdp.ConsumeProbability() < 0.8:
        return fdp.ConsumeBytes(min(count, 256) * wire.itemsize)
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))


def _tensor(
    fdp: atheris.FuzzedDataProvider, name: str, datatype: str, shape: list[int], parts: list[bytes]
) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
    if fdp.ConsumeBool():
        raw = _binary(fdp, datatype, shape)
        size: Any = len(raw)
        if fdp.ConsumeProbability() < 0.15:
            size = fdp.PickValueInList([*_HUGE, len(raw) + 1, len(raw) - 1, "8", 1.0, None])
        tensor["parameters"] = {"binary_data_size": size}
        parts.append(raw)
        if fdp.ConsumeProbability() < 0.05:
            tensor["data"] = [0]
    else:
        tensor["data"] = _data(fdp, datatype, shape)
    if fdp.ConsumeProbability() < 0.05:
        tensor.setdefault("parameters", {})["shared_memory_region"] = "r"
    return tensor


def _shape(fdp: atheris.FuzzedDataProvider, dims: tuple[int, ...], batches: bool) -> list[int]:
    batch = [fdp.PickValueInList([1, 2, 3, 0, 9])] if batches else []
    shape = batch + [d if d != -1 else fdp.ConsumeIntInRange(0, 4) for d in dims]
    if fdp.ConsumeProbability() < 0.1:
        shape = [_pick_int(fdp, _DIMS, -(2**63), 2**63 - 1) for _ in shape]
    return shape


def infer_body(
    fdp: atheris.FuzzedDataProvider, inputs: list[tuple[str, str, tuple[int, ...]]], batches: bool
) -> tuple[bytes, str]:
    """An infer body for a model with `inputs` (name, datatype, dims), and the value for its
    Inference-Header-Content-Length ("" for none)."""
    header: dict[str, Any] = {}
    if fdp.ConsumeBool():
        header["id"] = fdp.PickValueInList([fdp.ConsumeUnicodeNoSurrogates(4), 7, None])
    parameters = {}
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        key = fdp.PickValueInList(_PARAMETERS)
        parameters[key] = fdp.PickValueInList(
            [True, False, 0, 1, 3, -1, 10**6, 2**64, 1.5, "s", None, [1], {}]
        )
    if parameters:
        header["parameters"] = parameters
    parts: list[bytes] = []
    tensors = []
    for name, datatype, dims in inputs:
        if fdp.ConsumeProbability() < 0.05:
            continue
        if fdp.ConsumeProbability() < 0.05:
            datatype = fdp.PickValueInList(_WIRE_NAMES)
        tensors.append(_tensor(fdp, name, datatype, _shape(fdp, dims, batches), parts))
    for _ in range(fdp.ConsumeIntInRange(0, 1 if tensors else 3)):
        shape = [
            _pick_int(fdp, _DIMS, -(2**63), 2**63 - 1) for _ in range(fdp.ConsumeIntInRange(0, 3))
        ]
        datatype = fdp.PickValueInList(_WIRE_NAMES)
        tensors.append(_tensor(fdp, fdp.PickValueInList(_NAMES), datatype, shape, parts))
    header["inputs"] = tensors if fdp.ConsumeProbability() < 0.97 else {"x": tensors}
    if fdp.ConsumeBool():
        header["outputs"] = [
            {"name": fdp.PickValueInList(_NAMES), "parameters": {"binary_data": fdp.ConsumeBool()}}
            for _ in range(fdp.ConsumeIntInRange(0, 2))
        ]
    text = json.dumps(header).encode()
    if fdp.ConsumeProbability() < 0.1:  # broken JSON text
        cut = fdp.ConsumeIntInRange(0, len(text))
        text = text[:cut] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4)) + text[cut + 1 :]
    binary = b"".join(parts)
    length = str(len(text)) if binary else ""
    if fdp.ConsumeProbability() < 0.1:
        length = fdp.PickValueInList(
            ["", "-1", "0", "x", " 5", "1e3", str(len(text) + 1), str(2**64), str(len(text) - 1)]
        )
    return text + binary, length


def _model_inputs(settings: ModelSettings) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(spec.name, spec.datatype.wire, tuple(spec.dims)) for spec in settings.inputs]


def http_infer_body(data: bytes) -> None:
    """A v2 infer body → decode_request → admit against a model → encode_response of the
    decoded tensors as outputs, binary or JSON as the body asked; the answer must parse back."""
    fdp = atheris.FuzzedDataProvider(data)
    settings = MODELS[fdp.PickValueInList(["fuzz", "flat"])]
    body, length = infer_body(fdp, _model_inputs(settings), settings.batches)
    try:
        request, form = decode_request(body, length, settings.name, "")
    except NaiadError:
        return
    try:
        admit(request, settings)
    except NaiadError:
        pass
    outputs = [InferOutput(t.name, t.datatype, t.data) for t in request.inputs]
    try:
        answer, header_length = encode_response(
            InferResponse(settings.name, "1", request.id, outputs), form
        )
    except NaiadError:
        return  # FP16 asked for as JSON
    header = json.loads(answer[:header_length] if header_length is not None else answer)
    binary = answer[header_length:] if header_length is not None else b""
    _check(len(header["outputs"]) == len(outputs), "one answer entry per output")
    offset = 0
    for entry, output in zip(header["outputs"], outputs, strict=True):
        size = entry.get("parameters", {}).get("binary_data_size")
        if size is None:
            _check("data" in entry, f"output '{output.name}' has neither data nor binary")
            continue
        raw = to_raw(output.datatype, output.data)
        _check(binary[offset : offset + size] == raw, f"binary of '{output.name}' changed")
        offset += size
    _check(offset == len(binary), "binary data no output claims")


_ENCODINGS = ["gzip", "deflate", "x-gzip", "identity", "", " GZIP ", "br", "gzip, deflate"]


def http_decompress(data: bytes) -> None:
    """decompress(body, Content-Encoding, cap): InvalidArgument, TooLarge or Unimplemented for
    bad bodies, never more than the cap inflated, and an intact body of an encoding gives back
    exactly what was compressed. choose(Accept-Encoding) answers gzip, deflate or None."""
    fdp = atheris.FuzzedDataProvider(data)
    encoding = fdp.PickValueInList(_ENCODINGS)
    max_bytes = fdp.PickValueInList([0, 1, 64, 1024, 1 << 16])
    payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    if fdp.ConsumeBool() and payload:
        payload = payload[:1] * fdp.ConsumeIntInRange(1, 1 << 20)  # a small bomb
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        body = payload  # not compressed at all
    elif mode == 1:
        body = compress(payload, "gzip")
    elif mode == 2:
        body = compress(payload, "deflate")
    else:
        body = zlib.compress(payload)[2:-4]  # the raw deflate stream some clients send
    intact = fdp.ConsumeBool()
    if not intact and body:
        cut = fdp.ConsumeIntInRange(0, len(body) - 1)
        body = body[:cut] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8)) + body[cut + 1 :]
    accepted = choose(fdp.ConsumeUnicodeNoSurrogates(24))
    _check(accepted in ("gzip", "deflate", None), f"choose answered {accepted!r}")
    try:
        out = decompress(body, encoding, max_bytes)
    except NaiadError:
        return
    plain = encoding.strip().lower() in ("", "identity")
    _check(plain or len(out) <= max_bytes, f"{len(out)} bytes inflated past the cap {max_bytes}")
    name = encoding.strip().lower()
    codec = {"gzip": 1, "x-gzip": 1, "deflate": 2}.get(name)
    if intact and mode != 0 and (codec == mode or (name == "deflate" and mode == 3)):
        _check(out == payload, "an intact body did not inflate to what was compressed")


TARGETS = {"http_infer_body": http_infer_body, "http_decompress": http_decompress}

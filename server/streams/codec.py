"""Message payloads <-> InferRequest / InferResponse, in the four formats a stream can carry.

- json: one row of features per message: `{"INPUT0": [...], ...}` by input name, or a bare
  list for a single-input model. The answer: `{"id", "model_name", "model_version",
  "outputs": {"OUTPUT0": [...]}}`, the batch dimension left out again.
- v2-json / v2-binary: a v2 REST inference body (binary: Triton's binary tensor extension, the
  JSON length in the `inference-header-content-length` header); the answer is the v2 REST
  response, every output binary in v2-binary.
- raw: the bytes of the model's one input (one row, fixed dims) in; the bytes of its first
  output out, with `naiad-datatype` and `naiad-shape` headers.

Every decoding failure is an InvalidArgument whose message says what is wrong; the connector
sends it to the error topic.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from naiad.config.settings import ModelSettings, TensorSpec
from naiad.engine.request import InferInput, InferRequest, InferResponse
from naiad.errors import InvalidArgument
from naiad.transport.http import infer_json
from naiad.transport.tensor_codec import from_raw, to_raw

HEADER_LENGTH = infer_json.HEADER_LENGTH
_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}
"""Which JSON value kinds (as NumPy infers them) each datatype kind accepts."""


class MessageCodec:
    """Decodes payloads for one model version and encodes its answers."""

    def __init__(self, settings: ModelSettings, model_version: str, format: str) -> None:
        self.settings = settings
        self._version = model_version
        self._format = format
        self._batches = settings.max_batch_size > 0
        if format == "raw" and (len(settings.inputs) != 1 or -1 in settings.inputs[0].dims):
            raise ValueError(
                f"format raw needs a model with one input of fixed dims; '{settings.name}' has"
                f" {[(s.name, list(s.dims)) for s in settings.inputs]}"
            )

    def decode(self, value: bytes, headers: dict[str, bytes], request_id: str) -> InferRequest:
        """The request `value` carries; raises InvalidArgument when it is malformed."""
        name = self.settings.name
        if self._format in ("v2-json", "v2-binary"):
            length = headers.get(HEADER_LENGTH, b"").decode("latin-1")
            request, _ = infer_json.decode_request(value, length, name, self._version)
            request.id = request.id or request_id
            return request
        if self._format == "raw":
            spec = self.settings.inputs[0]
            shape = self._row_shape(spec.dims)
            data = from_raw(spec.name, spec.datatype, shape, value)
            return InferRequest(
                name, self._version, request_id, [InferInput(spec.name, spec.datatype, shape, data)]
            )
        return InferRequest(name, self._version, request_id, self._features(value))

    def encode(self, response: InferResponse) -> tuple[bytes, dict[str, bytes]]:
        """The answer's payload and the headers it needs; raises InvalidArgument for an output
        the format cannot carry (FP16 in JSON)."""
        if self._format == "v2-json":
            body, _ = infer_json.encode_response(response, infer_json.OutputForm())
            return body, {}
        if self._format == "v2-binary":
            body, length = infer_json.encode_response(
                response, infer_json.OutputForm(binary_default=True)
            )
            return body, {HEADER_LENGTH: str(length).encode()} if length is not None else {}
        if self._format == "raw":
            output = response.outputs[0]
            headers = {
                "naiad-datatype": output.datatype.wire.encode(),
                "naiad-shape": ",".join(map(str, output.data.shape)).encode(),
            }
            return to_raw(output.datatype, output.data), headers
        outputs: dict[str, Any] = {}
        for output in response.outputs:
            if output.datatype.wire == "FP16":
                raise InvalidArgument(f"output '{output.name}' is FP16, which JSON cannot carry")
            data = (
                output.data[0] if self._batches and output.data.shape[:1] == (1,) else output.data
            )
            if output.datatype.wire == "BYTES":
                outputs[output.name] = [bytes(v).decode("utf-8", "replace") for v in data.ravel()]
            else:
                outputs[output.name] = data.tolist()
        document = {
            "id": response.id,
            "model_name": response.model_name,
            "model_version": response.model_version,
            "outputs": outputs,
        }
        return json.dumps(document, separators=(",", ":")).encode(), {}

    def _features(self, value: bytes) -> list[InferInput]:
        try:
            document = json.loads(value)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"malformed JSON: {exc}") from None
        specs = [s for s in self.settings.inputs if not s.optional] or list(self.settings.inputs)
        if isinstance(document, list) and len(specs) == 1:
            document = {specs[0].name: document}
        if not isinstance(document, dict):
            raise InvalidArgument(
                "a json message is an object of features by input name"
                + (" (or a bare list: the model has one input)" if len(specs) == 1 else "")
            )
        known = {s.name for s in self.settings.inputs}
        unknown = sorted(set(document) - known)
        if unknown:
            raise InvalidArgument(f"unknown input(s) {unknown}; the model takes {sorted(known)}")
        missing = [s.name for s in specs if s.name not in document]
        if missing:
            raise InvalidArgument(f"missing input(s) {missing}")
        return [
            self._feature(spec, document[spec.name])
            for spec in self.settings.inputs
            if spec.name in document
        ]

    def _feature(self, spec: TensorSpec, data: object) -> InferInput:
        dtype = spec.datatype
        if dtype.wire == "BYTES":
            values = np.array(data, dtype=object)
            if not all(isinstance(v, str) for v in values.ravel()):
                raise InvalidArgument(f"input '{spec.name}': BYTES features must be strings")
            typed = np.vectorize(str.encode, otypes=[object])(values) if values.size else values
        else:
            try:
                values = np.array(data)
            except ValueError:
                raise InvalidArgument(f"input '{spec.name}': a ragged nested list") from None
            if values.size and values.dtype.kind not in _KINDS.get(dtype.numpy.kind, ""):
                raise InvalidArgument(
                    f"input '{spec.name}': values that are not {dtype.wire}: {str(data)[:80]}"
                )
            typed = values.astype(dtype.numpy)
            if dtype.numpy.kind in "iu" and not np.array_equal(typed, values):
                raise InvalidArgument(f"input '{spec.name}': a value does not fit {dtype.wire}")
        if len(typed.shape) != len(spec.dims) or any(
            want not in (-1, got) for want, got in zip(spec.dims, typed.shape, strict=True)
        ):
            raise InvalidArgument(
                f"input '{spec.name}': shape {list(typed.shape)}, expecting"
                f" {list(spec.dims)} (one row, -1 any size)"
            )
        shape = (1, *typed.shape) if self._batches else typed.shape
        return InferInput(spec.name, dtype, shape, typed.reshape(shape))

    def _row_shape(self, dims: tuple[int, ...]) -> tuple[int, ...]:
        return (1, *dims) if self._batches else dims

"""Payload formats (json features, v2-json, v2-binary, raw) and stream settings, no broker."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from naiad.config.settings import TensorSpec
from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferOutput, InferResponse
from naiad.errors import InvalidArgument
from naiad.streams.codec import HEADER_LENGTH, MessageCodec
from naiad.streams.spec import StreamSpec, parse_stream_url


class Settings:
    """The two ModelSettings fields the codec reads."""

    def __init__(self, inputs: tuple[TensorSpec, ...], max_batch_size: int = 8) -> None:
        self.name = "m"
        self.inputs = inputs
        self.max_batch_size = max_batch_size


FP32 = BY_WIRE["FP32"]
ONE_INPUT = Settings((TensorSpec("x", FP32, (3,)),))
TWO_INPUTS = Settings(
    (TensorSpec("a", BY_WIRE["INT32"], (2,)), TensorSpec("s", BY_WIRE["BYTES"], (-1,)))
)


def codec(settings: Settings, message_format: str = "json") -> MessageCodec:
    return MessageCodec(settings, "", message_format)  # type: ignore[arg-type]


def test_json_features_become_one_batched_row() -> None:
    for body in (b"[1, 2, 3.5]", b'{"x": [1, 2, 3.5]}'):
        request = codec(ONE_INPUT).decode(body, {}, "id7")
        [tensor] = request.inputs
        assert (request.id, tensor.shape) == ("id7", (1, 3))
        np.testing.assert_array_equal(tensor.data, [[1, 2, 3.5]])
    request = codec(TWO_INPUTS).decode(b'{"a": [1, 2], "s": ["x", "yz"]}', {}, "")
    assert request.inputs[1].data.tolist() == [[b"x", b"yz"]]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": [1, 2]}', "missing input(s) ['s']"),
        (b'{"a": [1, 2.5], "s": ["x"]}', "values that are not INT32"),
        (b'{"a": [1, 99999999999], "s": ["x"]}', "does not fit INT32"),
        (b'{"a": [1, 2, 3], "s": ["x"]}', "shape [3], expecting [2]"),
        (b'{"a": [1, 2], "s": [1]}', "BYTES features must be strings"),
        (b"[1, 2]", "an object of features by input name"),
        (b"\xff", "malformed JSON"),
    ],
)
def test_json_features_that_do_not_fit_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(reason)):
        codec(TWO_INPUTS).decode(body, {}, "")


def test_answers_in_each_format() -> None:
    data = np.array([[0.25, 0.75]], np.float32)
    response = InferResponse("m", "1", "c1", [InferOutput("y", FP32, data)])
    body, headers = codec(ONE_INPUT).encode(response)
    assert json.loads(body) == {"id": "c1", "model_name": "m", "model_version": "1",
                                "outputs": {"y": [0.25, 0.75]}}  # fmt: skip
    body, headers = codec(ONE_INPUT, "v2-binary").encode(response)
    length = int(headers[HEADER_LENGTH])
    assert json.loads(body[:length])["outputs"][0]["parameters"]["binary_data_size"] == 8
    assert np.frombuffer(body[length:], np.float32).tolist() == [0.25, 0.75]
    body, headers = codec(ONE_INPUT, "raw").encode(response)
    assert body == data.tobytes() and headers["naiad-shape"] == b"1,2"


def test_v2_binary_requests_take_their_json_length_from_the_header() -> None:
    raw = np.array([1, 2, 3], np.float32).tobytes()
    tensor = {"name": "x", "datatype": "FP32", "shape": [1, 3]}
    tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps({"inputs": [tensor]}).encode()
    message = {HEADER_LENGTH: str(len(header)).encode()}
    request = codec(ONE_INPUT, "v2-binary").decode(header + raw, message, "fallback")
    assert request.id == "fallback" and request.inputs[0].data.tolist() == [[1, 2, 3]]


def test_raw_needs_one_input_of_fixed_dims() -> None:
    with pytest.raises(ValueError, match="one input of fixed dims"):
        codec(TWO_INPUTS, "raw")
    with pytest.raises(InvalidArgument, match="unexpected total byte size 8"):
        codec(ONE_INPUT, "raw").decode(b"\0" * 8, {}, "")


def test_stream_urls_carry_every_setting() -> None:
    spec = parse_stream_url(
        "kafka://10.0.0.1:9092?model=m&input=a&output=b&format=v2-json&max-in-flight=8"
        "&exactly_once=true&ack_wait_s=2.5"
    )
    assert spec == StreamSpec(
        broker="kafka://10.0.0.1:9092", model="m", input_topic="a", output_topic="b",
        format="v2-json", max_in_flight=8, exactly_once=True, ack_wait_s=2.5,
    )  # fmt: skip
    assert spec.errors_to == "a.errors" and spec.label == "m:a"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis://h:1?model=m&input=a", "missing output_topic"),
        ("redis://h:1?model=m&input=a&output=b&colour=red", "unknown setting 'colour'"),
        ("redis://h:1?model=m&input=a&output=b&max_in_flight=lots", "'max_in_flight' must be"),
        ("redis://h:1?model=m&input=a&output=b&format=xml", "format 'xml'"),
        ("mqtt://h:1?model=m&input=a&output=b", "expected kafka://"),
        ("not a url", "expected SCHEME://HOST:PORT"),
    ],
)
def test_bad_stream_urls_say_what_is_wrong(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_stream_url(url)

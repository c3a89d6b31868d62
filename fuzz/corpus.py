"""What the fuzzer starts from: seed inputs per target and dictionaries of tokens worth splicing
into them. fuzz/run.py writes both before it starts a target."""

from __future__ import annotations

from google.protobuf import json_format

from fuzz.targets import CONFIG_TEXT
from naiad.config.parse import parse_config_text
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import model_config_pb2 as mc
from naiad_protocol._wire import encode_bytes

# Every part of a config that validation reads, for the config targets' seeds.
FULL_CONFIG_TEXT = """
name: "fuzz" platform: "onnxruntime_onnx" max_batch_size: 4
version_policy { specific { versions: [1, 2] } }
input { name: "x" data_type: TYPE_FP32 dims: [4] }
input { name: "ids" data_type: TYPE_INT64 dims: [-1] }
input { name: "text" data_type: TYPE_STRING dims: [1] }
input { name: "r" data_type: TYPE_FP32 dims: [2, 3] reshape { shape: [3, 2] } }
output { name: "y" data_type: TYPE_FP32 dims: [2] }
instance_group { name: "g" count: 2 kind: KIND_CPU }
instance_group { count: 1 kind: KIND_GPU gpus: [0] }
dynamic_batching {
  preferred_batch_size: [2, 4] max_queue_delay_microseconds: 500 preserve_ordering: true
  priority_levels: 2 default_priority_level: 1
  default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 10 }
  priority_queue_policy { key: 2 value { allow_timeout_override: true max_queue_size: 8 } }
}
optimization {
  graph { level: 1 }
  execution_accelerators {
    gpu_execution_accelerator {
      name: "tensorrt" parameters { key: "precision_mode" value: "FP16" }
    }
    cpu_execution_accelerator { name: "openvino" }
  }
}
parameters { key: "intra_op_thread_count" value { string_value: "2" } }
parameters { key: "execution_mode" value { string_value: "1" } }
model_warmup {
  name: "w" batch_size: 2 count: 3
  inputs { key: "x" value { data_type: TYPE_FP32 dims: [4] random_data: true } }
  inputs { key: "ids" value { data_type: TYPE_INT64 dims: [3] zero_data: true } }
  inputs { key: "text" value { data_type: TYPE_STRING dims: [1] input_data_file: "t" } }
  inputs { key: "r" value { data_type: TYPE_FP32 dims: [2, 3] zero_data: true } }
}
response_cache { enable: false }
"""


def _seed_requests() -> list[bytes]:
    fuzz = pb.ModelInferRequest(model_name="fuzz", id="1")
    fuzz.parameters["priority"].int64_param = 1
    fuzz.parameters["timeout"].uint64_param = 100
    for name, datatype, shape, raw in [
        ("x", "FP32", [1, 4], bytes(16)),
        ("ids", "INT64", [1, 2], bytes(16)),
        ("text", "BYTES", [1, 1], encode_bytes([b"hi"])),
        ("r", "FP32", [1, 2, 3], bytes(24)),
    ]:
        fuzz.inputs.add(name=name, datatype=datatype, shape=shape)
        fuzz.raw_input_contents.append(raw)
    fuzz.outputs.add(name="y")
    flat = pb.ModelInferRequest(model_name="flat")
    flat.inputs.add(name="a", datatype="UINT8", shape=[2, 3]).contents.uint_contents.extend(
        range(6)
    )
    flat.inputs.add(name="b", datatype="BOOL", shape=[2]).contents.bool_contents.extend([1, 0])
    flat.inputs.add(name="s", datatype="BYTES", shape=[1, 1]).contents.bytes_contents.append(b"")
    return [fuzz.SerializeToString(), flat.SerializeToString()]


def seeds(target: str) -> list[bytes]:
    """Well-formed inputs for `target`, from which mutations start when a corpus is empty."""
    if target in ("grpc_infer_request", "grpc_infer_wire"):
        return _seed_requests()
    if target in ("http_server",):
        return [
            b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HEAD /metrics?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\nGET /v2/health/live HTTP/1.1\r\nConnection: close\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        ]
    if target == "config_text":
        return [CONFIG_TEXT.encode(), FULL_CONFIG_TEXT.encode()]
    if target == "config_json":
        texts = (CONFIG_TEXT, FULL_CONFIG_TEXT)
        configs = (parse_config_text(text, model="fuzz") for text in texts)
        return [json_format.MessageToJson(config).encode() for config in configs]
    if target == "selftest_crash":
        return [b"crash!"]
    if target == "selftest_hang":
        return [b"hang"]
    return [bytes(64), bytes(range(256))]


def dictionary(target: str) -> list[bytes]:
    """Tokens worth splicing into `target`'s inputs: the config's field and enum names, the
    HTTP words the listener reads."""
    if target in ("config_text", "config_json"):
        names: set[str] = set()
        for message in mc.DESCRIPTOR.message_types_by_name.values():
            names.update(_names_in(message, json=target == "config_json"))
        return sorted(name.encode() for name in names)
    if target in ("http_server",):
        return [
            b"GET ",
            b"HEAD ",
            b" HTTP/1.1\r\n",
            b" HTTP/1.0\r\n",
            b"\r\n\r\n",
            b"Connection: close",
            b"Connection: keep-alive",
            b"Content-Length: ",
            b"Transfer-Encoding: chunked",
            b"/v2/health/live",
            b"/metrics",
        ]
    return []


def _names_in(message: object, *, json: bool) -> set[str]:
    names = set()
    for field in message.fields:  # type: ignore[attr-defined]
        names.add(f'"{field.json_name}"' if json else field.name)
    for enum in message.enum_types:  # type: ignore[attr-defined]
        names.update(value.name for value in enum.values)
    for nested in message.nested_types:  # type: ignore[attr-defined]
        names |= _names_in(nested, json=json)
    return names

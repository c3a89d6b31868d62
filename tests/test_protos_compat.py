"""Our .proto files must stay wire-compatible with the ones tritonclient ships.

tritonclient's generated modules and ours both define the ``inference.*`` symbols, under
different file names, and protobuf refuses a second definition of a symbol in its default
descriptor pool (TypeError "duplicate symbol"). So tritonclient's descriptors are read in a
child process, and compared here as FileDescriptorProto messages, never imported.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator

import pytest
from google.protobuf import descriptor_pb2

from naiad_protocol import grpc_service_pb2, model_config_pb2

FileProto = descriptor_pb2.FileDescriptorProto
MessageProto = descriptor_pb2.DescriptorProto
EnumProto = descriptor_pb2.EnumDescriptorProto
FieldProto = descriptor_pb2.FieldDescriptorProto

_DUMP_TRITON = """
import base64
from tritonclient.grpc import model_config_pb2, service_pb2
for module in (model_config_pb2, service_pb2):
    print(base64.b64encode(module.DESCRIPTOR.serialized_pb).decode())
"""

# Added by Triton releases newer than the oldest tritonclient we support (2.41). They are
# checked against tritonclient when it has them, and tolerated when it does not.
NEWER_THAN_TRITONCLIENT = {
    "inference.InferResponseStatistics",
    "inference.ModelStatistics.ResponseStatsEntry",
    "inference.ModelStatistics.response_stats",
}

# The messages DESIGN.md §2 and §3 name: tritonclient must know no field of these that we lack.
DESIGN_MESSAGES = [
    "ServerLiveResponse",
    "ServerReadyResponse",
    "ModelReadyRequest",
    "ModelReadyResponse",
    "ServerMetadataResponse",
    "ModelMetadataRequest",
    "ModelMetadataResponse",
    "ModelMetadataResponse.TensorMetadata",
    "InferParameter",
    "InferTensorContents",
    "ModelInferRequest",
    "ModelInferRequest.InferInputTensor",
    "ModelInferRequest.InferRequestedOutputTensor",
    "ModelInferResponse",
    "ModelInferResponse.InferOutputTensor",
    "ModelStreamInferResponse",
    "ModelConfigRequest",
    "ModelConfigResponse",
    "ModelStatisticsRequest",
    "ModelStatisticsResponse",
    "ModelStatistics",
    "StatisticDuration",
    "InferStatistics",
    "InferBatchStatistics",
    "MemoryUsage",
    "RepositoryIndexRequest",
    "RepositoryIndexResponse",
    "RepositoryIndexResponse.ModelIndex",
    "ModelRepositoryParameter",
    "RepositoryModelLoadRequest",
    "RepositoryModelUnloadRequest",
    "SystemSharedMemoryRegisterRequest",
    "SystemSharedMemoryStatusResponse.RegionStatus",
    "ModelConfig",
    "ModelInput",
    "ModelOutput",
    "ModelTensorReshape",
    "ModelDynamicBatching",
    "ModelQueuePolicy",
    "ModelInstanceGroup",
    "ModelVersionPolicy",
    "ModelVersionPolicy.Latest",
    "ModelVersionPolicy.Specific",
    "ModelOptimizationPolicy",
    "ModelOptimizationPolicy.Graph",
    "ModelOptimizationPolicy.ExecutionAccelerators",
    "ModelOptimizationPolicy.ExecutionAccelerators.Accelerator",
    "ModelParameter",
    "ModelTransactionPolicy",
    "ModelResponseCache",
]


class Index:
    """Every message and enum of a set of files, by full name (no leading dot)."""

    def __init__(self, files: list[FileProto]) -> None:
        self.messages: dict[str, MessageProto] = {}
        self.enums: dict[str, EnumProto] = {}
        self.services = {f"{f.package}.{s.name}": s for f in files for s in f.service}
        for f in files:
            self._walk(f.package, f.message_type, f.enum_type)

    def _walk(self, scope: str, messages, enums) -> None:
        for enum in enums:
            self.enums[f"{scope}.{enum.name}"] = enum
        for message in messages:
            name = f"{scope}.{message.name}"
            self.messages[name] = message
            self._walk(name, message.nested_type, message.enum_type)


def _field_facts(message: MessageProto, field: FieldProto) -> dict[str, object]:
    oneof = None
    if field.HasField("oneof_index") and not field.proto3_optional:
        oneof = message.oneof_decl[field.oneof_index].name
    return {
        "number": field.number,
        "type": FieldProto.Type.Name(field.type),
        "label": FieldProto.Label.Name(field.label),
        "type_name": field.type_name,
        "oneof": oneof,
        "proto3_optional": field.proto3_optional,
    }


def _method_facts(method: descriptor_pb2.MethodDescriptorProto) -> tuple[str, str, bool, bool]:
    return (
        method.input_type,
        method.output_type,
        method.client_streaming,
        method.server_streaming,
    )


@pytest.fixture(scope="module")
def ours() -> Index:
    return Index(
        [
            FileProto.FromString(m.DESCRIPTOR.serialized_pb)
            for m in (model_config_pb2, grpc_service_pb2)
        ]
    )


@pytest.fixture(scope="module")
def theirs() -> Index:
    out = subprocess.run(
        [sys.executable, "-c", _DUMP_TRITON], capture_output=True, text=True, check=True
    ).stdout
    return Index([FileProto.FromString(base64.b64decode(line)) for line in out.split()])


def _ours_not_newer(ours: Index, theirs: Index) -> Iterator[str]:
    for name in ours.messages:
        if name in theirs.messages or name not in NEWER_THAN_TRITONCLIENT:
            yield name


def test_files_are_where_generated_imports_expect_them() -> None:
    assert model_config_pb2.DESCRIPTOR.name == "naiad_protocol/model_config.proto"
    assert grpc_service_pb2.DESCRIPTOR.name == "naiad_protocol/grpc_service.proto"
    assert model_config_pb2.DESCRIPTOR.package == "inference"
    assert grpc_service_pb2.DESCRIPTOR.package == "inference"


def test_every_message_field_matches_tritonclient(ours: Index, theirs: Index) -> None:
    for name in _ours_not_newer(ours, theirs):
        assert name in theirs.messages, f"{name} is unknown to tritonclient"
        mine, ref = ours.messages[name], theirs.messages[name]
        assert mine.options.map_entry == ref.options.map_entry, name
        ref_fields = {f.name: f for f in ref.field}
        for field in mine.field:
            full = f"{name}.{field.name}"
            if field.name not in ref_fields and full in NEWER_THAN_TRITONCLIENT:
                continue
            assert field.name in ref_fields, f"{full} is unknown to tritonclient"
            assert _field_facts(mine, field) == _field_facts(ref, ref_fields[field.name]), full


def test_every_enum_value_matches_tritonclient(ours: Index, theirs: Index) -> None:
    for name, mine in ours.enums.items():
        assert name in theirs.enums, f"{name} is unknown to tritonclient"
        ref = {v.name: v.number for v in theirs.enums[name].value}
        assert {v.name: v.number for v in mine.value} == ref, name


def test_service_matches_tritonclient_both_ways(ours: Index, theirs: Index) -> None:
    name = "inference.GRPCInferenceService"
    assert set(ours.services) == set(theirs.services) == {name}
    mine = {m.name: _method_facts(m) for m in ours.services[name].method}
    ref = {m.name: _method_facts(m) for m in theirs.services[name].method}
    assert mine == ref
    assert mine["ModelStreamInfer"][2:] == (True, True)
    assert all(
        facts[2:] == (False, False) for rpc, facts in mine.items() if rpc != "ModelStreamInfer"
    )


@pytest.mark.parametrize("short_name", DESIGN_MESSAGES)
def test_design_messages_lack_no_tritonclient_field(
    ours: Index, theirs: Index, short_name: str
) -> None:
    name = f"inference.{short_name}"
    assert name in ours.messages
    mine = {f.name: _field_facts(ours.messages[name], f) for f in ours.messages[name].field}
    ref_message = theirs.messages[name]
    ref = {f.name: _field_facts(ref_message, f) for f in ref_message.field}
    assert {k: mine.get(k) for k in ref} == ref


def test_design_extensions_beyond_tritonclient_are_present(ours: Index) -> None:
    stats = {f.name: f for f in ours.messages["inference.ModelStatistics"].field}
    assert stats["response_stats"].number == 9
    assert stats["response_stats"].type_name == ".inference.ModelStatistics.ResponseStatsEntry"
    entry = ours.messages["inference.ModelStatistics.ResponseStatsEntry"]
    assert entry.options.map_entry
    assert entry.field[1].type_name == ".inference.InferResponseStatistics"

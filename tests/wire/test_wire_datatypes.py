"""The one datatype table (naiad_protocol._wire): its facts against the protocol's own sources
(the .proto enums and fields, onnx.TensorProto), and the server and clients reading the same one."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from naiad import datatypes
from naiad.errors import InvalidArgument
from naiad.transport import tensor_codec
from naiad_client import tensors
from naiad_protocol import _wire
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import model_config_pb2 as mc
from naiad_protocol._wire import BY_CONFIG, BY_ONNX, BY_WIRE, DATATYPES

# DESIGN §2 and §3, written out as the expected answer; BF16 is a wire name naiad does not serve.
EXPECTED = {
    # wire: (config enum name, config enum number, numpy dtype, itemsize, typed contents field)
    "BOOL": ("TYPE_BOOL", 1, np.bool_, 1, "bool_contents"),
    "UINT8": ("TYPE_UINT8", 2, np.uint8, 1, "uint_contents"),
    "UINT16": ("TYPE_UINT16", 3, np.uint16, 2, "uint_contents"),
    "UINT32": ("TYPE_UINT32", 4, np.uint32, 4, "uint_contents"),
    "UINT64": ("TYPE_UINT64", 5, np.uint64, 8, "uint64_contents"),
    "INT8": ("TYPE_INT8", 6, np.int8, 1, "int_contents"),
    "INT16": ("TYPE_INT16", 7, np.int16, 2, "int_contents"),
    "INT32": ("TYPE_INT32", 8, np.int32, 4, "int_contents"),
    "INT64": ("TYPE_INT64", 9, np.int64, 8, "int64_contents"),
    "FP16": ("TYPE_FP16", 10, np.float16, 2, None),
    "FP32": ("TYPE_FP32", 11, np.float32, 4, "fp32_contents"),
    "FP64": ("TYPE_FP64", 12, np.float64, 8, "fp64_contents"),
    "BYTES": ("TYPE_STRING", 13, np.object_, 0, "bytes_contents"),
}
ONNX_NAME = {"FP16": "FLOAT16", "FP32": "FLOAT", "FP64": "DOUBLE", "BYTES": "STRING"}


def test_the_table_holds_exactly_the_served_wire_names():
    assert [t.wire for t in DATATYPES] == list(EXPECTED)
    assert "BF16" not in BY_WIRE


@pytest.mark.parametrize("wire", list(EXPECTED))
def test_each_row_matches_the_protocol(wire):
    config, number, np_type, itemsize, contents = EXPECTED[wire]
    row = BY_WIRE[wire]
    assert (row.config, row.numpy, row.itemsize, row.contents) == (
        config,
        np.dtype(np_type),
        itemsize,
        contents,
    )
    assert mc.DataType.Value(row.config) == number
    assert row.onnx == getattr(TensorProto, ONNX_NAME.get(wire, wire))
    assert helper.tensor_dtype_to_np_dtype(row.onnx) == row.numpy
    if row.contents is not None:
        assert row.contents in pb.InferTensorContents.DESCRIPTOR.fields_by_name


def test_lookups_by_every_name_find_the_same_row():
    for row in DATATYPES:
        assert BY_WIRE[row.wire] is BY_CONFIG[row.config] is BY_ONNX[row.onnx] is row
    assert len(BY_WIRE) == len(BY_CONFIG) == len(BY_ONNX) == len(DATATYPES)


def test_every_typed_contents_field_is_covered_and_only_fp16_travels_raw_only():
    fields = set(pb.InferTensorContents.DESCRIPTOR.fields_by_name)
    assert {t.contents for t in DATATYPES} - {None} == fields
    assert [t.wire for t in DATATYPES if t.contents is None] == ["FP16"]


def test_the_server_reads_the_shared_rows():
    assert datatypes.BY_WIRE is BY_WIRE and datatypes.BY_CONFIG is BY_CONFIG
    assert datatypes.BY_ONNX is BY_ONNX
    for row in DATATYPES:
        assert datatypes.from_wire(row.wire) is row
        assert datatypes.from_config(row.config) is row


def test_the_server_refuses_unknown_names_with_its_messages():
    with pytest.raises(InvalidArgument, match=r"^unsupported datatype 'BF16'$"):
        datatypes.from_wire("BF16")
    with pytest.raises(InvalidArgument, match=r"^unsupported config data_type 'TYPE_BF16'$"):
        datatypes.from_config("TYPE_BF16")


def test_the_clients_read_the_same_names_and_dtypes():
    assert tensors.DTYPE_BY_DATATYPE == {t.wire: t.numpy for t in DATATYPES}
    for row in DATATYPES:
        assert tensors.datatype_of(row.numpy) == row.wire


def test_server_and_clients_frame_bytes_with_one_codec():
    assert tensors.encode_bytes is tensor_codec.encode_bytes is _wire.encode_bytes
    assert tensors.decode_bytes is tensor_codec.decode_bytes is _wire.decode_bytes

# cython: boundscheck=False, wraparound=False, initializedcheck=False
"""ModelInferRequest and ModelInferResponse read and written straight from and to wire bytes.

Compiled because building and reading protobuf objects field by field costs a small model's
request more than everything else naiad does for it. The reader is deliberately narrow: it
answers only for the messages it understands completely (raw tensor data, no shared memory,
no classification, no typed contents, no repeated singular messages, no groups, valid UTF-8) and
returns None for every other one, so that the protobuf path stays the one judge of what an odd or
malformed message means. Python code reaches it through naiad.transport.wire_request.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

# Wire types (protobuf encoding).
DEF VARINT = 0
DEF FIXED64 = 1
DEF LEN = 2
DEF FIXED32 = 5


class _Unusual(Exception):
    """The message has something the reader leaves to protobuf."""


cdef struct Cursor:
    const uint8_t* pos
    const uint8_t* end


cdef inline bint read_varint(Cursor* c, uint64_t* out) noexcept:
    """False when the varint runs past the end or over 10 bytes."""
    cdef uint64_t value = 0
    cdef int shift = 0
    cdef uint8_t byte
    while c.pos < c.end and shift < 70:
        byte = c.pos[0]
        c.pos += 1
        value |= (<uint64_t>(byte & 0x7F)) << shift
        if byte < 0x80:
            out[0] = value
            return True
        shift += 7
    return False


cdef inline Cursor read_len(Cursor* c) except *:
    """The LEN field's body as its own cursor; the outer cursor moves past it."""
    cdef uint64_t size
    cdef Cursor body
    if not read_varint(c, &size) or size > <uint64_t>(c.end - c.pos):
        raise _Unusual()
    body.pos = c.pos
    body.end = c.pos + size
    c.pos = body.end
    return body


cdef inline str read_str(Cursor* c):
    cdef Cursor body = read_len(c)
    try:
        return PyUnicode_DecodeUTF8(<const char*>body.pos, body.end - body.pos, NULL)
    except UnicodeDecodeError:
        raise _Unusual() from None


cdef inline void skip(Cursor* c, uint64_t wire_type) except *:
    """Skips an unknown field, as protobuf does (it keeps them; naiad never reads them)."""
    cdef uint64_t ignored
    if wire_type == VARINT:
        if not read_varint(c, &ignored):
            raise _Unusual()
    elif wire_type == FIXED64:
        if c.end - c.pos < 8:
            raise _Unusual()
        c.pos += 8
    elif wire_type == LEN:
        read_len(c)
    elif wire_type == FIXED32:
        if c.end - c.pos < 4:
            raise _Unusual()
        c.pos += 4
    else:
        raise _Unusual()  # groups and invalid wire types


cdef inline uint64_t read_tag(Cursor* c, uint64_t* wire_type) except *:
    cdef uint64_t tag
    if not read_varint(c, &tag) or (tag >> 3) == 0:
        raise _Unusual()
    wire_type[0] = tag & 7
    return tag >> 3


cdef object read_parameter(Cursor body):
    """One InferParameter's value; the last of its oneof wins, as in protobuf."""
    cdef uint64_t field, wire_type, raw
    cdef double number
    value = None
    while body.pos < body.end:
        field = read_tag(&body, &wire_type)
        if field == 1 and wire_type == VARINT:
            if not read_varint(&body, &raw):
                raise _Unusual()
            value = raw != 0
        elif field == 2 and wire_type == VARINT:
            if not read_varint(&body, &raw):
                raise _Unusual()
            value = <int64_t>raw
        elif field == 3 and wire_type == LEN:
            value = read_str(&body)
        elif field == 4 and wire_type == FIXED64:
            if body.end - body.pos < 8:
                raise _Unusual()
            memcpy(&number, body.pos, 8)  # little-endian hosts only, as the build targets
            body.pos += 8
            value = number
        elif field == 5 and wire_type == VARINT:
            if not read_varint(&body, &raw):
                raise _Unusual()
            value = raw
        elif field <= 5:
            raise _Unusual()  # a known field with another wire type
        else:
            skip(&body, wire_type)
    if value is None:
        raise _Unusual()  # no value: the protobuf path words that error
    return value


cdef void read_map_entry(Cursor body, dict into) except *:
    cdef uint64_t field, wire_type
    key = ""
    value = None
    while body.pos < body.end:
        field = read_tag(&body, &wire_type)
        if field == 1 and wire_type == LEN:
            key = read_str(&body)
        elif field == 2 and wire_type == LEN and value is None:
            value = read_parameter(read_len(&body))
        else:
            # A second value would merge into the first; and protobuf keeps an entry with
            # unknown fields among the message's unknown fields, not in the map.
            raise _Unusual()
    if value is None:
        raise _Unusual()
    into[key] = value


cdef void read_shape_packed(Cursor body, list into) except *:
    cdef uint64_t dim
    while body.pos < body.end:
        if not read_varint(&body, &dim):
            raise _Unusual()
        into.append(<int64_t>dim)


cdef tuple read_input(Cursor body):
    cdef uint64_t field, wire_type, dim
    name = ""
    datatype = ""
    shape = []
    while body.pos < body.end:
        field = read_tag(&body, &wire_type)
        if field == 1 and wire_type == LEN:
            name = read_str(&body)
        elif field == 2 and wire_type == LEN:
            datatype = read_str(&body)
        elif field == 3 and wire_type == LEN:
            read_shape_packed(read_len(&body), shape)
        elif field == 3 and wire_type == VARINT:
            if not read_varint(&body, &dim):
                raise _Unusual()
            shape.append(<int64_t>dim)
        elif field <= 5:
            raise _Unusual()  # parameters (shared memory), typed contents, odd wire types
        else:
            skip(&body, wire_type)
    return (name, datatype, tuple(shape))


cdef str read_output(Cursor body):
    cdef uint64_t field, wire_type
    name = ""
    while body.pos < body.end:
        field = read_tag(&body, &wire_type)
        if field == 1 and wire_type == LEN:
            name = read_str(&body)
        elif field <= 2:
            raise _Unusual()  # parameters: shared memory placement or classification
        else:
            skip(&body, wire_type)
    return name


def read_request(const uint8_t[::1] buf):
    """The parts of a ModelInferRequest, or None when the protobuf path must read it.

    Returns (model_name, model_version, id, parameters, inputs, outputs, raw_spans):
    parameters a dict of name -> bool | int | float | str, inputs a list of
    (name, datatype, shape), outputs the requested names in order, raw_spans a
    (start, end) offset pair into `buf` for each raw_input_contents entry.
    """
    cdef Cursor c
    cdef Cursor body
    cdef uint64_t field, wire_type
    cdef const uint8_t* base
    if buf.shape[0] == 0:
        return ("", "", "", {}, [], [], [])
    base = &buf[0]
    c.pos = base
    c.end = base + buf.shape[0]
    model_name = ""
    model_version = ""
    request_id = ""
    parameters = {}
    inputs = []
    outputs = []
    spans = []
    try:
        while c.pos < c.end:
            field = read_tag(&c, &wire_type)
            if wire_type == LEN and 1 <= field <= 7:
                if field == 1:
                    model_name = read_str(&c)
                elif field == 2:
                    model_version = read_str(&c)
                elif field == 3:
                    request_id = read_str(&c)
                elif field == 4:
                    read_map_entry(read_len(&c), parameters)
                elif field == 5:
                    inputs.append(read_input(read_len(&c)))
                elif field == 6:
                    outputs.append(read_output(read_len(&c)))
                else:
                    body = read_len(&c)
                    spans.append((body.pos - base, body.end - base))
            elif field <= 7:
                return None  # a known field with another wire type
            else:
                skip(&c, wire_type)
    except _Unusual:
        return None
    return (model_name, model_version, request_id, parameters, inputs, outputs, spans)


# ---- writing ----------------------------------------------------------------------------------

cdef inline Py_ssize_t varint_size(uint64_t value) noexcept:
    cdef Py_ssize_t size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


cdef inline uint8_t* put_varint(uint8_t* out, uint64_t value) noexcept:
    while value >= 0x80:
        out[0] = <uint8_t>(value | 0x80)
        value >>= 7
        out += 1
    out[0] = <uint8_t>value
    return out + 1


cdef inline Py_ssize_t len_field_size(Py_ssize_t size) noexcept:
    """A LEN field of `size` body bytes, with its one-byte tag (field numbers here are < 16)."""
    return 1 + varint_size(size) + size


cdef inline uint8_t* put_len(uint8_t* out, uint8_t tag, const char* data, Py_ssize_t size):
    out[0] = tag
    out = put_varint(out + 1, size)
    memcpy(out, data, size)
    return out + size


# ModelInferResponse.parameters["triton_final_response"] = InferParameter(bool_param=True):
# the map entry (key, value) as field 4 of the response.
cdef bytes _FINAL_ENTRY = b'\x22\x1b\x0a\x15triton_final_response\x12\x02\x08\x01'


def write_response(str model_name, str model_version, str request_id, list outputs,
                   bint in_stream):
    """ModelInferResponse bytes, or with `in_stream` a ModelStreamInferResponse whose
    infer_response it is, marked final (triton_final_response) and without error_message.

    `outputs`: (name, datatype, shape, data) per output, `data` any C-contiguous buffer of the
    output's raw bytes. Fields go out in field-number order, as protobuf writes them, so the
    bytes equal protobuf's own serialization of the same message.
    """
    cdef bytes name_b = model_name.encode()
    cdef bytes version_b = model_version.encode()
    cdef bytes id_b = request_id.encode()
    cdef Py_ssize_t count = len(outputs)
    cdef Py_buffer* views = NULL
    cdef Py_ssize_t taken = 0
    cdef Py_ssize_t i, size, tensor_size, shape_size, total, inner
    cdef uint8_t* out
    cdef uint64_t dim
    cdef list names = []
    cdef list dtypes = []
    cdef list tensor_sizes = []
    cdef list shape_sizes = []
    cdef bytes chunk
    cdef bytes result
    views = <Py_buffer*>PyMem_Malloc(max(count, 1) * sizeof(Py_buffer))
    if views == NULL:
        raise MemoryError()
    try:
        inner = 0
        if name_b:
            inner += len_field_size(len(name_b))
        if version_b:
            inner += len_field_size(len(version_b))
        if id_b:
            inner += len_field_size(len(id_b))
        if in_stream:
            inner += len(_FINAL_ENTRY)
        for i in range(count):
            name, datatype, shape, data = outputs[i]
            names.append((<str>name).encode())
            dtypes.append((<str>datatype).encode())
            shape_size = 0
            for d in shape:
                shape_size += varint_size(<uint64_t><int64_t>d)
            tensor_size = 0
            if names[i]:
                tensor_size += len_field_size(len(names[i]))
            if dtypes[i]:
                tensor_size += len_field_size(len(dtypes[i]))
            if shape_size:
                tensor_size += len_field_size(shape_size)
            shape_sizes.append(shape_size)
            tensor_sizes.append(tensor_size)
            inner += len_field_size(tensor_size)
            PyObject_GetBuffer(data, &views[i], PyBUF_SIMPLE)
            taken += 1
            inner += len_field_size(views[i].len)
        total = len_field_size(inner) if in_stream else inner
        result = PyBytes_FromStringAndSize(NULL, total)
        out = <uint8_t*>PyBytes_AS_STRING(result)
        if in_stream:
            out[0] = 0x12  # ModelStreamInferResponse.infer_response
            out = put_varint(out + 1, inner)
        if name_b:
            out = put_len(out, 0x0A, PyBytes_AS_STRING(name_b), len(name_b))
        if version_b:
            out = put_len(out, 0x12, PyBytes_AS_STRING(version_b), len(version_b))
        if id_b:
            out = put_len(out, 0x1A, PyBytes_AS_STRING(id_b), len(id_b))
        if in_stream:
            memcpy(out, PyBytes_AS_STRING(_FINAL_ENTRY), len(_FINAL_ENTRY))
            out += len(_FINAL_ENTRY)
        for i in range(count):
            out[0] = 0x2A  # outputs
            out = put_varint(out + 1, <Py_ssize_t>tensor_sizes[i])
            chunk = names[i]
            if chunk:
                out = put_len(out, 0x0A, PyBytes_AS_STRING(chunk), len(chunk))
            chunk = dtypes[i]
            if chunk:
                out = put_len(out, 0x12, PyBytes_AS_STRING(chunk), len(chunk))
            shape_size = shape_sizes[i]
            if shape_size:
                out[0] = 0x1A
                out = put_varint(out + 1, shape_size)
                for d in outputs[i][2]:
                    out = put_varint(out, <uint64_t><int64_t>d)
        for i in range(count):
            out = put_len(out, 0x32, <const char*>views[i].buf, views[i].len)
        return result
    finally:
        for i in range(taken):
            PyBuffer_Release(&views[i])
        PyMem_Free(views)


"""Fuzz targets: one function per decoder that a client, or a model config, reaches.

Each target takes the fuzzer's bytes, treats the documented errors of what it drives as the
answer to bad input, and lets anything else propagate: atheris reports it as a crash. Invariants
that must hold for every accepted input (round trips, the scheduler's bookkeeping) raise Finding.

fuzz/run.py imports this module inside atheris.instrument_imports, so that the naiad modules
imported here are instrumented and coverage guides the fuzzer.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import atheris
from google.protobuf.message import DecodeError

from naiad import native
from naiad.config.complete import complete_config
from naiad.config.convert import build_settings
from naiad.config.parse import parse_config_json, parse_config_text
from naiad.config.settings import ModelSettings
from naiad.config.signature import ModelSignature, TensorSignature
from naiad.datatypes import from_wire
from naiad.engine.request import InferOutput, InferRequest, InferResponse
from naiad.engine.validation import admit
from naiad.errors import NaiadError
from naiad.limits import DEFAULT_LIMITS
from naiad.shm.system import SystemSharedMemory
from naiad.transport.infer_codec import decode_request, encode_response
from naiad.transport.shm_tensors import SharedMemoryTensors, placement
from naiad.transport.tensor_codec import to_raw
from naiad.transport.wire_request import read, response_bytes
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import DATATYPES, decode_bytes, encode_bytes


class Finding(AssertionError):
    """An invariant broke for an input the code under test accepted."""


# Open bugs, each reported with a reproducer. Campaigns skip the inputs that hit them, so that a
# known bug does not stop every run; NAIAD_FUZZ_KNOWN=<name>,... (or "all") stops skipping.
KNOWN_ISSUES: dict[str, str] = {}
"""Open bugs whose inputs a campaign skips, by name; empty while none is open. (The five the
first campaigns found are fixed and their inputs are ordinary seeds now.)"""
_UNGUARDED = set(os.environ.get("NAIAD_FUZZ_KNOWN", "").split(","))
_MAX_LEVELS = 1 << 12
_INT64_MAX = 2**63 - 1
_U64 = 2**64 - 1


def _known(issue: str) -> bool:
    """True when inputs that hit `issue` are to be skipped."""
    return issue not in _UNGUARDED and "all" not in _UNGUARDED


def _check(holds: bool, what: str) -> None:
    if not holds:
        raise Finding(what)


# One fixed pair of models: "fuzz" batches (FP32, INT64, BYTES, a reshape, an optional input),
# "flat" does not and takes its config from the ONNX signature alone. The element types are
# onnx.TensorProto's: 1 FLOAT, 2 UINT8, 6 INT32, 7 INT64, 8 STRING, 9 BOOL, 10 FLOAT16.
SIGNATURES = {
    "fuzz": ModelSignature(
        inputs=(
            TensorSignature("x", 1, (-1, 4)),
            TensorSignature("ids", 7, (-1, -1)),
            TensorSignature("text", 8, (-1, 1)),
            TensorSignature("r", 1, (-1, -1, -1)),
        ),
        outputs=(TensorSignature("y", 1, (-1, 2)), TensorSignature("label", 8, (-1, 1))),
        optional_inputs=(TensorSignature("bias", 1, (-1, 4)),),
    ),
    "flat": ModelSignature(
        inputs=(
            TensorSignature("a", 2, (2, 3)),
            TensorSignature("b", 9, (-1,)),
            TensorSignature("h", 10, (3,)),
            TensorSignature("s", 8, (-1, -1)),
        ),
        outputs=(TensorSignature("o", 6, (2, 3)),),
    ),
}
CONFIG_TEXT = """
max_batch_size: 8
input [
  { name: "x" data_type: TYPE_FP32 dims: [4] },
  { name: "ids" data_type: TYPE_INT64 dims: [-1] },
  { name: "text" data_type: TYPE_STRING dims: [1] },
  { name: "r" data_type: TYPE_FP32 dims: [-1, 3] reshape { shape: [2, -1] } },
  { name: "bias" data_type: TYPE_FP32 dims: [4] optional: true }
]
dynamic_batching {
  max_queue_delay_microseconds: 100
  priority_levels: 3
  default_priority_level: 2
  default_queue_policy { max_queue_size: 4 default_timeout_microseconds: 1000 }
  priority_queue_policy { key: 1 value { timeout_action: DELAY max_queue_size: 2 } }
}
"""


def _settings(config: pb.ModelConfig | None, name: str) -> ModelSettings:
    signature = SIGNATURES[name]
    completed = complete_config(config, signature, name=name)
    return build_settings(completed, signature, version=1, model_path=f"/fuzz/{name}/1/model.onnx")


MODELS = {
    "fuzz": _settings(parse_config_text(CONFIG_TEXT, model="fuzz"), "fuzz"),
    "flat": _settings(None, "flat"),
}
_SCHEDULERS = {
    name: native.Scheduler(
        native.scheduler_options(s.batching, s.max_batch_size), native.ManualClock(10**9)
    )
    for name, s in MODELS.items()
}
_task_ids = iter(range(1, 2**63))


def _misfits_reshape(request_inputs: list, settings: ModelSettings) -> bool:
    for tensor in request_inputs:
        spec = settings.input(tensor.name)
        if spec is None or spec.reshape is None or -1 not in spec.reshape:
            continue
        item = tensor.shape[1:] if settings.batches else tensor.shape
        fixed = math.prod(d for d in spec.reshape if d != -1)
        if math.prod(item) % fixed:
            return True
    return False


def _infer(message: pb.ModelInferRequest) -> None:
    """The path of a ModelInferRequest: decode, admission against a model, the native queue,
    and the response codec on what was decoded."""
    try:
        request = decode_request(message)
    except NaiadError:
        return
    for tensor, raw in zip(request.inputs, message.raw_input_contents, strict=False):
        _check(to_raw(tensor.datatype, tensor.data) == raw, f"raw of '{tensor.name}' changed")
    settings = MODELS.get(request.model_name, MODELS["fuzz"])
    try:
        admission = admit(request, settings)
    except NaiadError:
        return
    scheduler = _SCHEDULERS[settings.name]
    levels = max(1, settings.batching.priority_levels)
    task_id = next(_task_ids)
    # As ServedModel.submit queues an admitted request.
    args = (task_id, admission.rows, admission.shape_key, min(admission.priority, levels))
    result = scheduler.enqueue(*args, admission.timeout_us)
    if result is native.EnqueueResult.OK:
        _check(scheduler.cancel(task_id), "an admitted task was not queued")
    outputs = [InferOutput(t.name, t.datatype, t.data) for t in request.inputs]
    answer = encode_response(InferResponse(request.model_name, "1", request.id, outputs))
    _check(len(answer.raw_output_contents) == len(outputs), "one raw output per output")


def grpc_infer_request(data: bytes) -> None:
    """A ModelInferRequest as it arrives on the wire."""
    try:
        message = pb.ModelInferRequest.FromString(data)
    except DecodeError:
        return
    _infer(message)


def _outcome(decode: Callable[[], InferRequest]) -> object:
    """A decode's request as comparable values, or its error's type and words."""
    try:
        request = decode()
    except NaiadError as exc:
        return (type(exc).__name__, str(exc))
    inputs = [
        (t.name, t.datatype.wire, t.shape, t.data.dtype.str, to_raw(t.datatype, t.data))
        for t in request.inputs
    ]
    parameters = {key: (type(v).__name__, v) for key, v in request.parameters.items()}
    identity = (request.model_name, request.model_version, request.id)
    return (identity, inputs, request.requested_outputs, parameters, request.classification)


def _wire_agrees(data: bytes) -> None:
    """The server's reader (the compiled one, protobuf behind it) makes of `data` what protobuf
    alone makes of it; and for what it decoded, the compiled writer writes protobuf's bytes."""
    try:
        message = pb.ModelInferRequest.FromString(data)
    except DecodeError:
        try:
            read(data)
        except DecodeError:
            return
        raise Finding("the compiled reader took bytes protobuf refuses") from None
    fast = read(data).request
    if fast is None:
        return  # the server decodes it with decode_request, as protobuf alone does
    expected = _outcome(lambda: decode_request(message))
    _check(_outcome(lambda: fast) == expected, "the compiled reader differs from protobuf")
    outputs = [InferOutput(t.name, t.datatype, t.data) for t in fast.inputs]
    answer = InferResponse(fast.model_name, fast.model_version, fast.id, outputs)
    _check(
        response_bytes(answer) == encode_response(answer).SerializeToString(),
        "the compiled writer differs from protobuf",
    )


def grpc_infer_wire(data: bytes) -> None:
    """Wire bytes through the server's compiled request reader and response writer, each
    against protobuf: the same request or the same error, the same response bytes."""
    _wire_agrees(data)


_NAMES = ["x", "ids", "text", "r", "bias", "a", "b", "h", "s", "y", "o", ""]
_WIRE_NAMES = [t.wire for t in DATATYPES] + ["BF16", "fp32", ""]
_PARAMETER_KEYS = ["priority", "timeout", "sequence_id", "triton_enable_empty_final_response"]
_DIMS = [-1, 0, 1, 2, 3, 4, 5, 6, 8, 9, 2**31, 2**62, -(2**63)]


def _pick_int(fdp: atheris.FuzzedDataProvider, common: list[int], lo: int, hi: int) -> int:
    if fdp.ConsumeBool():
        return int(fdp.PickValueInList(common))
    return int(fdp.ConsumeIntInRange(lo, hi))


def _fill_contents(
    fdp: atheris.FuzzedDataProvider, tensor: pb.InferInputTensor, raw: bool | None
) -> bytes | None:
    """Gives `tensor` typed contents, or returns its raw contents (`raw` None: either); mostly
    of the right size."""
    row = next((t for t in DATATYPES if t.wire == tensor.datatype), DATATYPES[0])
    count = math.prod(tensor.shape) if all(d >= 0 for d in tensor.shape) else 1
    if count > 1024 or fdp.ConsumeProbability() < 0.15:
        count = fdp.ConsumeIntInRange(0, 8)
    if fdp.ConsumeBool() if raw is None else raw:
        if row.wire == "BYTES":
            return encode_bytes(
                [fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8)) for _ in range(count)]
            )
        if fdp.ConsumeProbability() < 0.9:
            return fdp.ConsumeBytes(count * row.itemsize)
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    field = row.contents or "fp32_contents"
    if fdp.ConsumeProbability() < 0.1:
        field = fdp.PickValueInList(list(pb.InferTensorContents.DESCRIPTOR.fields_by_name))
    values = getattr(tensor.contents, field)
    for _ in range(count):
        if field == "bytes_contents":
            values.append(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8)))
        elif field == "bool_contents":
            values.append(fdp.ConsumeBool())
        elif field in ("fp32_contents", "fp64_contents"):
            values.append(fdp.ConsumeRegularFloat())
        else:
            bits = 64 if "64" in field else 32
            signed = not field.startswith("uint")
            lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
            values.append(_pick_int(fdp, [0, 1, -1 if signed else 2, 255, 256, 70000], lo, hi))
    return None


def _add_model_inputs(
    fdp: atheris.FuzzedDataProvider, message: pb.ModelInferRequest, settings: ModelSettings
) -> None:
    """Inputs that follow the model's specs, mostly: past admission, into the queue."""
    batch = [fdp.PickValueInList([1, 2, 8, 9, 0])] if settings.batches else []
    for spec in settings.inputs:
        if spec.optional and fdp.ConsumeBool():
            continue
        tensor = message.inputs.add(name=spec.name, datatype=spec.datatype.wire)
        if fdp.ConsumeProbability() < 0.1:
            tensor.datatype = fdp.PickValueInList(_WIRE_NAMES)
        dims = [d if d != -1 else fdp.ConsumeIntInRange(0, 5) for d in spec.dims]
        if fdp.ConsumeProbability() < 0.1:
            dims = [_pick_int(fdp, _DIMS, -(2**63), _INT64_MAX) for _ in dims]
        tensor.shape.extend(batch + dims)


def grpc_infer_structured(data: bytes) -> None:
    """A ModelInferRequest built field by field, so that most inputs get past protobuf parsing
    and reach the shape, type and size checks."""
    fdp = atheris.FuzzedDataProvider(data)
    message = pb.ModelInferRequest(
        model_name=fdp.PickValueInList(["fuzz", "flat", "other"]),
        id=fdp.ConsumeUnicodeNoSurrogates(4),
    )
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        key = fdp.PickValueInList([*_PARAMETER_KEYS, "triton_x", fdp.ConsumeUnicodeNoSurrogates(6)])
        param = message.parameters[key]
        which = fdp.ConsumeIntInRange(0, 5)
        if which == 1:
            param.bool_param = fdp.ConsumeBool()
        elif which == 2:
            param.int64_param = _pick_int(fdp, [0, 1, 2, 3, 4, -1], -(2**63), _INT64_MAX)
        elif which == 3:
            param.string_param = fdp.ConsumeUnicodeNoSurrogates(4)
        elif which == 4:
            param.double_param = fdp.ConsumeFloat()
        elif which == 5:
            param.uint64_param = _pick_int(fdp, [0, 1, 2, 3, 2**63], 0, _U64)
    raws: list[bytes | None] = []
    settings = MODELS.get(message.model_name)
    if settings is not None and fdp.ConsumeBool():
        _add_model_inputs(fdp, message, settings)
    for _ in range(fdp.ConsumeIntInRange(0, 1 if message.inputs else 6)):
        tensor = message.inputs.add(
            name=fdp.PickValueInList(_NAMES), datatype=fdp.PickValueInList(_WIRE_NAMES)
        )
        tensor.shape.extend(
            _pick_int(fdp, _DIMS, -(2**63), _INT64_MAX) for _ in range(fdp.ConsumeIntInRange(0, 4))
        )
    # Raw and typed contents in one request are refused: mostly one kind for all inputs.
    raw = fdp.PickValueInList([True, False, None])
    for tensor in message.inputs:
        if fdp.ConsumeProbability() < 0.05:
            tensor.parameters["shared_memory_region"].string_param = "r"
        raws.append(_fill_contents(fdp, tensor, raw))
    if raws and fdp.ConsumeProbability() < 0.9 and any(r is not None for r in raws):
        message.raw_input_contents.extend(r if r is not None else b"" for r in raws)
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        message.outputs.add(name=fdp.PickValueInList(_NAMES))
    _wire_agrees(message.SerializeToString())
    _infer(message)


def bytes_tensor(data: bytes) -> None:
    """decode_bytes of a fuzzed buffer, element count and element cap: ValueError for a
    malformed buffer, OverflowError only for an element over the cap; what decodes re-encodes
    to the same bytes."""
    fdp = atheris.FuzzedDataProvider(data)
    count = _pick_int(fdp, [0, 1, 2, 3, 4, 7, 8, 16, -1, 2**40, 2**62], -(2**63), _INT64_MAX)
    max_length = _pick_int(fdp, [-1, -1, 0, 1, 2, 3, 8], -(2**63), _INT64_MAX)
    raw = fdp.ConsumeBytes(atheris.ALL_REMAINING)
    try:
        out = decode_bytes(raw, count, max_length)
    except ValueError:
        return
    except OverflowError:
        _check(max_length >= 0, "OverflowError without an element cap")
        return
    _check(out.shape == (count,), f"decoded shape {out.shape} for {count} elements")
    _check(all(type(e) is bytes for e in out), "an element is not bytes")
    _check(max_length < 0 or all(len(e) <= max_length for e in out), "an element over the cap")
    _check(encode_bytes(out) == raw, "decode then encode changed the bytes")


def _config(parse: Callable[[str], pb.ModelConfig], data: bytes) -> None:
    try:
        text = data.decode("utf-8")  # as read_config_file reads it
    except UnicodeDecodeError:
        return
    try:
        raw = parse(text)
    except NaiadError:
        return
    try:
        settings = _settings(raw, "fuzz")
    except NaiadError:
        return
    # Validated settings must make options the native scheduler accepts.
    options = native.scheduler_options(settings.batching, settings.max_batch_size)
    native.Scheduler(options, native.ManualClock()).close()


def config_text(data: bytes) -> None:
    """config.pbtxt text: parse, completion from a fixed ONNX signature, validation, conversion
    to settings and to native scheduler options."""
    _config(lambda text: parse_config_text(text, model="fuzz"), data)


def config_json(data: bytes) -> None:
    """The JSON ModelConfig of a RepositoryModelLoad request, through the same load path."""
    _config(lambda text: parse_config_json(text, model="fuzz"), data)


# naiad.native re-exports neither QueuePolicy nor TimeoutAction; options need both.
_binding = native._native
_TIMEOUT_ACTIONS = list(_binding.TimeoutAction.__members__.values())
_FAILURES = list(native.FailureReason.__members__.values())
_U32 = [0, 1, 2, 3, 4, 8, 64, 2**32 - 1]


def _options(fdp: atheris.FuzzedDataProvider) -> native.SchedulerOptions | None:
    levels = _pick_int(fdp, [0, 1, 2, 3, 8], -1, 2**32)
    policies = []
    if fdp.ConsumeBool():
        # Bounded by the harness, not the binding: building 2**32 policies in Python is the
        # harness's own hang. The binding refuses more than kMaxPriorityLevels levels.
        count = fdp.PickValueInList([levels, max(levels - 1, 0), levels + 1, 1])
        for _ in range(min(count, _MAX_LEVELS + 2)):
            policies.append(
                _binding.QueuePolicy(
                    timeout_action=fdp.PickValueInList(_TIMEOUT_ACTIONS),
                    default_timeout_us=_pick_int(fdp, [0, 1, 50, 10**6], -1, 2**63),
                    allow_timeout_override=fdp.ConsumeBool(),
                    max_queue_size=_pick_int(fdp, [0, 1, 2, 5], -1, 2**32),
                )
            )
    return native.SchedulerOptions(
        max_batch_size=_pick_int(fdp, [0, 1, 2, 4, 8, 64], -1, 2**32),
        batching_enabled=fdp.ConsumeBool(),
        max_queue_delay_us=_pick_int(fdp, [0, 1, 100, 10**4], -(2**63), 2**63),
        preferred_batch_sizes=[
            _pick_int(fdp, _U32, -1, 2**32) for _ in range(fdp.ConsumeIntInRange(0, 3))
        ],
        preserve_ordering=fdp.ConsumeBool(),
        priority_levels=levels,
        default_priority_level=_pick_int(fdp, [0, 1, 2, 3, 9], -1, 2**32),
        queue_policies=policies,
    )


def native_scheduler(data: bytes) -> None:
    """The native scheduler through its binding: fuzzed options (in and out of range), then
    fuzzed calls on a ManualClock; every enqueued task must end exactly once."""
    fdp = atheris.FuzzedDataProvider(data)
    try:
        options = _options(fdp)
        if options is None:
            return
        clock = native.ManualClock(_pick_int(fdp, [0, 10**9], 0, 2**62))  # -1 means never
        scheduler = native.Scheduler(options, clock)
    except (ValueError, TypeError):  # the binding's documented errors
        return
    max_rows, batching = options.max_batch_size, options.batching_enabled
    queued: dict[int, int] = {}  # task id -> shape key
    in_flight: set[int] = set()
    ended = enqueued = 0

    def take(batch: native.Batch | None) -> None:
        nonlocal ended
        if batch is None:
            return
        ids = batch.task_ids
        _check(0 < batch.rows <= max_rows and len(ids) > 0, f"bad batch {batch!r}")
        _check(batching or len(ids) == 1, "a batch of several tasks with batching disabled")
        for task_id in ids:
            _check(queued.pop(task_id, None) == batch.shape_key, f"task {task_id} not queued")
        in_flight.add(batch.batch_id)
        ended += len(ids)

    for _ in range(64):
        if not fdp.remaining_bytes():
            break
        op = fdp.ConsumeIntInRange(0, 8)
        try:
            if op == 0:
                task_id = _pick_int(fdp, [1, 2, 3, 4, 5], -1, 2**64)
                key = _pick_int(fdp, [0, 1, _U64], 0, _U64)
                result = scheduler.enqueue(
                    task_id,
                    _pick_int(fdp, [1, 2, 3, 8], -1, 2**32),
                    key,
                    _pick_int(fdp, [0, 1, 2, 3], -1, 2**32),
                    _pick_int(fdp, [0, 1, 100, 10**6], -1, 2**63),
                )
                if result is native.EnqueueResult.OK:
                    queued[task_id] = key
                    enqueued += 1
            elif op == 1:
                task_id = _pick_int(fdp, [1, 2, 3, 4, 5], 0, _U64)
                if scheduler.cancel(task_id):
                    _check(queued.pop(task_id, None) is not None, f"cancelled unknown {task_id}")
                    ended += 1
            elif op == 2:
                take(scheduler.try_next_batch())
            elif op == 3:
                batch_id = fdp.PickValueInList([*in_flight, 0, _U64])
                durations = [_pick_int(fdp, [0, 1, 10**6], -1, 2**62) for _ in range(3)]
                scheduler.finish_batch(batch_id, fdp.ConsumeBool(), *durations)
                in_flight.discard(batch_id)
            elif op == 4:
                clock.advance_us(_pick_int(fdp, [1, 50, 100, 1000, 10**6], 0, 10**9))
            elif op == 5:
                wakeup = scheduler.next_wakeup_ns()
                _check(wakeup == -1 or wakeup >= clock.now_ns(), f"next_wakeup_ns {wakeup}")
                if clock.now_ns() < wakeup < 2**62:  # a saturated deadline is INT64_MAX
                    clock.set_ns(wakeup)
            elif op == 6:
                scheduler.record_failure(
                    fdp.PickValueInList(_FAILURES), fdp.ConsumeIntInRange(0, 9)
                )
            elif op == 7:
                stats = scheduler.stats()
                counts = {stats.compute_input_count, stats.compute_infer_count}
                _check(counts == {stats.compute_output_count}, "compute counts differ")
                _check(sum(stats.pending_by_level) == stats.num_pending, "pending by level")
            else:
                scheduler.close()
        except (ValueError, TypeError):
            pass
    scheduler.close()
    for _ in range(enqueued + 1):
        batch = scheduler.try_next_batch()
        if batch is None:
            break
        take(batch)
    _check(scheduler.num_pending == 0, "tasks left after a closed scheduler drained")
    for _ in range(enqueued + 1):
        expired = scheduler.wait_expired()  # returns at once: closed and drained
        if not expired:
            break
        ended += len(expired)
    _check(ended == enqueued, f"{enqueued} tasks enqueued, {ended} ended")
    for batch_id in in_flight:
        scheduler.finish_batch(batch_id, True)
    _check(scheduler.stats().num_in_flight == 0, "batches still in flight")


# One fixed directory, rewritten by each run: atheris ends a run with os._exit, so no clean-up
# would run for a fresh one.
_SHM_ROOT = Path(tempfile.gettempdir()) / f"naiad-fuzz-shm-{os.getuid()}"
_SHM_ROOT.mkdir(exist_ok=True)
(_SHM_ROOT / "obj").write_bytes(bytes(range(256)) * 16)  # a 4 KiB "shared memory object"
_SHM_SIZES = [0, 1, 3, 4, 8, 64, 4095, 4096, 4097, _INT64_MAX, -1]


def shared_memory(data: bytes) -> None:
    """A region registered at a fuzzed offset and size, then requests placing inputs and
    outputs at fuzzed offsets and sizes in it: every range accepted lies inside its region."""
    fdp = atheris.FuzzedDataProvider(data)
    regions = SystemSharedMemory(_SHM_ROOT)
    tensors = SharedMemoryTensors(regions)
    try:
        regions.register(
            "r",
            fdp.PickValueInList(["obj", "/obj", "../obj", "", "missing", "/"]),
            _pick_int(fdp, _SHM_SIZES, -(2**63), _INT64_MAX),
            _pick_int(fdp, _SHM_SIZES, -(2**63), _INT64_MAX),
        )
    except NaiadError:
        return
    try:
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            offset = _pick_int(fdp, _SHM_SIZES, -(2**63), _INT64_MAX)
            size = _pick_int(fdp, _SHM_SIZES, -(2**63), _INT64_MAX)
            region = fdp.PickValueInList(["r", "r", "other"])
            parameters = {"shared_memory_region": region, "shared_memory_byte_size": size}
            if fdp.ConsumeBool():
                parameters["shared_memory_offset"] = offset
            count = fdp.ConsumeIntInRange(0, 1100)
            wire = fdp.PickValueInList(["FP32", "INT8", "FP64", "BYTES"])
            dtype = from_wire(wire)
            try:
                where = placement(parameters, "input 'x'")
                assert where is not None
                array = tensors.read_input("x", dtype, (count,), where, DEFAULT_LIMITS)
                _check(array.shape == (count,), "input read with the wrong shape")
                status = regions.status("r")[0]
                _check(where.offset + where.byte_size <= status.byte_size, "range past region")
                output = InferOutput("y", dtype, array)
                tensors.write_outputs(InferResponse("m", "1", "", [output]), {"y": where})
            except NaiadError:
                continue
    finally:
        regions.unregister()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "grpc_infer_request": grpc_infer_request,
    "grpc_infer_structured": grpc_infer_structured,
    "grpc_infer_wire": grpc_infer_wire,
    "bytes_tensor": bytes_tensor,
    "config_text": config_text,
    "config_json": config_json,
    "native_scheduler": native_scheduler,
    "shared_memory": shared_memory,
}


def selftest_crash(data: bytes) -> None:
    """Fails on inputs starting with b"crash": tests/fuzz checks that the harness reports it."""
    if data.startswith(b"crash"):
        raise Finding("selftest_crash was given a crashing input")


def selftest_hang(data: bytes) -> None:
    """Hangs on inputs starting with b"hang", for the harness's hang detection."""
    if data.startswith(b"hang"):
        time.sleep(60)


SELFTESTS: dict[str, Callable[[bytes], None]] = {
    "selftest_crash": selftest_crash,
    "selftest_hang": selftest_hang,
}

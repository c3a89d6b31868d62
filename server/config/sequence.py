"""sequence_batching: completed as Triton completes it, checked against the ONNX model, converted.

Control inputs and state tensors are ONNX inputs (and, for states, outputs) that the server
feeds itself, so they never appear in the config's input/output lists and auto-completion
leaves them out (`hidden_tensors`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from naiad.config.paths import ModelFiles, confined
from naiad.config.problems import Problems, show, type_name
from naiad.config.sequence_settings import (
    DEFAULT_MAX_BACKLOG_SEQUENCES,
    DEFAULT_MAX_SEQUENCE_IDLE_US,
    ControlInput,
    ControlKind,
    SequencePolicy,
    SequenceStrategy,
    StateSpec,
)
from naiad.config.signature import ModelSignature, TensorSignature
from naiad.datatypes import BY_CONFIG, DataType
from naiad_protocol.model_config_pb2 import ModelConfig, ModelSequenceBatching

INITIAL_STATE_DIR = "initial_state"
"""Where initial_state data_file names a file, under the model directory (as in Triton)."""
BACKLOG_PARAMETER = "max_sequence_backlog"
_CORRID_TYPES = ("TYPE_UINT64", "TYPE_INT64", "TYPE_UINT32", "TYPE_INT32", "TYPE_STRING")
_FLAG_FIELDS = (
    ("int32_false_true", "TYPE_INT32"),
    ("fp32_false_true", "TYPE_FP32"),
    ("bool_false_true", "TYPE_BOOL"),
)


def hidden_tensors(config: ModelConfig) -> tuple[set[str], set[str]]:
    """(inputs, outputs) the sequence batcher feeds and keeps; empty for other models."""
    if config.WhichOneof("scheduling_choice") != "sequence_batching":
        return set(), set()
    seq = config.sequence_batching
    inputs = {c.name for c in seq.control_input} | {s.input_name for s in seq.state}
    return inputs, {s.output_name for s in seq.state}


def complete_sequence_batching(config: ModelConfig) -> None:
    """Fills what Triton fills: the idle timeout, the direct strategy, oldest's candidates."""
    if config.WhichOneof("scheduling_choice") != "sequence_batching":
        return
    seq = config.sequence_batching
    if seq.max_sequence_idle_microseconds == 0:
        seq.max_sequence_idle_microseconds = DEFAULT_MAX_SEQUENCE_IDLE_US
    if seq.WhichOneof("strategy_choice") is None:
        seq.direct.SetInParent()
    if seq.WhichOneof("strategy_choice") == "oldest" and seq.oldest.max_candidate_sequences == 0:
        seq.oldest.max_candidate_sequences = max(1, config.max_batch_size)


def sequence_policy(
    config: ModelConfig, signature: ModelSignature, files: ModelFiles, problems: Problems
) -> SequencePolicy | None:
    """The policy of a completed config's sequence_batching; None when it has none."""
    if config.WhichOneof("scheduling_choice") != "sequence_batching":
        return None
    seq = config.sequence_batching
    if seq.iterative_sequence:
        problems.add("sequence_batching iterative_sequence is not supported")
    listed_in = {t.name for t in config.input}
    listed_out = {t.name for t in config.output}
    controls = tuple(_controls(seq, signature, listed_in, problems))
    states = tuple(_states(config, signature, files, listed_in, listed_out, problems))
    names = [c.name for c in controls] + [s.input_name for s in states]
    for name in {n for n in names if names.count(n) > 1}:
        problems.add(f"sequence_batching feeds input '{name}' twice")
    corrid = next((c for c in controls if c.kind is ControlKind.CORRID), None)
    strategy = SequenceStrategy(seq.WhichOneof("strategy_choice") or "direct")
    policy = SequencePolicy(
        strategy=strategy,
        max_sequence_idle_us=seq.max_sequence_idle_microseconds or DEFAULT_MAX_SEQUENCE_IDLE_US,
        controls=controls,
        states=states,
        string_ids=corrid is not None and corrid.datatype.wire == "BYTES",
        max_backlog_sequences=_backlog(config, problems),
    )
    if strategy is SequenceStrategy.DIRECT:
        utilization = seq.direct.minimum_slot_utilization
        if not 0.0 <= utilization <= 1.0:
            problems.add(
                f"sequence_batching direct minimum_slot_utilization {utilization} "
                "must be within 0..1"
            )
        return replace(
            policy,
            max_queue_delay_us=seq.direct.max_queue_delay_microseconds,
            minimum_slot_utilization=min(max(utilization, 0.0), 1.0),
        )
    oldest = seq.oldest
    limit = max(1, config.max_batch_size)
    if oldest.max_candidate_sequences < 1:
        problems.add("sequence_batching oldest max_candidate_sequences must be >= 1")
    for size in oldest.preferred_batch_size:
        if not 1 <= size <= limit:
            problems.add(
                f"sequence_batching oldest preferred_batch_size {size} must be within "
                f"1..{limit} (max_batch_size)"
            )
    return replace(
        policy,
        max_queue_delay_us=oldest.max_queue_delay_microseconds,
        max_candidate_sequences=max(1, oldest.max_candidate_sequences),
        preferred_batch_sizes=tuple(s for s in oldest.preferred_batch_size if 1 <= s <= limit),
    )


def _backlog(config: ModelConfig, problems: Problems) -> int:
    if BACKLOG_PARAMETER not in config.parameters:
        return DEFAULT_MAX_BACKLOG_SEQUENCES
    text = config.parameters[BACKLOG_PARAMETER].string_value
    if not text.isdigit() or not 0 <= int(text) < 2**32:
        problems.add(f"parameter {BACKLOG_PARAMETER} must be a non-negative integer, not '{text}'")
        return DEFAULT_MAX_BACKLOG_SEQUENCES
    return int(text)


def _controls(
    seq: ModelSequenceBatching,
    signature: ModelSignature,
    listed: set[str],
    problems: Problems,
) -> list[ControlInput]:
    out: list[ControlInput] = []
    seen: set[ControlKind] = set()
    for control_input in seq.control_input:
        name = control_input.name
        where = f"sequence_batching control_input '{name}'"
        if len(control_input.control) != 1:
            problems.add(f"{where} must hold exactly one control")
            continue
        control = control_input.control[0]
        kind = ControlKind(control.kind)
        if kind in seen:
            problems.add(f"sequence_batching has more than one CONTROL_SEQUENCE_{kind.name}")
            continue
        seen.add(kind)
        sig = signature.input(name)
        if problem := _hidden_problem(where, name, sig, listed, "input"):
            problems.add(problem)
            continue
        assert sig is not None
        parsed = _control(where, kind, control, problems)
        if parsed is None:
            continue
        datatype, false_true = parsed
        if sig.datatype is not None and sig.datatype != datatype:
            problems.add(
                f"{where} is {datatype.wire} but the ONNX model declares {sig.datatype.wire}"
            )
            continue
        out.append(ControlInput(name, kind, datatype, false_true))
    return out


def _control(
    where: str, kind: ControlKind, control: ModelSequenceBatching.Control, problems: Problems
) -> tuple[DataType, tuple[int | float | bool, int | float | bool] | None] | None:
    given = [(field, type_) for field, type_ in _FLAG_FIELDS if len(getattr(control, field))]
    if kind is ControlKind.CORRID:
        name = type_name(control.data_type)
        if given or name not in _CORRID_TYPES:
            problems.add(
                f"{where}: CONTROL_SEQUENCE_CORRID needs data_type one of "
                f"{', '.join(_CORRID_TYPES)} and no false/true values"
            )
            return None
        return BY_CONFIG[name], None
    if len(given) != 1 or len(getattr(control, given[0][0])) != 2:
        problems.add(
            f"{where}: CONTROL_SEQUENCE_{kind.name} needs exactly one of "
            "int32_false_true, fp32_false_true, bool_false_true, with 2 values"
        )
        return None
    field, type_ = given[0]
    false, true = getattr(control, field)
    return BY_CONFIG[type_], (false, true)


def _hidden_problem(
    where: str, name: str, sig: TensorSignature | None, listed: set[str], kind: str
) -> str | None:
    if sig is None:
        return f"{where}: '{name}' is not an {kind} of the ONNX model"
    if name in listed:
        return f"{where}: '{name}' is fed by the server and must not be listed as a model {kind}"
    return None


def _states(
    config: ModelConfig,
    signature: ModelSignature,
    files: ModelFiles,
    listed_in: set[str],
    listed_out: set[str],
    problems: Problems,
) -> list[StateSpec]:
    out: list[StateSpec] = []
    for state in config.sequence_batching.state:
        where = f"sequence_batching state '{state.input_name}'"
        datatype = BY_CONFIG.get(type_name(state.data_type))
        problem = _hidden_problem(
            where, state.input_name, signature.input(state.input_name), listed_in, "input"
        ) or _hidden_problem(
            where, state.output_name, signature.output(state.output_name), listed_out, "output"
        )
        if problem is None and (datatype is None or datatype.wire == "BYTES"):
            problem = f"{where}: data_type {type_name(state.data_type)} is not supported"
        if problem is None and (not state.dims or any(d < 1 for d in state.dims)):
            problem = f"{where}: dims {show(state.dims)} must be given, each >= 1"
        if problem is None:
            assert datatype is not None
            problem = _state_shape_problem(config, where, state, datatype, signature)
        if problem is not None:
            problems.add(problem)
            continue
        assert datatype is not None
        initial = _initial_file(where, state, files, problems)
        out.append(
            StateSpec(state.input_name, state.output_name, datatype, tuple(state.dims), initial)
        )
    return out


def _state_shape_problem(
    config: ModelConfig,
    where: str,
    state: ModelSequenceBatching.State,
    datatype: DataType,
    signature: ModelSignature,
) -> str | None:
    expected = ([-1] if config.max_batch_size > 0 else []) + list(state.dims)
    for sig in (signature.input(state.input_name), signature.output(state.output_name)):
        assert sig is not None
        if sig.datatype is not None and sig.datatype != datatype:
            return f"{where}: '{sig.name}' is {sig.datatype.wire} in the ONNX model"
        if sig.shape is not None and (
            len(sig.shape) != len(expected)
            or any(s != -1 and e != -1 and s != e for s, e in zip(sig.shape, expected, strict=True))
        ):
            return (
                f"{where}: '{sig.name}' has ONNX shape {show(sig.shape)}, the state needs "
                f"{show(expected)}"
            )
    return None


def _initial_file(
    where: str, state: ModelSequenceBatching.State, files: ModelFiles, problems: Problems
) -> Path | None:
    if len(state.initial_state) > 1:
        problems.add(f"{where}: at most one initial_state is supported")
        return None
    if not state.initial_state:
        return None
    initial = state.initial_state[0]
    if list(initial.dims) != list(state.dims) or initial.data_type != state.data_type:
        problems.add(f"{where}: initial_state data_type and dims must equal the state's")
        return None
    if initial.WhichOneof("state_data") != "data_file":
        return None
    path = confined(
        initial.data_file,
        base=files.model_dir / INITIAL_STATE_DIR,
        root=files.root,
        what=f"{where} initial_state data_file",
        place=f"the model's {INITIAL_STATE_DIR}/ directory",
        problems=problems,
    )
    if path is None:
        return None
    if not path.is_file():
        problems.add(f"{where}: initial_state data_file '{initial.data_file}' does not exist")
        return None
    datatype = BY_CONFIG[type_name(state.data_type)]
    expected = datatype.itemsize * _count(state.dims)
    if path.stat().st_size != expected:
        problems.add(
            f"{where}: initial_state data_file '{initial.data_file}' holds "
            f"{path.stat().st_size} bytes, the state needs {expected}"
        )
        return None
    return path


def _count(dims: object) -> int:
    count = 1
    for d in dims:  # type: ignore[attr-defined]
        count *= int(d)
    return count

"""sequence_batching configs: Triton's completions, the policy they convert to, and one clear
problem per broken rule, checked against the accumulator and CORRID models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from onnx import TensorProto
from sequence_models import accumulator, accumulator_config, corrid, corrid_config

from naiad.config.sequence_settings import ControlKind, SequenceStrategy
from naiad.config.settings import ModelSettings
from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import ModelConfig

Build = Callable[..., ModelSettings]
Complete = Callable[..., ModelConfig]


def u64(path: Path) -> Path:
    return corrid(path, TensorProto.UINT64)


def test_triton_completions_and_hidden_tensors(complete: Complete) -> None:
    config = complete(u64, corrid_config("TYPE_UINT64"))
    seq = config.sequence_batching
    assert seq.max_sequence_idle_microseconds == 1_000_000
    assert seq.WhichOneof("strategy_choice") == "direct"
    # The server feeds CORRID: auto-completion lists only what clients send and get.
    assert [t.name for t in config.input] == ["INPUT"]
    assert [t.name for t in config.output] == ["OUTPUT", "CORRID_OUT"]
    oldest = complete(accumulator, accumulator_config("oldest { }", max_batch_size=3))
    assert oldest.sequence_batching.oldest.max_candidate_sequences == 3


def test_the_policy_of_an_accumulator(build: Build) -> None:
    text = accumulator_config(
        "oldest { max_candidate_sequences: 6 preferred_batch_size: [ 2 ]"
        " max_queue_delay_microseconds: 300 }",
        extra="max_sequence_idle_microseconds: 5000",
    )
    policy = build(accumulator, text).sequence
    assert policy is not None
    assert policy.strategy is SequenceStrategy.OLDEST
    assert (policy.max_candidate_sequences, policy.preferred_batch_sizes) == (6, (2,))
    assert (policy.max_queue_delay_us, policy.max_sequence_idle_us) == (300, 5000)
    assert [(c.name, c.kind, c.false_true) for c in policy.controls] == [
        ("START", ControlKind.START, (0, 1)),
        ("END", ControlKind.END, (False, True)),
        ("READY", ControlKind.READY, (0.0, 1.0)),
    ]
    (state,) = policy.states
    assert (state.input_name, state.output_name, state.dims) == ("ACC_IN", "ACC_OUT", (1,))
    assert not policy.string_ids


def test_string_corrid_asks_for_string_ids(build: Build) -> None:
    policy = build(lambda p: corrid(p, TensorProto.STRING), corrid_config("TYPE_STRING")).sequence
    assert policy is not None and policy.string_ids


def test_initial_state_from_a_data_file(build: Build, tmp_path: Path) -> None:
    (tmp_path / "m" / "initial_state").mkdir(parents=True)
    (tmp_path / "m" / "initial_state" / "acc.bin").write_bytes(b"\0\0\x80\x3f")  # 1.0f
    text = accumulator_config("direct { }").replace("zero_data: true", 'data_file: "acc.bin"')
    policy = build(accumulator, text).sequence
    assert policy is not None
    assert policy.states[0].initial_file == tmp_path / "m" / "initial_state" / "acc.bin"


BROKEN = {
    "two kinds in one control": (
        accumulator_config("direct { }").replace(
            "int32_false_true: [ 0, 1 ] }",
            "int32_false_true: [ 0, 1 ] }, { kind: CONTROL_SEQUENCE_READY"
            " int32_false_true: [0, 1] }",
        ),
        "sequence_batching control_input 'START' must hold exactly one control",
    ),
    "flag without values": (
        accumulator_config("direct { }").replace("int32_false_true: [ 0, 1 ]", ""),
        "CONTROL_SEQUENCE_START needs exactly one of int32_false_true",
    ),
    "flag of the wrong type": (
        accumulator_config("direct { }").replace(
            "int32_false_true: [ 0, 1 ]", "fp32_false_true: [ 0, 1 ]"
        ),
        "sequence_batching control_input 'START' is FP32 but the ONNX model declares INT32",
    ),
    "control listed as an input": (
        accumulator_config("direct { }").replace(
            "dims: [ 1 ] } ]",
            'dims: [ 1 ] }, { name: "START" data_type: TYPE_INT32 dims: [ 1 ] } ]',
            1,
        ),
        "'START' is fed by the server and must not be listed as a model input",
    ),
    "state of the wrong shape": (
        accumulator_config("direct { }").replace(
            "TYPE_FP32 dims: [ 1 ]\n", "TYPE_FP32 dims: [ 2 ]\n"
        ),
        "state 'ACC_IN': 'ACC_IN' has ONNX shape [-1, 1], the state needs [-1, 2]",
    ),
    "state output unknown": (
        accumulator_config("direct { }").replace('output_name: "ACC_OUT"', 'output_name: "NOPE"'),
        "'NOPE' is not an output of the ONNX model",
    ),
    "preferred size above max": (
        accumulator_config("oldest { preferred_batch_size: [ 9 ] }"),
        "preferred_batch_size 9 must be within 1..4",
    ),
    "missing data file": (
        accumulator_config("direct { }").replace("zero_data: true", 'data_file: "none.bin"'),
        "initial_state data_file 'none.bin' does not exist",
    ),
    "iterative": (
        accumulator_config("direct { }", extra="iterative_sequence: true"),
        "sequence_batching iterative_sequence is not supported",
    ),
    "bad backlog": (
        accumulator_config("direct { }")
        + 'parameters { key: "max_sequence_backlog" value { string_value: "x" } }',
        "parameter max_sequence_backlog must be a non-negative integer, not 'x'",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_sequence_config_names_its_problem(build: Build, case: str) -> None:
    text, problem = BROKEN[case]
    with pytest.raises(ModelLoadError) as caught:
        build(accumulator, text)
    assert problem in str(caught.value)


def test_corrid_of_an_unsupported_type(build: Build) -> None:
    with pytest.raises(ModelLoadError, match="CONTROL_SEQUENCE_CORRID needs data_type one of"):
        build(lambda p: corrid(p, TensorProto.FLOAT), corrid_config("TYPE_FP32"))

"""Typed settings of a stateful model's sequence_batching block (built by config/sequence.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from naiad.datatypes import DataType

DEFAULT_MAX_SEQUENCE_IDLE_US = 1_000_000
"""Triton's max_sequence_idle_microseconds when the config leaves it 0."""
DEFAULT_MAX_BACKLOG_SEQUENCES = 1024
"""New sequences that may wait for a slot; the config parameter `max_sequence_backlog` sets it."""


class SequenceStrategy(enum.Enum):
    DIRECT = "direct"
    """Each sequence owns a batch slot; slot i is row i of every batch of its instance."""
    OLDEST = "oldest"
    """Batches are formed from the next requests of the oldest candidate sequences."""


class ControlKind(enum.Enum):
    """ModelSequenceBatching.Control.Kind, same numbers."""

    START = 0
    READY = 1
    END = 2
    CORRID = 3


@dataclass(frozen=True)
class ControlInput:
    """A model input the server fills with one control signal, per batch row."""

    name: str
    """The ONNX input's name; clients never send it."""
    kind: ControlKind
    """Which signal it carries."""
    datatype: DataType
    """Its element type: INT32/FP32/BOOL for the flags, the CORRID data_type for CORRID."""
    false_true: tuple[int | float | bool, int | float | bool] | None
    """The (false, true) values of a flag; None for CORRID."""


@dataclass(frozen=True)
class StateSpec:
    """An implicit state: fed as `input_name`, read back from `output_name` after each run."""

    input_name: str
    """The ONNX input the state is fed to."""
    output_name: str
    """The ONNX output its next value comes from."""
    datatype: DataType
    """Its element type (never BYTES)."""
    dims: tuple[int, ...]
    """Shape of one sequence's state (without the batch dimension); every dim >= 1."""
    initial_file: Path | None = None
    """initial_state data_file (<model dir>/initial_state/<file>, raw row-major values); None:
    zeros, as initial_state zero_data or no initial_state gives."""


@dataclass(frozen=True)
class SequencePolicy:
    """How the sequence batcher of a stateful model forms batches and keeps state."""

    strategy: SequenceStrategy = SequenceStrategy.DIRECT
    """direct or oldest."""
    max_sequence_idle_us: int = DEFAULT_MAX_SEQUENCE_IDLE_US
    """A sequence without a request for this long loses its slot and state."""
    max_queue_delay_us: int = 0
    """How long the oldest ready request may wait for a fuller batch."""
    minimum_slot_utilization: float = 0.0
    """direct: the share of slots with a request that closes a batch before the delay; 0: none."""
    max_candidate_sequences: int = 1
    """oldest: sequences each instance batches from (its slots)."""
    preferred_batch_sizes: tuple[int, ...] = ()
    """oldest: the largest one closes a batch early."""
    controls: tuple[ControlInput, ...] = ()
    """Inputs the server fills with START/READY/END/CORRID."""
    states: tuple[StateSpec, ...] = ()
    """Implicit states kept per sequence."""
    string_ids: bool = False
    """The CORRID control is TYPE_STRING: sequence ids must be strings (else they must be
    integers when a CORRID control exists; either kind without one)."""
    max_backlog_sequences: int = DEFAULT_MAX_BACKLOG_SEQUENCES
    """New sequences waiting for a free slot; beyond it a START is refused (UNAVAILABLE)."""

    def control(self, kind: ControlKind) -> ControlInput | None:
        for control in self.controls:
            if control.kind is kind:
                return control
        return None

    @property
    def hidden_inputs(self) -> frozenset[str]:
        """ONNX inputs the server fills itself (controls and states)."""
        return frozenset(c.name for c in self.controls) | {s.input_name for s in self.states}

    @property
    def hidden_outputs(self) -> frozenset[str]:
        """ONNX outputs the server keeps (states)."""
        return frozenset(s.output_name for s in self.states)

"""The tensors of one sequence batch: request inputs row by row, control inputs, implicit state.

Row r of a batch belongs to one slot of the instance (sequence_batcher.h); an empty row (direct
strategy only) gets zeros for every input, READY false and the zero state. Each instance keeps
the state of its slots in a SlotStates, touched only by that instance's thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from naiad.config.sequence_settings import ControlInput, ControlKind, SequencePolicy, StateSpec
from naiad.engine.pending import Pending


class SlotStates:
    """slot -> state name -> that slot's current value (one row, batch dimension included when
    the model batches). Owned by one instance's thread."""

    def __init__(self, policy: SequencePolicy, batches: bool) -> None:
        self._policy = policy
        self._batches = batches
        self._values: dict[int, dict[str, np.ndarray]] = {}
        self._initial = {s.input_name: _initial(s, batches) for s in policy.states}

    def value(self, slot: int, state: StateSpec, start: bool) -> np.ndarray:
        """The state fed to `slot`'s row: the initial value on START or when none is kept."""
        kept = None if start else self._values.get(slot, {}).get(state.input_name)
        return self._initial[state.input_name] if kept is None else kept

    def keep(self, slot: int, state: StateSpec, value: np.ndarray) -> None:
        self._values.setdefault(slot, {})[state.input_name] = value

    def free(self, slot: int) -> None:
        self._values.pop(slot, None)

    def __len__(self) -> int:
        return len(self._values)


def model_inputs(
    rows: Sequence[tuple[Pending | None, int, bool, bool]],
    sequence_ids: Sequence[int | str | None],
    policy: SequencePolicy,
    states: SlotStates,
    batches: bool,
) -> dict[str, np.ndarray]:
    """Every ONNX input of the batch. `rows`: (task or None, slot, start, end) in batch order;
    `sequence_ids`: each row's id (None for an empty row)."""
    real = next(task for task, _, _, _ in rows if task is not None)
    inputs: dict[str, np.ndarray] = {}
    for name, first in real.admission.inputs.items():
        if not batches:
            inputs[name] = first
            continue
        blank = _blank_like(first)
        parts = [blank if task is None else task.admission.inputs[name] for task, _, _, _ in rows]
        inputs[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
    for control in policy.controls:
        inputs[control.name] = _control_tensor(control, rows, sequence_ids, batches)
    for state in policy.states:
        parts = [states.value(slot, state, start or task is None) for task, slot, start, _ in rows]
        inputs[state.input_name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return inputs


def _blank_like(array: np.ndarray) -> np.ndarray:
    if array.dtype == object:
        return np.full(array.shape, b"", dtype=object)
    return np.zeros_like(array)


def _control_tensor(
    control: ControlInput,
    rows: Sequence[tuple[Pending | None, int, bool, bool]],
    sequence_ids: Sequence[int | str | None],
    batches: bool,
) -> np.ndarray:
    dtype = control.datatype.numpy
    if control.kind is ControlKind.CORRID:
        if control.datatype.wire == "BYTES":
            values = np.array(
                [b"" if i is None else str(i).encode() for i in sequence_ids], dtype=object
            )
        else:
            ids = [0 if i is None else int(i) for i in sequence_ids]
            values = np.array(ids, dtype=np.uint64).astype(dtype)
    else:
        assert control.false_true is not None
        false, true = control.false_true
        flags = [_flag(control.kind, task, start, end) for task, _, start, end in rows]
        values = np.array([true if f else false for f in flags], dtype=dtype)
    return values.reshape((len(rows), 1) if batches else (1,))


def _flag(kind: ControlKind, task: Pending | None, start: bool, end: bool) -> bool:
    if task is None:
        return False
    if kind is ControlKind.START:
        return start
    if kind is ControlKind.END:
        return end
    return True  # READY: the row holds a request


def _initial(state: StateSpec, batches: bool) -> np.ndarray:
    shape = ((1,) if batches else ()) + state.dims
    if state.initial_file is None:
        return np.zeros(shape, dtype=state.datatype.numpy)
    data = np.fromfile(state.initial_file, dtype=state.datatype.numpy)
    return data.reshape(shape)

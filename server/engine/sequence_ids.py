"""A request's place in its sequence: its `sequence_id`, `sequence_start`, `sequence_end`."""

from __future__ import annotations

from dataclasses import dataclass

from naiad.config.sequence_settings import ControlKind, SequencePolicy
from naiad.engine.request import InferRequest, ParameterValue
from naiad.errors import InvalidArgument

_U64_LIMIT = 2**64


@dataclass(frozen=True, slots=True)
class SequenceFlags:
    """What a request says about its sequence."""

    sequence_id: int | str
    """Its correlation id: an integer in 1..2**64-1 or a non-empty string."""
    start: bool
    end: bool

    @property
    def key(self) -> str:
        """The batcher's key: integer and string ids never name the same sequence."""
        kind = "s" if isinstance(self.sequence_id, str) else "u"
        return f"{kind}{self.sequence_id}"


def sequence_flags(request: InferRequest, model: str, policy: SequencePolicy) -> SequenceFlags:
    """The request's flags; raises InvalidArgument for a missing, zero, empty, negative or
    wrongly typed id, or flags that are not booleans."""
    params = request.parameters
    sequence_id = params.get("sequence_id")
    if sequence_id is None or sequence_id == 0 or sequence_id == "":
        raise InvalidArgument(
            f"inference request to model '{model}' must specify a non-zero or non-empty"
            " correlation ID"
        )
    if isinstance(sequence_id, bool) or not isinstance(sequence_id, int | str):
        raise InvalidArgument(
            f"parameter 'sequence_id' must be an unsigned integer or a string, got {sequence_id!r}"
        )
    if isinstance(sequence_id, int):
        if not -_U64_LIMIT // 2 <= sequence_id < _U64_LIMIT:
            raise InvalidArgument(f"parameter 'sequence_id' is out of range: {sequence_id}")
        # tritonclient sends int64_param: as Triton, a negative one is its uint64 bit pattern.
        sequence_id %= _U64_LIMIT
    corrid = policy.control(ControlKind.CORRID)
    if corrid is not None:
        wants_string = policy.string_ids
        if wants_string != isinstance(sequence_id, str):
            wanted, got = ("string", "integer") if wants_string else ("integer", "string")
            raise InvalidArgument(
                f"sequence batching control '{corrid.name}' of model '{model}' expects {wanted}"
                f" correlation IDs, but the request gives the {got} {sequence_id!r}"
            )
    return SequenceFlags(
        sequence_id, _flag(params, "sequence_start"), _flag(params, "sequence_end")
    )


def _flag(params: dict[str, ParameterValue], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise InvalidArgument(f"parameter '{key}' must be a bool, got {value!r}")
    return value

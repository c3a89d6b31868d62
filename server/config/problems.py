"""How configuration problems are reported: one ModelLoadError that lists everything found."""

from __future__ import annotations

from collections.abc import Sequence

from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import DataType


class Problems:
    """What is wrong with one model's config, collected over the whole validation pass.

    Checks add a problem and go on with the next item, so one failed load names every mistake
    rather than the first; `raise_if_any` ends the pass.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.found: list[str] = []
        """Problems in the order the pass met them; each reads on its own."""

    def add(self, problem: str | None) -> None:
        """Records `problem`; None (a check that found nothing) is ignored."""
        if problem:
            self.found.append(problem)

    def raise_if_any(self) -> None:
        """Raises one ModelLoadError naming every problem found; returns when there is none.

        One problem reads "model 'm': <problem>"; several are numbered in the same message.
        """
        if len(self.found) == 1:
            raise ModelLoadError(f"model '{self.model}': {self.found[0]}")
        if self.found:
            listed = "; ".join(f"({i}) {p}" for i, p in enumerate(self.found, start=1))
            raise ModelLoadError(f"model '{self.model}': {len(self.found)} problems: {listed}")


def show(dims: Sequence[int]) -> str:
    """Dims as messages print them: [-1, 3]."""
    return "[" + ", ".join(str(d) for d in dims) + "]"


def type_name(number: int) -> str:
    """The DataType's name, or `TYPE_<number>` for a number protobuf keeps but names nothing
    (text and JSON configs may carry any enum number)."""
    try:
        return DataType.Name(number)
    except ValueError:
        return f"TYPE_<{number}>"

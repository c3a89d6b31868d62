"""An ensemble's steps as a checked dependency graph: which tensor each step reads and writes.

Built once at load from `ensemble_scheduling`; every problem (an empty step, a tensor nothing
produces, one produced twice, an ensemble output nothing produces, a cycle) goes into one
Problems, so a bad ensemble names every mistake in one ModelLoadError.
"""

from __future__ import annotations

from dataclasses import dataclass

from naiad.config.problems import Problems
from naiad_protocol.model_config_pb2 import ModelConfig

LATEST = -1
"""Triton's model_version for "the member's latest ready version"."""


@dataclass(frozen=True)
class EnsembleStep:
    """One step: a member model, the ensemble tensors it reads and the ones it writes."""

    index: int
    """Position in the config, for messages (1-based)."""
    model_name: str
    model_version: int
    """LATEST (-1) or a version number."""
    input_map: tuple[tuple[str, str], ...]
    """(member input, ensemble tensor) pairs, sorted by member input."""
    output_map: tuple[tuple[str, str], ...]
    """(member output, ensemble tensor) pairs, sorted by member output."""

    @property
    def version(self) -> str:
        """The version as an engine call names it ("" = latest)."""
        return "" if self.model_version == LATEST else str(self.model_version)

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(tensor for _, tensor in self.input_map)

    @property
    def writes(self) -> tuple[str, ...]:
        return tuple(tensor for _, tensor in self.output_map)

    @property
    def where(self) -> str:
        return f"step {self.index} (model '{self.model_name}')"


@dataclass(frozen=True)
class EnsembleGraph:
    """The steps in an order where each step comes after the steps it reads from."""

    steps: tuple[EnsembleStep, ...]
    producers: dict[str, EnsembleStep]
    """Ensemble tensor -> the step that writes it (ensemble inputs are written by no step)."""


def parse_graph(config: ModelConfig, problems: Problems) -> EnsembleGraph:
    """The ensemble's graph; what does not fit goes to `problems` (the graph is then partial)."""
    steps = [
        _step(config, i, step, problems)
        for i, step in enumerate(config.ensemble_scheduling.step, 1)
    ]
    if not steps:
        problems.add("ensemble_scheduling has no step")
    inputs = {t.name for t in config.input}
    producers: dict[str, EnsembleStep] = {}
    for step in steps:
        for tensor in step.writes:
            if tensor in inputs:
                problems.add(f"{step.where} writes '{tensor}', which is an ensemble input")
            elif tensor in producers:
                problems.add(
                    f"ensemble tensor '{tensor}' is written by {producers[tensor].where} "
                    f"and by {step.where}"
                )
            else:
                producers[tensor] = step
    for step in steps:
        for member_input, tensor in step.input_map:
            if tensor not in inputs and tensor not in producers:
                problems.add(
                    f"{step.where} reads '{tensor}' into its input '{member_input}', but '{tensor}'"
                    " is neither an ensemble input nor written by any step"
                )
    for output in config.output:
        if output.name not in producers:
            problems.add(f"ensemble output '{output.name}' is not written by any step")
    ordered = _topological(steps, producers, problems)
    return EnsembleGraph(tuple(ordered), producers)


def _step(config: ModelConfig, index: int, raw: object, problems: Problems) -> EnsembleStep:
    step = EnsembleStep(
        index=index,
        model_name=raw.model_name,  # type: ignore[attr-defined]
        model_version=raw.model_version,  # type: ignore[attr-defined]
        input_map=tuple(sorted(raw.input_map.items())),  # type: ignore[attr-defined]
        output_map=tuple(sorted(raw.output_map.items())),  # type: ignore[attr-defined]
    )
    if not step.model_name:
        problems.add(f"step {index} names no model")
    elif step.model_name == config.name:
        problems.add(f"{step.where} is the ensemble itself")
    if step.model_version < LATEST:
        problems.add(f"{step.where}: model_version {step.model_version} must be -1 or a version")
    if not step.input_map:
        problems.add(f"{step.where} has an empty input_map")
    if not step.output_map:
        problems.add(f"{step.where} has an empty output_map")
    if raw.model_namespace:  # type: ignore[attr-defined]
        problems.add(f"{step.where}: model_namespace is not supported")
    return step


def _topological(
    steps: list[EnsembleStep], producers: dict[str, EnsembleStep], problems: Problems
) -> list[EnsembleStep]:
    """Kahn's algorithm over "reads a tensor another step writes"; a cycle is a problem."""
    needs = {
        step.index: {producers[t].index for t in step.reads if t in producers} for step in steps
    }
    ordered: list[EnsembleStep] = []
    left = list(steps)
    while left:
        done = {step.index for step in ordered}
        ready = [step for step in left if needs[step.index] <= done]
        if not ready:
            cycle = ", ".join(step.where for step in left)
            problems.add(f"the steps form a cycle: none of {cycle} can run before the others")
            break
        ordered.extend(ready)
        left = [step for step in left if step not in ready]
    return ordered

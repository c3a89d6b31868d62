"""An ensemble checked against its members as they serve: every step's model is there, reads
and writes tensors the member has, and every tensor passed between steps keeps its data type.

Run when the ensemble starts; the repository loads ensembles after plain models (order.py), so
the members of a repository loaded at start-up are there by then.
"""

from __future__ import annotations

from naiad.config.problems import Problems
from naiad.config.settings import ModelSettings
from naiad.datatypes import DataType
from naiad.engine.context import INTERNAL
from naiad.engine.protocol import InferenceEngine
from naiad.ensemble.graph import EnsembleGraph, EnsembleStep
from naiad.errors import NaiadError


def check_members(
    settings: ModelSettings, graph: EnsembleGraph, engine: InferenceEngine, problems: Problems
) -> None:
    """Adds to `problems` what does not fit between the ensemble and the members now serving."""
    types: dict[str, DataType] = {spec.name: spec.datatype for spec in settings.inputs}
    for step in graph.steps:  # in dependency order: a step's inputs are typed before it
        try:
            member = engine.describe(step.model_name, step.version, INTERNAL).settings
        except NaiadError as exc:
            problems.add(f"{step.where} cannot be used: {exc.message}")
            continue
        _check_reads(step, member, types, problems)
        _check_writes(step, member, types, problems)
        if settings.batches and member.max_batch_size < settings.max_batch_size:
            problems.add(
                f"{step.where} takes batches of at most {member.max_batch_size}, fewer than the "
                f"ensemble's max_batch_size {settings.max_batch_size}"
            )
    for spec in settings.outputs:
        got = types.get(spec.name)
        if got is not None and got is not spec.datatype:
            problems.add(
                f"ensemble output '{spec.name}' is {spec.datatype.wire} in the config but its "
                f"step writes {got.wire}"
            )


def _check_reads(
    step: EnsembleStep, member: ModelSettings, types: dict[str, DataType], problems: Problems
) -> None:
    mapped = {member_input for member_input, _ in step.input_map}
    for member_input, tensor in step.input_map:
        spec = member.input(member_input)
        if spec is None:
            known = ", ".join(s.name for s in member.inputs)
            problems.add(f"{step.where} maps '{member_input}', which is not an input ({known})")
            continue
        got = types.get(tensor)
        if got is not None and got is not spec.datatype:
            problems.add(
                f"{step.where} reads '{tensor}' ({got.wire}) into its input '{member_input}', "
                f"which is {spec.datatype.wire}"
            )
    for spec in member.inputs:
        if spec.name not in mapped and not spec.optional:
            problems.add(f"{step.where}: its input '{spec.name}' is missing from the input_map")


def _check_writes(
    step: EnsembleStep, member: ModelSettings, types: dict[str, DataType], problems: Problems
) -> None:
    for member_output, tensor in step.output_map:
        spec = member.output(member_output)
        if spec is None:
            known = ", ".join(s.name for s in member.outputs)
            problems.add(f"{step.where} maps '{member_output}', which is not an output ({known})")
            continue
        types[tensor] = spec.datatype

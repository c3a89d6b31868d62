"""A small reader of deploy/docker/Dockerfile: its stages and the instructions tests look at."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    name: str
    base: str
    """The FROM image or the name of an earlier stage."""
    instructions: list[tuple[str, str]] = field(default_factory=list)
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""

    def last(self, instruction: str) -> str | None:
        values = [args for name, args in self.instructions if name == instruction]
        return values[-1] if values else None


def read_stages(path: Path) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        args = re.sub(r"\s+", " ", args).strip()
        if instruction == "FROM":
            match = re.fullmatch(r"(?:--\S+ )*(\S+)(?: AS (\S+))?", args, re.IGNORECASE)
            assert match, line
            stages.append(Stage(match.group(2) or str(len(stages)), match.group(1)))
        elif stages:
            stages[-1].instructions.append((instruction, args))
    return stages


def lineage(stages: list[Stage], name: str) -> list[Stage]:
    """The stage called `name` and the stages it is built FROM, nearest first."""
    by_name = {s.name: s for s in stages}
    chain = [by_name[name]]
    while chain[-1].base in by_name:
        chain.append(by_name[chain[-1].base])
    return chain


def inherited(stages: list[Stage], name: str, instruction: str) -> str | None:
    """An instruction's value as the stage sees it (its own, else its nearest parent's)."""
    for stage in lineage(stages, name):
        value = stage.last(instruction)
        if value is not None:
            return value
    return None


def exec_form(value: str | None) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT / CMD; fails on shell form."""
    assert value is not None and value.startswith("["), f"not exec form: {value}"
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
    return parsed

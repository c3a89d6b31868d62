"""The style gate is part of the test command: ruff (lint and format) and mypy on the packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["server", "clients", "tests", "bench", "fuzz"]


def _run(*command: str) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", *CHECKED),
        ("ruff", "format", "--check", *CHECKED),
        ("mypy", "server", "clients"),
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_passes(command: tuple[str, ...]) -> None:
    _run(sys.executable, "-m", *command)

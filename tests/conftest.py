"""Test-suite wiring.

tests/e2e drives a real server with tritonclient. tritonclient registers the same `inference.*`
protobuf names as naiad's own stubs, and protobuf refuses both in one process, so tests/e2e runs
in its own pytest process (see README) and is skipped when a run does not name it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from naiad.observability import logs

E2E = Path(__file__).parent / "e2e"
sys.path.insert(0, str(Path(__file__).parent))  # tests import modelgen as a plain module


def _targets_e2e(config) -> bool:  # type: ignore[no-untyped-def]
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == E2E or E2E in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:  # type: ignore[no-untyped-def]
    inside_e2e = collection_path == E2E or E2E in collection_path.parents
    if inside_e2e and not _targets_e2e(config):
        return True
    return None


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Puts the root logger and naiad's log state back after each test: a command run in
    process (naiad.cli.main) installs a handler on the sys.stderr pytest captured for that test,
    which is closed once the test ends, and a later test that logs would write to it."""
    root = logging.getLogger()
    saved, level, handlers = logs.current(), root.level, list(root.handlers)
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    logs._state.handler = None  # process-wide state: put back what the other tests expect
    logs._state.config = saved
    root.setLevel(level)

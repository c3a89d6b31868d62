"""Test-suite wiring.

tests/e2e drives a real server with tritonclient. tritonclient registers the same `inference.*`
protobuf names as naiad's own stubs, and protobuf refuses both in one process, so tests/e2e runs
in its own pytest process (see README) and is skipped when a run does not name it.
"""

from __future__ import annotations

import sys
from pathlib import Path

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

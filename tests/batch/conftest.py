"""Fixtures of the batch tests (helpers are in batch_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_data import write_repository


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_repository(tmp_path_factory.mktemp("repo"))

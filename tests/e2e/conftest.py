"""Fixtures for the end-to-end tests: a real `naiad serve` process driven by tritonclient."""

from __future__ import annotations

import pytest
from server_process import naiad_server


@pytest.fixture
def serve():  # type: ignore[no-untyped-def]
    """serve(repository, *args) -> context manager yielding a ServerProcess."""
    return naiad_server

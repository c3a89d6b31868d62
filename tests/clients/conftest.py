from __future__ import annotations

import pytest
from client_fakes import FakeServer


@pytest.fixture(scope="module")
def fake_server():
    server = FakeServer().start()
    yield server
    server.stop()

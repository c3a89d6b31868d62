"""HttpConnection closing on a connection whose peer is already gone."""

from __future__ import annotations

import asyncio

from naiad.transport.http.connection import HttpConnection
from naiad.transport.http.limits import HttpLimits


class GoneTransport:
    """What a socket transport does once its peer reset the connection: writes are dropped
    and half-closing the write side fails with ENOTCONN (asyncio and uvloop raise it)."""

    def __init__(self) -> None:
        self.closed = False
        self.written: list[bytes] = []

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def writelines(self, chunks: list[bytes]) -> None:
        self.written.extend(bytes(c) for c in chunks)

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        raise OSError(107, "Transport endpoint is not connected")

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def test_closing_after_the_peer_left_closes_quietly() -> None:
    closed: list[HttpConnection] = []
    connection = HttpConnection(lambda request: None, HttpLimits(), closed.append)
    transport = GoneTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    connection.data_received(b"NOT HTTP AT ALL\r\n\r\n")  # answered 400, then closed
    await asyncio.sleep(0)
    assert transport.written and transport.written[0].startswith(b"HTTP/1.1 400")
    assert transport.closed  # closed at once: no lingering on a dead connection

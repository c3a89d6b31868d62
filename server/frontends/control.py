"""The control socket between front ends and the engine: length-prefixed pickled messages.

A message is a 4-byte big-endian length, then a pickle. Calls are (verb, args) and answers
(True, value) or (False, error state, see wire.error_state); one call at a time per
connection. Both ends are one server's own processes over a socket in a directory only the
server's user can enter, so pickles are trusted like the processes' own memory.

ControlClient (front-end side) is blocking with a pool of connections, so that the protocol's
synchronous verbs (describe, statistics, ...) stay synchronous and threads may call at once.
read_message / write_message are the asyncio side's framing.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
import threading
from typing import Any

from naiad.errors import Unavailable
from naiad.frontends.wire import error_from_state

_LENGTH = struct.Struct("!I")
MAX_MESSAGE_BYTES = 2**31 - 1


def encode(message: Any) -> bytes:
    payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError(f"control message of {len(payload)} bytes is too large")
    return _LENGTH.pack(len(payload)) + payload


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message; raises asyncio.IncompleteReadError at EOF."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))


async def write_message(writer: asyncio.StreamWriter, message: Any) -> None:
    writer.write(encode(message))
    await writer.drain()


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        n = sock.recv_into(view[received:])
        if n == 0:
            raise ConnectionError("control socket closed")
        received += n
    return bytes(buffer)


class ControlClient:
    """Blocking calls to the engine; any thread. Raises Unavailable once the engine is gone."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    def call(self, verb: str, *args: Any) -> Any:
        """The engine's answer to `verb(*args)`; its error re-raised as a NaiadError."""
        sock = self._checkout()
        try:
            sock.sendall(encode((verb, args)))
            (length,) = _LENGTH.unpack(_receive_exactly(sock, _LENGTH.size))
            ok, value = pickle.loads(_receive_exactly(sock, length))
        except OSError:
            sock.close()
            raise Unavailable("the engine process is not reachable") from None
        with self._lock:
            if self._closed:
                sock.close()
            else:
                self._idle.append(sock)
        if ok:
            return value
        raise error_from_state(value)

    def _checkout(self) -> socket.socket:
        with self._lock:
            if self._closed:
                raise Unavailable("the front end is shutting down")
            if self._idle:
                return self._idle.pop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise Unavailable("the engine process is not reachable") from None
        return sock

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

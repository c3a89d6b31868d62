"""The server-wide response cache: answers of models with `response_cache { enable: true }`,
kept by a hash of what determines them, evicted least recently used first within a byte cap.

A key hashes the cache scope (one per loaded generation of a version, so an answer never
crosses versions, nor a reload of the same version number), the model's name and version,
every input's name, datatype, shape and bytes (in name order), the requested outputs and the
request's parameters except those that only schedule it (`priority`, `timeout`) or belong to
the protocol (`triton_*`). Requests of a sequence are never cached: their answers depend on
state. The ServedModel looks requests up (served_model.py) and counts hits and misses in its
native scheduler's statistics.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from naiad.engine.request import InferOutput, InferRequest, ParameterValue
from naiad_protocol._wire import encode_bytes

ENTRY_OVERHEAD_BYTES = 128
"""Charged per entry on top of its tensors' bytes: key, bookkeeping, array headers."""
_SCHEDULING_PARAMETERS = frozenset({"priority", "timeout"})
_SEQUENCE_PARAMETERS = frozenset({"sequence_id", "sequence_start", "sequence_end"})


@dataclass(frozen=True)
class CacheCounts:
    """The cache's occupancy and activity, server-wide, for metrics."""

    num_entries: int
    num_bytes: int
    max_bytes: int
    num_inserts: int
    num_evictions: int


@dataclass(slots=True)
class _Entry:
    scope: int
    outputs: tuple[InferOutput, ...]
    num_bytes: int


class ResponseCache:
    """An LRU map of request keys to answers whose total size never exceeds `max_bytes`.

    Thread-safe: lookups run on event loops, inserts in their done callbacks, scope drops on
    the thread that stops a model. Stored arrays are private read-only copies, so neither the
    batch they came from nor a caller can change them.
    """

    def __init__(self, max_bytes: int) -> None:
        """Raises ValueError for a cap below 1 byte."""
        if max_bytes < 1:
            raise ValueError(f"the response cache needs at least 1 byte, not {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._num_bytes = 0
        self._num_inserts = 0
        self._num_evictions = 0
        self._lock = threading.Lock()
        self._scopes = itertools.count(1)

    def new_scope(self) -> int:
        """A number no other generation of any model has: part of every key it makes."""
        with self._lock:
            return next(self._scopes)

    def get(self, key: bytes) -> tuple[InferOutput, ...] | None:
        """The answer stored under `key` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry.outputs

    def put(self, key: bytes, scope: int, outputs: Sequence[InferOutput]) -> bool:
        """Stores copies of `outputs` under `key`, evicting the least recently used entries
        until it fits; False (nothing stored, nothing evicted) when it alone exceeds the cap."""
        size = ENTRY_OVERHEAD_BYTES + len(key) + sum(_size(o) for o in outputs)
        if size > self.max_bytes:
            return False  # checked before copying: an answer too large costs no copy
        stored = tuple(_frozen_copy(output) for output in outputs)
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._num_bytes -= previous.num_bytes
            while self._num_bytes + size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._num_bytes -= evicted.num_bytes
                self._num_evictions += 1
            self._entries[key] = _Entry(scope, stored, size)
            self._num_bytes += size
            self._num_inserts += 1
        return True

    def drop_scope(self, scope: int) -> None:
        """Forgets every answer of one generation (its model version stopped)."""
        with self._lock:
            doomed = [key for key, entry in self._entries.items() if entry.scope == scope]
            for key in doomed:
                self._num_bytes -= self._entries.pop(key).num_bytes

    def counts(self) -> CacheCounts:
        with self._lock:
            return CacheCounts(
                len(self._entries),
                self._num_bytes,
                self.max_bytes,
                self._num_inserts,
                self._num_evictions,
            )


def cacheable(request: InferRequest) -> bool:
    """Whether the answer to `request` may be served from, and stored in, the cache."""
    return not any(key in _SEQUENCE_PARAMETERS for key in request.parameters)


def request_key(scope: int, request: InferRequest, version: int) -> bytes:
    """The hash identifying `request`'s answer within `scope` (see the module's docstring)."""
    digest = hashlib.blake2b(digest_size=32)
    digest.update(struct.pack("<QQ", scope, version))
    _text(digest, request.model_name)
    for tensor in sorted(request.inputs, key=lambda t: t.name):
        _text(digest, tensor.name)
        _text(digest, tensor.datatype.wire)
        digest.update(struct.pack(f"<Q{len(tensor.shape)}q", len(tensor.shape), *tensor.shape))
        payload = _payload(tensor.datatype.wire, tensor.data)
        digest.update(struct.pack("<Q", len(payload)))
        digest.update(payload)
    requested = request.requested_outputs
    digest.update(b"*" if requested is None else struct.pack("<Q", len(requested)))
    for name in requested or ():
        _text(digest, name)
    for key in sorted(request.parameters):
        if key in _SCHEDULING_PARAMETERS or key.startswith("triton_"):
            continue
        _text(digest, key)
        _parameter(digest, request.parameters[key])
    return digest.digest()


def _text(digest: hashlib.blake2b, text: str) -> None:
    data = text.encode()
    digest.update(struct.pack("<Q", len(data)))
    digest.update(data)


def _parameter(digest: hashlib.blake2b, value: ParameterValue) -> None:
    # The type is part of the value: 1, True and 1.0 are different parameters.
    _text(digest, type(value).__name__)
    _text(digest, repr(value))


def _payload(wire: str, data: np.ndarray) -> memoryview | bytes:
    if wire == "BYTES":
        return encode_bytes(data)
    return np.ascontiguousarray(data).reshape(-1).view(np.uint8).data


def _frozen_copy(output: InferOutput) -> InferOutput:
    data = np.array(output.data, copy=True)
    data.setflags(write=False)
    return InferOutput(output.name, output.datatype, data)


def _size(output: InferOutput) -> int:
    if output.data.dtype == object:
        return sum(len(bytes(v)) + 4 for v in output.data.ravel())
    return int(output.data.nbytes)

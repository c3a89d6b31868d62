"""The memory one front end shares with the engine: two descriptor rings and two slabs.

The engine creates one per front end it starts (a memfd, so nothing is left in /dev/shm when
either side dies) and hands the descriptors to the process it spawns; a restarted front end
gets a fresh one, and the old one is unmapped with its dead owner's requests. Layout, each part
64-byte aligned: request ring | response ring | request slab | response slab. Slot `i` of the
request slab and slot `i` of the response slab belong to the same request, from submit until
the front end has read its answer; the front end alone hands slots out (SlotPool).
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass

from naiad.native import DescriptorRing

ALIGN = 64


def _aligned(size: int) -> int:
    return (size + ALIGN - 1) // ALIGN * ALIGN


@dataclass(frozen=True)
class RegionLayout:
    """Sizes of a front end's shared memory; both sides must agree."""

    num_slots: int = 1024
    """Requests of one front end in flight at once through the rings; one more gets
    UNAVAILABLE."""
    slot_bytes: int = 64 * 1024
    """A request's header and tensors, and its answer, must each fit; larger ones travel over
    the control socket instead. Pages of a memfd are only backed once touched."""

    def __post_init__(self) -> None:
        if self.num_slots < 1 or self.slot_bytes < 1024 or self.slot_bytes % ALIGN:
            raise ValueError(f"bad region layout: {self}")

    @property
    def ring_capacity(self) -> int:
        """Each in-flight request may add one cancel descriptor: the request ring never fills
        while a slot is free."""
        return 2 * self.num_slots

    @property
    def ring_bytes(self) -> int:
        return _aligned(DescriptorRing.bytes_for(self.ring_capacity))

    @property
    def slab_bytes(self) -> int:
        return self.num_slots * self.slot_bytes

    @property
    def total_bytes(self) -> int:
        return 2 * self.ring_bytes + 2 * self.slab_bytes


@dataclass(frozen=True)
class RegionFds:
    """The descriptors that make up a region: its memory and each consumer's eventfd."""

    memory: int
    engine_wake: int
    """The engine waits on it for request descriptors."""
    front_end_wake: int
    """The front end waits on it for response descriptors."""

    def close(self) -> None:
        for fd in (self.memory, self.engine_wake, self.front_end_wake):
            try:
                os.close(fd)
            except OSError:
                pass


class SharedRegion:
    """One side's view of a region. `front_end`: this process produces requests and consumes
    responses; otherwise it is the engine, the other way round. `initialize`: lay the rings
    out (the creating side, before the other attaches)."""

    def __init__(
        self, fds: RegionFds, layout: RegionLayout, *, front_end: bool, initialize: bool
    ) -> None:
        self.fds = fds
        self.layout = layout
        self._map = mmap.mmap(fds.memory, layout.total_bytes)
        self._view = memoryview(self._map)
        ring_bytes = layout.ring_bytes
        self.requests = DescriptorRing(
            self._map,
            offset=0,
            capacity=layout.ring_capacity,
            initialize=initialize,
            wake_fd=fds.engine_wake if front_end else -1,
        )
        self.responses = DescriptorRing(
            self._map,
            offset=ring_bytes,
            capacity=layout.ring_capacity,
            initialize=initialize,
            wake_fd=-1 if front_end else fds.front_end_wake,
        )
        self._request_base = 2 * ring_bytes
        self._response_base = self._request_base + layout.slab_bytes
        self.wake_fd = fds.front_end_wake if front_end else fds.engine_wake
        """What this side waits on."""

    @classmethod
    def create(cls, layout: RegionLayout) -> SharedRegion:
        """A new region, the engine's side of it (memory zeroed, eventfds non-blocking). The
        descriptors are inheritable only where passed explicitly (subprocess pass_fds)."""
        memory = os.memfd_create("naiad-frontend", os.MFD_CLOEXEC)
        os.ftruncate(memory, layout.total_bytes)
        flags = os.EFD_NONBLOCK | os.EFD_CLOEXEC
        fds = RegionFds(memory, os.eventfd(0, flags), os.eventfd(0, flags))
        return cls(fds, layout, front_end=False, initialize=True)

    def request_slot(self, slot: int) -> memoryview:
        start = self._request_base + slot * self.layout.slot_bytes
        return self._view[start : start + self.layout.slot_bytes]

    def response_slot(self, slot: int) -> memoryview:
        start = self._response_base + slot * self.layout.slot_bytes
        return self._view[start : start + self.layout.slot_bytes]

    def clear_wake(self) -> None:
        """Resets this side's eventfd after a wake-up."""
        try:
            os.eventfd_read(self.wake_fd)
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Unmaps and closes every descriptor. Views handed out must be gone (BufferError
        otherwise, and the mapping stays until they are)."""
        del self.requests, self.responses
        self._view.release()
        try:
            self._map.close()
        except BufferError:
            pass  # a NumPy view still alive somewhere; the mapping goes with it
        self.fds.close()


class SlotPool:
    """The front end's free slots; the engine never allocates."""

    def __init__(self, num_slots: int) -> None:
        self._free = list(range(num_slots - 1, -1, -1))

    def take(self) -> int | None:
        """A free slot, or None when every one is in flight."""
        return self._free.pop() if self._free else None

    def give_back(self, slot: int) -> None:
        self._free.append(slot)

    @property
    def num_free(self) -> int:
        return len(self._free)
